#!/bin/sh
# Device state on an MQTT bus: five servers, each with the agent of
# scripts/amitools-mqtt-device@.service, at two sites (pbx1-3 on broker A,
# pbx4-5 on broker B) joined by a mosquitto bridge through a TCP relay the
# test can cut.  Real mosquitto brokers on loopback; amisim as Asterisk.
. "$(dirname "$0")/lib.sh"

# relay: broker B's bridge reaches A through socat, so the test can cut it
relay_start() {
	socat TCP-LISTEN:"$(cat "$tmp/relay.port")",bind=127.0.0.1,reuseaddr,fork \
	    TCP:127.0.0.1:"$(cat "$tmp/A.mqport")" 2>>"$tmp/relay.err" &
	pid_relay=$!
	pids="$pids $!"
}

# the relay and the connections it forked, by their parent's PID
relay_stop() {
	pkill -P "$pid_relay" 2>/dev/null
	kill "$pid_relay" 2>/dev/null
	wait "$pid_relay" 2>/dev/null
	return 0
}

servers="pbx1 pbx2 pbx3 pbx4 pbx5"
site() { case $1 in pbx[123]) echo A ;; *) echo B ;; esac; }

broker_start A
freeport >"$tmp/relay.port"
relay_start
broker_start B "connection siteA" \
    "address 127.0.0.1:$(cat "$tmp/relay.port")" "topic amitools/# both 1" \
    "cleansession false" "restart_timeout 1 2" "try_private true"

# each site's agents read ~/.amitools.conf of their own HOME: its servers
# and its broker
for s in $servers; do
	amisim_start $s -C "$tmp/$s.ctl" -L "$tmp/$s.log"
done
for site in A B; do
	mkdir -p "$tmp/home$site"
	umask 077
	{
		printf '[default]\nhost = 127.0.0.1\nusername = tester\nsecret = testpass\n'
		for s in $servers; do eval "printf '[%s]\nport = %s\n' $s \$port_$s"; done
		printf '[mqtt]\nport = %s\n' "$(cat "$tmp/$site.mqport")"
	} >"$tmp/home$site/.amitools.conf"
	umask 022
done

# agent_start SERVER: the unit for that instance (unit_start), HOME its site's
agent_start() {
	unit_start "$1" "$top/scripts/amitools-mqtt-device@.service" "$1" \
	    "$tmp/home$(site "$1")"
}

ctl() {
	_s=$1
	shift
	echo "$*" >"$tmp/$_s.ctl"
}

# is SERVER DEVICE STATE: DEVICE_STATE(DEVICE) on SERVER now
is() {
	_v=$(printf 'Action=Getvar Variable=DEVICE_STATE(%s)\n' "$2" |
	    HOME=$tmp/home$(site "$1") amiaction -H "$1" -j 2>/dev/null |
	    sed -n 's/.*"Value":"\([A-Z_]*\)".*/\1/p')
	test "$_v" = "$3"
}

# are DEVICE STATE SERVER...
are() {
	_d=$1
	_st=$2
	shift 2
	for _s in "$@"; do is "$_s" "$_d" "$_st" || return 1; done
}

# restart SERVER: a new amisim on its port, its state lost
restart() {
	amisim_stop "$1"
	mv "$tmp/$1.log" "$tmp/$1.$(date +%s%N).log"
	eval "SIMPORT=\$port_$1 amisim_start $1 -C '$tmp/$1.ctl' -L '$tmp/$1.log'"
}

# a sentinel change on every server, then wait until each mirror of it is
# set on the other four
settle() {
	_v=$(($(cat "$tmp/settle" 2>/dev/null || echo 0) + 1))
	echo $_v >"$tmp/settle"
	for s in $servers; do ctl $s "devstate PJSIP/9$_v$s INUSE"; done
	for s in $servers; do
		for o in $servers; do
			[ $s = $o ] && continue
			wait_for 30 grep -q "Custom:PJSIP-9$_v$o) Value=INUSE" \
			    "$tmp/$s.log" && continue
			echo "# $s never set the mirror of $o's PJSIP/9$_v$o"
			return 1
		done
	done
}

for s in $servers; do agent_start $s; done
check "five agents at two bridged sites: every change reaches every server" settle

# -- the truth: phone 100 idle on pbx1, UNAVAILABLE on the other four --
ctl pbx1 devstate PJSIP/100 NOT_INUSE
check "PJSIP/100 idle on pbx1 shows on the four others, across the bridge" \
    wait_for 20 are Custom:PJSIP-100 NOT_INUSE pbx2 pbx3 pbx4 pbx5
check "pbx1's own mirror joins the others: UNAVAILABLE" \
    wait_for 10 is pbx1 Custom:PJSIP-100 UNAVAILABLE
check "the states are retained per server and device on the broker" sh -c \
    "mosquitto_sub -h 127.0.0.1 -p $(cat "$tmp/B.mqport") -t 'amitools/pbx1/device/PJSIP/100' \
    -C 1 -W 5 | grep -q 'State=NOT_INUSE'"

# -- a server restarts: the lists it gives do not overwrite the truth --
restart pbx4
check "pbx4 restarted: its mirror is set again" \
    wait_for 30 is pbx4 Custom:PJSIP-100 NOT_INUSE
settle
check "and the others still say NOT_INUSE" are Custom:PJSIP-100 NOT_INUSE pbx2 pbx3 pbx5

# -- an agent killed -9: its Last Will marks its states gone --
ctl pbx2 devstate PJSIP/200 INUSE
check "PJSIP/200 in use on pbx2 shows on pbx5" wait_for 20 is pbx5 Custom:PJSIP-200 INUSE
kill -9 "$(sed -n 2p "$tmp/pbx2.pids")"
check "amimqtt of pbx2 killed -9: the Last Will makes pbx5 drop it" \
    wait_for 60 is pbx5 Custom:PJSIP-200 UNAVAILABLE
check "and pbx1 too" wait_for 10 is pbx1 Custom:PJSIP-200 UNAVAILABLE
unit_stop pbx2
agent_start pbx2
check "pbx2's agent back: PJSIP/200 INUSE again on pbx5" \
    wait_for 30 is pbx5 Custom:PJSIP-200 INUSE

# -- broker A restarted (persistence): pbx1-3's agents reconnect; the Will
# of each lost connection must not undo the Up of the next one --
broker_stop A
ctl pbx2 devstate PJSIP/200 BUSY
broker_start A
check "broker A back: pbx2's change made while it was down reaches pbx5" \
    wait_for 60 is pbx5 Custom:PJSIP-200 BUSY
check "and pbx1 and pbx3" wait_for 30 are Custom:PJSIP-200 BUSY pbx1 pbx3
check "the bus settles after the broker's restart" settle
check "pbx2's states still count afterwards (not marked gone)" \
    are Custom:PJSIP-200 BUSY pbx1 pbx3 pbx4 pbx5

# -- the bridge is cut while states change at both sites, then healed --
relay_stop
ctl pbx1 devstate PJSIP/100 INUSE
ctl pbx5 devstate PJSIP/500 RINGING
check "during the cut, site A sees pbx1's change" wait_for 20 is pbx3 Custom:PJSIP-100 INUSE
check "and site B pbx5's" wait_for 20 is pbx4 Custom:PJSIP-500 RINGING
check "but site B has not seen pbx1's" is pbx4 Custom:PJSIP-100 NOT_INUSE
relay_start
check "healed: site B gets pbx1's change" wait_for 60 are Custom:PJSIP-100 INUSE pbx4 pbx5
check "and site A pbx5's" wait_for 30 are Custom:PJSIP-500 RINGING pbx1 pbx2 pbx3

# -- presence on the same bus: the unit of amitools-mqtt-presence@ on
# pbx1, pbx2 (site A) and pbx4 (site B) --
for s in pbx1 pbx2 pbx4; do
	unit_start "p$s" "$top/scripts/amitools-mqtt-presence@.service" "$s" \
	    "$tmp/home$(site "$s")"
done
ctl pbx1 presence CustomPresence:100 dnd,Busy,Meeting
check "presence dnd on pbx1 reaches pbx2 and, across the bridge, pbx4" \
    wait_for 30 sh -c "grep -q 'CustomPresence:100) Value=dnd,Busy,Meeting' '$tmp/pbx2.log' &&
    grep -q 'CustomPresence:100) Value=dnd,Busy,Meeting' '$tmp/pbx4.log'"
ctl pbx4 presence CustomPresence:100 away,Lunch,
check "a change on pbx4 comes back to site A" wait_for 30 sh -c \
    "grep -q 'CustomPresence:100) Value=away,Lunch,' '$tmp/pbx1.log' &&
    grep -q 'CustomPresence:100) Value=away,Lunch,' '$tmp/pbx2.log'"
check "the echoes went nowhere: pbx1 was never told its own dnd" \
    sh -c "! grep -q 'CustomPresence:100) Value=dnd' '$tmp/pbx1.log'"
# pbx2 restarts holding a stale value (as astdb would keep it)
unit_stop ppbx2
amisim_stop pbx2
mv "$tmp/pbx2.log" "$tmp/pbx2.$(date +%s%N).log"
(echo "presenceq CustomPresence:100 xa,Stale," >"$tmp/pbx2.ctl") &
SIMPORT=$port_pbx2 amisim_start pbx2 -C "$tmp/pbx2.ctl" -L "$tmp/pbx2.log"
unit_start ppbx2 "$top/scripts/amitools-mqtt-presence@.service" pbx2 "$tmp/homeA"
check "a restarted pbx2 is given the live value, not its stale one" \
    wait_for 30 grep -q 'CustomPresence:100) Value=away,Lunch,' "$tmp/pbx2.log"
check "its stale value went nowhere" sh -c \
    "! grep -q 'Value=xa,Stale' '$tmp/pbx1.log' '$tmp/pbx4.log'"
for s in pbx1 pbx2 pbx4; do unit_stop "p$s"; done

# -- 1,000 random changes across the five servers converge --
awk 'BEGIN {
	srand(11)
	split("NOT_INUSE INUSE BUSY RINGING ONHOLD UNAVAILABLE", st, " ")
	for (i = 0; i < 1000; i++) {
		d = int(rand() * 40)
		printf "pbx%d devstate PJSIP/6%02d %s\n", d % 5 + 1, d, st[int(rand() * 6) + 1]
	}
}' >"$tmp/changes"
for s in $servers; do
	grep "^$s " "$tmp/changes" | cut -d' ' -f2- >"$tmp/$s.changes"
	cat "$tmp/$s.changes" >"$tmp/$s.ctl"
done
check "the bus settles after 1,000 changes" settle
for s in $servers; do
	awk '{ last[$2] = $3 } END { for (d in last) print d, last[d] }' "$tmp/$s.changes"
done | sed 's,/,-,' | sort >"$tmp/want"
: >"$tmp/got.all"
for s in $servers; do
	sed 's/ .*//' "$tmp/want" | while read -r d; do
		home=pbx$(( $(echo "$d" | sed 's/PJSIP-6//; s/^0//') % 5 + 1))
		[ "$home" = "$s" ] && continue
		printf 'Action=Getvar Variable=DEVICE_STATE(Custom:%s)\n' "$d"
	done | HOME=$tmp/home$(site $s) amiaction -H "$s" -j |
	    sed -n 's/.*"Variable":"DEVICE_STATE(Custom:\([^)]*\))","Value":"\([A-Z_]*\)".*/\1 \2/p' \
	    >>"$tmp/got.all"
done
sort -u "$tmp/got.all" >"$tmp/got"
check "each mirror holds its device's last state, on all four other servers" \
    sh -c "[ \$(wc -l <'$tmp/got.all') -eq \$((4 * \$(wc -l <'$tmp/want'))) ]"
check_same "and they agree" "$tmp/got" "$tmp/want"

# -- no loops, no echoes --
check "no mirror of a mirror was ever set" sh -c "! cat '$tmp'/pbx*.log | grep -q 'Custom:Custom'"
n1=$(cat "$tmp"/pbx3.log | grep -c 'Action=Setvar')
settle
n2=$(cat "$tmp"/pbx3.log | grep -c 'Action=Setvar')
check "quiet bus: one settle round is four Setvars on pbx3, nothing else" \
    test $((n2 - n1)) -eq 4

# -- a broker that comes up after its agent (boot order, a broker
# restarting as the agent starts): the agent connects once it is up --
freeport >"$tmp/C.mqport"
mkdir -p "$tmp/homeC"
umask 077
sed "s/^port = $(cat "$tmp/A.mqport")\$/port = $(cat "$tmp/C.mqport")/" \
    "$tmp/homeA/.amitools.conf" >"$tmp/homeC/.amitools.conf"
umask 022
unit_start late "$top/scripts/amitools-mqtt-device@.service" pbx1 "$tmp/homeC"
# its amimqtt has tried the broker, and said so
wait_for 10 grep -q 'Connection refused' "$tmp/late.2.err"
broker_start C
check "an agent started before its broker connects once the broker is up" \
    wait_for 15 grep -q 'New client connected .* as amimqtt-pbx1' "$tmp/C.mq.log"
check "and said once that the broker refused it meanwhile" \
    test "$(grep -c "^amimqtt: broker 127.0.0.1:$(cat "$tmp/C.mqport"): Connection refused\$" "$tmp/late.2.err")" -eq 1
unit_stop late
broker_stop C

done_testing
