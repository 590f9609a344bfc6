#!/bin/sh
# The conformance corpus (tests/corpus, origins in its README): every case
# reads as its origin says (NAME.txt), in one read or one byte a read, and
# converts raw -> one-line -> raw, -> JSON -> raw, raw -> raw, one-line ->
# JSON -> one-line without losing a byte (LF-only cases come back CR LF,
# the one thing amitools(7) says only raw keeps).
. "$(dirname "$0")/lib.sh"
c=$top/tests/corpus

for raw in "$c"/*.raw; do
	n=$(basename "$raw" .raw)
	amicat -i "$raw" >"$tmp/txt" 2>"$tmp/err"
	check_same "$n: reads as its origin says" "$tmp/txt" "$c/$n.txt"
	python3 -c 'import os, sys
d = open(sys.argv[1], "rb").read()
for i in range(len(d)):
    os.write(1, d[i:i + 1])' "$raw" | amicat -i - >"$tmp/split"
	check_same "$n: the same, one byte a read" "$tmp/split" "$c/$n.txt"
	if grep -q "$(printf '\r')" "$raw"; then
		cp "$raw" "$tmp/want"
	else
		sed 's/$/\r/' "$raw" >"$tmp/want"
	fi
	amicat -i "$tmp/txt" -r >"$tmp/r1"
	check_same "$n: raw -> one-line -> raw" "$tmp/r1" "$tmp/want"
	amicat -i "$raw" -j | amicat -i - -r >"$tmp/r2"
	check_same "$n: raw -> JSON -> raw" "$tmp/r2" "$tmp/want"
	amicat -i "$raw" -r >"$tmp/r3"
	check_same "$n: raw -> raw is byte for byte" "$tmp/r3" "$raw"
	amicat -i "$tmp/txt" -j | amicat -i - >"$tmp/t2"
	check_same "$n: one-line -> JSON -> one-line" "$tmp/t2" "$c/$n.txt"
done
done_testing
