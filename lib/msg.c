/*
 * msg.c: a message is an ordered list of fields.  Fields either point at
 * bytes owned by someone else (the parser's buffer) or into the message's
 * arena, a chain of blocks that never move, so pointers stay valid while
 * fields are added.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ami.h"

struct ami_arena {
	struct ami_arena *next;
	size_t used, size;
	char   data[];
};

static char *
arena_alloc(struct ami_msg *m, size_t n)
{
	struct ami_arena *a = m->arena;
	size_t size;

	if (a == NULL || a->size - a->used < n) {
		size = n > 4000 ? n : 4000;
		a = ami_xmalloc(sizeof(*a) + size);
		a->used = 0;
		a->size = size;
		a->next = m->arena;
		m->arena = a;
	}
	a->used += n;
	return a->data + a->used - n;
}

static void
arena_reset(struct ami_msg *m)
{
	struct ami_arena *a, *next;

	if (m->arena == NULL)
		return;
	/* keep the newest block for reuse: a message's size is steady */
	for (a = m->arena->next; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	m->arena->next = NULL;
	m->arena->used = 0;
}

void
ami_msg_clear(struct ami_msg *m)
{
	m->n = 0;
	m->raw = NULL;
	m->rawlen = 0;
	arena_reset(m);
}

void
ami_msg_free(struct ami_msg *m)
{
	arena_reset(m);
	free(m->arena);
	free(m->f);
	memset(m, 0, sizeof(*m));
}

void
ami_msg_ref(struct ami_msg *m, const char *k, size_t kl, const char *v,
    size_t vl)
{
	struct ami_field *f;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->f = ami_xreallocarray(m->f, m->cap, sizeof(*m->f));
	}
	f = &m->f[m->n++];
	f->k = k;
	f->kl = kl;
	f->v = v;
	f->vl = vl;
	f->tight = 0;
	f->slack = 0;
}

static const char *
dup(struct ami_msg *m, const char *s, size_t n)
{
	char *p = arena_alloc(m, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
ami_msg_add(struct ami_msg *m, const char *k, size_t kl, const char *v,
    size_t vl)
{
	k = dup(m, k, kl);
	ami_msg_ref(m, k, kl, dup(m, v, vl), vl);
}

void
ami_msg_adds(struct ami_msg *m, const char *k, const char *v)
{
	ami_msg_add(m, k, strlen(k), v, strlen(v));
}

void
ami_msg_copy(struct ami_msg *dst, const struct ami_msg *src)
{
	size_t i;

	ami_msg_clear(dst);
	for (i = 0; i < src->n; i++) {
		ami_msg_add(dst, src->f[i].k, src->f[i].kl, src->f[i].v, src->f[i].vl);
		dst->f[i].tight = src->f[i].tight;
	}
	if (src->raw != NULL) {
		dst->raw = dup(dst, src->raw, src->rawlen);
		dst->rawlen = src->rawlen;
	}
}

int
ami_listhas(const char *list, const char *s, size_t n)
{
	const char *p, *comma;

	for (p = list; ; p = comma + 1) {
		comma = strchrnul(p, ',');
		if ((size_t)(comma - p) == n && strncasecmp(p, s, n) == 0)
			return 1;
		if (*comma == '\0')
			return 0;
	}
}

int
ami_msg_find(const struct ami_msg *m, const char *key, size_t from)
{
	size_t i, len = strlen(key);

	for (i = from; i < m->n; i++)
		if (m->f[i].kl == len && (m->f[i].k[0] | 0x20) == (key[0] | 0x20) &&
		    strncasecmp(m->f[i].k, key, len) == 0)
			return i;
	return -1;
}

const char *
ami_msg_get(const struct ami_msg *m, const char *key, size_t *len)
{
	int i = ami_msg_find(m, key, 0);

	if (i < 0)
		return NULL;
	if (len != NULL)
		*len = m->f[i].vl;
	return m->f[i].v;
}

int
ami_msg_is(const struct ami_msg *m, const char *key, const char *val)
{
	size_t n;
	const char *v = ami_msg_get(m, key, &n);

	return v != NULL && ami_keyeq(v, n, val);
}

int
ami_msg_skipped(const struct ami_msg *m)
{
	const char *srv, *why;
	size_t sl, wl;

	if (!ami_msg_is(m, "Event", "AmitoolsSkipped"))
		return 0;
	if ((srv = ami_msg_get(m, "Server", &sl)) == NULL)
		srv = "-", sl = 1;
	if ((why = ami_msg_get(m, "Reason", &wl)) == NULL)
		why = "a message was skipped", wl = strlen(why);
	warnx("%.*s: %.*s", (int)sl, srv, (int)wl, why);
	return 1;
}

void
ami_msg_set(struct ami_msg *m, size_t i, const char *v, size_t vl)
{
	m->f[i].v = dup(m, v, vl);
	m->f[i].vl = vl;
	m->f[i].slack = 0;
}

void
ami_msg_del(struct ami_msg *m, size_t i)
{
	memmove(&m->f[i], &m->f[i + 1], (m->n - i - 1) * sizeof(*m->f));
	m->n--;
}
