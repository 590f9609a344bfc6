/*
 * wire.c: AMI wire writer and the guard in front of it.  Asterisk splits
 * actions on CR/LF and truncates at 1024-byte lines and 128 headers, so a
 * value carrying any of those would become another header or be cut: such
 * actions are refused before a byte of them is written.
 */
#include <stdio.h>
#include <string.h>

#include "ami.h"

void
ami_wire_put(struct ami_buf *b, const struct ami_msg *m)
{
	const struct ami_field *f;
	size_t i, need = 2;
	char *w;

	for (i = 0; i < m->n; i++)
		need += m->f[i].kl + m->f[i].vl + 4;
	ami_buf_grow(b, need);
	w = b->p + b->len;
	for (i = 0; i < m->n; i++) {
		f = &m->f[i];
		if (f->kl > 0) {
			memcpy(w, f->k, f->kl);
			w += f->kl;
			*w++ = ':';
			*w++ = ' ';
		}
		memcpy(w, f->v, f->vl);
		w += f->vl;
		*w++ = '\r';
		*w++ = '\n';
	}
	*w++ = '\r';
	*w++ = '\n';
	b->len = w - b->p;
}

static const char *
badbyte(const char *s, size_t n, int inkey)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '\r' || c == '\n')
			return "a line break (CR/LF)";
		if (c == '\0')
			return "a NUL byte";
		if (inkey && (c == ':' || c < 0x20 || c == 0x7f || c == ' '))
			return "a colon, space or control byte";
	}
	return NULL;
}

int
ami_wire_check(const struct ami_msg *m, char *err, size_t errlen)
{
	const struct ami_field *f;
	const char *why;
	size_t i;

	if (m->n == 0) {
		snprintf(err, errlen, "empty message");
		return -1;
	}
	if (m->n > AMI_HEADERS_MAX) {
		snprintf(err, errlen, "%zu headers, over Asterisk's limit of %d",
		    m->n, AMI_HEADERS_MAX);
		return -1;
	}
	for (i = 0; i < m->n; i++) {
		f = &m->f[i];
		if (f->kl == 0) {
			snprintf(err, errlen, "header %zu has no name", i + 1);
			return -1;
		}
		if ((why = badbyte(f->k, f->kl, 1)) != NULL) {
			char vis[60];
			snprintf(err, errlen, "header name %s contains %s; refused",
			    ami_visible(vis, sizeof(vis), f->k, f->kl), why);
			return -1;
		}
		if ((why = badbyte(f->v, f->vl, 0)) != NULL) {
			snprintf(err, errlen, "value of %.*s contains %s; refused, "
			    "it would inject AMI headers", (int)f->kl, f->k, why);
			return -1;
		}
		if (f->kl + 2 + f->vl + 2 > AMI_LINE_MAX) {
			snprintf(err, errlen, "header %.*s is %zu bytes, over "
			    "Asterisk's %d-byte line limit", (int)f->kl, f->k,
			    (size_t)f->kl + 2 + f->vl + 2, AMI_LINE_MAX);
			return -1;
		}
	}
	return 0;
}
