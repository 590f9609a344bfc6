#!/bin/sh
# A real Asterisk restarting, booting and refusing, as amisim plays it
# (transcripts 14-16): amiaction loses nothing across restarts and sends
# only to a booted server, re-sends what is harmless to repeat and reports
# what is not; a permission denial exits 2; amicat -s asks its lists again
# once the server is booted; keepalive and reconnect backoff hold.
. "$(dirname "$0")/lib.sh"

# seconds any one wait here may take; every tool runs under timeout too
T=60

# -- 20,000 actions across two restarts, at positions that vary per run --
n=20000
r1=$(( $(od -An -tu2 -N2 /dev/urandom) % 7000 + 1000 ))
r2=$(( r1 + $(od -An -tu2 -N2 /dev/urandom) % 8000 + 2000 ))
echo "# restarts after action $r1 and $r2 (the Login counts)"
amisim_start s -L "$tmp/s.log" -f restart=$r1 -f restart=$r2 -f down=300 -f boot=300
seq 1 $n | sed 's/^/Action=UserEvent UserEvent=Stream Seq=/' >"$tmp/in"
timeout $((T * 5)) amiaction -c "$tmp/s.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
st=$?
check "$n actions across two restarts: exit 0" test $st -eq 0
check "$n answers, every one Success" sh -c \
    "test \$(grep -c '^Response=Success' '$tmp/out') -eq $n && ! grep -q '^Response=Error' '$tmp/out'"
check "both restarts reset the connection (RST)" has_count 2 'Connection reset by peer; [0-9]* actions wait for the reconnect' "$tmp/err"
check "three logins: the restarts happened" has_count 3 '^Action=Login' "$tmp/s.log"
grep 'UserEvent=Stream' "$tmp/s.log" | sed 's/.*Seq=//' >"$tmp/got"
seq 1 $n >"$tmp/want"
check_same "each ran exactly once, in order (re-sends first, in theirs)" "$tmp/got" "$tmp/want"
amisim_stop s

# -- unanswered when the connection dropped: re-sent only if harmless --
# shuterrors=0: right after the restart every action goes unanswered
amisim_start u -L "$tmp/u.log" -f restart=3 -f shuterrors=0 -f down=200 -f boot=200
cat >"$tmp/in" <<-'IN'
	Action=UserEvent UserEvent=U N=1
	Action=UserEvent UserEvent=U N=2
	Action=Originate Channel=Local/881@dnd Application=Wait Data=1 ActionID=o3
	Action=UserEvent UserEvent=U N=4
	Action=Hangup Channel=PJSIP/100-00000001 ActionID=h5
	Action=UserEvent UserEvent=U N=6
IN
timeout $T amiaction -c "$tmp/u.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
st=$?
check "an action of unknown outcome: exit 2" test $st -eq 2
check "Originate reported by its ActionID, not re-sent" grep -q 'Action Originate ActionID o3: outcome unknown' "$tmp/err"
check "Hangup too" grep -q 'Action Hangup ActionID h5: outcome unknown' "$tmp/err"
check "neither ran" sh -c "! grep -q -e Originate -e Hangup '$tmp/u.log'"
grep -o 'N=[0-9]' "$tmp/u.log" | tr '\n' ' ' >"$tmp/got"
printf 'N=1 N=2 N=4 N=6 ' >"$tmp/want"
check_same "the UserEvents each ran once, in order" "$tmp/got" "$tmp/want"
amisim_stop u

# -- a login before FullyBooted: queued actions wait for it --
amisim_start b -L "$tmp/b.log" -C "$tmp/b.fifo" -f boot=2000
echo boot >"$tmp/b.fifo"
printf '%s\n' 'Action=Setvar Variable=DEVICE_STATE(Custom:BOOT1) Value=INUSE' \
    'Action=DeviceStateList' >"$tmp/in"
timeout $T amiaction -c "$tmp/b.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
st=$?
check "logged in while booting: exit 0" test $st -eq 0
check "Setvar DEVICE_STATE went after FullyBooted: Variable Set" grep -q '^Response=Success Message="Variable Set"' "$tmp/out"
check "DeviceStateList too: its list, with the new state" grep -q 'Device=Custom:BOOT1 State=INUSE' "$tmp/out"
check "nothing answered Error" sh -c "! grep -q Error '$tmp/out'"
check "Setvar ran once: not sent before FullyBooted" has_count 1 '^Action=Setvar' "$tmp/b.log"
amisim_stop b


# -- permissions: the limited user of 16 --
amisim_start p -L "$tmp/p.log"
sed 's/username = tester/username = limited/; s/secret = testpass/secret = limitedpass/' \
    "$tmp/p.conf" >"$tmp/l.conf"
chmod 600 "$tmp/l.conf"
timeout $T amiaction -c "$tmp/l.conf" DBPut Family=perm Key=k1 Val=v1 >"$tmp/out" 2>"$tmp/err"
st=$?
check "Permission denied: exit 2" test $st -eq 2
check "naming the action and the class it needs" grep -q 'Action DBPut ActionID amiaction-1: permission denied: user limited needs write class system' "$tmp/err"
printf '%s\n' 'Action=Originate Channel=Local/1000@load Context=load Exten=1000 Priority=1' \
    'Action=DBGet Family=nofamily Key=nokey' 'Action=Ping' >"$tmp/in"
timeout $T amiaction -c "$tmp/l.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
st=$?
check "a denial, then a Response: Error: still exit 2 (2 wins)" test $st -eq 2
check "the later ones were answered" sh -c \
    "grep -q 'Database entry not found' '$tmp/out' && grep -q 'Ping=Pong' '$tmp/out'"
check "Originate's class named" grep -q 'Originate .*needs write class originate' "$tmp/err"
check "the denied action did not run" sh -c "! grep -q Originate '$tmp/p.log'"

# amicat -s with a list the user may not ask for: said on standard error
timeout $T amicat -c "$tmp/l.conf" -s DeviceStateList,CoreShowChannels,Command >"$tmp/out" 2>"$tmp/err" &
apid=$!
pids="$pids $apid"
wait_for $T grep -q 'Device=PJSIP/101' "$tmp/out"
check "amicat -s: a denied list is said" wait_for $T grep -q -- '-s Command: permission denied' "$tmp/err"
kill $apid
wait $apid 2>/dev/null

# amicat -e pushes a Filter a name; the limited user may not (write class
# system): the refusal is quiet and every event still comes, filtered here
n=$(grep -c 'Username=limited' "$tmp/p.log")
timeout $T amicat -c "$tmp/l.conf" -e UserEvent >"$tmp/out" 2>"$tmp/err" &
apid=$!
pids="$pids $apid"
wait_for $T has_count $((n + 1)) 'Username=limited' "$tmp/p.log"
timeout $T amiaction -c "$tmp/p.conf" UserEvent UserEvent=Probe >/dev/null
check "a refused Filter: the events still come" \
    wait_for $T grep -q '^Event=UserEvent .*UserEvent=Probe' "$tmp/out"
check "a refused Filter: nothing said, nothing but the event printed" sh -c \
    "! test -s '$tmp/err' && test \$(wc -l <'$tmp/out') -eq 1"
check "the Filter did not run" sh -c "! grep -q 'Action=Filter' '$tmp/p.log'"
kill $apid
wait $apid 2>/dev/null

# -- an ActionID that is a prefix of another: amiaction-2 vs amiaction-2x --
# Events EventMask=user brings each UserEvent's event, which carries the
# ActionID of its action, after the answer: "amiaction-2" arrives while
# amiaction-20..29 wait, and must be no answer of theirs
{ echo 'Action=Events EventMask=user'
  seq 2 40 | sed 's/^/Action=UserEvent UserEvent=P N=/'; } >"$tmp/in"
timeout $T amiaction -c "$tmp/p.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
check "40 actions: 40 answers" has_count 40 '^Response=Success' "$tmp/out"
check "no event taken for an answer" sh -c "! grep -q '^Event=' '$tmp/out'"
amisim_stop p

# -- amicat -s across a restart: the lists once the server is booted --
amisim_start c -L "$tmp/c.log" -C "$tmp/c.fifo" -f down=100 -f boot=3000
timeout $T amicat -c "$tmp/c.conf" -s DeviceStateList >"$tmp/out" 2>"$tmp/err" &
apid=$!
pids="$pids $apid"
wait_for $T has_count 1 'Device=PJSIP/101 State=UNAVAILABLE' "$tmp/out"
check "amicat -s: the list at the start" has_count 1 'Device=PJSIP/101 State=UNAVAILABLE' "$tmp/out"
check "its items keep the ActionID amicat gave the list (statemerge tells them by it)" \
    grep -q '^Event=DeviceStateChange ActionID=amicat-sync-0 Device=PJSIP/101 ' "$tmp/out"
echo restart >"$tmp/c.fifo"
check "after the restart, the list again" wait_for $T has_count 2 'Device=PJSIP/101 State=UNAVAILABLE' "$tmp/out"
check "asked once booted: DeviceStateList ran twice, never refused" sh -c \
    "test \$(grep -c '^Action=DeviceStateList' '$tmp/c.log') -eq 2 && ! grep -q 'Event=RequestBadFormat' '$tmp/out'"
check "the FullyBooted after it came before the list" sh -c \
    "awk '/Event=FullyBooted/ { fb = NR } /Device=PJSIP\/101/ { n++; if (n == 2 && fb && fb < NR) ok = 1 } END { exit !ok }' '$tmp/out'"
kill $apid
wait $apid 2>/dev/null
amisim_stop c

# a user who may not read system events never gets FullyBooted: amicat
# takes the server as ready 3 s after the login, asks while it still boots
# (5 s), is refused, and asks again until the list comes
amisim_start n -L "$tmp/n.log" -C "$tmp/n.fifo" -f boot=5000
sed 's/username = tester/username = nosystem/; s/secret = testpass/secret = nosystempass/' \
    "$tmp/n.conf" >"$tmp/n2.conf"
chmod 600 "$tmp/n2.conf"
echo boot >"$tmp/n.fifo"
timeout $T amicat -c "$tmp/n2.conf" -s DeviceStateList >"$tmp/out" 2>"$tmp/err" &
apid=$!
pids="$pids $apid"
check "refused while booting, asked again: the list came" \
    wait_for $T has_count 1 'Device=PJSIP/101 State=UNAVAILABLE' "$tmp/out"
check "it ran once, after the boot" has_count 1 '^Action=DeviceStateList' "$tmp/n.log"
kill $apid
wait $apid 2>/dev/null
amisim_stop n

# -- keepalive: an idle healthy server over several periods, no reconnect --
amisim_start k -L "$tmp/k.log"
sed 's/keepalive = 20/keepalive = 1/' "$tmp/k.conf" >"$tmp/k1.conf"
chmod 600 "$tmp/k1.conf"
timeout $T amicat -c "$tmp/k1.conf" >/dev/null 2>"$tmp/err" &
apid=$!
pids="$pids $apid"
pings() { test "$(count '^Action=Ping' "$tmp/k.log")" -ge 3; }
check "idle with keepalive 1 s: three pings went" wait_for $T pings
kill $apid
wait $apid 2>/dev/null
check "answered, so no reconnect" sh -c "! grep -q -i -e reconnect -e 'no answer' '$tmp/err'"
check "one login only" has_count 1 '^Action=Login' "$tmp/k.log"
amisim_stop k

# -- reconnect to a dead server: the tries space out --
amisim_start dead
amisim_stop dead
timeout 5 amicat -c "$tmp/dead.conf" >/dev/null 2>"$tmp/err"
tries=$(grep -c 'reconnecting' "$tmp/err")
echo "# $tries connection attempts in 5 s"
# backoff 0.25-0.5, 0.5-1, 1-2, 2-4 s: at most 5 in 5 s; not growing, 10 or more
check "a dead server: 2 to 5 tries in 5 s, not one every 0.5 s" test "$tries" -ge 2 -a "$tries" -le 5

done_testing
