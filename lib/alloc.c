/*
 * alloc.c: allocate or die.  The tools hold what they were given in
 * memory bounded by their caps, so running out is a system error: exit 2,
 * naming the call that failed.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "ami.h"

void *
ami_xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n)) == NULL)
		err(2, "malloc");
	return p;
}

void *
ami_xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n, size)) == NULL)
		err(2, "calloc");
	return p;
}

void *
ami_xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		err(2, "realloc");
	return p;
}

void *
ami_xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n, size)) == NULL)
		err(2, "reallocarray");
	return p;
}

char *
ami_xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		err(2, "strdup");
	return p;
}

char *
ami_xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL)
		err(2, "strndup");
	return p;
}
