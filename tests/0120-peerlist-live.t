#!/bin/sh
# peerlist as a service: amicat -e PeerStatus,ContactStatus | peerlist -d,
# with phones registering and going away on amisim, and MariaDB going
# down and coming back: changes wait, nothing is dropped, stderr says so.
. "$(dirname "$0")/lib.sh"

mariadb_start db || exit 1
mariadb_sql db <"$top/conf/employee.sql"
amisim_start a -C "$tmp/a.ctl" -L "$tmp/a.log"

row() {
	mariadb_sql db "SELECT ip, status FROM employee WHERE peer = '$1'" 2>/dev/null
}
row_is() {
	[ "$(row "$1")" = "$2" ]
}
tab=$(printf '\t')

# a list that starts and never ends holds the writes 10 s, not for ever
# (runs alongside the rest)
mkfifo "$tmp/stray"
peerlist -m "$tmp/stray.map" <"$tmp/stray" >/dev/null 2>"$tmp/stray.err" &
spid=$!
pids="$pids $spid"
exec 8>"$tmp/stray"
printf '%s\n' 'Response=Success EventList=start Message="Peer status list will follow"' \
    'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/916 PeerStatus=Registered Address=10.8.8.8:5060' >&8
check "a list open: nothing written yet" test ! -e "$tmp/stray.map"

mkfifo "$tmp/events"
amicat -c "$tmp/a.conf" -e PeerStatus,ContactStatus >"$tmp/events" 2>"$tmp/amicat.err" &
apid=$!
pids="$pids $apid"
peerlist -v -d amitools <"$tmp/events" >"$tmp/out" 2>"$tmp/err" &
ppid=$!
pids="$pids $ppid"
wait_for 10 grep -q 'Action=Login' "$tmp/a.log"

echo 'register 100 c-1@10.9.8.7 10.9.8.7 5070 Yealink 3600' >"$tmp/a.ctl"
check "PJSIP registers: its contact's host and status, at once" \
    wait_for 10 row_is 100 "10.9.8.7${tab}Reachable"
echo 'sip-register 916 10.1.1.16 5060' >"$tmp/a.ctl"
check "chan_sip registers: the address and status" \
    wait_for 10 row_is 916 "10.1.1.16${tab}Reachable"
echo 'sip-unregister 916' >"$tmp/a.ctl"
check "chan_sip unregisters: the IP is kept, the status is Unreachable" \
    wait_for 10 row_is 916 "10.1.1.16${tab}Unreachable"
echo 'register 100 c-2@10.9.8.7 10.9.8.7 5070 Yealink 0' >"$tmp/a.ctl"
check "PJSIP unregisters: Unreachable, the IP kept" \
    wait_for 10 row_is 100 "10.9.8.7${tab}Unreachable"
check "-v says each change as it is written" \
    grep -q '^Change=changed Peer=916 Status=Unreachable OldStatus=Reachable$' "$tmp/out"

# -- the database goes away: changes wait, then all are written --
mariadb_stop db
echo 'sip-register 937 10.3.3.3 5061' >"$tmp/a.ctl"
echo 'sip-register 926 10.3.3.26 5062' >"$tmp/a.ctl"
check "database down: said, and how many peers wait" \
    wait_for 15 grep -q "^peerlist: database \[amitools\]: Can't connect to local server .*; [12] peers\? wait, next try in [0-9]* s$" "$tmp/err"
echo 'sip-register 937 10.3.3.4 5061' >"$tmp/a.ctl"
tries() { [ "$(grep -c 'peers\? wait, next try' "$tmp/err")" -ge 2 ]; }
check "tried again, with backoff, still reading events" wait_for 15 tries
mariadb_start db
check "back up: the waiting changes written, the latest for each peer" \
    wait_for 30 row_is 937 "10.3.3.4${tab}Reachable"
check "and the other peer's too" row_is 926 "10.3.3.26${tab}Reachable"
check "recovery said" grep -q '^peerlist: database: written after [0-9]* failed tr' "$tmp/err"

# -- the end of the input: the summary, exit 0 --
kill "$apid"
wait "$apid"
wait "$ppid"
st=$?
check "amicat ends, so does peerlist: exit 0" test $st -eq 0
check "the summary of the whole run" grep -q '^4 added, 0 changed, 0 unchanged, 0 not seen$' "$tmp/out"

# -- stopped while the database is down: not written, and said --
mariadb_stop db
printf '%s\n' 'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/926 PeerStatus=Reachable' >"$tmp/one"
mkfifo "$tmp/in2"
peerlist -d amitools <"$tmp/in2" >"$tmp/out" 2>"$tmp/err" &
ppid=$!
pids="$pids $ppid"
exec 7>"$tmp/in2"
cat "$tmp/one" >&7
check "waits for the database" wait_for 10 grep -q 'peers\? wait' "$tmp/err"
kill -TERM "$ppid"
wait "$ppid"
st=$?
exec 7>&-
check "SIGTERM with changes waiting: exit 2" test $st -eq 2
check "and says what was not written" grep -q 'the changes of 1 peers were not written' "$tmp/err"

check "a list with no item for 10 s: the event written after all" \
    wait_for 20 grep -qs '^10\.8\.8\.8 *916$' "$tmp/stray.map"
check "and said" grep -q 'a list has had no item for 10 s and no end' "$tmp/stray.err"
exec 8>&-
wait "$spid"

amisim_stop a
done_testing
