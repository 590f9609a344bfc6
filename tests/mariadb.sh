# tests/mariadb.sh: a private MariaDB server for a test, sourced after
# lib.sh.  mwi_mariadb_start NAME: a fresh datadir under $tmp, mariadbd on
# a unix socket and a free loopback TCP port, database NAME, a user with a
# password, and $tmp/my.cnf (mode 600) whose [amitools] group logs in as
# that user.  Sets $my_port, $my_sock, $my_cnf; stopped by PID in cleanup.

# a TCP port nothing listens on now
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# root only as root: mariadbd refuses to run as root without it
mwi_mariadb_user() {
	[ "$(id -u)" -eq 0 ] && echo --user=root
}

mwi_mariadb_start() {
	my_dir=$tmp/mariadb
	my_sock=$tmp/mariadb.sock
	my_port=$(free_port)
	my_cnf=$tmp/my.cnf
	mkdir -p "$my_dir"
	mariadb-install-db --no-defaults $(mwi_mariadb_user) --datadir="$my_dir/data" \
	    --auth-root-authentication-method=normal --skip-test-db \
	    >"$tmp/mariadb-install.log" 2>&1 || {
		sed 's/^/# /' "$tmp/mariadb-install.log"
		return 1
	}
	mwi_mariadbd || return 1
	mwi_sql "CREATE DATABASE $1;
	    CREATE USER 'amitools'@'localhost' IDENTIFIED BY 'mwi-secret';
	    CREATE USER 'amitools'@'127.0.0.1' IDENTIFIED BY 'mwi-secret';
	    GRANT ALL ON $1.* TO 'amitools'@'localhost';
	    GRANT ALL ON $1.* TO 'amitools'@'127.0.0.1';" || return 1
	my_db=$1
	(umask 077 && printf '[amitools]\nuser = amitools\npassword = mwi-secret\nsocket = %s\ndatabase = %s\n' \
	    "$my_sock" "$1" >"$my_cnf")
}

# mariadbd on the datadir, socket and port of mwi_mariadb_start (again
# after mwi_mariadb_stop: the same server back)
mwi_mariadbd() {
	# test data is thrown away: no fsync per commit, as a disk-bound
	# server would never give the throughput the benchmark measures
	mariadbd --no-defaults $(mwi_mariadb_user) --datadir="$my_dir/data" \
	    --socket="$my_sock" --port="$my_port" --bind-address=127.0.0.1 \
	    --pid-file="$my_dir/pid" --skip-log-bin --innodb-buffer-pool-size=32M \
	    --innodb-flush-log-at-trx-commit=2 --skip-name-resolve \
	    --log-error="$tmp/mariadb.err" 2>>"$tmp/mariadb.err" &
	my_pid=$!
	pids="$pids $my_pid"
	wait_for 60 mariadb-admin --no-defaults -uroot --socket="$my_sock" \
	    ping >/dev/null 2>&1 || {
		echo "# mariadbd did not start:"
		sed 's/^/# /' "$tmp/mariadb.err"
		return 1
	}
}

# mwi_sql SQL [DB]: run SQL as root
mwi_sql() {
	mariadb --no-defaults -uroot --socket="$my_sock" ${2:+"$2"} -e "$1"
}

mwi_mariadb_stop() {
	kill "$my_pid" 2>/dev/null
	wait "$my_pid" 2>/dev/null
	return 0
}
