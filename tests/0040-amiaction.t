#!/bin/sh
# amiaction against the simulator: one-shots, lists, Command text, exit
# codes, a pipelined stream, refused input that never reaches the wire,
# reconnect with exactly-once delivery, a server that is down, routing.
. "$(dirname "$0")/lib.sh"

amisim_start a -L "$tmp/a.log"
conf=$tmp/a.conf

amiaction -c "$conf" Ping >"$tmp/out"
st=$?
check "one-shot Ping: exit 0" test $st -eq 0
check "prints the response as one line" grep -q '^Response=Success Ping=Pong Timestamp=' "$tmp/out"

amiaction -c "$conf" DBPut Family=DND Key=100 Val=YES >/dev/null
amiaction -c "$conf" DBGet Family=DND Key=100 >"$tmp/out"
printf 'Response=Success EventList=start Message="Result will follow"\nEvent=DBGetResponse Family=DND Key=100 Val=YES\nEvent=DBGetComplete EventList=Complete ListItems=1\n' >"$tmp/want"
check_same "DBGet: the response, then its event list" "$tmp/out" "$tmp/want"

amiaction -c "$conf" DBGet Family=DND Key=999 >"$tmp/out"
st=$?
check "a Response: Error exits 1" test $st -eq 1
check "and is printed" grep -q '^Response=Error' "$tmp/out"

amiaction -c "$conf" Command Command='core show version' >"$tmp/out"
check "Command output is plain text" grep -q '^Asterisk 20.20.1 built by' "$tmp/out"

amiaction -c "$conf" UserEvent UserEvent=T ActionID=mine-7 >"$tmp/out"
check "a user's ActionID is shown back" grep -q '^Response=Success ActionID=mine-7 ' "$tmp/out"
amiaction -c "$conf" -j Ping >"$tmp/out"
check "-j prints JSON" grep -q '^{"Response":"Success","Ping":"Pong"' "$tmp/out"

amiaction -c "$conf" -r Ping >"$tmp/out"
head -c 19 "$tmp/out" >"$tmp/got"
printf 'Response: Success\r\n' >"$tmp/want"
check_same "-r prints the wire form" "$tmp/got" "$tmp/want"
tail -c 4 "$tmp/out" >"$tmp/got"
printf '\r\n\r\n' >"$tmp/want"
check_same "ending in an empty line" "$tmp/got" "$tmp/want"

# -- every input form on stdin, and a window of one --
{
	printf 'Action: UserEvent\r\nUserEvent: Wire\r\n\r\n'
	printf '%s\n' '{"Action":"UserEvent","UserEvent":"Json"}'
	printf '%s\n' 'Action=UserEvent UserEvent="One line"'
} | amiaction -c "$conf" -w 1 >"$tmp/out"
check "wire, JSON and one-line actions on one stream: 3 answers" has_count 3 '^Response=Success' "$tmp/out"
check "all three reached the server, in order" sh -c \
    "grep -o 'UserEvent=[A-Za-z\"]*' '$tmp/a.log' | tail -3 | tr '\n' ' ' | grep -q 'UserEvent=Wire UserEvent=Json UserEvent=\"One '"

# -- a stream, pipelined --
seq 1 2000 | sed 's/^/Action=UserEvent UserEvent=Bench Seq=/' >"$tmp/in"
amiaction -c "$conf" <"$tmp/in" >"$tmp/out"
st=$?
check "2000 pipelined actions: exit 0" test $st -eq 0
check "2000 responses" test "$(count '^Response=Success' "$tmp/out")" -eq 2000
grep 'UserEvent=Bench' "$tmp/a.log" | sed 's/.*Seq=//' >"$tmp/got"
seq 1 2000 >"$tmp/want"
check_same "each arrived once, in order (server side)" "$tmp/got" "$tmp/want"

# -- input that would inject or be mangled never reaches the wire --
{
	echo 'Action=UserEvent UserEvent=Before'
	printf '%s\n' 'Action=Setvar Variable=X Value="a\r\nAction: Originate\r\nChannel: Local/1@x"'
	printf 'Action=UserEvent UserEvent=Long Data=%s\n' "$(head -c 1100 /dev/zero | tr '\0' a)"
	printf 'Action=UserEvent UserEvent=Many'; seq 1 130 | sed 's/^/ K=/' | tr -d '\n'; echo
	printf '%s\n' '{"Action":"UserEvent","UserEvent":"Json\nAction: Originate"}'
	echo 'UserEvent=NoAction'
	echo 'Action=UserEvent UserEvent=After'
} >"$tmp/in"
amiaction -c "$conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
st=$?
check "refused input: exit 2" test $st -eq 2
check "CR/LF in a value: refused, named by line" grep -q 'line 2: value of Value contains a line break' "$tmp/err"
check "a line over 1024 bytes: refused" grep -q 'line 3: header Data is .* over Asterisk.s 1024-byte line limit' "$tmp/err"
check "more than 128 headers: refused" grep -q 'line 4: 133 headers' "$tmp/err"
check "LF from JSON: refused" grep -q 'line 5: value of UserEvent contains a line break' "$tmp/err"
check "no Action: refused" grep -q 'line 6: no Action field' "$tmp/err"
check "no Originate ever reached the server" sh -c "! grep -q Originate '$tmp/a.log'"
check "the good actions around them were sent" sh -c \
    "grep -q UserEvent=Before '$tmp/a.log' && grep -q UserEvent=After '$tmp/a.log'"
printf '%s\n' '{"Action":' 'Action=UserEvent UserEvent=AfterBad' |
    amiaction -c "$conf" >/dev/null 2>"$tmp/err"
st=$?
check "a message the reader refuses: said with its line, exit 2, the next sent" sh -c \
    "[ $st -eq 2 ] && grep -q '^amiaction: line 1: ' '$tmp/err' && grep -q UserEvent=AfterBad '$tmp/a.log'"

printf '%s\n' 'Event=DeviceStateChange Device="PJSIP/100\r\nAction: Originate" State=INUSE' |
    amiaction -c "$conf" -t 'Action=Setvar Variable=DEVICE_STATE(Custom:%{Device}) Value=%{State}' 2>"$tmp/err" >/dev/null
check "a template can't inject either" grep -q 'line 1: value of Variable contains a line break' "$tmp/err"
# the ActionID amiaction adds counts: 127 headers go, 128 would be 129
for n in 125 126; do
	printf 'Action=UserEvent UserEvent=Edge%s' "$n"
	seq 1 "$n" | sed 's/^/ K=/' | tr -d '\n'
	echo
done | amiaction -c "$conf" >/dev/null 2>"$tmp/err"
check "127 headers and the ActionID make 128: sent" grep -q 'UserEvent=Edge125' "$tmp/a.log"
check "128 headers and the ActionID make 129: refused" sh -c \
    "grep -q 'line 2: 129 headers' '$tmp/err' && ! grep -q UserEvent=Edge126 '$tmp/a.log'"
echo 'Event=DeviceStateChange Device=PJSIP/100 State=INUSE' |
    amiaction -c "$conf" -t 'Action=Setvar Variable=DEVICE_STATE(Custom:%{Device}) Value=%{State}' >/dev/null
check "-t builds the action from the message" grep -q 'Action=Setvar .*Variable=DEVICE_STATE(Custom:PJSIP/100) Value=INUSE' "$tmp/a.log"

check "a secret on the command line is not an option" sh -c \
    "amiaction -s x Ping 2>/dev/null; [ \$? -eq 2 ]"

sed 's/testpass/wrong/' "$conf" >"$tmp/bad.conf"; chmod 600 "$tmp/bad.conf"
amiaction -c "$tmp/bad.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "wrong secret: exit 2 with a clear message" sh -c \
    "[ $st -eq 2 ] && grep -q 'Authentication failed' '$tmp/err'"
amisim_stop a

# -- the connection drops mid-stream: every action exactly once --
amisim_start c -L "$tmp/c.log" -f close=300
seq 1 1000 | sed 's/^/Action=UserEvent UserEvent=Q Seq=/' >"$tmp/in"
amiaction -c "$tmp/c.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
st=$?
check "stream across a dropped connection: exit 0" test $st -eq 0
check "the drop was said" grep -q 'closed the connection' "$tmp/err"
grep 'UserEvent=Q' "$tmp/c.log" | sed 's/.*Seq=//' | sort -n >"$tmp/got"
seq 1 1000 >"$tmp/want"
check_same "server side: each of 1000 actions exactly once" "$tmp/got" "$tmp/want"
check "1000 responses printed" test "$(count '^Response=Success' "$tmp/out")" -eq 1000
amisim_stop c

# -- the server dies mid-response: the half is never printed, and the
# action it answered is sent again (at least once: AMI has no way to ask) --
amisim_start k -L "$tmp/k.log" -f cut=300
seq 1 1000 | sed 's/^/Action=UserEvent UserEvent=K Seq=/' >"$tmp/in"
amiaction -c "$tmp/k.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
check "a response cut in half: exit 0" test $? -eq 0
check "1000 responses printed, each whole" sh -c \
    "[ \$(grep -c '^Response=Success Message=\"Event Sent\"\$' '$tmp/out') -eq 1000 ] && [ \$(wc -l <'$tmp/out') -eq 1000 ]"
grep 'UserEvent=K' "$tmp/k.log" | sed 's/.*Seq=//' | sort -n >"$tmp/got"
check "server side: every action, the one whose answer was cut twice" sh -c \
    "[ \$(sort -un '$tmp/got' | wc -l) -eq 1000 ] && [ \$(uniq -d '$tmp/got' | wc -l) -eq 1 ] && [ \$(wc -l <'$tmp/got') -eq 1001 ]"
amisim_stop k

# -- the server is not there yet, then comes up --
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
umask 077
printf '[default]\nport = %s\nusername = tester\nsecret = testpass\n' "$port" >"$tmp/late.conf"
umask 022
seq 1 20 | sed 's/^/Action=UserEvent UserEvent=L Seq=/' >"$tmp/in"
amiaction -c "$tmp/late.conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
apid=$!
pids="$pids $apid"
check "amiaction waits for a server that is down" wait_for 10 grep -q 'Connection refused' "$tmp/err"
SIMPORT=$port amisim_start l -L "$tmp/l.log"
wait $apid
st=$?
check "queued actions delivered once it is up: exit 0" test $st -eq 0
check "all 20 arrived" test "$(count 'UserEvent=L' "$tmp/l.log")" -eq 20
amisim_stop l

seq 1 3 | sed 's/^/Action=UserEvent UserEvent=L Seq=/' >"$tmp/in"
amiaction -c "$tmp/late.conf" -W 1 <"$tmp/in" >/dev/null 2>"$tmp/err"
st=$?
check "a server that never comes: exit 2 after -W" test $st -eq 2
check "each undelivered action named by its line" sh -c \
    "grep -q 'line 1: Action UserEvent not delivered' '$tmp/err' && grep -q 'line 3: Action UserEvent not delivered' '$tmp/err'"

# -- a server that is up but never answers --
amisim_start st -f stall=10000
amiaction -c "$tmp/st.conf" -W 1 Ping >/dev/null 2>"$tmp/err"
st=$?
check "connected but silent: exit 2 after -W, said" sh -c \
    "[ $st -eq 2 ] && grep -q 'Action Ping not delivered: no answer within 1 s' '$tmp/err'"
amisim_stop st

# -- a list cut by a drop is asked for again and printed once, whole --
amisim_start lw
amiaction -c "$tmp/lw.conf" PJSIPShowEndpoints >"$tmp/want"
amisim_stop lw
amisim_start lc -L "$tmp/lc.log" -f close=4
amiaction -c "$tmp/lc.conf" PJSIPShowEndpoints >"$tmp/out" 2>"$tmp/err"
check "the list was cut (asked twice)" has_count 2 PJSIPShowEndpoints "$tmp/lc.log"
check_same "and printed once, whole" "$tmp/out" "$tmp/want"
amisim_stop lc

# -- a host whose first address never answers: the next one is tried --
amisim_start two
printf '10.255.255.1 twohomes\n127.0.0.1 twohomes\n' >"$tmp/hosts"
sed 's/host = 127.0.0.1/host = twohomes/' "$tmp/two.conf" >"$tmp/twohomes.conf"
chmod 600 "$tmp/twohomes.conf"
# (an ASan build must be told a preload comes before its runtime)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_HOSTS=$tmp/hosts \
    amiaction -c "$tmp/twohomes.conf" -W 10 Ping >"$tmp/out" 2>"$tmp/err"
check "two addresses, the first dead: reached on the second" \
    grep -q '^Response=Success Ping=Pong' "$tmp/out"
amisim_stop two

# -- routing across servers --
for s in x y z; do amisim_start $s -L "$tmp/$s.log"; done
cp "$tmp/x.conf" "$tmp/m.conf"
printf '[x]\nport = %s\n[y]\nport = %s\n[z]\nport = %s\n' "$port_x" "$port_y" "$port_z" >>"$tmp/m.conf"
printf 'Server=x Event=DeviceStateChange Device=PJSIP/100 State=INUSE\n' |
    amiaction -c "$tmp/m.conf" -H x -H y -H z -x \
    -t 'Action=Setvar Variable=DEVICE_STATE(Custom:%{Device}) Value=%{State}' >"$tmp/out"
check "-x: a change from x goes to y and z, not back to x" sh -c \
    "[ \$(grep -c Setvar '$tmp/x.log') -eq 0 ] && [ \$(grep -c Setvar '$tmp/y.log') -eq 1 ] && [ \$(grep -c Setvar '$tmp/z.log') -eq 1 ]"
check "responses say which server" sh -c "grep -q 'Server=y' '$tmp/out' && grep -q 'Server=z' '$tmp/out'"
printf 'Action=UserEvent UserEvent=R Server=y\nAction=UserEvent UserEvent=All\n' |
    amiaction -c "$tmp/m.conf" -H x -H y -H z >/dev/null
check "Server=y goes to y only; no Server goes to all" sh -c \
    "[ \$(grep -c UserEvent=R '$tmp/y.log') -eq 1 ] && [ \$(grep -c UserEvent=R '$tmp/x.log') -eq 0 ] && [ \$(cat '$tmp/x.log' '$tmp/y.log' '$tmp/z.log' | grep -c UserEvent=All) -eq 3 ]"
check "the routing field is not sent as a header" sh -c "! grep -q 'UserEvent=R.*Server' '$tmp/y.log'"
printf '%s\n' 'Server=x Event=PresenceStateChange Presentity=CustomPresence:7 State=away' \
    'Server=y Event=PresenceStateChange Presentity=CustomPresence:7 State=away' \
    'Server=y Event=PresenceStateChange Presentity=CustomPresence:7 State=dnd' |
    amiaction -c "$tmp/m.conf" -H x -H y -H z -x -E '%{Presentity}' \
    -t 'Action=Setvar Variable=PRESENCE_STATE(%{Presentity}) Value=%{State}' >/dev/null
check "-E: y's echo of what came from x is dropped; its news is sent" sh -c \
    "[ \$(grep -c 'Value=away' '$tmp/x.log') -eq 0 ] && [ \$(grep -c 'Value=dnd' '$tmp/x.log') -eq 1 ] &&
    [ \$(grep -c 'Value=away' '$tmp/z.log') -eq 1 ]"
# the echoes due are bounded (lib's AMI_DUE_MAX, 16 a key and server):
# after 17 changes from x, y's echo of the first is news again
{ for v in $(seq 17); do
	echo "Server=x Event=PresenceStateChange Presentity=CustomPresence:8 State=b$v"
  done
  echo 'Server=y Event=PresenceStateChange Presentity=CustomPresence:8 State=b1'
  echo 'Server=y Event=PresenceStateChange Presentity=CustomPresence:8 State=b17'
} | amiaction -c "$tmp/m.conf" -H x -H y -H z -x -E '%{Presentity}' \
    -t 'Action=Setvar Variable=PRESENCE_STATE(%{Presentity}) Value=%{State}' >/dev/null
check "-E: 16 echoes due a key and server at most, the oldest forgotten" sh -c \
    "[ \$(grep -c 'CustomPresence:8).*Value=b17' '$tmp/x.log') -eq 0 ] &&
    [ \$(grep -c 'CustomPresence:8).*Value=b1\$' '$tmp/x.log') -eq 1 ]"

# -- SIGTERM: what was read is still answered, then Logoff; twice: at once --
term_run() {   # term_run NAME MUTE_MS SIGNALS: 3 actions read, then signalled
	amisim_start "$1" -L "$tmp/$1.log" -f "mute=$2"
	rm -f "$tmp/fifo" && mkfifo "$tmp/fifo"
	amiaction -c "$tmp/$1.conf" <"$tmp/fifo" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	_apid=$!
	exec 3>"$tmp/fifo"
	printf 'Action=UserEvent UserEvent=T%s\n' 1 2 3 >&3
	wait_for 10 has_count 3 UserEvent=T "$tmp/$1.log"
	for _s in $(seq "$3"); do
		wait_for 5 term_taken "$_apid"
		kill -TERM "$_apid"
	done
	reap "$_apid" 20
	_st=$?
	exec 3>&-
	amisim_stop "$1"
	return $_st
}
term_run tg 1000 1
check "SIGTERM while answers are owed: exit 0" test $? -eq 0
check "the three answers printed" has_count 3 '^Response=Success' "$tmp/tg.out"
check "then a Logoff" sh -c "tail -1 '$tmp/tg.log' | grep -q '^Action=Logoff'"
check "nothing said" test ! -s "$tmp/tg.err"
term_run tt 60000 2
check "SIGTERM twice: exit 2 at once" test $? -eq 2
check "each unanswered action named" has_count 3 'line [123]: Action UserEvent not delivered' "$tmp/tt.err"
term_run tl 7000 1
check "no answer within the grace: exit 2" test $? -eq 2
check "said so, for each" has_count 3 'within 5 s of the signal' "$tmp/tl.err"

done_testing
