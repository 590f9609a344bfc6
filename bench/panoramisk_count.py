#!/usr/bin/python3
"""Benchmark peer: count AMI events with panoramisk (Debian python3-panoramisk).

usage: /usr/bin/python3 panoramisk_count.py HOST PORT USER SECRET COUNT [TIMEOUT]

Logs in, counts every event through one catch-all callback until COUNT
events arrived, the server closed the connection, or TIMEOUT seconds
(default 600) passed.  Prints "count seconds" (seconds from connect to the
last event counted) on stdout.
"""
import asyncio
import logging
import sys
import time

from panoramisk import Manager


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__.strip().splitlines()[2])
    host, port, user, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    want = int(sys.argv[5])
    limit = float(sys.argv[6]) if len(sys.argv) == 7 else 600.0
    logging.basicConfig(level=logging.CRITICAL)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    state = {"n": 0, "last": None, "why": "count"}

    def finish(why):
        if loop.is_running():
            state["why"] = why
            loop.stop()

    def on_event(manager, event):
        state["n"] += 1
        state["last"] = time.monotonic()
        if state["n"] >= want:
            finish("count")

    def on_disconnect(manager, exc):
        # every chunk read before the close has been through data_received
        finish("closed")

    manager = Manager(loop=loop, host=host, port=port, username=user,
                      secret=secret, events="on", ping_delay=3600,
                      ping_interval=3600, reconnect_timeout=3600,
                      on_disconnect=on_disconnect)
    manager.register_event("*", on_event)

    t0 = time.monotonic()
    manager.connect()
    loop.call_later(limit, finish, "timeout")
    loop.run_forever()
    t1 = state["last"] if state["last"] is not None else time.monotonic()
    manager.close()
    print(state["n"], "%.6f" % (t1 - t0))
    if state["why"] != "count":
        print("panoramisk_count: stopped on %s after %d of %d events"
              % (state["why"], state["n"], want), file=sys.stderr)


main()
