/*
 * conf.c: /etc/amitools.conf, ~/.amitools.conf, -c FILE, then the
 * environment.  Within each layer [default] is read before the named
 * section.  A -H name with no section of its own is taken as host[:port]
 * with the [default] credentials.  A file that holds a secret must be
 * private to its owner: a secret others can read is a secret already lost.
 * The option letters renamed for one meaning across the suite are said
 * here too, as are the files, and a number argument is checked here.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ami.h"

#define CONF_MAX   (1024 * 1024)    /* bytes of a config or secret file */

FILE *
ami_fopen_file(const char *path, off_t max, int oflags, char *err,
    size_t errlen)
{
	struct stat st;
	int fd, e;

	/* O_NONBLOCK: a FIFO (or a device) must not hold the tool forever */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
	    oflags)) == -1) {
		e = errno;
		if (e == ELOOP && (oflags & O_NOFOLLOW))
			snprintf(err, errlen, "%s is a symbolic link; not "
			    "followed", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	if (fstat(fd, &st) == -1)
		e = errno, snprintf(err, errlen, "%s: %s", path, strerror(e));
	else if (!S_ISREG(st.st_mode))
		e = EINVAL, snprintf(err, errlen, "%s: not a regular file", path);
	else if (st.st_size > max)
		e = EFBIG, snprintf(err, errlen, "%s: larger than %lld bytes",
		    path, (long long)max);
	else if (fcntl(fd, F_SETFL, 0) == -1)
		e = errno, snprintf(err, errlen, "%s: %s", path, strerror(e));
	else {
		FILE *fp = fdopen(fd, "r");

		if (fp != NULL)
			return fp;
		e = errno, snprintf(err, errlen, "%s: %s", path, strerror(e));
	}
	close(fd);
	errno = e;
	return NULL;
}

/* a port: a service name, or a number from 1 to 65535 (99999 is no
 * port, and must not wrap around to one) */
static const char *
portbad(const char *v)
{
	const char *e = NULL;

	if (*v == '\0')
		return "empty";
	if (strspn(v, "0123456789") == strlen(v))
		strtonum(v, 1, 65535, &e);
	return e;
}

char *
ami_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
private(FILE *fp, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fileno(fp), &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s holds a secret but is readable by "
		    "group or other; run chmod 600 %s", path, path);
		return -1;
	}
	return 0;
}

static int
set(struct ami_server *s, const char *key, const char *val, const char *path,
    int line, char *err, size_t errlen)
{
	const char *e = NULL;
	size_t n;

	if (strcmp(key, "host") == 0)
		n = strlcpy(s->host, val, sizeof(s->host)) >= sizeof(s->host);
	else if (strcmp(key, "port") == 0) {
		n = strlcpy(s->port, val, sizeof(s->port)) >= sizeof(s->port);
		e = portbad(val);
	}
	else if (strcmp(key, "username") == 0)
		n = strlcpy(s->user, val, sizeof(s->user)) >= sizeof(s->user);
	else if (strcmp(key, "secret") == 0)
		n = strlcpy(s->secret, val, sizeof(s->secret)) >= sizeof(s->secret);
	else if (strcmp(key, "events") == 0)
		n = strlcpy(s->events, val, sizeof(s->events)) >= sizeof(s->events);
	else if (strcmp(key, "keepalive") == 0) {
		s->keepalive = strtonum(val, 0, 3600, &e);
		n = 0;
	} else if (strcmp(key, "tls") == 0 || strcmp(key, "verify") == 0) {
		n = 0;
		if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
			e = "not yes or no";
		else if (key[0] == 't')
			s->tls = val[0] == 'y';
		else
			s->verify = val[0] == 'y';
	} else if (strcmp(key, "auth") == 0) {
		n = 0;
		if (strcmp(val, "md5") != 0 && strcmp(val, "plain") != 0)
			e = "not md5 or plain";
		else
			s->plain = val[0] == 'p';
	} else if (strcmp(key, "cafile") == 0)
		n = strlcpy(s->cafile, val, sizeof(s->cafile)) >= sizeof(s->cafile);
	else {
		snprintf(err, errlen, "%s:%d: unknown key %s", path, line, key);
		return -1;
	}
	if (n || e != NULL) {
		snprintf(err, errlen, "%s:%d: %s is %s", path, line, key,
		    e ? e : "too long");
		return -1;
	}
	return 0;
}

/* one config file, read a line at a time */
struct conf {
	FILE       *fp;
	char       *line;
	size_t      cap;
	int         lineno;
	char        sect[64];       /* the section of the last line */
	char        why[48];        /* what is wrong with it */
};

/* 1 open, 0 missing or not ours to read (when not must), -1 with err */
static int
conf_open(struct conf *cf, const char *path, int must, char *err,
    size_t errlen)
{
	memset(cf, 0, sizeof(*cf));
	if ((cf->fp = ami_fopen_file(path, CONF_MAX, 0, err, errlen)) != NULL)
		return 1;
	/* a root-only /etc/amitools.conf is root's, not an error for every
	 * other user who has a ~/.amitools.conf of their own */
	if ((errno == ENOENT || errno == EACCES) && !must)
		return 0;
	return -1;
}

static void
conf_close(struct conf *cf)
{
	free(cf->line);
	fclose(cf->fp);
}

/*
 * The next line of cf that is neither a comment nor a [section]: 1 with
 * key and value, trimmed in place, or with val NULL and cf->why when it
 * is no "key = value"; 0 at the end.  A line is read whole, however long:
 * cut, its tail would be read as a line of its own.  One holding a NUL
 * or another control byte but tab (a CR an editor left inside a value)
 * is bad: a value goes into AMI headers and file names.
 */
static int
conf_next(struct conf *cf, char **key, char **val)
{
	char *p, *eq, *c;
	ssize_t n;

	while ((n = getline(&cf->line, &cf->cap, cf->fp)) != -1) {
		cf->lineno++;
		*key = *val = NULL;
		while (n > 0 && (cf->line[n - 1] == '\n' || cf->line[n - 1] == '\r'))
			cf->line[--n] = '\0';
		for (c = cf->line; c < cf->line + n; c++)
			if (iscntrl((unsigned char)*c) && *c != '\t') {
				snprintf(cf->why, sizeof(cf->why),
				    "control character \\x%02x", (unsigned char)*c);
				return 1;
			}
		p = ami_trim(cf->line);
		if (*p == '\0' || *p == ';' || *p == '#')
			continue;
		if (*p == '[' && (eq = strchr(p, ']')) != NULL) {
			*eq = '\0';
			strlcpy(cf->sect, ami_trim(p + 1), sizeof(cf->sect));
			continue;
		}
		if (*p == '[' || (eq = strchr(p, '=')) == NULL) {
			strlcpy(cf->why, "expected [section] or key = value",
			    sizeof(cf->why));
			return 1;
		}
		*eq = '\0';
		/* a comment may follow a value after white space */
		for (c = eq + 1; *c; c++)
			if ((*c == ';' || *c == '#') && isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		*key = ami_trim(p);
		*val = ami_trim(eq + 1);
		return 1;
	}
	return 0;
}

/* apply section sect of path; 1 section found, 0 not, -1 error */
static int
load(struct ami_server *s, const char *path, const char *sect, int must,
    char *err, size_t errlen)
{
	struct conf cf;
	char *key, *val;
	int found = 0, checked = 0, rc;

	if ((rc = conf_open(&cf, path, must, err, errlen)) <= 0)
		return rc;
	while ((rc = conf_next(&cf, &key, &val)) > 0) {
		if (val == NULL) {
			snprintf(err, errlen, "%s:%d: %s", path, cf.lineno, cf.why);
			rc = -1;
			break;
		}
		if (strcmp(key, "secret") == 0 && !checked++ &&
		    (rc = private(cf.fp, path, err, errlen)) < 0)
			break;
		if (strcmp(cf.sect, sect) != 0)
			continue;
		found = 1;
		if ((rc = set(s, key, val, path, cf.lineno, err, errlen)) < 0)
			break;
	}
	conf_close(&cf);
	return rc < 0 ? -1 : found;
}

static int
secret_file(struct ami_server *s, const char *path, char *err, size_t errlen)
{
	FILE *fp;
	char line[256];

	if ((fp = ami_fopen_file(path, CONF_MAX, 0, err, errlen)) == NULL)
		return -1;
	if (private(fp, path, err, errlen) < 0) {
		fclose(fp);
		return -1;
	}
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	strlcpy(s->secret, line, sizeof(s->secret));
	return 0;
}

/* the files every tool reads, in order, later ones winning: the system's,
 * the user's, and the one named on the command line; their count */
static int
conffiles(const char *files[3], char *homefile, size_t homelen,
    const char *file)
{
	const char *home;
	int n = 0;

	files[n++] = "/etc/amitools.conf";
	if ((home = getenv("HOME")) != NULL) {
		snprintf(homefile, homelen, "%s/.amitools.conf", home);
		files[n++] = homefile;
	}
	if (file != NULL)
		files[n++] = file;
	return n;
}

int
ami_conf_server(struct ami_server *s, const char *name, const char *file,
    char *err, size_t errlen)
{
	const char *files[3], *v;
	char homefile[512], *colon;
	int i, nfiles, found = 0, rc;

	memset(s, 0, sizeof(*s));
	if (name == NULL)
		name = "default";
	strlcpy(s->name, name, sizeof(s->name));
	strlcpy(s->host, "127.0.0.1", sizeof(s->host));
	strlcpy(s->port, "5038", sizeof(s->port));
	strlcpy(s->events, "on", sizeof(s->events));
	s->keepalive = 20;
	s->verify = 1;

	nfiles = conffiles(files, homefile, sizeof(homefile), file);
	for (i = 0; i < nfiles; i++)
		if (load(s, files[i], "default", files[i] == file, err, errlen) < 0)
			return -1;
	if (strcmp(name, "default") != 0) {
		for (i = 0; i < nfiles; i++) {
			if ((rc = load(s, files[i], name, files[i] == file, err,
			    errlen)) < 0)
				return -1;
			found |= rc;
		}
		if (!found) {
			strlcpy(s->host, name, sizeof(s->host));
			if ((colon = strrchr(s->host, ':')) != NULL &&
			    strchr(s->host, ':') == colon) {
				*colon = '\0';
				strlcpy(s->port, colon + 1, sizeof(s->port));
				if ((v = portbad(s->port)) != NULL) {
					snprintf(err, errlen, "%s: the port is %s",
					    name, v);
					return -1;
				}
			}
		}
		return 0;
	}
	if ((v = getenv("AMI_HOST")) != NULL)
		strlcpy(s->host, v, sizeof(s->host));
	if ((v = getenv("AMI_PORT")) != NULL) {
		if (portbad(v) != NULL) {
			snprintf(err, errlen, "AMI_PORT is %s", portbad(v));
			return -1;
		}
		strlcpy(s->port, v, sizeof(s->port));
	}
	if ((v = getenv("AMI_USER")) != NULL)
		strlcpy(s->user, v, sizeof(s->user));
	if ((v = getenv("AMI_SECRET_FILE")) != NULL &&
	    secret_file(s, v, err, errlen) < 0)
		return -1;
	return 0;
}

/*
 * A tool's own section ([dndctl], [dndparse]): the same files in the same
 * order, later files winning, but only the keys the tool names; any other
 * key in that section is a mistake worth stopping for.  Other sections
 * are ami_conf_server's to check, and a tool with a section may read no
 * server.
 */
int
ami_conf_section(const char *sect, const char *file, struct ami_confkey *keys,
    size_t nkeys, char *err, size_t errlen)
{
	const char *files[3];
	char homefile[512], *key, *val;
	int i, nfiles, rc;
	struct conf cf;
	size_t k;

	nfiles = conffiles(files, homefile, sizeof(homefile), file);
	for (i = 0; i < nfiles; i++) {
		if ((rc = conf_open(&cf, files[i], files[i] == file, err,
		    errlen)) < 0)
			return -1;
		if (rc == 0)
			continue;
		while ((rc = conf_next(&cf, &key, &val)) > 0) {
			if (strcmp(cf.sect, sect) != 0)
				continue;
			if (val == NULL) {
				snprintf(err, errlen, "%s:%d: %s", files[i],
				    cf.lineno, cf.why);
				rc = -1;
				break;
			}
			for (k = 0; k < nkeys && strcmp(keys[k].key, key) != 0; k++)
				;
			if (k == nkeys) {
				snprintf(err, errlen, "%s:%d: unknown key %s in [%s]",
				    files[i], cf.lineno, key, sect);
				rc = -1;
				break;
			}
			if (strlcpy(keys[k].val, val, keys[k].len) >= keys[k].len) {
				snprintf(err, errlen, "%s:%d: %s is too long",
				    files[i], cf.lineno, key);
				rc = -1;
				break;
			}
			if (strcmp(key, "secret") == 0 &&
			    (rc = private(cf.fp, files[i], err, errlen)) < 0)
				break;
		}
		conf_close(&cf);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int
ami_oldopt(int ch, const char *renamed)
{
	for (; renamed[0] != '\0' && renamed[1] != '\0'; renamed += 2)
		if (ch == renamed[0]) {
			warnx("-%c is now -%c (-%c goes in the next release)",
			    ch, renamed[1], ch);
			return renamed[1];
		}
	return ch;
}

long long
ami_argnum(const char *what, const char *s, long long lo, long long hi)
{
	const char *errstr;
	long long n;

	n = strtonum(s, lo, hi, &errstr);
	if (errstr != NULL)
		errx(2, "%s %s: %s", what, s, errstr);
	return n;
}
