#!/bin/sh
# The shipped logrotate config switched to copytruncate, run three times
# while lines are appended, with dndparse -F following: every line the
# files keep is read, once.  (Rotation by rename and create, as shipped,
# is tested with a real syslog-ng, which reopens on postrotate, in 0220:
# a writer that opens the file anew for each line races logrotate's
# create, which a syslog daemon does not.)
. "$(dirname "$0")/lib.sh"

max=60000
# phone i: 10.A.B.C -> peer 100000+i, so every line is a change of its own
awk -v n=$max 'BEGIN { for (i = 1; i <= n; i++) printf "10.%d.%d.%d %d\n", i / 65536, i / 256 % 256, i % 256, 100000 + i }' >"$tmp/map"

has_more() {
	test "$(count Peername "$2")" -ge "$1"
}

# run STYLE: the config adapted to this directory, then the stream
run() {
	style=$1
	d=$tmp/$style
	mkdir "$d"
	log=$d/DND.log
	sed -e "s|/var/log/DND.log|$log|" \
	    -e "s|/var/lib/syslog-ng/syslog-ng.ctl|$d/no-syslog-ng.ctl|g" \
	    -e "s|/run/rsyslogd.pid|$d/no-rsyslogd.pid|g" \
	    -e "s|/var/log/amitools/|$d/tools/|" \
	    "$top/logrotate/amitools-dnd" >"$d/conf"
	sed -i 's/^\tcreate .*/\tcopytruncate/' "$d/conf"
	: >"$log"
	dndparse -m "$tmp/map" -F "$log" -S "$d/state" >"$d/out" 2>"$d/err" &
	dp=$!
	pids="$pids $dp"
	# a writer as a syslog daemon is one: appending, the file opened anew
	# for each line, so after a rename it writes to the new file; it
	# writes until the rotations are done, at most 500 lines ahead of the
	# reader: a reader slower than that (valgrind) would still be in a
	# copy when the next rotation compresses it, and lose its rest, as
	# any reader would; the shipped config renames instead
	( i=1; while [ ! -e "$d/stop" ] && [ $i -le $max ]; do
		printf 'Nov 23 10:00:00 10.%d.%d.%d [0]Enable DND\n' \
		    $((i / 65536)) $((i / 256 % 256)) $((i % 256)) >>"$log"
		[ $((i % 100)) -ne 0 ] || wait_for 60 sh -c \
		    "[ -e '$d/stop' ] || [ \$(grep -c Peername '$d/out') -ge $((i - 500)) ]"
		i=$((i + 1))
	  done; echo $((i - 1)) >"$d/written" ) &
	wp=$!
	pids="$pids $wp"
	rc=0
	for at in 300 1000 2000; do
		wait_for 30 has_more $at "$d/out"
		logrotate -s "$d/status" -f "$d/conf" 2>>"$d/lr.err" || rc=1
	done
	wait_for 30 has_more 2500 "$d/out"
	wait_for 30 test -s "$log"      # lines after the last rotation too
	touch "$d/stop"
	wait $wp
	n=$(cat "$d/written")
	check "$style: logrotate said nothing" test ! -s "$d/lr.err"
	check "$style: logrotate ran three times mid-stream, exit 0" test $rc -eq 0
	check "$style: the rotations are there, and lines after them ($n written)" \
	    sh -c "ls '$d' | grep -q 'DND.log.3' && test -s '$log'"
	sed -n 's/.*Peername=\([0-9]*\) .*/\1/p' "$d/out" | sort -n >"$d/got"
	awk -v n=$n 'BEGIN { for (i = 1; i <= n; i++) print 100000 + i }' >"$d/want"
	# copytruncate loses what is written between the copy and the
	# truncation, for every reader; the lines the files keep are all read,
	# and those dndparse read in that gap are kept too
	zcat -f "$d"/DND.log* | awk '{ split($4, a, "."); print 100000 + a[2] * 65536 + a[3] * 256 + a[4] }' |
	    sort -n >"$d/kept"
	check "$style: every line the files keep was read ($(wc -l <"$d/kept") kept, $n written)" \
	    wait_for 30 sh -c "sed -n 's/.*Peername=\([0-9]*\) .*/\1/p' '$d/out' | sort -n | comm -23 '$d/kept' - | grep -q . && exit 1 || exit 0"
	sed -n 's/.*Peername=\([0-9]*\) .*/\1/p' "$d/out" | sort -n >"$d/got"
	check "$style: nothing read that was not written, nothing twice" sh -c \
	    "comm -23 '$d/got' '$d/want' | grep -q . && exit 1; sort -n -c -u '$d/got'"
	n=$(wc -l <"$d/got")
	kill -USR1 $dp
	check "$style: no line read twice (the counters: $n sent, none repeated)" \
	    wait_for 10 grep -q "^dndparse: lines [0-9]*, matched $n (sent $n, repeated 0, held 0)" "$d/err"
	kill $dp
	wait $dp
	check "$style: nothing else said" sh -c "! grep -v '^dndparse: lines' '$d/err' | grep -q ."
}

run copytruncate
done_testing
