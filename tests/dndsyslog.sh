# tests/dndsyslog.sh: the cases of the shipped DND snippet on a real syslog
# daemon, run alike by 0220 (syslog-ng) and 0225 (rsyslog).  Sourced after
# lib.sh; the test makes $port (a free UDP port on 127.0.0.1) and $log (its
# DND.log), writes the snippet made local, starts the daemon, and calls
# dnd_syslog_cases DAEMON NL CTL PIDFILE OUT.  NL is what a line feed
# inside a datagram becomes in DND.log (one line either way); CTL, the
# syslog-ng control socket, and PIDFILE, rsyslogd's PID file, are what the
# shipped logrotate config's postrotate finds (the other daemon's: a path
# that does not exist); OUT is what the daemon said, shown if it did not
# start.  Datagrams are sent with logger --udp, as the phones' syslog
# lines, and python3, as an SPA phone's bare message; the UserEvents reach
# the simulator through "dndparse -F | amiaction".

dnd_free_udp_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

send() {
	logger --udp --rfc3164 -n 127.0.0.1 -P "$port" -t spa -- "$1"
}

# a line the daemon files and dndparse passes over: the daemon is up
probe() {
	send 'probe DND'
	grep -q probe "$log" 2>/dev/null
}

dnd_syslog_cases() {
	_daemon=$1 _nl=$2 _ctl=$3 _pidfile=$4
	check "$_daemon starts with the snippet and files a datagram" wait_for 20 probe
	grep -q probe "$log" 2>/dev/null || sed 's/^/# /' "$5"

	printf '127.0.0.1 100 the phone\n10.0.0.7 200 another phone\n' >"$tmp/map"
	amisim_start a -L "$tmp/a.log"
	mkfifo "$tmp/pipe"
	# -r 0: one phone changes on every line here, each to be counted
	dndparse -m "$tmp/map" -R 0 -F "$log" -S "$tmp/state" >"$tmp/pipe" 2>"$tmp/dp.err" &
	dp=$!
	amiaction -c "$tmp/a.conf" <"$tmp/pipe" >"$tmp/aa.out" 2>"$tmp/aa.err" &
	ap=$!
	pids="$pids $dp $ap"

	send '[0]Enable DND'
	check "logger --udp: a UserEvent for the phone reaches Asterisk" wait_for 10 \
	    grep -q 'Action=UserEvent .*UserEvent=DND Peername=100 DND=enabled Channel=PJSIP/100' "$tmp/a.log"
	check "DND.log has the line in the traditional format" grep -Eq \
	    '^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} 127\.0\.0\.1 spa: \[0\]Enable DND$' "$log"
	# what an SPA phone sends: the bare message, no syslog header
	python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"[0]Disable DND", ("127.0.0.1", int(sys.argv[1])))' "$port"
	check "a bare SPA datagram: filed with the sender's address, DND disabled" \
	    wait_for 10 grep -q 'Peername=100 DND=disabled' "$tmp/a.log"
	check "its line" grep -Eq '[0-9] 127\.0\.0\.1 \[0\]Disable DND$' "$log"

	# a datagram with a line break inside, forging a line for another
	# phone, and one from outside the phone networks
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"[0]Enable DND\nNov 23 10:00:00 10.0.0.7 [0]Enable DND", ("127.0.0.1", int(sys.argv[1])))
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t.bind(("127.0.0.2", 0))
t.sendto(b"[0]Enable DND from a stranger", ("127.0.0.1", int(sys.argv[1])))
' "$port"
	send '[1]Enable DND'
	check "the next line gets through" wait_for 10 has_count 2 'Peername=100 DND=enabled' "$tmp/a.log"
	check "the forged line stayed inside one line" sh -c \
	    "grep -q 'Enable DND${_nl}Nov 23 10:00:00 10.0.0.7' '$log' && ! grep -q '^Nov 23 10:00:00 10.0.0.7' '$log'"
	check "the other phone was not moved" sh -c "! grep -q Peername=200 '$tmp/a.log'"
	check "a sender outside the phone networks is not filed" sh -c "! grep -q stranger '$log'"

	# -- the shipped logrotate config, mid-stream, with this daemon --
	mkdir -p "$tmp/lr"
	sed -e "s|/var/log/DND.log|$log|" \
	    -e "s|/var/lib/syslog-ng/syslog-ng.ctl|$_ctl|g" \
	    -e "s|/run/rsyslogd.pid|$_pidfile|g" \
	    -e "s|/var/log/amitools/|$tmp/lr/|" \
	    "$top/logrotate/amitools-dnd" >"$tmp/lr/conf"
	before=$(grep -c 'Peername=' "$tmp/a.log")
	n=600
	( i=1; while [ $i -le $n ]; do
		if [ $((i % 2)) -eq 1 ]; then send "[0]Disable DND"; else send "[0]Enable DND"; fi
		i=$((i + 1))
	  done ) &
	wp=$!
	pids="$pids $wp"
	rc=0
	for at in 100 250 400; do
		wait_for 30 sh -c "[ \$(grep -c Peername= '$tmp/a.log') -ge $((before + at)) ]"
		logrotate -s "$tmp/lr/status" -f "$tmp/lr/conf" 2>>"$tmp/lr/err" || rc=1
	done
	check "logrotate with the shipped config, three times mid-stream: exit 0" \
	    sh -c "[ $rc -eq 0 ] && test ! -s '$tmp/lr/err'"
	check "it renamed DND.log each time and made a new one" sh -c "test -s '$log.3.gz' && test -s '$log.1' && test -e '$log'"
	wait $wp
	check "every change arrives: one UserEvent per line" \
	    wait_for 30 has_count $((before + n)) 'Peername=' "$tmp/a.log"
	check "$_daemon wrote to the new file after the reopen" grep -q 'Enable DND$' "$log"
	grep 'Peername=' "$tmp/a.log" | tail -n $n | sed 's/.* DND=\([a-z]*\) .*/\1/' >"$tmp/got"
	awk -v n=$n 'BEGIN { for (i = 1; i <= n; i++) print i % 2 ? "disabled" : "enabled" }' >"$tmp/want"
	check_same "in order, none lost across the rotation" "$tmp/got" "$tmp/want"
	kill -USR1 $dp
	filed=$(zcat -f "$log".* "$log" | wc -l)
	check "dndparse read each filed line exactly once ($filed)" wait_for 10 grep -q "^dndparse: lines $filed," "$tmp/dp.err"

	kill $dp
	wait $dp
	wait $ap
	check "dndparse and amiaction end cleanly" sh -c "grep -v '^dndparse: lines' '$tmp/dp.err' | grep -q . && exit 1; test ! -s '$tmp/aa.err'"
	amisim_stop a
}
