# tests/lib.sh: TAP helpers for the tool tests, and the AMI simulator.
# Sourced by tests/NNNN-name.t; every process started here is stopped by PID.
top=$(cd "$(dirname "$0")/.." && pwd)
PATH=$top:$PATH
fixtures=${AMITOOLS_FIXTURES:-$top/tests/fixtures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/amitools-test.XXXXXX")
ntest=0
nfail=0
pids=""
mounts=""

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	for m in $mounts; do
		umount "$m" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

plan() {
	echo "1..$1"
}

ok() {
	ntest=$((ntest + 1))
	echo "ok $ntest - $1"
}

notok() {
	ntest=$((ntest + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntest - $1"
}

# check DESC COMMAND...: passes when COMMAND succeeds
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else notok "$desc"; fi
}

# check_same DESC GOT WANT: files equal, else the diff as TAP comments
check_same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		notok "$1"
		diff -u "$3" "$2" | head -40 | sed 's/^/# /'
	fi
}

# wait_for SECONDS COMMAND...: poll a condition, never a bare sleep
wait_for() {
	_n=$(($1 * 50))
	shift
	while [ $_n -gt 0 ]; do
		"$@" && return 0
		sleep 0.02
		_n=$((_n - 1))
	done
	return 1
}

# amisim_start NAME [amisim args]: start a simulator on an ephemeral
# port and write $tmp/NAME.conf (mode 600) for the tools to log in with
amisim_start() {
	_name=$1
	shift
	rm -f "$tmp/$_name.port"
	"$top/tests/amisim" -p "${SIMPORT:-0}" -P "$tmp/$_name.port" "$@" \
	    2>>"$tmp/$_name.err" &
	eval "pid_$_name=$!"
	pids="$pids $!"
	wait_for 10 test -s "$tmp/$_name.port" || {
		echo "# amisim $_name did not start:"
		sed 's/^/# /' "$tmp/$_name.err"
		return 1
	}
	eval "port_$_name=$(cat "$tmp/$_name.port")"
	umask 077
	printf '[default]\nhost = 127.0.0.1\nport = %s\nusername = tester\nsecret = testpass\nkeepalive = 20\n' \
	    "$(cat "$tmp/$_name.port")" >"$tmp/$_name.conf"
	umask 022
}

amisim_stop() {
	eval "_p=\$pid_$1"
	kill "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	return 0
}

# count lines matching a pattern in a file (0 when missing)
count() {
	grep -c -- "$1" "$2" 2>/dev/null || true
}

# has_count N PATTERN FILE: exactly N lines match, counted anew each call
has_count() {
	test "$(count "$2" "$3")" -eq "$1"
}

done_testing() {
	plan "$ntest"
	[ "$nfail" -eq 0 ]
}
