#!/bin/sh
# The shipped rsyslog snippet on a real rsyslogd, on a loopback port: the
# cases of 0220 (tests/dndsyslog.sh).  rsyslog conflicts with syslog-ng as
# a package, so this is Debian's rsyslogd unpacked, not installed
# (scripts/deps rsyslog, which make check runs; AMITOOLS_RSYSLOG names
# another unpacked tree).  A line feed inside a datagram is escaped as #012.
. "$(dirname "$0")/lib.sh"
. "$top/tests/dndsyslog.sh"

root=${AMITOOLS_RSYSLOG:-$top/tests/rsyslogd}
rsyslogd=$root/usr/sbin/rsyslogd
moddir=$(dirname "$(echo "$root"/usr/lib/*/rsyslog/imudp.so)")
if [ ! -x "$rsyslogd" ] || [ ! -e "$moddir/imudp.so" ]; then
	notok "no unpacked rsyslogd in $root: run scripts/deps rsyslog (or make check)"
	done_testing
	exit 1
fi

port=$(dnd_free_udp_port)
mkdir "$tmp/log" "$tmp/rs"
log=$tmp/log/DND.log
# the shipped snippet, the line after each "setting:" comment (and only
# those) made local
sed -e "/# setting: the address/{n;s/address=\"[^\"]*\" port=\"[^\"]*\"/address=\"127.0.0.1\" port=\"$port\"/;}" \
    -e '/# setting: which senders/{n;s/(\$fromhost-ip .*)$/($fromhost-ip == "127.0.0.1")/;}' \
    -e "/# setting: the file/{n;s|file=\"[^\"]*\"|file=\"$log\"|;}" \
    "$top/rsyslog/amitools-dnd.conf" >"$tmp/rs/amitools-dnd.conf"
diff "$top/rsyslog/amitools-dnd.conf" "$tmp/rs/amitools-dnd.conf" |
    grep '^[<>]' >"$tmp/rs/diff"
check "the snippet under test differs from the shipped one in its three setting lines only" \
    sh -c "[ \$(grep -c '^<' '$tmp/rs/diff') -eq 3 ] && [ \$(grep -c '^>' '$tmp/rs/diff') -eq 3 ] &&
    grep -q '^> .*port=\"$port\"' '$tmp/rs/diff' && grep -q '^> .*\"127.0.0.1\")\$' '$tmp/rs/diff' &&
    grep -q '^> .*file=\"$log\"' '$tmp/rs/diff'"
printf 'global(workDirectory="%s")\ninclude(file="%s")\n' "$tmp/rs" "$tmp/rs/amitools-dnd.conf" >"$tmp/rs/main.conf"
check "rsyslogd -N1: the configuration is valid" sh -c \
    "'$rsyslogd' -N1 -f '$tmp/rs/main.conf' -M '$moddir' >'$tmp/rs/n1' 2>&1 && ! grep -qi error '$tmp/rs/n1'"
"$rsyslogd" -n -f "$tmp/rs/main.conf" -M "$moddir" -i "$tmp/rs/pid" >"$tmp/rs/out" 2>&1 &
rs=$!
pids="$pids $rs"

dnd_syslog_cases rsyslogd '#012' "$tmp/lr/no-syslog-ng.ctl" "$tmp/rs/pid" "$tmp/rs/out"
check "rsyslogd said nothing (no error, no warning)" test ! -s "$tmp/rs/out"
kill $rs
wait $rs
done_testing
