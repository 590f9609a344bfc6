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

/* ---- the table: a thin typed use of tab.c's ---- */
struct ami_stab {
	struct ami_tab t;
	size_t max;
};

struct ami_stab *
ami_stab_new(size_t max)
{
	struct ami_stab *t;

	t = ami_xcalloc(1, sizeof(*t));
	t->max = max;
	return t;
}

struct ami_stent *
ami_stab_get(struct ami_stab *t, const char *key, size_t n, int create)
{
	struct ami_stent *e;

	/* a NUL would cut the name kept: such a key is never there */
	if ((e = ami_tab_get(&t->t, key, n)) != NULL || !create ||
	    t->t.n >= t->max || memchr(key, '\0', n) != NULL)
		return e;
	e = ami_xcalloc(1, sizeof(*e));
	e->key = ami_xstrndup(key, n);
	ami_tab_put(&t->t, e);
	return e;
}

struct ami_stent *
ami_stab_each(struct ami_stab *t, size_t *i)
{
	return ami_tab_each(&t->t, i);
}

void
ami_stab_set(char **slot, const char *v, size_t n)
{
	free(*slot);
	*slot = NULL;
	if (v != NULL)
		*slot = ami_xstrndup(v, n);
}

/* forget the due echoes up to and including last (NULL:
 * all) */
static void
forget(struct ami_due **due, const struct ami_due *last)
{
	struct ami_due *d;
	int end = 0;

	while (!end && (d = *due) != NULL) {
		*due = d->next;
		end = d == last;
		free(d);
	}
}

static void
entfree(void *p)
{
	struct ami_stent *e = p;
	int i;

	for (i = 0; i < AMI_STAB_SERVERS; i++) {
		free(e->val[i]);
		free(e->told[i]);
		forget(&e->due[i], NULL);
	}
	free(e->cur);
	free(e->key);
	free(e);
}

void
ami_stab_free(struct ami_stab *t)
{
	if (t == NULL)
		return;
	ami_tab_free(&t->t, entfree);
	free(t);
}

void
ami_due_add(struct ami_due **due, const char *v, int64_t now)
{
	struct ami_due *d, **tail;
	int n = 0;

	d = ami_xmalloc(sizeof(*d) + strlen(v) + 1);
	d->next = NULL;
	d->at = now;
	strcpy(d->val, v);
	for (tail = due; *tail != NULL; tail = &(*tail)->next)
		n++;
	*tail = d;
	if (n >= AMI_DUE_MAX)           /* bounded: the oldest is forgotten */
		forget(due, *due);
}

int
ami_due_echo(struct ami_due **due, const char *v, int64_t now)
{
	struct ami_due *p;

	while (*due != NULL && now - (*due)->at > AMI_DUE_TTL)
		forget(due, *due);
	/* echoes come in order: the ones before will not */
	for (p = *due; p != NULL; p = p->next)
		if (strcmp(p->val, v) == 0) {
			forget(due, p);
			return 1;
		}
	return 0;
}
