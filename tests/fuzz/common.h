/*
 * common.h: what the fuzz targets share, checks on what the library
 * gives.  Inline, so that a target need not use them all.
 */
#include <stdlib.h>
#include <string.h>

#include "ami.h"

/* p..p+pl lies within s..s+n */
static inline int
inside(const char *p, size_t pl, const char *s, size_t n)
{
	return p >= s && pl <= n && p - s <= (long)(n - pl);
}

/* an error as a caller gets it: said, and NUL-terminated in its buffer */
static inline void
said(const char *err, size_t size)
{
	if (err[0] == '\0' || strnlen(err, size) == size)
		abort();
}

/* the same fields, byte for byte, in the same order */
static inline int
same_fields(const struct ami_msg *a, const struct ami_msg *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->f[i].kl != b->f[i].kl || a->f[i].vl != b->f[i].vl ||
		    a->f[i].tight != b->f[i].tight ||
		    memcmp(a->f[i].k, b->f[i].k, a->f[i].kl) != 0 ||
		    memcmp(a->f[i].v, b->f[i].v, a->f[i].vl) != 0)
			return 0;
	return 1;
}

/*
 * Written raw (amicat -r), m reads back as itself and nothing more, or
 * ami_wire_exact refused it with a reason: -r never writes what would
 * read back as something else (two headers from one, a swallowed message).
 */
static inline void
rawtrip(const struct ami_msg *m)
{
	struct ami_buf b = { 0 };
	struct ami_parser p;
	struct ami_msg back = { 0 };
	char err[200] = "";

	if (ami_wire_exact(m, err, sizeof(err)) < 0) {
		said(err, sizeof(err));
		return;
	}
	ami_wire_put(&b, m);
	ami_parser_init(&p, AMI_AUTO, 0);
	ami_parser_feed(&p, b.p, b.len);
	p.eof = 1;
	if (ami_parser_next(&p, &back) != 1 || !same_fields(m, &back) ||
	    back.rawlen != b.len || ami_parser_next(&p, &back) != 0)
		abort();
	ami_parser_free(&p);
	ami_msg_free(&back);
	ami_buf_free(&b);
	}

/* encoded as one-line text or JSON and decoded again, m is unchanged;
 * written raw, it reads back or is refused */
static inline void
roundtrip(const struct ami_msg *m)
{
	struct ami_buf b = { 0 };
	struct ami_msg back = { 0 };
	char err[200];
	int json;

	for (json = 0; json < 2; json++) {
		b.len = 0;
		if (json)
			ami_json_put(&b, m);
		else
			ami_text_put(&b, m);
		/* the decoders work in place on the line without its newline */
		if ((json ? ami_json_decode(b.p, b.len - 1, &back, err, sizeof(err)) :
		    ami_text_decode(b.p, b.len - 1, &back, err, sizeof(err))) != 0 ||
		    !same_fields(m, &back))
			abort();
	}
	ami_msg_free(&back);
	ami_buf_free(&b);
	rawtrip(m);
}
