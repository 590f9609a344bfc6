#!/bin/sh
# The parser's bounds, through every tool that reads with it: a message or
# line over the cap is skipped in bounded memory and linear time and said
# with its size and place (a 1 GiB line made on the fly: peak RSS from
# getrusage, time from timeout); the caps at max and max + 1; a half last
# line is reported and never acted on; live, an oversized message is said
# by amicat and told apart from a lost delivery by amiaction.
. "$(dirname "$0")/lib.sh"

# 1 GiB, or 64 MiB under valgrind (the point there is the errors it finds);
# AddressSanitizer's shadow memory and quarantine cost some 35 MiB of their
# own, so a tool built with it gets that much more (still far below what
# holding the line would take)
if [ -n "${AMITOOLS_VALGRIND:-}" ]; then
	big=$((64 << 20)) rssmax=600000 tmo=600
elif grep -q __asan_init "$top/amicat"; then
	big=$((1 << 30)) rssmax=$((24000 + 64000)) tmo=120
else
	big=$((1 << 30)) rssmax=24000 tmo=60
fi
cap=$((16 << 20))

# peak CMD: run sh -c CMD; prints "exit-status peak-RSS-in-KiB" (the
# biggest of its processes, from the kernel's own count at their exit)
peak() {
	python3 -c 'import resource, subprocess, sys
r = subprocess.run(["sh", "-c", sys.argv[1]])
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$1"
}
aline="head -c $big /dev/zero | tr '\\\\0' a"

# -- amicat -i: a line, then a wire block, each of 1 GiB --
set -- $(peak "{ $aline; printf '\\nEvent=After\\n'; } | timeout $tmo amicat -i - >'$tmp/out' 2>'$tmp/err'")
check "amicat -i: a 1 GiB line, exit 2 within ${tmo}s" test "$1" -eq 2
check "in bounded memory (peak $2 KiB < $rssmax KiB)" test "$2" -lt $rssmax
echo 'Event=After' >"$tmp/want"
check_same "the message after it is read" "$tmp/out" "$tmp/want"
check "said with its size and place" grep -qx "amicat: -: line 1 (byte 0): message of $((big + 1)) bytes, over the $cap-byte cap, skipped" "$tmp/err"

set -- $(peak "{ printf 'Event: Big\\r\\nData: '; $aline; printf '\\r\\n\\r\\nEvent: After\\r\\n\\r\\n'; } | timeout $tmo amicat -i - -r >'$tmp/out' 2>'$tmp/err'")
check "amicat -i -r: a 1 GiB wire block, exit 2" test "$1" -eq 2
check "in bounded memory (peak $2 KiB)" test "$2" -lt $rssmax
printf 'Event: After\r\n\r\n' >"$tmp/want"
check_same "the block after it is copied" "$tmp/out" "$tmp/want"
check "said with its size" grep -q "line 1 (byte 0): message of $((big + 22)) bytes, over" "$tmp/err"

# -- dndctl apply and peerlist read stdin through the same parser --
set -- $(peak "{ $aline; printf '\\nEvent=UserEvent UserEvent=DND Peername=100 DND=on\\n'; } | timeout $tmo dndctl -l '$tmp/L' -M none apply >/dev/null 2>'$tmp/err'")
check "dndctl apply: a 1 GiB line in bounded memory (peak $2 KiB), the DND after it kept" \
    sh -c "[ $2 -lt $rssmax ] && echo 100 | cmp -s - '$tmp/L'"
check "and said" grep -q "message of $((big + 1)) bytes, over the" "$tmp/err"
set -- $(peak "{ $aline; printf '\\n'; } | timeout $tmo peerlist -m '$tmp/map' >/dev/null 2>'$tmp/err'")
check "peerlist: a 1 GiB line in bounded memory (peak $2 KiB), said" \
    sh -c "[ $2 -lt $rssmax ] && grep -q 'message of $((big + 1)) bytes, over the' '$tmp/err'"

# -- the cap: max passes, max + 1 is skipped (amicat -i, a line and a block) --
python3 -c 'import sys
cap = int(sys.argv[1])
for n in (cap, cap + 1):
    v = b"x" * (n - len(b"Event=L D=\n"))
    sys.stdout.buffer.write(b"Event=L D=" + v + b"\n")
for n in (cap, cap + 1):
    v = b"y" * (n - len(b"Event: W\r\nD: \r\n\r\n"))
    sys.stdout.buffer.write(b"Event: W\r\nD: " + v + b"\r\n\r\n")' $cap >"$tmp/caps"
amicat -i "$tmp/caps" -f '%{Event}' >"$tmp/out" 2>"$tmp/err"
printf 'L\nW\n' >"$tmp/want"
check_same "a line and a block of exactly $cap bytes pass" "$tmp/out" "$tmp/want"
check "of $cap + 1 are skipped, each said once" sh -c "
    grep -qx 'amicat: $tmp/caps: line 2 (byte $cap): message of $((cap + 1)) bytes, over the $cap-byte cap, skipped' '$tmp/err' &&
    grep -qx 'amicat: $tmp/caps: line 6 (byte $((cap * 3 + 1))): message of $((cap + 1)) bytes, over the $cap-byte cap, skipped' '$tmp/err' &&
    [ \$(wc -l <'$tmp/err') -eq 2 ]"

# a Response: Follows block over the cap is skipped to the empty line after
# its --END COMMAND--: the empty lines and Event: lines of its text, before
# the cap or after it, are not read as messages
python3 -c 'import sys
cap = int(sys.argv[1])
for i, n in enumerate((cap, cap + 1, cap + 4096)):
    head = b"Response: Follows\r\nPrivilege: Command\r\nActionID: F%d\r\nline\n\nEvent: Early\n\n" % i
    tail = b"\n\nEvent: Late\n\n--END COMMAND--\r\n\r\n"
    sys.stdout.buffer.write(head + b"z" * (n - len(head) - len(tail)) + tail +
        b"Event: After%d\r\n\r\n" % i)' $cap >"$tmp/fcaps"
amicat -i "$tmp/fcaps" -f '%{ActionID}%{Event}' >"$tmp/out" 2>"$tmp/err"
printf 'F0\nAfter0\nAfter1\nAfter2\n' >"$tmp/want"
check_same "a Follows block of $cap bytes passes, of $cap + 1 and more is skipped to its end marker" "$tmp/out" "$tmp/want"
check "each skipped one said once, with its size" sh -c "
    grep -qx 'amicat: $tmp/fcaps: line 16 (byte $((cap + 17))): message of $((cap + 1)) bytes, over the $cap-byte cap, skipped' '$tmp/err' &&
    grep -qx 'amicat: $tmp/fcaps: line 31 (byte $((cap * 2 + 35))): message of $((cap + 4096)) bytes, over the $cap-byte cap, skipped' '$tmp/err' &&
    [ \$(wc -l <'$tmp/err') -eq 2 ]"

# -- a half last line is never acted on --
printf 'Event=A\nEvent=B' | amicat -i - >"$tmp/out" 2>"$tmp/err"
st=$?
check "amicat -i: a last line without its newline is not read, exit 2" \
    sh -c "[ $st -eq 2 ] && [ \"\$(cat '$tmp/out')\" = Event=A ]"
check "and is said" grep -q 'line 2: the last line has no newline (7 bytes): not read' "$tmp/err"
printf 'Event: A\r\n\r\nEvent: B\r\nX: y' | amicat -i - -r >"$tmp/out" 2>"$tmp/err"
printf 'Event: A\r\n\r\n' >"$tmp/want"
check_same "a wire block whose last line is cut is not read" "$tmp/out" "$tmp/want"
check "and is said" grep -q 'line 3: message cut by the end of input (its last line has no newline): 14 bytes not read' "$tmp/err"
# -r finds an event's end without splitting it: its lines are still
# counted (an event of 3 lines, one of 302 with 300 lines of 16 bytes:
# their LFs 16 bytes apart, more than a byte can count; then the cut)
{
	printf 'Event: A\r\nLong: 0123456789012345678901234567890123456789\r\n\r\n'
	printf 'Event: Many\r\n'
	i=0; while [ $i -lt 300 ]; do printf 'K%03d: 01234567\r\n' $i; i=$((i + 1)); done
	printf '\r\nEvent: B\r\nX: y'
} | amicat -i - -r >"$tmp/out" 2>"$tmp/err"
check "-r: the line of a message after long events is right" \
    grep -qx 'amicat: -: line 306: message cut by the end of input (its last line has no newline): 14 bytes not read' "$tmp/err"
printf 'Event: A\r\nX: y\r\n' | amicat -i - -r >"$tmp/out"
printf 'Event: A\r\nX: y\r\n\r\n' >"$tmp/want"
check_same "-r ends a last block that came without its empty line" "$tmp/out" "$tmp/want"
# an LF then a CR is an empty line only when an LF follows: a line that
# starts with a CR does not end an event
long=Long:0123456789012345678901234567890123456789
printf 'Event: A\r\n%s\r\n\rOdd: 1\r\n%s\r\n\r\n' $long $long >"$tmp/want"
printf 'Event: B\r\n\r\n' | cat "$tmp/want" - | amicat -i - -r -n 1 >"$tmp/out"
check_same "-r: a line that starts with a CR is inside the event" "$tmp/out" "$tmp/want"
printf 'Event: A\nX: y\n' | amicat -i - -r >"$tmp/out"
printf 'Event: A\nX: y\n\n' >"$tmp/want"
check_same "in the line ends it came with" "$tmp/out" "$tmp/want"
printf 'Response: Follows\r\nActionID: 1\r\ncut short\n\r\nEvent: After\r\n\r\n' |
    amicat -i - >"$tmp/out" 2>"$tmp/err"
st=$?
check "a Follows block cut before --END COMMAND-- does not swallow the rest" \
    sh -c "[ $st -eq 2 ] && [ \"\$(cat '$tmp/out')\" = Event=After ]"
check "and is said" grep -q 'line 1: message cut by the end of input (Response: Follows without --END COMMAND--' "$tmp/err"
printf 'Event=UserEvent UserEvent=DND Peername=100 DND=on\nEvent=UserEvent UserEvent=DND Peername=101 DND=on' |
    dndctl -l "$tmp/L2" -M none apply >/dev/null 2>"$tmp/err"
check "dndctl apply: a half last line changes nothing" sh -c "echo 100 | cmp -s - '$tmp/L2'"
check "and is said" grep -q 'line 2: the last line has no newline' "$tmp/err"

# -- live --
mkdir -p "$tmp/d/actions"
printf 'base = %s/tests/amisim.d\n' "$top" >"$tmp/d/settings"
{
	printf '@mode one\n\nResponse: Success\r\nActionID: {?ActionID}\r\nData: '
	head -c $((cap + 1000)) /dev/zero | tr '\0' x
	printf '\r\n'
} >"$tmp/d/actions/BigAnswer"
amisim_start a -L "$tmp/a.log" -d "$tmp/d"
printf 'Action=Ping\nAction=DBPut Family=DND Key=p33 Val=1' |
    timeout 30 amiaction -c "$tmp/a.conf" >"$tmp/out" 2>"$tmp/err"
st=$?
check "amiaction: a half last line is not sent, exit 2" sh -c \
    "[ $st -eq 2 ] && grep -q '^Response=Success Ping=Pong' '$tmp/out' && ! grep -q DBPut '$tmp/a.log'"
check "and is said" grep -q 'line 2: the last line has no newline (37 bytes): not read' "$tmp/err"
set -- $(peak "{ $aline; printf '\\nAction=Ping\\n'; } | timeout $tmo amiaction -c '$tmp/a.conf' >'$tmp/out' 2>'$tmp/err'")
check "amiaction: a 1 GiB line on stdin, exit 2, in bounded memory (peak $2 KiB)" \
    sh -c "[ $1 -eq 2 ] && [ $2 -lt $rssmax ]"
check "the action after it is answered" grep -q '^Response=Success Ping=Pong' "$tmp/out"
check "the line is said with its size and the 128 KiB cap" grep -q "line 1 (byte 0): message of $((big + 1)) bytes, over the 131072-byte cap, skipped" "$tmp/err"
timeout 30 amiaction -c "$tmp/a.conf" BigAnswer >"$tmp/out" 2>"$tmp/err"
st=$?
check "amiaction: an answer over the cap, exit 2" test $st -eq 2
check "is said as answered but lost, with its size, not as not delivered" sh -c "
    grep -q 'Action BigAnswer answered, but the answer was lost: line [0-9]* (byte [0-9]*): message of $((cap + 1052)) bytes, over the $cap-byte cap' '$tmp/err' &&
    ! grep -q 'not delivered' '$tmp/err'"

{
	printf 'Event: Big\r\nData: '
	head -c $((cap + 10)) /dev/zero | tr '\0' x
	printf '\r\n\r\nEvent: After\r\n\r\n'
} >"$tmp/replay"
amisim_start b -R "$tmp/replay" -N 2
timeout 30 amicat -c "$tmp/b.conf" -e After -n 1 >"$tmp/out" 2>"$tmp/err"
check "live amicat: the event after an oversized one is printed" grep -qx 'Event=After' "$tmp/out"
check "the oversized one is said with its size" grep -q "amicat: default: line [0-9]* (byte [0-9]*): message of $((cap + 32)) bytes, over the $cap-byte cap, skipped" "$tmp/err"

# -- the tools reading amicat's stream are told too (AmitoolsSkipped) --
timeout 30 amicat -c "$tmp/b.conf" -e After,AmitoolsSkipped -n 2 >"$tmp/stream" 2>/dev/null
check "amicat marks the skipped message in its stream, with server and reason" grep -q \
    "^Event=AmitoolsSkipped Server=default Reason=\"line [0-9]* (byte [0-9]*): message of $((cap + 32)) bytes, over the $cap-byte cap, skipped\"\$" "$tmp/stream"
said="default: line [0-9]* (byte [0-9]*): message of $((cap + 32)) bytes, over the $cap-byte cap, skipped"
printf '[mwinotify]\nproxy = 127.0.0.1:9\nvmexten = *97\n' >"$tmp/mwi.conf"
for t in "dndctl -l $tmp/L3 -M none apply" "peerlist -m $tmp/map3" \
    "mwinotify -c $tmp/mwi.conf -D $tmp/none.cnf -P 127.0.0.1:9"; do
	timeout 30 $t <"$tmp/stream" >/dev/null 2>"$tmp/err"
	st=$?
	check "${t%% *}: says amicat's skipped message on stderr, exit 2" sh -c \
	    "[ $st -eq 2 ] && grep -q '^${t%% *}: $said\$' '$tmp/err'"
done
done_testing
