#!/bin/sh
# End to end with Kamailio on loopback: a sipp phone SUBSCRIBEs to
# message-summary through Kamailio (presence, subs_db_mode=3, writing
# active_watchers in MariaDB), amisim raises MessageWaiting, amicat |
# mwinotify sends the NOTIFY to Kamailio, Kamailio relays it in the dialog
# to the phone, which checks the body and that every CSeq of the dialog
# rises (its own un-SUBSCRIBE included); the 200 comes back.  Then, with
# the cfg's WITH_DLGCHECK, a NOTIFY for the dialog that is gone gets 481.
. "$(dirname "$0")/lib.sh"
. "$top/tests/sipp.sh"

# Kamailio's tables in database amitools
mariadb_start db || exit 1
my_cnf=$tmp/db/my.cnf
my_pw=$(sed -n 's/^password = //p' "$my_cnf" | sed 1q)
my_port=$(cat "$tmp/db/port")
mariadb_sql db "source /usr/share/kamailio/mysql/standard-create.sql"
mariadb_sql db "source /usr/share/kamailio/mysql/presence-create.sql"

kport=$(free_udp_port)
mkdir -p "$tmp/kamrun"
sed -e "s/127\.0\.0\.1:5082/127.0.0.1:$kport/g" \
    -e "s|mysql://root@127\.0\.0\.1:3308/kamailio|mysql://amitools:$my_pw@127.0.0.1:$my_port/amitools|g" \
    "$fixtures/kamailio/kamailio.cfg" >"$tmp/kamailio.cfg"
check "the cfg points at this test's ports" test "$(grep -c "$kport\|$my_port" "$tmp/kamailio.cfg")" -eq 5
kamailio -f "$tmp/kamailio.cfg" -DD -E -Y "$tmp/kamrun" -P "$tmp/kamrun/pid" \
    -m 64 -M 8 -A WITH_DLGCHECK >"$tmp/kamailio.log" 2>&1 &
kpid=$!
pids="$pids $kpid"
wait_for 20 udp_listening "$kport" || {
	echo "# kamailio did not start:"
	tail -20 "$tmp/kamailio.log" | sed 's/^/# /'
	exit 1
}

amisim_start pbx -C "$tmp/pbx.ctl" -L "$tmp/pbx.log"
cat >"$tmp/mwi.conf" <<EOT
[mwinotify]
proxy = 127.0.0.1:$kport
domain = 127.0.0.1
vmexten = *97
EOT

pport=$(free_udp_port)
sipp 127.0.0.1:"$kport" -sf "$top/tests/sipp/mwi_phone_strict.xml" -i 127.0.0.1 \
    -p "$pport" -m 1 -nostdin -trace_msg -message_file "$tmp/phone.msg" \
    -trace_logs -log_file "$tmp/phone.log" >"$tmp/phone.out" 2>&1 &
ppid=$!
pids="$pids $ppid"

rows_are() {
	test "$(mariadb_sql db "SELECT COUNT(*) FROM active_watchers WHERE
	    event = 'message-summary' AND status = 1")" = "$1"
}
# Kamailio's own first NOTIFY is answered before ours may come
first_notify_done() {
	grep -q 'NOTIFY#1 (kamailio) CSeq=' "$tmp/phone.log" 2>/dev/null
}
check "the phone's SUBSCRIBE made an active_watchers row" wait_for 20 rows_are 1
check "Kamailio's initial NOTIFY reached the phone" wait_for 20 first_notify_done
# kept for the 481 case below: the dialog as it was while it lived
mariadb_sql db "CREATE DATABASE stale; CREATE TABLE stale.active_watchers LIKE active_watchers;
    INSERT INTO stale.active_watchers SELECT * FROM active_watchers;
    GRANT ALL ON stale.* TO 'amitools'@'localhost';"
printf '[stale]\nuser = amitools\npassword = %s\nsocket = %s\ndatabase = stale\n' \
    "$my_pw" "$tmp/db/sock" >>"$my_cnf"

mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" show 100 127.0.0.1 >"$tmp/show"
check "show: the dialog Kamailio built" grep -q '^Id=[0-9]* ToTag=[^ ]* FromTag=[0-9]*SIPpTag001 CallID=' "$tmp/show"

mkfifo "$tmp/mw.fifo"
amicat -c "$tmp/pbx.conf" -e MessageWaiting >"$tmp/mw.fifo" 2>"$tmp/amicat.err" &
apid=$!
mwinotify -v -c "$tmp/mwi.conf" -D "$my_cnf" <"$tmp/mw.fifo" >"$tmp/out" 2>"$tmp/err" &
mpid=$!
pids="$pids $apid $mpid"
# the Login handled: events from now on reach amicat
check "amicat is logged in" wait_for 30 grep -q '^Action=Login ' "$tmp/pbx.log"
echo "mwi 100@default 2 1" >"$tmp/pbx.ctl"
check "mwinotify reports Kamailio's 200 for the relayed NOTIFY" \
    wait_for 20 grep -q '^Mailbox=100@default Watcher=100@127.0.0.1 CallID=.* Status=200 Reason=OK' "$tmp/out"
wait "$ppid"
st=$?
check "the phone saw Messages-Waiting: yes, Voice-Message: 2/1, every CSeq rising" test $st -eq 0
grep 'NOTIFY#\|CSeq order' "$tmp/phone.log" | sed 's/^/# /'
check "the un-SUBSCRIBE removed the row" wait_for 10 rows_are 0
kill "$apid"
wait "$mpid"
st=$?
check "end of input: mwinotify exits 0" test $st -eq 0

# -- the dialog is gone: Kamailio (WITH_DLGCHECK) answers 481 --
mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" -d stale -p notify 100 127.0.0.1 1 0 >"$tmp/out" 2>"$tmp/err"
st=$?
check "a NOTIFY for a gone subscription: exit 1" test $st -eq 1
check "481 reported and the stale row pruned" grep -q 'Status=481 .*Subscription=pruned' "$tmp/out"
check "stale row deleted" test "$(mariadb_sql db 'SELECT COUNT(*) FROM stale.active_watchers')" = 0

done_testing
