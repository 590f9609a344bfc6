#!/bin/sh
# Home automation on the bus: scripts/amitools-mqtt-ha@.service for pbx1
# on a real mosquitto on loopback, mosquitto_sub and mosquitto_pub as the
# home-automation system, amisim as Asterisk (its -L log: what reached it).
. "$(dirname "$0")/lib.sh"

broker_start mq
mqport=$(cat "$tmp/mq.mqport")

amisim_start pbx1 -C "$tmp/pbx1.ctl" -L "$tmp/pbx1.log"
umask 077
printf '[default]\nhost = 127.0.0.1\nusername = tester\nsecret = testpass\n[pbx1]\nport = %s\n[mqtt]\nport = %s\nactions = Setvar,UserEvent\n' \
    "$port_pbx1" "$mqport" >"$tmp/.amitools.conf"
umask 022

ctl() { echo "$*" >"$tmp/pbx1.ctl"; }
# topic TOPIC WANT: the retained payload of TOPIC is WANT
topic() {
	[ "$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$mqport" -t "$1" -C 1 -W 1 2>/dev/null)" = "$2" ]
}
# becomes TOPIC WANT: it is so within about 20 s (a subscription waits
# up to 1 s for a topic that is not there yet: no wait_for around it)
becomes() {
	for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		topic "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}
pub() {
	mosquitto_pub -q 1 -h 127.0.0.1 -p "$mqport" -t amitools/pbx1/ha/action "$@"
}
# refused TEXT: amimqtt said TEXT on stderr
refused() { wait_for 10 grep -qF -- "$1" "$tmp/ha.2.err"; }
# reached TEXT: amisim was sent an action holding TEXT
reached() { wait_for 10 grep -qF -- "$1" "$tmp/pbx1.log"; }

ctl devstate PJSIP/100 INUSE
unit_start ha "$top/scripts/amitools-mqtt-ha@.service" pbx1 "$tmp"
check "the link says online, retained" becomes amitools/pbx1/ha/status online
check "a device's state at start, retained, plain: INUSE" \
    becomes amitools/pbx1/ha/device/PJSIP/100 INUSE
ctl devstate PJSIP/100 NOT_INUSE
check "and its change" becomes amitools/pbx1/ha/device/PJSIP/100 NOT_INUSE
ctl presence CustomPresence:100 away,Lunch,
check "presence likewise: the status" becomes amitools/pbx1/ha/presence/CustomPresence:100 away

# -- actions: only those [mqtt] actions names, only as one message --
pub -m 'Action=Setvar Variable=HA_ONE Value=one-line'
check "an allowed action in one line reaches pbx1" reached 'Variable=HA_ONE Value=one-line'
pub -m '{"Action":"Setvar","Variable":"HA_JSON","Value":"json","ActionID":"mine-7"}'
check "an allowed action in JSON reaches pbx1" reached 'Variable=HA_JSON Value=json'
check "and the user's ActionID comes back in amiaction's answer" \
    wait_for 10 grep -q 'mine-7' "$tmp/ha.out"
pub -m 'Action=Command Command="core stop now"'
check "an action not allowed is refused, by name" \
    refused 'amitools/pbx1/ha/action: Action Command is not in [mqtt] actions; refused'
pub -m "$(printf 'Action=Setvar Variable=HA_CR Value=x\r\nAction: Command')"
check "a raw line break in the payload is refused" refused 'a line break in the payload; refused'
pub -m 'Action=Setvar Variable=HA_ESC Value="x\r\nAction: Command"'
check "an escaped CR/LF (a header smuggled in a value) is refused" \
    refused 'value of Value contains a line break (CR/LF); refused, it would inject AMI headers'
pub -m '{"Action":"Setvar","Variable":"HA_JCR","Value":"x\r\nAction: Command"}'
check "and the same in JSON" wait_for 10 sh -c "[ \$(grep -c 'would inject' '$tmp/ha.2.err') -eq 2 ]"
pub -m 'Action=Setvar Action=Command Variable=HA_TWO Value=x'
check "two Actions in one payload are refused" refused 'more than one Action; refused'
pub -m '["Action","Setvar","Variable","HA_ARR"]'
check "a JSON payload that is not an object is refused" \
    refused 'a JSON payload that is not an object; refused'
head -c 5000 /dev/zero | tr '\0' x | sed 's/^/Action=Setvar Variable=HA_BIG Value=/' >"$tmp/big"
pub -f "$tmp/big"
check "an oversized payload is refused" refused 'bytes, over 4096; refused'
# a last allowed action: once it is there, every refused one before it
# had its chance to arrive
pub -m 'Action=Setvar Variable=HA_LAST Value=last'
check "the link still takes allowed actions" reached 'Variable=HA_LAST Value=last'
check "no refused action reached pbx1" sh -c \
    "! grep -q 'Command\|HA_CR\|HA_ESC\|HA_JCR\|HA_TWO\|HA_ARR\|HA_BIG' '$tmp/pbx1.log'"
check "nothing refused reached amimqtt's stdout: amiaction refused nothing" \
    sh -c "! grep -q . '$tmp/ha.3.err'"

# -- events of -e, as JSON, on ha/event/EVENT/USEREVENT --
: >"$tmp/events"
mosquitto_sub -h 127.0.0.1 -p "$mqport" -t amitools/pbx1/ha/status \
    -t 'amitools/pbx1/ha/event/#' -v -W 20 >"$tmp/events" 2>/dev/null &
pids="$pids $!"
wait_for 10 grep -q online "$tmp/events"
pub -m 'Action=UserEvent UserEvent=Doorbell Where=front'
check "a UserEvent (allowed as an action too) is published as JSON" \
    wait_for 10 grep -q '^amitools/pbx1/ha/event/UserEvent/Doorbell {.*"Where":"front".*}$' "$tmp/events"
check "with the server in it" grep -q '"Server":"pbx1"' "$tmp/events"

unit_stop ha
check "a link that ends says offline" becomes amitools/pbx1/ha/status offline
# a retained action left on the broker while no link runs: the next
# link must not take it (nor every link after it, at each reconnect)
pub -r -m 'Action=Setvar Variable=HA_RET Value=retained'
# a link killed -9 (no DISCONNECT): the broker publishes its Last Will
unit_start ha2 "$top/scripts/amitools-mqtt-ha@.service" pbx1 "$tmp"
becomes amitools/pbx1/ha/status online
check "a retained action is refused when a link subscribes" \
    wait_for 10 grep -qF 'a retained action, which would be taken again at every reconnect; refused' "$tmp/ha2.2.err"
check "and never reached pbx1" sh -c "! grep -q HA_RET '$tmp/pbx1.log'"
pub -r -n
kill -9 "$(sed -n 2p "$tmp/ha2.pids")"
check "a link killed -9: its Will says offline" \
    becomes amitools/pbx1/ha/status offline
unit_stop ha2

# -- -j: the states as JSON objects, on a prefix of its own; all it
# publishes seen by a subscriber that is there before (its retained
# marker came), until its offline, published last --
mosquitto_pub -q 1 -h 127.0.0.1 -p "$mqport" -r -t ha-json/marker -m here
: >"$tmp/jsub"
mosquitto_sub -h 127.0.0.1 -p "$mqport" -t 'ha-json/#' -v -W 30 >"$tmp/jsub" 2>/dev/null &
pids="$pids $!"
wait_for 10 grep -q 'ha-json/marker here' "$tmp/jsub"
{
	echo 'Event=DeviceStateChange Device=PJSIP/101 State=RINGING'
	echo 'Event=PresenceStateChange Presentity=101 Status=dnd Subtype= Message=Busy'
	echo 'Event=Newchannel Channel=PJSIP/101-1'
	echo 'Event=DeviceStateChange Device=PJSIP/1+2 State=INUSE'
	echo 'Event=DeviceStateChange Device= State=INUSE'
} | HOME=$tmp timeout 20 amimqtt -A -j -T ha-json -H pbx1 >"$tmp/j.out" 2>"$tmp/j.err"
check "-j: a device's state is a JSON object" topic ha-json/pbx1/ha/device/PJSIP/101 \
    '{"server":"pbx1","device":"PJSIP/101","state":"RINGING"}'
check "and presence" topic ha-json/pbx1/ha/presence/101 \
    '{"server":"pbx1","presentity":"101","status":"dnd","subtype":"","message":"Busy"}'
wait_for 10 grep -q 'ha-json/pbx1/ha/status offline' "$tmp/jsub"
check "an event not in -e is not published" sh -c "! grep -q Newchannel '$tmp/jsub'"
check "a device named with a wildcard, or no name, has no topic: said" \
    test "$(grep -c 'no topic for that name; not published' "$tmp/j.err")" -eq 2
check "and not published" sh -c "! grep -q 'device/PJSIP/1+2\|device/ ' '$tmp/jsub'"
check "amimqtt -A wrote nothing on stdout, said nothing else" sh -c \
    "! grep -q . '$tmp/j.out' && [ \$(wc -l <'$tmp/j.err') -eq 2 ]"

HOME=$tmp amimqtt -j -H pbx1 </dev/null 2>"$tmp/err"
check "-j without -A: exit 2, said" sh -c "[ $? -eq 2 ] && grep -q 'with -A' '$tmp/err'"

# SIGHUP (a closed terminal) ends a link as SIGTERM does, not as a kill
mkfifo "$tmp/hup.in"
HOME=$tmp amimqtt -A -H pbx8 <"$tmp/hup.in" >/dev/null 2>"$tmp/hup.err" &
hp=$!
exec 8>"$tmp/hup.in"
becomes amitools/pbx8/ha/status online
kill -HUP $hp
reap $hp 20
check "SIGHUP ends a link: exit 0, not killed" test $? -eq 0
exec 8>&-
check "and it says offline" becomes amitools/pbx8/ha/status offline

# the reader went away (stdout a pipe closed before the start): the first
# line amimqtt writes, its own status from the bus, meets EPIPE in
# libmosquitto's thread, which blocks SIGPIPE; it must still end as a
# pipeline's writer does, killed by SIGPIPE, nothing said
python3 -c 'import os, subprocess, sys
r, w = os.pipe(); os.close(r)
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=w)
try:
    sys.exit(-p.wait(timeout=20))
except subprocess.TimeoutExpired:
    p.kill(); sys.exit(99)' \
    env HOME="$tmp" amimqtt -H pbx9 2>"$tmp/err"
check "into a closed pipe: killed by SIGPIPE, nothing said" sh -c \
    "[ $? -eq 13 ] && [ ! -s '$tmp/err' ]"

done_testing
