/*
 * tab.c: the hash table of the tools' named things (dndparse's addresses
 * and peers, peerlist's peers and rows, amiaction's echoes, statemerge's
 * and amimqtt's entries through devstate.c, mwinotify's transactions).
 * Open addressing over pointers
 * to the caller's items, each a struct whose first member is its name:
 * the table owns no item, and half its slots stay empty, so a lookup is
 * O(1) at any size.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "ami.h"

#define NAME(item) (*(char **)(item))

/* FNV-1a */
uint32_t
ami_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	if (n == 0)
		return 0;
	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

#define hash ami_hash

/* what a slot keeps of its item's name: its length and hash, looked at
 * before the item (most probes end there; a name of n bytes is then read
 * n bytes far) */
#define SIG(n, h) ((uint64_t)(n) << 32 | (h))

/* the slot of key: its item's, or the empty one it would go in */
static size_t
find(const struct ami_tab *t, const char *key, size_t n, uint32_t h)
{
	size_t i;

	for (i = h & (t->cap - 1); t->slot[i] != NULL;
	    i = (i + 1) & (t->cap - 1))
		if (t->sig[i] == SIG(n, h) && memcmp(NAME(t->slot[i]), key, n) == 0)
			break;
	return i;
}

void *
ami_tab_get(const struct ami_tab *t, const char *key, size_t n)
{
	return t->cap == 0 ? NULL : t->slot[find(t, key, n, hash(key, n))];
}

/* item into t's empty slot for its name's SIG */
static void
place(struct ami_tab *t, void *item, uint64_t sig)
{
	size_t i;

	for (i = (uint32_t)sig & (t->cap - 1); t->slot[i] != NULL;
	    i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = item;
	t->sig[i] = sig;
}

void
ami_tab_put(struct ami_tab *t, void *item)
{
	struct ami_tab bigger;
	size_t i, n;

	if (2 * (t->n + 1) > t->cap) {
		bigger.cap = t->cap ? 2 * t->cap : 256;
		bigger.n = t->n;
		bigger.slot = ami_xcalloc(bigger.cap, sizeof(void *));
		bigger.sig = ami_xcalloc(bigger.cap, sizeof(uint64_t));
		for (i = 0; i < t->cap; i++)
			if (t->slot[i] != NULL)
				place(&bigger, t->slot[i], t->sig[i]);
		free(t->slot);
		free(t->sig);
		*t = bigger;
	}
	n = strlen(NAME(item));
	place(t, item, SIG(n, hash(NAME(item), n)));
	t->n++;
}

void *
ami_tab_del(struct ami_tab *t, const char *key, size_t n)
{
	void *item;
	size_t i, j, home, mask = t->cap - 1;

	if (t->cap == 0 || (item = t->slot[i = find(t, key, n,
	    hash(key, n))]) == NULL)
		return NULL;
	/* no tombstone: each later item of the run that may sit in the hole
	 * (its home is not between the hole and it) moves up into it */
	for (j = (i + 1) & mask; t->slot[j] != NULL; j = (j + 1) & mask) {
		home = (uint32_t)t->sig[j] & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slot[i] = t->slot[j];
			t->sig[i] = t->sig[j];
			i = j;
		}
	}
	t->slot[i] = NULL;
	t->n--;
	return item;
}

void *
ami_tab_each(const struct ami_tab *t, size_t *i)
{
	for (; *i < t->cap; (*i)++)
		if (t->slot[*i] != NULL)
			return t->slot[(*i)++];
	return NULL;
}

void
ami_tab_free(struct ami_tab *t, void (*freeitem)(void *))
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL && freeitem != NULL)
			freeitem(t->slot[i]);
	free(t->slot);
	free(t->sig);
	memset(t, 0, sizeof(*t));
}
