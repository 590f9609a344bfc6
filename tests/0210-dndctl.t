#!/bin/sh
# dndctl: the commands, the mirror actions, apply on the real Asterisk
# transcripts, PeerStatus, the reconnect marker, refused input, two
# apply processes and a shell user at once, and a full disk.
. "$(dirname "$0")/lib.sh"
fx=$fixtures/asterisk-20.20.1
L=$tmp/dnd_list

on100='Action=DBPut Family=DND Key=100 Val=YES
Action=Setvar Variable=DEVICE_STATE(Custom:DND100) Value=BUSY
Action=Setvar Variable=PRESENCE_STATE(CustomPresence:100) Value=dnd'
off100='Action=DBDel Family=DND Key=100
Action=Setvar Variable=DEVICE_STATE(Custom:DND100) Value=NOT_INUSE
Action=Setvar Variable=PRESENCE_STATE(CustomPresence:100) Value=available'

# -- the commands --
dndctl -l "$L" on 100 >"$tmp/out"
echo "$on100" >"$tmp/want"
check_same "on: the three mirror actions" "$tmp/out" "$tmp/want"
dndctl -l "$L" on 937 >/dev/null
dndctl -l "$L" on 1000 >/dev/null
printf '100\n1000\n937\n' >"$tmp/want"
check_same "the list: one peer a line, sorted byte-wise" "$L" "$tmp/want"
dndctl -l "$L" list >"$tmp/out"
check_same "list prints it" "$tmp/out" "$tmp/want"
dndctl -l "$L" status 937 >"$tmp/out"
st=$?
check "status of a listed peer: on, exit 0" sh -c "[ $st -eq 0 ] && grep -qx on '$tmp/out'"
dndctl -l "$L" off 100 >"$tmp/out"
echo "$off100" >"$tmp/want"
check_same "off: the mirror actions that clear it" "$tmp/out" "$tmp/want"
dndctl -l "$L" status 100 >"$tmp/out"
st=$?
check "status of a peer not listed: off, exit 1" sh -c "[ $st -eq 1 ] && grep -qx off '$tmp/out'"
dndctl -l "$tmp/none" status 100 >/dev/null
check "no list file at all: off, exit 1" test $? -eq 1
dndctl -l "$L" -M db sync >"$tmp/out"
printf 'Action=DBPut Family=DND Key=1000 Val=YES\nAction=DBPut Family=DND Key=937 Val=YES\n' >"$tmp/want"
check_same "sync -M db: every listed peer, AstDB only" "$tmp/out" "$tmp/want"
dndctl -l "$L" -M device,presence on 100 | grep -c Setvar >"$tmp/out"
check "-M device,presence: no DBPut" grep -qx 2 "$tmp/out"
dndctl -l "$L" -M none off 100 >"$tmp/out"
check "-M none: the list only" sh -c "test ! -s '$tmp/out' && ! grep -qx 100 '$L'"
dndctl -l "$L" -M db,phone on 100 2>"$tmp/err"
check "-M with an unknown mirror: exit 2" sh -c "[ $? -eq 2 ] && grep -q 'mirror phone' '$tmp/err'"
dndctl -l "$L" on '100)x' 2>"$tmp/err"
check "a peer name that could break DEVICE_STATE(): refused, exit 2" sh -c \
    "[ $? -eq 2 ] && grep -q 'not a peer name' '$tmp/err' && ! grep -q ')' '$L'"
dndctl -l "$L" 2>/dev/null
check "no command: usage, exit 2" test $? -eq 2
chmod 640 "$L"
dndctl -l "$L" on 555 >/dev/null
check "the list keeps its mode across a change" test "$(stat -c %a "$L")" = 640
(umask 027; dndctl -l "$tmp/new.list" on 555 >/dev/null)
check "a new list: mode from the umask (640), as any new file" \
    test "$(stat -c %a "$tmp/new.list")" = 640
printf '[dndctl]\nlist = %s\nmirror = presence\n' "$L" >"$tmp/c.conf"
dndctl -c "$tmp/c.conf" off 555 >"$tmp/out"
check "list and mirror from [dndctl] in the config" sh -c \
    "grep -q 'CustomPresence:555) Value=available' '$tmp/out' && test \$(wc -l <'$tmp/out') -eq 1 && ! grep -qx 555 '$L'"
dndctl -l "$L" list >/dev/full 2>"$tmp/err"
check "stdout on a full disk: exit 2" sh -c "[ $? -eq 2 ] && grep -q 'No space' '$tmp/err'"

# -- apply, on what the real Asterisk sent --
rm -f "$L"
amicat -i "$fx/06_dnd_dialplan_originate.txt" | dndctl -l "$L" apply >"$tmp/out"
st=$?
printf '%s\n%s\n' "$on100" "$off100" >"$tmp/want"
check "881 then 882 from the dialplan (transcript 06): on, then off" sh -c \
    "[ $st -eq 0 ] && cmp -s '$tmp/out' '$tmp/want'"
check "and the list is empty again" test ! -s "$L"
dndctl -l "$L" apply <"$fx/03_userevent_action.txt" >"$tmp/out"
check_same "the raw wire bytes of transcript 03 (UserEvent actions), read directly" "$tmp/out" "$tmp/want"
amicat -i "$fx/10_sip_call_dnd_881_882.txt" -j | dndctl -l "$L" apply >"$tmp/out"
printf '%s\n%s\n' "$on100" "$off100" >"$tmp/want"
check_same "JSON lines of a real SIP call to 881 and 882 (transcript 10)" "$tmp/out" "$tmp/want"

# -- PeerStatus, reconnect, refused input --
printf '%s\n' 'Event=UserEvent UserEvent=DND Peername=100 DND=enabled' \
    'Event=UserEvent UserEvent=DND Peername=101 DND=enabled' \
    'Event=UserEvent UserEvent=DND Peername=102 DND=disabled' \
    'Event=PeerStatus ChannelType=PJSIP Peer=PJSIP/101 PeerStatus=Unreachable' \
    'Event=PeerStatus ChannelType=PJSIP Peer=PJSIP/103 PeerStatus=Unregistered' \
    'Event=PeerStatus ChannelType=PJSIP Peer=PJSIP/100 PeerStatus=Reachable' >"$tmp/in"
rm -f "$L"
dndctl -l "$L" -M db apply <"$tmp/in" >"$tmp/out"
check "without -u PeerStatus is ignored" sh -c "printf '100\n101\n' | cmp -s - '$L'"
rm -f "$L"
dndctl -u -l "$L" -M db apply <"$tmp/in" >"$tmp/out"
printf '%s\n' 'Action=DBPut Family=DND Key=100 Val=YES' 'Action=DBPut Family=DND Key=101 Val=YES' \
    'Action=DBDel Family=DND Key=102' 'Action=DBDel Family=DND Key=101' >"$tmp/want"
check_same "-u: an unreachable peer in DND is cleared; others are left alone" "$tmp/out" "$tmp/want"
check "-u: the list" sh -c "echo 100 | cmp -s - '$L'"
printf '%s\n' 'Event=UserEvent UserEvent=DND Peername=200 DND=disabled' \
    'Event=AmitoolsReconnect Server=default Gap=2.000' | dndctl -l "$L" -M device apply >"$tmp/out"
printf '%s\n' 'Action=Setvar Variable=DEVICE_STATE(Custom:DND200) Value=NOT_INUSE' \
    'Action=Setvar Variable=DEVICE_STATE(Custom:DND100) Value=BUSY' \
    'Action=Setvar Variable=DEVICE_STATE(Custom:DND200) Value=NOT_INUSE' >"$tmp/want"
check_same "a reconnect marker: every state again, listed and known" "$tmp/out" "$tmp/want"
printf '%s\n' '{"Event":"UserEvent","UserEvent":"DND","Peername":"300\r\nAction: Originate","DND":"enabled"}' \
    'Event=UserEvent UserEvent=DND Peername=301 DND=maybe' \
    'Event=UserEvent UserEvent=DND Peername=302 DND=on' | dndctl -l "$L" apply >"$tmp/out" 2>"$tmp/err"
st=$?
check "a peer with CR LF or a bad state: refused, exit 2" sh -c \
    "[ $st -eq 2 ] && grep -q 'line 1: peer .*not a peer name' '$tmp/err' && grep -q 'line 2: a DND UserEvent needs' '$tmp/err'"
check "nothing of it in the list or the actions; the good one applied" sh -c \
    "! grep -q '30[01]' '$L' && ! grep -qi originate '$tmp/out' && grep -qx 302 '$L'"
printf '%s\n' '{"Event":"UserEvent",' \
    'Event=UserEvent UserEvent=DND Peername=303 DND=on' | dndctl -l "$L" apply >"$tmp/out" 2>"$tmp/err"
st=$?
check "a message the reader refuses: said with its line, exit 2, the next applied" sh -c \
    "[ $st -eq 2 ] && grep -q '^dndctl: line 1: ' '$tmp/err' && grep -qx 303 '$L'"

# -- two apply processes and a shell user, all at once --
rm -f "$L"
feed() {
	i=1
	while [ $i -le 150 ]; do
		echo "Event=UserEvent UserEvent=DND Peername=$1$i DND=enabled"
		i=$((i + 1))
	done
}
# a reader all along: every list it sees is whole and sorted
( while [ ! -e "$tmp/stop" ]; do
	if [ -e "$L" ]; then
		LC_ALL=C sort -c "$L" 2>/dev/null || echo unsorted
		grep -vq '^[a-c][0-9]*$' "$L" && echo torn
	fi
  done >"$tmp/reader" ) &
rp=$!
pids="$pids $rp"
feed a | dndctl -l "$L" -M none apply &
p1=$!
feed b | dndctl -l "$L" -M none apply &
p2=$!
( i=1; while [ $i -le 50 ]; do dndctl -l "$L" -M none on c$i; i=$((i + 1)); done ) &
p3=$!
wait $p1; s1=$?
wait $p2; s2=$?
wait $p3
touch "$tmp/stop"
wait $rp
{ feed a; feed b; i=1; while [ $i -le 50 ]; do echo c$i; i=$((i + 1)); done; } |
    sed 's/.*Peername=\([^ ]*\) .*/\1/' | LC_ALL=C sort >"$tmp/want"
check "two apply processes: both exit 0" test "$s1$s2" = 00
check_same "two applies and 50 shell changes at once: none lost" "$L" "$tmp/want"
check "no reader ever saw a torn or unsorted list" test ! -s "$tmp/reader"
check "no temporary file left behind" test -z "$(ls -A "$tmp" | grep '^\.dnd_list')"

# -- the list is bounded: 100,000 peers, then a clear refusal --
awk 'BEGIN { for (i = 1; i <= 100001; i++) printf "Event=UserEvent UserEvent=DND Peername=p%d DND=enabled\n", i }' |
    dndctl -l "$tmp/big" -M none apply >/dev/null 2>"$tmp/err"
check "peer 100,001: exit 2" test $? -eq 2
check "said, naming it" grep -q 'big holds 100000 peers, the most it may; p100001 not added' "$tmp/err"
check "the list holds the first 100,000" test "$(wc -l <"$tmp/big")" -eq 100000
printf 'Event=UserEvent UserEvent=DND Peername=p5 DND=disabled\nEvent=UserEvent UserEvent=DND Peername=p100001 DND=enabled\n' |
    dndctl -l "$tmp/big" -M none apply >/dev/null 2>"$tmp/err"
check "one off makes room for one on" sh -c "[ $? -eq 0 ] && grep -qx p100001 '$tmp/big' && ! grep -qx p5 '$tmp/big'"

# -- a full disk --
mkdir "$tmp/small"
if mount -t tmpfs -o size=64k tmpfs "$tmp/small"; then
	mounts="$mounts $tmp/small"
	S=$tmp/small/dnd_list
	printf '100\n937\n' >"$S"
	cp "$S" "$tmp/before"
	dd if=/dev/zero of="$tmp/small/fill" bs=4k 2>/dev/null
	dndctl -l "$S" on 555 >"$tmp/out" 2>"$tmp/err"
	st=$?
	check "full disk: on exits 2" test $st -eq 2
	check "with a clear message" grep -q 'dnd_list: the new list was not written: No space left on device; the old list is kept' "$tmp/err"
	check_same "the old list is intact" "$S" "$tmp/before"
	check "no mirror action for a change that did not happen" test ! -s "$tmp/out"
	check "no temporary file left" test -z "$(ls -A "$tmp/small" | grep '^\.')"
	echo 'Event=UserEvent UserEvent=DND Peername=556 DND=enabled' |
	    dndctl -l "$S" apply >"$tmp/out" 2>"$tmp/err"
	st=$?
	check "full disk: apply exits 2, no action, the list intact" sh -c \
	    "[ $st -eq 2 ] && test ! -s '$tmp/out' && cmp -s '$S' '$tmp/before'"
	rm "$tmp/small/fill"
	dndctl -l "$S" on 555 >/dev/null
	check "room again: the change goes through" grep -qx 555 "$S"
	umount "$tmp/small"
else
	notok "full disk: a 64k tmpfs could not be mounted (run as root)"
fi
done_testing
