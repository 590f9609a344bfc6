/*
 * dndmatch.c: which syslog lines are a phone's DND change, by PCRE2
 * patterns with the named groups state and ip (the sender's address) or
 * peer.  Apart from dnd.c, so that only the tools that match lines link
 * PCRE2: dndctl shares the words, not the patterns.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <err.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#include "ami.h"

/*
 * SPA phones: "[0]Enable DND" / "[0]Disable DND" after the daemon's
 * timestamp (traditional or ISO 8601) and the sender (address or name);
 * a program tag, which a daemon may find in the message, may come between.
 */
static const char builtin[] =
    "^(?:[A-Z][a-z]{2}[ \\t]+\\d{1,2}[ \\t]+\\d\\d:\\d\\d:\\d\\d"
    "|\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?(?:Z|[+-]\\d\\d:?\\d\\d)?)"
    "[ \\t]+(?<ip>[^ \\t\\[]+)[ \\t]+(?:[^ \\t\\[][^ \\t]*[ \\t]+)?"
    "\\[(?<line>\\d{1,3})\\](?<state>(?i:enable|disable)) DND\\s*$";

struct pat {
	pcre2_code *re;
	pcre2_match_data *md;
	int ip, state, peer;            /* group numbers, < 0 when absent */
};
struct ami_dnd_pats {
	struct pat *v;
	size_t n;
};

int
ami_dnd_compile(struct ami_dnd_pats **psp, const char *re, char *errbuf,
    size_t errlen)
{
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE off;
	struct ami_dnd_pats *ps;
	struct pat p;
	int code;

	if ((p.re = pcre2_compile((PCRE2_SPTR)(re ? re : builtin),
	    PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL)) == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(errbuf, errlen, "%s at offset %zu", (char *)msg,
		    (size_t)off);
		return -1;
	}
	p.ip = pcre2_substring_number_from_name(p.re, (PCRE2_SPTR)"ip");
	p.state = pcre2_substring_number_from_name(p.re, (PCRE2_SPTR)"state");
	p.peer = pcre2_substring_number_from_name(p.re, (PCRE2_SPTR)"peer");
	if (p.state < 0 || (p.ip < 0 && p.peer < 0)) {
		snprintf(errbuf, errlen, "a pattern needs the named groups "
		    "state and ip (or peer)");
		pcre2_code_free(p.re);
		return -1;
	}
	/* the interpreter still works where JIT is not available */
	pcre2_jit_compile(p.re, PCRE2_JIT_COMPLETE);
	p.md = pcre2_match_data_create_from_pattern(p.re, NULL);
	if ((ps = *psp) == NULL)
		ps = *psp = ami_xcalloc(1, sizeof(*ps));
	ps->v = ami_xreallocarray(ps->v, ps->n + 1, sizeof(p));
	ps->v[ps->n++] = p;
	return 0;
}

/* group g of p's last match, a span of s; NULL when absent or unset */
static const char *
group(const struct pat *p, int g, const char *s, size_t *len)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);

	if (g < 0 || ov[2 * g] == PCRE2_UNSET)
		return NULL;
	*len = ov[2 * g + 1] - ov[2 * g];
	return s + ov[2 * g];
}

int
ami_dnd_match(struct ami_dnd_pats *ps, const char *s, size_t n,
    struct ami_dnd_hit *h)
{
	const struct pat *p;
	const char *st;
	size_t i, sl;

	for (i = 0; i < ps->n; i++)
		if (pcre2_match(ps->v[i].re, (PCRE2_SPTR)s, n, 0, 0,
		    ps->v[i].md, NULL) > 0)
			break;
	/* the first that matches wins: a user's go before the built-in */
	if (i == ps->n)
		return 0;
	p = &ps->v[i];
	if ((st = group(p, p->state, s, &sl)) == NULL ||
	    (h->on = ami_dnd_state(st, sl)) < 0)
		return 0;
	h->ip = NULL;
	/* an empty peer is none: the address may still name the phone */
	h->peer = group(p, p->peer, s, &h->peerl);
	if (h->peer == NULL || h->peerl == 0) {
		h->peer = NULL;
		h->ip = group(p, p->ip, s, &h->ipl);
	}
	return h->peer != NULL || h->ip != NULL;
}

void
ami_dnd_free(struct ami_dnd_pats *ps)
{
	size_t i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->n; i++) {
		pcre2_match_data_free(ps->v[i].md);
		pcre2_code_free(ps->v[i].re);
	}
	free(ps->v);
	free(ps);
}
