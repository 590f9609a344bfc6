/*
 * tmpl.c: "%{Key}" templates, compiled once into literal and key pieces.
 * "%%" is a percent sign; \t, \n and \\ in the literal text are a tab, a
 * newline and a backslash, for -f on a shell command line.  A missing key
 * expands to nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami.h"

struct piece {
	int    iskey;
	size_t off, len;    /* into text */
};

struct ami_tmpl {
	struct ami_buf text;
	struct piece *p;
	size_t n;
};

static void
piece(struct ami_tmpl *t, int iskey, size_t off)
{
	struct piece *p;

	if (!iskey && t->n > 0 && !t->p[t->n - 1].iskey) {
		t->p[t->n - 1].len = t->text.len - t->p[t->n - 1].off;
		return;
	}
	t->p = p = ami_xreallocarray(t->p, t->n + 1, sizeof(*p));
	p[t->n].iskey = iskey;
	p[t->n].off = off;
	p[t->n].len = t->text.len - off;
	t->n++;
}

struct ami_tmpl *
ami_tmpl_new(const char *s, char *err, size_t errlen)
{
	struct ami_tmpl *t;
	const char *end;
	size_t off;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	while (*s) {
		off = t->text.len;
		if (s[0] == '%' && s[1] == '{') {
			if ((end = strchr(s + 2, '}')) == NULL || end == s + 2) {
				snprintf(err, errlen, "template: %%{ without a "
				    "key and closing }");
				ami_tmpl_free(t);
				return NULL;
			}
			ami_buf_add(&t->text, s + 2, end - s - 2);
			piece(t, 1, off);
			s = end + 1;
			continue;
		}
		if (s[0] == '%' && s[1] == '%')
			s++;
		if (s[0] == '\\' && (s[1] == 't' || s[1] == 'n' || s[1] == '\\')) {
			ami_buf_addc(&t->text, s[1] == 't' ? '\t' :
			    s[1] == 'n' ? '\n' : '\\');
			s += 2;
		} else
			ami_buf_addc(&t->text, *s++);
		piece(t, 0, off);
	}
	return t;
}

void
ami_tmpl_expand(const struct ami_tmpl *t, const struct ami_msg *m,
    struct ami_buf *b, void (*put)(struct ami_buf *, const char *, size_t))
{
	const struct piece *p;
	char key[256];
	const char *v;
	size_t i, vl;

	for (i = 0; i < t->n; i++) {
		p = &t->p[i];
		if (!p->iskey) {
			ami_buf_add(b, t->text.p + p->off, p->len);
			continue;
		}
		snprintf(key, sizeof(key), "%.*s", (int)p->len, t->text.p + p->off);
		if ((v = ami_msg_get(m, key, &vl)) == NULL)
			continue;
		if (put != NULL)
			put(b, v, vl);
		else
			ami_buf_add(b, v, vl);
	}
}

void
ami_tmpl_free(struct ami_tmpl *t)
{
	if (t == NULL)
		return;
	ami_buf_free(&t->text);
	free(t->p);
	free(t);
}
