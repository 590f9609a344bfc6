#!/bin/sh
# mwinotify's admin commands and exit codes (show, status, notify), the
# mailbox-to-SIP mapping, usage errors, and a database outage: messages
# read while MariaDB is down wait and go out once it is back; what still
# waits at the end is reported, never dropped silently; the old spellings
# -F and -m.
. "$(dirname "$0")/lib.sh"
. "$top/tests/sipp.sh"

mariadb_start db || exit 1
my_cnf=$tmp/db/my.cnf
mariadb_sql db "source $fixtures/sql/opensips-active_watchers.sql"
printf '[mwinotify]\nproxy = 127.0.0.1:9\nvmexten = *97\n' >"$tmp/mwi.conf"
mwi="mwinotify -c $tmp/mwi.conf -D $my_cnf"

row() {
	mariadb_sql db "INSERT INTO active_watchers (presentity_uri, watcher_username,
	    watcher_domain, to_user, to_domain, event, to_tag, from_tag, callid,
	    local_cseq, remote_cseq, contact, record_route, expires, status,
	    socket_info, local_contact) VALUES ('sip:$1@$2', '$1', '$2', '$1',
	    '$2', 'message-summary', 'tt-$3', 'ft-$3', '$3', 4, 1, '$4', '$5',
	    UNIX_TIMESTAMP() + 600, 1, 'udp:127.0.0.1:5060', 'sip:$2')"
}

# -- show --
row 100 pbx.test cid-show 'sip:100@192.0.2.1:5060' '<sip:10.0.0.1;lr>'
$mwi show 100 pbx.test >"$tmp/out"
st=$?
check "show: exit 0" test $st -eq 0
check "show: tags, Call-ID, expires, CSeq, contact" grep -q \
    '^Id=1 ToTag=tt-cid-show FromTag=ft-cid-show CallID=cid-show Expires=[56][0-9][0-9] CSeq=4 Contact=sip:100@192.0.2.1:5060 RecordRoute=<sip:10.0.0.1;lr> LocalContact=sip:pbx.test$' "$tmp/out"
$mwi show 999 pbx.test >"$tmp/out" 2>"$tmp/err"
st=$?
check "show: no subscription is exit 1" test $st -eq 1 -a ! -s "$tmp/out"
check "and said so" grep -q 'no active message-summary subscription of 999@pbx.test' "$tmp/err"

# -- status --
$mwi status >"$tmp/out"
st=$?
check "status: exit 0 when the database answers and the proxy resolves" test $st -eq 0
check "status: database, layout, count, proxy, config" grep -q \
    '^Database=ok Layout=opensips Subscriptions=1 Proxy=127.0.0.1:9 Resolved=127.0.0.1:9 Bind=any DBGroup=amitools UserAgent=amitools-mwinotify/[0-9.]* ContactUser=asterisk Vmexten=\*97 Domain=- Map=- CSeqOffset=1$' "$tmp/out"
printf '@default pbx.test\n' >"$tmp/box.map"
MYSQL_HOME=/nonexistent mwinotify -c "$tmp/mwi.conf" -F "$my_cnf" -m "$tmp/box.map" \
    status >"$tmp/out" 2>"$tmp/err"
check "-F and -m, the old spellings of -D and -a: the option file and the map" \
    grep -q "^Database=ok Layout=opensips .* Map=$tmp/box.map " "$tmp/out"
check "and each says its new spelling" sh -c "
    grep -qx 'mwinotify: -F is now -D (-F goes in the next release)' '$tmp/err' &&
    grep -qx 'mwinotify: -m is now -a (-m goes in the next release)' '$tmp/err'"
$mwi -P no-such-host.invalid status >"$tmp/out"
st=$?
check "status: an unresolvable proxy is exit 1" test $st -eq 1
check "and named" grep -q 'Resolved=no' "$tmp/out"

# -- the reader went away: ended quietly, at once, as every tool is --
# (stdout a pipe whose reading end is closed before the tool starts)
python3 -c 'import os, subprocess, sys
r, w = os.pipe(); os.close(r)
sys.exit(-subprocess.run(sys.argv[1:], stdout=w).returncode)' \
    $mwi status 2>"$tmp/err"
check "status into a closed pipe: killed by SIGPIPE, nothing said" sh -c \
    "[ $? -eq 13 ] && [ ! -s '$tmp/err' ]"

# -- usage --
$mwi show 100 >/dev/null 2>&1
check "show with one argument: exit 2" test $? -eq 2
$mwi notify 100 pbx.test x 0 >/dev/null 2>&1
check "notify with a bad count: exit 2" test $? -eq 2
mwinotify -c "$tmp/mwi.conf" -D "$my_cnf" -P 127.0.0.1:9 -w 0 </dev/null >/dev/null 2>&1
check "-w 0: exit 2" test $? -eq 2
printf '[mwinotify]\nbogus = 1\n' >"$tmp/bad.conf"
mwinotify -c "$tmp/bad.conf" status >/dev/null 2>"$tmp/err"
check "an unknown config key: exit 2, named" sh -c "test $? -eq 2 && grep -q 'unknown key bogus' '$tmp/err'"

# -- notify with nothing to notify --
$mwi notify 999 pbx.test 1 0 >"$tmp/out" 2>"$tmp/err"
check "notify: no subscription is exit 1" test $? -eq 1
check "and said so" grep -q 'no active message-summary subscription of 999@pbx.test' "$tmp/err"

# -- mailbox to SIP user and domain --
printf '# mailbox  sip user@domain\n300@default alice@pbx.test\n@sales sales.test\n' >"$tmp/map"
printf 'Event=MessageWaiting Mailbox=%s New=1 Old=0\n' 300@default 200@sales 400@default |
    $mwi -v -a "$tmp/map" >"$tmp/out" 2>"$tmp/err"
check "a mailbox mapped one by one" grep -q '300@default: no active subscription of alice@pbx.test' "$tmp/err"
check "a context mapped to a domain" grep -q '200@sales: no active subscription of 200@sales.test' "$tmp/err"
check "no domain configured: the context" grep -q '400@default: no active subscription of 400@default' "$tmp/err"
# a line longer than 1 KiB is one line (fgets cut it in two before, and
# the rest of a long comment was an error): the map is lib's reader
{ printf '# %02000d\n' 0; printf '300@default alice@pbx.test\n'; } >"$tmp/long.map"
printf 'Event=MessageWaiting Mailbox=300@default New=1 Old=0\n' |
    $mwi -v -a "$tmp/long.map" >"$tmp/out" 2>"$tmp/err"
check "a map with a comment of 2 KiB: read, and mapped" \
    grep -q '300@default: no active subscription of alice@pbx.test' "$tmp/err"
printf '[mwinotify]\nproxy = 127.0.0.1:9\ndomain = pbx.test\n' >"$tmp/dom.conf"
printf 'Event=MessageWaiting Mailbox=400@default New=1 Old=0\n' |
    mwinotify -v -c "$tmp/dom.conf" -D "$my_cnf" 2>"$tmp/err"
check "domain from the config" grep -q '400@default: no active subscription of 400@pbx.test' "$tmp/err"

# -- the database goes away and comes back --
sipp_start ph "$top/tests/sipp/notify_200.xml" -m 1 || exit 1
row 500 pbx.test cid-outage "sip:500@127.0.0.1:$port_ph" ''
printf '[mwinotify]\nproxy = 127.0.0.1:%s\ndomain = pbx.test\n' "$port_ph" >"$tmp/ph.conf"
mkfifo "$tmp/in"
mwinotify -c "$tmp/ph.conf" -D "$my_cnf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
mpid=$!
pids="$pids $mpid"
exec 3>"$tmp/in"
mariadb_stop db
printf 'Event=MessageWaiting Mailbox=500@default New=1 Old=0\n' >&3
check "the outage is reported" wait_for 20 grep -q 'database down' "$tmp/err"
check "the message waits (nothing sent)" test ! -s "$tmp/out"
# not holding the FIFO open: mwinotify must see its end
mariadb_start db 3>&- || exit 1
check "sent once the database is back" wait_for 30 grep -q 'CallID=cid-outage CSeq=6 Status=200' "$tmp/out"
check "the recovery is reported" grep -q 'database back; 1 messages wait' "$tmp/err"
printf 'Event=MessageWaiting Mailbox=500@default New=0 Old=1\n' >&3
exec 3>&-
wait "$mpid"
st=$?
check "then the stream goes on: exit 0" test $st -eq 0
check "with the next NOTIFY in the dialog" grep -q 'CallID=cid-outage CSeq=7 Status=200' "$tmp/out"
sipp_wait ph
check "the phone got both, CSeq rising" test $? -eq 0

mariadb_stop db
printf 'Event=MessageWaiting Mailbox=500@default New=1 Old=0\n' |
    mwinotify -W 1 -c "$tmp/ph.conf" -D "$my_cnf" >"$tmp/out" 2>"$tmp/err"
check "database down to the end: exit 2" test $? -eq 2
check "the waiting message is reported undelivered" grep -q '500@default: not delivered: ' "$tmp/err"

done_testing
