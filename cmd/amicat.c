/*
 * amicat: AMI events out, one message per line (or JSON, raw, a template).
 *
 * Reads one or more AMI servers (or a recorded stream with -i) and writes
 * each message on stdout.  The sockets are read promptly whatever stdout
 * does: output goes through a bounded queue drained by a writer thread, and
 * when it overflows whole messages are dropped, counted, said on stderr and
 * marked in the stream.  After a reconnect an AmitoolsReconnect message
 * says events may be missing.  Every event read before a close is printed.
 * The markers are messages like any other: -e and -k select them too, so
 * a filtered stream fed to a template never carries them by surprise.
 * With -s, every login to any server asks every server that is up for the
 * given lists again (DeviceStateList, say), so a consumer mirroring state
 * catches up on what it missed: their items come out as the events they
 * are, with amicat's ActionID (a consumer tells a listed state from a
 * live change by it).  A server is asked only once fully booted (a login
 * can come before, and lists asked then fail), and a list it refuses is
 * asked again, SYNC_RETRY_MS later, SYNC_TRIES times at most.
 */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ami.h"

#define MAXSERVERS 32
#define MAXFILTERS 32
#define SYNC_ID    "amicat-sync-"   /* and the action's index in -s */
#define MAXSYNC    32
#define SYNC_RETRY_MS 500
#define SYNC_TRIES 10
#define FILTER_ID  "amicat-filter"

static int jflag, rflag;
static long long nflag;
static size_t Bflag = 16u << 20;
static const char *fflag, *iflag, *cflag, *sflag;
static char *eflag;

static struct ami_filter *filters[MAXFILTERS];
static int nfilters;
static struct ami_tmpl *tmpl;
static struct ami_server servers[MAXSERVERS];
static struct ami_conn conns[MAXSERVERS];
static int nservers, tagged;
static int copyraw;                     /* -r, brief(), from one server */
static struct ami_outq *outq;
static struct ami_buf syncact[MAXSYNC]; /* the -s actions, ready to send */
static int nsync;
static unsigned syncdue[MAXSERVERS];    /* per server: actions to ask again */
static int64_t syncat[MAXSERVERS];      /* ... at this time */
static int synctries[MAXSERVERS];
static struct ami_buf filterlist;       /* -e as server Filter actions */
static long long printed;
static unsigned long long dropped;
static volatile sig_atomic_t stop;

static void
usage(void)
{
	fprintf(stderr, "usage: amicat [-jr] [-B bytes] [-c config] [-e event,...] "
	    "[-f template]\n\t[-H server]... [-i file] [-k [!]key~regex]... "
	    "[-n count] [-s action,...]\n");
	exit(2);
}


static size_t
parsesize(const char *s)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		errx(2, "-B %s: not a size", s);
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	}
	if (*end != '\0' || n < 4096)
		errx(2, "-B %s: want a size of 4096 bytes or more, e.g. 16M", s);
	return n;
}

/* template values: control bytes escaped so one event stays one line */
static void
putvisible(struct ami_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != 0x7f) {
			ami_buf_addc(b, c);
			continue;
		}
		ami_buf_addc(b, '\\');
		if (c == '\n' || c == '\r' || c == '\t')
			ami_buf_addc(b, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		else {
			ami_buf_addc(b, 'x');
			ami_buf_addc(b, hex[c >> 4]);
			ami_buf_addc(b, hex[c & 15]);
		}
	}
}

static int
wanted(const struct ami_msg *m)
{
	const char *ev;
	size_t evl;
	int i;

	if (eflag != NULL && ((ev = ami_msg_get(m, "Event", &evl)) == NULL ||
	    !ami_listhas(eflag, ev, evl)))
		return 0;
	for (i = 0; i < nfilters; i++)
		if (!ami_filter_match(filters[i], m))
			return 0;
	return 1;
}

/* -n has all it asked for */
static inline int
counted(void)
{
	return nflag && printed >= nflag;
}

/* -r or one-line alone write an event from its raw bytes: the parser
 * need not split it */
static int
brief(void)
{
	return !jflag && fflag == NULL && eflag == NULL && nfilters == 0 &&
	    sflag == NULL;
}

/* an event the parser may have read brief: its first field split, and
 * Server added after (output()) when tagged; one-line converts its raw */
static int
briefevent(const struct ami_msg *m)
{
	return m->raw != NULL && m->n == 1 + (size_t)tagged &&
	    ami_keyeq(m->f[0].k, m->f[0].kl, "Event");
}

/* a block that ends with its empty line (nearly every one) */
static inline int
whole(const char *r, size_t n)
{
	return n >= 3 && r[n - 1] == '\n' && (r[n - 2] == '\n' ||
	    (r[n - 2] == '\r' && r[n - 3] == '\n'));
}

/*
 * -r of a block as it came: byte for byte, the tag before its end, and
 * ended by an empty line even when the input ended without one, so that
 * outputs put one after another never merge two messages.  The parser
 * passes no half line: raw ends with a line feed.
 */
static void
putraw(struct ami_buf *b, const struct ami_msg *m)
{
	const char *r = m->raw;
	size_t n = m->rawlen, body = n;
	const char *eol;

	if (!tagged && whole(r, n)) {
		ami_buf_add(b, r, n);
		return;
	}
	if (n >= 2 && r[n - 2] == '\n')
		body = n - 1;
	else if (n >= 3 && r[n - 3] == '\n' && r[n - 2] == '\r')
		body = n - 2;
	eol = body >= 2 && r[body - 2] == '\r' ? "\r\n" : "\n";
	ami_buf_add(b, r, body);
	if (tagged) {
		ami_buf_add(b, "Server: ", 8);
		ami_buf_add(b, m->f[m->n - 1].v, m->f[m->n - 1].vl);
		ami_buf_adds(b, eol);
	}
	if (body < n)
		ami_buf_add(b, r + body, n - body);
	else
		ami_buf_adds(b, eol);
}

/*
 * One-line reads each event block once: the parser's skim (convskim), in
 * looking for the block's end, writes its lines into the queue's batch,
 * past its end, and put() takes them when that block comes out next and
 * nothing was put since (a marker before it, say: every put ends them).
 * The parser may drop the block after (over the cap), or look at it again.
 */
static struct {
	const char *end;        /* the block's end: which block it is */
	const char *at;         /* the batch's bytes then */
	size_t from, to;        /* where the lines are in them */
} early;

static const char *
convskim(void *arg, const char *s, const char *e, unsigned long *lines)
{
	struct ami_buf *b = ami_outq_batch(outq);
	size_t mark = b->len;

	(void)arg;
	early.end = ami_text_lines(b, s, e, lines);
	early.at = b->p;
	early.from = mark;
	early.to = b->len;
	b->len = mark;
	return early.end;
}

/* the parser's skim: one-line's, where the parser reads brief for it */
static ami_skim_fn *
readerskim(void)
{
	return brief() && !rflag ? convskim : NULL;
}

/* a brief event in one-line: from convskim's lines if they are this
 * event's and still there */
static void
putbrief(struct ami_buf *b, const struct ami_msg *m)
{
	size_t start = b->len;

	if (early.end == m->raw + m->rawlen && early.at == b->p &&
	    early.from == b->len) {
		b->len = early.to;
		ami_text_end(b, m, 1, start);
	} else
		ami_text_block(b, m, 1);
}

static void
encode(struct ami_buf *b, const struct ami_msg *m)
{
	if (fflag != NULL) {
		ami_tmpl_expand(tmpl, m, b, putvisible);
		ami_buf_addc(b, '\n');
	} else if (jflag)
		ami_json_put(b, m);
	else if (rflag && m->raw != NULL)
		putraw(b, m);
	else if (rflag)
		ami_wire_put(b, m);
	else if (brief() && briefevent(m))
		putbrief(b, m);
	else
		ami_text_put(b, m);
}

/* encoded in place: the queue's own batch, no copy per message */
static int
put(const struct ami_msg *m)
{
	struct ami_buf *b = ami_outq_batch(outq);
	size_t mark = b->len;

	encode(b, m);
	early.end = NULL;
	return ami_outq_commit(outq, mark);
}

/* the reader learns of a gap in the stream where it is */
static int
putdropped(const char *server)
{
	struct ami_msg d = { 0 };
	char count[32];
	int rc;

	snprintf(count, sizeof(count), "%llu", dropped);
	ami_msg_adds(&d, "Event", "AmitoolsDropped");
	ami_msg_adds(&d, "Server", server ? server : "");
	ami_msg_adds(&d, "Count", count);
	rc = wanted(&d) ? put(&d) : 0;
	ami_msg_free(&d);
	if (rc == 0) {
		warnx("stdout caught up; %llu events were dropped", dropped);
		dropped = 0;
	}
	return rc;
}

/* what the queue said of a message: full, it was dropped (counted, said
 * once); a write error the main loop reports */
static void
queued(int rc)
{
	if (rc > 0 && dropped++ == 0)
		warnx("stdout is too slow: queue of %zu bytes full, dropping "
		    "events", Bflag);
}

static void
output(struct ami_msg *m, const char *server)
{
	if (tagged && server != NULL)
		ami_msg_ref(m, "Server", 6, server, strlen(server));
	if (dropped > 0 && putdropped(server) != 0)
		queued(1);
	else
		queued(put(m));
}

static void
buildsync(const char *actions)
{
	struct ami_msg a = { 0 };
	const char *p, *comma;
	char why[200];

	for (p = actions; ; p = comma + 1) {
		comma = strchrnul(p, ',');
		if (nsync == MAXSYNC)
			errx(2, "-s: at most %d actions", MAXSYNC);
		ami_msg_clear(&a);
		ami_msg_add(&a, "Action", 6, p, comma - p);
		snprintf(why, sizeof(why), SYNC_ID "%d", nsync);
		ami_msg_adds(&a, "ActionID", why);
		if (comma == p || ami_wire_check(&a, why, sizeof(why)) < 0)
			errx(2, "-s %s: not an action name", actions);
		ami_wire_put(&syncact[nsync++], &a);
		if (*comma == '\0')
			break;
	}
	ami_msg_free(&a);
}

/* the -s actions in mask to server i */
static void
asksync(int i, unsigned mask)
{
	int k;

	for (k = 0; k < nsync; k++)
		if (mask & (1u << k))
			ami_conn_send(&conns[i], syncact[k].p, syncact[k].len);
}

/*
 * The cheapest event is the one never sent: -e narrows the login's Events
 * mask to its events' classes (conn.c), and also becomes one AMI Filter
 * a name, sent at each login (filters last a session).  The client-side
 * test stays the authority: the regex (case folded by hand, POSIX ERE has
 * no flag for it in a Filter) may pass more, never less, than -e; a server
 * that refuses Filter (no "system" write permission, too old) answers with
 * an error nobody prints, and every event comes as before.  A name with a
 * byte other than A-Z a-z 0-9 _ - is not pushed, nor is the list.
 */
static void
buildfilter(const char *names)
{
	struct ami_msg a = { 0 };
	struct ami_buf re = { 0 };
	const char *p, *comma, *q;
	char why[200];

	for (p = names; ; p = comma + 1) {
		comma = strchrnul(p, ',');
		for (q = p; q < comma; q++)
			if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-')
				goto none;
		if (comma == p)
			goto none;
		re.len = 0;
		ami_buf_adds(&re, "Event: ");
		for (q = p; q < comma; q++) {
			if (!isalpha((unsigned char)*q)) {
				ami_buf_addc(&re, *q);
				continue;
			}
			ami_buf_addc(&re, '[');
			ami_buf_addc(&re, toupper((unsigned char)*q));
			ami_buf_addc(&re, tolower((unsigned char)*q));
			ami_buf_addc(&re, ']');
		}
		/* not a longer name: the line end, or the end of the text */
		ami_buf_adds(&re, "([^A-Za-z0-9_-]|$)");
		/* a name already asked for (FullyBooted in -e) is not again */
		if (filterlist.len == 0 ||
		    memmem(filterlist.p, filterlist.len, re.p, re.len) == NULL) {
			ami_msg_clear(&a);
			ami_msg_adds(&a, "Action", "Filter");
			ami_msg_adds(&a, "ActionID", FILTER_ID);
			ami_msg_adds(&a, "Operation", "Add");
			ami_msg_add(&a, "Filter", 6, re.p, re.len);
			if (ami_wire_check(&a, why, sizeof(why)) < 0)
				goto none;
			ami_wire_put(&filterlist, &a);
		}
		if (*comma == '\0')
			break;
	}
	goto done;
none:
	filterlist.len = 0;
done:
	ami_msg_free(&a);
	ami_buf_free(&re);
}

/* a server that was away missed changes, and the others missed its own */
static void
resync(void)
{
	int i;

	for (i = 0; i < nservers; i++)
		if (conns[i].state == AMI_UP && conns[i].booted) {
			synctries[i] = 0;
			asksync(i, (1u << nsync) - 1);
		}
}

/* which -s action an ActionID names: its index, or -1 */
static int
syncindex(const char *v, size_t n)
{
	size_t pl = strlen(SYNC_ID), i;
	int k = 0;

	if (n <= pl || n > pl + 2 || memcmp(v, SYNC_ID, pl) != 0)
		return -1;
	for (i = pl; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		k = k * 10 + v[i] - '0';
	}
	return k < nsync ? k : -1;
}

/* a list refused (the server still booting, say): ask again later */
static void
syncfailed(struct ami_conn *c, int k)
{
	int i = c - conns;

	if (synctries[i]++ >= SYNC_TRIES) {
		warnx("%s: -s action %d refused %d times; given up", c->srv->name,
		    k + 1, SYNC_TRIES + 1);
		return;
	}
	syncdue[i] |= 1u << k;
	syncat[i] = ami_now_ms() + SYNC_RETRY_MS;
}

static void
onmsg(void *arg, struct ami_conn *c, struct ami_msg *m)
{
	struct ami_msg marker = { 0 };
	char gap[32];
	int i, k;

	(void)arg;
	if (m == NULL) {
		if (c->booted) {
			if (nsync > 0)
				resync();
			return;
		}
		if (filterlist.len > 0)
			ami_conn_send(c, filterlist.p, filterlist.len);
		if (!c->ever_up)
			return;
		snprintf(gap, sizeof(gap), "%.3f",
		    (ami_now_ms() - c->down_since) / 1000.0);
		ami_msg_adds(&marker, "Event", "AmitoolsReconnect");
		if (!tagged)
			ami_msg_adds(&marker, "Server", c->srv->name);
		ami_msg_adds(&marker, "Gap", gap);
		if (wanted(&marker))
			output(&marker, c->srv->name);
		ami_msg_free(&marker);
		warnx("%s: reconnected after %s s", c->srv->name, gap);
		return;
	}
	/* a message the parser skipped (conn.c puts why last): said, and
	 * marked in the stream for the tool reading it (ami_msg_skipped) */
	if (m->n > 0 && ami_keyeq(m->f[m->n - 1].k, m->f[m->n - 1].kl,
	    "AmitoolsError")) {
		struct ami_field *why = &m->f[m->n - 1];
		warnx("%s: %.*s", c->srv->name, (int)why->vl, why->v);
		ami_msg_adds(&marker, "Event", "AmitoolsSkipped");
		if (!tagged)
			ami_msg_adds(&marker, "Server", c->srv->name);
		ami_msg_add(&marker, "Reason", 6, why->v, why->vl);
		if (wanted(&marker))
			output(&marker, c->srv->name);
		ami_msg_free(&marker);
		return;
	}
	/* the answers to amicat's own actions, by one look for an ActionID:
	 * the pushed Filters' (a refusal is the quiet fallback), -s lists' */
	i = filterlist.len > 0 || nsync > 0 ? ami_msg_find(m, "ActionID", 0) : -1;
	if (i >= 0 && filterlist.len > 0 &&
	    ami_keyeq(m->f[i].v, m->f[i].vl, FILTER_ID))
		return;
	/* a list's response is not state; its items keep the ActionID: a
	 * consumer (statemerge) tells a listed state from a live change by it */
	if (i >= 0 && nsync > 0 && (k = syncindex(m->f[i].v, m->f[i].vl)) >= 0 &&
	    ami_msg_get(m, "Event", NULL) == NULL) {
		if (ami_msg_is(m, "Message", "Permission denied"))
			warnx("%s: -s %.*s: permission denied (the user's "
			    "write= classes)", c->srv->name,
			    (int)strcspn(syncact[k].p + 8, "\r"),
			    syncact[k].p + 8);
		else if (ami_msg_is(m, "Response", "Error"))
			syncfailed(c, k);
		return;
	}
	if (stop || counted() || !wanted(m))
		return;
	output(m, c->srv->name);
	printed++;
}

/*
 * onmsg for -r alone from one server: a whole block (nearly every
 * message) is one copy, and none of onmsg's looks (a skipped message's
 * marker has no raw; -e, -k and -s are not brief)
 */
static void
onraw(void *arg, struct ami_conn *c, struct ami_msg *m)
{
	if (m == NULL || m->raw == NULL || dropped > 0 ||
	    !whole(m->raw, m->rawlen)) {
		onmsg(arg, c, m);
		return;
	}
	if (!stop && !counted()) {
		queued(ami_outq_put(outq, m->raw, m->rawlen));
		printed++;
	}
}

/* a message of a file: 1 once -n has all it wants */
static int
fromfile(struct ami_msg *m, unsigned long line, void *arg)
{
	struct ami_drive *d = arg;
	char why[200];

	if (!wanted(m))
		return 0;
	/* a message -r can't write so that it reads back as itself is
	 * said, not changed */
	if (rflag && m->raw == NULL && ami_wire_exact(m, why, sizeof(why)) < 0) {
		warnx("%s: line %lu: not written: %s", d->name, line, why);
		d->bad++;
		return 0;
	}
	output(m, NULL);
	printed++;
	return counted();
}

/* a pipe may pause: what was read so far goes out first */
static void
flushout(void *arg)
{
	(void)arg;
	ami_outq_flush(outq);
}

static int
readfile(const char *path)
{
	struct ami_drive d;
	int fd = 0;

	if (strcmp(path, "-") != 0 && (fd = open(path, O_RDONLY)) == -1)
		err(2, "%s", path);
	ami_drive_init(&d, fd, path, 0, fromfile, &d);
	d.in.brief = brief();
	d.in.skim = readerskim();
	d.pause = flushout;
	ami_drive_run(&d, &stop);
	ami_drive_free(&d);
	if (fd != 0)
		close(fd);
	return d.bad ? 2 : 0;
}

static void
run(void)
{
	struct pollfd pfd[MAXSERVERS + 1];
	int i, timeout, e;
	int64_t now;

	for (i = 0; i < nservers; i++) {
		ami_conn_init(&conns[i], &servers[i]);
		conns[i].brief = brief();
		conns[i].skim = readerskim();
		conns[i].only = eflag;  /* the login asks for their classes */
	}
	while (!stop && !counted()) {
		now = ami_now_ms();
		timeout = -1;
		for (i = 0; i < nservers; i++) {
			pfd[i].fd = ami_conn_pollfd(&conns[i], &pfd[i].events,
			    now, &timeout);
			if (syncdue[i] && (timeout < 0 || syncat[i] - now < timeout))
				timeout = syncat[i] > now ? syncat[i] - now : 0;
		}
		pfd[i].fd = ami_outq_fd(outq);
		pfd[i].events = POLLIN;
		if (ami_outq_flush(outq) < 0)
			break;
		if (poll(pfd, nservers + 1, timeout) == -1) {
			if (errno == EINTR)
				continue;
			err(2, "poll");
		}
		if ((e = ami_outq_error(outq)) != 0)
			break;
		now = ami_now_ms();
		for (i = 0; i < nservers; i++) {
			if (syncdue[i] && now >= syncat[i]) {
				if (conns[i].state == AMI_UP && conns[i].booted)
					asksync(i, syncdue[i]);
				syncdue[i] = 0;
			}
			if (ami_conn_step(&conns[i], pfd[i].fd == -1 ? 0 :
			    pfd[i].revents, now, copyraw ? onraw : onmsg,
			    NULL) == 0)
				continue;
			if (conns[i].authfail)
				errx(2, "%s", conns[i].err);
			if (!counted())
				warnx("%s; reconnecting", conns[i].err);
		}
	}
	for (i = 0; i < nservers; i++) {
		ami_conn_logoff(&conns[i]);
		ami_conn_free(&conns[i]);
	}
}

int
main(int argc, char *argv[])
{
	const char *hosts[MAXSERVERS];
	char errbuf[256];
	int ch, i, rc = 0;

	while ((ch = getopt(argc, argv, "B:c:e:f:H:hi:jk:m:n:rs:V")) != -1) {
		switch (ami_oldopt(ch, "mk")) {
		case 'B':
			Bflag = parsesize(optarg);
			break;
		case 'c':
			cflag = optarg;
			break;
		case 'e':
			eflag = optarg;
			break;
		case 'f':
			fflag = optarg;
			break;
		case 'H':
			if (nservers == MAXSERVERS)
				errx(2, "at most %d servers", MAXSERVERS);
			hosts[nservers++] = optarg;
			break;
		case 'i':
			iflag = optarg;
			break;
		case 'j':
			jflag = 1;
			break;
		case 'k':
			if (nfilters == MAXFILTERS)
				errx(2, "at most %d filters", MAXFILTERS);
			if ((filters[nfilters++] = ami_filter_new(optarg, errbuf,
			    sizeof(errbuf))) == NULL)
				errx(2, "%s", errbuf);
			break;
		case 'n':
			nflag = ami_argnum("-n", optarg, 1, LLONG_MAX);
			break;
		case 'r':
			rflag = 1;
			break;
		case 's':
			sflag = optarg;
			break;
		case 'V':
			printf("amicat %s\n", AMI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (argc != optind || jflag + rflag + (fflag != NULL) > 1 ||
	    (iflag != NULL && (nservers > 0 || sflag != NULL)))
		usage();
	if (sflag != NULL)
		buildsync(sflag);
	if (eflag != NULL && iflag == NULL) {
		buildfilter(eflag);
		/* what tells conn.c the server's boot state passes too */
		if (filterlist.len > 0)
			buildfilter("FullyBooted,Shutdown");
	}
	if (fflag != NULL && (tmpl = ami_tmpl_new(fflag, errbuf,
	    sizeof(errbuf))) == NULL)
		errx(2, "%s", errbuf);
	if (iflag == NULL) {
		if (nservers == 0)
			hosts[nservers++] = NULL;
		tagged = nservers > 1;
		copyraw = rflag && brief() && !tagged;
		for (i = 0; i < nservers; i++)
			if (ami_conf_server(&servers[i], hosts[i], cflag, errbuf,
			    sizeof(errbuf)) < 0)
				errx(2, "%s", errbuf);
	}
	ami_stop_signals(&stop);
	/* a file being converted waits for a slow disk; a live socket can't */
	if ((outq = ami_outq_new(1, Bflag, iflag != NULL)) == NULL)
		err(2, "output queue");
	if (iflag != NULL)
		rc = readfile(iflag);
	else
		run();
	for (i = 0; i < nsync; i++)
		ami_buf_free(&syncact[i]);
	ami_buf_free(&filterlist);
	ami_outq_block(outq);
	if (dropped > 0)
		putdropped(nservers == 1 ? servers[0].name : NULL);
	ami_outq_done(outq);
	for (i = 0; i < nfilters; i++)
		ami_filter_free(filters[i]);
	ami_tmpl_free(tmpl);
	return rc;
}
