#!/bin/sh
# Faults, second round (issue 13): no downgrade to a secret in clear, config
# files that are not files, out-of-range values, SIGHUP, half lines, dndctl
# locks and planted symlinks, mwinotify -W, dndparse under fast rotation.
. "$(dirname "$0")/lib.sh"

# -- MD5 or nothing --
amisim_start nc -f nochallenge -L "$tmp/nc.log"
timeout 20 amicat -c "$tmp/nc.conf" >/dev/null 2>"$tmp/err"
st=$?
check "amicat: a refused Challenge is a refused login (exit 2)" test $st -eq 2
check "said clearly" grep -q 'MD5 challenge was refused.*not sending the secret in clear' "$tmp/err"
amisim_stop nc
amisim_start nc -f nochallenge -L "$tmp/nc.log"
timeout 20 amiaction -c "$tmp/nc.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "amiaction: the same (exit 2)" test $st -eq 2
check "no Login went out, so no Secret" has_count 0 'Login' "$tmp/nc.log"
amisim_stop nc
amisim_start nc -f nochallenge -L "$tmp/nc.log"
(umask 077; { cat "$tmp/nc.conf"; echo "auth = plain"; } >"$tmp/plain.conf")
timeout 20 amiaction -c "$tmp/plain.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "auth = plain for that server: plain login allowed (exit 0)" test $st -eq 0
check "with a Secret header" grep -q '^Action=Login .*Secret=testpass' "$tmp/nc.log"
(umask 077; { cat "$tmp/nc.conf"; echo "auth = none"; } >"$tmp/bad.conf")
timeout 20 amiaction -c "$tmp/bad.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "auth = none: refused (exit 2)" test $st -eq 2
amisim_stop nc

# a reconnect to a server that now refuses the Challenge stays MD5 or nothing
amisim_start up -L "$tmp/up.log"
timeout 60 amicat -c "$tmp/up.conf" >/dev/null 2>"$tmp/rc.err" &
rcpid=$!
wait_for 10 grep -q 'Action=Login' "$tmp/up.log"
amisim_stop up
SIMPORT=$port_up amisim_start down -f nochallenge -L "$tmp/down.log"
wait "$rcpid"
st=$?
check "amicat: on reconnect, a refused Challenge ends it (exit 2)" test $st -eq 2
check "and no Login reached the new server" has_count 0 'Login' "$tmp/down.log"
check "after the first server's login" grep -q 'Action=Login.*AuthType=MD5' "$tmp/up.log"
amisim_stop down

# -- config values and files --
(umask 077; printf '[default]\nport = 99999\n' >"$tmp/port.conf")
timeout 10 amiaction -c "$tmp/port.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "port = 99999: refused (exit 2)" test $st -eq 2
check "naming the file, line and key" grep -q 'port.conf:2: port is too large' "$tmp/err"
AMI_PORT=0 timeout 10 amiaction Ping >/dev/null 2>"$tmp/err"
st=$?
check "AMI_PORT=0: refused (exit 2)" test $st -eq 2
check "as too small" grep -q 'AMI_PORT is too small' "$tmp/err"
timeout 10 amiaction -H 127.0.0.1:70000 Ping >/dev/null 2>"$tmp/err"
st=$?
check "-H host:70000: refused (exit 2)" test $st -eq 2
check "as too large" grep -q '127.0.0.1:70000: the port is too large' "$tmp/err"
mkdir "$tmp/dir"
timeout 10 amiaction -c "$tmp/dir" Ping >/dev/null 2>"$tmp/err"
st=$?
check "-c DIR: an error (exit 2)" test $st -eq 2
check "that says it is no file" grep -q 'not a regular file' "$tmp/err"
mkfifo -m 600 "$tmp/fifo"
timeout 10 amiaction -c "$tmp/fifo" Ping >/dev/null 2>"$tmp/err"
st=$?
check "-c FIFO: refused at once, no hang (exit 2)" test $st -eq 2
AMI_HOST=127.0.0.1 AMI_SECRET_FILE=$tmp/fifo timeout 10 amicat -n 1 >/dev/null 2>"$tmp/err"
st=$?
check "AMI_SECRET_FILE=FIFO: refused at once (exit 2)" test $st -eq 2
timeout 10 amicat -c /dev/zero -n 1 >/dev/null 2>"$tmp/err"
st=$?
check "-c /dev/zero: refused at once (exit 2)" test $st -eq 2
head -c 2000000 /dev/zero | tr '\0' '#' >"$tmp/big.conf"
timeout 10 amiaction -c "$tmp/big.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "a 2 MB config: refused (exit 2)" test $st -eq 2
check "as too large" grep -q 'larger than' "$tmp/err"
for m in "$tmp/fifo" /dev/zero "$tmp/dir"; do
	timeout 10 dndparse -m "$m" </dev/null >/dev/null 2>"$tmp/err"
	st=$?
	check "dndparse -m $m: refused at once (exit 2)" test $st -eq 2
done
timeout 10 mwinotify -a "$tmp/fifo" show 100@default x 2>"$tmp/err" >/dev/null
st=$?
check "mwinotify -a FIFO: refused at once (exit 2)" test $st -eq 2

# -- dndparse's own reader: a last line without its newline is not acted on --
sx=$top/tests/fixtures/syslog
printf 'Sep  1 08:00:12 192.168.161.6 [1]Enable DND\nSep  1 08:00:13 192.168.161.6 [0]Disable DND' |
    timeout 10 dndparse -m "$sx/peers.map" >"$tmp/out" 2>"$tmp/err"
st=$?
check "dndparse: a half last line, exit 0" test $st -eq 0
check "only the whole line acted on" has_count 1 '^Action=' "$tmp/out"
check "the half line is said" grep -q 'without a newline (44 bytes) not acted on' "$tmp/err"

# -- dndctl: a lock held too long names its holder; no planted symlink --
mkdir "$tmp/dl"
flock -F "$tmp/dl" sleep 60 &
fpid=$!
pids="$pids $fpid"
wait_for 10 grep -q FLOCK /proc/locks
t0=$(date +%s)
timeout 30 dndctl -l "$tmp/dl/list" on 100 >/dev/null 2>"$tmp/err"
st=$?
t1=$(date +%s)
check "dndctl: a lock held by another: exit 2" test $st -eq 2
check "within the bound (10 s)" test $((t1 - t0)) -le 13
check "naming the process that holds it" grep -q "process $fpid has held the lock" "$tmp/err"
kill $fpid; wait $fpid 2>/dev/null
mkdir "$tmp/ds"
echo secretpeer >"$tmp/ds/target"
chmod 600 "$tmp/ds/target"
ln -s "$tmp/ds/target" "$tmp/ds/list"
timeout 10 dndctl -l "$tmp/ds/list" on 100 >"$tmp/out" 2>"$tmp/err"
st=$?
check "dndctl: a symlink at the list's name: refused (exit 2)" test $st -eq 2
check "said" grep -q 'is a symbolic link; not followed' "$tmp/err"
check "the link stays, its target untouched" sh -c "test -L '$tmp/ds/list' && test \"\$(cat '$tmp/ds/target')\" = secretpeer"
check "and the target's lines were copied nowhere" test "$(grep -rl secretpeer "$tmp/ds" "$tmp/out" | wc -l)" -eq 1

# -- SIGHUP ends a tool as SIGTERM does --
amisim_start h
amicat -c "$tmp/h.conf" >"$tmp/hout" 2>"$tmp/herr" &
hpid=$!
wait_for 10 grep -q . "$tmp/hout"
kill -HUP $hpid
reap $hpid 20
st=$?
check "amicat: SIGHUP ends it as SIGTERM does (exit 0)" test $st -eq 0
mkfifo "$tmp/hfifo"
dndctl -l "$tmp/hlist" -M none apply <"$tmp/hfifo" >"$tmp/hout" 2>"$tmp/herr" &
hpid=$!
exec 7>"$tmp/hfifo"
printf 'Event=UserEvent UserEvent=DND Peername=100 DND=enabled\n' >&7
wait_for 10 grep -qsx 100 "$tmp/hlist"
printf 'Event=UserEvent UserEvent=DND Peername=200 DND=ena' >&7
kill -HUP $hpid
reap $hpid 20
st=$?
exec 7>&-
check "dndctl apply: SIGHUP ends it as SIGTERM does (exit 0)" test $st -eq 0
check "the half line not acted on" sh -c "printf '100\n' | cmp -s - '$tmp/hlist'"

# -- amiaction: a reason for every action not delivered; one ActionID only --
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); time.sleep(30)' "$tmp/mute.port" &
mpid=$!
pids="$pids $mpid"
wait_for 10 test -s "$tmp/mute.port"
timeout 20 amiaction -H "127.0.0.1:$(cat "$tmp/mute.port")" -W 1 Ping >/dev/null 2>"$tmp/err"
st=$?
check "a server that never greets: exit 2" test $st -eq 2
check "not delivered, with a reason" grep -q 'not delivered: no answer within 1 s' "$tmp/err"
check "never an empty one" has_count 0 'not delivered: *$' "$tmp/err"
kill $mpid
amisim_start id -L "$tmp/id.log"
printf 'Action=UserEvent UserEvent=Two ActionID=mine ActionID=second\n' |
    timeout 20 amiaction -c "$tmp/id.conf" >"$tmp/out" 2>"$tmp/err"
check "a second ActionID in the input is not sent" sh -c \
    "grep 'UserEvent=Two' '$tmp/id.log' | grep -v 'ActionID=second' | grep -v 'ActionID=mine' | grep -q 'ActionID=amiaction-'"
check "only ours goes out" test "$(grep 'UserEvent=Two' "$tmp/id.log" | grep -o 'ActionID=' | wc -l)" -eq 1
check "the first is shown back" grep -q '^Response=Success ActionID=mine' "$tmp/out"
amisim_stop id

# -- mwinotify: -W holds while reading is stopped; every event reported --
(umask 077; printf '[amitools]\nhost = 127.0.0.1\nport = 1\nuser = x\npassword = y\ndatabase = amitools\n' >"$tmp/down.cnf")
seq 1 6000 | sed 's/.*/Event=MessageWaiting Mailbox=&@default New=1 Old=0/' >"$tmp/mwi.in"
t0=$(date +%s)
timeout 60 mwinotify -D "$tmp/down.cnf" -P 127.0.0.1:9 -W 2 <"$tmp/mwi.in" >/dev/null 2>"$tmp/err"
st=$?
t1=$(date +%s)
check "mwinotify: 6000 waiting, the database down, -W 2: it ends (exit 2)" test $st -eq 2
check "within a few -W (not held by the full queue)" test $((t1 - t0)) -le 15
check "every one reported not delivered" test "$(grep -c 'not delivered' "$tmp/err")" -eq 6000
# emptied here: the child's own 2> may come after the wait below has read
# the last run's "messages wait", and a SIGTERM before its handler kills it
: >"$tmp/err"
cat "$tmp/mwi.in" | mwinotify -D "$tmp/down.cnf" -P 127.0.0.1:9 -W 600 >/dev/null 2>"$tmp/err" &
mpid=$!
wait_for 10 grep -q 'messages wait' "$tmp/err"
kill -TERM $mpid
t0=$(date +%s)
reap $mpid 20
st=$?
t1=$(date +%s)
check "SIGTERM with 6000 queued: exit 2" test $st -eq 2
check "within the grace" test $((t1 - t0)) -le 10
check "every one of 6000 reported, those still in the pipe too" test "$(grep -c 'not delivered' "$tmp/err")" -eq 6000

# -- dndparse -F: rotations faster than it looks; SIGSTOP makes "between
# two checks" certain.  Phone i is peer 1000+i: every line is a change --
awk 'BEGIN { for (i = 1; i <= 500; i++) printf "10.0.%d.%d %d\n", i / 250, i % 250 + 1, 1000 + i }' >"$tmp/rmap"
dlines() {
	awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "Nov 23 10:00:00 10.0.%d.%d [0]Enable DND\n", i / 250, i % 250 + 1 }'
}
got_peers() {
	sed -n 's/.*Peername=\([0-9]*\) .*/\1/p' "$tmp/rout" | awk '{ print $1 - 1000 }'
}
mkdir "$tmp/r"
log=$tmp/r/DND.log
dlines 1 10 >"$log"
dndparse -m "$tmp/rmap" -F "$log" -S "$tmp/rstate" >"$tmp/rout" 2>"$tmp/rerr" &
dp=$!
pids="$pids $dp"
wait_for 10 has_count 10 Peername "$tmp/rout"
kill -STOP $dp
dlines 11 20 >>"$log"
mv "$log" "$log.1"; dlines 21 30 >"$log"
mv "$log.1" "$log.2"; mv "$log" "$log.1"; dlines 31 40 >"$log"
kill -CONT $dp
check "rename twice between two checks: every line" wait_for 10 has_count 40 Peername "$tmp/rout"
got_peers >"$tmp/got"; seq 1 40 >"$tmp/want"
check_same "once each, in order (the middle file not skipped)" "$tmp/got" "$tmp/want"

kill -STOP $dp
dlines 41 50 | head -c -1 >>"$log"   # the copy ends mid-write: a last line that will grow no more
cp "$log" "$log.3"; : >"$log"; dlines 51 55 >>"$log"
kill -CONT $dp
check "copytruncate, unread lines in the copy: every line" wait_for 10 has_count 55 Peername "$tmp/rout"
got_peers >"$tmp/got"; seq 1 55 >"$tmp/want"
check_same "the copy's rest read, once each, in order" "$tmp/got" "$tmp/want"

kill -STOP $dp
dlines 56 60 >>"$log"
cp "$log" "$log.4"; : >"$log"; dlines 61 100 >>"$log"
kill -CONT $dp
check "copytruncate, refilled past the old offset before a check: every line" \
    wait_for 10 has_count 100 Peername "$tmp/rout"
got_peers >"$tmp/got"; seq 1 100 >"$tmp/want"
check_same "none read twice, none skipped, in order" "$tmp/got" "$tmp/want"
kill $dp; wait $dp

done_testing
