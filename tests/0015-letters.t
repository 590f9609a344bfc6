#!/bin/sh
# One meaning per option letter across the suite: each tool's getopt
# letters (less its old spellings) are the letters its page lists and the
# rows of amitools(7)'s OPTION LETTERS that name it; no letter has two
# rows; the old spellings in the code are the ones amitools(7) lists.
# amimqtt's old -p (its other old spellings are tested with their tools).
. "$(dirname "$0")/lib.sh"
tools="amiaction amicat amimqtt dndctl dndparse mwinotify peerlist statemerge"

# the letters of a string, one a line, sorted
letters() {
	printf '%s' "$1" | fold -w1 | LC_ALL=C sort
}
# OPTION LETTERS of amitools(7) as "letter tools..." lines
awk '/^\.Sh OPTION LETTERS/ { on = 1; next }
    on && /^\.El/ { exit }
    on && /^\.It Fl / { l = $3; next }
    on && l != "" && /\.$/ { print l, $0; l = "" }' \
    "$top/man/amitools.7" | sed 's/^\([^ ]*\) .*: /\1 /' >"$tmp/table"
check "the table has a row for each of 38 letters" test "$(wc -l <"$tmp/table")" -eq 38
cut -d' ' -f1 "$tmp/table" | LC_ALL=C sort | uniq -d >"$tmp/dup"
check "no letter has two rows" test ! -s "$tmp/dup"

for t in $tools; do
	src=$top/cmd/$t.c
	all=$(grep -o 'getopt(argc, argv, "[^"]*"' "$src" | sed 's/.*"\(.*\)"/\1/' | tr -d :)
	old=$(grep -o 'ami_oldopt(ch, "[^"]*")' "$src" | sed 's/.*"\(.*\)".*/\1/')
	gone=$(printf '%s' "$old" | sed 's/\(.\)./\1/g')
	letters "$all" | grep -vx "[${gone:-/}]" >"$tmp/code"
	grep -o '^\.It Fl [A-Za-z]\b' "$top/man/$t.1" | cut -d' ' -f3 |
	    LC_ALL=C sort >"$tmp/page"
	check_same "$t: the letters of its page are those of its getopt" \
	    "$tmp/page" "$tmp/code"
	awk -v t="$t" '{ for (i = 2; i <= NF; i++) { w = $i; gsub(/[,.]/, "", w)
	    if (w == t || w == "all") { print $1; next } } }' "$tmp/table" |
	    LC_ALL=C sort >"$tmp/rows"
	check_same "$t: and the rows of amitools(7) that name it" "$tmp/rows" "$tmp/code"
	printf '%s' "$old" | sed 's/\(.\)\(.\)/\1 \2\n/g' |
	    sed "s/^/$t /" >>"$tmp/oldcode"
done
awk '/^\.It [a-z]* Ta Fl . Ta Fl .$/ { print $2, $5, $8 }' "$top/man/amitools.7" |
    LC_ALL=C sort >"$tmp/oldpage"
LC_ALL=C sort "$tmp/oldcode" >"$tmp/old"
check_same "the old spellings amitools(7) lists are the code's" "$tmp/oldpage" "$tmp/old"
check "and there are eleven" test "$(wc -l <"$tmp/old")" -eq 11

# -- amimqtt -p: the topic prefix, refused before any broker is asked --
HOME=$tmp amimqtt -H pbx1 -T 'a+b' </dev/null >/dev/null 2>"$tmp/err"
check "amimqtt -T with a wildcard: exit 2, said" sh -c \
    "[ $? -eq 2 ] && grep -q 'prefix a+b: not a topic prefix' '$tmp/err'"
HOME=$tmp amimqtt -H pbx1 -p 'a+b' </dev/null >/dev/null 2>"$tmp/err"
check "-p, its old spelling, is the same prefix" sh -c \
    "[ $? -eq 2 ] && grep -q 'prefix a+b: not a topic prefix' '$tmp/err'"
check "and says -T on stderr" \
    grep -qx 'amimqtt: -p is now -T (-p goes in the next release)' "$tmp/err"

done_testing
