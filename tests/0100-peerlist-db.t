#!/bin/sh
# peerlist into a real MariaDB: the real transcripts (chan_sip 13, PJSIP
# 08 and 09), idempotence, a changed IP, an unregistered peer keeping its
# IP, dry run, prune and its guard, SQL metacharacters and UTF-8, the
# database down, a transaction failing half-way, amisim lists of both
# channel drivers, -x, -c and TCP.
. "$(dirname "$0")/lib.sh"
fx=$fixtures/asterisk-20.20.1

mariadb_start db || exit 1
mariadb_sql db <"$top/conf/employee.sql"

rows() {
	mariadb_sql db "SELECT peer, description, callerid, phone, ip, incoming, status
	    FROM employee ORDER BY peer"
}
tab=$(printf '\t')

# -- chan_sip, transcript 13: SIPpeers twice, SIPshowpeer, PeerStatus --
peerlist -d amitools <"$fx/13_chansip_peers.txt" >"$tmp/out" 2>"$tmp/err"
st=$?
check "transcript 13: exit 0" test $st -eq 0
echo "3 added, 0 changed, 0 unchanged, 0 not seen" >"$tmp/want"
check_same "transcript 13: the summary" "$tmp/out" "$tmp/want"
check "nothing on stderr" test ! -s "$tmp/err"
rows >"$tmp/got"
cat >"$tmp/want" <<EOF
916${tab}Sales; O'Neil${tab}${tab}SIPp-register${tab}127.0.0.1${tab}${tab}Reachable
926${tab}Warehouse${tab}${tab}${tab}127.0.0.1${tab}${tab}Reachable
937${tab}Reception${tab}937${tab}SIPp-register${tab}127.0.0.1${tab}${tab}Reachable
EOF
check_same "transcript 13: description, callerid, phone, ip, status" "$tmp/got" "$tmp/want"

# -- PJSIP, transcripts 08 (endpoints, EndpointDetail) and 09 (contacts) --
peerlist -v -d amitools <"$fx/08_pjsip_show_endpoints.txt" >"$tmp/out"
check "transcript 08: 100 from EndpointDetail's callerid" \
    grep -q '^Change=added Peer=100 Description="Ext 100" CallerID=100 Status=Unreachable$' "$tmp/out"
check "transcript 08: 3 chan_sip peers not seen, kept" \
    grep -q '^2 added, 0 changed, 0 unchanged, 3 not seen$' "$tmp/out"
peerlist -v -d amitools <"$fx/09_pjsip_register_contacts.txt" >"$tmp/out"
check "transcript 09: 100 registered: ViaAddr, User-Agent, status" \
    grep -q '^Change=changed Peer=100 Phone=SIPp-register OldPhone="" IP=127.0.0.1 OldIP="" Status=Reachable OldStatus=Unreachable$' "$tmp/out"
rows | grep '^10[01]' >"$tmp/got"
cat >"$tmp/want" <<EOF
100${tab}Ext 100${tab}100${tab}SIPp-register${tab}127.0.0.1${tab}${tab}Reachable
101${tab}${tab}${tab}${tab}${tab}${tab}Unreachable
EOF
check_same "transcripts 08 + 09: the PJSIP rows" "$tmp/got" "$tmp/want"
# the reader went away (stdout a pipe closed before the start): the
# database client ignores SIGPIPE, so this is EPIPE, ended quietly
python3 -c 'import os, subprocess, sys
r, w = os.pipe(); os.close(r)
sys.exit(-subprocess.run(sys.argv[1:], stdout=w).returncode)' \
    peerlist -v -d amitools <"$fx/09_pjsip_register_contacts.txt" 2>"$tmp/err"
check "-v into a closed pipe: killed by SIGPIPE, nothing said" sh -c \
    "[ $? -eq 13 ] && [ ! -s '$tmp/err' ]"

# -- idempotent: the same input again writes nothing at all (08 is older
# than 09: 100 had not registered yet, so it is left out here) --
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/before"
w0=$(mariadb_writes db)
for t in 13_chansip_peers 09_pjsip_register_contacts 13_chansip_peers; do
	peerlist -d amitools <"$fx/$t.txt"
done >"$tmp/out"
w1=$(mariadb_writes db)
printf '0 added, 0 changed, 3 unchanged, 2 not seen\n0 added, 0 changed, 2 unchanged, 3 not seen\n0 added, 0 changed, 3 unchanged, 2 not seen\n' >"$tmp/want"
check_same "second runs: 0 changed" "$tmp/out" "$tmp/want"
check "no row written, updated or deleted (the server's counters)" test "$w0" -eq "$w1"
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/after"
check_same "ids and update times untouched" "$tmp/after" "$tmp/before"

# -- a changed IP, then the peer unregisters and keeps it --
echo 'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/916 PeerStatus=Registered Address=10.1.2.3:5060' |
    peerlist -v -d amitools >"$tmp/out"
check "a changed IP: said with the old one" \
    grep -q '^Change=changed Peer=916 IP=10.1.2.3 OldIP=127.0.0.1$' "$tmp/out"
check "a changed IP: 1 changed" grep -q '^0 added, 1 changed, 0 unchanged, 4 not seen$' "$tmp/out"
echo 'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/916 PeerStatus=Unregistered Cause=Expired' |
    peerlist -d amitools >/dev/null
got=$(mariadb_sql db "SELECT ip, status FROM employee WHERE peer = '916'")
check "unregistered: the last IP is kept, the status says so" test "$got" = "10.1.2.3${tab}Unreachable"

# -- dry run: the changes printed, nothing written --
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/before"
w0=$(mariadb_writes db)
printf '%s\n' 'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/926 PeerStatus=Reachable Address=10.9.9.9:5060' \
    'Event=PeerEntry Channeltype=SIP ObjectName=950 ChanObjectType=peer IPaddress=10.0.0.50 IPport=5060 Status=OK Description=New' |
    peerlist -N -d amitools >"$tmp/out"
st=$?
cat >"$tmp/want" <<EOF
Change=changed Peer=926 IP=10.9.9.9 OldIP=127.0.0.1
Change=added Peer=950 Description=New IP=10.0.0.50 Status=Reachable
dry run: 1 added, 1 changed, 0 unchanged, 4 not seen
EOF
check_same "-N prints the changes and the summary" "$tmp/out" "$tmp/want"
check "-N: exit 0" test $st -eq 0
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/after"
check_same "-N wrote nothing" "$tmp/after" "$tmp/before"
check "-N: no row touched (the server's counters)" test "$(mariadb_writes db)" -eq "$w0"

# -- SQL metacharacters, UTF-8, a stray byte, a control byte --
python3 - "$tmp" <<'EOF'
import sys
d = sys.argv[1]
desc = "Robert'); DROP TABLE employee;-- \\ \"q\" `b` %_ Zoë Ünïcødé 日本語 😀"
raw = desc.encode() + b" bad\xff tab\there"
open(d + "/meta.in", "wb").write(
    b"Event: PeerEntry\r\nChanneltype: SIP\r\nObjectName: 960\r\nIPaddress: 10.0.0.60\r\n"
    b"Status: OK\r\nDescription: " + raw + b"\r\n\r\n")
want = desc.encode() + b" bad\xef\xbf\xbd tab here"
open(d + "/meta.want", "w").write(want.hex().upper() + "\n")
EOF
peerlist -d amitools <"$tmp/meta.in" >/dev/null 2>"$tmp/err"
st=$?
check "metacharacters and UTF-8: exit 0" test $st -eq 0
mariadb_sql db "SELECT HEX(description) FROM employee WHERE peer = '960'" >"$tmp/got"
check_same "stored byte for byte; a stray byte as U+FFFD, a tab as a space" "$tmp/got" "$tmp/meta.want"
check "the table is still there" test "$(mariadb_sql db 'SELECT COUNT(*) FROM employee')" -eq 6
peerlist -d amitools <"$tmp/meta.in" >"$tmp/out"
check "the same description again: unchanged" grep -q '^0 added, 0 changed, 1 unchanged' "$tmp/out"

# -- prune: only after whole lists, and never what a list did not say --
printf '%s\n' 'Event=PeerEntry Channeltype=SIP ObjectName=916 IPaddress=10.1.2.3 Status=OK' |
    peerlist -p -d amitools >"$tmp/out" 2>"$tmp/err"
st=$?
check "-p with items outside a list: exit 2" test $st -eq 2
check "-p refused, said why" grep -q -- '-p: in the input, 0 lists were not whole and 1 item was outside any list; nothing written' "$tmp/err"
check "-p refused: nothing deleted" test "$(mariadb_sql db 'SELECT COUNT(*) FROM employee')" -eq 6
# the first SIPpeers list of transcript 13, whole
amicat -i "$fx/13_chansip_peers.txt" | grep 'ActionID=13-2 ' >"$tmp/sippeers"
sed 's/ListItems=3/ListItems=4/' "$tmp/sippeers" | peerlist -p -d amitools >"$tmp/out" 2>"$tmp/err"
check "-p with a list whose count is wrong: refused" sh -c \
    "grep -q 'the list has 3 items, its end says 4' '$tmp/err' && grep -q -- '-p: in the input, 1 list was not whole and 0 items were outside' '$tmp/err'"
# the same from a pipe that pauses after the list: still nothing written
{ sed 's/ListItems=3/ListItems=4/' "$tmp/sippeers"; sleep 1.5; } |
    peerlist -p -d amitools >/dev/null 2>&1
check "-p refused, the input pausing before its end: nothing written" \
    test "$(mariadb_sql db "SELECT ip FROM employee WHERE peer = '916'")" = 10.1.2.3
peerlist -d amitools <"$tmp/sippeers" >"$tmp/out"
check "without -p the others are kept" grep -q '^0 added, 1 changed, 2 unchanged, 3 not seen$' "$tmp/out"
peerlist -p -v -d amitools <"$tmp/sippeers" >"$tmp/out"
check "-p: the peers not in the list are pruned" \
    grep -q '^0 added, 0 changed, 3 unchanged, 3 not seen, 3 pruned$' "$tmp/out"
check "-p: said one by one" test "$(grep -c '^Change=pruned Peer=\(100\|101\|960\) ' "$tmp/out")" -eq 3
mariadb_sql db "SELECT peer FROM employee ORDER BY peer" | tr '\n' ' ' >"$tmp/got"
printf "916 926 937 " >"$tmp/want"
check_same "-p: the listed peers stay" "$tmp/got" "$tmp/want"

# -- the database is down: exit 2, said, nothing written --
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/before"
mariadb_stop db
peerlist -d amitools <"$fx/09_pjsip_register_contacts.txt" >"$tmp/out" 2>"$tmp/err"
st=$?
check "database down: exit 2" test $st -eq 2
check "database down: a clear message" grep -q \
    "^peerlist: database \[amitools\]: Can't connect to local server through socket '$tmp/db/sock'.*the changes of 2 peers were not written" "$tmp/err"
check "database down: no summary" test ! -s "$tmp/out"
mariadb_start db
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/after"
check_same "database down: the table as it was" "$tmp/after" "$tmp/before"

# -- a transaction that fails half-way leaves nothing behind --
mariadb_sql db <<'EOF'
DELIMITER //
CREATE TRIGGER boom BEFORE INSERT ON employee FOR EACH ROW
BEGIN
  IF NEW.peer = 'boom' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'peer boom refused';
  END IF;
END//
DELIMITER ;
EOF
{
	echo 'Response=Success EventList=start Message="Peer status list will follow"'
	seq 1 1200 | awk '{ printf "Event=PeerEntry Channeltype=SIP ObjectName=%s IPaddress=10.2.%d.%d Status=OK Description=\"Bulk %d\"\n", $1 == 1100 ? "boom" : "b" $1, $1 / 250, $1 % 250, $1 }'
	echo 'Event=PeerlistComplete EventList=Complete ListItems=1200'
} >"$tmp/bulk"
peerlist -d amitools <"$tmp/bulk" >"$tmp/out" 2>"$tmp/err"
st=$?
check "refused by the server in the third batch: exit 2" test $st -eq 2
check "the server's reason is said" grep -q 'peer boom refused (error 1644)' "$tmp/err"
mariadb_sql db "SELECT * FROM employee ORDER BY id" >"$tmp/after"
check_same "none of the 1099 rows before it was kept" "$tmp/after" "$tmp/before"
mariadb_sql db "DROP TRIGGER boom"
sed 's/ObjectName=boom/ObjectName=b1100/' "$tmp/bulk" | peerlist -d amitools >"$tmp/out"
check "without the trigger: 1200 added" grep -q '^1200 added, 0 changed, 0 unchanged, 3 not seen$' "$tmp/out"
check "1203 rows" test "$(mariadb_sql db 'SELECT COUNT(*) FROM employee')" -eq 1203
mariadb_sql db "DELETE FROM employee WHERE peer LIKE 'b%'"

# -- amisim's lists, both channel drivers, through amiaction --
amisim_start a -C "$tmp/a.ctl"
conf=$tmp/a.conf
echo 'register 101 c-1@10.0.0.101 10.0.0.101 5062 Yealink_SIP-T46S_66.86.0.15 3600' >"$tmp/a.ctl"
echo 'sip-unregister 916' >"$tmp/a.ctl"
amiaction -c "$conf" PJSIPShowEndpoints | peerlist -v -d amitools >"$tmp/out"
check "amisim PJSIPShowEndpoints: the contact URI's host" \
    grep -q '^Change=added Peer=101 IP=10.0.0.101$' "$tmp/out"
amiaction -c "$conf" PJSIPShowContacts | peerlist -v -d amitools >"$tmp/out"
check "amisim PJSIPShowContacts: User-Agent and status" \
    grep -q '^Change=changed Peer=101 Phone=Yealink_SIP-T46S_66.86.0.15 OldPhone="" Status=Reachable OldStatus=""$' "$tmp/out"
amiaction -c "$conf" PJSIPShowEndpoint Endpoint=101 | peerlist -v -d amitools >"$tmp/out"
check "amisim PJSIPShowEndpoint: the callerid" \
    grep -q '^Change=changed Peer=101 Description="Ext 101" OldDescription="" CallerID=101 OldCallerID=""$' "$tmp/out"
amiaction -c "$conf" SIPpeers | peerlist -v -d amitools >"$tmp/out"
check "amisim SIPpeers: 916 unregistered keeps its IP" \
    grep -q '^Change=changed Peer=916 Status=Unreachable OldStatus=Reachable$' "$tmp/out"
printf 'Action=SIPshowpeer Peer=937\nAction=SIPshowpeer Peer=916\n' | amiaction -c "$conf" |
    peerlist -v -d amitools >"$tmp/out"
check "amisim SIPshowpeer: nothing new for 937" grep -q '^0 added, 0 changed, 2 unchanged' "$tmp/out"
rows >"$tmp/got"
cat >"$tmp/want" <<EOF
100${tab}${tab}${tab}${tab}${tab}${tab}Unreachable
101${tab}Ext 101${tab}101${tab}Yealink_SIP-T46S_66.86.0.15${tab}10.0.0.101${tab}${tab}Reachable
916${tab}Sales; O'Neil${tab}${tab}SIPp-register${tab}127.0.0.1${tab}${tab}Unreachable
926${tab}Warehouse${tab}${tab}${tab}127.0.0.1${tab}${tab}Reachable
937${tab}Reception${tab}937${tab}SIPp-register${tab}127.0.0.1${tab}${tab}Reachable
EOF
check_same "amisim: the rows" "$tmp/got" "$tmp/want"
amisim_stop a

# -- -x: the numbers whose Dial() rings each peer --
mkdir "$tmp/ext"
cat >"$tmp/ext/extensions.conf" <<'EOF'
[from-trunk]
exten => 1234567,1,Dial(PJSIP/937&PJSIP/916,60)
exten => 7654321,1,NoOp(sales) ; Dial(PJSIP/926) is a comment here
 same => n,Dial(SIP/916,30)
exten => _X.,1,Dial(PJSIP/926)                ; a pattern, not a number
exten => 555,1,Dial(PJSIP/${EXTEN})           ; a variable
#include "more.conf"
EOF
echo 'exten => 2000,1,Dial(PJSIP/926)' >"$tmp/ext/more.conf"
peerlist -v -X "$tmp/ext/extensions.conf" -d amitools <"$tmp/sippeers" >"$tmp/out"
mariadb_sql db "SELECT peer, incoming FROM employee WHERE peer LIKE '9%' ORDER BY peer" >"$tmp/got"
printf '916\t1234567,7654321\n926\t2000\n937\t1234567\n' >"$tmp/want"
check_same "-X: numbers per peer, comments, patterns and variables left out, #include read" "$tmp/got" "$tmp/want"
sed -i 's/^exten => 2000.*//' "$tmp/ext/more.conf"
peerlist -v -x "$tmp/ext/extensions.conf" -d amitools <"$tmp/sippeers" >"$tmp/out" 2>"$tmp/err"
check "-x, the old spelling of -X: a number gone from the dialplan is gone from the row" \
    grep -q '^Change=changed Peer=926 Incoming="" OldIncoming=2000$' "$tmp/out"
check "and -X said on stderr" \
    grep -qx 'peerlist: -x is now -X (-x goes in the next release)' "$tmp/err"

# -- the option file: -D reads one file only (-c, its old spelling, too);
# a TCP group --
echo 'Event=PeerStatus Privilege=system,all ChannelType=PJSIP Peer=PJSIP/101 PeerStatus=Unreachable' >"$tmp/one"
MYSQL_HOME=/nonexistent peerlist -D "$tmp/db/my.cnf" -d amitools <"$tmp/one" >"$tmp/out"
check "-D FILE: the settings from that file" grep -q '^0 added, 1 changed' "$tmp/out"
MYSQL_HOME=/nonexistent peerlist -c "$tmp/db/my.cnf" -d amitools <"$tmp/one" >"$tmp/out" 2>"$tmp/err"
check "-c FILE, the old spelling of -D: the settings from that file" \
    grep -q '^0 added, 0 changed, 1 unchanged' "$tmp/out"
check "and -D said on stderr" \
    grep -qx 'peerlist: -c is now -D (-c goes in the next release)' "$tmp/err"
MYSQL_HOME=/nonexistent peerlist -d amitools <"$tmp/one" >/dev/null 2>"$tmp/err"
check "without it and MYSQL_HOME, the default socket" grep -q "/run/mysqld/mysqld.sock\|Can't connect" "$tmp/err"
peerlist -d amitools-tcp <"$tmp/one" >"$tmp/out"
check "over TCP (group amitools-tcp)" grep -q '^0 added, 0 changed, 1 unchanged' "$tmp/out"
sed 's/^password = .*/password = wrong/' "$tmp/db/my.cnf" >"$tmp/bad.cnf"
chmod 600 "$tmp/bad.cnf"
peerlist -D "$tmp/bad.cnf" -d amitools <"$tmp/one" >/dev/null 2>"$tmp/err"
st=$?
check "a wrong password: exit 2, the server's words" sh -c \
    "[ $st -eq 2 ] && grep -q \"Access denied for user 'amitools'@'localhost' (using password: YES) (error 1045)\" '$tmp/err'"
check "and the password is in no message" sh -c "! grep -q wrong '$tmp/err'"

# -- no peers in the input: exit 1 --
printf 'Response=Error Message="No Contacts found"\n' | peerlist -d amitools >"$tmp/out" 2>"$tmp/err"
st=$?
check "no peers in the input: exit 1, said" sh -c "[ $st -eq 1 ] && grep -q 'no peers in the input' '$tmp/err'"
check "usage: -d and -m together is an error" sh -c "peerlist -d a -m b </dev/null 2>/dev/null; [ \$? -eq 2 ]"

mariadb_stop db
done_testing
