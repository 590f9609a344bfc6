#!/bin/sh
# mwinotify against sipp phones and a real MariaDB holding active_watchers
# in both layouts (OpenSIPS's, and Kamailio's own presence-create.sql):
# every header of the NOTIFY, CSeq written back and rising across runs,
# only active unexpired rows, retransmission to a slow phone, give-up on a
# silent one, 481 reported (and pruned with -p), CR/LF never on the wire.
. "$(dirname "$0")/lib.sh"
. "$top/tests/sipp.sh"

# the OpenSIPS layout in database amitools, Kamailio's in kamailio
mariadb_start db || exit 1
my_cnf=$tmp/db/my.cnf
mariadb_sql db "source $fixtures/sql/opensips-active_watchers.sql"
mariadb_sql db "CREATE DATABASE kamailio; GRANT ALL ON kamailio.* TO 'amitools'@'localhost';
    USE kamailio; source /usr/share/kamailio/mysql/standard-create.sql;
    source /usr/share/kamailio/mysql/presence-create.sql"
printf '[kam]\nuser = amitools\npassword = %s\nsocket = %s\ndatabase = kamailio\n' \
    "$(sed -n 's/^password = //p' "$my_cnf" | sed 1q)" "$tmp/db/sock" >>"$my_cnf"
printf '[mwinotify]\ndomain = pbx.test\nvmexten = *97\nuser_agent = mwi-test\n' >"$tmp/mwi.conf"

# row DB WATCHER CALLID CSEQ CONTACT RR [EXPIRES-FROM-NOW STATUS EVENT]
row() {
	mariadb_sql db "INSERT INTO $1.active_watchers (presentity_uri, watcher_username,
	    watcher_domain, to_user, to_domain, event, to_tag, from_tag, callid,
	    local_cseq, remote_cseq, contact, record_route, expires, status,
	    socket_info, local_contact $([ "$1" = kamailio ] && echo ', from_user, from_domain, updated, updated_winfo'))
	    VALUES ('sip:$2@pbx.test', '$2', 'pbx.test', '$2', 'pbx.test',
	    '${9:-message-summary}', 'tt-$3', 'ft-$3', '$3', $4, 1, '$5', '$6',
	    UNIX_TIMESTAMP() + ${7:-3600}, ${8:-1}, 'udp:127.0.0.1:5060',
	    'sip:pbx.test:5060' $([ "$1" = kamailio ] && echo ", '$2', 'pbx.test', 0, 0"))"
}

cseq_of() {
	mariadb_sql db "SELECT local_cseq FROM $1.active_watchers WHERE callid = '$2'"
}

mw() {
	printf 'Event=MessageWaiting Privilege=call,all Mailbox=%s Waiting=1 New=%s Old=%s\n' "$1" "$2" "$3"
}

for layout in opensips kamailio; do
	grp=amitools db=amitools
	[ $layout = kamailio ] && grp=kam db=kamailio
	sipp_start ph_$layout "$top/tests/sipp/notify_200.xml" -m 1 || exit 1
	eval "sp=\$port_ph_$layout"
	row $db 100 "cid-$layout@phone" 5 "sip:100@127.0.0.1:$sp;transport=udp" "<sip:127.0.0.1:$sp;lr>"
	# rows no NOTIFY may use: expired, terminated, pending, another event
	row $db 100 "expired-$layout" 5 "sip:100@127.0.0.1:$sp" "" -10
	row $db 100 "terminated-$layout" 5 "sip:100@127.0.0.1:$sp" "" 3600 3
	row $db 100 "pending-$layout" 5 "sip:100@127.0.0.1:$sp" "" 3600 2
	row $db 100 "presence-$layout" 5 "sip:100@127.0.0.1:$sp" "" 3600 1 presence

	# two changes in one stream: both in flight at once in one dialog
	{ mw 100@default 2 1; mw 100@default 0 3; } | mwinotify -c "$tmp/mwi.conf" \
	    -D "$my_cnf" -d $grp -P 127.0.0.1:$sp >"$tmp/out1" 2>"$tmp/err1"
	st=$?
	check "$layout: NOTIFYs answered 200: exit 0" test $st -eq 0
	check "$layout: a report line per NOTIFY: mailbox, watcher, Call-ID, CSeq, 200" grep -q \
	    "^Mailbox=100@default Watcher=100@pbx.test CallID=cid-$layout@phone CSeq=7 Status=200 Reason=OK Elapsed=" "$tmp/out1"
	check "$layout: the second one's CSeq is above (8)" grep -q "CSeq=8 Status=200" "$tmp/out1"
	check "$layout: only the active unexpired message-summary row" has_count 2 . "$tmp/out1"
	check "$layout: local_cseq written back for each (5 -> 7)" \
	    test "$(cseq_of $db cid-$layout@phone)" -eq 7
	sipp_wait ph_$layout
	check "$layout: the phone's checks held (bodies, CSeq rising)" test $? -eq 0
	sipp_received ph_$layout | tr -d '\r' | sed -n '1,/^Voice-Message/p' |
	    sed -e 's/branch=z9hG4bK-amw[0-9a-f]*-1;/branch=BRANCH;/' \
	    -e 's/^\(Via: SIP\/2.0\/UDP 127.0.0.1:\)[0-9]*;/\1PORT;/' \
	    -e 's/expires=3[56][0-9][0-9]$/expires=REMAINING/' >"$tmp/got"
	cat >"$tmp/want" <<EOT
NOTIFY sip:100@127.0.0.1:$sp;transport=udp SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=BRANCH;rport
Route: <sip:127.0.0.1:$sp;lr>
Max-Forwards: 70
From: <sip:100@pbx.test>;tag=tt-cid-$layout@phone
To: <sip:100@pbx.test>;tag=ft-cid-$layout@phone
Call-ID: cid-$layout@phone
CSeq: 7 NOTIFY
Contact: <sip:pbx.test:5060>
Event: message-summary
Subscription-State: active;expires=REMAINING
User-Agent: mwi-test
Content-Type: application/simple-message-summary
Content-Length: 84

Messages-Waiting: yes
Message-Account: sip:*97@pbx.test
Voice-Message: 2/1 (0/0)
EOT
	check_same "$layout: the NOTIFY, header by header, as the proxy builds it" "$tmp/got" "$tmp/want"
	check "$layout: two requests reached the phone, no more" has_count 2 '^NOTIFY ' "$tmp/ph_$layout.msg"
done
mwinotify -D "$my_cnf" status >"$tmp/out"
check "status names the OpenSIPS layout" grep -q 'Layout=opensips' "$tmp/out"
mwinotify -D "$my_cnf" -d kam status >"$tmp/out"
check "and the Kamailio one" grep -q 'Layout=kamailio' "$tmp/out"

# -- a slow phone: answered after two retransmissions (T1 = 500 ms) --
sipp_start late "$top/tests/sipp/notify_late.xml" -m 1 || exit 1
row amitools 101 cid-late 1 "sip:101@127.0.0.1:$port_late" ""
mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:$port_late notify 101 pbx.test 1 0 >"$tmp/out"
st=$?
check "late 200: exit 0" test $st -eq 0
check "reported once, with its 200" has_count 1 'CallID=cid-late CSeq=3 Status=200' "$tmp/out"
check "after the retransmissions (elapsed >= 1.5 s)" awk -F'Elapsed=' '{ exit !($2 >= 1500) }' "$tmp/out"
sipp_wait late
check "the phone got the request three times (sent, 0.5 s, 1.5 s)" has_count 3 '^NOTIFY ' "$tmp/late.msg"
check "each the same transaction (one branch)" test "$(grep -o 'branch=[^;]*' "$tmp/late.msg" | sort -u | wc -l)" -eq 1

# -- SIGTERM with a NOTIFY in flight: its answer is still waited for --
sipp_start term "$top/tests/sipp/notify_late.xml" -m 1 || exit 1
row amitools 107 cid-term 1 "sip:107@127.0.0.1:$port_term" ""
mkfifo "$tmp/term.fifo"
mwinotify -v -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:$port_term <"$tmp/term.fifo" >"$tmp/out" 2>"$tmp/err" &
mp=$!
pids="$pids $mp"
exec 3>"$tmp/term.fifo"
mw 107@default 1 0 >&3
wait_for 10 grep -qs '^mwinotify: sent to' "$tmp/err"
kill -TERM $mp
wait $mp
st=$?
exec 3>&-
check "SIGTERM with a NOTIFY in flight: exit 0" test $st -eq 0
check "its 200, after the retransmissions, still reported" \
    has_count 1 'CallID=cid-term CSeq=3 Status=200' "$tmp/out"
sipp_wait term

# -- 481: reported, kept; with -p deleted --
sipp_start gone "$top/tests/sipp/notify_481.xml" -m 2 || exit 1
row amitools 102 cid-gone1 1 "sip:102@127.0.0.1:$port_gone" ""
mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:$port_gone notify 102 pbx.test 1 0 >"$tmp/out"
st=$?
check "481: exit 1" test $st -eq 1
check "481 reported, subscription gone" grep -q 'CallID=cid-gone1 CSeq=3 Status=481 Reason="Subscription Does Not Exist" Subscription=gone' "$tmp/out"
check "without -p the row stays" test "$(cseq_of amitools cid-gone1)" -eq 2
row amitools 102 cid-gone2 1 "sip:102@127.0.0.1:$port_gone" ""
mariadb_sql db "DELETE FROM active_watchers WHERE callid = 'cid-gone1'"
mw 102@default 1 0 | mwinotify -p -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:$port_gone >"$tmp/out"
check "-p: 481 reported as pruned" grep -q 'CallID=cid-gone2 CSeq=3 Status=481 .*Subscription=pruned' "$tmp/out"
check "-p: the row is deleted" test -z "$(cseq_of amitools cid-gone2)"
sipp_wait gone
check "the 481 phone saw both" test $? -eq 0

# -- a silent phone: retransmitted T1, 2T1, ... capped at T2; given up at 64*T1 --
sipp_start silent "$top/tests/sipp/notify_silent.xml" -m 1 || exit 1
row amitools 103 cid-silent 1 "sip:103@127.0.0.1:$port_silent" ""
printf '[mwinotify]\ndomain = pbx.test\nt1 = 50\nt2 = 400\n' >"$tmp/fast.conf"
mwinotify -c "$tmp/fast.conf" -D "$my_cnf" -P 127.0.0.1:$port_silent notify 103 pbx.test 1 0 >"$tmp/out"
st=$?
check "no answer: exit 1" test $st -eq 1
check "give-up reported" grep -q 'CallID=cid-silent CSeq=3 Status=timeout' "$tmp/out"
check "after 64*T1 (3.2 s)" awk -F'Elapsed=' '{ exit !($2 >= 3200 && $2 < 4500) }' "$tmp/out"
# 0, 50, 150, 350, 750, 1150, ... 2750, 3150 ms: 11 copies in 3.2 s
n=$(count '^NOTIFY ' "$tmp/silent.msg")
check "retransmitted with doubling, capped at T2 ($n copies, want 10-11)" test "$n" -ge 10 -a "$n" -le 11
kill "$pid_silent"

# -- values that would inject headers are refused, never sent --
sipp_start inj "$top/tests/sipp/notify_200.xml" -m 1 || exit 1
mariadb_sql db "INSERT INTO active_watchers (presentity_uri, watcher_username, watcher_domain,
    to_user, to_domain, event, to_tag, from_tag, callid, local_cseq, remote_cseq, contact,
    expires, status, socket_info, local_contact) VALUES ('sip:105@pbx.test', '105',
    'pbx.test', '105', 'pbx.test', 'message-summary', 'tt', 'ft', CONCAT('evil', CHAR(13, 10),
    'X-Evil: 1'), 1, 1, 'sip:105@127.0.0.1:$port_inj', UNIX_TIMESTAMP() + 3600, 1, 'x', '')"
mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:$port_inj notify 105 pbx.test 1 0 >"$tmp/out" 2>"$tmp/err"
st=$?
check "a callid with CR LF: exit 2" test $st -eq 2
check "named on stderr" grep -q 'callid holds CR or LF; refused' "$tmp/err"
check "reported as refused" grep -q 'Status=refused' "$tmp/out"
check "nothing reached the phone" has_count 0 '^NOTIFY ' "$tmp/inj.msg"
printf 'Event=MessageWaiting Mailbox="106@default\\r\\nX: y" New=1 Old=0\n' |
    mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:$port_inj >"$tmp/out" 2>"$tmp/err"
st=$?
check "a Mailbox with CR LF from AMI: refused, exit 2" test $st -eq 2 -a ! -s "$tmp/out"
kill "$pid_inj"

done_testing
