/*
 * dndctl: the DND list file, and the actions that mirror it into Asterisk.
 *
 * The list is one peer a line, sorted, the file a wallboard reads.  It is
 * only ever replaced whole: a temporary file in the same directory,
 * written, fsynced, renamed over the list, and the directory fsynced, so a
 * reader sees the old list or the new one and a crash or a full disk
 * leaves the old one.  Every change reads the list anew under an
 * exclusive flock on its directory (waited for 10 s at most, then an
 * error naming the holder), so two dndctl processes (an apply
 * pipeline and someone at a shell) never lose each other's changes.
 *
 * apply reads messages (one-line, wire or JSON) and acts on DND
 * UserEvents, whether dndparse's action or the 881/882 dialplan raised
 * them, on PeerStatus Unregistered/Unreachable with -u, and on amicat's
 * reconnect marker (which re-sends every state).  A symbolic link at the
 * list's name is refused, never followed.  The mirror actions are
 * written for amiaction only once the list holds the change.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ami.h"

#define DEFAULT_LIST "/var/lib/amitools/dnd_list"
#define LIST_MAX     100000  /* peers in DND, and peers remembered (-u sync) */

enum { M_DB = 1, M_DEVICE = 2, M_PRESENCE = 4 };

static const char *cflag;
static char lflag[PATH_MAX] = DEFAULT_LIST, Mflag[64] = "db,device,presence";
static int uflag, mirrors;

/* a set of peer names, kept sorted */
struct set {
	char  **v;
	size_t  n, cap;
};

/* one change asked for, in input order */
struct change {
	char *peer;
	int   on;
	int   ifon;         /* -u: only when the peer is in the list */
};

static struct ami_buf out;
static volatile sig_atomic_t stop;

static void
usage(void)
{
	fprintf(stderr, "usage: dndctl [-u] [-c config] [-l listfile] "
	    "[-M mirrors] command [peer]\n"
	    "commands: apply, list, on peer, off peer, status peer, sync\n");
	exit(2);
}


/* index of peer in s, or -(insertion point) - 1 */
static long
set_find(const struct set *s, const char *peer)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(s->v[mid], peer)) == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/* 1 when s changed */
static int
set_put(struct set *s, const char *peer, int in)
{
	long i = set_find(s, peer);

	if ((i >= 0) == in)
		return 0;
	if (!in) {
		free(s->v[i]);
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
		s->n--;
		return 1;
	}
	i = -i - 1;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = ami_xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = ami_xstrdup(peer);
	s->n++;
	return 1;
}

static void
set_free(struct set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* the list as it is on disk; a missing file is an empty list */
static void
readlist(struct set *s)
{
	char *line = NULL, why[PATH_MAX + 64];
	size_t cap = 0, len;
	ssize_t n;
	unsigned long ln = 0;
	FILE *fp;

	set_free(s);
	if ((fp = ami_fopen_file(lflag, AMI_MAP_MAX,
	    O_NOFOLLOW, why, sizeof(why))) == NULL) {
		if (errno == ENOENT)
			return;
		errx(2, "%s", why);
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		ln++;
		len = n;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (!ami_dnd_peer(line, len)) {
			warnx("%s:%lu: not a peer name; dropped from the list",
			    lflag, ln);
			continue;
		}
		set_put(s, line, 1);
	}
	if (ferror(fp))
		err(2, "%s", lflag);
	free(line);
	fclose(fp);
}

/* replace the list with s; on failure the old list stays and we exit 2 */
static void
writelist(const struct set *s)
{
	struct ami_buf b = { 0 };
	const char *what;
	size_t i;

	for (i = 0; i < s->n; i++) {
		ami_buf_adds(&b, s->v[i]);
		ami_buf_addc(&b, '\n');
	}
	if (ami_file_replace(lflag, b.p, b.len, &what) == -1)
		errx(2, "%s: the new list was not written: %s; the old list "
		    "is kept", lflag, strerror(errno));
	ami_buf_free(&b);
}

/* one action line: Action=name, then key, value pairs, NULL-ended */
static void
action(const char *name, ...)
{
	struct ami_msg m = { 0 };
	const char *k, *v;
	va_list ap;

	ami_msg_adds(&m, "Action", name);
	va_start(ap, name);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		ami_msg_adds(&m, k, v);
	}
	va_end(ap);
	ami_text_put(&out, &m);
	ami_msg_free(&m);
}

static void
mirror(const char *peer, int on)
{
	char var[AMI_PEER_MAX + 64];

	if ((mirrors & M_DB) && on)
		action("DBPut", "Family", "DND", "Key", peer, "Val", "YES", NULL);
	else if (mirrors & M_DB)
		action("DBDel", "Family", "DND", "Key", peer, NULL);
	if (mirrors & M_DEVICE) {
		snprintf(var, sizeof(var), "DEVICE_STATE(Custom:DND%s)", peer);
		action("Setvar", "Variable", var, "Value",
		    on ? "BUSY" : "NOT_INUSE", NULL);
	}
	if (mirrors & M_PRESENCE) {
		snprintf(var, sizeof(var), "PRESENCE_STATE(CustomPresence:%s)",
		    peer);
		action("Setvar", "Variable", var, "Value",
		    on ? "dnd" : "available", NULL);
	}
}

/*
 * Apply changes to the list under the lock, then mirror each one that
 * holds; with sync, every state: on for the listed, off for the known.
 */
static int
commit(struct change *c, size_t n, int sync, struct set *known)
{
	struct set list = { 0 };
	char why[PATH_MAX + 128];
	size_t i;
	int dfd, changed = 0, full = 0;

	/* the directory of the list, open and locked */
	if ((dfd = ami_file_lock(lflag, why, sizeof(why))) == -1)
		errx(2, "%s", why);
	readlist(&list);
	for (i = 0; i < n; i++) {
		if (c[i].ifon && set_find(&list, c[i].peer) < 0) {
			free(c[i].peer);
			c[i].peer = NULL;
			continue;
		}
		if (c[i].on && list.n >= LIST_MAX && set_find(&list, c[i].peer) < 0) {
			warnx("%s holds %d peers, the most it may; %s not added",
			    lflag, LIST_MAX, c[i].peer);
			free(c[i].peer);
			c[i].peer = NULL;
			full = 1;
			continue;
		}
		changed |= set_put(&list, c[i].peer, c[i].on);
	}
	if (changed)
		writelist(&list);
	close(dfd);     /* and the lock with it */
	for (i = 0; i < n; i++)
		if (c[i].peer != NULL) {
			mirror(c[i].peer, c[i].on);
			if (known != NULL && known->n < LIST_MAX)
				set_put(known, c[i].peer, 1);
			free(c[i].peer);
		}
	if (sync) {
		for (i = 0; i < list.n; i++)
			mirror(list.v[i], 1);
		for (i = 0; known != NULL && i < known->n; i++)
			if (set_find(&list, known->v[i]) < 0)
				mirror(known->v[i], 0);
	}
	set_free(&list);
	if (ami_buf_flush(&out, 1) == -1)
		ami_stdout_failed(errno);
	return full ? -1 : 0;
}

/* the change a message asks for: 1 one, 0 none, -1 a bad one (said) */
static int
interpret(const struct ami_msg *m, unsigned long line, struct change *c,
    int *sync)
{
	const char *peer, *v;
	size_t pl, vl;

	if (ami_msg_is(m, "Event", "AmitoolsReconnect")) {
		*sync = 1;
		return 0;
	}
	if (ami_msg_skipped(m))
		return -1;      /* amicat lost one: said, exit 2 */
	if (ami_msg_is(m, "Event", "UserEvent") &&
	    ami_msg_is(m, "UserEvent", "DND")) {
		peer = ami_msg_get(m, "Peername", &pl);
		v = ami_msg_get(m, "DND", &vl);
		if (peer == NULL || v == NULL || (c->on = ami_dnd_state(v, vl)) < 0) {
			warnx("line %lu: a DND UserEvent needs Peername and DND "
			    "(enabled or disabled); ignored", line);
			return -1;
		}
		c->ifon = 0;
	} else if (uflag && ami_msg_is(m, "Event", "PeerStatus") &&
	    (ami_msg_is(m, "PeerStatus", "Unregistered") ||
	    ami_msg_is(m, "PeerStatus", "Unreachable"))) {
		if ((peer = ami_msg_get(m, "Peer", &pl)) == NULL)
			return 0;
		/* Peer: PJSIP/100 */
		if ((v = memchr(peer, '/', pl)) != NULL) {
			pl -= v + 1 - peer;
			peer = v + 1;
		}
		c->on = 0;
		c->ifon = 1;
	} else
		return 0;
	if (!ami_dnd_peer(peer, pl)) {
		char vis[AMI_PEER_MAX + 40];
		warnx("line %lu: peer %s is not a peer name (1 to %d of "
		    "A-Z a-z 0-9 _ . + @ -); ignored", line,
		    ami_visible(vis, sizeof(vis), peer, pl), AMI_PEER_MAX);
		return -1;
	}
	c->peer = ami_xstrndup(peer, pl);
	return 1;
}

/* what arrived together so far: one lock and one write */
struct batch {
	struct change *c;
	size_t n, cap;
	int sync, status;
	struct set known;
};

static int
take(struct ami_msg *m, unsigned long line, void *arg)
{
	struct batch *b = arg;
	int rc;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->c = ami_xreallocarray(b->c, b->cap, sizeof(*b->c));
	}
	if ((rc = interpret(m, line, &b->c[b->n], &b->sync)) > 0)
		b->n++;
	else if (rc < 0)
		b->status = 2;
	return 0;
}

static void
flushbatch(void *arg)
{
	struct batch *b = arg;

	if ((b->n > 0 || b->sync) &&
	    commit(b->c, b->n, b->sync, &b->known) < 0)
		b->status = 2;
	b->n = 0;
	b->sync = 0;
}

static int
apply(void)
{
	struct batch b = { 0 };
	struct ami_drive in;

	ami_stop_signals(&stop);
	ami_drive_init(&in, 0, NULL, 0, take, &b);
	in.pause = flushbatch;
	ami_drive_run(&in, &stop);
	free(b.c);
	set_free(&b.known);
	ami_drive_free(&in);
	return in.bad ? 2 : b.status;
}

static int
mirrorspec(const char *s)
{
	char *copy, *p, *w;
	int m = 0;

	if (strcmp(s, "none") == 0)
		return 0;
	copy = p = ami_xstrdup(s);
	while ((w = strsep(&p, ",")) != NULL) {
		if (strcmp(w, "db") == 0)
			m |= M_DB;
		else if (strcmp(w, "device") == 0)
			m |= M_DEVICE;
		else if (strcmp(w, "presence") == 0)
			m |= M_PRESENCE;
		else
			errx(2, "mirror %s: want db, device, presence (comma "
			    "separated) or none", w);
	}
	free(copy);
	return m;
}

int
main(int argc, char *argv[])
{
	struct ami_confkey keys[] = {
		{ "list", lflag, sizeof(lflag) },
		{ "mirror", Mflag, sizeof(Mflag) },
	};
	struct set list = { 0 };
	struct change c;
	const char *l = NULL, *M = NULL, *cmd;
	char errbuf[256];
	size_t i;
	int ch, rc = 0;

	while ((ch = getopt(argc, argv, "c:hl:M:uV")) != -1) {
		switch (ch) {
		case 'c':
			cflag = optarg;
			break;
		case 'l':
			l = optarg;
			break;
		case 'M':
			M = optarg;
			break;
		case 'u':
			uflag = 1;
			break;
		case 'V':
			printf("dndctl %s\n", AMI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cmd = argv[0];
	if (ami_conf_section("dndctl", cflag, keys, 2, errbuf, sizeof(errbuf)) < 0)
		errx(2, "%s", errbuf);
	if (l != NULL && strlcpy(lflag, l, sizeof(lflag)) >= sizeof(lflag))
		errx(2, "-l %s: name too long", l);
	if (M != NULL && strlcpy(Mflag, M, sizeof(Mflag)) >= sizeof(Mflag))
		errx(2, "-M %s: too long", M);
	mirrors = mirrorspec(Mflag);

	if (strcmp(cmd, "on") == 0 || strcmp(cmd, "off") == 0 ||
	    strcmp(cmd, "status") == 0) {
		if (argc != 2)
			usage();
		if (!ami_dnd_peer(argv[1], strlen(argv[1])))
			errx(2, "%s: not a peer name (1 to %d of A-Z a-z 0-9 _ . "
			    "+ @ -)", argv[1], AMI_PEER_MAX);
	} else if (argc != 1)
		usage();

	if (strcmp(cmd, "apply") == 0)
		rc = apply();
	else if (strcmp(cmd, "on") == 0 || strcmp(cmd, "off") == 0) {
		c.peer = ami_xstrdup(argv[1]);
		c.on = cmd[1] == 'n';
		c.ifon = 0;
		rc = commit(&c, 1, 0, NULL) < 0 ? 2 : 0;
	} else if (strcmp(cmd, "sync") == 0)
		commit(NULL, 0, 1, NULL);
	else if (strcmp(cmd, "status") == 0) {
		readlist(&list);
		rc = set_find(&list, argv[1]) < 0;
		printf("%s\n", rc ? "off" : "on");
	} else if (strcmp(cmd, "list") == 0) {
		readlist(&list);
		for (i = 0; i < list.n; i++)
			printf("%s\n", list.v[i]);
	} else
		usage();
	set_free(&list);
	ami_buf_free(&out);
	if (fflush(stdout) == EOF || ferror(stdout))
		ami_stdout_failed(errno);
	return rc;
}
