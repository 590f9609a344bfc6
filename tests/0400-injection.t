#!/bin/sh
# Hostile bytes on every input path of every tool: CR, LF and NUL in a
# value, a header name or a template expansion never reach Asterisk as a
# header or an action of their own, never split a line of output, and a
# diagnostic that names them stays one line.  Secrets stay off the command
# line and out of every message.  (mwinotify's paths are in 0300: a
# Mailbox or a Call-ID with CR LF is refused before any SIP is built.)
. "$(dirname "$0")/lib.sh"
sx=$top/tests/fixtures/syslog
cr=$(printf '\r')

# one_line FILE [N]: no CR, NUL or ESC in it (so N lines, if given, are
# N messages)
one_line() {
	[ "$(tr -cd '\000\015\033' <"$1" | wc -c)" -eq 0 ] &&
	    { [ $# -lt 2 ] || [ "$(wc -l <"$1")" -eq "$2" ]; }
}

amisim_start a -L "$tmp/a.log"
conf=$tmp/a.conf

# -- amiaction: each input format, header names, templates, argv --
# (printf '%s\n', as dash's echo would turn \r and \n into the bytes)
{
	printf '%s\n' 'Action=UserEvent UserEvent=One Value="x\r\nAction: Originate"'
	printf '%s\n' 'Action=UserEvent UserEvent=Two Value="x\nAction: Originate"'
	printf '%s\n' 'Action=UserEvent UserEvent=Three Value="x\x00y"'
	printf '%s\n' 'Action=UserEvent "Head\r\nAction: Originate"=x'
	printf '%s\n' 'Action=UserEvent "Bad:Name"=x'
	printf '%s\n' '{"Action":"UserEvent","UserEvent":"Four","V":"x\r\nAction: Originate"}'
	printf '%s\n' '{"Action":"UserEvent","UserEvent":"Five","V":"x\u0000y"}'
	printf '%s\n' '{"Action":"UserEvent","UserEvent\nAction: Originate":"x"}'
	printf 'Action: UserEvent\r\nUserEvent: Six\r\nV: x\rAction: Originate\r\n\r\n'
	printf '%s\n' 'Action=UserEvent UserEvent=Clean'
} >"$tmp/in"
amiaction -c "$conf" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
check "amiaction: hostile input refused, exit 2" test $? -eq 2
check "no Originate, no header built of a value, reached the server" sh -c \
    "! grep -Eq 'Originate|UserEvent=(One|Two|Three|Four|Five|Six)' '$tmp/a.log'"
check "the clean action around them did" grep -q UserEvent=Clean "$tmp/a.log"
check "nine refusals, each named by its line" has_count 9 '^amiaction: line [0-9]*: .*refused' "$tmp/err"
check "each on one line: no raw CR or NUL said" one_line "$tmp/err" 9

printf '%s\n' 'Event=Hangup Cause="16\r\nAction: Originate"' >"$tmp/ev"
amiaction -c "$conf" -t 'Action=UserEvent UserEvent=T Cause=%{Cause}' <"$tmp/ev" 2>"$tmp/err" >/dev/null
check "amiaction -t: a CR LF from the message is refused, exit 2" test $? -eq 2
check "nothing of it sent" sh -c "! grep -q 'UserEvent=T' '$tmp/a.log'"
check "said on one line" one_line "$tmp/err" 1
amiaction -c "$conf" UserEvent UserEvent=Argv "V=x${cr}
Action: Originate" >/dev/null 2>"$tmp/err"
check "amiaction argv: a value with CR LF is refused, exit 2" sh -c \
    "[ $? -eq 2 ] && ! grep -q 'UserEvent=Argv' '$tmp/a.log'"
cp "$conf" "$tmp/two.conf"
printf '[x]\nport = %s\n[y]\nport = %s\n' "$port_a" "$port_a" >>"$tmp/two.conf"
printf '%s\n' 'Action=UserEvent UserEvent=R Server="x\r\ny"' |
    amiaction -c "$tmp/two.conf" -H x -H y 2>"$tmp/err" >/dev/null
check "a routing name with CR LF is said escaped, on one line" \
    grep -q 'no server named "x\\r\\ny"; refused' "$tmp/err"

# -- secrets: never on argv, never from input, never said --
amiaction -c "$conf" Login Username=tester Secret=testpass >/dev/null 2>"$tmp/err"
check "Secret= on the command line: exit 2, said" sh -c \
    "[ $? -eq 2 ] && grep -q 'Secret: every user sees the command line' '$tmp/err'"
printf 'Action=Login Username=tester Secret=testpass\nAction=Challenge AuthType=MD5\n' |
    amiaction -c "$conf" >/dev/null 2>"$tmp/err"
check "Login or Challenge from input: refused, exit 2" sh -c \
    "[ $? -eq 2 ] && [ \$(grep -c 'Login is made from the config only; refused' '$tmp/err') -eq 2 ]"
check "so the server saw one Login a session, from the config" sh -c \
    "! grep -q 'Action=Login.*Secret' '$tmp/a.log' && ! grep -q 'Action=Challenge.*amiaction-' '$tmp/a.log'"
sed 's/testpass/Wr0ngSecretValue/' "$conf" >"$tmp/bad.conf"
chmod 600 "$tmp/bad.conf"
amiaction -c "$tmp/bad.conf" Ping >/dev/null 2>"$tmp/err.aa"
amicat -c "$tmp/bad.conf" >/dev/null 2>"$tmp/err.ac"
check "a refused login says so, without the secret" sh -c \
    "grep -q 'Authentication failed' '$tmp/err.aa' && grep -q 'Authentication failed' '$tmp/err.ac' && ! grep -q Wr0ngSecretValue '$tmp/err.aa' '$tmp/err.ac'"
chmod 640 "$tmp/bad.conf"
amiaction -c "$tmp/bad.conf" Ping >/dev/null 2>"$tmp/err"
check "a config with a secret readable by the group: refused, exit 2" sh -c \
    "[ $? -eq 2 ] && grep -q 'readable by group or other; run chmod 600' '$tmp/err'"
printf 'Wr0ngSecretValue\n' >"$tmp/secret"
chmod 604 "$tmp/secret"
printf '[default]\nhost = 127.0.0.1\nport = %s\nusername = tester\n' "$port_a" >"$tmp/nosecret.conf"
AMI_SECRET_FILE=$tmp/secret amiaction -c "$tmp/nosecret.conf" Ping >/dev/null 2>"$tmp/err"
check "AMI_SECRET_FILE readable by others: refused, exit 2" sh -c \
    "[ $? -eq 2 ] && grep -q 'readable by group or other' '$tmp/err'"
check "the secret never crossed the wire" sh -c "! grep -q -e testpass -e Wr0ngSecretValue '$tmp/a.log'"
printf '[amitools]\nuser = amitools\npassword = Wr0ngSecretValue\n' >"$tmp/my.cnf"
chmod 644 "$tmp/my.cnf"
peerlist -d amitools -D "$tmp/my.cnf" </dev/null 2>"$tmp/err.pl"
st=$?
mwinotify -D "$tmp/my.cnf" -d amitools status >/dev/null 2>"$tmp/err.mw"
check "a MySQL option file readable by others: peerlist and mwinotify exit 2" \
    test $st -eq 2 -a $? -eq 2
check "saying so, without the password" sh -c \
    "grep -q 'my.cnf holds a password but is readable by group or other' '$tmp/err.pl' &&
    grep -q 'my.cnf holds a password but is readable by group or other' '$tmp/err.mw' &&
    ! grep -q Wr0ngSecretValue '$tmp/err.pl' '$tmp/err.mw'"

# -- amicat: hostile bytes from the server stay inside one output line --
printf 'Event: UserEvent\r\nUserEvent: Evil\r\nV: a\rb\000c\033[2J\r\n\r\n' >"$tmp/evil.ami"
amisim_start r -R "$tmp/evil.ami" -N 3
amicat -c "$tmp/r.conf" -e UserEvent -n 3 >"$tmp/out" 2>"$tmp/err"
check "amicat: three events with CR, NUL, ESC in a value" has_count 3 UserEvent=Evil "$tmp/out"
check "three lines, no raw control byte in them" one_line "$tmp/out" 3
amicat -i "$tmp/out" -r >"$tmp/back"
cat "$tmp/evil.ami" "$tmp/evil.ami" "$tmp/evil.ami" >"$tmp/want"
check_same "and they decode to the bytes the server sent" "$tmp/back" "$tmp/want"
amicat -c "$tmp/r.conf" -e UserEvent -n 3 -f '%{UserEvent} %{V}' >"$tmp/out" 2>/dev/null
check "amicat -f: the same, through a template" one_line "$tmp/out" 3
amisim_stop r

# -- dndparse: NUL, CR, ESC in a syslog line --
{
	printf 'Aug 29 11:46:46 192.168.161.6 [0]Enable DND\000\r\nAction: Originate\n'
	printf 'Aug 29 11:46:46 192.168.161.7\000 [0]Enable DND\n'
	printf 'Aug 29 11:46:46 192.168.161.99\r [0]Enable DND\n'
	printf 'Aug 29 11:46:46 192.168.161.8 [0]Enable DND\r\n'
} >"$tmp/syslog"
dndparse -m "$sx/peers.map" <"$tmp/syslog" >"$tmp/out" 2>"$tmp/err"
check "dndparse: only well-formed actions come out" sh -c \
    "! grep -qv '^Action=UserEvent UserEvent=DND Peername=[0-9]* DND=[a-z]* Channel=PJSIP/[0-9]* Status=\"DND [a-z]*\"\$' '$tmp/out'"
check "and no Originate" sh -c "! grep -q Originate '$tmp/out'"
check "its diagnostics one line each, no raw CR or NUL" one_line "$tmp/err" 2

# -- dndctl apply: a Peer with CR, LF or NUL in each input format --
{
	printf '%s\n' 'Event=UserEvent UserEvent=DND Peername="100\r\nAction: Originate" DND=enabled'
	printf '%s\n' 'Event=UserEvent UserEvent=DND Peername="101\x00" DND=enabled'
	printf '%s\n' '{"Event":"UserEvent","UserEvent":"DND","Peername":"102\nAction: Originate","DND":"enabled"}'
	printf 'Event: UserEvent\r\nUserEvent: DND\r\nPeername: 103\rAction: Originate\r\nDND: enabled\r\n\r\n'
	printf '%s\n' 'Event=UserEvent UserEvent=DND Peername=104 DND=enabled'
} >"$tmp/dnd"
dndctl -l "$tmp/list" apply <"$tmp/dnd" >"$tmp/out" 2>"$tmp/err"
check "dndctl: hostile peers refused, exit 2" test $? -eq 2
check "the list holds the clean peer only" sh -c "[ \"\$(cat '$tmp/list')\" = 104 ]"
check "and no action names another" sh -c \
    "! grep -q Originate '$tmp/out' && ! grep -q '10[0-3]' '$tmp/out' && grep -q 104 '$tmp/out'"
check "its diagnostics one line each" one_line "$tmp/err" 4

# -- peerlist: names and descriptions with CR, LF, NUL into the map --
{
	printf '%s\n' 'Event=PeerEntry ObjectName=200 IPaddress=10.9.9.1 Description="Desk\r\n10.0.0.1 999 forged\x00"'
	printf '%s\n' 'Event=PeerEntry ObjectName="201\n10.0.0.2 998" IPaddress=10.9.9.2'
	printf '%s\n' 'Event=PeerEntry ObjectName=202 IPaddress="10.9.9.3\n10.0.0.3"'
} >"$tmp/peers"
peerlist -m "$tmp/map" <"$tmp/peers" >/dev/null 2>"$tmp/err"
check "peerlist: the map has a line per peer, no forged one" sh -c \
    "[ \$(grep -vc '^#' '$tmp/map') -eq 2 ] && ! grep -q -e '^10\.0\.0' -e '^[^#]* 998' '$tmp/map'"
check "the description kept on its peer's line" \
    grep -q '^10\.9\.9\.1  *200  *Desk  10\.0\.0\.1 999 forged' "$tmp/map"
check "the bad name said escaped, on one line" \
    grep -q 'peer name "201\\n10.0.0.2 998" is' "$tmp/err"

done_testing
