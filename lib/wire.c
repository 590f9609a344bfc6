/*
 * wire.c: AMI wire writer and the guard in front of it.  Asterisk splits
 * actions on CR/LF and truncates at 1024-byte lines and 128 headers, so a
 * value carrying any of those would become another header or be cut: such
 * actions are refused before a byte of them is written.
 */
#include <stdio.h>
#include <string.h>

#include "ami.h"

/* "Response: Follows" first: Asterisk 13's Command answer */
static int
isfollows(const struct ami_msg *m)
{
	return m->n > 0 && ami_keyeq(m->f[0].k, m->f[0].kl, "Response") &&
	    ami_keyeq(m->f[0].v, m->f[0].vl, "Follows");
}

/* exactly "Output": the reader gives a text line back under that name, so
 * an "OuTput" written as one would not read back as itself */
static int
isoutput(const struct ami_field *f)
{
	return f->kl == 6 && memcmp(f->k, "Output", 6) == 0;
}

static char *
header(char *w, const struct ami_field *f)
{
	if (f->kl > 0) {
		memcpy(w, f->k, f->kl);
		w += f->kl;
		*w++ = ':';
		if (!f->tight)
			*w++ = ' ';
	}
	memcpy(w, f->v, f->vl);
	w += f->vl;
	*w++ = '\r';
	*w++ = '\n';
	return w;
}

void
ami_wire_put(struct ami_buf *b, const struct ami_msg *m)
{
	const struct ami_field *f;
	size_t i, need = 2 + sizeof(AMI_ENDCMD) + 4;
	int follows = isfollows(m);
	char *w;

	for (i = 0; i < m->n; i++)
		need += m->f[i].kl + m->f[i].vl + 4;
	ami_buf_grow(b, need);
	w = b->p + b->len;
	for (i = 0; i < m->n; i++) {
		f = &m->f[i];
		if (!follows || i == 0 || !isoutput(f)) {
			w = header(w, f);
			continue;
		}
		/* a text line, as Asterisk 13 sent it; the reader takes one
		 * CR off before the LF, so a value's own last CR gets one more */
		memcpy(w, f->v, f->vl);
		w += f->vl;
		if (f->vl > 0 && f->v[f->vl - 1] == '\r')
			*w++ = '\r';
		*w++ = '\n';
	}
	if (follows) {
		memcpy(w, AMI_ENDCMD "\r\n", sizeof(AMI_ENDCMD) + 1);
		w += sizeof(AMI_ENDCMD) + 1;
	}
	*w++ = '\r';
	*w++ = '\n';
	b->len = w - b->p;
}

/* whether a first line would be read as the start of a wire block */
static const char *
firstline(const struct ami_field *f)
{
	const char *s = f->kl > 0 ? f->k : f->v;
	size_t n = f->kl > 0 ? f->kl : f->vl;
	const char *eq = memchr(s, '=', n);
	char last = f->vl > 0 ? f->v[f->vl - 1] : ':';

	if (f->kl > 0 && f->tight && f->vl > 0 && f->v[0] == '=')
		return "a first line Key:=value (read as one-line)";
	if (n > 0 && (*s == '#' || *s == '"' || ((*s == '{' || *s == '[') &&
	    last == (*s == '{' ? '}' : ']'))))
		return "a first line that reads as a comment, JSON or one-line";
	if (n >= 22 && memcmp(s, "Asterisk Call Manager/", 22) == 0)
		return "a first line that reads as the greeting";
	if (eq != NULL && (f->kl > 0 || memchr(s, ':', n) == NULL ||
	    eq <= (const char *)memchr(s, ':', n) + 1))
		return "a first line with '=' before or right after its colon "
		    "(read as one-line)";
	return NULL;
}

/* the reader's rule in a Follows block: a header among the first three
 * lines only when it is Privilege or ActionID */
static int
follows_header(const struct ami_field *f, size_t i)
{
	const char *c;

	if (i >= 3)
		return 0;
	if (!isoutput(f) || i == 0)
		return ami_keyeq(f->k, f->kl, "Privilege") ||
		    ami_keyeq(f->k, f->kl, "ActionID");
	c = memchr(f->v, ':', f->vl);
	return c != NULL && (ami_keyeq(f->v, c - f->v, "Privilege") ||
	    ami_keyeq(f->v, c - f->v, "ActionID"));
}

static int
fail(char *err, size_t errlen, size_t i, const struct ami_field *f,
    const char *why)
{
	char vis[60];

	snprintf(err, errlen, "header %zu (%s) holds %s: it would not read "
	    "back as written", i + 1, ami_visible(vis, sizeof(vis), f->k, f->kl),
	    why);
	return -1;
}

int
ami_wire_exact(const struct ami_msg *m, char *err, size_t errlen)
{
	const struct ami_field *f;
	const char *why;
	size_t i;
	int follows = isfollows(m);

	if (m->n == 0) {
		snprintf(err, errlen, "empty message");
		return -1;
	}
	if ((why = firstline(&m->f[0])) != NULL)
		return fail(err, errlen, 0, &m->f[0], why);
	for (i = 0; i < m->n; i++) {
		f = &m->f[i];
		if (memchr(f->k, '\n', f->kl) || memchr(f->v, '\n', f->vl))
			return fail(err, errlen, i, f, "a line feed");
		if (memchr(f->k, ':', f->kl))
			return fail(err, errlen, i, f, "a colon in its name");
		if (f->tight && f->vl > 0 && f->v[0] == ' ')
			return fail(err, errlen, i, f, "Key: with a value that "
			    "starts with a space");
		if (follows && i > 0) {
			if (follows_header(f, i) != !isoutput(f))
				return fail(err, errlen, i, f, "a line that changes "
				    "place between the headers and the text of "
				    "Response: Follows");
			if (f->vl >= sizeof(AMI_ENDCMD) - 1 && memcmp(f->v + f->vl -
			    (sizeof(AMI_ENDCMD) - 1), AMI_ENDCMD, sizeof(AMI_ENDCMD) - 1) == 0)
				return fail(err, errlen, i, f, "--END COMMAND--");
			if (isoutput(f) && f->tight)
				return fail(err, errlen, i, f, "Output: without a "
				    "space, a text line in Response: Follows");
			if (isoutput(f))
				continue;
		}
		if (f->kl == 0 && (f->vl == 0 || (memchr(f->v, ':', f->vl) &&
		    f->v[0] != ':')))
			return fail(err, errlen, i, f, "no name, and a value that "
			    "is empty or has a colon");
	}
	return 0;
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
