#!/bin/sh
# lib/ unit tests (C, TAP)
exec "$(dirname "$0")/unit/libtest"
