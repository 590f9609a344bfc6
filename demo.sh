#!/bin/sh
# make demo: the AMI simulator on loopback, amicat watching it, amiaction
# one-shots and a stream driving it.  Nothing leaves 127.0.0.1.  The
# tools are the build tree's, or those in AMITOOLS_BIN (CI: the Debian
# package's, AMITOOLS_BIN=/usr/bin).
set -eu
cd "$(dirname "$0")"
bin=${AMITOOLS_BIN:-.}
tmp=$(mktemp -d)
trap 'kill $simpid $catpid 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
simpid= catpid=

tests/amisim -p 0 -P "$tmp/port" 2>"$tmp/amisim.err" &
simpid=$!
while [ ! -s "$tmp/port" ]; do sleep 0.05; done
umask 077
printf '[default]\nhost = 127.0.0.1\nport = %s\nusername = tester\nsecret = testpass\n' \
    "$(cat "$tmp/port")" >"$tmp/amitools.conf"
conf=$tmp/amitools.conf
echo "AMI simulator on 127.0.0.1:$(cat "$tmp/port"), config $conf"
echo

echo '$ amicat -e UserEvent,DeviceStateChange &'
"$bin"/amicat -c "$conf" -e FullyBooted,UserEvent,DeviceStateChange >"$tmp/events" &
catpid=$!
while ! grep -q FullyBooted "$tmp/events" 2>/dev/null; do sleep 0.05; done

echo '$ amiaction Ping'
"$bin"/amiaction -c "$conf" Ping
echo '$ amiaction DBPut Family=DND Key=100 Val=YES; amiaction DBGet Family=DND Key=100'
"$bin"/amiaction -c "$conf" DBPut Family=DND Key=100 Val=YES
"$bin"/amiaction -c "$conf" DBGet Family=DND Key=100
echo '$ amiaction Command Command="core show version"'
"$bin"/amiaction -c "$conf" Command Command='core show version'
echo '$ printf ... | amiaction     # a stream: DND on for 100, BLF busy'
printf '%s\n' \
    'Action=UserEvent UserEvent=DND Peername=100 DND=enabled' \
    'Action=Setvar Variable=DEVICE_STATE(Custom:DND100) Value=BUSY' |
    "$bin"/amiaction -c "$conf"
while [ "$(grep -c 'UserEvent\|DeviceStateChange' "$tmp/events")" -lt 2 ]; do sleep 0.05; done
echo
kill $catpid
wait $catpid
echo 'amicat printed:'
grep -v FullyBooted "$tmp/events"
