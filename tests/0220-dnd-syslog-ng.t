#!/bin/sh
# The shipped syslog-ng snippet on a real syslog-ng, on a loopback port:
# datagrams sent with logger --udp reach DND.log, and through
# "dndparse -F | amiaction" the simulator receives the UserEvents.  Only
# phone networks are filed, a datagram cannot forge a line, and a rotation
# by the shipped logrotate config, whose postrotate makes this syslog-ng
# reopen, loses no line and repeats none.
. "$(dirname "$0")/lib.sh"
. "$top/tests/dndsyslog.sh"

port=$(dnd_free_udp_port)
mkdir "$tmp/log" "$tmp/sng"
log=$tmp/log/DND.log
ctl=$tmp/sng/ctl
# the shipped snippet, its @define settings (and only those) made local
sed -e "s|^@define amitools_dnd_ip .*|@define amitools_dnd_ip \"127.0.0.1\"|" \
    -e "s|^@define amitools_dnd_port .*|@define amitools_dnd_port \"$port\"|" \
    -e "s|^@define amitools_dnd_nets .*|@define amitools_dnd_nets \"netmask(127.0.0.1/32)\"|" \
    -e "s|^@define amitools_dnd_log .*|@define amitools_dnd_log \"$log\"|" \
    "$top/syslog-ng/amitools-dnd.conf" >"$tmp/sng/amitools-dnd.conf"
check "the snippet under test differs from the shipped one in @define lines only" sh -c \
    "diff '$top/syslog-ng/amitools-dnd.conf' '$tmp/sng/amitools-dnd.conf' | grep '^[<>]' | grep -v '^[<>] @define ' | grep -q . && exit 1 || exit 0"
ver=$(syslog-ng --version | sed -n 's/^Config version: *//p')
printf '@version: %s\n@include "%s"\n' "$ver" "$tmp/sng/amitools-dnd.conf" >"$tmp/sng/main.conf"
syslog-ng -F --no-caps -f "$tmp/sng/main.conf" --persist-file "$tmp/sng/persist" \
    --pidfile "$tmp/sng/pid" --control "$ctl" >"$tmp/sng/out" 2>&1 &
sng=$!
pids="$pids $sng"

dnd_syslog_cases syslog-ng ' ' "$ctl" "$tmp/lr/no-rsyslogd.pid" "$tmp/sng/out"
kill $sng
wait $sng
done_testing
