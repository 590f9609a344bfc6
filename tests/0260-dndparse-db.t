#!/bin/sh
# dndparse -d: addresses looked up in the employee table of a real MariaDB
# (the table peerlist fills), the same actions as from the map; SQL
# metacharacters in the sender reach the server only as a parameter; a
# database restarted mid-stream: the lines wait for it, none lost or
# repeated; a group that can't log in is a clear error, exit 2; -D names
# the one option file to read.
. "$(dirname "$0")/lib.sh"
sx=$top/tests/fixtures/syslog

mariadb_start db || exit 1
mariadb_sql db <"$top/conf/employee.sql"
# the shared map, as rows
awk '!/^#/ && NF >= 2 { printf "INSERT INTO employee (ip, peer) VALUES (\"%s\", \"%s\");\n", $1, $2 }' \
    "$sx/peers.map" | mariadb_sql db

dndparse -m "$sx/peers.map" <"$sx/DND.log" >"$tmp/want" 2>/dev/null
dndparse -d amitools <"$sx/DND.log" >"$tmp/out" 2>"$tmp/err"
st=$?
check "DND.log from the table: exit 0" test $st -eq 0
check_same "the same actions as from the map" "$tmp/out" "$tmp/want"
check "the unknown phone is named" \
    grep -q '192.168.161.99 is not in the employee table' "$tmp/err"

# a sender that would widen string-built SQL to every row
printf '%s\n' "Aug 29 11:46:46 x'OR'1'='1 [0]Enable DND" \
    'Aug 29 11:46:46 x"OR"1"="1 [0]Enable DND' |
    dndparse -d amitools >"$tmp/out" 2>"$tmp/err"
check "SQL metacharacters in the sender match no row" sh -c \
    "[ ! -s '$tmp/out' ] && [ \$(grep -c 'is not in the employee table' '$tmp/err') -eq 2 ]"

# a phone added to the table after dndparse asked: SIGHUP asks again
mkfifo "$tmp/in"
dndparse -d amitools <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
dpid=$!
pids="$pids $dpid"
exec 3>"$tmp/in"
echo 'Aug 29 11:46:46 10.9.9.9 [0]Enable DND' >&3
check "an address not in the table: said" \
    wait_for 10 grep -q '10.9.9.9 is not in the employee table' "$tmp/err"
mariadb_sql db "INSERT INTO employee (ip, peer) VALUES ('10.9.9.9', '999')"
kill -HUP $dpid
echo 'Aug 29 11:46:47 10.9.9.9 [0]Enable DND' >&3
check "after SIGHUP it is found" wait_for 10 grep -q 'Peername=999 DND=enabled' "$tmp/out"
exec 3>&-
wait $dpid

# -- the database goes away mid-stream and comes back --
for i in 1 2 3 4 5 6; do
	mariadb_sql db "INSERT INTO employee (ip, peer) VALUES ('10.0.0.$i', '70$i')"
done
: >"$tmp/dnd.log"
dndparse -d amitools -F "$tmp/dnd.log" -S "$tmp/state" >"$tmp/out" 2>"$tmp/err" &
dpid=$!
pids="$pids $dpid"
for i in 1 2; do echo "Aug 29 11:46:4$i 10.0.0.$i [0]Enable DND" >>"$tmp/dnd.log"; done
check "before the outage: both looked up" wait_for 10 has_count 2 'DND=enabled' "$tmp/out"
mariadb_stop db
for i in 3 4 5 6; do echo "Aug 29 11:47:0$i 10.0.0.$i [0]Enable DND" >>"$tmp/dnd.log"; done
check "database down: said, lines wait" wait_for 15 grep -q 'lines wait' "$tmp/err"
check "nothing decided without it" has_count 2 'DND=enabled' "$tmp/out"
mariadb_start db || exit 1
check "database back: every waiting line goes out" \
    wait_for 30 has_count 6 'DND=enabled' "$tmp/out"
for i in 1 2 3 4 5 6; do
	echo "Action=UserEvent UserEvent=DND Peername=70$i DND=enabled Channel=PJSIP/70$i Status=\"DND enabled\""
done >"$tmp/want"
check_same "in order, once each" "$tmp/out" "$tmp/want"
check "and the return is said" grep -q 'back' "$tmp/err"
kill $dpid
wait $dpid

# -- credentials the server refuses are not worth waiting for --
umask 077
printf '[nobody]\nsocket = %s\nuser = nobody\npassword = wrong\ndatabase = amitools\n' \
    "$tmp/db/sock" >>"$tmp/db/my.cnf"
umask 022
echo 'Aug 29 11:46:46 10.0.0.1 [0]Enable DND' | dndparse -d nobody >/dev/null 2>"$tmp/err"
st=$?
check "refused login: exit 2, saying why" sh -c \
    "[ $st -eq 2 ] && grep -q 'database nobody: .*Access denied' '$tmp/err'"
check "-d and -m together: usage, exit 2" sh -c \
    "dndparse -d amitools -m '$sx/peers.map' </dev/null 2>/dev/null; [ \$? -eq 2 ]"

# -- -D: the settings from that option file only, as peerlist and mwinotify --
dndparse -m "$sx/peers.map" <"$sx/DND.log" >"$tmp/want" 2>/dev/null
MYSQL_HOME=/nonexistent timeout 20 dndparse -D "$tmp/db/my.cnf" -d amitools \
    <"$sx/DND.log" >"$tmp/out" 2>/dev/null
check_same "-D FILE: the settings from that file, the same actions" "$tmp/out" "$tmp/want"
cp "$tmp/db/my.cnf" "$tmp/open.cnf"
chmod 644 "$tmp/open.cnf"
dndparse -D "$tmp/open.cnf" -d amitools </dev/null 2>"$tmp/err"
check "-D FILE others can read: refused, exit 2" sh -c \
    "[ $? -eq 2 ] && grep -q 'readable by group or' '$tmp/err'"
check "-D without -d: usage, exit 2" sh -c \
    "dndparse -D '$tmp/db/my.cnf' </dev/null 2>/dev/null; [ \$? -eq 2 ]"

done_testing
