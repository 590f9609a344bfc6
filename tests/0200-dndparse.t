#!/bin/sh
# dndparse: the shared syslog samples, timestamp and sender forms, lines
# that must not move a phone, patterns files, counters and reload by
# signal, output as soon as decided, and -F: rotation by rename and by
# copytruncate, a restart from the state file, a rotation while stopped;
# the old spellings -t, -p, -r and -s of -C, -g, -R and -S.
. "$(dirname "$0")/lib.sh"
sx=$top/tests/fixtures/syslog

# -- the shared samples --
dndparse -m "$sx/peers.map" <"$sx/DND.log" >"$tmp/out" 2>"$tmp/err"
st=$?
cat >"$tmp/want" <<'EOF'
Action=UserEvent UserEvent=DND Peername=937 DND=enabled Channel=PJSIP/937 Status="DND enabled"
Action=UserEvent UserEvent=DND Peername=937 DND=disabled Channel=PJSIP/937 Status="DND disabled"
Action=UserEvent UserEvent=DND Peername=916 DND=enabled Channel=PJSIP/916 Status="DND enabled"
Action=UserEvent UserEvent=DND Peername=926 DND=enabled Channel=PJSIP/926 Status="DND enabled"
Action=UserEvent UserEvent=DND Peername=916 DND=disabled Channel=PJSIP/916 Status="DND disabled"
Action=UserEvent UserEvent=DND Peername=926 DND=disabled Channel=PJSIP/926 Status="DND disabled"
Action=UserEvent UserEvent=DND Peername=929 DND=enabled Channel=PJSIP/929 Status="DND enabled"
Action=UserEvent UserEvent=DND Peername=929 DND=disabled Channel=PJSIP/929 Status="DND disabled"
EOF
check "DND.log: exit 0" test $st -eq 0
check_same "DND.log: one action per change, the repeat of 916 dropped" "$tmp/out" "$tmp/want"
check "the unknown phone is named with its line" grep -q \
    '192.168.161.99 is not in .*peers.map: "Aug 29 11:50:01 192.168.161.99 \[0\]Enable DND"' "$tmp/err"
check "and only that is said" test "$(wc -l <"$tmp/err")" -eq 1
dndparse -m "$sx/peers.map" -C SIP <"$sx/DND.log" 2>/dev/null | head -1 >"$tmp/out"
check "-C SIP: Channel=SIP/937" grep -q 'Peername=937 DND=enabled Channel=SIP/937 ' "$tmp/out"
dndparse -m "$sx/peers.map" -t SIP <"$sx/DND.log" 2>"$tmp/err" | head -1 >"$tmp/out"
check "-t, the old spelling of -C, still names the technology" \
    grep -q 'Peername=937 DND=enabled Channel=SIP/937 ' "$tmp/out"
check "and says -C on stderr" \
    grep -qx 'dndparse: -t is now -C (-t goes in the next release)' "$tmp/err"

# -- timestamps, senders, spacing; the first state is sent, repeats not --
cat >"$tmp/map" <<'EOF'
# address        peer
192.168.161.6    937    Reception
spa-sales.lan    916    Sales, by host name
EOF
cat >"$tmp/in" <<'EOF'
2025-08-29T11:46:46+02:00 192.168.161.6 [0]Disable DND
2025-08-29T11:46:47.123456Z 192.168.161.6 [0]Disable DND
Sep  1 08:00:12 SPA-Sales.LAN [1]Enable DND
Sep  1 08:00:13   192.168.161.6    [0]Enable DND  
Sep  1 08:00:14 192.168.161.6 root: [0]Disable DND
Sep  1 08:00:15 192.168.161.6 [0]enable DND
Sep  1 08:00:16 192.168.161.6 [0]getDND status
EOF
dndparse -m "$tmp/map" <"$tmp/in" | sed 's/ Channel=.*//' >"$tmp/out"
cat >"$tmp/want" <<'EOF'
Action=UserEvent UserEvent=DND Peername=937 DND=disabled
Action=UserEvent UserEvent=DND Peername=916 DND=enabled
Action=UserEvent UserEvent=DND Peername=937 DND=enabled
Action=UserEvent UserEvent=DND Peername=937 DND=disabled
Action=UserEvent UserEvent=DND Peername=937 DND=enabled
EOF
check_same "ISO and traditional stamps, host names, spaces, a program tag" "$tmp/out" "$tmp/want"

# -- only the sender moves; nothing a line carries can add an action --
printf '%s\n' \
    'Aug 29 11:46:46 10.9.9.9 [0]Enable DND from 192.168.161.6' \
    'Aug 29 11:46:46 10.9.9.9 fwd: 192.168.161.6 [0]Enable DND' \
    'Aug 29 11:46:46 10.9.9.9 192.168.161.6 x [0]Enable DND' \
    'Aug 29 11:46:46 10.9.9.9 192.168.161.6: [0]Enable DND' \
    'Aug 29 11:46:46 192.168.161.6 [0]Disable DND' >"$tmp/in"
printf 'Aug 29 11:46:47 192.168.161.6 [0]Enable DND\r\nAction: Originate\r\nChannel: Local/1@x\r\n' >>"$tmp/in"
printf 'Aug 29 11:46:48 192.168.161.6 [0]Disable DND\rAction: Originate\n' >>"$tmp/in"
dndparse -m "$tmp/map" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
sed 's/ Channel=.*//' "$tmp/out" >"$tmp/got"
printf '%s\n' 'Action=UserEvent UserEvent=DND Peername=937 DND=disabled' \
    'Action=UserEvent UserEvent=DND Peername=937 DND=enabled' >"$tmp/want"
check_same "another address in the text moves nobody; CR LF inside a line adds no action" \
    "$tmp/got" "$tmp/want"
check "nothing of the injected text is in the output" sh -c "! grep -qi originate '$tmp/out'"
check "the unknown sender is named, not the address in the text" \
    grep -q '^dndparse: 10.9.9.9 is not in' "$tmp/err"
amisim_start h -L "$tmp/h.log"
printf '%s\n' '^\S+ (?<ip>\S+) DND (?<state>on|off) for (?<peer>.*)$' >"$tmp/pat"
printf 'x 192.168.161.6 DND on for 100\r\nAction: Originate\nx 192.168.161.6 DND on for 101\n' |
    dndparse -m "$tmp/map" -g "$tmp/pat" 2>"$tmp/err" | amiaction -c "$tmp/h.conf" >/dev/null 2>&1
check "a peer captured with a CR is refused, said" grep -q 'not a peer name' "$tmp/err"
check "and through amiaction only the clean line reaches Asterisk" sh -c \
    "grep -q 'Peername=101' '$tmp/h.log' && ! grep -qi originate '$tmp/h.log' && ! grep -q 'Peername=100' '$tmp/h.log'"
amisim_stop h

# -- a patterns file: its own groups, ip or peer --
cat >"$tmp/pat" <<'EOF'
# Yealink-like lines
^\S+ \S+ (?<ip>\S+) dnd: line=(?<line>\d+) (?<state>on|off)$
^\S+ \S+ \S+ dnd-peer (?<peer>\w+) (?<state>yes|no)$
EOF
printf '%s\n' 'Sep 1 192.168.161.6 dnd: line=1 on' 'Sep 1 x dnd-peer 555 yes' \
    'Sep  1 08:00:12 192.168.161.6 [0]Disable DND' >"$tmp/in"
dndparse -m "$tmp/map" -g "$tmp/pat" <"$tmp/in" | sed 's/ Channel=.*//' >"$tmp/out"
printf '%s\n' 'Action=UserEvent UserEvent=DND Peername=937 DND=enabled' \
    'Action=UserEvent UserEvent=DND Peername=555 DND=enabled' \
    'Action=UserEvent UserEvent=DND Peername=937 DND=disabled' >"$tmp/want"
check_same "-g: named groups ip/peer/state, and the built-in still works" "$tmp/out" "$tmp/want"
dndparse -m "$tmp/map" -p "$tmp/pat" <"$tmp/in" 2>"$tmp/err" | sed 's/ Channel=.*//' >"$tmp/out"
check_same "-p, the old spelling of -g, still reads the patterns" "$tmp/out" "$tmp/want"
check "and says -g on stderr" \
    grep -qx 'dndparse: -p is now -g (-p goes in the next release)' "$tmp/err"
awk 'BEGIN { for (i = 1; i <= 100003; i++) printf "Sep 1 x dnd-peer p%d yes\n", i }' |
    dndparse -m "$tmp/map" -g "$tmp/pat" >"$tmp/out" 2>"$tmp/err"
check "lines naming 100,003 peers: the first 100,000 go out" has_count 100000 UserEvent "$tmp/out"
check "the rest are said once, and counted" sh -c "[ \$(wc -l <'$tmp/err') -eq 1 ] &&
    grep -q 'no room for one more peer; .*: \"Sep 1 x dnd-peer p100001 yes\"' '$tmp/err'"
echo '^(?<ip>\S+) (' >"$tmp/badpat"
dndparse -m "$tmp/map" -g "$tmp/badpat" </dev/null 2>"$tmp/err"
st=$?
check "a pattern that does not compile: exit 2, named by file and line" sh -c \
    "[ $st -eq 2 ] && grep -q 'badpat:1: .*offset' '$tmp/err'"
echo '^(?<ip>\S+) x$' >"$tmp/badpat"
dndparse -m "$tmp/map" -g "$tmp/badpat" </dev/null 2>"$tmp/err"
st=$?
check "a pattern without a state group: exit 2" sh -c \
    "[ $st -eq 2 ] && grep -q 'needs the named groups' '$tmp/err'"
dndparse -m "$tmp/nomap" </dev/null 2>"$tmp/err"
st=$?
check "a map that is not there: exit 2" sh -c "[ $st -eq 2 ] && grep -q nomap '$tmp/err'"
dndparse -m "$sx/peers.map" <"$sx/DND.log" >/dev/full 2>"$tmp/err"
st=$?
check "stdout on a full disk: exit 2, said" sh -c "[ $st -eq 2 ] && grep -q 'stdout: No space' '$tmp/err'"
printf '[dndparse]\nmap = %s\ntech = IAX2\n' "$sx/peers.map" >"$tmp/c.conf"
dndparse -c "$tmp/c.conf" <"$sx/DND.log" 2>/dev/null | head -1 >"$tmp/out"
check "the map and tech from [dndparse] in the config" grep -q 'Channel=IAX2/937' "$tmp/out"
printf '[dndparse]\nmapp = x\n' >"$tmp/c.conf"
dndparse -c "$tmp/c.conf" </dev/null 2>"$tmp/err"
check "an unknown key in [dndparse]: exit 2" grep -q 'c.conf:2: unknown key mapp' "$tmp/err"

# -- on a pipe: each action as soon as it is decided; signals --
mkfifo "$tmp/fifo"
dndparse -m "$sx/peers.map" <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
exec 3>"$tmp/fifo"
echo 'Aug 29 11:46:46 192.168.161.6 [0]Enable DND' >&3
check "an action is written while the input stays open" wait_for 10 grep -q 'Peername=937' "$tmp/out"
echo 'Aug 29 11:46:46 192.168.161.200 [0]Enable DND' >&3
echo 'some other line' >&3
check "the unknown address is said at once" wait_for 10 grep -q '192.168.161.200 is not in' "$tmp/err"
kill -USR1 $dp
check "SIGUSR1: the counters" wait_for 10 grep -q \
    'lines 3, matched 1 (sent 1, repeated 0, held 0), unknown 1, unmatched 1' "$tmp/err"
cp "$sx/peers.map" "$tmp/map3"
echo '192.168.161.200 990 New phone' >>"$tmp/map3"
cp "$sx/peers.map" "$tmp/livemap"
kill $dp; wait $dp
exec 3>&-   # or the next dndparse would hold a writer of its own fifo
dndparse -m "$tmp/livemap" <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
exec 3>"$tmp/fifo"
echo 'Aug 29 11:46:46 192.168.161.200 [0]Enable DND' >&3
check "before the reload the new phone is unknown" wait_for 10 grep -q '192.168.161.200 is not in' "$tmp/err"
cp "$tmp/map3" "$tmp/livemap"
kill -HUP $dp
kill -USR1 $dp   # handled after the reload: a marker that it happened
wait_for 10 grep -q '^dndparse: lines 1,' "$tmp/err"
echo 'Aug 29 11:46:47 192.168.161.200 [0]Enable DND' >&3
check "SIGHUP: the map is read again, the new phone maps" wait_for 10 grep -q 'Peername=990 DND=enabled' "$tmp/out"
exec 3>&-
wait $dp
check "end of input: exit 0" test $? -eq 0

# -- a flood from one phone: RATE_BURST (3) changes at once, then one each
# -r seconds; a change that comes sooner is held, the latest goes out --
flood() {   # 5 x Enable/Disable from 937 (.6), then one change of 916 (.7)
	for i in 1 2 3 4 5; do
		echo 'Aug 29 11:46:46 192.168.161.6 [0]Enable DND'
		echo 'Aug 29 11:46:46 192.168.161.6 [0]Disable DND'
	done
	echo 'Aug 29 11:46:47 192.168.161.7 [0]Enable DND'
}
dndparse -m "$sx/peers.map" -R 60 <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
exec 3>"$tmp/fifo"
flood >&3
wait_for 10 has_count 4 UserEvent "$tmp/out"
check "a flood: 3 changes of 937 at once, the rest held" has_count 3 Peername=937 "$tmp/out"
check "the other phone is not held back" has_count 1 'Peername=916 DND=enabled' "$tmp/out"
kill -USR1 $dp
check "the counters: 4 held, 3 taken back" wait_for 10 grep -q \
    'lines 11, matched 11 (sent 4, repeated 3, held 4)' "$tmp/err"
exec 3>&-
wait $dp
check "end of input: exit 0" test $? -eq 0
check "and the held change goes out: 937's last state, disabled" sh -c \
    "[ \$(grep -c Peername=937 '$tmp/out') -eq 4 ] && tail -1 '$tmp/out' | grep -q 'Peername=937 DND=disabled'"
dndparse -m "$sx/peers.map" -R 1 <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
exec 3>"$tmp/fifo"
flood >&3
check "-R 1: the held change goes out when 937's turn comes, the input still open" \
    wait_for 10 has_count 4 Peername=937 "$tmp/out"
check "as its last state" sh -c "grep Peername=937 '$tmp/out' | tail -1 | grep -q DND=disabled"
exec 3>&-
wait $dp
dndparse -R 3601 </dev/null 2>"$tmp/err"
check "-R over an hour: exit 2, said" sh -c "[ $? -eq 2 ] && grep -q -- '-R 3601: too large' '$tmp/err'"
dndparse -r 3601 </dev/null 2>"$tmp/err"
check "-r, the old spelling of -R, is the same limit, and says -R" sh -c \
    "[ $? -eq 2 ] && grep -q -- '-R 3601: too large' '$tmp/err' &&
    grep -qx 'dndparse: -r is now -R (-r goes in the next release)' '$tmp/err'"

# -- -F: follow a file across rotation; the state file --
# phone i: 10.0.A.B -> peer 1000+i, so every line is a change of its own
mkmap() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "10.0.%d.%d %d\n", i / 250, i % 250 + 1, 1000 + i }'
}
lines() {
	awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "Nov 23 10:00:00 10.0.%d.%d [0]Enable DND\n", i / 250, i % 250 + 1 }'
}
# peers seen in the output, one per line, sorted
peers() {
	sed -n 's/.*Peername=\([0-9]*\) .*/\1/p' "$@" | sort -n
}
want() {
	awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) print 1000 + i }'
}
mkmap 2000 >"$tmp/fmap"
log=$tmp/f/DND.log
mkdir "$tmp/f"
lines 1 100 >"$log"
dndparse -m "$tmp/fmap" -F "$log" -S "$tmp/state" >"$tmp/out" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
check "-F: the file as it is" wait_for 10 has_count 100 Peername "$tmp/out"
lines 101 150 >>"$log"
check "-F: lines appended later" wait_for 10 has_count 150 Peername "$tmp/out"
mv "$log" "$log.1"
lines 151 160 >>"$log.1"      # the daemon writes to the old file until it reopens
: >"$log"                      # logrotate's create
check "rename: the old file is read on while the new one is empty" \
    wait_for 10 has_count 160 Peername "$tmp/out"
lines 161 200 >>"$log"
check "rename: then the new file" wait_for 10 has_count 200 Peername "$tmp/out"
cp "$log" "$log.2"; : >"$log"  # copytruncate
lines 201 230 >>"$log"
check "copytruncate: the lines after the truncation" wait_for 10 has_count 230 Peername "$tmp/out"
kill $dp; wait $dp
st=$?
peers "$tmp/out" >"$tmp/got"; want 1 230 >"$tmp/want"
check_same "every line once, in order" "$tmp/got" "$tmp/want"
check "SIGTERM: exit 0" test $st -eq 0
check "the state file names the file and the offset" sh -c \
    "test \"\$(cut -d' ' -f2,3 '$tmp/state')\" = \"\$(stat -c '%i %s' '$log')\""

lines 231 260 >>"$log"         # while dndparse is stopped
# a name the state file's temporary copy once took, fixed: never followed
echo keep >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/state.tmp"
dndparse -m "$tmp/fmap" -F "$log" -s "$tmp/state" >"$tmp/out2" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
check "restart: the lines written while stopped" wait_for 10 has_count 30 Peername "$tmp/out2"
kill $dp; wait $dp
check "the state saved beside a link at state.tmp, the link not followed" \
    sh -c "[ \"\$(cut -d' ' -f3 '$tmp/state')\" = \$(stat -c %s '$log') ] &&
    [ -L '$tmp/state.tmp' ] && [ \"\$(cat '$tmp/victim')\" = keep ]"
rm "$tmp/state.tmp"
peers "$tmp/out2" >"$tmp/got"; want 231 260 >"$tmp/want"
check_same "restart: nothing replayed, nothing skipped" "$tmp/got" "$tmp/want"
check "(that run spelled -S the old way, -s, and was told so)" \
    grep -qx 'dndparse: -s is now -S (-s goes in the next release)' "$tmp/err"

lines 261 270 >>"$log"         # stopped, then rotated, the old file still written
mv "$log" "$log.1"
lines 271 280 >>"$log.1"
lines 281 290 >"$log"
dndparse -m "$tmp/fmap" -F "$log" -S "$tmp/state" >"$tmp/out3" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
check "rotated while stopped: the rest of the old file, then the new" \
    wait_for 10 has_count 30 Peername "$tmp/out3"
kill $dp; wait $dp
peers "$tmp/out3" >"$tmp/got"; want 261 290 >"$tmp/want"
check_same "rotated while stopped: in order, none lost or twice" "$tmp/got" "$tmp/want"
check "and nothing said about it" test ! -s "$tmp/err"

# a -F name with no directory, rotated twice while stopped: the file
# between the one read last and the new one is found too (the rotated
# names were looked for as DND.log/DND.log.1, the name taken for a
# directory, and its lines were lost)
relrun() {      # relrun OUT N: -F DND.log from $tmp/rel till N lines out
	(cd "$tmp/rel" && exec dndparse -m "$tmp/fmap" -F DND.log \
	    -S "$tmp/rstate") >"$1" 2>"$tmp/rerr" &
	dp=$!
	pids="$pids $dp"
	wait_for 10 has_count "$2" Peername "$1"
	kill $dp; wait $dp
}
mkdir "$tmp/rel"
lines 400 409 >"$tmp/rel/DND.log"
relrun "$tmp/rout" 10
(cd "$tmp/rel" && lines 410 414 >>DND.log && mv DND.log DND.log.1 &&
    lines 415 419 >DND.log && mv DND.log.1 DND.log.2 && mv DND.log DND.log.1 &&
    lines 420 424 >DND.log)
relrun "$tmp/rout2" 15
peers "$tmp/rout2" >"$tmp/got"; want 410 424 >"$tmp/want"
check_same "a relative -F rotated twice while stopped: all three files, in order" \
    "$tmp/got" "$tmp/want"

rm -f "$log" "$log".*
dndparse -m "$tmp/fmap" -F "$log" -S "$tmp/state" >"$tmp/out4" 2>"$tmp/err" &
dp=$!
pids="$pids $dp"
check "a file that is gone: said, and waited for" wait_for 10 grep -q 'does not exist yet' "$tmp/err"
lines 300 301 >"$log"
check "once it is there, read from its start" wait_for 10 has_count 2 Peername "$tmp/out4"
kill $dp; wait $dp

# -- the state file on a full disk: said once, the old one kept, tried
# again; a stop that cannot save it is exit 2 --
mkdir "$tmp/small"
if mount -t tmpfs -o size=64k tmpfs "$tmp/small"; then
	mounts="$mounts $tmp/small"
	S=$tmp/small/state
	cp "$tmp/state" "$S"
	cp "$S" "$tmp/before"
	dd if=/dev/zero of="$tmp/small/fill" bs=4k 2>/dev/null
	dndparse -m "$tmp/fmap" -F "$log" -S "$S" >"$tmp/out5" 2>"$tmp/err" &
	dp=$!
	pids="$pids $dp"
	lines 302 310 >>"$log"
	check "full disk: the lines still go out" wait_for 10 has_count 9 Peername "$tmp/out5"
	check "the state file not saved: said" wait_for 10 grep -q \
	    'small/state: not saved, the old one stays; trying again: No space left on device' "$tmp/err"
	check_same "the old state file intact" "$S" "$tmp/before"
	check "no temporary file left" test "$(ls -A "$tmp/small")" = "fill
state"
	rm "$tmp/small/fill"
	check "room again: saved, and said" wait_for 10 grep -q 'small/state: saved again' "$tmp/err"
	check "the state file names the file and the offset" \
	    test "$(cut -d' ' -f2,3 "$S")" = "$(stat -c '%i %s' "$log")"
	check "the full disk was said once" has_count 1 'not saved' "$tmp/err"
	dd if=/dev/zero of="$tmp/small/fill" bs=4k 2>/dev/null
	lines 311 311 >>"$log"
	wait_for 10 has_count 10 Peername "$tmp/out5"
	kill $dp; wait $dp
	check "a stop that cannot save the state file: exit 2" test $? -eq 2
	umount "$tmp/small"
else
	notok "full disk: a 64k tmpfs could not be mounted (run as root)"
fi
done_testing
