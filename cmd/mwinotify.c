/*
 * mwinotify: voicemail MWI to phones through the SIP proxy.
 *
 * Reads MessageWaiting messages (one-line, wire or JSON) on stdin, finds
 * the phone's message-summary subscriptions in the proxy's active_watchers
 * table and sends each the in-dialog NOTIFY the proxy itself would send,
 * to the proxy, over UDP.  Writes one line per NOTIFY with its final
 * response.  Invariants: a row is used only while active and unexpired;
 * the CSeq sent is above any the proxy sent in the dialog and is written
 * back (compare-and-set) before the request leaves; every NOTIFY is a
 * client transaction of its own (RFC 3261 17.1.2: T1 doubling to T2, given
 * up after 64*T1), all on one socket, matched by branch, so one silent
 * phone never holds up the others; a value that would inject a header is
 * refused and reported; messages read while the database is down wait and
 * are retried (-W seconds at most, once the input ended or reading
 * stopped), and any still waiting at the end, or at a signal the input
 * already holds, are reported, never lost.
 * Exit 0 all NOTIFYs got 2xx, 1 some got another final answer or none
 * (or nothing to notify), 2 usage, database or system error.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ami.h"

#define QUEUE_MAX   4096    /* messages waiting for the database */
#define BRANCH_MAGIC "z9hG4bK"  /* RFC 3261 8.1.1.7 */
#define BUMP_TRIES  8
#define BATCH       64      /* messages per round trip to the database */

static int pflag, vflag;
static int Wflag = 30;
static int wflag = 1024;
static const char *aflag, *bflag, *cflag, *Dflag, *dflag, *Pflag;

/* the [mwinotify] section; options win */
static struct {
	char proxy[256], bind[256], user_agent[128], contact_user[64];
	char vmexten[64], domain[256], map[1024], dbgroup[64], dbfile[1024];
	int  cseq_offset;           /* -1: the layout's own */
	int  t1, t2;                /* ms */
} cf = { .cseq_offset = -1, .t1 = 500, .t2 = 4000 };

/* per layout: how far above the bumped local_cseq the NOTIFY goes */
static const struct {
	const char *name;
	int offset;
} layouts[] = {
	/* OpenSIPS: not observed here; the Kamailio rule is strictly above
	 * the proxy whether the row holds its last CSeq or one less */
	[AMI_LAYOUT_OPENSIPS] = { "opensips", 1 },
	/* Kamailio 5.6, subs_db_mode=3: the row stays one below the CSeq it
	 * last sent (../shared/fixtures/kamailio/README.md) */
	[AMI_LAYOUT_KAMAILIO] = { "kamailio", 1 },
};

/* -a: mailbox@context -> user@domain, or @context -> domain, as lib's
 * map file's ip and peer */
static struct ami_map map;

/* a MessageWaiting waiting for the database */
struct job {
	struct job *next;
	char    *mailbox, *user, *domain;
	int      new, old;
	int64_t  read_at;
};
static struct job *qhead, **qtail = &qhead;
static size_t qlen;

/* a NOTIFY in flight */
struct txn {
	char    *seq;           /* its branch's end; first: an ami_tab item */
	struct txn *prev, *next;
	char    *wire, *mailbox, *watcher, *callid;
	size_t   len;
	unsigned long rowid, cseq;
	int64_t  read_at, due, interval, deadline;
	int      proceeding;
};
static struct ami_tab txns;
static struct txn *inflight;
static size_t ninflight;
static uint64_t txnseq;
static char branchpfx[32];

static struct ami_db *db;
static struct ami_watchers *aw;
static int db_down;

static int sock = -1;
static char via_host[64];     /* numeric, [v6] bracketed */
static int via_port;
static int status;
static long sent, answered;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mwinotify [-pv] [-a mapfile] [-b addr[:port]] [-c config] "
	    "[-D mycnf]\n\t[-d group] [-P proxy[:port]] [-W seconds] "
	    "[-w window]\n"
	    "       mwinotify [options] notify user domain new old\n"
	    "       mwinotify [options] show user domain\n"
	    "       mwinotify [options] status\n");
	exit(2);
}

/* the [mwinotify] section of the configuration files, under the options,
 * and the defaults under both */
static void
configure(void)
{
	char offset[32] = "", t1[32] = "", t2[32] = "", why[1200];
	struct ami_confkey keys[] = {
		{ "proxy", cf.proxy, sizeof(cf.proxy) },
		{ "bind", cf.bind, sizeof(cf.bind) },
		{ "user_agent", cf.user_agent, sizeof(cf.user_agent) },
		{ "contact_user", cf.contact_user, sizeof(cf.contact_user) },
		{ "vmexten", cf.vmexten, sizeof(cf.vmexten) },
		{ "domain", cf.domain, sizeof(cf.domain) },
		{ "map", cf.map, sizeof(cf.map) },
		{ "dbgroup", cf.dbgroup, sizeof(cf.dbgroup) },
		{ "dbfile", cf.dbfile, sizeof(cf.dbfile) },
		{ "cseq_offset", offset, sizeof(offset) },
		{ "t1", t1, sizeof(t1) },
		{ "t2", t2, sizeof(t2) },
	};

	if (ami_conf_section("mwinotify", cflag, keys,
	    sizeof(keys) / sizeof(keys[0]), why, sizeof(why)) < 0)
		errx(2, "%s", why);
	/* the numbers, when set */
	if (*offset != '\0')
		cf.cseq_offset = ami_argnum("[mwinotify] cseq_offset =", offset,
		    0, 1000);
	if (*t1 != '\0')
		cf.t1 = ami_argnum("[mwinotify] t1 =", t1, 10, 10000);
	if (*t2 != '\0')
		cf.t2 = ami_argnum("[mwinotify] t2 =", t2, 10, 60000);
	if (cf.t2 < cf.t1)
		errx(2, "t2 (%d ms) is below t1 (%d ms)", cf.t2, cf.t1);
	if (bflag == NULL && *cf.bind)
		bflag = cf.bind;
	if (dflag == NULL)
		dflag = *cf.dbgroup ? cf.dbgroup : "amitools";
	if (Dflag == NULL && *cf.dbfile)
		Dflag = cf.dbfile;
	if (aflag == NULL && *cf.map)
		aflag = cf.map;
	if (Pflag == NULL && *cf.proxy)
		Pflag = cf.proxy;
	if (!*cf.user_agent)
		strlcpy(cf.user_agent, "amitools-mwinotify/" AMI_VERSION,
		    sizeof(cf.user_agent));
	if (!*cf.contact_user)
		strlcpy(cf.contact_user, "asterisk", sizeof(cf.contact_user));
}

/* "mailbox@context user@domain" or "@context domain" lines */
static void
loadmap(const char *path)
{
	char why[PATH_MAX + 64];
	const char *k, *v;
	size_t i;

	/* lib/map.c takes a missing file for an empty map */
	if (access(path, R_OK) != 0)
		err(2, "%s", path);
	if (ami_map_read(&map, path, why, sizeof(why)) < 0)
		errx(2, "%s (in a mwinotify map: mailbox@context user@domain, "
		    "or @context domain)", why);
	for (i = 0; i < map.n; i++) {   /* an entry a line */
		if ((k = map.e[i].ip) == NULL || *k == ';')
			continue;
		v = map.e[i].peer;
		if (strchr(k, '@') == NULL || (*k == '@') != (strchr(v, '@') == NULL))
			errx(2, "%s:%zu: expected \"mailbox@context user@domain\" "
			    "or \"@context domain\"", path, i + 1);
	}
}

/* mailbox user@context to the SIP user and domain of its phone: the map
 * file, else user = mailbox with the configured domain, else the context */
static void
mapbox(const char *mailbox, char **user, char **domain)
{
	const char *at = strchr(mailbox, '@');
	const char *ctx = at != NULL ? at : "@default";
	const struct ami_map_ent *e;

	if ((e = ami_map_ip(&map, mailbox)) != NULL && *e->ip != '@') {
		at = strchr(e->peer, '@');
		*user = ami_xstrndup(e->peer, at - e->peer);
		*domain = ami_xstrdup(at + 1);
		return;
	}
	*user = ami_xstrndup(mailbox, at != NULL ? (size_t)(at - mailbox) :
	    strlen(mailbox));
	e = ami_map_ip(&map, ctx);
	*domain = ami_xstrdup(e != NULL ? e->peer : *cf.domain != '\0' ?
	    cf.domain : ctx + 1);
}

/*
 * A line of the report out.  SIGPIPE is ignored (see main), so a reader
 * that went away is EPIPE here: end as the other tools do, at once, not
 * after all the input with "stdout: Broken pipe".  Other errors are said
 * at the end.
 */
static void
put_stdout(const struct ami_msg *m)
{
	struct ami_buf b = { 0 };

	ami_text_put(&b, m);
	fwrite(b.p, 1, b.len, stdout);
	if (ferror(stdout) && errno == EPIPE)
		ami_stdout_failed(EPIPE);
	ami_buf_free(&b);
}

static void
report(const char *mailbox, const char *watcher, const char *callid,
    unsigned long cseq, const char *st, const char *reason, size_t reasonl,
    const char *extra, int64_t read_at)
{
	struct ami_msg m = { 0 };
	char cs[24], el[32];

	snprintf(cs, sizeof(cs), "%lu", cseq);
	snprintf(el, sizeof(el), "%.3f", (ami_now_us() - read_at) / 1000.0);
	ami_msg_adds(&m, "Mailbox", mailbox);
	ami_msg_adds(&m, "Watcher", watcher);
	ami_msg_adds(&m, "CallID", callid);
	ami_msg_adds(&m, "CSeq", cs);
	ami_msg_adds(&m, "Status", st);
	ami_msg_add(&m, "Reason", 6, reason, reasonl);
	if (extra != NULL)
		ami_msg_adds(&m, "Subscription", extra);
	ami_msg_adds(&m, "Elapsed", el);
	put_stdout(&m);
	ami_msg_free(&m);
}

/* the database failed us: wait before the next try */
static void
db_failed(void)
{
	if (!db_down)
		warnx("database down (%s); %zu messages wait", ami_db_error(db),
		    qlen);
	db_down = 1;
}

/* a statement for k jobs failed: 0 the database is down (they wait), 1
 * it refused them (each said, exit 2) */
static int
db_refused(struct job *const *jobs, int k)
{
	int i;

	if (!ami_db_up(db)) {
		db_failed();
		return 0;
	}
	for (i = 0; i < k; i++)
		warnx("%s: %s", jobs[i]->mailbox, ami_db_error(db));
	status = 2;
	return 1;
}

static int
db_open(void)
{
	if ((aw == NULL && (aw = ami_watchers_open(db)) == NULL) ||
	    ami_db_connect(db) < 0) {
		db_failed();
		return -1;
	}
	if (db_down)
		warnx("database back; %zu messages wait", qlen);
	db_down = 0;
	if (cf.cseq_offset < 0)
		cf.cseq_offset = layouts[ami_watchers_layout(aw)].offset;
	return 0;
}

static void
txn_add(struct txn *t)
{
	ami_tab_put(&txns, t);
	t->prev = NULL;
	t->next = inflight;
	if (inflight != NULL)
		inflight->prev = t;
	inflight = t;
	ninflight++;
}

static void
txn_done(struct txn *t)
{
	ami_tab_del(&txns, t->seq, strlen(t->seq));
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		inflight = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	ninflight--;
	free(t->seq);
	free(t->wire);
	free(t->mailbox);
	free(t->watcher);
	free(t->callid);
	free(t);
}

/* t ends without a final response: said as st, why */
static void
txn_fail(struct txn *t, const char *st, const char *why)
{
	report(t->mailbox, t->watcher, t->callid, t->cseq, st, why,
	    strlen(why), NULL, t->read_at);
	txn_done(t);
}

static void
xmit(struct txn *t)
{
	/* a full socket buffer is a lost datagram: the timer resends it */
	if (send(sock, t->wire, t->len, 0) == -1 && errno != EAGAIN &&
	    errno != ECONNREFUSED && errno != EINTR)
		warn("send");
}

/* w->local_cseq is the value this sender has just moved up by one */
static void
send_row(struct job *j, struct ami_watcher *w)
{
	struct ami_sip_notify n = { 0 };
	struct ami_buf b = { 0 };
	struct txn *t;
	char why[256], branch[64], account[400], contact[300], watcher[200];

	snprintf(branch, sizeof(branch), "%s%llu", branchpfx,
	    (unsigned long long)++txnseq);
	snprintf(account, sizeof(account), "sip:%s@%s",
	    *cf.vmexten ? cf.vmexten : j->user, j->domain);
	if (*w->f[AMI_W_LCONTACT] != '\0')
		strlcpy(contact, w->f[AMI_W_LCONTACT], sizeof(contact));
	else
		snprintf(contact, sizeof(contact), "sip:%s@%s:%d",
		    cf.contact_user, via_host, via_port);
	snprintf(watcher, sizeof(watcher), "%s@%s", w->f[AMI_W_WUSER],
	    w->f[AMI_W_WDOMAIN]);
	n.ruri = w->f[AMI_W_CONTACT];
	n.route = w->f[AMI_W_RR];
	n.from_user = w->f[AMI_W_TO_USER];
	n.from_domain = w->f[AMI_W_TO_DOMAIN];
	n.from_tag = w->f[AMI_W_TO_TAG];
	n.to_user = w->f[AMI_W_WUSER];
	n.to_domain = w->f[AMI_W_WDOMAIN];
	n.to_tag = w->f[AMI_W_FROM_TAG];
	n.callid = w->f[AMI_W_CALLID];
	n.contact = contact;
	n.event_id = w->f[AMI_W_EVENT_ID];
	n.via_host = via_host;
	n.via_port = via_port;
	n.branch = branch;
	n.user_agent = cf.user_agent;
	n.account = account;
	n.cseq = w->local_cseq + 1 + cf.cseq_offset;
	n.expires = w->expires - time(NULL);
	n.new_msgs = j->new;
	n.old_msgs = j->old;
	if (ami_sip_notify(&b, &n, why, sizeof(why)) < 0) {
		warnx("%s: row %lu: %s", j->mailbox, w->id, why);
		report(j->mailbox, strpbrk(watcher, "\r\n") ? "-" : watcher,
		    strpbrk(n.callid, "\r\n") ? "-" : n.callid, n.cseq,
		    "refused", why, strlen(why), NULL, j->read_at);
		status = 2;
		return;
	}
	t = ami_xcalloc(1, sizeof(*t));
	t->seq = ami_xstrdup(branch + strlen(branchpfx));
	t->wire = b.p;
	t->len = b.len;
	t->mailbox = ami_xstrdup(j->mailbox);
	t->watcher = ami_xstrdup(watcher);
	t->callid = ami_xstrdup(n.callid);
	t->rowid = w->id;
	t->cseq = n.cseq;
	t->read_at = j->read_at;
	t->interval = cf.t1;
	t->due = ami_now_ms() + cf.t1;
	t->deadline = ami_now_ms() + 64LL * cf.t1;
	txn_add(t);
	if (vflag)
		fprintf(stderr, "mwinotify: sent to %s:\n%.*s", Pflag,
		    (int)t->len, t->wire);
	xmit(t);
	sent++;
}

/* the compare-and-set, again from the row as it is now while the proxy
 * moves it: 1 sent, 0 skipped (reported), -1 the database went down */
static int
notify_row(struct job *j, struct ami_watcher *w)
{
	struct ami_watcher *rows;
	int i, rc, nrows;

	for (i = 0; (rc = ami_watchers_bump(aw, w->id, w->local_cseq)) == 0;
	    i++) {
		/* the proxy sent a NOTIFY meanwhile: start from its CSeq */
		if (i == BUMP_TRIES) {
			warnx("%s: row %lu: local_cseq keeps moving; skipped",
			    j->mailbox, w->id);
			status = 2;
			return 0;
		}
		if ((nrows = ami_watchers_load(aw, w->f[AMI_W_WUSER],
		    w->f[AMI_W_WDOMAIN], &rows)) < 0) {
			rc = -1;
			break;
		}
		for (rc = 0; rc < nrows && rows[rc].id != w->id; rc++)
			;
		if (rc == nrows) {
			ami_watchers_free(rows, nrows);
			return 0;   /* gone meanwhile: nothing to notify */
		}
		w->local_cseq = rows[rc].local_cseq;
		w->expires = rows[rc].expires;
		ami_watchers_free(rows, nrows);
	}
	if (rc < 0)
		return db_refused(&j, 1) ? 0 : -1;
	send_row(j, w);
	return 1;
}

/* jobs the same mailbox, case as MySQL compares */
static int
wanted(const struct job *j, const struct ami_watcher *w)
{
	return strcasecmp(j->user, w->f[AMI_W_WUSER]) == 0 &&
	    strcasecmp(j->domain, w->f[AMI_W_WDOMAIN]) == 0;
}

/*
 * The first k jobs of the queue in two round trips to the database: their
 * rows in one query, all compare-and-sets in one batch; a row the proxy
 * moved meanwhile goes the one-by-one way.  1 done (sent, or reported),
 * 0 wait: the database is down.  A retry after an outage resends rows done
 * before it: MWI is state, and each resend has a CSeq of its own.
 */
static int
run_batch(struct job **jobs, int k)
{
	const char *users[BATCH], *domains[BATCH];
	struct ami_watcher *rows;
	unsigned long *ids = NULL;
	long *olds = NULL;
	int *done = NULL, *pj = NULL, *pr = NULL;
	int n, i, r, np = 0, rc = 1, any;

	if (db_open() < 0)
		return 0;
	for (i = 0; i < k; i++) {
		users[i] = jobs[i]->user;
		domains[i] = jobs[i]->domain;
	}
	if ((n = ami_watchers_load_many(aw, users, domains, k, &rows)) < 0)
		return db_refused(jobs, k);
	ids = ami_xcalloc((size_t)k * n + 1, sizeof(*ids));
	olds = ami_xcalloc((size_t)k * n + 1, sizeof(*olds));
	done = ami_xcalloc((size_t)k * n + 1, sizeof(*done));
	pj = ami_xcalloc((size_t)k * n + 1, sizeof(*pj));
	pr = ami_xcalloc((size_t)k * n + 1, sizeof(*pr));
	for (i = 0; i < k; i++) {
		for (any = 0, r = 0; r < n; r++)
			if (wanted(jobs[i], &rows[r])) {
				pj[np] = i;
				pr[np] = r;
				ids[np] = rows[r].id;
				olds[np++] = rows[r].local_cseq;
				any = 1;
			}
		if (!any && vflag)
			warnx("%s: no active subscription of %s@%s",
			    jobs[i]->mailbox, jobs[i]->user, jobs[i]->domain);
	}
	if (np > 0 && ami_watchers_bump_many(aw, ids, olds, np, done) < 0) {
		rc = db_refused(jobs, k);
		goto out;
	}
	for (i = 0; i < np; i++) {
		if (done[i])
			send_row(jobs[pj[i]], &rows[pr[i]]);
		else if (notify_row(jobs[pj[i]], &rows[pr[i]]) < 0) {
			rc = 0;
			break;
		}
	}
out:
	ami_watchers_free(rows, n);
	free(ids);
	free(olds);
	free(done);
	free(pj);
	free(pr);
	return rc;
}

/* the first job of the queue is done with */
static void
job_drop(void)
{
	struct job *j = qhead;

	if ((qhead = j->next) == NULL)
		qtail = &qhead;
	qlen--;
	free(j->mailbox);
	free(j->user);
	free(j->domain);
	free(j);
}

static void
enqueue(const char *mailbox, const char *user, const char *domain, int new,
    int old)
{
	struct job *j;

	j = ami_xcalloc(1, sizeof(*j));
	j->mailbox = ami_xstrdup(mailbox);
	if (user != NULL) {
		j->user = ami_xstrdup(user);
		j->domain = ami_xstrdup(domain);
	} else
		mapbox(mailbox, &j->user, &j->domain);
	j->new = new;
	j->old = old;
	j->read_at = ami_now_us();
	*qtail = j;
	qtail = &j->next;
	qlen++;
}

static int
count_field(const struct ami_msg *m, const char *key, unsigned long line)
{
	const char *v, *e;
	char buf[16];
	size_t vl;
	int n;

	if ((v = ami_msg_get(m, key, &vl)) == NULL || vl == 0 || vl >= sizeof(buf)) {
		warnx("line %lu: MessageWaiting without a valid %s; refused",
		    line, key);
		return -1;
	}
	memcpy(buf, v, vl);
	buf[vl] = '\0';
	n = strtonum(buf, 0, INT_MAX, &e);
	if (e != NULL) {
		char vis[64];
		warnx("line %lu: %s %s is %s; refused", line, key,
		    ami_visible(vis, sizeof(vis), v, vl), e);
		return -1;
	}
	return n;
}

/* a message of the stream; one amicat lost is said, exit 2 */
static int
onmessage(struct ami_msg *m, unsigned long line, void *arg)
{
	const char *v;
	char *mailbox;
	size_t vl;
	int new, old;

	(void)arg;
	if (ami_msg_skipped(m))
		status = 2;
	if (!ami_msg_is(m, "Event", "MessageWaiting"))
		return 0;
	if ((v = ami_msg_get(m, "Mailbox", &vl)) == NULL || vl == 0 ||
	    memchr(v, '\0', vl) != NULL || memchr(v, '\r', vl) != NULL ||
	    memchr(v, '\n', vl) != NULL) {
		warnx("line %lu: MessageWaiting without a usable Mailbox; refused",
		    line);
		status = 2;
		return 0;
	}
	if ((new = count_field(m, "New", line)) < 0 ||
	    (old = count_field(m, "Old", line)) < 0) {
		status = 2;
		return 0;
	}
	mailbox = ami_xstrndup(v, vl);
	enqueue(mailbox, NULL, NULL, new, old);
	free(mailbox);
	return 0;
}

static void
onresponse(const char *p, size_t len)
{
	struct ami_sip_resp r;
	struct txn *t;
	size_t pl = strlen(branchpfx);
	char st[16], extra[32] = "";

	if (ami_sip_response(p, len, &r) < 0 || r.branchl <= pl ||
	    memcmp(r.branch, branchpfx, pl) != 0)
		return;     /* not an answer to one of ours */
	if ((t = ami_tab_get(&txns, r.branch + pl, r.branchl - pl)) == NULL)
		return;     /* a late duplicate of a finished transaction */
	if (vflag)
		fprintf(stderr, "mwinotify: received:\n%.*s\n", (int)len, p);
	if (r.status < 200) {
		/* Proceeding: retransmit at T2 from now on (17.1.2.2) */
		t->proceeding = 1;
		return;
	}
	snprintf(st, sizeof(st), "%d", r.status);
	if (r.status >= 300 && status == 0)
		status = 1;
	if (r.status == 481) {
		strlcpy(extra, "gone", sizeof(extra));
		if (pflag && db_open() == 0) {
			if (ami_watchers_delete(aw, t->rowid) < 0) {
				warnx("%s: prune row %lu: %s", t->mailbox,
				    t->rowid, ami_db_error(db));
				if (!ami_db_up(db))
					db_failed();
			} else
				strlcpy(extra, "pruned", sizeof(extra));
		}
	}
	report(t->mailbox, t->watcher, t->callid, t->cseq, st, r.reason,
	    r.reasonl, *extra ? extra : NULL, t->read_at);
	answered++;
	txn_done(t);
}

static void
readsock(void)
{
	char pkt[65536];
	ssize_t n;

	for (;;) {
		if ((n = recv(sock, pkt, sizeof(pkt), 0)) == -1) {
			/* ICMP unreachable from the proxy: timers handle it */
			if (errno == EAGAIN || errno == ECONNREFUSED)
				return;
			if (errno == EINTR)
				continue;
			err(2, "recv");
		}
		onresponse(pkt, n);
	}
}

/* retransmit what is due, give up what is too late; ms to the next timer */
static int64_t
timers(int64_t now)
{
	struct txn *t, *next;
	int64_t wait = -1;

	for (t = inflight; t != NULL; t = next) {
		next = t->next;
		if (now >= t->deadline) {
			if (status == 0)
				status = 1;
			txn_fail(t, "timeout", "no final response within 64*T1");
			continue;
		}
		if (now >= t->due) {
			xmit(t);
			t->interval = t->proceeding ? cf.t2 :
			    t->interval * 2 > cf.t2 ? cf.t2 : t->interval * 2;
			t->due = now + t->interval;
		}
		if (t->due > t->deadline)
			t->due = t->deadline;
		if (wait < 0 || t->due - now < wait)
			wait = t->due - now;
	}
	return wait;
}

/* report and drop the queued jobs read -W seconds ago or more; ms to
 * the next one's turn, or -1 */
static int64_t
expire(int64_t now)
{
	int64_t due;

	while (qhead != NULL) {
		due = qhead->read_at / 1000 + Wflag * 1000LL;
		if (now < due)
			return due - now;
		warnx("%s: not delivered: %s (waited %d s)", qhead->mailbox,
		    ami_db_error(db), Wflag);
		job_drop();
		status = 2;
	}
	return -1;
}

/*
 * At a signal: what the input already holds (a file's rest, a pipe's
 * buffer) was handed to us and will not be sent: report each, for at most
 * a second, then stop reading.
 */
static void
unread(struct ami_parser *in, struct ami_msg *m)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	int64_t until = ami_now_ms() + 1000;
	const char *v;
	size_t vl;
	ssize_t n = 1;
	int rc;

	while (n > 0) {
		if (ami_now_ms() >= until || poll(&pfd, 1, 0) != 1 ||
		    ((n = ami_parser_read(in, 0)) < 0 && errno != EINTR))
			break;
		while ((rc = ami_parser_next(in, m)) != 0)
			if (rc > 0 && ami_msg_is(m, "Event", "MessageWaiting")) {
				v = ami_msg_get(m, "Mailbox", &vl);
				warnx("%.*s: not delivered: interrupted before it "
				    "was queued", v ? (int)vl : 1, v ? v : "?");
				status = 2;
			}
	}
}

/* where a run stands: its input, and the two ends it may come to */
struct run {
	struct ami_drive in;
	int      eof;           /* the input ended, or a signal ended it */
	int64_t  eofat;         /* ms, then: what still waits has -W more */
	int64_t  termat;        /* ms, a signal's grace ends; -1 none came */
};

/* ms from now till at, 0 when it has passed */
static int64_t
until(int64_t at, int64_t now)
{
	return at > now ? at - now : 0;
}

/* the nearer of two waits (ms), -1 being none */
static int64_t
sooner(int64_t a, int64_t b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* a first signal ends the input and gives what was read a grace; a
 * second one, or the grace's end, stops the run: 1 then */
static int
stopping(struct run *r, int64_t now)
{
	if (ami_grace_begins(now, &r->termat)) {
		if (!r->eof)
			r->eofat = now;
		r->eof = 1;
	}
	return ami_grace_signals() > 1 || (r->termat >= 0 && now >= r->termat);
}

/* the queue, a batch a round trip, while the window has room and the
 * database may be asked */
static void
dispatch(int64_t now)
{
	struct job *batch[BATCH], *j;
	int k;

	while (qhead != NULL && ninflight < (size_t)wflag &&
	    (!db_down || now >= ami_db_retry_at(db))) {
		k = 0;
		for (j = qhead; j != NULL && k < BATCH &&
		    ninflight + k < (size_t)wflag; j = j->next)
			batch[k++] = j;
		if (!run_batch(batch, k))
			break;
		while (k-- > 0)
			job_drop();
	}
}

/* ms till the queue moves on: its next batch, or the end of what the
 * input's end or a signal left it */
static int64_t
queue_wait(const struct run *r, int64_t now)
{
	int64_t wait = -1;

	if (qhead != NULL && ninflight < (size_t)wflag)
		wait = until(db_down ? ami_db_retry_at(db) : now, now);
	if (r->eof && qhead != NULL)
		wait = sooner(wait, until(r->eofat + Wflag * 1000LL, now));
	if (r->termat >= 0)
		wait = sooner(wait, until(r->termat, now));
	return wait;
}

/* wait ms (-1: no limit) for the proxy's answers and, while there is
 * room for them, more messages */
static void
wait_io(struct run *r, int64_t ms)
{
	struct pollfd pfd[2] = {
		{ .fd = r->eof || qlen >= QUEUE_MAX ||
		    ninflight >= (size_t)wflag ? -1 : 0, .events = POLLIN },
		{ .fd = sock, .events = POLLIN },
	};

	fflush(stdout);
	/* signals are let in only here, so none is missed before it */
	if (ami_grace_poll(pfd, 2, ms) == -1) {
		if (errno == EINTR)
			return;
		err(2, "ppoll");
	}
	if (pfd[1].revents)
		readsock();
	if (pfd[0].fd == 0 && pfd[0].revents && ami_drive_step(&r->in) == 0) {
		r->eof = 1;
		r->eofat = ami_now_ms();
	}
}

/* the end: what was not sent or not answered is said, never lost */
static void
finish(struct run *r, int readstdin)
{
	if (r->in.bad)
		status = 2;     /* each said as it came */
	if (readstdin && r->termat >= 0)
		unread(&r->in.in, &r->in.m);
	while (qhead != NULL) {
		warnx("%s: not delivered: %s", qhead->mailbox,
		    ami_grace_signals() ? "interrupted" : ami_db_error(db));
		job_drop();
		status = 2;
	}
	while (inflight != NULL) {
		txn_fail(inflight, "abandoned", "interrupted");
		status = 2;
	}
	ami_tab_free(&txns, NULL);
	ami_drive_free(&r->in);
}

/* stream (readstdin) or the jobs queued already: until all are answered */
static void
run(int readstdin)
{
	struct run r = { .eof = !readstdin, .termat = -1 };
	int64_t now, wait;

	ami_drive_init(&r.in, 0, NULL, AMI_LINE_MAX * AMI_HEADERS_MAX,
	    onmessage, NULL);
	if (r.eof)
		r.eofat = ami_now_ms();
	for (;;) {
		now = ami_now_ms();
		if (stopping(&r, now))
			break;
		dispatch(now);
		now = ami_now_ms();
		wait = timers(now);
		/* reading stopped for the database: -W holds there too, or a
		 * database that stays down would hold the input for ever */
		if (!r.eof && qlen >= QUEUE_MAX && db_down)
			wait = sooner(wait, expire(now));
		if (r.eof && ninflight == 0 && (qhead == NULL ||
		    now >= r.eofat + Wflag * 1000LL))
			break;
		wait_io(&r, sooner(wait, queue_wait(&r, now)));
	}
	finish(&r, readstdin);
}

/* host[:port] (or [v6]:port) into h and p */
static void
hostport(const char *s, char *h, size_t hl, char *p, size_t pl, const char *defport)
{
	const char *c;

	if (*s == '[' && (c = strchr(s, ']')) != NULL) {
		snprintf(h, hl, "%.*s", (int)(c - s - 1), s + 1);
		snprintf(p, pl, "%s", c[1] == ':' ? c + 2 : defport);
	} else if ((c = strrchr(s, ':')) != NULL && strchr(s, ':') == c) {
		snprintf(h, hl, "%.*s", (int)(c - s), s);
		snprintf(p, pl, "%s", c + 1);
	} else {
		snprintf(h, hl, "%s", s);
		snprintf(p, pl, "%s", defport);
	}
}

static struct addrinfo *
resolve(const char *s, const char *defport, int passive, char *why, size_t wl)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	char h[256], p[32];
	int e;

	hostport(s, h, sizeof(h), p, sizeof(p), defport);
	if (passive)
		hints.ai_flags = AI_PASSIVE;
	if ((e = getaddrinfo(*h ? h : NULL, p, &hints, &ai)) != 0) {
		snprintf(why, wl, "%s: %s", s, gai_strerror(e));
		return NULL;
	}
	return ai;
}

/* the socket to the proxy, and the Via it names */
static void
opensock(void)
{
	struct addrinfo *pa, *ba = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char why[300], port[NI_MAXSERV], host[sizeof(via_host) - 2];
	int buf = 4 << 20;

	if (Pflag == NULL)
		errx(2, "no proxy: -P or proxy in [mwinotify]");
	/* our branches, to know our answers by */
	snprintf(branchpfx, sizeof(branchpfx), BRANCH_MAGIC "-amw%08x-",
	    arc4random());
	if ((pa = resolve(Pflag, "5060", 0, why, sizeof(why))) == NULL)
		errx(2, "proxy %s", why);
	if ((sock = socket(pa->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		err(2, "socket");
	setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bflag != NULL) {
		if ((ba = resolve(bflag, "0", 1, why, sizeof(why))) == NULL)
			errx(2, "bind %s", why);
		if (bind(sock, ba->ai_addr, ba->ai_addrlen) == -1)
			err(2, "bind %s", bflag);
		freeaddrinfo(ba);
	}
	/* connected: only the proxy's answers come in, and the kernel picks
	 * the source address the Via must name */
	if (connect(sock, pa->ai_addr, pa->ai_addrlen) == -1)
		err(2, "connect %s", Pflag);
	freeaddrinfo(pa);
	if (getsockname(sock, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		err(2, "getsockname");
	snprintf(via_host, sizeof(via_host), ss.ss_family == AF_INET6 ?
	    "[%s]" : "%s", host);
	via_port = atoi(port);
}

static int
cmd_show(const char *user, const char *domain)
{
	struct ami_watcher *rows;
	struct ami_msg m = { 0 };
	char id[24], cs[24], ex[24];
	int n, i;

	if ((aw = ami_watchers_open(db)) == NULL ||
	    (n = ami_watchers_load(aw, user, domain, &rows)) < 0)
		errx(2, "database %s: %s", dflag, ami_db_error(db));
	for (i = 0; i < n; i++) {
		ami_msg_clear(&m);
		snprintf(id, sizeof(id), "%lu", rows[i].id);
		snprintf(cs, sizeof(cs), "%ld", rows[i].local_cseq);
		snprintf(ex, sizeof(ex), "%ld", rows[i].expires - (long)time(NULL));
		ami_msg_adds(&m, "Id", id);
		ami_msg_adds(&m, "ToTag", rows[i].f[AMI_W_TO_TAG]);
		ami_msg_adds(&m, "FromTag", rows[i].f[AMI_W_FROM_TAG]);
		ami_msg_adds(&m, "CallID", rows[i].f[AMI_W_CALLID]);
		ami_msg_adds(&m, "Expires", ex);
		ami_msg_adds(&m, "CSeq", cs);
		ami_msg_adds(&m, "Contact", rows[i].f[AMI_W_CONTACT]);
		ami_msg_adds(&m, "RecordRoute", rows[i].f[AMI_W_RR]);
		ami_msg_adds(&m, "LocalContact", rows[i].f[AMI_W_LCONTACT]);
		put_stdout(&m);
	}
	ami_watchers_free(rows, n);
	ami_msg_free(&m);
	if (n == 0)
		warnx("no active message-summary subscription of %s@%s", user,
		    domain);
	return n > 0 ? 0 : 1;
}

static int
cmd_status(void)
{
	struct addrinfo *ai;
	struct ami_msg m = { 0 };
	char why[300], addr[NI_MAXHOST + NI_MAXSERV + 4], h[NI_MAXHOST],
	    p[NI_MAXSERV], nb[24], off[24];
	long n = -1;
	int rc = 0;

	if ((aw = ami_watchers_open(db)) != NULL)
		n = ami_watchers_count(aw);
	if (n < 0) {
		ami_msg_adds(&m, "Database", "down");
		ami_msg_adds(&m, "Error", ami_db_error(db));
		rc = 1;
	} else {
		snprintf(nb, sizeof(nb), "%ld", n);
		ami_msg_adds(&m, "Database", "ok");
		ami_msg_adds(&m, "Layout", layouts[ami_watchers_layout(aw)].name);
		ami_msg_adds(&m, "Subscriptions", nb);
		if (cf.cseq_offset < 0)
			cf.cseq_offset = layouts[ami_watchers_layout(aw)].offset;
	}
	if (Pflag == NULL) {
		ami_msg_adds(&m, "Proxy", "unset");
		rc = 1;
	} else if ((ai = resolve(Pflag, "5060", 0, why, sizeof(why))) == NULL) {
		ami_msg_adds(&m, "Proxy", Pflag);
		ami_msg_adds(&m, "Resolved", "no");
		ami_msg_adds(&m, "Error", why);
		rc = 1;
	} else {
		getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof(h), p,
		    sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(addr, sizeof(addr), strchr(h, ':') ? "[%s]:%s" : "%s:%s",
		    h, p);
		ami_msg_adds(&m, "Proxy", Pflag);
		ami_msg_adds(&m, "Resolved", addr);
		freeaddrinfo(ai);
	}
	ami_msg_adds(&m, "Bind", bflag ? bflag : "any");
	ami_msg_adds(&m, "DBGroup", dflag);
	ami_msg_adds(&m, "UserAgent", cf.user_agent);
	ami_msg_adds(&m, "ContactUser", cf.contact_user);
	ami_msg_adds(&m, "Vmexten", *cf.vmexten ? cf.vmexten : "-");
	ami_msg_adds(&m, "Domain", *cf.domain ? cf.domain : "-");
	ami_msg_adds(&m, "Map", aflag ? aflag : "-");
	snprintf(off, sizeof(off), "%d", cf.cseq_offset);
	ami_msg_adds(&m, "CSeqOffset", cf.cseq_offset < 0 ? "layout" : off);
	put_stdout(&m);
	ami_msg_free(&m);
	return rc;
}

/* notify user domain new old: the one message of the arguments */
static void
notify_one(const char *user, const char *domain, const char *new,
    const char *old)
{
	char mailbox[512];
	int nw, no;

	nw = ami_argnum("new", new, 0, INT_MAX);
	no = ami_argnum("old", old, 0, INT_MAX);
	if (strpbrk(user, "\r\n") || strpbrk(domain, "\r\n"))
		errx(2, "user or domain holds CR or LF");
	snprintf(mailbox, sizeof(mailbox), "%s@%s", user, domain);
	enqueue(mailbox, user, domain, nw, no);
	run(0);
	if (sent == 0 && status == 0) {
		warnx("no active message-summary subscription of %s@%s", user,
		    domain);
		status = 1;
	}
}

int
main(int argc, char *argv[])
{
	struct stat st;
	int ch, rc;

	while ((ch = getopt(argc, argv, "a:b:c:D:d:F:hm:P:pVvW:w:")) != -1) {
		switch (ami_oldopt(ch, "FDma")) {
		case 'a':
			aflag = optarg;
			break;
		case 'b':
			bflag = optarg;
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
		case 'P':
			Pflag = optarg;
			break;
		case 'p':
			pflag = 1;
			break;
		case 'V':
			printf("mwinotify %s\n", AMI_VERSION);
			return 0;
		case 'v':
			vflag = 1;
			break;
		case 'W':
			Wflag = ami_argnum("-W", optarg, 0, 86400);
			break;
		case 'w':
			wflag = ami_argnum("-w", optarg, 1, 100000);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	configure();
	if (aflag != NULL)
		loadmap(aflag);
	db = ami_db_new(dflag, Dflag);
	if (fstat(1, &st) == 0 && !S_ISREG(st.st_mode))
		setvbuf(stdout, NULL, _IOLBF, 0);
	/* what MariaDB Connector/C's mysql_server_init does anyway (3.0 on):
	 * a socket a server closed is an error to retry, never a death */
	signal(SIGPIPE, SIG_IGN);

	if (argc == 3 && strcmp(argv[0], "show") == 0)
		rc = cmd_show(argv[1], argv[2]);
	else if (argc == 1 && strcmp(argv[0], "status") == 0)
		rc = cmd_status();
	else if (argc == 0 || (argc == 5 && strcmp(argv[0], "notify") == 0)) {
		opensock();
		ami_grace_init();
		if (argc > 0)
			notify_one(argv[1], argv[2], argv[3], argv[4]);
		else
			run(1);
		rc = status;
	} else
		usage();
	ami_watchers_close(aw);
	ami_db_free(db);
	if (fflush(stdout) == EOF || ferror(stdout))
		ami_stdout_failed(errno);
	return rc;
}
