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

done_testing
