/*
 * map.c: the peers map file, one "ip peer description" a line; peerlist
 * writes it, dndparse reads it.
 *
 * ip and peer are words; the description is the rest of the line, blanks
 * inside it kept, around it dropped, so what is written reads back the
 * same.  An ip of "-" is not known.  '#' lines and empty lines are kept
 * where they stand when the file is rewritten, so an admin's notes
 * survive.  A rewrite never leaves a half-written file for a reader: a
 * temporary file in the same directory, flushed and fsync'ed, renamed over
 * the old one, then the directory fsync'ed; any failure on the way (a full
 * disk) leaves the old file as it was and says so.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
ami_map_set(char **field, const char *v)
{
	free(*field);
	*field = ami_xstrdup(v);
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

static const struct ami_map_ent *
find(const struct ami_map *m, int byip, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->e[i].peer != NULL &&
		    strcmp(byip ? m->e[i].ip : m->e[i].peer, key) == 0)
			return &m->e[i];
	return NULL;
}

const struct ami_map_ent *
ami_map_ip(const struct ami_map *m, const char *ip)
{
	return find(m, 1, ip);
}

const struct ami_map_ent *
ami_map_peer(const struct ami_map *m, const char *peer)
{
	return find(m, 0, peer);
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
	char *dcopy, *bcopy, *tmp;
	const char *dir, *what = NULL;
	struct stat st;
	FILE *fp = NULL;
	size_t i;
	int fd, dfd, e;
	mode_t mask;

	for (i = 0; i < m->n; i++)
		if (m->e[i].desc != NULL && !readsback(&m->e[i])) {
			snprintf(errbuf, errlen, "%s: entry %zu (%s) would not "
			    "read back as written; refused", path, i + 1,
			    m->e[i].peer ? m->e[i].peer : "comment");
			return -1;
		}
	dcopy = ami_xstrdup(path);
	bcopy = ami_xstrdup(path);
	dir = dirname(dcopy);
	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, basename(bcopy)) == -1)
		err(2, "asprintf");
	if ((fd = mkstemp(tmp)) == -1) {
		e = errno;
		what = "temporary file";
		goto out;
	}
	/* the new file takes the old one's mode and owner, or the umask's */
	if (stat(path, &st) == 0) {
		fchmod(fd, st.st_mode & 07777);
		if (fchown(fd, st.st_uid, st.st_gid) == -1 && errno != EPERM)
			warn("%s: chown", tmp);
	} else {
		mask = umask(0);
		umask(mask);
		fchmod(fd, 0666 & ~mask);
	}
	if ((fp = fdopen(fd, "w")) == NULL)
		err(2, "fdopen");
	for (i = 0; i < m->n; i++)
		if (m->e[i].desc != NULL && put(fp, &m->e[i]) < 0)
			break;
	if (i < m->n || fflush(fp) == EOF || fsync(fd) == -1) {
		e = errno;
		fclose(fp);
		what = "write";
	} else if (fclose(fp) == EOF) {
		e = errno;
		what = "write";
	} else if (rename(tmp, path) == -1) {
		e = errno;
		what = "rename";
	}
	if (what != NULL) {
		unlink(tmp);
		goto out;
	}
	/* the rename itself must reach the disk before we say it is done */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1 || fsync(dfd) == -1) {
		e = errno;
		snprintf(errbuf, errlen, "%s: fsync of directory %s: %s", path,
		    dir, strerror(e));
		what = "";
	}
	if (dfd != -1)
		close(dfd);
out:
	if (what != NULL && *what != '\0')
		snprintf(errbuf, errlen, "%s: %s: %s; the file is left as it was",
		    path, what, strerror(e));
	free(tmp);
	free(dcopy);
	free(bcopy);
	return what == NULL ? 0 : -1;
}

/* who holds an flock on fd's file, from /proc/locks: its pid, or 0 */
static long
holder(int fd)
{
	struct stat st;
	char line[256];
	unsigned long maj, min, ino;
	long pid, found = 0;
	FILE *fp;

	if (fstat(fd, &st) == -1 || (fp = fopen("/proc/locks", "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "%*s FLOCK %*s %*s %ld %lx:%lx:%lu", &pid, &maj,
		    &min, &ino) == 4 && ino == st.st_ino &&
		    makedev(maj, min) == st.st_dev && pid > 0)
			found = pid;
	fclose(fp);
	return found;
}

int
ami_map_lock(const char *path, char *errbuf, size_t errlen)
{
	char *dcopy = ami_xstrdup(path);
	const char *dir = dirname(dcopy);
	int64_t until = ami_now_ms() + AMI_MAP_LOCK_MS;
	struct timespec nap = { 0, 20 * 1000000 };
	long pid;
	int fd;

	/* the file itself is replaced on every write; its directory stays */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(errbuf, errlen, "%s: lock: %s", dir, strerror(errno));
		goto out;
	}
	/* a writer holds it for milliseconds; one that holds it longer is
	 * stuck (or stopped), and waiting for it silently helps nobody */
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((errno != EWOULDBLOCK && errno != EINTR) ||
		    ami_now_ms() >= until) {
			if (errno != EWOULDBLOCK && errno != EINTR)
				snprintf(errbuf, errlen, "%s: lock: %s", dir,
				    strerror(errno));
			else if ((pid = holder(fd)) > 0)
				snprintf(errbuf, errlen, "%s: process %ld has held "
				    "the lock for more than %d s", dir, pid,
				    AMI_MAP_LOCK_MS / 1000);
			else
				snprintf(errbuf, errlen, "%s: another process has "
				    "held the lock for more than %d s (see "
				    "/proc/locks)", dir, AMI_MAP_LOCK_MS / 1000);
			close(fd);
			fd = -1;
			break;
		}
		nanosleep(&nap, NULL);
	}
out:
	free(dcopy);
	return fd;
}
