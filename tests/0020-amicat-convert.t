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

# -- every dialect converts and reads back: raw -> one-line -> raw, -> JSON
# -> raw, and -r of -r's own output --
roundtrip() {	# NAME FILE: every conversion gives the raw bytes back
	amicat -i "$2" >"$tmp/rt.txt" && amicat -i "$2" -j >"$tmp/rt.json" &&
	    amicat -i "$tmp/rt.txt" -r >"$tmp/rt.1" &&
	    amicat -i "$tmp/rt.json" -r >"$tmp/rt.2" &&
	    amicat -i "$tmp/rt.1" -r >"$tmp/rt.3" &&
	    amicat -i "$tmp/rt.txt" -j | amicat -i - >"$tmp/rt.4" &&
	    cmp -s "$tmp/rt.1" "$2" && cmp -s "$tmp/rt.2" "$2" &&
	    cmp -s "$tmp/rt.3" "$2" && cmp -s "$tmp/rt.4" "$tmp/rt.txt"
}
printf 'Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\nline one\n--END COMMAND--\r\n\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n' >"$tmp/follows"
check "Asterisk 13 Response: Follows with --END COMMAND--: all conversions give the bytes back" roundtrip follows "$tmp/follows"
amicat -i "$tmp/follows" | amicat -i - -r | amicat -i - >"$tmp/f"
check "and a Follows block written from one-line does not swallow what follows it" \
    test "$(wc -l <"$tmp/f")" -eq 2
printf 'Response: Follows\r\nPrivilege: Command\r\n\nempty line above, CR at the end\r\r\n--END COMMAND--\r\n\r\n' >"$tmp/follows2"
check "Follows: empty text lines and a value's own CR" roundtrip follows2 "$tmp/follows2"
printf 'Response: Success\r\nActionID: q\r\n\r\nNo queues.\r\n\r\n[queue] has 0 calls (max unlimited)\r\n   No Members\r\n\r\nEvent: After\r\n\r\n' >"$tmp/bare"
amicat -i "$tmp/bare" >"$tmp/f" 2>"$tmp/e"
printf 'Response=Success ActionID=q\n""="No queues."\n""="[queue] has 0 calls (max unlimited)" ""="   No Members"\nEvent=After\n' >"$tmp/want"
check_same "blocks without a colon, or starting with [ (Queues), read as live reads them" "$tmp/f" "$tmp/want"
check "and convert back" roundtrip bare "$tmp/bare"
printf 'Event: Tight\r\nKey:\r\nKey2:value\r\nEmpty: \r\nSpaced:  two\r\n: nameless\r\n\r\n' >"$tmp/tight"
amicat -i "$tmp/tight" >"$tmp/f"
printf 'Event=Tight Key:="" Key2:=value Empty="" Spaced=" two" ""=": nameless"\n' >"$tmp/want"
check_same "Key: and Key:value keep their shape in one-line (Key:=)" "$tmp/f" "$tmp/want"
check "and convert back byte for byte" roundtrip tight "$tmp/tight"

printf 'Event=A Data="line 1\\nline 2\\tend"\nEvent=B K=v\n' | amicat -i - -r >"$tmp/f" 2>"$tmp/e"
st=$?
printf 'Event: B\r\nK: v\r\n\r\n' >"$tmp/want"
check_same "-r never writes a value's line feed: the message is refused, the next written" "$tmp/f" "$tmp/want"
check "said with its line and field, exit 2" sh -c "[ $st -eq 2 ] && grep -q 'line 1: not written: header 2 (Data) holds a line feed' '$tmp/e'"
printf 'Event=A ""="a: b"\nEvent=B Bad:name:=1\n"Action=x"=1\n' | amicat -i - -r >"$tmp/f" 2>"$tmp/e"
check "-r refuses what would read back otherwise (a nameless value with a colon, a colon in a name, = before the colon)" \
    sh -c "[ ! -s '$tmp/f' ] && [ \$(wc -l <'$tmp/e') -eq 3 ]"
printf 'Event: A\r\n' >"$tmp/c1"
printf 'Event: B\n' >"$tmp/c2"
{ amicat -i "$tmp/c1" -r; amicat -i "$tmp/c2" -r; } | amicat -i - >"$tmp/f"
printf 'Event=A\nEvent=B\n' >"$tmp/want"
check_same "-r outputs of blocks that came without their empty line concatenate" "$tmp/f" "$tmp/want"

# -e names whole events: a name that is a prefix of another passes only itself
printf 'Event=Peer\nEvent=PeerStatus\nEvent=Pee\nEvent=PEER\nResponse=Success\n' | amicat -i - -e Peer >"$tmp/f"
printf 'Event=Peer\nEvent=PEER\n' >"$tmp/want"
check_same "-e Peer passes Peer (any case), not PeerStatus or Pee" "$tmp/f" "$tmp/want"
printf 'Event=Peer\nEvent=PeerStatus\nEvent=Status\n' | amicat -i - -e PeerStatus,Status >"$tmp/f"
printf 'Event=PeerStatus\nEvent=Status\n' >"$tmp/want"
check_same "-e PeerStatus,Status: no prefix or suffix match" "$tmp/f" "$tmp/want"

# live and -i give the same messages from the same bytes, written a byte a time
cat "$tmp/tight" "$tmp/bare" "$fx/08_pjsip_show_endpoints.txt" | tail -n +1 |
    grep -av '^Asterisk Call Manager' >"$tmp/replay"
login='!Event~^(SuccessfulAuth|FullyBooted)$'
n=$(amicat -i "$tmp/replay" -k "$login" | tee "$tmp/want" | wc -l)
amisim_start a -R "$tmp/replay" -N "$(amicat -i "$tmp/replay" | wc -l)" -f split
timeout 60 amicat -c "$tmp/a.conf" -k "$login" -n "$n" >"$tmp/f"
check_same "live (one byte a write) and -i read the same $n messages" "$tmp/f" "$tmp/want"

# -e is pushed to the server as AMI Filters (one a name, case folded, whole
# names), the client-side test still deciding; a name a regex can't carry
# exactly is not pushed
amisim_start b -L "$tmp/b.log"
timeout 20 amicat -c "$tmp/b.conf" -e userevent,PeerStatus -n 1 >"$tmp/f" 2>"$tmp/e" &
apid=$!
wait_for 10 grep -q '^Action=Filter' "$tmp/b.log"
check "-e: one Filter action a name, sent at login" sh -c "
    grep -qxF 'Action=Filter ActionID=amicat-filter Operation=Add Filter=\"Event: [Uu][Ss][Ee][Rr][Ee][Vv][Ee][Nn][Tt]([^A-Za-z0-9_-]|\$)\"' '$tmp/b.log' &&
    grep -qxF 'Action=Filter ActionID=amicat-filter Operation=Add Filter=\"Event: [Pp][Ee][Ee][Rr][Ss][Tt][Aa][Tt][Uu][Ss]([^A-Za-z0-9_-]|\$)\"' '$tmp/b.log'"
amiaction -c "$tmp/b.conf" UserEvent UserEvent=T >/dev/null
wait "$apid"
check "and the events named still arrive, the Filter's answer not printed" \
    grep -qx 'Event=UserEvent Privilege=user,all UserEvent=T ActionID=amiaction-1' "$tmp/f"
check "and FullyBooted and Shutdown, which tell conn.c the boot state: four" \
    has_count 4 '^Action=Filter' "$tmp/b.log"
: >"$tmp/b.log"
timeout 20 amicat -c "$tmp/b.conf" -e UserEvent,fullybooted -n 1 >"$tmp/f" &
apid=$!
wait_for 10 grep -q '^Action=Filter' "$tmp/b.log"
amiaction -c "$tmp/b.conf" UserEvent UserEvent=T >/dev/null
wait "$apid"
check "a name -e gives too (fullybooted) is asked for once: three" \
    has_count 3 '^Action=Filter' "$tmp/b.log"
: >"$tmp/b.log"
timeout 20 amicat -c "$tmp/b.conf" -e UserEvent,Odd.Name -n 1 >"$tmp/f" &
apid=$!
wait_for 10 grep -q '^Action=Login' "$tmp/b.log"
amiaction -c "$tmp/b.conf" UserEvent UserEvent=T >/dev/null
wait "$apid"
check "-e with a name a Filter can't carry: no Filter at all, events as before" sh -c "
    ! grep -q '^Action=Filter' '$tmp/b.log' && grep -q '^Event=UserEvent' '$tmp/f'"

t=$fx/06_dnd_dialplan_originate.txt
amicat -i "$t" -e userevent -f '%{UserEvent} %{Peername} %{DND}' >"$tmp/f"
printf 'DND 100 enabled\nDND 100 disabled\n' >"$tmp/want"
check_same "-e is case-insensitive; -f expands a template" "$tmp/f" "$tmp/want"

amicat -i "$t" -e Newexten,UserEvent -k 'Application~^UserEvent$' -f '%{AppData}' >"$tmp/f"
printf 'DND,DND: enabled,Peername: 100\nDND,DND: disabled,Peername: 100\n' >"$tmp/want"
check_same "-e with several names and a PCRE2 -k filter" "$tmp/f" "$tmp/want"

amicat -i "$t" -k '!Privilege~call' -e Newexten -n 2 >"$tmp/f"
check "-n stops after count; ! negates -k" test "$(wc -l <"$tmp/f")" -eq 2
amicat -i "$t" -m '!Privilege~call' -e Newexten -n 2 >"$tmp/g" 2>"$tmp/e"
check_same "-m, the old spelling of -k, still filters" "$tmp/g" "$tmp/f"
check "and says the new spelling on stderr" \
    grep -qx 'amicat: -m is now -k (-m goes in the next release)' "$tmp/e"

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
check "bad regex is a usage error with exit 2" sh -c 'amicat -i /dev/null -k "K~(" 2>/dev/null; [ $? -eq 2 ]'

if [ -w /dev/full ]; then
	amicat -i "$t" >/dev/full 2>"$tmp/e"
	st=$?
	check "stdout on a full disk: exit 2 and a clear message" \
	    sh -c "[ $st -eq 2 ] && grep -q 'No space left' '$tmp/e'"
fi
# the Follows text reads back as "Output" exactly: an "OuTput" would come
# back renamed, so -r refuses it (found by the decode fuzzer)
printf '%s\n' '{"Response":"Follows","ActionID":"x","OuTput":["a"]}' |
    amicat -i - -r >"$tmp/out" 2>"$tmp/err"
st=$?
check "-r: OuTput in a Follows block refused, exit 2" sh -c \
    "test $st -eq 2 && grep -q 'OuTput' '$tmp/err' && ! test -s '$tmp/out'"
# one-line of an event read brief (its lines converted in one pass where
# they are plain) is the one-line of the full split (-k turns brief off):
# spaces, quotes, escapes, CR inside a value, tight keys, empty values,
# nameless lines, keys that need quotes, lines of 16 bytes and more, LF alone
printf 'Event: Brief\r\nKey: plain\r\nSpaced: a b c d e f g h i j k\r\nTight:value\r\nEmpty: \r\nTightEmpty:\r\nQuote: say "hi" to all of them\r\nBack: a\\b c d e f g h i j k\r\nCr: a\rb c d e f g h i j\r\nno colon at all here\r\n: nameless value\r\nKey With Space: v\r\nEq=Key: v\r\nLong: 0123456789abcdef0123456789abcdef0123\r\nLongSp: 0123456789abcdef 0123456789abcdef0123\r\nLf: only a line feed here\nHigh: \303\251t\303\251 caf\303\251 latte\r\nTab: a\tb more bytes here\r\nDel: a\177b more bytes here\r\nLast: x\r\n\r\n' >"$tmp/brief"
amicat -i "$tmp/brief" >"$tmp/f"
amicat -i "$tmp/brief" -k 'Event~.' >"$tmp/want"
check_same "one-line of an event read brief = of the full split" "$tmp/f" "$tmp/want"
printf '%s\n' 'Event=Brief Key=plain Spaced="a b c d e f g h i j k" Tight:=value Empty="" TightEmpty:="" Quote="say \"hi\" to all of them" Back="a\\b c d e f g h i j k" Cr="a\rb c d e f g h i j" ""="no colon at all here" ""=": nameless value" "Key With Space"=v "Eq=Key"=v Long=0123456789abcdef0123456789abcdef0123 LongSp="0123456789abcdef 0123456789abcdef0123" Lf="only a line feed here" High="été café latte" Tab="a\tb more bytes here" Del="a\x7fb more bytes here" Last=x' >"$tmp/want"
check_same "one-line of an event read brief, as amitools.7 writes it" "$tmp/f" "$tmp/want"

# the fast line's edges: keys and values of 1 to 40 bytes, plain and with
# a space, around its 32-byte window, and a line that ends right at it
awk 'BEGIN {
	printf "Event: Edges\r\n"
	for (k = 1; k <= 40; k += 3)
		for (v = 0; v <= 40; v++) {
			key = substr("KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK", 1, k)
			val = substr("vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", 1, v)
			printf "%s: %s\r\n", key, val
			if (v > 1)
				printf "%s: %s %s\r\n", key, substr(val, 2), "w"
		}
	printf "\r\n"
}' >"$tmp/edges"
amicat -i "$tmp/edges" >"$tmp/f"
amicat -i "$tmp/edges" -k 'Event~.' >"$tmp/want"
check_same "one-line read brief = full split, at the fast line's edges" "$tmp/f" "$tmp/want"
# a block whose last lines end where the parser's first read does (64 KiB):
# its 16-byte loads reach past the data into the slack the parser keeps
# (AMI_SLACK; without it, ASan and valgrind see a read past the buffer)
awk 'BEGIN {
	for (i = 0; i < 2400; i++)
		printf "Event: Pad\r\nKey: value\r\n\r\n"
	pad = 65536 - 2400 * 26 - length("Event: End\r\nPad: \r\nZ: 1\r\n\r\n")
	printf "Event: End\r\nPad: "
	for (i = 0; i < pad; i++)
		printf "x"
	printf "\r\nZ: 1\r\n\r\n"
}' >"$tmp/64k"
check "the file is 65536 bytes" test "$(wc -c <"$tmp/64k")" -eq 65536
amicat -i "$tmp/64k" >"$tmp/f"
amicat -i "$tmp/64k" -k 'Event~.' >"$tmp/want"
check_same "a block that ends with the parser's read: brief = full split" "$tmp/f" "$tmp/want"
check "and its last line is there" sh -c "tail -1 '$tmp/f' | grep -q ' Z=1\$'"

done_testing
