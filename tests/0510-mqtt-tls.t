#!/bin/sh
# amimqtt to a broker over TLS with credentials, MQTT 3.1.1 and 5: a real
# mosquitto with a CA, a certificate and a password file made here.  The
# state reaches the broker and comes back; a wrong CA, a wrong secret or
# a secret others can read is said clearly.
. "$(dirname "$0")/lib.sh"

mkca ca
mkca wrongca
mkcert broker ca "DNS:localhost,IP:127.0.0.1"
mosquitto_passwd -b -c "$tmp/passwd" pbx1 's3cret' 2>/dev/null
chmod 600 "$tmp/passwd"
broker_start mq "cafile $tmp/ca.pem" "certfile $tmp/broker.crt" \
    "keyfile $tmp/broker.key" "allow_anonymous false" "password_file $tmp/passwd"
mqport=$(cat "$tmp/mq.mqport")

# retained TOPIC PATTERN: its retained payload, read over TLS as pbx1,
# matches PATTERN
retained() {
	timeout 10 mosquitto_sub -h 127.0.0.1 -p "$mqport" --cafile "$tmp/ca.pem" \
	    -u pbx1 -P s3cret -t "$1" -C 1 -W 5 2>>"$tmp/sub.err" | grep -q "$2"
}

# conf FILE [KEY=VALUE]...: an amitools.conf whose [mqtt] is this broker
conf() {
	_f=$1
	shift
	umask 077
	{
		printf '[mqtt]\nhost = 127.0.0.1\nport = %s\ntls = yes\n' "$mqport"
		printf 'cafile = %s\nusername = pbx1\n' "$tmp/ca.pem"
		for _kv in "$@"; do echo "$_kv" | sed 's/=/ = /'; done
	} >"$_f"
	umask 022
}

# publish CONF DEVICE STATE: one change through amimqtt; its stdout (the
# bus as it comes back) in $tmp/out, its stderr in $tmp/err
publish() {
	printf 'Event=DeviceStateChange Device=%s State=%s\n' "$2" "$3" |
	    HOME=$tmp/nohome timeout 10 amimqtt -c "$1" -H pbx1 >"$tmp/out" 2>"$tmp/err"
	_st=$?
	sed 's/^/# /' "$tmp/err"
	return $_st
}

conf "$tmp/v311.conf" secret=s3cret
check "TLS and credentials, MQTT 3.1.1: amimqtt ends 0 at the end of its input" \
    publish "$tmp/v311.conf" PJSIP/100 INUSE
check "the state is retained on the broker" \
    retained amitools/pbx1/device/PJSIP/100 State=INUSE
check "and came back to amimqtt itself, tagged with its server" \
    grep -q '^Event=DeviceStateChange Device=PJSIP/100 State=INUSE Server=pbx1 Session=' "$tmp/out"

conf "$tmp/v5.conf" secret=s3cret protocol=5
check "MQTT 5: the same" publish "$tmp/v5.conf" PJSIP/101 BUSY
check "its state is retained too" \
    retained amitools/pbx1/device/PJSIP/101 State=BUSY
check "nothing said" test ! -s "$tmp/err"

# a wrong secret: the broker refuses, and amimqtt says so (it keeps
# trying, the input waiting: timeout ends it here)
conf "$tmp/bad.conf" secret=wrong
publish "$tmp/bad.conf" PJSIP/102 INUSE
check "a wrong secret: the broker's refusal is said, once" has_count 1 'Connection Refused: not authorised' "$tmp/err"

conf "$tmp/wrongca.conf" secret=s3cret "cafile=$tmp/wrongca.pem"
publish "$tmp/wrongca.conf" PJSIP/103 INUSE
check "a broker the CA does not vouch for: said, and the state never sent" sh -c \
    "grep -qi 'certificate\|tls\|ssl' '$tmp/err' && ! grep -q PJSIP/103 '$tmp/out'"

conf "$tmp/open.conf" secret=s3cret
chmod 644 "$tmp/open.conf"
publish "$tmp/open.conf" PJSIP/104 INUSE
check "a config with the secret that others can read: exit 2, with the chmod to run" \
    sh -c "[ $? -eq 2 ] && grep -q 'chmod 600' '$tmp/err'"
done_testing
