#!/bin/sh
# peerlist from cron, then live, then from cron again, against amisim in
# the state of transcript 20 and a real MariaDB: the cron line of
# scripts/amitools-peerlist.cron, run as it is written, fills every PJSIP
# endpoint's caller ID, contact IP and User-Agent; the live events that
# follow say the same status words as the lists; the second cron run
# writes nothing.
. "$(dirname "$0")/lib.sh"
fx=$fixtures/asterisk-20.20.1

mariadb_start db || exit 1
mariadb_sql db <"$top/conf/employee.sql"
amisim_start a -C "$tmp/a.ctl" -L "$tmp/a.log" || exit 1
# the tools find the server as a crontab's would: ~/.amitools.conf
# (mariadb_start made HOME this test's own)
cp "$tmp/a.conf" "$HOME/.amitools.conf"
chmod 600 "$HOME/.amitools.conf"

rows() {
	mariadb_sql db "SELECT peer, description, callerid, phone, ip, incoming, status
	    FROM employee ORDER BY peer"
}
tab=$(printf '\t')

# -- transcript 20 itself: the detail of 100, SIPshowpeer of 937 --
peerlist -N -d amitools <"$fx/20_pjsip_endpoint_detail.txt" >"$tmp/out" 2>"$tmp/err"
check "transcript 20: endpoint 100 in full from PJSIPShowEndpoint" \
    grep -q '^Change=added Peer=100 Description="Ext 100" CallerID=100 Phone=SIPp-register IP=127.0.0.11 Status=Reachable$' "$tmp/out"
check "transcript 20: 102 has no contact: Unreachable" \
    grep -q '^Change=added Peer=102 Status=Unreachable$' "$tmp/out"
check "transcript 20: 937 UNREACHABLE is Unreachable, Unmonitored 916 Reachable" sh -c "
    grep -q '^Change=added Peer=937 Description=Reception CallerID=937 Phone=SIPp-register IP=127.0.0.37 Status=Unreachable\$' '$tmp/out' &&
    grep -q '^Change=added Peer=916 Description=\"Sales; O.Neil\" IP=127.0.0.16 Status=Reachable\$' '$tmp/out'"
check "transcript 20: nothing on stderr" test ! -s "$tmp/err"

# -- amisim as transcript 20 found Asterisk (tests/conformance/replay.py) --
printf '%s\n' 'pjsip-capture' 'pjsip-identify 100 127.0.0.11' \
    'register 100 1-31835@127.0.0.11 127.0.0.11 5071 SIPp-register 3600' \
    'sip-register 916 127.0.0.16 5074' 'sip-register 937 127.0.0.37 5073' \
    'sip-qualify 937 -1' >"$tmp/a.ctl"

cat >"$tmp/extensions.conf" <<'EOF'
[from-trunk]
exten => 5550100,1,Dial(PJSIP/100,30)
exten => 5550937,1,Dial(SIP/937&PJSIP/102,30)
EOF
# the documented lines, as cron runs them (sh, \% a percent sign), with
# this test's extensions.conf and the summary kept
cronline() {
	sed -n "s/^$1 *root  //p" "$top/scripts/amitools-peerlist.cron" |
	    sed -e 's/\\%/%/g' -e "s|/etc/asterisk/extensions.conf|$tmp/extensions.conf|" \
	    -e 's| >/dev/null$||'
}
line=$(cronline '\*\/10 \* \* \* \*')
prune=$(cronline '15 3 \* \* \*')
check "the cron lines are there" test -n "$line" -a -n "$prune"
cron() {
	timeout 60 sh -c "$line" >"$tmp/out" 2>"$tmp/err"
}
# the second run is peerlist(1)'s first example, the same pipeline
man=$(sed -n '/^\.Sh EXAMPLES/,/^\.Ed/p' "$top/man/peerlist.1" | sed -e '1,/^\.Bd/d' -e '/^\.Ed/d' |
    sed "s|/etc/asterisk/extensions.conf|$tmp/extensions.conf|")
check "peerlist(1) has the pipeline" grep -q 'PJSIPShowEndpoint Endpoint=%{ObjectName}' <<EOF
$man
EOF

cron
st=$?
check "cron, first run: exit 0" test $st -eq 0
check "cron, first run: nothing on stderr" test ! -s "$tmp/err"
echo "6 added, 0 changed, 0 unchanged, 0 not seen" >"$tmp/want"
check_same "cron, first run: every peer added" "$tmp/out" "$tmp/want"
rows >"$tmp/got"
cat >"$tmp/want" <<EOF
100${tab}Ext 100${tab}100${tab}SIPp-register${tab}127.0.0.11${tab}5550100${tab}Reachable
101${tab}Ext 101${tab}101${tab}${tab}${tab}${tab}Unreachable
102${tab}Lobby Phone${tab}4102${tab}${tab}${tab}5550937${tab}Unreachable
916${tab}Sales; O'Neil${tab}${tab}${tab}127.0.0.16${tab}${tab}Reachable
926${tab}Warehouse${tab}${tab}${tab}127.0.0.1${tab}${tab}Reachable
937${tab}Reception${tab}${tab}${tab}127.0.0.37${tab}5550937${tab}Unreachable
EOF
check_same "cron: description, caller ID, User-Agent, IP, incoming, status" "$tmp/got" "$tmp/want"
grep '^Action=PJSIPShowEndpoint ' "$tmp/a.log" | sed 's/.* Endpoint=//' >"$tmp/got"
printf '100\n101\n102\n' >"$tmp/want"
check_same "cron: one PJSIPShowEndpoint per endpoint listed, and no other" "$tmp/got" "$tmp/want"

# -- live: the documented service line, run twice --
# live_run NAME COMMAND...: amicat -e PeerStatus,ContactStatus | peerlist
# while amisim runs the control commands, until amicat has printed a
# PeerStatus for each; peerlist's output in $tmp/NAME, its status returned
live_run() {
	_name=$1
	shift
	_logins=$(count Action=Login "$tmp/a.log")
	rm -f "$tmp/events"
	mkfifo "$tmp/events"
	amicat -e PeerStatus,ContactStatus >"$tmp/events" 2>"$tmp/amicat.err" &
	_apid=$!
	pids="$pids $_apid"
	tee "$tmp/$_name.seen" <"$tmp/events" |
	    peerlist -v -d amitools >"$tmp/$_name" 2>"$tmp/$_name.err" &
	_ppid=$!
	pids="$pids $_ppid"
	check "$_name: amicat logged in" \
	    wait_for 10 at_least $((_logins + 1)) Action=Login "$tmp/a.log"
	for _c in "$@"; do
		echo "$_c" >"$tmp/a.ctl"
	done
	check "$_name: amicat printed a PeerStatus for each" \
	    wait_for 10 at_least $# PeerStatus= "$tmp/$_name.seen"
	kill "$_apid"
	wait "$_apid"
	wait "$_ppid"
}

# what the first run already knew: a phone registering again and its
# contact qualified, a chan_sip peer registering at the same address, a
# qualify still unanswered
live_run live1 'register 100 1-31836@127.0.0.11 127.0.0.11 5071 SIPp-register 3600' \
    'pjsip-qualify 100 Reachable 1520' 'sip-register 916 127.0.0.16 5074' 'sip-qualify 937 -1'
st=$?
check "live, nothing new: exit 0" test $st -eq 0
check "live, nothing new: nothing on stderr" test ! -s "$tmp/live1.err"
check "live, nothing new: the events were read" sh -c \
    "grep -q 'PeerStatus=Reachable' '$tmp/live1.seen' && grep -q 'PeerStatus=Registered' '$tmp/live1.seen' &&
     grep -q 'PeerStatus=Unreachable' '$tmp/live1.seen' && grep -q 'ContactStatus=NonQualified' '$tmp/live1.seen' &&
     grep -q 'ContactStatus=Reachable' '$tmp/live1.seen'"
echo "0 added, 0 changed, 3 unchanged, 3 not seen" >"$tmp/want"
check_same "live, nothing new: Reachable, Registered, NonQualified, Unreachable agree with the lists" \
    "$tmp/live1" "$tmp/want"

# then what changes: 100 unregisters (PJSIP says Unreachable, its lists
# say no contact), 916 unregisters (chan_sip: Unregistered, -none-),
# 937 answers its qualify (Reachable; SIPpeers: OK (12 ms))
live_run live2 'register 100 1-31837@127.0.0.11 127.0.0.11 5071 SIPp-register 0' \
    'sip-unregister 916' 'sip-qualify 937 12'
st=$?
check "live, changes: exit 0" test $st -eq 0
check "live, changes: nothing on stderr" test ! -s "$tmp/live2.err"
cat >"$tmp/want" <<EOF
Change=changed Peer=100 Status=Unreachable OldStatus=Reachable
Change=changed Peer=916 Status=Unreachable OldStatus=Reachable
Change=changed Peer=937 Status=Reachable OldStatus=Unreachable
0 added, 3 changed, 0 unchanged, 3 not seen
EOF
check_same "live, changes: the three, in the one vocabulary" "$tmp/live2" "$tmp/want"

# -- cron again: it agrees with what live wrote, so nothing is written --
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/before"
w0=$(mariadb_writes db)
timeout 60 sh -c "$man" >"$tmp/out" 2>"$tmp/err"
st=$?
check "cron, second run (peerlist(1)'s example): exit 0" test $st -eq 0
check "cron, second run: nothing on stderr" test ! -s "$tmp/err"
echo "0 added, 0 changed, 6 unchanged, 0 not seen" >"$tmp/want"
check_same "cron, second run: 0 changed" "$tmp/out" "$tmp/want"
check "cron, second run: no row written (the server's counters)" test "$(mariadb_writes db)" -eq "$w0"
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/after"
check_same "cron, second run: ids and update times untouched" "$tmp/after" "$tmp/before"
got=$(mariadb_sql db "SELECT ip, status FROM employee WHERE peer IN ('100', '916') ORDER BY peer" | tr '\n' ' ')
check "unregistered peers keep their last IP" test "$got" = "127.0.0.11${tab}Unreachable 127.0.0.16${tab}Unreachable "

# -- the nightly prune: only what Asterisk no longer has --
mariadb_sql db "INSERT INTO employee (peer, description) VALUES ('990', 'Old phone')"
timeout 60 sh -c "$prune" >"$tmp/out" 2>"$tmp/err"
st=$?
check "prune: exit 0, nothing on stderr" test $st -eq 0 -a ! -s "$tmp/err"
echo "0 added, 0 changed, 6 unchanged, 1 not seen, 1 pruned" >"$tmp/want"
check_same "prune: the lists agree with the detail; the gone peer deleted" "$tmp/out" "$tmp/want"
mariadb_sql db "SELECT peer FROM employee ORDER BY peer" | tr '\n' ' ' >"$tmp/got"
printf '100 101 102 916 926 937 ' >"$tmp/want"
check_same "prune: the others stay" "$tmp/got" "$tmp/want"

amisim_stop a
mariadb_stop db
done_testing
