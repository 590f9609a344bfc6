#!/bin/sh
# tests/amisim against the real Asterisk 20.20.1 transcripts in
# tests/fixtures/asterisk-20.20.1 (a copy of ../shared/fixtures): the
# client's recorded bytes are replayed and the server's answer must be
# the recorded one, byte for byte after normalising what changes from run
# to run (times, ports, pointers, unique ids, channel numbers,
# challenges).  The normaliser, the out-of-band triggers and the extra
# checks are in tests/conformance/replay.py.
top=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${AMITOOLS_FIXTURES:-$top/tests/fixtures}/asterisk-20.20.1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/amisim-conf.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# python3 starts (and kills) every amisim itself; it runs in the
# background so a signal to us reaches the trap and stops it too
python3 "$top/tests/conformance/replay.py" "$top/tests/amisim" "$fixtures" \
    "$top/tests/amisim.d" "$tmp" &
pid=$!
wait "$pid"
st=$?
pid=
exit $st
