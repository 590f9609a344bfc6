#!/bin/sh
# Device and presence state across three servers, run from the shipped
# units scripts/amitools-mesh-*.service: one change makes exactly one
# Setvar on each other server and never comes back; presence echoes are
# dropped by -E but a genuine flip-flop passes; a server killed and
# restarted is resynced by amicat -s; 1,000 random changes converge.
. "$(dirname "$0")/lib.sh"

# -- statemerge alone: Asterisk's aggregation, from recorded messages --
merge() {
	printf 'Event=FullyBooted Server=%s\n' a b c
	for _l in "$@"; do
		set -- $_l
		printf 'Event=DeviceStateChange Device=PJSIP/100 State=%s Server=%s\n' "$2" "$1"
	done
}
last() { sed -n "s/.*PJSIP-100) Value=\([A-Z_]*\) Server=$1\$/\1/p" | tail -1; }
check "NOT_INUSE on a, UNAVAILABLE on b: c shows NOT_INUSE" test \
    "$(merge 'a NOT_INUSE' 'b UNAVAILABLE' | statemerge | last c)" = NOT_INUSE
check "whatever order they come in" test \
    "$(merge 'b UNAVAILABLE' 'a NOT_INUSE' 'b UNKNOWN' | statemerge | last c)" = NOT_INUSE
check "RINGING on a and BUSY on b: RINGINUSE on c" test \
    "$(merge 'a RINGING' 'b BUSY' | statemerge | last c)" = RINGINUSE
check "ONHOLD over RINGING? no: RINGINUSE (on hold is in use)" test \
    "$(merge 'a ONHOLD' 'b RINGING' | statemerge | last c)" = RINGINUSE
check "INUSE over NOT_INUSE" test \
    "$(merge 'a NOT_INUSE' 'b INUSE' | statemerge | last c)" = INUSE
check "a's own mirror: what b and c say" test \
    "$(merge 'a INUSE' 'b UNAVAILABLE' 'c NOT_INUSE' | statemerge | last a)" = NOT_INUSE
check "a Shutdown of a: its INUSE says nothing any more" test \
    "$( (merge 'a INUSE' 'b UNAVAILABLE'; echo 'Event=Shutdown Server=a') |
    statemerge | last c)" = UNAVAILABLE
check "a list after a's FullyBooted that no longer names it: swept" test \
    "$( (merge 'a INUSE' 'b NOT_INUSE'; echo 'Event=FullyBooted Server=a'
    echo 'Event=DeviceStateListComplete Server=a') | statemerge | last c)" = NOT_INUSE
check "Custom: and MWI: devices are never merged" test -z \
    "$(printf '%s\n' 'Event=DeviceStateChange Device=Custom:PJSIP-1 State=INUSE Server=a' \
    'Event=DeviceStateChange Device=MWI:1@default State=INUSE Server=b' | statemerge)"
# the bus hands out a's states before c's agent has said anything: c's
# mirror is set as soon as c is heard of (statemerge -H c, as an agent)
check "a server first heard of after the others' states gets their mirrors" test \
    "$(printf '%s\n' 'Event=DeviceStateChange Device=PJSIP/100 State=INUSE Server=a Session=s1' \
    'Event=AmitoolsUp Server=a Session=s1' 'Event=AmitoolsUp Server=c Session=s3' |
    statemerge -H c | last c)" = INUSE
check "a device name that could break the Setvar is refused" sh -c \
    "printf 'Event=DeviceStateChange Device=PJSIP/1),x State=INUSE Server=a\n' |
    statemerge 2>'$tmp/sm.err' | grep -q . && exit 1; grep -q 'not a device name' '$tmp/sm.err'"

for s in pbx1 pbx2 pbx3; do
	amisim_start $s -C "$tmp/$s.ctl" -L "$tmp/$s.log"
done
# the shipped units name their servers pbx1..3 and read ~/.amitools.conf
conf=$tmp/.amitools.conf
cp "$tmp/pbx1.conf" "$conf"
printf '[pbx1]\nport = %s\n[pbx2]\nport = %s\n[pbx3]\nport = %s\n' \
    "$port_pbx1" "$port_pbx2" "$port_pbx3" >>"$conf"
HOME=$tmp
export HOME

# ctl SERVER COMMAND: the simulator's control channel (a state change made
# on that server, as a phone or the dialplan would make it)
ctl() {
	_s=$1
	shift
	echo "$*" >"$tmp/$_s.ctl"
}

# start_unit NAME: scripts/amitools-mesh-NAME.service, as unit_start runs it
start_unit() {
	unit_start "$1" "$top/scripts/amitools-mesh-$1.service"
}

# getstate SERVER DEVICE...: "DEVICE STATE" lines, Getvar DEVICE_STATE
getstate() {
	_s=$1
	shift
	for _d in "$@"; do
		printf 'Action=Getvar Variable=DEVICE_STATE(%s)\n' "$_d"
	done | amiaction -H "$_s" -j |
	    sed -n 's/.*"Variable":"DEVICE_STATE(\([^)]*\))","Value":"\([A-Z_]*\)".*/\1 \2/p'
}

# is SERVER DEVICE STATE: DEVICE_STATE(DEVICE) on SERVER is STATE now
is() {
	test "$(getstate "$1" "$2")" = "$2 $3"
}

# are DEVICE STATE SERVER...: is, on each SERVER
are() {
	_d=$1
	_st=$2
	shift 2
	for _s in "$@"; do is "$_s" "$_d" "$_st" || return 1; done
}

# restart SERVER [CONTROL LINE]: kill its amisim and start a new one on
# the same port (its state lost, as in a real restart); the control line
# is in its fifo before it listens, like state Asterisk kept on disk
restart() {
	_s=$1
	shift
	amisim_stop "$_s"
	mv "$tmp/$_s.log" "$tmp/$_s.$(date +%s%N).log"
	if [ $# -gt 0 ]; then
		(echo "$*" >"$tmp/$_s.ctl") &
	fi
	eval "SIMPORT=\$port_$_s amisim_start $_s -C '$tmp/$_s.ctl' -L '$tmp/$_s.log'"
}

# everywhere CONTROL WANT: the control line CONTROL on every server, then
# wait until each of the other two has logged WANT (@ in both: the name
# of the server it was made on): whatever the servers sent before it has
# been forwarded
everywhere() {
	for s in pbx1 pbx2 pbx3; do ctl $s "$(echo "$1" | sed "s/@/$s/g")"; done
	for s in pbx1 pbx2 pbx3; do
		for o in pbx1 pbx2 pbx3; do
			[ $s = $o ] && continue
			wait_for 20 grep -q "$(echo "$2" | sed "s/@/$o/g")" \
			    "$tmp/$s.log" || return 1
		done
	done
}

# a sentinel device change on every server reached the other two
settle() {
	_v=$(($(cat "$tmp/settle" 2>/dev/null || echo 0) + 1))
	echo $_v >"$tmp/settle"
	everywhere "devstate PJSIP/9$_v@ INUSE" "Custom:PJSIP-9$_v@) Value=INUSE"
}

start_unit device
start_unit presence

# the presence pipeline likewise, a sentinel presentity (each server's
# FullyBooted came before it: one that came after a change would rightly
# set that change again)
pipelines_up() {
	settle && everywhere "presence CustomPresence:9@ available,," \
	    "PRESENCE_STATE(CustomPresence:9@) Value=available"
}

check "both pipelines up on all three servers" pipelines_up

# -- one device change: exactly one Setvar on each other server --
ctl pbx1 devstate PJSIP/100 INUSE
check "PJSIP/100 INUSE on pbx1 reaches pbx2 and pbx3" wait_for 10 sh -c \
    "grep -q 'Custom:PJSIP-100) Value=INUSE' '$tmp/pbx2.log' &&
     grep -q 'Custom:PJSIP-100) Value=INUSE' '$tmp/pbx3.log'"
settle
check "exactly once on pbx2" has_count 1 'Custom:PJSIP-100) Value=INUSE' "$tmp/pbx2.log"
check "exactly once on pbx3" has_count 1 'Custom:PJSIP-100) Value=INUSE' "$tmp/pbx3.log"
check "and never back to pbx1" has_count 0 'Custom:PJSIP-100) Value=INUSE' "$tmp/pbx1.log"

# -- presence: the echo of what was copied is dropped, news is not --
ctl pbx1 presence CustomPresence:100 dnd,Busy,Meeting
check "presence dnd on pbx1 reaches pbx2 and pbx3" wait_for 10 sh -c \
    "grep -q 'PRESENCE_STATE(CustomPresence:100) Value=dnd,Busy,Meeting' '$tmp/pbx2.log' &&
     grep -q 'PRESENCE_STATE(CustomPresence:100) Value=dnd,Busy,Meeting' '$tmp/pbx3.log'"
settle
check "the echoes from pbx2 and pbx3 went nowhere: nothing back to pbx1" \
    has_count 0 'PRESENCE_STATE(CustomPresence:100)' "$tmp/pbx1.log"
check "and pbx2 got it once" \
    has_count 1 'PRESENCE_STATE(CustomPresence:100) Value=dnd' "$tmp/pbx2.log"
ctl pbx2 presence CustomPresence:100 available,,
ctl pbx2 presence CustomPresence:100 away,Lunch,
check "a flip-flop on pbx2 within a second: both changes reach pbx1 in order" \
    wait_for 10 sh -c "grep -o 'CustomPresence:100) Value=[a-z]*' '$tmp/pbx1.log' |
    tr '\n' ' ' | grep -q 'Value=available .*Value=away'"
settle
check "once each on pbx3, nothing back to pbx2" sh -c "
    [ \$(grep -c 'CustomPresence:100) Value=available' '$tmp/pbx3.log') -eq 1 ] &&
    [ \$(grep -c 'CustomPresence:100) Value=away' '$tmp/pbx3.log') -eq 1 ] &&
    [ \$(grep -c 'CustomPresence:100) Value=\(available\|away\)' '$tmp/pbx2.log') -eq 0 ]"

# -- pbx2 dies; the others go on; pbx2 comes back and is resynced --
amisim_stop pbx2
ctl pbx3 devstate PJSIP/300 BUSY
check "with pbx2 down, a change on pbx3 still reaches pbx1" \
    wait_for 10 grep -q 'Custom:PJSIP-300) Value=BUSY' "$tmp/pbx1.log"
mv "$tmp/pbx2.log" "$tmp/pbx2.old.log"
SIMPORT=$port_pbx2 amisim_start pbx2 -C "$tmp/pbx2.ctl" -L "$tmp/pbx2.log"
check "the restarted pbx2 gets the change it missed" \
    wait_for 20 grep -q 'Custom:PJSIP-300) Value=BUSY' "$tmp/pbx2.log"
check "and, from the lists, states that did not change meanwhile" \
    wait_for 20 grep -q 'Custom:PJSIP-100) Value=INUSE' "$tmp/pbx2.log"
check "amicat asked the restarted pbx2 for its lists" \
    wait_for 10 grep -q 'Action=DeviceStateList' "$tmp/pbx2.log"
check "amicat said it reconnected" grep -q 'pbx2: reconnected after' "$tmp/device.1.err"

# -- the issue's restart cases --
# phone 100 registered and idle on pbx1; pbx2 and pbx3 list it UNAVAILABLE
ctl pbx1 devstate PJSIP/100 NOT_INUSE
check "PJSIP/100 idle on pbx1: its mirror on pbx2 and pbx3 says so" \
    wait_for 10 are Custom:PJSIP-100 NOT_INUSE pbx2 pbx3
check "and pbx1's own mirror joins the others: UNAVAILABLE" is pbx1 Custom:PJSIP-100 UNAVAILABLE
restart pbx3
check "pbx3 restarted: its mirror is set again, from the table" \
    wait_for 20 is pbx3 Custom:PJSIP-100 NOT_INUSE
check "its list (PJSIP/100 UNAVAILABLE) was taken" \
    wait_for 10 grep -q 'Action=DeviceStateList' "$tmp/pbx3.log"
settle
check "the lists of the resync did not overwrite the truth: pbx2 still NOT_INUSE" \
    is pbx2 Custom:PJSIP-100 NOT_INUSE
check "nor pbx3" is pbx3 Custom:PJSIP-100 NOT_INUSE
check "pbx1 still UNAVAILABLE" is pbx1 Custom:PJSIP-100 UNAVAILABLE

# ringing on pbx2 and in use on pbx1: pbx3 shows what a hint would
ctl pbx1 devstate PJSIP/100 INUSE
ctl pbx2 devstate PJSIP/100 RINGING
check "INUSE on pbx1 and RINGING on pbx2 are RINGINUSE on pbx3" \
    wait_for 10 is pbx3 Custom:PJSIP-100 RINGINUSE
check "pbx2 sees pbx1's INUSE over pbx3's UNAVAILABLE" is pbx2 Custom:PJSIP-100 INUSE
check "pbx1 sees pbx2's RINGING" is pbx1 Custom:PJSIP-100 RINGING
ctl pbx2 devstate PJSIP/100 UNAVAILABLE

# a server comes back with a stale Custom: state Asterisk kept on disk
restart pbx2 devstate Custom:PJSIP-100 BUSY quiet
check "a restarted pbx2 that kept a stale mirror is set right" \
    wait_for 20 is pbx2 Custom:PJSIP-100 INUSE

# the pipeline itself restarts; meanwhile a change and a stale mirror
unit_stop device
ctl pbx1 devstate PJSIP/100 ONHOLD
ctl pbx3 devstate Custom:PJSIP-100 RINGING quiet
start_unit device
check "after a restart of the pipeline every mirror converges" \
    wait_for 20 are Custom:PJSIP-100 ONHOLD pbx2 pbx3
check "and the home server's mirror too" is pbx1 Custom:PJSIP-100 UNAVAILABLE

# presence: a restarted server's stale value loses to the live servers'
restart pbx3 presenceq CustomPresence:100 dnd,Busy,Stale
check "a restarted pbx3 is given the live value" wait_for 20 grep -q \
    'PRESENCE_STATE(CustomPresence:100) Value=away,Lunch,' "$tmp/pbx3.log"
settle
check "its stale value went nowhere" sh -c "
    ! grep -q 'Value=dnd,Busy,Stale' '$tmp/pbx1.log' '$tmp/pbx2.log'"
ctl pbx3 presence CustomPresence:100 xa,Gone,Home
check "and a genuine change on it afterwards still goes out" wait_for 10 sh -c \
    "grep -q 'CustomPresence:100) Value=xa,Gone,Home' '$tmp/pbx1.log' &&
     grep -q 'CustomPresence:100) Value=xa,Gone,Home' '$tmp/pbx2.log'"

# -- 1,000 random changes, each device living on one server, converge --
awk 'BEGIN {
	srand(7)
	split("NOT_INUSE INUSE BUSY RINGING ONHOLD UNAVAILABLE", st, " ")
	for (i = 0; i < 1000; i++) {
		d = int(rand() * 30)
		printf "pbx%d devstate PJSIP/5%02d %s\n", d % 3 + 1, d, st[int(rand() * 6) + 1]
	}
}' >"$tmp/changes"
for s in pbx1 pbx2 pbx3; do
	grep "^$s " "$tmp/changes" | cut -d' ' -f2- >"$tmp/$s.changes"
	cat "$tmp/$s.changes" >"$tmp/$s.ctl"
done
check "the mesh settles after 1,000 changes" settle
# the last state of each device on its own server, then what the other two
# servers have for its Custom: mirror
for s in pbx1 pbx2 pbx3; do
	awk '{ last[$2] = $3 } END { for (d in last) print d, last[d] }' \
	    "$tmp/$s.changes"
done | sed 's,/,-,' | sort >"$tmp/want"
: >"$tmp/got.all"
for s in pbx1 pbx2 pbx3; do
	sed 's/ .*//' "$tmp/want" | while read -r d; do
		home=pbx$(( $(echo "$d" | sed 's/PJSIP-5//; s/^0//') % 3 + 1))
		[ "$home" = "$s" ] && continue
		printf 'Action=Getvar Variable=DEVICE_STATE(Custom:%s)\n' "$d"
	done | amiaction -H "$s" -j |
	    sed -n 's/.*"Variable":"DEVICE_STATE(Custom:\([^)]*\))","Value":"\([A-Z_]*\)".*/\1 \2/p' \
	    >>"$tmp/got.all"
done
sort -u "$tmp/got.all" >"$tmp/got"
check "each mirror holds its device's last state, on both other servers" \
    sh -c "[ \$(wc -l <'$tmp/got.all') -eq \$((2 * \$(wc -l <'$tmp/want'))) ]"
check_same "and they agree" "$tmp/got" "$tmp/want"

done_testing
