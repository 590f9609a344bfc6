#!/bin/sh
# amicat against the simulator: login, filters, several servers, no loss
# at close, reconnect markers, keepalive, garbage, 1-byte writes, a slow
# stdout, a wrong secret, a closed pipe.
. "$(dirname "$0")/lib.sh"

# numbered events, so loss, duplication and order are all visible
seqfile() {
	i=1
	while [ "$i" -le "$1" ]; do
		printf 'Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Seq\r\nSeq: %d\r\n\r\n' "$i"
		i=$((i + 1))
	done >"$2"
}
seqfile 50 "$tmp/seq50.ami"

# -- login, MD5, and an event made by amiaction --
amisim_start a -L "$tmp/a.log"
amicat -c "$tmp/a.conf" -e FullyBooted,UserEvent >"$tmp/out" 2>"$tmp/err" &
catpid=$!
pids="$pids $catpid"
check "amicat logs in (FullyBooted printed)" wait_for 10 grep -q FullyBooted "$tmp/out"
check "with the MD5 challenge" grep -q 'Action=Login.*AuthType=MD5' "$tmp/a.log"
check "and the secret never crosses the wire" sh -c "! grep -q testpass '$tmp/a.log'"
check "-e narrows the login's Events mask to its events' classes" \
    grep -q 'Action=Login .* Events=system,user$' "$tmp/a.log"
amiaction -c "$tmp/a.conf" UserEvent UserEvent=DND Peername=100 DND=enabled >/dev/null
check "a UserEvent reaches amicat" wait_for 10 grep -q 'Event=UserEvent Privilege=user,all UserEvent=DND.*Peername=100 DND=enabled' "$tmp/out"
kill $catpid; wait $catpid
check "SIGTERM: clean exit 0" test $? -eq 0
# the mask asked for at each login: an event of no known class keeps the
# configured one, a marker needs none, system is added for FullyBooted
for e in FullyBooted,NoSuchEvent FullyBooted,MessageWaiting,AmitoolsReconnect \
    FullyBooted,VarSet,PeerStatus; do
	timeout 10 amicat -c "$tmp/a.conf" -e $e -n 1 >/dev/null
done
printf 'events = user,call,system\n' >>"$tmp/a.conf"
timeout 10 amicat -c "$tmp/a.conf" -e FullyBooted,UserEvent,Newexten -n 1 >/dev/null
sed -n 's/^Action=Login .* Events=//p' "$tmp/a.log" | tail -4 >"$tmp/masks"
printf 'on\ncall,system\ndialplan,system\nsystem,user\n' >"$tmp/want"
check_same "an unknown event keeps the mask; a configured list keeps only the classes of -e" "$tmp/masks" "$tmp/want"

# -- system events that only the login asked for (FullyBooted's class,
# added to a mask without it) stay hidden, in -r too --
amisim_start y -L "$tmp/y.log"
printf 'events = user\n' >>"$tmp/y.conf"
n=0
for fl in -j -r; do
	amicat -c "$tmp/y.conf" $fl -n 1 >"$tmp/out$fl" &
	catpid=$!
	pids="$pids $catpid"
	n=$((n + 1))
	wait_for 10 has_count $n '^Action=Login .* Events=user,system$' "$tmp/y.log"
	amiaction -c "$tmp/y.conf" UserEvent UserEvent=Y >/dev/null
	reap $catpid 10
	check "events = user, amicat $fl: the UserEvent, not FullyBooted" \
	    sh -c "grep -q UserEvent '$tmp/out$fl' && ! grep -q FullyBooted '$tmp/out$fl'"
done
amisim_stop y

# -- several servers, each message tagged --
amisim_start b
printf '[a]\nport = %s\n[b]\nport = %s\n' "$port_a" "$port_b" >>"$tmp/a.conf"
amicat -c "$tmp/a.conf" -H a -H b -e FullyBooted,UserEvent >"$tmp/out" 2>"$tmp/err" &
catpid=$!
pids="$pids $catpid"
check "two servers: both logged in" wait_for 10 has_count 2 FullyBooted "$tmp/out"
amiaction -c "$tmp/a.conf" -H a UserEvent UserEvent=X Which=a >/dev/null
amiaction -c "$tmp/a.conf" -H b UserEvent UserEvent=X Which=b >/dev/null
check "events tagged Server=a / Server=b" wait_for 10 sh -c \
    "grep -q 'Which=a Server=a' '$tmp/out' && grep -q 'Which=b Server=b' '$tmp/out'"
kill $catpid; wait $catpid
# one-line with no -e: each event written from its raw block (read once,
# as the parser looks for its end) and the tag added after
timeout 10 amicat -c "$tmp/a.conf" -H a -H b -n 2 >"$tmp/out"
check "one-line of raw blocks, several servers: the tag ends each line" \
    sh -c "grep -q '^Event=FullyBooted .* Server=a\$' '$tmp/out' &&
    grep -q '^Event=FullyBooted .* Server=b\$' '$tmp/out'"
amicat -c "$tmp/a.conf" -H a -H b -e FullyBooted -r -n 2 >"$tmp/out"
cr=$(printf '\r')
check "-r with several servers: Server tag inside each block" \
    has_count 2 "^Server: [ab]$cr\$" "$tmp/out"
amisim_stop a
amisim_stop b

# -- every event sent before a close is printed, in order --
seqfile 100000 "$tmp/seq.ami"
amisim_start r -R "$tmp/seq.ami" -N 100000
amicat -c "$tmp/r.conf" -e UserEvent -n 100000 -f '%{Seq}' >"$tmp/out" 2>"$tmp/err"
seq 1 100000 >"$tmp/want"
check_same "100,000 events then close: all printed, in order, once" "$tmp/out" "$tmp/want"
amisim_stop r

# -- dropped connection: marker, then the stream again --
amisim_start c -R "$tmp/seq50.ami" -N 50 -f close=20
amicat -c "$tmp/c.conf" -e UserEvent,AmitoolsReconnect -n 60 >"$tmp/out" 2>"$tmp/err"
check "after a drop: AmitoolsReconnect with Server and Gap" \
    grep -q '^Event=AmitoolsReconnect Server=default Gap=[0-9]*\.[0-9][0-9][0-9]$' "$tmp/out"
check "the reconnect is said on stderr" grep -q 'reconnect' "$tmp/err"
check "no partial or duplicated message around the drop" sh -c \
    "grep -v Amitools '$tmp/out' | awk -F'Seq=' '{print \$2}' | awk 'NR>1 && \$1!=p+1 && \$1!=1 {bad=1} {p=\$1} END {exit bad}'"
amisim_stop c
amisim_start c2 -R "$tmp/seq50.ami" -N 50 -f close=20
amicat -c "$tmp/c2.conf" -e UserEvent -n 60 >"$tmp/out" 2>"$tmp/err"
check "a marker not named by -e is not printed, only said" sh -c \
    "! grep -q Amitools '$tmp/out' && grep -q reconnected '$tmp/err'"
amisim_stop c2

# -- the server dies mid-event: the half is never printed --
amisim_start k -L "$tmp/k.log" -f cut=10
amicat -c "$tmp/k.conf" -e UserEvent,AmitoolsReconnect >"$tmp/out" 2>"$tmp/err" &
kp=$!
pids="$pids $kp"
wait_for 10 grep -q '^Action=Login ' "$tmp/k.log"
for i in $(seq 1 15); do      # the 10 messages, the half, and more
	amiaction -c "$tmp/k.conf" UserEvent UserEvent=K Seq=$i Tail=end >/dev/null
done
check "cut mid-event: the reconnect marker" wait_for 10 grep -q AmitoolsReconnect "$tmp/out"
amiaction -c "$tmp/k.conf" UserEvent UserEvent=K Seq=last Tail=end >/dev/null
check "then events again" wait_for 10 grep -q 'Seq=last' "$tmp/out"
kill $kp; wait $kp
check "every event printed whole" sh -c \
    "[ \$(grep -c 'UserEvent=K' '$tmp/out') -ge 2 ] && ! grep 'UserEvent=K' '$tmp/out' | grep -qv 'Seq=[0-9a-z]* Tail=end'"
amisim_stop k

# -- the server stops answering: keepalive notices --
amisim_start k -R "$tmp/seq50.ami" -N 50 -f stall=4000
sed -i 's/keepalive = 20/keepalive = 1/' "$tmp/k.conf"
amicat -c "$tmp/k.conf" -e UserEvent,AmitoolsReconnect >"$tmp/out" 2>"$tmp/err" &
catpid=$!
pids="$pids $catpid"
check "a stalled server is detected by the keepalive Ping" wait_for 15 grep -q 'no answer to Ping' "$tmp/err"
check "and amicat reconnects and goes on" wait_for 15 grep -q AmitoolsReconnect "$tmp/out"
kill $catpid; wait $catpid
amisim_stop k

# -- garbage on the wire, 1-byte writes --
amisim_start g -R "$tmp/seq50.ami" -N 50 -f garbage
amicat -c "$tmp/g.conf" -e UserEvent -n 50 -f '%{Seq}' >"$tmp/out" 2>"$tmp/err"
seq 1 50 >"$tmp/want"
check_same "garbage bytes before the events: all 50 events still come through" "$tmp/out" "$tmp/want"
amisim_stop g
amisim_start s -R "$tmp/seq50.ami" -N 50 -f split
amicat -c "$tmp/s.conf" -e UserEvent -n 50 -f '%{Seq}' >"$tmp/out" 2>"$tmp/err"
check_same "every write split into 1-byte chunks: all 50 intact" "$tmp/out" "$tmp/want"
amisim_stop s

# -- stdout slower than the socket: drops counted, said, marked --
amisim_start d -R "$tmp/seq.ami" -N 100000
# the reader sleeps until amicat has said it drops, then reads it all
amicat -c "$tmp/d.conf" -e UserEvent,AmitoolsDropped -n 100000 -B 64k 2>"$tmp/err" |
    { wait_for 30 test -e "$tmp/go"; cat >"$tmp/out"; } &
reader=$!
pids="$pids $reader"
check "a stalled stdout does not stall the socket: drops reported" \
    wait_for 20 grep -q 'dropping events' "$tmp/err"
touch "$tmp/go"
wait $reader
check "when stdout catches up, AmitoolsDropped says how many" \
    grep -q '^Event=AmitoolsDropped Server=default Count=[1-9][0-9]*$' "$tmp/out"
printed=$(grep -c 'UserEvent=Seq' "$tmp/out")
dropped=$(awk -F'Count=' '/^Event=AmitoolsDropped/ {n += $2} END {print n + 0}' "$tmp/out")
check "printed + dropped = sent ($printed + $dropped = 100000)" \
    test $((printed + dropped)) -eq 100000
check "what is printed is in order, none twice" sh -c \
    "sed -n 's/.*Seq=//p' '$tmp/out' | sort -n -c -u"
amisim_stop d

# -- wrong secret --
amisim_start w
sed -i 's/testpass/wrong/' "$tmp/w.conf"
# bounded: an amicat that retried a refused login would never end
timeout 30 amicat -c "$tmp/w.conf" >/dev/null 2>"$tmp/err"
st=$?
check "wrong secret: exit 2" test $st -eq 2
check "with a clear message" grep -q 'login as tester failed: Authentication failed' "$tmp/err"
amisim_stop w

# -- the reader goes away --
amisim_start p -R "$tmp/seq.ami" -N 100000
amicat -c "$tmp/p.conf" 2>"$tmp/err" | head -1 >/dev/null
check "closed pipe: amicat ends quietly" test ! -s "$tmp/err"
amisim_stop p

check "a secret file readable by others is refused" sh -c \
    "chmod 644 '$tmp/p.conf'; amicat -c '$tmp/p.conf' 2>&1 >/dev/null | grep -q 'chmod 600'"
done_testing
