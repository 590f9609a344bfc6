#!/bin/sh
# scripts/amitools-restart and amitools-watchdog with a real screen: the
# pipeline runs detached with its PID file, the watchdog leaves a live one
# alone, starts a dead one again, and does not take another program's
# process for the pipeline.
. "$(dirname "$0")/lib.sh"
export AMITOOLS_RUN=$tmp/run AMITOOLS_LOG=$tmp/log
printf 'Aug 29 11:46:46 192.168.161.6 [0]Enable DND\n' >"$tmp/DND.log"
export DNDPARSE_CMD="dndparse -m '$top/tests/fixtures/syslog/peers.map' -F '$tmp/DND.log' >>'$tmp/out'"
pf=$AMITOOLS_RUN/dndparse.pid

"$top/scripts/amitools-restart" dndparse
check "restart: exit 0, a PID file" sh -c "[ $? -eq 0 ] && test -s '$pf'"
pid=$(cat "$pf")
pids="$pids $pid"
check "the pipeline runs in screen and works" wait_for 10 grep -q 'Peername=937 DND=enabled' "$tmp/out"
"$top/scripts/amitools-watchdog" dndparse 2>"$tmp/err"
check "watchdog: a live pipeline is left alone (exit 0, quiet)" sh -c "[ $? -eq 0 ] && test ! -s '$tmp/err'"
kill -- -"$pid"   # the pipeline is its own process group
check "the whole pipeline ends with its process group" wait_for 10 sh -c "! kill -0 -- -$pid 2>/dev/null"
"$top/scripts/amitools-watchdog" dndparse 2>"$tmp/err"
st=$?
check "watchdog: a dead pipeline is restarted (exit 1, said)" sh -c \
    "[ $st -eq 1 ] && grep -q 'dndparse is not running; restarting' '$tmp/err'"
[ $st -eq 1 ] || { echo "# exit $st"; sed 's/^/# /' "$tmp/err"; }
new=$(cat "$pf")
pids="$pids $new"
check "with a new PID" sh -c "[ -n '$new' ] && [ '$new' != '$pid' ] && kill -0 $new"
kill -- -"$new"
wait_for 10 sh -c "! kill -0 -- -$new 2>/dev/null"
setsid sleep 30 &   # a process group of its own, as the pipeline's is
other=$!
pids="$pids $other"
echo $other >"$pf"
"$top/scripts/amitools-watchdog" dndparse 2>"$tmp/err"
check "a PID file naming another program's process: restarted" \
    grep -q 'dndparse is not running' "$tmp/err"
check "and that process is left alone" kill -0 "$other"
last=$(cat "$pf")
pids="$pids $last"
kill -- -"$last"
wait_for 10 sh -c "! kill -0 -- -$last 2>/dev/null"
done_testing
