#!/bin/sh
# The whole DND loop on the simulator: a SIP phone dials 881/882 (the
# dialplan's UserEvent, as in transcript 10) and an SPA phone's syslog
# line goes through "dndparse -F | amiaction"; both reach
# "amicat | dndctl apply | amiaction" and end in the same list file and
# the same mirrored actions, which reach Asterisk.  A reconnect re-sends
# every state.
. "$(dirname "$0")/lib.sh"

amisim_start a -L "$tmp/a.log" -C "$tmp/ctl"
conf=$tmp/a.conf
L=$tmp/dnd_list
mkfifo "$tmp/ev" "$tmp/acts"
amicat -c "$conf" -e UserEvent,PeerStatus,AmitoolsReconnect >"$tmp/ev" 2>"$tmp/cat.err" &
cp=$!
dndctl -u -l "$L" apply <"$tmp/ev" >"$tmp/acts" 2>"$tmp/ctl.err" &
dc=$!
tee "$tmp/acts.log" <"$tmp/acts" | amiaction -c "$conf" >"$tmp/aa.out" 2>"$tmp/aa.err" &
aa=$!
pids="$pids $cp $dc $aa"
# up once a DND event made by hand comes back through the loop
probe() {
	amiaction -c "$conf" UserEvent UserEvent=DND Peername=999 DND=enabled >/dev/null
	grep -qx 999 "$L" 2>/dev/null
}
check "amicat | dndctl apply | amiaction is up" wait_for 10 probe
amiaction -c "$conf" UserEvent UserEvent=DND Peername=999 DND=disabled >/dev/null
wait_for 10 sh -c "! test -s '$L'"

# sync points: the list says what was applied, the log what reached Asterisk
mirrored() {
	has_count "$1" 'Variable=DEVICE_STATE(Custom:DND100)' "$tmp/a.log"
}

# -- the dialplan path: a SIP call from 100 to 881, then 882 --
echo 'call-881 100 1-1@127.0.0.1 5071' >"$tmp/ctl"
check "881: 100 is in the list" wait_for 10 sh -c "echo 100 | cmp -s - '$L'"
check "881: the mirror reached Asterisk" wait_for 10 mirrored 1
cp "$L" "$tmp/list.dialplan"
cp "$tmp/acts.log" "$tmp/acts.881"
echo 'call-882 100 1-2@127.0.0.1 5071' >"$tmp/ctl"
check "882: the list is empty again" wait_for 10 sh -c "test -e '$L' && ! test -s '$L'"
check "882: the mirror reached Asterisk" wait_for 10 mirrored 2
cp "$tmp/acts.log" "$tmp/acts.882"

# -- the syslog path: an SPA phone at 127.0.0.1 is peer 100 --
echo '127.0.0.1 100 SPA phone' >"$tmp/map"
: >"$tmp/DND.log"
mkfifo "$tmp/dp"
dndparse -m "$tmp/map" -F "$tmp/DND.log" -S "$tmp/state" >"$tmp/dp" 2>"$tmp/dp.err" &
pids="$pids $!"
amiaction -c "$conf" <"$tmp/dp" >/dev/null 2>"$tmp/dpa.err" &
pids="$pids $!"
echo 'Nov 23 10:00:00 127.0.0.1 [0]Enable DND' >>"$tmp/DND.log"
check "syslog Enable DND: 100 is in the list" wait_for 10 sh -c "echo 100 | cmp -s - '$L'"
check "syslog: the mirror reached Asterisk" wait_for 10 mirrored 3
check_same "the same list file from both paths" "$L" "$tmp/list.dialplan"
tail -n 3 "$tmp/acts.log" >"$tmp/got"
tail -n 3 "$tmp/acts.881" >"$tmp/want"
check_same "the same mirrored actions from both paths (on)" "$tmp/got" "$tmp/want"
amiaction -c "$conf" DBGet Family=DND Key=100 >"$tmp/out"
check "AstDB holds DND/100 = YES" grep -q 'Event=DBGetResponse Family=DND Key=100 Val=YES' "$tmp/out"
echo 'Nov 23 10:00:05 127.0.0.1 [0]Disable DND' >>"$tmp/DND.log"
check "syslog Disable DND: the list is empty" wait_for 10 sh -c "! test -s '$L'"
check "and mirrored" wait_for 10 mirrored 4
tail -n 3 "$tmp/acts.log" >"$tmp/got"
tail -n 3 "$tmp/acts.882" >"$tmp/want"
check_same "the same mirrored actions from both paths (off)" "$tmp/got" "$tmp/want"
check "Asterisk's device state is NOT_INUSE again" sh -c \
    "tail -n 2 '$tmp/a.log' | grep -q 'DEVICE_STATE(Custom:DND100) Value=NOT_INUSE'"

# -- a reconnect: every state is sent again --
dndctl -l "$L" -M none on 101
echo kick >"$tmp/ctl"
check "after a reconnect dndctl re-sends the listed peer" wait_for 15 \
    grep -q 'DEVICE_STATE(Custom:DND101) Value=BUSY' "$tmp/a.log"
check "and the known peer that is off" wait_for 10 has_count 5 \
    'Variable=DEVICE_STATE(Custom:DND100)' "$tmp/a.log"
check "nothing went wrong on the way" sh -c \
    "test ! -s '$tmp/ctl.err' && test ! -s '$tmp/dp.err' && test ! -s '$tmp/dpa.err'"
kill $cp
wait $cp
wait $dc
st=$?
wait $aa
check "amicat stopped: dndctl ends with exit 0, amiaction delivered all" sh -c \
    "[ $st -eq 0 ] && [ $? -ne 2 ]"
amisim_stop a
done_testing
