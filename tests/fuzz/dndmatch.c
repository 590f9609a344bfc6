/*
 * dndmatch: dndparse's line matcher on any line.  The first byte picks
 * what it is matched against: odd, a pattern of its own (a line of a -p
 * file) up to the first LF, the line after it; even, patterns like the
 * tests' and the built-in, compiled once.  What a match gives must lie in
 * the line, and a peer ami_dnd_peer lets through hold no CR, LF or NUL.
 */
#include "common.h"

static const char *const pats[] = {
	"^\\S+ (?<ip>\\S+) DND (?<state>on|off) for (?<peer>.*)$",
	"^\\S+ \\S+ (?<ip>\\S+) dnd: line=(?<line>\\d+) (?<state>on|off)$",
	"^\\S+ \\S+ \\S+ dnd-peer (?<peer>\\w+) (?<state>yes|no)$",
	"^(?<state>\\S+) (?<peer>[^ ]*) ?(?<ip>.*)$",
	NULL,       /* the built-in, last as in dndparse */
};

static struct ami_dnd_pats *fixed;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[200];
	size_t i;

	(void)argc;
	(void)argv;
	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		if (ami_dnd_compile(&fixed, pats[i], err, sizeof(err)) < 0)
			abort();
	return 0;
}

static void
match(struct ami_dnd_pats *ps, const char *s, size_t n)
{
	struct ami_dnd_hit h;

	if (!ami_dnd_match(ps, s, n, &h))
		return;
	if ((h.on != 0 && h.on != 1) || (h.peer == NULL) == (h.ip == NULL))
		abort();
	if (h.peer != NULL && (h.peerl == 0 || !inside(h.peer, h.peerl, s, n) ||
	    (ami_dnd_peer(h.peer, h.peerl) && (memchr(h.peer, '\r', h.peerl) ||
	    memchr(h.peer, '\n', h.peerl) || memchr(h.peer, '\0', h.peerl)))))
		abort();
	if (h.ip != NULL && !inside(h.ip, h.ipl, s, n))
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_dnd_pats *own = NULL;
	const char *s = (const char *)data + 1, *nl;
	char *re, err[200];
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	if (!(data[0] & 1)) {
		match(fixed, s, n);
		return 0;
	}
	if ((nl = memchr(s, '\n', n)) == NULL)
		return 0;
	if ((re = strndup(s, nl - s)) == NULL)
		abort();
	err[0] = '\0';
	if (ami_dnd_compile(&own, re, err, sizeof(err)) == 0)
		match(own, nl + 1, n - (nl + 1 - s));
	else
		said(err, sizeof(err));
	ami_dnd_free(own);
	free(re);
	return 0;
}
