#!/bin/sh
# peerlist -m: the map dndparse reads (the shared peers.map), kept in
# order with its comments, rewritten only when something changed, always
# whole: a full disk leaves the old file; a bad map is not overwritten;
# writers take turns.
. "$(dirname "$0")/lib.sh"
fx=$fixtures/asterisk-20.20.1

mkdir "$tmp/m"
map=$tmp/m/peers.map
cp "$fixtures/syslog/peers.map" "$map"
chmod 644 "$map"
ino() { stat -c %i "$map"; }

# -- nothing new: the file is not even rewritten --
i0=$(ino)
echo 'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/937 PeerStatus=Reachable Address=192.168.161.6:5060' |
    peerlist -m "$map" >"$tmp/out"
check "what the map says already: 1 unchanged, 3 not seen" \
    grep -q '^0 added, 0 changed, 1 unchanged, 3 not seen$' "$tmp/out"
check_same "the file as it was" "$map" "$fixtures/syslog/peers.map"
check "and not rewritten (same inode)" test "$(ino)" = "$i0"

# -- transcript 13: three chan_sip peers moved to 127.0.0.1 --
peerlist -v -m "$map" <"$fx/13_chansip_peers.txt" >"$tmp/out"
cat >"$tmp/want" <<'EOF'
Change=changed Peer=916 Description="Sales; O'Neil" OldDescription="Sales 1" IP=127.0.0.1 OldIP=192.168.161.7
Change=changed Peer=926 IP=127.0.0.1 OldIP=192.168.161.21
Change=changed Peer=937 IP=127.0.0.1 OldIP=192.168.161.6
0 added, 3 changed, 0 unchanged, 1 not seen
EOF
check_same "transcript 13: the changes, said" "$tmp/out" "$tmp/want"
cat >"$tmp/want" <<'EOF'
# ip             peer   description
127.0.0.1        937    Reception
127.0.0.1        916    Sales; O'Neil
192.168.161.8    929    Sales 2
127.0.0.1        926    Warehouse
EOF
check_same "in place, in order, the comment kept, 929 kept" "$map" "$tmp/want"
check "a new file took the old one's place" test "$(ino)" != "$i0"
i0=$(ino)
peerlist -m "$map" <"$fx/13_chansip_peers.txt" >"$tmp/out"
check "again: 0 changed" grep -q '^0 added, 0 changed, 3 unchanged, 1 not seen$' "$tmp/out"
check "again: not rewritten" test "$(ino)" = "$i0"
{ printf '{"Event":\n'; cat "$fx/13_chansip_peers.txt"; } |
    peerlist -m "$map" >"$tmp/out" 2>"$tmp/err"
st=$?
check "a message the reader refuses: said with its line, exit 2, the rest read" sh -c \
    "[ $st -eq 2 ] && grep -q '^peerlist: stdin: line 1: ' '$tmp/err' &&
    grep -q '^0 added, 0 changed, 3 unchanged, 1 not seen$' '$tmp/out'"

# -- PJSIP: new peers at the end, an unknown IP as "-" --
peerlist -m "$map" <"$fx/08_pjsip_show_endpoints.txt" >"$tmp/out"
check "transcript 08: two peers new to the map, counted as added" \
    grep -q '^2 added, 0 changed, 0 unchanged, 4 not seen$' "$tmp/out"
peerlist -m "$map" <"$fx/09_pjsip_register_contacts.txt" >/dev/null
tail -n 2 "$map" >"$tmp/got"
printf '127.0.0.1        100    Ext 100\n-                101\n' >"$tmp/want"
check_same "transcripts 08, 09: 100 and 101 added" "$tmp/got" "$tmp/want"

# -- an unregistered peer keeps its IP --
echo 'Event=PeerStatus Privilege=system,all ChannelType=PJSIP Peer=PJSIP/100 PeerStatus=Unreachable' |
    peerlist -m "$map" >"$tmp/out"
check "unreachable: the IP stays" sh -c \
    "grep -q '^0 added, 0 changed, 1 unchanged' '$tmp/out' && grep -q '^127.0.0.1 *100 ' '$map'"

# -- dry run --
cp "$map" "$tmp/before"
echo 'Event=PeerStatus Privilege=system,all ChannelType=PJSIP Peer=PJSIP/101 PeerStatus=Reachable Address=10.0.0.101:5060' |
    peerlist -N -m "$map" >"$tmp/out"
printf 'Change=changed Peer=101 IP=10.0.0.101 OldIP=""\ndry run: 0 added, 1 changed, 0 unchanged, 5 not seen\n' >"$tmp/want"
check_same "-N: the change said" "$tmp/out" "$tmp/want"
check_same "-N: the file untouched" "$map" "$tmp/before"
echo 'Event=PeerStatus Privilege=system,all ChannelType=PJSIP Peer=PJSIP/101 PeerStatus=Reachable Address=10.0.0.101:5060' |
    peerlist -n -m "$map" >"$tmp/out" 2>"$tmp/err"
check_same "-n, the old spelling of -N: a dry run too" "$tmp/out" "$tmp/want"
check_same "-n: the file untouched" "$map" "$tmp/before"
check "and -N said on stderr" \
    grep -qx 'peerlist: -n is now -N (-n goes in the next release)' "$tmp/err"

# -- prune after a whole list only --
amicat -i "$fx/13_chansip_peers.txt" | grep 'ActionID=13-2 ' >"$tmp/sippeers"
echo 'Event=PeerStatus Privilege=system,all ChannelType=SIP Peer=SIP/916 PeerStatus=Reachable' |
    peerlist -p -m "$map" >/dev/null 2>"$tmp/err"
st=$?
check "-p with no list at all: exit 2, said" sh -c \
    "[ $st -eq 2 ] && grep -q -- '-p: no whole list in the input' '$tmp/err'"
check_same "-p refused: the file untouched" "$map" "$tmp/before"
peerlist -p -v -m "$map" <"$tmp/sippeers" >"$tmp/out"
check "-p: 929, 100, 101 pruned" sh -c "grep -q '^0 added, 0 changed, 3 unchanged, 3 not seen, 3 pruned$' '$tmp/out' &&
    [ \$(grep -c '^Change=pruned Peer=\(929\|100\|101\)' '$tmp/out') -eq 3 ]"
cat >"$tmp/want" <<'EOF'
# ip             peer   description
127.0.0.1        937    Reception
127.0.0.1        916    Sales; O'Neil
127.0.0.1        926    Warehouse
EOF
check_same "-p: the rest, and the comment" "$map" "$tmp/want"

# -- the file's mode is kept; a new file follows the umask --
chmod 640 "$map"
echo 'Event=PeerEntry Channeltype=SIP ObjectName=950 IPaddress=10.0.0.50 Status=OK Description=Lobby' |
    peerlist -m "$map" >/dev/null
check "mode 640 kept across the rewrite" test "$(stat -c %a "$map")" = 640
(umask 027; echo 'Event=PeerEntry ObjectName=1 IPaddress=10.0.0.1' | peerlist -m "$tmp/m/new.map" >/dev/null)
check "a new map: mode from the umask (640), a header line" sh -c \
    "[ \$(stat -c %a '$tmp/m/new.map') = 640 ] && head -1 '$tmp/m/new.map' | grep -q '^# ip  *peer  *description$'"

# -- one rule for a peer name: a line dndparse would skip is never written --
printf 'Event=PeerEntry ObjectName=%s IPaddress=10.0.0.%s\n' desk/2 60 Zoë 61 ok3 62 |
    peerlist -m "$tmp/m/new.map" >/dev/null 2>"$tmp/err"
check "names dndparse would skip: left out of the map, each said" sh -c \
    "! grep -q '10\.0\.0\.6[01]' '$tmp/m/new.map' && grep -q '^10\.0\.0\.62 *ok3' '$tmp/m/new.map' &&
    [ \$(grep -c 'is not 1 to 80 of' '$tmp/err') = 2 ]"
dndparse -m "$tmp/m/new.map" </dev/null 2>"$tmp/err"
check "and dndparse reads every line of it" test ! -s "$tmp/err"

# -- a full disk (the file size limit): the old file stays, whole --
{
	echo 'Response=Success EventList=start'
	seq 1 2000 | awk '{ printf "Event=PeerEntry ObjectName=p%d IPaddress=10.3.%d.%d Description=\"Desk %d\"\n", $1, $1 / 250, $1 % 250, $1 }'
	echo 'Event=PeerlistComplete EventList=Complete ListItems=2000'
} >"$tmp/bulk"
peerlist -m "$map" <"$tmp/bulk" >/dev/null
cp "$map" "$tmp/before"
sed 's/10\.3\./10.4./' "$tmp/bulk" >"$tmp/bulk2"
(trap '' XFSZ; ulimit -f 8; exec peerlist -m "$map" <"$tmp/bulk2") >"$tmp/out" 2>"$tmp/err"
st=$?
check "a write that fails: exit 2" test $st -eq 2
check "said, with the reason" grep -q \
    "peers.map: write: File too large; the file is left as it was; the changes of 2000 peers were not written" "$tmp/err"
check_same "the old map whole" "$map" "$tmp/before"
check "no temporary file left behind" test "$(ls -A "$tmp/m" | grep -c '^\.')" -eq 0

# -- a full disk, for real: ENOSPC on a small tmpfs, the same promise --
mkdir "$tmp/small"
if mount -t tmpfs -o size=256k tmpfs "$tmp/small"; then
	mounts="$mounts $tmp/small"
	cp "$tmp/before" "$tmp/small/peers.map"
	dd if=/dev/zero of="$tmp/small/fill" bs=4k 2>/dev/null
	peerlist -m "$tmp/small/peers.map" <"$tmp/bulk2" >"$tmp/out" 2>"$tmp/err"
	st=$?
	check "ENOSPC: exit 2" test $st -eq 2
	check "said, with the reason" grep -q \
	    "peers.map: .*No space left on device; the file is left as it was" "$tmp/err"
	check_same "the old map whole" "$tmp/small/peers.map" "$tmp/before"
	check "no temporary file left behind" test "$(ls -A "$tmp/small" | grep -c '^\.')" -eq 0
	rm "$tmp/small/fill"
	peerlist -m "$tmp/small/peers.map" <"$tmp/bulk2" >/dev/null
	check "room again: written" grep -q '^10\.4\.' "$tmp/small/peers.map"
	umount "$tmp/small"
else
	notok "full disk: a tmpfs could not be mounted (run as root)"
fi

# -- a map that is not a map is not overwritten --
printf '# fine\n10.0.0.1 100 ok\nlonely\n' >"$tmp/m/bad.map"
cp "$tmp/m/bad.map" "$tmp/before"
peerlist -m "$tmp/m/bad.map" <"$fx/13_chansip_peers.txt" >/dev/null 2>"$tmp/err"
st=$?
check "a bad line: exit 2, its number said" sh -c \
    "[ $st -eq 2 ] && grep -q 'bad.map:3: expected ip peer \[description\]' '$tmp/err'"
check_same "the bad map untouched" "$tmp/m/bad.map" "$tmp/before"

# -- writers take turns: none loses another's peer --
: >"$tmp/m/turns.map"
wpids=
for n in $(seq 1 12); do
	echo "Event=PeerEntry ObjectName=t$n IPaddress=10.5.0.$n Description=\"Turn $n\"" |
	    peerlist -m "$tmp/m/turns.map" >/dev/null &
	wpids="$wpids $!"
done
for p in $wpids; do wait "$p"; done
check "12 writers at once: 12 peers" test "$(grep -c '^10\.5\.0\.' "$tmp/m/turns.map")" -eq 12

# -- standard output that cannot be written fails loudly --
echo 'Event=PeerEntry ObjectName=t99 IPaddress=10.5.0.99' | peerlist -v -m "$tmp/m/turns.map" >/dev/full 2>"$tmp/err"
st=$?
check "stdout on a full disk: exit 2, said" sh -c \
    "[ $st -eq 2 ] && grep -q 'stdout: No space left on device' '$tmp/err'"

done_testing
