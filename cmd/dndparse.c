/*
 * dndparse: phone DND lines from syslog in, UserEvent actions out.
 *
 * Reads syslog lines (standard input, or a file it follows itself with
 * -F), matches each against PCRE2 patterns, maps the sending phone's
 * address to its peer through the map file or the employee table (-d), and
 * writes one
 * "Action=UserEvent UserEvent=DND ..." line per change of a peer's state,
 * for amiaction.  The address is taken from the syslog header, where the
 * daemon writes the sender, never from the message text, so a line cannot
 * move another phone.  The first state seen for a peer is always written
 * (whatever reads it may be stale); a repeat of the last state is not.
 *
 * With -F the file is followed across rename and copytruncate rotation.
 * After a rename the old file is read to its end before the new one is
 * begun, and only once the new one has data: a syslog daemon writes to
 * the old file until it reopens, so lines keep their order; a file renamed
 * on again before we looked is found by its modification time among the
 * rotated names.  A copytruncate is known by size, or by the bytes before
 * the offset no longer being those read (written past it again).  The state
 * file (-S) holds the device, inode and offset just past the last line
 * whose action has been written, so a restart neither replays nor skips.
 *
 * A phone that floods (or a sender forging its lines) is held to a rate:
 * RATE_BURST changes at once, then one each -R seconds.  A change that
 * comes sooner is held, a later one replaces it, and the latest goes out
 * when the phone's turn comes, or at the end: the last state is never
 * lost.  While a change is held the state file stays where it was, so
 * a crash reads lines again (repeats of states sent) rather than lose it.
 *
 * With -d an address is looked up in the employee table once a DB_TTL_MS
 * (found or not, so new phones show soon).  While the database is down the
 * line waits, and every line behind it: nothing is decided without it.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ami.h"

#define DEFAULT_MAP "/etc/amitools/peers.map"
#define READ_SIZE   (256 * 1024)
#define LINE_CAP    (64 * 1024)     /* longer is not a phone's line */
#define OUT_BATCH   (64 * 1024)     /* regular-file stdout is written in these */
#define SAVE_MS     1000            /* state file written at most this often */
#define DB_TTL_MS   60000           /* an address asked of the database again */
#define RATE_BURST  3               /* changes a phone may make at once */
#define PEERS_MAX   100000          /* peers remembered; more is a flood */
#define WARNED_MAX  10000           /* unknown addresses named, each once */

static const char *cflag, *Dflag, *dflag, *Fflag, *sflag;
static char mapfile[PATH_MAX], patfile[PATH_MAX], tech[64] = "PJSIP";
static int rflag = 5;

/* string -> value, open addressing; keys of the map are lower-cased */
struct ent {
	char    *k, *v;                 /* k first: an ami_tab item */
	size_t   kl;
	int      st;                    /* peers: last state sent, -1 none */
	int      held;                  /* peers: the change held back, or -1 */
	int64_t  at;                    /* -d: when the database said v;
	                                   peers: the next change is due then
	                                   (+ RATE_BURST-1 turns) */
};
struct input {
	int      fd;
	dev_t    dev;
	ino_t    ino;
	off_t    pos;           /* just past the last whole line handled */
	struct ami_buf b;       /* what was read past pos */
	char     tail[64];      /* the bytes just before pos, to know a copy */
	size_t   taillen;
};

static struct ami_dnd_pats *pats;
static struct ami_db *db;
static struct ami_stmt *byip;
static const sigset_t *waitmask;        /* signals let in while waiting */
static struct ami_tab map, peers, warned;
static struct ami_buf out;
static int outreg;
static volatile sig_atomic_t gotusr1, gothup, stop;
static unsigned long long nlines, nmatched, nsent, nrepeat, nunknown, nunmatched;
static unsigned long long nheld;        /* changes held back, ever */
static size_t holding;                  /* peers with a change held now */
static int peersfull;                   /* PEERS_MAX reached, and said */

static void
usage(void)
{
	fprintf(stderr, "usage: dndparse [-C tech] [-c config] [-D mycnf] "
	    "[-d group | -m mapfile]\n\t[-F file [-S statefile]] [-g patterns] "
	    "[-R seconds]\n");
	exit(2);
}

static void
onsignal(int sig)
{
	if (sig == SIGUSR1)
		gotusr1 = 1;
	else if (sig == SIGHUP)
		gothup = 1;
	else
		stop = 1;
}

/* the entry for key, added (with st -1) when add is set; NULL if absent */
static struct ent *
tab_get(struct ami_tab *t, const char *k, size_t kl, int add)
{
	struct ent *e;

	if ((e = ami_tab_get(t, k, kl)) != NULL || !add)
		return e;
	e = ami_xcalloc(1, sizeof(*e));
	e->k = ami_xstrndup(k, kl);
	e->kl = kl;
	e->st = -1;
	e->held = -1;
	ami_tab_put(t, e);
	return e;
}

static void
ent_free(void *p)
{
	struct ent *e = p;

	free(e->k);
	free(e->v);
	free(e);
}

static size_t
lower(char *dst, const char *s, size_t n, size_t cap)
{
	size_t i;

	if (n > cap)
		n = cap;
	for (i = 0; i < n; i++)
		dst[i] = tolower((unsigned char)s[i]);
	return n;
}

/* the map file (lib/map.c), hashed: every line is looked up in it */
static int
loadmap(const char *path, struct ami_tab *t)
{
	struct ami_map m;
	const struct ami_map_ent *me;
	char why[512], key[256];
	struct ent *e;
	size_t i, kl;

	/* a map named but missing would make every phone unknown */
	if (access(path, R_OK) != 0) {
		warn("%s", path);
		return -1;
	}
	if (ami_map_read(&m, path, why, sizeof(why)) < 0) {
		warnx("%s", why);
		return -1;
	}
	for (i = 0; i < m.n; i++) {
		me = &m.e[i];
		if (me->ip == NULL || me->desc == NULL || strcmp(me->ip, "-") == 0)
			continue;
		if (!ami_dnd_peer(me->peer, strlen(me->peer))) {
			warnx("%s: peer %s: want 1 to %d of A-Z a-z 0-9 _ . + "
			    "@ -; skipped", path, me->peer, AMI_PEER_MAX);
			continue;
		}
		kl = lower(key, me->ip, strlen(me->ip), sizeof(key));
		e = tab_get(t, key, kl, 1);
		if (e->v != NULL) {
			warnx("%s: %s is listed again; the later line wins",
			    path, me->ip);
			free(e->v);
		}
		e->v = ami_xstrdup(me->peer);
	}
	ami_map_free(&m);
	return 0;
}

static int
addpat(struct ami_dnd_pats **ps, const char *re, const char *where)
{
	char why[160];

	if (ami_dnd_compile(ps, re, why, sizeof(why)) == 0)
		return 0;
	warnx("%s: %s", where, why);
	return -1;
}

/* the -g file first (one pattern a line), so it can win; the built-in last */
static int
loadpats(const char *path, struct ami_dnd_pats **ps)
{
	char *line = NULL, where[PATH_MAX + 32];
	size_t cap = 0, len;
	ssize_t n;
	unsigned long ln = 0;
	int bad = 0;
	FILE *fp;

	if (*path != '\0') {
		if ((fp = ami_fopen_file(path, AMI_MAP_MAX, 0, where,
		    sizeof(where))) == NULL) {
			warnx("%s", where);
			return -1;
		}
		while ((n = getline(&line, &cap, fp)) != -1) {
			ln++;
			len = n;
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (len == 0 || line[0] == '#')
				continue;
			snprintf(where, sizeof(where), "%s:%lu", path, ln);
			if (addpat(ps, line, where) < 0)
				bad = 1;
		}
		free(line);
		fclose(fp);
		if (bad) {
			ami_dnd_free(*ps);
			*ps = NULL;
			return -1;
		}
	}
	return addpat(ps, NULL, "built-in pattern");
}

static void
flushout(int force)
{
	if (out.len == 0 || (!force && outreg && out.len < OUT_BATCH))
		return;
	if (ami_buf_flush(&out, 1) < 0)
		ami_stdout_failed(errno);
}

static void
emit(const char *peer, size_t pl, int on)
{
	char chan[sizeof(tech) + AMI_PEER_MAX + 2];
	int cl;

	ami_buf_adds(&out, "Action=UserEvent UserEvent=DND Peername=");
	ami_text_value(&out, peer, pl);
	ami_buf_adds(&out, on ? " DND=enabled Channel=" : " DND=disabled Channel=");
	cl = snprintf(chan, sizeof(chan), "%s/%.*s", tech, (int)pl, peer);
	ami_text_value(&out, chan, cl);
	ami_buf_adds(&out, on ? " Status=\"DND enabled\"\n" :
	    " Status=\"DND disabled\"\n");
}

/* when peer e's next turn comes */
static int64_t
turnat(const struct ent *e)
{
	return e->at - (RATE_BURST - 1) * rflag * 1000LL;
}

/* the rate: may peer e change now?  If so, its turn is taken */
static int
turn(struct ent *e, int64_t now)
{
	if (rflag == 0)
		return 1;
	if (now < turnat(e))
		return 0;
	e->at = (e->at > now ? e->at : now) + rflag * 1000LL;
	return 1;
}

/* send what is held and due (all: everything held); ms to the next due */
static int
release(int all)
{
	int64_t now = ami_now_ms(), due, next = -1;
	struct ent *e;
	size_t i = 0;

	while (holding > 0 && (e = ami_tab_each(&peers, &i)) != NULL) {
		if (e->held < 0)
			continue;
		if (all || turn(e, now)) {
			emit(e->k, e->kl, e->held);
			e->st = e->held;
			e->held = -1;
			holding--;
			nsent++;
			continue;
		}
		due = turnat(e);
		if (next < 0 || due < next)
			next = due;
	}
	return next < 0 ? -1 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* a diagnostic naming the input line, its bytes made visible */
static void
sayline(const char *what, const char *s, size_t n)
{
	char vis[400];

	warnx("%s: %s", what, ami_visible(vis, sizeof(vis), s, n));
}

static void
counters(void)
{
	warnx("lines %llu, matched %llu (sent %llu, repeated %llu, held %llu), "
	    "unknown %llu, unmatched %llu", nlines, nmatched, nsent, nrepeat,
	    nheld, nunknown, nunmatched);
}

static void
reload(void)
{
	struct ami_tab m = { 0 };
	struct ami_dnd_pats *p = NULL;

	if (db != NULL) {
		/* the table may have changed: ask again */
		ami_tab_free(&map, ent_free);
		ami_tab_free(&warned, ent_free);
	} else if (*mapfile != '\0' && loadmap(mapfile, &m) < 0) {
		warnx("SIGHUP: %s not reloaded; the old map stays", mapfile);
		ami_tab_free(&m, ent_free);
	} else if (*mapfile != '\0') {
		ami_tab_free(&map, ent_free);
		map = m;
		/* an address still unknown is named again */
		ami_tab_free(&warned, ent_free);
	}
	if (loadpats(patfile, &p) < 0)
		warnx("SIGHUP: patterns not reloaded; the old ones stay");
	else {
		ami_dnd_free(pats);
		pats = p;
	}
}

/*
 * Wait until fd is readable or ms pass (-1: forever), with the signals
 * let in only here, so a signal sent just before the wait is not slept on.
 */
static void
waitfor(int fd, int ms, const sigset_t *unblocked)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ppoll(&pfd, 1, ms < 0 ? NULL : &ts, unblocked) == -1 && errno != EINTR)
		err(2, "ppoll");
}

/*
 * Run what signals asked for.  Signals are blocked while lines are worked
 * on; a zero wait with them open first takes in any already sent, so a
 * SIGHUP sent before a line is written applies to that line.
 */
static void
signals(const sigset_t *unblocked)
{
	struct timespec zero = { 0, 0 };

	ppoll(NULL, 0, &zero, unblocked);
	if (gothup) {
		gothup = 0;
		reload();
	}
	if (gotusr1) {
		gotusr1 = 0;
		counters();
	}
}

/*
 * The peer at address key (NUL-terminated) from the employee table, or
 * NULL: 0, or -1 when told to stop while the database was down.
 */
static int
dblookup(const char *key, size_t kl, const char **peer)
{
	struct ent *e = tab_get(&map, key, kl, 0);
	const char *const *row, *arg[1] = { key };
	int64_t now = ami_now_ms();
	int waited = 0, rc;

	if (e != NULL && now - e->at < DB_TTL_MS) {
		*peer = e->v;
		return 0;
	}
	while (ami_stmt_exec(byip, arg, 1) < 0 ||
	    (rc = ami_stmt_fetch(byip, &row)) < 0) {
		if (!ami_db_transient(db))
			errx(2, "database %s: %s", dflag, ami_db_error(db));
		if (!waited++)
			warnx("database %s: %s; lines wait", dflag, ami_db_error(db));
		now = ami_now_ms();
		if (ami_db_retry_at(db) > now)
			waitfor(-1, ami_db_retry_at(db) - now, waitmask);
		signals(waitmask);
		if (stop)
			return -1;
	}
	if (waited)
		warnx("database %s: back", dflag);
	e = tab_get(&map, key, kl, 1);
	free(e->v);
	e->v = NULL;
	if (rc == 1 && row[0] != NULL && ami_dnd_peer(row[0], strlen(row[0])))
		e->v = ami_xstrdup(row[0]);
	e->at = ami_now_ms();
	*peer = e->v;
	return 0;
}

/* an address in no map: named once (WARNED_MAX of them), then only
 * counted */
static void
unknown(const char *key, size_t kl, const struct ami_dnd_hit *hit,
    const char *s, size_t n)
{
	struct ami_buf what = { 0 };

	if (warned.n >= WARNED_MAX || tab_get(&warned, key, kl, 0) != NULL)
		return;
	tab_get(&warned, key, kl, 1);
	ami_text_value(&what, hit->ip, hit->ipl > 255 ? 255 : hit->ipl);
	ami_buf_adds(&what, " is not in ");
	ami_buf_adds(&what, db ? "the employee table" : *mapfile ? mapfile :
	    "the map (no -m, no " DEFAULT_MAP ")");
	ami_buf_addc(&what, '\0');
	sayline(what.p, s, n);
	ami_buf_free(&what);
	if (warned.n == WARNED_MAX)
		warnx("%d unknown addresses named; more are only counted",
		    WARNED_MAX);
}

/*
 * The peer line s names: the pattern's, or the sender's address through
 * the map or the employee table.  1 with *peer (*pl bytes); 0 none, the
 * line counted (and said); -1 told to stop while the database was down.
 */
static int
peer_of(const struct ami_dnd_hit *hit, const char *s, size_t n,
    const char **peer, size_t *pl)
{
	char key[256];
	size_t kl;
	struct ent *e;

	if (hit->peer != NULL && !ami_dnd_peer(hit->peer, hit->peerl)) {
		nunknown++;
		sayline("peer from the pattern is not a peer name; ignored", s, n);
		return 0;
	}
	if (hit->peer != NULL) {
		*peer = hit->peer;
		*pl = hit->peerl;
		return 1;
	}
	kl = lower(key, hit->ip, hit->ipl, sizeof(key) - 1);
	key[kl] = '\0';
	if (db != NULL) {
		if (dblookup(key, kl, peer) < 0)
			return -1;
	} else
		*peer = (e = tab_get(&map, key, kl, 0)) ? e->v : NULL;
	if (*peer == NULL) {
		nunknown++;
		unknown(key, kl, hit, s, n);
		return 0;
	}
	*pl = strlen(*peer);
	return 1;
}

/* the entry of peer, made at its first line; NULL when PEERS_MAX are
 * known already: the line is only counted (said the first time) */
static struct ent *
peer_ent(const char *peer, size_t pl, const char *s, size_t n)
{
	struct ent *e;

	if ((e = tab_get(&peers, peer, pl, 0)) != NULL)
		return e;
	if (peers.n < PEERS_MAX)
		return tab_get(&peers, peer, pl, 1);
	nunknown++;
	if (!peersfull)
		sayline("no room for one more peer; lines naming new ones are "
		    "only counted, like this", s, n);
	peersfull = 1;
	return NULL;
}

/* peer e is now on: sent if that changes its state and the rate lets it
 * go now, else held (a later change replaces it) */
static void
change(struct ent *e, int on)
{
	if (on == (e->held >= 0 ? e->held : e->st)) {
		nrepeat++;
		return;
	}
	if (e->held >= 0) {             /* back to what was sent: nothing to do */
		e->held = -1;
		holding--;
		nrepeat++;
	} else if (turn(e, ami_now_ms())) {
		e->st = on;
		nsent++;
		emit(e->k, e->kl, on);
	} else {
		e->held = on;
		holding++;
		nheld++;
	}
}

/* 0 the line is done, -1 not (told to stop while it waited) */
static int
doline(const char *s, size_t n)
{
	struct ami_dnd_hit hit;
	const char *peer;
	struct ent *e;
	size_t pl;
	int rc;

	nlines++;
	if (!ami_dnd_match(pats, s, n, &hit)) {
		nunmatched++;
		return 0;
	}
	if ((rc = peer_of(&hit, s, n, &peer, &pl)) < 0)
		nlines--;       /* it is read again */
	if (rc <= 0)
		return rc;
	nmatched++;
	if ((e = peer_ent(peer, pl, s, n)) != NULL)
		change(e, hit.on);
	return 0;
}

/* handle the whole lines in in->b; final: the rest is a line too */
static void
lines(struct input *in, int final)
{
	char *s = in->b.p, *e = s + in->b.len, *nl;

	while (s < e) {
		if ((nl = memchr(s, '\n', e - s)) == NULL) {
			if (!final && e - s < LINE_CAP)
				break;
			nl = e;
		}
		if (doline(s, nl - s) < 0)
			break;
		s = nl < e ? nl + 1 : e;
	}
	if (s - in->b.p >= (long)sizeof(in->tail)) {
		in->taillen = sizeof(in->tail);
		memcpy(in->tail, s - in->taillen, in->taillen);
	} else if (s > in->b.p) {
		size_t k = s - in->b.p, keep = in->taillen + k > sizeof(in->tail) ?
		    sizeof(in->tail) - k : in->taillen;
		memmove(in->tail, in->tail + in->taillen - keep, keep);
		memcpy(in->tail + keep, in->b.p, k);
		in->taillen = keep + k;
	}
	in->pos += s - in->b.p;
	memmove(in->b.p, s, e - s);
	in->b.len = e - s;
}

/* read a regular file to its end: 0 there, -1 on error */
static int
drain(struct input *in)
{
	ssize_t n;

	for (;;) {
		ami_buf_grow(&in->b, READ_SIZE);
		n = read(in->fd, in->b.p + in->b.len, in->b.cap - in->b.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		in->b.len += n;
		lines(in, 0);
		flushout(0);
	}
}

static void
readstdin(const sigset_t *unblocked)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct input in = { .fd = 0 };
	ssize_t n;
	int ms;

	for (;;) {
		signals(unblocked);
		if (stop)
			break;
		/* about to wait: what is decided goes out first */
		if (poll(&pfd, 1, 0) == 0) {
			ms = release(0);
			flushout(1);
			waitfor(0, ms, unblocked);
			continue;
		}
		ami_buf_grow(&in.b, READ_SIZE);
		n = read(0, in.b.p + in.b.len, in.b.cap - in.b.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(2, "stdin");
		if (n == 0)
			break;
		in.b.len += n;
		lines(&in, 0);
		flushout(0);
	}
	/* a line without its newline may be half of one: a writer killed,
	 * or a signal before the rest came; it is said, never acted on */
	if (in.b.len > 0)
		warnx("stdin: %s without a newline (%zu bytes) not acted on",
		    stop ? "a line cut by the signal," : "the last line,",
		    in.b.len);
	release(1);
	ami_buf_free(&in.b);
}

/* ---- -F: following a file ---- */

static struct input cur = { .fd = -1 };
static int dirty;
static int64_t lastsave;

/*
 * Replace the state file whole, or leave the old one: a full disk is said
 * once, then tried again each SAVE_MS, as what it costs is only lines
 * read again after a restart.  -1 when the file could not be written.
 */
static int
savestate(void)
{
	static int failing;
	const char *what;
	char line[80];
	int n;

	if (sflag == NULL || cur.fd < 0)
		return 0;
	flushout(1);
	lastsave = ami_now_ms();
	n = snprintf(line, sizeof(line), "%llu %llu %lld\n",
	    (unsigned long long)cur.dev, (unsigned long long)cur.ino,
	    (long long)cur.pos);
	if (ami_file_replace(sflag, line, n, &what) == -1) {
		if (!failing)
			warn("%s: not saved, the old one stays; trying again",
			    sflag);
		failing = 1;
		return -1;
	}
	if (failing)
		warnx("%s: saved again", sflag);
	failing = 0;
	dirty = 0;
	return 0;
}

static void
closecur(void)
{
	if (cur.fd < 0)
		return;
	/* the last line of a file that will grow no more needs no newline */
	lines(&cur, 1);
	close(cur.fd);
	cur.fd = -1;
}

/* make fd the file being read, from offset pos */
static void
setcur(int fd, off_t pos)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		err(2, "fstat");
	cur.fd = fd;
	cur.dev = st.st_dev;
	cur.ino = st.st_ino;
	cur.pos = pos;
	cur.b.len = 0;
	cur.taillen = 0;        /* another file's bytes say nothing of this one */
	if (lseek(fd, pos, SEEK_SET) == -1)
		err(2, "lseek");
	dirty = 1;
}

/* path's directory, opened, its name in dir and path's own name in base
 * (each PATH_MAX bytes): where findold, nextrotated and findcopy look for
 * the rotated files */
static DIR *
siblings(const char *path, char *dir, char *base)
{
	char tmp[PATH_MAX];

	/* both may change their argument, or answer a string of their own
	 * ("." for a name with no '/') */
	strlcpy(tmp, path, sizeof(tmp));
	strlcpy(base, basename(tmp), PATH_MAX);
	strlcpy(tmp, path, sizeof(tmp));
	strlcpy(dir, dirname(tmp), PATH_MAX);
	return opendir(dir);
}

/* the file of a saved position: the path itself, or a rotated name of it */
static int
findold(const char *path, dev_t dev, ino_t ino)
{
	char dir[PATH_MAX], base[PATH_MAX], name[2 * PATH_MAX + 2];
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int fd = -1;

	if ((dp = siblings(path, dir, base)) == NULL)
		return -1;
	while (fd < 0 && (d = readdir(dp)) != NULL) {
		if (d->d_ino != ino || strncmp(d->d_name, base, strlen(base)) != 0)
			continue;
		snprintf(name, sizeof(name), "%s/%s", dir, d->d_name);
		if (stat(name, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
			fd = open(name, O_RDONLY);
	}
	closedir(dp);
	return fd;
}

static void
restore(const char *path)
{
	unsigned long long dev, ino;
	long long pos;
	struct stat st;
	FILE *fp;
	int fd, n = 0;

	if (sflag != NULL && (fp = fopen(sflag, "r")) != NULL) {
		n = fscanf(fp, "%llu %llu %lld", &dev, &ino, &pos);
		fclose(fp);
		if (n != 3 || pos < 0)
			warnx("%s: not a dndparse state file; reading %s from "
			    "its start", sflag, path);
	} else if (sflag != NULL && errno != ENOENT)
		err(2, "%s", sflag);
	if (n == 3 && pos >= 0) {
		if (stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
			fd = open(path, O_RDONLY);
		else
			fd = findold(path, dev, ino);
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= pos) {
			setcur(fd, pos);
			return;
		}
		if (fd >= 0) {
			warnx("%s was truncated while dndparse was stopped; "
			    "reading it from its start", path);
			setcur(fd, 0);
			return;
		}
		warnx("the file read last (inode %llu) is gone; reading %s "
		    "from its start", ino, path);
	}
	if ((fd = open(path, O_RDONLY)) >= 0)
		setcur(fd, 0);
	else if (errno != ENOENT)
		err(2, "%s", path);
}

/* a rotated name of base (bl bytes): base.N or base-DATE, not compressed */
static int
rotated(const char *name, const char *base, size_t bl)
{
	return strncmp(name, base, bl) == 0 &&
	    (name[bl] == '.' || name[bl] == '-') &&
	    !strstr(name + bl, ".gz") && !strstr(name + bl, ".xz") &&
	    !strstr(name + bl, ".bz2") && !strstr(name + bl, ".zst");
}

static int
tsafter(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec ||
	    (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/*
 * After a rename rotation, the file that was at path after the one just
 * read (ino, last written at *mt), when it was itself renamed before we
 * looked (two rotations between two checks): of the rotated names, not
 * the file now at path (now), the one written first after *mt.  The
 * daemon writes one file at a time, so the chain runs in that order.
 * fd, with *mt its own time, or -1 when there is none.
 */
static int
nextrotated(const char *path, ino_t ino, ino_t now, struct timespec *mt)
{
	char dir[PATH_MAX], base[PATH_MAX], name[PATH_MAX], best[PATH_MAX];
	struct timespec bt = { 0, 0 };
	struct dirent *de;
	struct stat st;
	size_t bl;
	DIR *d;

	if ((d = siblings(path, dir, base)) == NULL)
		return -1;
	bl = strlen(base);
	*best = '\0';
	while ((de = readdir(d)) != NULL) {
		if (!rotated(de->d_name, base, bl) ||
		    (size_t)snprintf(name, sizeof(name), "%s/%s", dir,
		    de->d_name) >= sizeof(name) || stat(name, &st) == -1 ||
		    !S_ISREG(st.st_mode) || st.st_ino == ino ||
		    st.st_ino == now || !tsafter(st.st_mtim, *mt))
			continue;
		if (*best == '\0' || tsafter(bt, st.st_mtim)) {
			strlcpy(best, name, sizeof(best));
			bt = st.st_mtim;
		}
	}
	closedir(d);
	if (*best == '\0')
		return -1;
	*mt = bt;
	return open(best, O_RDONLY);
}

/*
 * After copytruncate, the copy logrotate made: a sibling of path named
 * path.N or path-DATE, not compressed, holding at least pos bytes, whose
 * bytes just before pos are the ones read last.  fd, or -1.
 */
static int
findcopy(const char *path, off_t pos, const char *tail, size_t taillen)
{
	char dir[PATH_MAX], base[PATH_MAX], name[PATH_MAX], buf[64];
	struct dirent *de;
	struct stat st;
	size_t bl;
	DIR *d;
	int fd = -1;

	if ((d = siblings(path, dir, base)) == NULL)
		return -1;
	bl = strlen(base);
	while (fd < 0 && (de = readdir(d)) != NULL) {
		if (!rotated(de->d_name, base, bl))
			continue;
		if ((size_t)snprintf(name, sizeof(name), "%s/%s", dir,
		    de->d_name) >= sizeof(name) ||
		    (fd = open(name, O_RDONLY)) < 0)
			continue;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size < pos || pread(fd, buf, taillen, pos - taillen) !=
		    (ssize_t)taillen || memcmp(buf, tail, taillen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	closedir(d);
	return fd;
}

/* the bytes just before cur.pos are not the ones read there */
static int
refilled(void)
{
	char buf[sizeof(cur.tail)];

	return cur.taillen > 0 && (pread(cur.fd, buf, cur.taillen,
	    cur.pos - cur.taillen) != (ssize_t)cur.taillen ||
	    memcmp(buf, cur.tail, cur.taillen) != 0);
}

/* cur was renamed away: finish it, then any file renamed after it before
 * we looked, oldest first; now is the inode at path */
static void
chain(const char *path, ino_t now)
{
	struct stat st;
	struct timespec mt;
	ino_t ino;
	int fd;

	drain(&cur);
	for (;;) {
		if (fstat(cur.fd, &st) == -1)
			err(2, "fstat");
		ino = st.st_ino;
		mt = st.st_mtim;
		closecur();
		if ((fd = nextrotated(path, ino, now, &mt)) < 0)
			return;
		setcur(fd, 0);
		drain(&cur);
	}
}

/* read cur to its end, then see whether the path was rotated or truncated */
static void
catch_up(const char *path)
{
	struct stat st, cs;
	off_t before = cur.pos;
	int fd;

	/* copytruncate: seen before reading, or the read starts mid-line;
	 * or the file was written past where we were again before we
	 * looked, and the bytes before pos are no longer the ones read.
	 * What was not read yet went into the copy: read it there. */
	if (cur.fd >= 0 && fstat(cur.fd, &cs) == 0 &&
	    (cs.st_size < cur.pos + (off_t)cur.b.len || refilled())) {
		if (cur.taillen > 0 && (fd = findcopy(path, cur.pos, cur.tail,
		    cur.taillen)) >= 0) {
			struct input copy = { .fd = fd, .pos = cur.pos };
			if (lseek(fd, cur.pos, SEEK_SET) == cur.pos &&
			    drain(&copy) == 0)
				lines(&copy, 1);
			ami_buf_free(&copy.b);
			close(fd);
			cur.b.len = 0;
		} else
			lines(&cur, 1);
		cur.taillen = 0;
		setcur(cur.fd, 0);
	}
	if (cur.fd >= 0 && drain(&cur) < 0)
		err(2, "%s", path);
	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			warn("%s", path);
	} else if (cur.fd < 0) {
		if ((fd = open(path, O_RDONLY)) >= 0) {
			setcur(fd, 0);
			drain(&cur);
		}
	} else if ((st.st_dev != cur.dev || st.st_ino != cur.ino) &&
	    st.st_size > 0) {
		/*
		 * A new file at the path has data, so the daemon has let go of
		 * the old one: finish the old, then start the new.
		 */
		chain(path, st.st_ino);
		if ((fd = open(path, O_RDONLY)) >= 0) {
			setcur(fd, 0);
			drain(&cur);
		}
	}
	if (cur.pos != before)
		dirty = 1;
}

/* 0, or -1 when the last state could not be saved */
static int
follow(const char *path, const sigset_t *unblocked)
{
	char dir[PATH_MAX], evbuf[4096];
	int ifd, ms, holdms;
	int64_t now;

	strlcpy(dir, path, sizeof(dir));
	if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		err(2, "inotify_init1");
	/* the directory: sees writes, renames and creates alike */
	if (inotify_add_watch(ifd, dirname(dir), IN_MODIFY | IN_CREATE |
	    IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_ATTRIB |
	    IN_CLOSE_WRITE) == -1)
		err(2, "%s", dir);
	restore(path);
	if (cur.fd < 0)
		warnx("%s does not exist yet; waiting for it", path);
	while (!stop) {
		signals(unblocked);
		catch_up(path);
		holdms = release(0);
		flushout(1);
		now = ami_now_ms();
		if (dirty && holding == 0 && now - lastsave >= SAVE_MS)
			savestate();
		/* the directory may be on a file system inotify can't see */
		ms = 1000;
		if (dirty && holding == 0 && sflag != NULL)
			ms = lastsave + SAVE_MS - now;
		if (holdms >= 0 && holdms < ms)
			ms = holdms;
		waitfor(ifd, ms < 0 ? 0 : ms, unblocked);
		while (read(ifd, evbuf, sizeof(evbuf)) > 0)
			;
	}
	catch_up(path);
	release(1);
	flushout(1);
	close(ifd);
	return savestate();
}

int
main(int argc, char *argv[])
{
	struct sigaction sa = { .sa_handler = onsignal };
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGINT, SIGTERM };
	struct ami_confkey keys[] = {
		{ "map", mapfile, sizeof(mapfile) },
		{ "patterns", patfile, sizeof(patfile) },
		{ "tech", tech, sizeof(tech) },
	};
	const char *m = NULL, *p = NULL, *t = NULL;
	sigset_t block, unblocked;
	struct stat st;
	char errbuf[256];
	size_t i;
	int ch, status = 0;

	while ((ch = getopt(argc, argv, "C:c:D:d:F:g:hm:p:R:r:S:s:t:V"))
	    != -1) {
		switch (ami_oldopt(ch, "pgrRsStC")) {
		case 'C':
			t = optarg;
			break;
		case 'c':
			cflag = optarg;
			break;
		case 'D':
			Dflag = optarg;
			break;
		case 'd':
			dflag = optarg;
			break;
		case 'F':
			Fflag = optarg;
			break;
		case 'g':
			p = optarg;
			break;
		case 'm':
			m = optarg;
			break;
		case 'R':
			rflag = ami_argnum("-R", optarg, 0, 3600);
			break;
		case 'S':
			sflag = optarg;
			break;
		case 'V':
			printf("dndparse %s\n", AMI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (argc != optind || (sflag != NULL && Fflag == NULL) ||
	    (dflag != NULL && m != NULL) || (Dflag != NULL && dflag == NULL))
		usage();
	if (ami_conf_section("dndparse", cflag, keys, 3, errbuf,
	    sizeof(errbuf)) < 0)
		errx(2, "%s", errbuf);
	if (m != NULL && strlcpy(mapfile, m, sizeof(mapfile)) >= sizeof(mapfile))
		errx(2, "-m %s: name too long", m);
	if (p != NULL && strlcpy(patfile, p, sizeof(patfile)) >= sizeof(patfile))
		errx(2, "-g %s: name too long", p);
	if (t != NULL && strlcpy(tech, t, sizeof(tech)) >= sizeof(tech))
		errx(2, "-C %s: name too long", t);
	if (!ami_dnd_peer(tech, strlen(tech)))
		errx(2, "tech %s: not a channel technology name", tech);
	if (dflag != NULL) {
		*mapfile = '\0';
		db = ami_db_new(dflag, Dflag);
		byip = ami_db_prepare(db, "SELECT peer FROM employee WHERE ip = ? "
		    "ORDER BY updated DESC, id DESC LIMIT 1");
	} else if (*mapfile == '\0' && access(DEFAULT_MAP, F_OK) == 0)
		/* patterns that name the peer need no map: it may be missing */
		strlcpy(mapfile, DEFAULT_MAP, sizeof(mapfile));
	if ((*mapfile != '\0' && loadmap(mapfile, &map) < 0) ||
	    loadpats(patfile, &pats) < 0)
		exit(2);
	outreg = fstat(1, &st) == 0 && S_ISREG(st.st_mode);

	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	waitmask = &unblocked;
	if (Fflag != NULL)
		status = follow(Fflag, &unblocked) < 0 ? 2 : 0;
	else
		readstdin(&unblocked);
	signals(&unblocked);
	flushout(1);
	ami_buf_free(&out);
	ami_buf_free(&cur.b);
	ami_tab_free(&map, ent_free);
	ami_tab_free(&peers, ent_free);
	ami_tab_free(&warned, ent_free);
	ami_dnd_free(pats);
	ami_stmt_free(byip);
	ami_db_free(db);
	return status;
}
