/*
 * parse.c: incremental reader.  Bytes go in as they arrive (any chunking,
 * down to one byte), messages come out pointing into the buffer, so the hot
 * path copies nothing.  Wire blocks end at an empty line (CRLF or LF); a
 * bare LF inside a header line ends that line, which is what makes
 * Asterisk's real "Message: No Contacts found\n\r\n" parse right.  An
 * Asterisk 13 "Response: Follows" block runs to "--END COMMAND--" and its
 * text lines become Output fields, the form Asterisk 14+ sends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ami.h"

#define READ_CHUNK (64 * 1024)
#define BANNER "Asterisk Call Manager/"
#define ENDCMD "--END COMMAND--"

enum { SKIP_NONE, SKIP_BLOCK, SKIP_LINE };

void
ami_parser_init(struct ami_parser *p, enum ami_mode mode, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->max = max ? max : AMI_MSG_MAX;
	p->nextline = 1;
}

void
ami_parser_free(struct ami_parser *p)
{
	ami_buf_free(&p->b);
}

/* room for n more bytes, what was consumed dropped first */
static char *
room(struct ami_parser *p, size_t n)
{
	if (p->start == p->b.len) {
		/* give back what one huge message made us grow to */
		if (p->b.cap > 4 * READ_CHUNK)
			ami_buf_free(&p->b);
		p->b.len = p->start = 0;
	} else if (p->start > 0 && p->b.cap - p->b.len < n) {
		memmove(p->b.p, p->b.p + p->start, p->b.len - p->start);
		p->b.len -= p->start;
		p->start = 0;
	}
	ami_buf_grow(&p->b, n);
	return p->b.p + p->b.len;
}

char *
ami_parser_space(struct ami_parser *p, size_t *n)
{
	char *s = room(p, READ_CHUNK);

	*n = p->b.cap - p->b.len;
	return s;
}

void
ami_parser_commit(struct ami_parser *p, size_t n)
{
	p->b.len += n;
}

void
ami_parser_feed(struct ami_parser *p, const void *data, size_t n)
{
	if (n == 0)     /* data may be NULL, and memcpy must not see it */
		return;
	memcpy(room(p, n), data, n);
	ami_parser_commit(p, n);
}

ssize_t
ami_parser_read(struct ami_parser *p, int fd)
{
	size_t room;
	char *s = ami_parser_space(p, &room);
	ssize_t n = read(fd, s, room);

	if (n > 0)
		ami_parser_commit(p, n);
	else if (n == 0)
		p->eof = 1;
	return n;
}

static void
consume(struct ami_parser *p, const char *to, unsigned long lines)
{
	p->start = to - p->b.p;
	p->scan = 0;
	p->nextline += lines;
}

int
ami_parser_banner(struct ami_parser *p, char *out, size_t outlen)
{
	char *s = p->b.p + p->start, *nl;
	size_t n;

	if ((nl = memchr(s, '\n', p->b.len - p->start)) == NULL)
		return 0;
	n = nl - s;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	snprintf(out, outlen, "%.*s", (int)n, s);
	consume(p, nl + 1, 1);
	return 1;
}

static int
oversize(struct ami_parser *p, int how)
{
	snprintf(p->err, sizeof(p->err),
	    "line %lu: message over %zu bytes skipped", p->nextline, p->max);
	p->skipping = how;
	return -1;
}

/* discard until the end of the oversized message; 1 done, 0 need more */
static int
skip(struct ami_parser *p)
{
	char *s = p->b.p + p->start, *e = p->b.p + p->b.len, *nl;

	while ((nl = memchr(s, '\n', e - s)) != NULL) {
		p->nextline++;
		if (p->skipping == SKIP_LINE ||
		    (nl + 1 < e && nl[1] == '\n') ||
		    (nl + 2 < e && nl[1] == '\r' && nl[2] == '\n')) {
			p->skipping = SKIP_NONE;
			consume(p, nl + 1, 0);
			return 1;
		}
		s = nl + 1;
	}
	/* keep a line end split across reads */
	if (e - s < 2 && p->b.len - p->start >= 2)
		s = e - 2;
	consume(p, s, 0);
	return 0;
}

static int
endswith(const char *s, const char *e, const char *suffix)
{
	size_t n = strlen(suffix);

	return (size_t)(e - s) >= n && memcmp(e - n, suffix, n) == 0;
}

static void
field(struct ami_msg *m, const char *s, const char *e, int follows)
{
	const char *c = memchr(s, ':', e - s), *v;

	if (follows && (c == NULL || m->n >= 3 ||
	    !(ami_keyeq(s, c - s, "Privilege") || ami_keyeq(s, c - s, "ActionID")))) {
		ami_msg_ref(m, "Output", 6, s, e - s);
		return;
	}
	if (c == NULL) {
		/* not a header: keep the line, nameless, rather than lose it */
		ami_msg_ref(m, "", 0, s, e - s);
		return;
	}
	v = c + 1;
	if (v < e && *v == ' ')
		v++;
	ami_msg_ref(m, s, c - s, v, e - v);
}

/* "Response: Follows", the first line of an Asterisk 13 command's output */
static int
follows_line(const char *ls, const char *le)
{
	const char *c = memchr(ls, ':', le - ls), *v;

	if (c == NULL || !ami_keyeq(ls, c - ls, "Response"))
		return 0;
	v = c + 1 < le && c[1] == ' ' ? c + 2 : c + 1;
	return ami_keyeq(v, le - v, "Follows");
}

/*
 * Just past the blank line that ends the block at s (in a Follows block,
 * the first one after --END COMMAND--), or NULL when it has not come yet.
 * The search resumes where the last one stopped, so a message that
 * arrives in many reads is searched once, not once a read.  It stops
 * before the --END COMMAND-- line, to find it again.
 */
static char *
block_end(struct ami_parser *p, char *s, char *e)
{
	char *ls = s + p->scan, *le, *nl;
	int follows = 0;

	if (p->scan > 0) {
		nl = memchr(s, '\n', e - s);
		follows = follows_line(s, nl > s && nl[-1] == '\r' ? nl - 1 : nl);
	}
	for (; (nl = memchr(ls, '\n', e - ls)) != NULL; ls = nl + 1) {
		le = nl > ls && nl[-1] == '\r' ? nl - 1 : nl;
		if (follows == 1 && endswith(ls, le, ENDCMD))
			follows = 2;
		else if (le == ls && follows != 1)
			return nl + 1;
		else if (ls == s)
			follows = follows_line(ls, le);
		if (follows != 2)
			p->scan = nl + 1 - s;
	}
	return NULL;
}

static int
wire_block(struct ami_parser *p, struct ami_msg *m)
{
	char *s = p->b.p + p->start, *e = p->b.p + p->b.len;
	char *end, *ls, *le, *nl;
	unsigned long lines = 0;
	int follows = 0;

	if ((end = block_end(p, s, e)) == NULL) {
		if (!p->eof) {
			if ((size_t)(e - s) > p->max)
				return oversize(p, SKIP_BLOCK);
			return 0;
		}
		if (p->mode == AMI_WIRE) {
			/* a peer that died mid-message: never pass half */
			snprintf(p->err, sizeof(p->err), "incomplete message "
			    "at end of stream (%zu bytes) dropped", (size_t)(e - s));
			consume(p, e, 0);
			return -1;
		}
		end = e;
	}
	for (ls = s;; ls = nl + 1) {
		if ((nl = memchr(ls, '\n', end - ls)) == NULL)
			nl = end;
		le = nl;
		if (le > ls && le[-1] == '\r')
			le--;
		lines++;
		if (follows == 1 && endswith(ls, le, ENDCMD)) {
			if (le - ls > (long)strlen(ENDCMD))
				field(m, ls, le - strlen(ENDCMD), 1);
			follows = 2;
		} else if (le == ls && follows != 1) {
			break;
		} else {
			field(m, ls, le, follows == 1);
			if (ls == s)
				follows = follows_line(ls, le);
		}
		if (nl == end)
			break;
	}
	if ((size_t)(end - s) > p->max) {
		ami_msg_clear(m);
		oversize(p, SKIP_NONE);
		consume(p, end, lines);
		return -1;
	}
	m->raw = s;
	m->rawlen = end - s;
	p->line = p->nextline;
	consume(p, end, lines);
	return 1;
}

static int
text_line(struct ami_parser *p, struct ami_msg *m, char *s, char *nl)
{
	char *le = nl, err[128];
	int json = *s == '{' || *s == '[', rc;

	if (le > s && le[-1] == '\r')
		le--;
	p->line = p->nextline;
	consume(p, nl < p->b.p + p->b.len ? nl + 1 : nl, 1);
	rc = json ? ami_json_decode(s, le - s, m, err, sizeof(err)) :
	    ami_text_decode(s, le - s, m, err, sizeof(err));
	if (rc == 0)
		return 1;
	snprintf(p->err, sizeof(p->err), "line %lu: %s", p->line, err);
	ami_msg_clear(m);
	return -1;
}

int
ami_parser_next(struct ami_parser *p, struct ami_msg *m)
{
	char *s, *e, *nl, *colon, *eq;

	ami_msg_clear(m);
	for (;;) {
		s = p->b.p + p->start;
		e = p->b.p + p->b.len;
		if (s == e)
			return 0;
		if (p->skipping != SKIP_NONE) {
			if (!skip(p))
				return 0;
			continue;
		}
		/* empty lines between messages */
		if (*s == '\n') {
			consume(p, s + 1, 1);
			continue;
		}
		if (*s == '\r' && (e - s == 1 || s[1] == '\n')) {
			if (e - s == 1 && !p->eof)
				return 0;
			consume(p, s + (e - s == 1 ? 1 : 2), 1);
			continue;
		}
		if (p->mode == AMI_WIRE)
			return wire_block(p, m);

		if ((nl = memchr(s, '\n', e - s)) == NULL) {
			if (!p->eof) {
				if ((size_t)(e - s) > p->max)
					return oversize(p, SKIP_LINE);
				return 0;
			}
			nl = e;
		}
		if (*s == '#' || (nl - s >= (long)strlen(BANNER) &&
		    memcmp(s, BANNER, strlen(BANNER)) == 0)) {
			consume(p, nl < e ? nl + 1 : nl, 1);
			continue;
		}
		if (*s == '{' || *s == '[')
			return text_line(p, m, s, nl);
		colon = memchr(s, ':', nl - s);
		eq = memchr(s, '=', nl - s);
		if (eq != NULL && (colon == NULL || eq < colon))
			return text_line(p, m, s, nl);
		if (colon == NULL) {
			p->line = p->nextline;
			snprintf(p->err, sizeof(p->err),
			    "line %lu: not an AMI message (no Key=Value or Key: Value)",
			    p->line);
			consume(p, nl < e ? nl + 1 : nl, 1);
			return -1;
		}
		return wire_block(p, m);
	}
}
