/*
 * devstate.c: device state across servers.  Asterisk's own words for a
 * device's state and its rule for joining several into one (the rule a
 * hint "A&B" follows, ast_devstate_aggregate in main/devicestate.c), the
 * mirror names the merged state is kept under, and the table of (name,
 * server) -> value that statemerge keeps.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ami.h"

/* Asterisk's enum ast_device_state order, and devstate2str's words */
static const char *const words[AMI_DS_NSTATES] = {
	"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE",
	"RINGING", "RINGINUSE", "ONHOLD"
};

int
ami_devstate_val(const char *s, size_t n)
{
	int i;

	for (i = 0; i < AMI_DS_NSTATES; i++)
		if (strlen(words[i]) == n && strncasecmp(words[i], s, n) == 0)
			return i;
	return -1;
}

const char *
ami_devstate_str(int st)
{
	return st >= 0 && st < AMI_DS_NSTATES ? words[st] : "INVALID";
}

void
ami_devagg_init(struct ami_devagg *a)
{
	memset(a, 0, sizeof(*a));
	a->state = AMI_DS_INVALID;
}

/*
 * Asterisk's rule: the highest state in this order wins, except that
 * ringing on one device and in use on another make RINGINUSE.  Not at
 * home (INVALID < UNKNOWN < UNAVAILABLE) is below every state a device
 * at home has, so it never overrides one.
 */
void
ami_devagg_add(struct ami_devagg *a, int st)
{
	static const int order[AMI_DS_NSTATES] = {
		1, 3, 6, 7, 0, 2, 5, 8, 4
	};

	if (st < 0 || st >= AMI_DS_NSTATES)
		return;
	if (st == AMI_DS_RINGING)
		a->ringing = 1;
	else if (st == AMI_DS_INUSE || st == AMI_DS_ONHOLD || st == AMI_DS_BUSY)
		a->inuse = 1;
	if (a->ringing && a->inuse)
		a->state = AMI_DS_RINGINUSE;
	else if (order[st] > order[a->state])
		a->state = st;
}

static int
devchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_.@+-/:", c) != NULL;
}

int
ami_devstate_mirror(char *out, size_t cap, const char *dev, size_t n)
{
	size_t i;

	if (n == 0 || n > AMI_DEVICE_MAX || cap < n + 8 ||
	    strncasecmp(dev, "Custom:", 7) == 0 || strncasecmp(dev, "MWI:", 4) == 0)
		return -1;
	memcpy(out, "Custom:", 7);
	for (i = 0; i < n; i++) {
		if (!devchar(dev[i]))
			return -1;
		out[7 + i] = dev[i] == '/' ? '-' : dev[i];
	}
	out[7 + n] = '\0';
	return 0;
}

/* ---- the table ---- */
struct ami_stab {
	struct ami_stent **b;
	size_t nb, n, max;
};

struct ami_stab *
ami_stab_new(size_t max)
{
	struct ami_stab *t;

	t = ami_xcalloc(1, sizeof(*t));
	t->b = ami_xcalloc(t->nb = 1024, sizeof(*t->b));
	t->max = max;
	return t;
}

uint32_t
ami_hash(const char *s, size_t n)
{
	uint32_t h = 5381;

	if (n == 0)
		return 0;
	while (n-- > 0)
		h = h * 33 ^ (unsigned char)*s++;
	return h;
}

#define hash ami_hash

/* twice the buckets when full, so a lookup stays O(1) at any size */
static void
grow(struct ami_stab *t)
{
	struct ami_stent **nb, *e, *next;
	size_t i, h;

	nb = ami_xcalloc(t->nb * 2, sizeof(*nb));
	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			h = hash(e->key, strlen(e->key)) % (t->nb * 2);
			e->next = nb[h];
			nb[h] = e;
		}
	free(t->b);
	t->b = nb;
	t->nb *= 2;
}

struct ami_stent *
ami_stab_get(struct ami_stab *t, const char *key, size_t n, int create)
{
	struct ami_stent *e;
	size_t h = hash(key, n) % t->nb;

	for (e = t->b[h]; e != NULL; e = e->next)
		if (strncmp(e->key, key, n) == 0 && e->key[n] == '\0')
			return e;
	if (!create || t->n >= t->max)
		return NULL;
	if (t->n >= t->nb) {
		grow(t);
		h = hash(key, n) % t->nb;
	}
	e = ami_xcalloc(1, sizeof(*e));
	e->key = ami_xstrndup(key, n);
	e->next = t->b[h];
	t->b[h] = e;
	t->n++;
	return e;
}

struct ami_stent *
ami_stab_each(struct ami_stab *t, struct ami_stent *prev)
{
	size_t i = 0;

	if (prev != NULL) {
		if (prev->next != NULL)
			return prev->next;
		i = hash(prev->key, strlen(prev->key)) % t->nb + 1;
	}
	for (; i < t->nb; i++)
		if (t->b[i] != NULL)
			return t->b[i];
	return NULL;
}

void
ami_stab_set(char **slot, const char *v, size_t n)
{
	free(*slot);
	*slot = NULL;
	if (v != NULL)
		*slot = ami_xstrndup(v, n);
}

static void
entfree(struct ami_stent *e)
{
	struct ami_due *d;
	int i;

	for (i = 0; i < AMI_STAB_SERVERS; i++) {
		free(e->val[i]);
		free(e->told[i]);
		while ((d = e->due[i]) != NULL) {
			e->due[i] = d->next;
			free(d);
		}
	}
	free(e->cur);
	free(e->key);
	free(e);
}

void
ami_stab_free(struct ami_stab *t)
{
	struct ami_stent *e, *next;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			entfree(e);
		}
	free(t->b);
	free(t);
}

void
ami_due_add(struct ami_stent *e, int server, const char *v, int64_t now)
{
	struct ami_due *d, **tail;
	int n = 0;

	d = ami_xmalloc(sizeof(*d) + strlen(v) + 1);
	d->next = NULL;
	d->at = now;
	strcpy(d->val, v);
	for (tail = &e->due[server]; *tail != NULL; tail = &(*tail)->next)
		n++;
	*tail = d;
	if (n >= AMI_DUE_MAX) {         /* bounded: the oldest is forgotten */
		d = e->due[server];
		e->due[server] = d->next;
		free(d);
	}
}

int
ami_due_echo(struct ami_stent *e, int server, const char *v, int64_t now)
{
	struct ami_due *d, *p;

	while ((d = e->due[server]) != NULL && now - d->at > AMI_DUE_TTL) {
		e->due[server] = d->next;
		free(d);
	}
	for (p = e->due[server]; p != NULL; p = p->next)
		if (strcmp(p->val, v) == 0) {
			/* echoes come in order: the ones before will not */
			while ((d = e->due[server]) != p) {
				e->due[server] = d->next;
				free(d);
			}
			e->due[server] = p->next;
			free(p);
			return 1;
		}
	return 0;
}
