#!/bin/sh
# AMI over TLS: the simulator behind a real TLS front (socat) with a CA and
# certificates made here by openssl.  The right CA works like plain TCP,
# a large stream included; a wrong CA or a name the certificate does not
# carry is a clear error and exit 2, never a silent retry loop.
. "$(dirname "$0")/lib.sh"

for ca in ca wrongca; do mkca $ca; done
mkcert server ca "DNS:localhost,IP:127.0.0.1"
mkcert other ca "DNS:other.example"

listening() {
	python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$1" 2>/dev/null
}

# tlsfront NAME CERT BACKEND-PORT: socat terminating TLS in front of amisim
tlsfront() {
	_p=$(freeport)
	socat "OPENSSL-LISTEN:$_p,bind=127.0.0.1,reuseaddr,fork,cert=$tmp/$2.pem,verify=0" \
	    "TCP:127.0.0.1:$3" 2>>"$tmp/socat.err" &
	pids="$pids $!"
	wait_for 10 listening "$_p" || echo "# socat did not start: $(cat "$tmp/socat.err")"
	eval "tls_$1=$_p"
}

i=1
while [ $i -le 100000 ]; do
	printf 'Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Seq\r\nSeq: %d\r\n\r\n' $i
	i=$((i + 1))
done >"$tmp/seq.ami"

amisim_start a -L "$tmp/a.log"
tlsfront good server "$port_a"
tlsfront named other "$port_a"

# tlsconf FILE PORT [key = value lines]: a TLS config for the front on PORT
tlsconf() {
	_f=$1 _port=$2
	shift 2
	umask 077
	printf '[default]\nhost = 127.0.0.1\nport = %s\nusername = tester\nsecret = testpass\ntls = yes\n' \
	    "$_port" >"$_f"
	for _l; do echo "$_l" >>"$_f"; done
	umask 022
}

tlsconf "$tmp/good.conf" "$tls_good" "cafile = $tmp/ca.pem"
amiaction -c "$tmp/good.conf" Ping >"$tmp/out" 2>"$tmp/err"
st=$?
check "right CA: one-shot Ping over TLS, exit 0" sh -c \
    "[ $st -eq 0 ] && grep -q '^Response=Success Ping=Pong' '$tmp/out'"

amicat -c "$tmp/good.conf" -e UserEvent -n 1 >"$tmp/out" 2>"$tmp/err" &
catpid=$!
pids="$pids $catpid"
wait_for 10 grep -q 'Action=Login' "$tmp/a.log"
check "amicat over TLS receives a UserEvent sent over TLS" wait_for 10 sh -c \
    "amiaction -c '$tmp/good.conf' UserEvent UserEvent=Tls >/dev/null &&
     grep -q 'UserEvent=Tls' '$tmp/out'"
kill $catpid 2>/dev/null
wait $catpid 2>/dev/null

tlsconf "$tmp/wrong.conf" "$tls_good" "cafile = $tmp/wrongca.pem"
amiaction -c "$tmp/wrong.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "wrong CA: amiaction exits 2" test $st -eq 2
check "saying the certificate did not verify" grep -q 'TLS: .*certificate' "$tmp/err"
amicat -c "$tmp/wrong.conf" >/dev/null 2>"$tmp/err"
st=$?
check "wrong CA: amicat exits 2 rather than retry forever" sh -c \
    "[ $st -eq 2 ] && grep -q 'TLS: .*certificate' '$tmp/err'"

tlsconf "$tmp/noverify.conf" "$tls_good" "cafile = $tmp/wrongca.pem" "verify = no"
check "verify = no: the same server is accepted" sh -c \
    "amiaction -c '$tmp/noverify.conf' Ping >/dev/null"

# libtls is opened at the first TLS connection (lib/tls.c): a tool on a
# plain one never maps it, and one that cannot open it says so, exit 2
n0=$(grep -c 'Action=Login' "$tmp/a.log")
amicat -c "$tmp/a.conf" -e UserEvent -n 1 >/dev/null 2>&1 &
catpid=$!
pids="$pids $catpid"
wait_for 20 sh -c "[ \$(grep -c 'Action=Login' '$tmp/a.log') -gt $n0 ]"
check "plain AMI: libtls, libssl and libcrypto are not mapped" sh -c \
    "grep -q 'libc[.-]' /proc/$catpid/maps && ! grep -q 'libtls\|libssl\|libcrypto' /proc/$catpid/maps"
kill $catpid 2>/dev/null
wait $catpid 2>/dev/null
so=$(grep -ao 'libtls\.so\.[0-9]*' "$top/amicat" | head -1)
mkdir "$tmp/fakelib"
echo 'int not_libtls;' >"$tmp/fake.c"
cc -shared -fPIC -o "$tmp/fakelib/$so" "$tmp/fake.c"
LD_LIBRARY_PATH=$tmp/fakelib amiaction -c "$tmp/good.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "a $so without libtls in it: exit 2, said" sh -c \
    "[ $st -eq 2 ] && grep -q 'TLS: $so: no tls_client' '$tmp/err'"

tlsconf "$tmp/named.conf" "$tls_named" "cafile = $tmp/ca.pem"
amiaction -c "$tmp/named.conf" Ping >/dev/null 2>"$tmp/err"
st=$?
check "a certificate for another name: exit 2, said" sh -c \
    "[ $st -eq 2 ] && grep -q 'TLS: .*127.0.0.1' '$tmp/err'"

tlsconf "$tmp/plain.conf" "$port_a" "cafile = $tmp/ca.pem"
amiaction -c "$tmp/plain.conf" -W 1 Ping >/dev/null 2>"$tmp/err"
check "TLS to a plain AMI port fails, and says so" grep -q 'TLS' "$tmp/err"

amisim_start r -R "$tmp/seq.ami" -N 100000
tlsfront big server "$port_r"
tlsconf "$tmp/big.conf" "$tls_big" "cafile = $tmp/ca.pem"
amicat -c "$tmp/big.conf" -e UserEvent -n 100000 -f '%{Seq}' >"$tmp/out" 2>"$tmp/err"
seq 1 100000 >"$tmp/want"
check_same "100,000 events over TLS: all, in order, once" "$tmp/out" "$tmp/want"

done_testing
