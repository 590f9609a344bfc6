/*
 * conf.c: /etc/amitools.conf, ~/.amitools.conf, -c FILE, then the
 * environment.  Within each layer [default] is read before the named
 * section.  A -H name with no section of its own is taken as host[:port]
 * with the [default] credentials.  A file that holds a secret must be
 * private to its owner: a secret others can read is a secret already lost.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami.h"

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
	else if (strcmp(key, "port") == 0)
		n = strlcpy(s->port, val, sizeof(s->port)) >= sizeof(s->port);
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

/* apply section sect of path; 1 section found, 0 not, -1 error */
static int
load(struct ami_server *s, const char *path, const char *sect, int must,
    char *err, size_t errlen)
{
	char line[1024], *p, *eq, cur[64] = "";
	int lineno = 0, found = 0, checked = 0;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		/* a root-only /etc/amitools.conf is root's, not an error for
		 * every other user who has a ~/.amitools.conf of their own */
		if ((errno == ENOENT || errno == EACCES) && !must)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		p = ami_trim(line);
		if (*p == '\0' || *p == ';' || *p == '#')
			continue;
		if (*p == '[') {
			if ((eq = strchr(p, ']')) == NULL)
				goto bad;
			*eq = '\0';
			strlcpy(cur, ami_trim(p + 1), sizeof(cur));
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL)
			goto bad;
		*eq = '\0';
		/* a comment may follow a value after white space */
		for (char *c = eq + 1; *c; c++)
			if ((*c == ';' || *c == '#') && isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		if (strcmp(ami_trim(p), "secret") == 0 && !checked++ &&
		    private(fp, path, err, errlen) < 0)
			goto fail;
		if (strcmp(cur, sect) != 0)
			continue;
		found = 1;
		if (set(s, ami_trim(p), ami_trim(eq + 1), path, lineno, err, errlen) < 0)
			goto fail;
	}
	fclose(fp);
	return found;
bad:
	snprintf(err, errlen, "%s:%d: expected [section] or key = value",
	    path, lineno);
fail:
	fclose(fp);
	return -1;
}

static int
secret_file(struct ami_server *s, const char *path, char *err, size_t errlen)
{
	FILE *fp;
	char line[256];

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
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

int
ami_conf_server(struct ami_server *s, const char *name, const char *file,
    char *err, size_t errlen)
{
	const char *files[3], *home, *v;
	char homefile[512], *colon;
	int i, nfiles = 0, found = 0, rc;

	memset(s, 0, sizeof(*s));
	if (name == NULL)
		name = "default";
	strlcpy(s->name, name, sizeof(s->name));
	strlcpy(s->host, "127.0.0.1", sizeof(s->host));
	strlcpy(s->port, "5038", sizeof(s->port));
	strlcpy(s->events, "on", sizeof(s->events));
	s->keepalive = 20;
	s->verify = 1;

	files[nfiles++] = "/etc/amitools.conf";
	if ((home = getenv("HOME")) != NULL) {
		snprintf(homefile, sizeof(homefile), "%s/.amitools.conf", home);
		files[nfiles++] = homefile;
	}
	if (file != NULL)
		files[nfiles++] = file;
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
			}
		}
		return 0;
	}
	if ((v = getenv("AMI_HOST")) != NULL)
		strlcpy(s->host, v, sizeof(s->host));
	if ((v = getenv("AMI_PORT")) != NULL)
		strlcpy(s->port, v, sizeof(s->port));
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
 * key in that section is a mistake worth stopping for.
 */
int
ami_conf_section(const char *sect, const char *file, struct ami_confkey *keys,
    size_t nkeys, char *err, size_t errlen)
{
	const char *files[3], *home;
	char homefile[512], line[1024], cur[64], *p, *eq, *c;
	int i, nfiles = 0, lineno;
	size_t k;
	FILE *fp;

	files[nfiles++] = "/etc/amitools.conf";
	if ((home = getenv("HOME")) != NULL) {
		snprintf(homefile, sizeof(homefile), "%s/.amitools.conf", home);
		files[nfiles++] = homefile;
	}
	if (file != NULL)
		files[nfiles++] = file;
	for (i = 0; i < nfiles; i++) {
		if ((fp = fopen(files[i], "r")) == NULL) {
			if ((errno == ENOENT || errno == EACCES) && files[i] != file)
				continue;
			snprintf(err, errlen, "%s: %s", files[i], strerror(errno));
			return -1;
		}
		cur[0] = '\0';
		lineno = 0;
		while (fgets(line, sizeof(line), fp) != NULL) {
			lineno++;
			p = ami_trim(line);
			if (*p == '\0' || *p == ';' || *p == '#')
				continue;
			if (*p == '[' && (eq = strchr(p, ']')) != NULL) {
				*eq = '\0';
				strlcpy(cur, ami_trim(p + 1), sizeof(cur));
				continue;
			}
			/* other sections are ami_conf_server's to check, and a
			 * tool with a section may read no server */
			if (strcmp(cur, sect) != 0)
				continue;
			if ((eq = strchr(p, '=')) == NULL) {
				snprintf(err, errlen, "%s:%d: expected key = value",
				    files[i], lineno);
				goto fail;
			}
			*eq = '\0';
			for (c = eq + 1; *c; c++)
				if ((*c == ';' || *c == '#') && isspace((unsigned char)c[-1])) {
					*c = '\0';
					break;
				}
			p = ami_trim(p);
			for (k = 0; k < nkeys && strcmp(keys[k].key, p) != 0; k++)
				;
			if (k == nkeys) {
				snprintf(err, errlen, "%s:%d: unknown key %s in [%s]",
				    files[i], lineno, p, sect);
				goto fail;
			}
			if (strlcpy(keys[k].val, ami_trim(eq + 1), keys[k].len) >=
			    keys[k].len) {
				snprintf(err, errlen, "%s:%d: %s is too long",
				    files[i], lineno, p);
				goto fail;
			}
		}
		fclose(fp);
	}
	return 0;
fail:
	fclose(fp);
	return -1;
}
