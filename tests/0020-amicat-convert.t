#!/bin/sh
# amicat -i: every real transcript converts, raw is byte-exact, and
# raw -> one-line -> JSON -> raw round-trips byte-identically.
. "$(dirname "$0")/lib.sh"
fx=$fixtures/asterisk-20.20.1

for t in "$fx"/[01]*_*[a-z].txt; do
	case $t in *.sent.txt|*.both.txt) continue ;; esac
	n=$(basename "$t" .txt)
	# what came in, minus the banner line, which is not a message
	tail -n +2 "$t" >"$tmp/$n.want"
	amicat -i "$t" -r >"$tmp/$n.raw"
	if [ "$n" = 08_pjsip_show_endpoints ]; then
		# the blank line after Asterisk's stray LF is not part of a message
		python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(d.replace(b"found\n\r\n\r\n", b"found\n\r\n"))' \
		    "$tmp/$n.want" >"$tmp/$n.want2" && mv "$tmp/$n.want2" "$tmp/$n.want"
	fi
	check_same "$n: -r reproduces every message byte for byte" "$tmp/$n.raw" "$tmp/$n.want"

	amicat -i "$t" >"$tmp/$n.txt"
	blocks=$(tr -d '\r' <"$t" | awk 'NR > 1 && $0 == "" && prev != "" { n++ } { prev = $0 } END { print n }')
	check "$n: one message per line ($blocks)" test "$(wc -l <"$tmp/$n.txt")" -eq "$blocks"
	amicat -i "$tmp/$n.txt" -j | amicat -i - -r >"$tmp/$n.back"
	if [ "$n" = 08_pjsip_show_endpoints ]; then
		sed 's/found$/found\r/' "$tmp/$n.raw" >"$tmp/$n.raw2"
		check_same "$n: raw -> one-line -> JSON -> raw (stray LF now CRLF)" "$tmp/$n.back" "$tmp/$n.raw2"
	else
		check_same "$n: raw -> one-line -> JSON -> raw is identical" "$tmp/$n.back" "$tmp/$n.raw"
	fi
done

t=$fx/06_dnd_dialplan_originate.txt
amicat -i "$t" -e userevent -f '%{UserEvent} %{Peername} %{DND}' >"$tmp/f"
printf 'DND 100 enabled\nDND 100 disabled\n' >"$tmp/want"
check_same "-e is case-insensitive; -f expands a template" "$tmp/f" "$tmp/want"

amicat -i "$t" -e Newexten,UserEvent -m 'Application~^UserEvent$' -f '%{AppData}' >"$tmp/f"
printf 'DND,DND: enabled,Peername: 100\nDND,DND: disabled,Peername: 100\n' >"$tmp/want"
check_same "-e with several names and a PCRE2 -m filter" "$tmp/f" "$tmp/want"

amicat -i "$t" -m '!Privilege~call' -e Newexten -n 2 >"$tmp/f"
check "-n stops after count; ! negates -m" test "$(wc -l <"$tmp/f")" -eq 2

printf 'Event=A K="x\\ny"\n' | amicat -i - -f '%{K}|' >"$tmp/f"
printf 'x\\ny|\n' >"$tmp/want"
check_same "-f escapes control bytes so an event stays one line" "$tmp/f" "$tmp/want"

printf 'Event=A\nthis is not AMI\nEvent=B\n' | amicat -i - >"$tmp/f" 2>"$tmp/e"
st=$?
printf 'Event=A\nEvent=B\n' >"$tmp/want"
check_same "a bad line loses nothing around it" "$tmp/f" "$tmp/want"
check "and is named on stderr with its line, exit 2" \
    sh -c "[ $st -eq 2 ] && grep -q 'line 2: not an AMI message' '$tmp/e'"

check "-f %{ unclosed is a usage error" sh -c '! amicat -i /dev/null -f "%{x" 2>/dev/null'
check "bad regex is a usage error with exit 2" sh -c 'amicat -i /dev/null -m "K~(" 2>/dev/null; [ $? -eq 2 ]'

if [ -w /dev/full ]; then
	amicat -i "$t" >/dev/full 2>"$tmp/e"
	st=$?
	check "stdout on a full disk: exit 2 and a clear message" \
	    sh -c "[ $st -eq 2 ] && grep -q 'No space left' '$tmp/e'"
fi
done_testing
