#!/bin/sh
# statemerge keeps its devices and presentities by name: a name it would
# have to cut (a NUL byte, which JSON input can carry) is refused, never
# taken for the name it starts with.
. "$(dirname "$0")/lib.sh"

booted() { printf 'Event=FullyBooted Server=%s\n' a b; }
(booted
 echo '{"Event":"PresenceStateChange","Presentity":"CustomPresence:a\u0000b","Status":"dnd","Server":"a"}'
 echo 'Event=PresenceStateChange Presentity=CustomPresence:ok Status=away Server=a') |
    timeout 10 statemerge >"$tmp/out" 2>"$tmp/err"
check "a presentity with a NUL sets nothing (not CustomPresence:a)" \
    sh -c "! grep -q 'CustomPresence:a)' '$tmp/out'"
check "and is said as no presentity" \
    grep -q 'CustomPresence:a\\x00b.*not a presentity and state to copy' "$tmp/err"
check "the next one is copied as ever" grep -qx \
    'Action=Setvar Variable=PRESENCE_STATE(CustomPresence:ok) Value=away,, Server=b' \
    "$tmp/out"

done_testing
