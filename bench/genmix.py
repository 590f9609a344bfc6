#!/usr/bin/python3
"""Build the benchmark event mix from real Asterisk 20 transcripts.

usage: genmix.py [-b] OUTFILE FIXTURE.txt...

Takes the server->client transcripts (NAME.txt; NAME.sent.txt and
NAME.both.txt are skipped), splits them into wire blocks on blank lines,
drops the banner, responses, anything carrying an ActionID (event-list
items) and Shutdown (a session's last event: a client may close on it, as
panoramisk does, and the replay goes on after it), and writes the
remaining Event: blocks, CRLF-terminated, to OUTFILE.
With -b only the busiest real shape: the events of at least half the
largest one's size (many headers, long values), each kind once.
Prints "events bytes mean" on stdout.
"""
import sys


def blocks(data):
    cur = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line == b"":
            if cur:
                yield cur
                cur = []
            continue
        if not cur and line.startswith(b"Asterisk Call Manager/"):
            continue
        cur.append(line)
    if cur:
        yield cur


def main():
    busiest = len(sys.argv) > 1 and sys.argv[1] == "-b"
    if busiest:
        del sys.argv[1]
    if len(sys.argv) < 3:
        sys.exit("usage: genmix.py [-b] OUTFILE FIXTURE.txt...")
    out = []
    for path in sorted(sys.argv[2:]):
        if path.endswith((".sent.txt", ".both.txt")) or "README" in path:
            continue
        with open(path, "rb") as f:
            data = f.read()
        for b in blocks(data):
            if not b[0].lower().startswith(b"event:"):
                continue
            if b[0].split(b":", 1)[1].strip().lower() == b"shutdown":
                continue
            if any(l.lower().startswith(b"actionid:") for l in b):
                continue
            out.append(b"".join(l + b"\r\n" for l in b) + b"\r\n")
    if not out:
        sys.exit("genmix.py: no events found")
    if busiest:
        big = max(len(b) for b in out)
        out = [b for i, b in enumerate(out)
               if len(b) * 2 >= big and b not in out[:i]]
    total = sum(len(b) for b in out)
    with open(sys.argv[1], "wb") as f:
        f.write(b"".join(out))
    print(len(out), total, "%.1f" % (total / len(out)))


main()
