/*
 * map.c: the peers map file, one "ip peer description" a line; peerlist
 * writes it, dndparse reads it.
 *
 * ip and peer are words; the description is the rest of the line, blanks
 * inside it kept, around it dropped, so what is written reads back the
 * same.  An ip of "-" is not known.  '#' lines and empty lines are kept
 * where they stand when the file is rewritten, so an admin's notes
 * survive.  A rewrite is ami_file_replace's: a reader never sees half a
 * file, and a failure on the way (a full disk) leaves the old file as it
 * was and says so.
 */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami.h"

static int
blank(int c)
{
	return c == ' ' || c == '\t';
}

void
ami_map_add(struct ami_map *m, const char *ip, const char *peer,
    const char *desc)
{
	struct ami_map_ent *e;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->e = ami_xreallocarray(m->e, m->cap, sizeof(*m->e));
	}
	e = &m->e[m->n++];
	e->ip = ip ? ami_xstrdup(ip) : NULL;
	e->peer = peer ? ami_xstrdup(peer) : NULL;
	e->desc = ami_xstrdup(desc ? desc : "");
}

void
ami_map_del(struct ami_map *m, size_t i)
{
	free(m->e[i].ip);
	free(m->e[i].peer);
	free(m->e[i].desc);
	m->e[i].ip = m->e[i].peer = m->e[i].desc = NULL;
}

void
ami_map_free(struct ami_map *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		ami_map_del(m, i);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

const struct ami_map_ent *
ami_map_ip(const struct ami_map *m, const char *ip)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->e[i].peer != NULL && strcmp(m->e[i].ip, ip) == 0)
			return &m->e[i];
	return NULL;
}

int
ami_map_read(struct ami_map *m, const char *path, char *errbuf, size_t errlen)
{
	FILE *fp;
	char *line = NULL, *p, *ip, *peer, *end;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if ((fp = ami_fopen_file(path, AMI_MAP_MAX, 0, errbuf, errlen)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		for (p = line; blank(*p); p++)
			;
		if (*p == '\0' || *p == '#') {
			ami_map_add(m, NULL, NULL, line);
			continue;
		}
		ip = p;
		while (*p != '\0' && !blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
		while (blank(*p))
			p++;
		peer = p;
		while (*p != '\0' && !blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
		while (blank(*p))
			p++;
		if (*peer == '\0') {
			snprintf(errbuf, errlen, "%s:%lu: expected ip peer "
			    "[description]", path, lineno);
			rc = -1;
			break;
		}
		end = p + strlen(p);
		while (end > p && blank(end[-1]))
			*--end = '\0';
		ami_map_add(m, ip, peer, p);
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	if (rc < 0)
		ami_map_free(m);
	return rc;
}

/* a word: not empty, no blank, no control byte */
static int
word(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return 0;
	return 1;
}

/* what ami_map_read would make of e's line is e itself */
static int
readsback(const struct ami_map_ent *e)
{
	const char *d = e->desc;
	size_t n = strlen(d);

	if (strpbrk(d, "\r\n") != NULL)
		return 0;
	if (e->peer == NULL) {
		/* a comment stays one: blank, or '#' after blanks */
		d += strspn(d, " \t");
		return *d == '\0' || *d == '#';
	}
	return word(e->ip) && e->ip[0] != '#' && word(e->peer) &&
	    (n == 0 || (!blank(d[0]) && !blank(d[n - 1])));
}

static int
put(FILE *fp, const struct ami_map_ent *e)
{
	if (e->peer == NULL)
		return fprintf(fp, "%s\n", e->desc);
	if (e->desc[0] == '\0')
		return fprintf(fp, "%-16s %s\n", e->ip, e->peer);
	return fprintf(fp, "%-16s %-6s %s\n", e->ip, e->peer, e->desc);
}

int
ami_map_write(const struct ami_map *m, const char *path, char *errbuf,
    size_t errlen)
{
	const char *what = "write";
	char *p = NULL;
	size_t i, n = 0;
	FILE *fp;
	int rc = -1;

	for (i = 0; i < m->n; i++)
		if (m->e[i].desc != NULL && !readsback(&m->e[i])) {
			snprintf(errbuf, errlen, "%s: entry %zu (%s) would not "
			    "read back as written; refused", path, i + 1,
			    m->e[i].peer ? m->e[i].peer : "comment");
			return -1;
		}
	if ((fp = open_memstream(&p, &n)) == NULL)
		err(2, "open_memstream");
	for (i = 0; i < m->n; i++)
		if (m->e[i].desc != NULL && put(fp, &m->e[i]) < 0)
			break;
	if (i == m->n && fclose(fp) == 0)
		rc = ami_file_replace(path, p, n, &what);
	else if (i < m->n)
		fclose(fp);
	if (rc == -1)
		snprintf(errbuf, errlen, "%s: %s: %s; the file is left as it was",
		    path, what, strerror(errno));
	free(p);
	return rc;
}
