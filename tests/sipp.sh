# tests/sipp.sh: sipp as the phone or proxy for mwinotify tests, sourced
# after lib.sh.  Every sipp runs in the background (sipp -bg exits 99)
# and is waited on or stopped by PID.

free_udp_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

udp_listening() {
	ss -ulnH "sport = :$1" | grep -q .
}

# sipp_start NAME SCENARIO [sipp args]: a UAS on a free loopback port,
# every message traced to $tmp/NAME.msg; sets $port_NAME and $pid_NAME
sipp_start() {
	_name=$1
	_sf=$2
	shift 2
	_port=$(free_udp_port)
	# bounded: a scenario waiting for a message that never comes
	# fails (exit 124) instead of hanging the test file
	timeout -k 5 "${SIPP_LIMIT:-60}" \
	sipp -sf "$_sf" -i 127.0.0.1 -p "$_port" -nostdin -trace_msg \
	    -message_file "$tmp/$_name.msg" -trace_err \
	    -error_file "$tmp/$_name.err" "$@" >"$tmp/$_name.out" 2>&1 &
	eval "pid_$_name=$! port_$_name=$_port"
	pids="$pids $!"
	wait_for 10 udp_listening "$_port" || {
		echo "# sipp $_name did not start"
		sed 's/^/# /' "$tmp/$_name.out" | tail -5
		return 1
	}
}

# sipp_wait NAME: sipp's exit status (0: every check of its scenario held)
sipp_wait() {
	eval "_p=\$pid_$1"
	wait "$_p"
}

# the requests sipp NAME received, as traced, one after another
sipp_received() {
	awk '/^-+ [0-9]/ { on = 0 } on { print } /message received/ { on = 1; getline }' \
	    "$tmp/$1.msg"
}
