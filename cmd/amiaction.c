/*
 * amiaction: AMI actions in, responses out.
 *
 * One action from argv, or a stream of them on stdin (one-line, wire blocks
 * or JSON; with -t, each input message becomes an action through a
 * template).  Each action gets an ActionID; up to a window of them are in
 * flight per server; responses and their event-list items are matched by
 * ActionID and printed as they complete.  Nothing that would inject or
 * mangle AMI headers reaches the wire.  Actions read while a server is down
 * wait in a bounded queue (a full queue stops reading stdin, it never
 * drops).  Actions go only to a server that is fully booted (after a
 * login Asterisk may not have loaded everything yet).  An action answered
 * with an error that says the server was not ready (shutting down, or,
 * before FullyBooted, a function or action not loaded yet) did not run:
 * it goes again, in its place, once the server is back and booted.  One
 * a dropped connection left unanswered may or may not have run: it goes
 * again only when running it twice is harmless (idempotent()); any other
 * is reported, by ActionID, as of unknown outcome, and fails the run.
 * With -E, an input message from a server that would make the very action
 * this pipeline last sent that server for the same key is that action's
 * echo, and is dropped: state copied between servers never loops, and a
 * genuine change, even within a second, passes.
 * A first SIGINT or SIGTERM ends the input: what was read is still sent
 * and answered, for AMI_GRACE_S at most; a second one stops at once.
 * Exit 0 all succeeded, 1 some Response: Error, 2 refused input, an
 * action the user may not run (Permission denied), an outcome unknown,
 * connection or system error; 2 wins over 1.
 */
#include <err.h>
#include <errno.h>
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

#define MAXSERVERS 32
#define QUEUE_MAX  4096     /* actions waiting per server before stdin pauses */
#define ID_PREFIX  "amiaction-"

static int jflag, rflag, xflag;
static int wflag = 128;
static int Wflag = -1;
static const char *cflag, *Eflag, *tflag;

/* a queued action costs its wire bytes, not a parsed message */
struct job {
	char    *userid;        /* the ActionID the user gave, shown back */
	char    *action;        /* its name, for diagnostics */
	unsigned long line;
	int      refs;          /* servers that still owe an answer */
	int      command;
	int      retry;         /* answered "not ready": did not run */
	size_t   idlen, wirelen;
	char     id[32];
	char     wire[];        /* ActionID included, ready to send */
};

struct slot {
	struct job *j;
	int listing;            /* response said EventList: start */
	struct ami_buf list;    /* the response and items so far, printed whole */
};

struct deque {
	struct slot *v;
	size_t head, len, cap;
};

struct server {
	struct ami_server srv;
	struct ami_conn c;
	struct deque queue, inflight;
};

static struct server servers[MAXSERVERS];
static int nservers;
static struct ami_outq *outq;
static struct ami_buf stage;
static unsigned long seq;
static int status;
static volatile sig_atomic_t stop;

/* -E: per server and key, the actions sent whose echo is still due */
struct echo {
	char    *name;          /* "server:key" */
	struct ami_due *due;
};
static struct ami_tab echoes;
static struct ami_tmpl *echokey;

static struct tfield {
	struct ami_tmpl *k, *v;
} *tfields;
static size_t ntfields;

static void
usage(void)
{
	fprintf(stderr, "usage: amiaction [-jrx] [-c config] [-E key] [-H server]... "
	    "[-t template]\n\t[-W seconds] [-w window] [action [key=value ...]]\n");
	exit(2);
}

static void
push(struct deque *d, struct slot s, int front)
{
	if (d->len == d->cap) {
		struct slot *v;
		size_t cap = d->cap ? d->cap * 2 : 64, i;
		v = ami_xreallocarray(NULL, cap, sizeof(*v));
		for (i = 0; i < d->len; i++)
			v[i] = d->v[(d->head + i) % d->cap];
		free(d->v);
		d->v = v;
		d->head = 0;
		d->cap = cap;
	}
	if (front) {
		d->head = (d->head + d->cap - 1) % d->cap;
		d->v[d->head] = s;
	} else
		d->v[(d->head + d->len) % d->cap] = s;
	d->len++;
}

static struct slot *
at(struct deque *d, size_t i)
{
	return &d->v[(d->head + i) % d->cap];
}

static struct slot
take(struct deque *d, size_t i)
{
	struct slot s = *at(d, i);

	/* answers come mostly in order: close the gap from the nearer end */
	if (i < d->len / 2) {
		for (; i > 0; i--)
			*at(d, i) = *at(d, i - 1);
		d->head = (d->head + 1) % d->cap;
	} else
		for (; i + 1 < d->len; i++)
			*at(d, i) = *at(d, i + 1);
	d->len--;
	return s;
}

static void
release(struct job *j)
{
	if (--j->refs > 0)
		return;
	free(j->userid);
	free(j->action);
	free(j);
}

/* one answer, as the user asked to see it, appended to out */
static void
encode(struct ami_buf *out, struct ami_msg *m, struct server *s, struct job *j)
{
	int i;

	if ((i = ami_msg_find(m, "ActionID", 0)) >= 0) {
		if (j->userid != NULL)
			ami_msg_set(m, i, j->userid, strlen(j->userid));
		else
			ami_msg_del(m, i);
	}
	if (nservers > 1)
		ami_msg_ref(m, "Server", 6, s->srv.name, strlen(s->srv.name));
	if (j->command && !jflag && !rflag && ami_msg_get(m, "Event", NULL) == NULL &&
	    !ami_msg_is(m, "Response", "Error")) {
		/* Command output as the CLI would show it */
		for (i = ami_msg_find(m, "Output", 0); i >= 0;
		    i = ami_msg_find(m, "Output", i + 1)) {
			ami_buf_add(out, m->f[i].v, m->f[i].vl);
			ami_buf_addc(out, '\n');
		}
	} else if (jflag)
		ami_json_put(out, m);
	else if (rflag)
		ami_wire_put(out, m);
	else
		ami_text_put(out, m);
}

static void
print(const struct ami_buf *b)
{
	if (b->len > 0 && ami_outq_put(outq, b->p, b->len) < 0)
		stop = 1;
}

/*
 * Actions that do the same when run twice (or, UserEvent, whose repeat
 * harms no one): sent again when a drop left them unanswered
 */
static int
idempotent(const char *a)
{
	static const char names[] = "Setvar,Getvar,DBPut,DBGet,"
	    "DBGetTree,DBDel,DBDelTree,UserEvent,Ping,Events,"
	    "CoreStatus,CoreSettings,CoreShowChannels,Status,"
	    "ExtensionState,ExtensionStateList,DeviceStateList,"
	    "PresenceState,PresenceStateList,MailboxCount,"
	    "MailboxStatus,MWIGet,MWIUpdate,VoicemailRefresh,"
	    "VoicemailUsersList,VoicemailUserStatus,ListCommands,"
	    "SIPpeers,SIPshowpeer,SIPshowregistry";

	return strncasecmp(a, "PJSIPShow", 9) == 0 ||
	    ami_listhas(names, a, strlen(a));
}

/* the manager.conf write= classes that allow an action (any one of them),
 * as Asterisk's modules register them, for a denial's message */
static const char *
write_classes(const char *a)
{
	static const struct {
		const char *action, *classes;
	} t[] = {
		{ "Setvar", "call" }, { "Getvar", "call or reporting" },
		{ "DBPut", "system" }, { "DBDel", "system" },
		{ "DBDelTree", "system" }, { "DBGet", "system or reporting" },
		{ "DBGetTree", "system or reporting" }, { "UserEvent", "user" },
		{ "Command", "command" }, { "Originate", "originate" },
		{ "Hangup", "system or call" }, { "Redirect", "call" },
		{ "Filter", "system" }, { "MWIUpdate", "call" },
		{ "MWIDelete", "call" }, { "VoicemailRefresh", "user" },
		{ "CoreStatus", "system or reporting" },
		{ "CoreSettings", "system or reporting" },
		{ "Status", "system, call or reporting" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(a, t[i].action) == 0)
			return t[i].classes;
	if (strncasecmp(a, "PJSIPShow", 9) == 0)
		return "system";
	return "call or reporting";     /* the state and list actions */
}

/*
 * An error that says the server was not ready, so the action did not run:
 * shutting down (14), or before FullyBooted a function or an action whose
 * module has not loaded yet (15)
 */
static int
not_ready(struct ami_conn *c, struct ami_msg *m)
{
	const char *v;
	size_t n;

	if (ami_msg_is(m, "Message", "Asterisk is shutting down"))
		return 1;
	if (c->booted)
		return 0;
	v = ami_msg_get(m, "Message", &n);
	return ami_msg_is(m, "Message", "Variable not set") ||
	    (v != NULL && n >= 23 && memcmp(v, "Invalid/unknown command", 23) == 0);
}

/* the actions "not ready" bounced go first again, in their order */
static void
retry_bounced(struct server *s)
{
	size_t i = s->inflight.len;

	while (i-- > 0)
		if (at(&s->inflight, i)->j->retry) {
			struct slot sl = take(&s->inflight, i);
			sl.j->retry = 0;
			push(&s->queue, sl, 1);
		}
}

/* "line N: Action NAME ActionID ID" for a diagnostic */
static const char *
jobname(const struct job *j, char *buf, size_t len)
{
	char where[32] = "";

	if (j->line > 0)
		snprintf(where, sizeof(where), "line %lu: ", j->line);
	snprintf(buf, len, "%sAction %s ActionID %s", where, j->action,
	    j->userid ? j->userid : j->id);
	return buf;
}

static void
denied(struct server *s, struct job *j)
{
	char name[200];

	warnx("%s: %s: permission denied: user %s needs write class %s",
	    s->srv.name, jobname(j, name, sizeof(name)), s->srv.user,
	    write_classes(j->action));
	status = 2;
}

static void
onmsg(void *arg, struct ami_conn *c, struct ami_msg *m)
{
	struct server *s = arg;
	struct slot *sl;
	const char *id, *lost;
	size_t idl, i;
	int isevent;

	if (m == NULL) {
		if (c->booted)
			retry_bounced(s);
		return;
	}
	lost = ami_msg_get(m, "AmitoolsError", NULL);
	if ((id = ami_msg_get(m, "ActionID", &idl)) == NULL ||
	    idl <= strlen(ID_PREFIX) || memcmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0) {
		if (lost != NULL)
			warnx("%s: %s", s->srv.name, lost);
		return;     /* not ours: Events are off, so a stray */
	}
	for (i = 0; i < s->inflight.len; i++)
		if (at(&s->inflight, i)->j->idlen == idl &&
		    memcmp(at(&s->inflight, i)->j->id, id, idl) == 0)
			break;
	if (i == s->inflight.len)
		return;
	sl = at(&s->inflight, i);
	if (lost != NULL) {
		/* delivered and answered: sending it again would act twice */
		if (sl->j->line > 0)
			warnx("%s: line %lu: Action %s answered, but the answer "
			    "was lost: %s", s->srv.name, sl->j->line,
			    sl->j->action, lost);
		else
			warnx("%s: Action %s answered, but the answer was lost: "
			    "%s", s->srv.name, sl->j->action, lost);
		status = 2;
		ami_buf_free(&sl->list);
		release(take(&s->inflight, i).j);
		return;
	}
	isevent = ami_msg_get(m, "Event", NULL) != NULL;
	if (!isevent && ami_msg_is(m, "Response", "Error")) {
		if (not_ready(c, m)) {
			/* in place until the drop or FullyBooted sends it again */
			sl->j->retry = 1;
			return;
		}
		if (ami_msg_is(m, "Message", "Permission denied"))
			denied(s, sl->j);
		else if (status == 0)
			status = 1;
	}
	if (!isevent && ami_msg_is(m, "EventList", "start"))
		sl->listing = 1;
	if (sl->listing) {
		/* whole or not at all: several servers' lists never interleave,
		 * and one cut by a drop is asked for again, not printed twice */
		encode(&sl->list, m, s, sl->j);
		if (!(isevent && ami_msg_is(m, "EventList", "Complete")))
			return;
		print(&sl->list);
		ami_buf_free(&sl->list);
	} else {
		stage.len = 0;
		encode(&stage, m, s, sl->j);
		print(&stage);
	}
	release(take(&s->inflight, i).j);
}

/* an input message not taken: said, exit 2; 1 */
static int
refuse(unsigned long line, const char *why)
{
	if (line > 0)
		warnx("line %lu: %s", line, why);
	else
		warnx("%s", why);
	status = 2;
	return 1;
}

/* with -t, the action built from input message in */
static void
expand(const struct ami_msg *in, struct ami_msg *out)
{
	struct ami_buf k = { 0 }, v = { 0 };
	size_t i;

	for (i = 0; i < ntfields; i++) {
		k.len = v.len = 0;
		ami_tmpl_expand(tfields[i].k, in, &k, NULL);
		ami_tmpl_expand(tfields[i].v, in, &v, NULL);
		ami_msg_add(out, k.p ? k.p : "", k.len, v.p ? v.p : "", v.len);
	}
	ami_buf_free(&k);
	ami_buf_free(&v);
}

static void
compile_template(const char *t)
{
	struct ami_msg m = { 0 };
	char *copy, why[160], *kz, *vz;
	size_t i;

	copy = ami_xstrdup(t);
	if (ami_text_decode(copy, strlen(copy), &m, why, sizeof(why)) < 0)
		errx(2, "-t: %s", why);
	tfields = ami_xcalloc(m.n, sizeof(*tfields));
	for (i = 0; i < m.n; i++) {
		kz = ami_xstrndup(m.f[i].k, m.f[i].kl);
		vz = ami_xstrndup(m.f[i].v, m.f[i].vl);
		if ((tfields[i].k = ami_tmpl_new(kz, why, sizeof(why))) == NULL ||
		    (tfields[i].v = ami_tmpl_new(vz, why, sizeof(why))) == NULL)
			errx(2, "-t: %s", why);
		free(kz);
		free(vz);
	}
	ntfields = m.n;
	ami_msg_free(&m);
	free(copy);
}

/* the echoes due of key from server; made when create, else NULL if none */
static struct echo *
echo_get(int server, const char *key, int create)
{
	static struct ami_buf name;
	struct echo *e;
	char n[16];

	name.len = 0;
	snprintf(n, sizeof(n), "%d:", server);
	ami_buf_adds(&name, n);
	ami_buf_adds(&name, key);
	if ((e = ami_tab_get(&echoes, name.p, name.len)) != NULL || !create)
		return e;
	e = ami_xcalloc(1, sizeof(*e));
	e->name = ami_xstrndup(name.p, name.len);
	ami_tab_put(&echoes, e);
	return e;
}

/* a C string of buffer b, for the echo table */
static const char *
cstr(struct ami_buf *b)
{
	ami_buf_addc(b, '\0');
	return b->p;
}

/* the action input message in asks for, into act: built by the -t
 * template, else in itself, less the Server field that routes it */
static void
action_of(const struct ami_msg *in, struct ami_msg *act)
{
	int i;

	if (tflag != NULL)
		expand(in, act);
	else {
		ami_msg_copy(act, in);
		if ((i = ami_msg_find(act, "Server", 0)) >= 0)
			ami_msg_del(act, i);
	}
}

/* an action that may not be sent: said, 1 */
static int
refused(const struct ami_msg *act, unsigned long line)
{
	const char *v;
	size_t vl;

	if ((v = ami_msg_get(act, "Action", &vl)) == NULL || vl == 0)
		return refuse(line, "no Action field; refused");
	/* the login is the config's; one from input would bring a secret */
	if (ami_keyeq(v, vl, "Login") || ami_keyeq(v, vl, "Challenge"))
		return refuse(line, "Login is made from the config only; refused");
	return 0;
}

/* the user's ActionID, taken out of act with any second one: it is shown
 * back with the answers, ours goes on the wire; NULL when none */
static char *
take_userid(struct ami_msg *act)
{
	char *userid = NULL;
	int i;

	if ((i = ami_msg_find(act, "ActionID", 0)) >= 0)
		userid = ami_xstrndup(act->f[i].v, act->f[i].vl);
	while ((i = ami_msg_find(act, "ActionID", 0)) >= 0)
		ami_msg_del(act, i);
	return userid;
}

/* our ActionID, second, where Asterisk's own clients put it */
static void
put_id(struct ami_msg *act, const char *id)
{
	struct ami_field idf;

	ami_msg_ref(act, "ActionID", 8, id, strlen(id));
	idf = act->f[act->n - 1];
	memmove(&act->f[2], &act->f[1], (act->n - 2) * sizeof(idf));
	act->f[1] = idf;
}

/* the server in came from (its Server field), or -1 */
static int
origin_of(const struct ami_msg *in)
{
	const char *route;
	size_t routel;
	int i, origin = -1;

	route = ami_msg_get(in, "Server", &routel);
	for (i = 0; route != NULL && i < nservers; i++)
		if (ami_keyeq(route, routel, servers[i].srv.name))
			origin = i;
	return origin;
}

/* the servers the action of in goes to, into t, and their count: with -x
 * everyone but the origin, else the one in names, or all.  A name no
 * server has is refused */
static int
targets_of(const struct ami_msg *in, int origin, int *t, unsigned long line)
{
	const char *route;
	char why[200], vis[100];
	size_t routel;
	int i, n = 0;

	route = ami_msg_get(in, "Server", &routel);
	for (i = 0; i < nservers; i++)
		if (xflag ? i != origin :
		    route == NULL || i == origin || nservers == 1)
			t[n++] = i;
	if (n == 0 && !xflag) {
		snprintf(why, sizeof(why), "no server named %s; refused",
		    ami_visible(vis, sizeof(vis), route, routel));
		refuse(line, why);
	}
	return n;
}

/* a job of act, which passed the checks, owed by refs servers */
static struct job *
job_new(const struct ami_msg *act, const char *id, char *userid,
    unsigned long line, int refs)
{
	struct ami_buf wire = { 0 };
	struct job *j;
	const char *v;
	size_t vl;

	ami_wire_put(&wire, act);
	j = ami_xcalloc(1, sizeof(*j) + wire.len);
	v = ami_msg_get(act, "Action", &vl);
	j->action = ami_xstrndup(v, vl);
	memcpy(j->wire, wire.p, wire.len);
	j->wirelen = wire.len;
	strlcpy(j->id, id, sizeof(j->id));
	j->idlen = strlen(id);
	j->userid = userid;
	j->line = line;
	j->command = ami_keyeq(v, vl, "Command");
	j->refs = refs;
	ami_buf_free(&wire);
	return j;
}

/* queue one action for the servers its Server field names (0: the
 * input goes on) */
static int
submit(struct ami_msg *in, unsigned long line, void *arg)
{
	struct ami_msg act = { 0 };
	struct ami_buf key = { 0 }, text = { 0 };
	struct echo *e;
	struct job *j;
	char why[200], id[32], *userid = NULL;
	int i, origin = origin_of(in), targets[MAXSERVERS], ntargets;

	(void)arg;
	action_of(in, &act);
	if (refused(&act, line))
		goto out;
	userid = take_userid(&act);
	if (echokey != NULL) {
		/* -E: the key and the action in one line, as echoes are known */
		ami_tmpl_expand(echokey, in, &key, NULL);
		ami_text_put(&text, &act);
		cstr(&key);
		cstr(&text);
		if (origin >= 0 && key.len > 1 &&
		    (e = echo_get(origin, key.p, 0)) != NULL &&
		    ami_due_echo(&e->due, text.p, ami_now_ms()))
			goto out;
	}
	/* checked with our ActionID, so what goes out is what was checked */
	snprintf(id, sizeof(id), ID_PREFIX "%lu", ++seq);
	put_id(&act, id);
	if (ami_wire_check(&act, why, sizeof(why)) < 0) {
		refuse(line, why);
		goto out;
	}
	if ((ntargets = targets_of(in, origin, targets, line)) == 0)
		goto out;
	j = job_new(&act, id, userid, line, ntargets);
	userid = NULL;
	for (i = 0; i < ntargets; i++) {
		push(&servers[targets[i]].queue, (struct slot){ .j = j }, 0);
		if (echokey != NULL && key.len > 1)
			ami_due_add(&echo_get(targets[i], key.p, 1)->due, text.p,
			    ami_now_ms());
	}
out:
	free(userid);
	ami_buf_free(&key);
	ami_buf_free(&text);
	ami_msg_free(&act);
	return 0;
}

static void
pump(struct server *s)
{
	struct slot sl;

	if (s->c.state != AMI_UP || !s->c.booted)
		return;
	while (s->inflight.len < (size_t)wflag && s->queue.len > 0) {
		sl = take(&s->queue, 0);
		ami_conn_send(&s->c, sl.j->wire, sl.j->wirelen);
		push(&s->inflight, sl, 0);
	}
}

/*
 * A dropped connection: the actions it bounced or left unanswered go
 * first in line again, in their order, but one left unanswered that may
 * have run already only when running it twice is harmless
 */
static void
requeue(struct server *s)
{
	while (s->inflight.len > 0) {
		struct slot sl = take(&s->inflight, s->inflight.len - 1);
		sl.listing = 0;
		ami_buf_free(&sl.list);
		if (!sl.j->retry && !idempotent(sl.j->action)) {
			char name[200];

			warnx("%s: %s: outcome unknown (the connection dropped "
			    "before its answer); not sent again", s->srv.name,
			    jobname(sl.j, name, sizeof(name)));
			status = 2;
			release(sl.j);
			continue;
		}
		sl.j->retry = 0;
		push(&s->queue, sl, 1);
	}
}

static void
giveup(struct server *s)
{
	struct slot sl;

	requeue(s);
	while (s->queue.len > 0) {
		sl = take(&s->queue, 0);
		if (sl.j->line > 0)
			warnx("%s: line %lu: Action %s not delivered: %s",
			    s->srv.name, sl.j->line, sl.j->action, s->c.err);
		else
			warnx("%s: Action %s not delivered: %s", s->srv.name,
			    sl.j->action, s->c.err);
		release(sl.j);
	}
	status = 2;
}

static int
busy(void)
{
	int i;

	for (i = 0; i < nservers; i++)
		if (servers[i].queue.len > 0 || servers[i].inflight.len > 0)
			return 1;
	return 0;
}

static int
full(void)
{
	int i;

	for (i = 0; i < nservers; i++)
		if (servers[i].queue.len >= QUEUE_MAX)
			return 1;
	return 0;
}

/* where a run stands */
struct run {
	struct ami_drive in;
	int      eof;           /* the input ended, or a signal ended it */
	int      termed;        /* a signal did */
	int64_t  giveupat;      /* ms: once eof, what still waits is given up */
};

/* a first signal ends the input: what was read has AMI_GRACE_S (or what
 * is left of -W, if less).  1 when it began now */
static int
grace(struct run *r, int64_t now)
{
	int64_t graceend;

	if (!ami_grace_begins(now, &graceend))
		return 0;
	r->termed = r->eof = 1;
	if (r->giveupat < 0 || r->giveupat > graceend)
		r->giveupat = graceend;
	return 1;
}

/* what the next poll waits for: each server, the output's failure, and
 * stdin while it may be read; into pfd, their count, the timeout in *ms */
static int
wants(struct pollfd *pfd, const struct run *r, int64_t now, int *ms)
{
	int64_t left;
	int i;

	*ms = -1;
	for (i = 0; i < nservers; i++)
		pfd[i].fd = ami_conn_pollfd(&servers[i].c, &pfd[i].events, now,
		    ms);
	pfd[i].fd = ami_outq_fd(outq);
	pfd[i++].events = POLLIN;
	pfd[i].fd = r->eof || full() ? -1 : 0;
	pfd[i++].events = POLLIN;
	if (r->eof && busy()) {
		left = r->giveupat > now ? r->giveupat - now : 0;
		if (*ms < 0 || left < *ms)
			*ms = left;
	}
	return i;
}

/* each connection after the poll: one that went down puts back what it
 * owes for the reconnect; credentials refused end the run, exit 2 */
static void
step(const struct pollfd *pfd, int64_t now)
{
	struct server *s;
	int i;

	for (i = 0; i < nservers; i++) {
		s = &servers[i];
		if (ami_conn_step(&s->c, pfd[i].fd == -1 ? 0 : pfd[i].revents,
		    now, onmsg, s) == 0)
			continue;
		if (s->c.authfail)
			errx(2, "%s", s->c.err);
		if (s->inflight.len + s->queue.len > 0)
			warnx("%s; %zu actions wait for the reconnect",
			    s->c.err, s->inflight.len + s->queue.len);
		requeue(s);
	}
}

/* give up what still waits on each server: why it was not delivered is
 * why, or (unless force) what the connection said when it is down */
static void
giveup_all(const char *why, int force)
{
	struct server *s;
	int i;

	for (i = 0; i < nservers; i++) {
		s = &servers[i];
		if (s->queue.len + s->inflight.len == 0)
			continue;
		/* up but silent is as undelivered as down */
		if (force || s->c.state == AMI_UP || !s->c.err[0])
			strlcpy(s->c.err, why, sizeof(s->c.err));
		giveup(s);
	}
}

/* the input ended -W ago, or a signal AMI_GRACE_S ago */
static void
late(const struct run *r)
{
	char why[64];

	if (r->termed)
		snprintf(why, sizeof(why), "no answer within %d s of the signal",
		    AMI_GRACE_S);
	else
		snprintf(why, sizeof(why), "no answer within %d s (-W)", Wflag);
	giveup_all(why, r->termed);
}

/* the stream (readstdin) or the action of the arguments, till each is
 * answered or given up */
static void
run(int readstdin)
{
	struct pollfd pfd[MAXSERVERS + 2];
	struct run r = { .eof = !readstdin, .giveupat = -1 };
	int64_t now;
	int i, timeout, n;

	ami_drive_init(&r.in, 0, NULL, AMI_LINE_MAX * AMI_HEADERS_MAX, submit,
	    NULL);
	if (r.eof)
		r.giveupat = ami_now_ms() + Wflag * 1000LL;
	while (!stop && ami_grace_signals() < 2 && (!r.eof || busy())) {
		now = ami_now_ms();
		/* the loop's test ran before the signal: nothing waits, and a
		 * ppoll now would sleep till the keepalive */
		if (grace(&r, now) && !busy())
			break;
		for (i = 0; i < nservers; i++)
			pump(&servers[i]);
		n = wants(pfd, &r, now, &timeout);
		if (ami_outq_flush(outq) < 0)
			break;
		/* signals are let in only here, so none is missed before it */
		if (ami_grace_poll(pfd, n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			err(2, "ppoll");
		}
		if (ami_outq_error(outq))
			break;
		now = ami_now_ms();
		step(pfd, now);
		if (pfd[n - 1].fd == 0 && pfd[n - 1].revents &&
		    ami_drive_step(&r.in) == 0) {
			r.eof = 1;
			r.giveupat = now + Wflag * 1000LL;
		}
		if (r.eof && now >= r.giveupat)
			late(&r);
	}
	if ((stop || ami_grace_signals() > 1) && busy())
		giveup_all("interrupted", 1);
	if (r.in.bad)
		status = 2;     /* each said as it came */
	ami_drive_free(&r.in);
}

int
main(int argc, char *argv[])
{
	struct ami_msg one = { 0 };
	const char *hosts[MAXSERVERS], *eq;
	char errbuf[256];
	int ch, i;

	while ((ch = getopt(argc, argv, "c:E:H:hjrt:VW:w:x")) != -1) {
		switch (ch) {
		case 'c':
			cflag = optarg;
			break;
		case 'E':
			Eflag = optarg;
			break;
		case 'H':
			if (nservers == MAXSERVERS)
				errx(2, "at most %d servers", MAXSERVERS);
			hosts[nservers++] = optarg;
			break;
		case 'j':
			jflag = 1;
			break;
		case 'r':
			rflag = 1;
			break;
		case 't':
			tflag = optarg;
			break;
		case 'V':
			printf("amiaction %s\n", AMI_VERSION);
			return 0;
		case 'W':
			Wflag = ami_argnum("-W", optarg, 0, 86400);
			break;
		case 'w':
			wflag = ami_argnum("-w", optarg, 1, 100000);
			break;
		case 'x':
			xflag = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (jflag && rflag)
		usage();
	if (tflag != NULL && argc > 0)
		usage();
	if (tflag != NULL)
		compile_template(tflag);
	if (Eflag != NULL && (echokey = ami_tmpl_new(Eflag, errbuf,
	    sizeof(errbuf))) == NULL)
		errx(2, "-E: %s", errbuf);
	if (nservers == 0)
		hosts[nservers++] = NULL;
	for (i = 0; i < nservers; i++) {
		if (ami_conf_server(&servers[i].srv, hosts[i], cflag, errbuf,
		    sizeof(errbuf)) < 0)
			errx(2, "%s", errbuf);
		strlcpy(servers[i].srv.events, "off", sizeof(servers[i].srv.events));
		ami_conn_init(&servers[i].c, &servers[i].srv);
	}
	if (Wflag < 0)
		Wflag = argc > 0 ? 5 : 30;
	ami_grace_init();
	if ((outq = ami_outq_new(1, 16u << 20, 1)) == NULL)
		err(2, "output queue");
	if (argc > 0) {
		ami_msg_adds(&one, "Action", argv[0]);
		for (i = 1; i < argc; i++) {
			if ((eq = strchr(argv[i], '=')) == NULL || eq == argv[i])
				errx(2, "%s: expected key=value", argv[i]);
			if (ami_keyeq(argv[i], eq - argv[i], "Secret"))
				errx(2, "Secret: every user sees the command line; "
				    "the secret belongs in the config");
			ami_msg_add(&one, argv[i], eq - argv[i], eq + 1, strlen(eq + 1));
		}
		submit(&one, 0, NULL);
		ami_msg_free(&one);
	}
	run(argc == 0);
	for (i = 0; i < nservers; i++) {
		ami_conn_logoff(&servers[i].c);
		ami_conn_free(&servers[i].c);
	}
	ami_outq_done(outq);
	ami_buf_free(&stage);
	return status;
}
