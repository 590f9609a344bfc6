/* ---- small helpers ---- */

#include "amisim.h"

/* Asterisk's event classes, in authority_to_str() order */
static const struct {
	const char *name;
	int         bit;
} perms[] = {
	{ "system", 1 << 0 }, { "call", 1 << 1 }, { "log", 1 << 2 },
	{ "verbose", 1 << 3 }, { "command", 1 << 4 }, { "agent", 1 << 5 },
	{ "user", 1 << 6 }, { "config", 1 << 7 }, { "dtmf", 1 << 8 },
	{ "reporting", 1 << 9 }, { "cdr", 1 << 10 }, { "dialplan", 1 << 11 },
	{ "originate", 1 << 12 }, { "agi", 1 << 13 }, { "cc", 1 << 14 },
	{ "aoc", 1 << 15 }, { "test", 1 << 16 }, { "security", 1 << 17 },
	{ "message", 1 << 18 },
};

void *
xgrow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	return ami_xreallocarray(p, *cap, size);
}

void
bufprintf(struct ami_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	ami_buf_grow(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		errx(2, "vsnprintf");
	if ((size_t)n >= b->cap - b->len) {
		ami_buf_grow(b, n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += n;
}

/* ami_buf_add() of nothing to a fresh buffer would memcpy to NULL */
void
put(struct ami_buf *b, const char *s)
{
	if (*s != '\0')
		ami_buf_adds(b, s);
}

const char *
kvs_get(const struct kvs *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->a[i].k, k) == 0)
			return s->a[i].v;
	return NULL;
}

void
kvs_set(struct kvs *s, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->a[i].k, k) == 0) {
			free(s->a[i].v);
			s->a[i].v = ami_xstrdup(v);
			return;
		}
	s->a = xgrow(s->a, &s->cap, s->n, sizeof(*s->a));
	s->a[s->n].k = ami_xstrdup(k);
	s->a[s->n++].v = ami_xstrdup(v);
}

int
kvs_del(struct kvs *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->a[i].k, k) == 0) {
			free(s->a[i].k);
			free(s->a[i].v);
			s->a[i] = s->a[--s->n];
			return 0;
		}
	return -1;
}

void
kvs_free(struct kvs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->a[i].k);
		free(s->a[i].v);
	}
	free(s->a);
	memset(s, 0, sizeof(*s));
}

/* astdb keeps insertion order per family, which is all DBGet needs */
const char *
db_get(const char *family, const char *key)
{
	char k[512];

	snprintf(k, sizeof(k), "/%s/%s", family, key);
	return kvs_get(&astdb, k);
}

void
db_put(const char *family, const char *key, const char *val)
{
	char k[512];

	snprintf(k, sizeof(k), "/%s/%s", family, key);
	kvs_set(&astdb, k, val);
}

/* "2026-11-23T03:40:53.987+0000", the way ast_json_timeval() writes it */
void
fmt_tv(char *out, size_t len, struct timeval tv)
{
	struct tm tm;
	time_t t = tv.tv_sec;
	char a[32], z[8];

	localtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm);
	snprintf(out, len, "%s.%03ld%s", a, (long)tv.tv_usec / 1000, z);
}

int
perm_of(const char *s)
{
	char buf[256], *p, *w;
	int r = 0;
	size_t i;

	strlcpy(buf, s, sizeof(buf));
	for (p = buf; (w = strsep(&p, ",")) != NULL;) {
		if (strcmp(w, "all") == 0)
			return EV_ALL;
		for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
			if (strcmp(w, perms[i].name) == 0)
				r |= perms[i].bit;
	}
	return r;
}

const char *
perm_str(int cat)
{
	size_t i;

	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (cat == perms[i].bit)
			return perms[i].name;
	return "none";
}

/* ast_true() / ast_false() */
int
truth(const char *s)
{
	static const char *t[] = { "yes", "true", "y", "t", "1", "on" };
	static const char *f[] = { "no", "false", "n", "f", "0", "off" };
	size_t i;

	for (i = 0; i < 6; i++) {
		if (strcasecmp(s, t[i]) == 0)
			return 1;
		if (strcasecmp(s, f[i]) == 0)
			return 0;
	}
	return -1;
}

/* strings_to_mask(): -1 leaves the mask as it is */
int
eventmask(const char *s)
{
	const char *p;

	if (*s == '\0')
		return -1;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0')
		return atoi(s);
	switch (truth(s)) {
	case 0:
		return 0;
	case 1:
		return EV_ALL;
	}
	return perm_of(s);
}
