# tests/lib.sh: TAP helpers for the tool tests, and the AMI simulator.
# Sourced by tests/NNNN-name.t; every process started here is stopped by PID.
top=$(cd "$(dirname "$0")/.." && pwd)
PATH=$top:$PATH
fixtures=${AMITOOLS_FIXTURES:-$top/tests/fixtures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/amitools-test.XXXXXX")
# AMITOOLS_VALGRIND=DIR (make check-valgrind): every tool runs under
# valgrind, each process writing its errors and leaks, if any, to
# DIR/TOOL.PID; the exit status 99 marks them too, as no tool uses it
if [ -n "${AMITOOLS_VALGRIND:-}" ]; then
	mkdir "$tmp/valgrind"
	for _t in amicat amiaction dndctl dndparse mwinotify peerlist statemerge amimqtt; do
		cat >"$tmp/valgrind/$_t" <<-EOF
		#!/bin/sh
		exec valgrind -q --leak-check=full --error-exitcode=99 \\
		    --suppressions=$top/tests/valgrind.supp \\
		    --log-file=$AMITOOLS_VALGRIND/$_t.%p $top/$_t "\$@"
		EOF
		chmod +x "$tmp/valgrind/$_t"
	done
	PATH=$tmp/valgrind:$PATH
fi
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
	# AMITOOLS_KEEP=1: leave the logs and files for a look after a failure
	if [ -n "${AMITOOLS_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
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

# reap PID SECONDS: the exit status of a child of ours, killed (137) if it
# outlives SECONDS; a signal test must not go through timeout(1), which
# takes the signal.  The watchdog's sleep must not hold a caller's $(...)
# pipe open (every run waited out its whole bound) nor outlive it (kill -9
# on a reused pid)
reap() {
	( sleep "$2" & s=$!; trap 'kill $s; exit' TERM; wait $s
	  kill -9 "$1" 2>/dev/null ) >/dev/null 2>&1 &
	_w=$!
	wait "$1"
	_st=$?
	kill "$_w" 2>/dev/null
	wait "$_w" 2>/dev/null
	return $_st
}

# term_taken PID: no SIGTERM pending for it (the last one sent was taken:
# a second one sent now is not merged with it)
term_taken() {
	_p=$(sed -n 's/^ShdPnd:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || return 0
	[ -z "$_p" ] && return 0
	[ $((0x$_p & 0x4000)) -eq 0 ]
}

# freeport: a TCP port free on loopback now
freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# listening PORT: something accepts TCP connections on loopback PORT
listening() {
	python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null
}

# broker_start NAME [CONF LINES]: a real mosquitto on loopback, on a free
# port kept in $tmp/NAME.mqport across restarts, persistence in
# $tmp/NAME.mq/, anonymous unless a line says allow_anonymous; back when
# it listens (it opens its listeners after loading its persistence)
broker_start() {
	_b=$1
	shift
	mkdir -p "$tmp/$_b.mq"
	[ -s "$tmp/$_b.mqport" ] || freeport >"$tmp/$_b.mqport"
	{
		printf 'listener %s 127.0.0.1\n' "$(cat "$tmp/$_b.mqport")"
		printf 'persistence true\npersistence_location %s/\n' "$tmp/$_b.mq"
		[ "$(id -u)" -ne 0 ] || echo 'user root'
		case "$*" in *allow_anonymous*) ;; *) echo 'allow_anonymous true' ;; esac
		for _l in "$@"; do echo "$_l"; done
	} >"$tmp/$_b.mq.conf"
	mosquitto -c "$tmp/$_b.mq.conf" >>"$tmp/$_b.mq.log" 2>&1 &
	eval "pid_$_b=$!"
	pids="$pids $!"
	wait_for 10 listening "$(cat "$tmp/$_b.mqport")"
}

# broker_stop NAME: that mosquitto stopped, and gone (as amisim_stop:
# both started as pid_NAME)
broker_stop() { amisim_stop "$1"; }

# mkcert NAME CA SAN: $tmp/NAME.{key,crt,pem}, signed by $tmp/CA.{pem,key}
# (mkca CA makes one)
mkca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=amitools test $1" \
	    -keyout "$tmp/$1.key" -out "$tmp/$1.pem" 2>/dev/null
}
mkcert() {
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$1" \
	    -keyout "$tmp/$1.key" -out "$tmp/$1.csr" 2>/dev/null &&
	printf 'subjectAltName=%s\n' "$3" >"$tmp/$1.ext" &&
	openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$2.pem" -CAkey "$tmp/$2.key" \
	    -CAcreateserial -days 2 -extfile "$tmp/$1.ext" -out "$tmp/$1.crt" 2>/dev/null &&
	cat "$tmp/$1.crt" "$tmp/$1.key" >"$tmp/$1.pem"
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

# unit_start NAME UNIT [INSTANCE [HOME]]: the pipeline of UNIT's ExecStart
# as systemd would run it (%% is %, %i is INSTANCE), each of its commands by
# its own PID (kept in $tmp/NAME.pids, for unit_stop), stderr of the Nth in
# $tmp/NAME.N.err, stdout of the last in $tmp/NAME.out; HOME, when given,
# is the commands' home (their ~/.amitools.conf)
unit_start() {
	_cmd=$("$top/tests/unitcmd" "$2" "${3:-}")
	_home=${4:-$HOME}
	_in=/dev/null
	_i=0
	: >"$tmp/$1.pids"
	while [ -n "$_cmd" ]; do
		_i=$((_i + 1))
		case $_cmd in
		*' | '*) _part=${_cmd%% | *}; _cmd=${_cmd#* | }
			_o=$tmp/$1.$_i.fifo; rm -f "$_o"; mkfifo "$_o" ;;
		*) _part=$_cmd; _cmd=; _o=$tmp/$1.out ;;
		esac
		(HOME=$_home; export HOME; eval "exec $_part") \
		    <"$_in" >>"$_o" 2>>"$tmp/$1.$_i.err" &
		pids="$pids $!"
		echo $! >>"$tmp/$1.pids"
		_in=$_o
	done
}

unit_stop() {
	for _p in $(cat "$tmp/$1.pids"); do kill "$_p" 2>/dev/null; done
	for _p in $(cat "$tmp/$1.pids"); do wait "$_p" 2>/dev/null; done
	return 0
}

amisim_stop() {
	eval "_p=\$pid_$1"
	kill "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	return 0
}

# mariadb_start NAME: a real MariaDB server (Debian mariadb-server) for
# this test file, run as the current user in $tmp/NAME (datadir data/,
# socket sock, a free loopback TCP port in port), with a database amitools
# and a user amitools that logs in with a password.  The client settings
# go to $tmp/NAME/my.cnf (mode 600): group [amitools] over the socket,
# [amitools-tcp] over TCP.  MYSQL_HOME names that directory, so the tools
# read it among the standard option files; HOME too, so no ~/.my.cnf of
# whoever runs the tests can change them.  Called again after
# mariadb_stop NAME, it starts the same server on the same data.  Options
# after NAME go to mariadbd (a benchmark's --innodb-flush-log-at-trx-commit=2).
mariadb_start() {
	_d=$tmp/$1
	_user=
	[ "$(id -u)" -ne 0 ] || _user=--user=root   # mariadbd refuses root without it
	mkdir -p "$_d"
	if [ ! -d "$_d/data" ]; then
		mariadb-install-db --no-defaults --auth-root-authentication-method=normal \
		    --datadir="$_d/data" --skip-test-db $_user >"$_d/install.log" 2>&1 || {
			echo "# mariadb-install-db failed:"
			sed 's/^/# /' "$_d/install.log"
			return 1
		}
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$_d/port"
	fi
	_mname=$1
	shift
	mariadbd --no-defaults --datadir="$_d/data" --socket="$_d/sock" \
	    --port="$(cat "$_d/port")" --bind-address=127.0.0.1 --pid-file="$_d/pid" \
	    --log-error="$_d/err.log" --innodb-buffer-pool-size=32M \
	    --skip-name-resolve $_user "$@" 2>>"$_d/err.log" &
	set -- "$_mname"
	eval "pid_$1=$!"
	pids="$pids $!"
	wait_for 30 _mariadb_up "$1" || {
		echo "# mariadbd $1 did not start:"
		tail -20 "$_d/err.log" | sed 's/^/# /'
		return 1
	}
	export MYSQL_HOME="$_d" HOME="$_d"
	[ ! -f "$_d/my.cnf" ] || return 0
	_pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
	mariadb_sql "$1" "CREATE DATABASE amitools CHARACTER SET utf8mb4;
	    CREATE USER amitools@localhost IDENTIFIED BY '$_pw';
	    CREATE USER amitools@'127.0.0.1' IDENTIFIED BY '$_pw';
	    GRANT ALL ON amitools.* TO amitools@localhost;
	    GRANT ALL ON amitools.* TO amitools@'127.0.0.1';" || return 1
	(umask 077
	printf '[amitools]\nsocket = %s\nuser = amitools\npassword = %s\ndatabase = amitools\n' \
	    "$_d/sock" "$_pw" >"$_d/my.cnf"
	printf '[amitools-tcp]\nhost = 127.0.0.1\nport = %s\nuser = amitools\npassword = %s\ndatabase = amitools\n' \
	    "$(cat "$_d/port")" "$_pw" >>"$_d/my.cnf")
}

_mariadb_up() {
	mariadb-admin --no-defaults --socket="$tmp/$1/sock" -uroot ping >/dev/null 2>&1
}

# mariadb_stop NAME: shut it down (SIGTERM) and wait until it has
mariadb_stop() {
	eval "_p=\$pid_$1"
	kill "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	return 0
}

# mariadb_sql NAME [SQL]: SQL (or standard input) as root over the socket,
# in database amitools once it exists; tab-separated rows, no header
mariadb_sql() {
	_db=
	[ ! -f "$tmp/$1/my.cnf" ] || _db=amitools
	if [ $# -ge 2 ]; then
		mariadb --no-defaults --socket="$tmp/$1/sock" -uroot -N -B -e "$2" $_db
	else
		mariadb --no-defaults --socket="$tmp/$1/sock" -uroot -N -B $_db
	fi
}

# mariadb_writes NAME: the server's own counters of rows written, changed
# or deleted, summed: equal before and after a run that wrote nothing
mariadb_writes() {
	mariadb_sql "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN
	    ('Handler_write', 'Handler_update', 'Handler_delete')" |
	    awk '{ n += $2 } END { print n }'
}

# count lines matching a pattern in a file (0 when missing)
count() {
	if [ -e "$2" ]; then grep -c -- "$1" "$2"; else echo 0; fi
}

# has_count N PATTERN FILE: exactly N lines match, counted anew each call
has_count() {
	test "$(count "$2" "$3")" -eq "$1"
}

# at_least N PATTERN FILE: N lines or more match, counted anew each call
at_least() {
	test "$(count "$2" "$3")" -ge "$1"
}

done_testing() {
	plan "$ntest"
	[ "$nfail" -eq 0 ]
}
