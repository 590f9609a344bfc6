#!/bin/sh
# lib/ unit tests (C, TAP)
unit=$(dirname "$0")/unit/libtest
[ -z "${AMITOOLS_VALGRIND:-}" ] || exec valgrind -q --leak-check=full \
    --error-exitcode=99 --log-file="$AMITOOLS_VALGRIND/libtest.%p" "$unit"
exec "$unit"
