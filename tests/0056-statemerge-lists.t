#!/bin/sh
# statemerge tells a listed presence value from a live change: between a
# server's FullyBooted and its PresenceStateListComplete, what its list
# gives (items keep amicat -s's ActionID) loses to the others' value, and
# a change it makes meanwhile (no ActionID) is news.  The order here is
# the one a slow agent gives: the live change before the list's answer.
. "$(dirname "$0")/lib.sh"

p=CustomPresence:100
ev() { printf 'Event=PresenceStateChange %sPresentity=%s Status=%s Server=%s\n' "$3" $p "$1" "$2"; }
{
	printf 'Event=FullyBooted Server=%s\n' a b
	printf 'Event=PresenceStateListComplete ActionID=amicat-sync-0 Server=%s\n' a b
	ev dnd a
	printf 'Event=FullyBooted Server=b\n'          # b's agent logs in again
	ev dnd b                                        # the echo of a's value
	ev away b                                       # b's user, before b's list
	ev away b 'ActionID=amicat-sync-0 '             # b's list: its value now
	printf 'Event=PresenceStateListComplete ActionID=amicat-sync-0 Server=b\n'
	printf 'Event=FullyBooted Server=a\n'           # a restarts, kept xa
	ev xa a 'ActionID=amicat-sync-0 '
	printf 'Event=PresenceStateListComplete ActionID=amicat-sync-0 Server=a\n'
} | timeout 10 statemerge >"$tmp/out" 2>"$tmp/err"
# each Setvar, in order: why it is there
for sv in 'dnd,, b' 'dnd,, b' 'away,, a' 'away,, a' 'away,, a'; do
	echo "Action=Setvar Variable=PRESENCE_STATE($p) Value=${sv% *} Server=${sv#* }"
done >"$tmp/want"
#   a's dnd copied to b; b's FullyBooted: every value set on it again;
#   b's live away copied to a (not b set back to dnd); a's FullyBooted;
#   a's listed xa loses, a is given away again (and b never sees xa)
check_same "b's live change during its list is news; a's listed one is not" \
    "$tmp/out" "$tmp/want"
check "nothing said on stderr" test ! -s "$tmp/err"

done_testing
