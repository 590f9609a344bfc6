/*
 * statemerge: device and presence state across Asterisk servers, merged
 * from a table, never "last message wins".
 *
 * Reads messages tagged Server= (amicat with several -H, or the MQTT
 * bridge) and writes the Setvar actions, tagged Server= for amiaction,
 * that bring each server's mirrors to what they should be:
 *
 * - devices: a table of (device, server) -> state, fed by
 *   DeviceStateChange (live, or a DeviceStateList item).  The mirror of
 *   device D on server Y, Custom:D with '/' made '-', is what Asterisk
 *   would show for a hint joining D's state on every server but Y
 *   (ami_devagg: a server where D is not at home never overrides one
 *   where it is).  A Setvar goes to Y only when that value changes, or
 *   after Y said FullyBooted (a restarted server gets every mirror again,
 *   whatever Asterisk kept of its Custom: states), or when Y is first
 *   heard of (its agent may come up after the others said everything).
 *   Custom: and MWI: devices are never merged: nothing loops.
 * - a server's states are marked at its FullyBooted and those its next
 *   DeviceStateListComplete did not name are dropped; at its Shutdown
 *   (or the bridge's AmitoolsGone) all are: it says nothing until it is
 *   back.
 * - presence: one value per CustomPresence: presentity, copied to every
 *   server; a server's own echo of a value set on it is dropped by value
 *   (with -H, also the echo of a value another agent sets on its own
 *   server: on a bus, a late echo taken for news would flip values back
 *   and forth between the agents for ever).
 *   A server between its FullyBooted and its PresenceStateListComplete
 *   (one that restarted) does not override what the others hold with a
 *   value its list gives (an item keeps amicat's ActionID): it is given
 *   their value.  Only when no server held one does its list win.  A
 *   live change it makes meanwhile is news.
 *
 * Output is one line per action, written whenever input pauses.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ami.h"

#define NAMES_MAX 50000     /* devices, and presentities, in the table */

static const char *targets[AMI_STAB_SERVERS];  /* -H: set only these */
static int ntargets;

static char servers[AMI_STAB_SERVERS][64];
static int nservers;
static uint32_t syncing;            /* presence lists still to come */
static uint32_t cursess[AMI_STAB_SERVERS];  /* the bridge's session, hashed */
static unsigned long curconn[AMI_STAB_SERVERS]; /* and its connection */
static uint32_t gone;               /* servers whose bridge is gone */
static struct ami_stab *devs, *pres;
static struct ami_buf out;
static unsigned long bad;

static void
usage(void)
{
	fprintf(stderr, "usage: statemerge [-H server]...\n");
	exit(2);
}

static void
say(const char *what, const char *v, size_t n)
{
	char vis[160];

	if (bad++ < 100)
		warnx("%s: %s; ignored", ami_visible(vis, sizeof(vis), v, n), what);
}

/* index of server name (learned the first time it is seen), or -1 */
static int
server(const struct ami_msg *m)
{
	const char *s;
	size_t n;
	int i;

	if ((s = ami_msg_get(m, "Server", &n)) == NULL || n == 0)
		return -1;
	for (i = 0; i < nservers; i++)
		if (strlen(servers[i]) == n && strncmp(servers[i], s, n) == 0)
			return i;
	if (n >= sizeof(servers[0]) || nservers == AMI_STAB_SERVERS) {
		say("server name too long, or too many servers", s, n);
		return -1;
	}
	memcpy(servers[nservers], s, n);
	servers[nservers][n] = '\0';
	return nservers++;
}

/* do we write actions for server y? */
static int
target(int y)
{
	int i;

	if (ntargets == 0)
		return 1;
	for (i = 0; i < ntargets; i++)
		if (strcmp(targets[i], servers[y]) == 0)
			return 1;
	return 0;
}

static void
setvar(int y, const char *var, const char *name, const char *val)
{
	struct ami_msg a = { 0 };
	char v[AMI_DEVICE_MAX + 64 + 300];

	snprintf(v, sizeof(v), "%s(%s)", var, name);
	ami_msg_adds(&a, "Action", "Setvar");
	ami_msg_adds(&a, "Variable", v);
	ami_msg_adds(&a, "Value", val);
	ami_msg_adds(&a, "Server", servers[y]);
	ami_text_put(&out, &a);
	ami_msg_free(&a);
}

/* the mirror of e on y; full: set it even when nobody else knows e */
static void
devout_one(struct ami_stent *e, int y, int full)
{
	struct ami_devagg a;
	char mirror[AMI_DEVICE_MAX + 8];
	const char *w;
	int x;

	ami_devagg_init(&a);
	for (x = 0; x < nservers; x++)
		if (x != y && e->val[x] != NULL && !(gone & (1u << x)) &&
		    e->sess[x] == cursess[x])
			ami_devagg_add(&a, ami_devstate_val(e->val[x],
			    strlen(e->val[x])));
	if (a.state == AMI_DS_INVALID && e->told[y] == NULL && !full)
		return;         /* its home server: nobody else knows it */
	w = ami_devstate_str(a.state == AMI_DS_INVALID ?
	    AMI_DS_UNAVAILABLE : a.state);
	if (e->told[y] != NULL && strcmp(e->told[y], w) == 0)
		return;
	ami_devstate_mirror(mirror, sizeof(mirror), e->key, strlen(e->key));
	setvar(y, "DEVICE_STATE", mirror, w);
	ami_stab_set(&e->told[y], w, strlen(w));
}

static void
devout(struct ami_stent *e)
{
	int y;

	for (y = 0; y < nservers; y++)
		if (target(y))
			devout_one(e, y, 0);
}

static void
device(const struct ami_msg *m, int x, uint32_t sess)
{
	struct ami_stent *e;
	char mirror[AMI_DEVICE_MAX + 8];
	const char *d, *s;
	size_t dl, sl;
	int st;

	if ((d = ami_msg_get(m, "Device", &dl)) == NULL ||
	    (s = ami_msg_get(m, "State", &sl)) == NULL)
		return;
	if ((dl >= 7 && strncasecmp(d, "Custom:", 7) == 0) ||
	    (dl >= 4 && strncasecmp(d, "MWI:", 4) == 0))
		return;         /* mirrors and mailboxes stay where they are */
	if (ami_devstate_mirror(mirror, sizeof(mirror), d, dl) < 0)
		return say("not a device name to mirror", d, dl);
	if ((st = ami_devstate_val(s, sl)) < 0)
		return say("not a device state", s, sl);
	if ((e = ami_stab_get(devs, d, dl, 1)) == NULL)
		return say("device table full", d, dl);
	e->stale &= ~(1u << x);
	if (e->val[x] != NULL && strcmp(e->val[x], ami_devstate_str(st)) == 0 &&
	    e->sess[x] == sess)
		return;
	e->sess[x] = sess;
	ami_stab_set(&e->val[x], ami_devstate_str(st), strlen(ami_devstate_str(st)));
	devout(e);
}

/* value of a presence event: Status,Subtype,Message as PRESENCE_STATE takes it */
static int
presval(const struct ami_msg *m, struct ami_buf *v)
{
	static const char *const keys[] = { "Status", "Subtype", "Message" };
	const char *s;
	size_t n, i;

	v->len = 0;
	for (i = 0; i < 3; i++) {
		if ((s = ami_msg_get(m, keys[i], &n)) == NULL)
			n = 0;
		if (i == 0 && n == 0)
			return -1;
		if (i > 0)
			ami_buf_addc(v, ',');
		ami_buf_add(v, s, n);
	}
	ami_buf_addc(v, '\0');
	return 0;
}

static void
presout(struct ami_stent *e, int y)
{
	if (e->cur == NULL || !target(y) ||
	    (e->told[y] != NULL && strcmp(e->told[y], e->cur) == 0))
		return;
	setvar(y, "PRESENCE_STATE", e->key, e->cur);
	ami_stab_set(&e->told[y], e->cur, strlen(e->cur));
	ami_due_add(&e->due[y], e->cur, ami_now_ms());
}

static void
presence(const struct ami_msg *m, int x)
{
	static struct ami_buf v;
	struct ami_stent *e;
	const char *p;
	size_t pl;
	int64_t now = ami_now_ms();
	int again, echo, y;

	if ((p = ami_msg_get(m, "Presentity", &pl)) == NULL)
		return;
	if (pl <= 15 || strncasecmp(p, "CustomPresence:", 15) != 0)
		return;         /* only CustomPresence: can be set */
	/* a NUL would cut the name: another presentity would be set */
	if (pl > AMI_DEVICE_MAX || memchr(p, '\0', pl) != NULL ||
	    presval(m, &v) < 0)
		return say("not a presentity and state to copy", p, pl);
	if ((e = ami_stab_get(pres, p, pl, 1)) == NULL)
		return say("presence table full", p, pl);
	echo = ami_due_echo(&e->due[x], v.p, now);
	again = e->told[x] != NULL && strcmp(e->told[x], v.p) == 0;
	ami_stab_set(&e->told[x], v.p, v.len - 1);      /* what x holds now */
	if (echo || again)
		return;         /* its echo, or said again (a bus republish) */
	if ((syncing & (1u << x)) && e->cur != NULL &&
	    ami_msg_get(m, "ActionID", NULL) != NULL) {
		presout(e, x);  /* listed as it restarted: the others' value wins */
		return;
	}
	if (e->cur != NULL && strcmp(e->cur, v.p) == 0)
		return;
	ami_stab_set(&e->cur, v.p, v.len - 1);
	for (y = 0; y < nservers; y++)
		if (target(y))
			presout(e, y);
		else if (y != x)        /* its own agent sets it: the echo comes */
			ami_due_add(&e->due[y], e->cur, now);
}

/* x is up (again): its states are to be listed anew, every mirror set */
static void
booted(int x)
{
	struct ami_stent *e;
	size_t i;

	for (i = 0; (e = ami_stab_each(devs, &i)) != NULL; ) {
		if (e->val[x] != NULL)
			e->stale |= 1u << x;
		ami_stab_set(&e->told[x], NULL, 0);
		if (target(x))
			devout_one(e, x, 1);
	}
	syncing |= 1u << x;
	for (i = 0; (e = ami_stab_each(pres, &i)) != NULL; ) {
		ami_stab_set(&e->told[x], NULL, 0);
		presout(e, x);
	}
}

/* y is new here: it gets every mirror the others' states make */
static void
joined(int y)
{
	struct ami_stent *e;
	size_t i;

	if (!target(y))
		return;
	for (i = 0; (e = ami_stab_each(devs, &i)) != NULL; )
		devout_one(e, y, 0);
	for (i = 0; (e = ami_stab_each(pres, &i)) != NULL; )
		presout(e, y);
}

/* what x said and did not say again (all when gone) says nothing now */
static void
sweep(int x, int all)
{
	struct ami_stent *e;
	size_t i;

	for (i = 0; (e = ami_stab_each(devs, &i)) != NULL; )
		if (e->val[x] != NULL && (all || (e->stale & (1u << x)))) {
			e->stale &= ~(1u << x);
			ami_stab_set(&e->val[x], NULL, 0);
			devout(e);
		}
}

/*
 * The MQTT bridge's session of server x, at its connection conn: a new
 * one makes the states of the old one stop counting, and those of the
 * new one count (in whichever order the broker handed them out).  In one
 * session only a later connection counts: the Will of a lost connection
 * that a restarted broker hands out after the next one's Up says nothing.
 */
static void
session(int x, uint32_t sess, unsigned long conn, int up)
{
	struct ami_stent *e;
	size_t i;
	int same = sess == cursess[x], isgone = (gone & (1u << x)) != 0;

	if (!up) {
		if (!same || isgone || conn < curconn[x])
			return;
		gone |= 1u << x;
		curconn[x] = conn;
	} else {
		if (same && (isgone ? conn <= curconn[x] : conn < curconn[x]))
			return;
		curconn[x] = conn;
		if (same && !isgone)
			return;
		cursess[x] = sess;
		gone &= ~(1u << x);
	}
	/* x's states stop counting, or count again */
	for (i = 0; (e = ami_stab_each(devs, &i)) != NULL; )
		if (e->val[x] != NULL)
			devout(e);
}

/* Conn= of a status message, 0 when none or not a number */
static unsigned long
conn(const struct ami_msg *m)
{
	const char *s;
	size_t i, n;
	unsigned long c = 0;

	if ((s = ami_msg_get(m, "Conn", &n)) == NULL || n == 0 || n > 9)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		c = c * 10 + (unsigned long)(s[i] - '0');
	}
	return c;
}

static int
handle(struct ami_msg *m, unsigned long line, void *arg)
{
	const char *s;
	size_t sl;
	uint32_t sess;
	int known = nservers, x;

	(void)line, (void)arg;
	if ((x = server(m)) < 0)
		return 0;
	if (x == known)
		joined(x);
	s = ami_msg_get(m, "Session", &sl);
	sess = s != NULL ? ami_hash(s, sl) : 0;
	if (ami_msg_is(m, "Event", "AmitoolsUp"))
		session(x, sess, conn(m), 1);
	else if (ami_msg_is(m, "Event", "AmitoolsGone"))
		session(x, sess, conn(m), 0);
	else if (ami_msg_is(m, "Event", "DeviceStateChange"))
		device(m, x, sess);
	else if (sess != cursess[x])
		return 0;       /* news of a bridge session that is over */
	else if (ami_msg_is(m, "Event", "PresenceStateChange"))
		presence(m, x);
	else if (ami_msg_is(m, "Event", "FullyBooted"))
		booted(x);
	else if (ami_msg_is(m, "Event", "DeviceStateListComplete"))
		sweep(x, 0);
	else if (ami_msg_is(m, "Event", "PresenceStateListComplete"))
		syncing &= ~(1u << x);
	else if (ami_msg_is(m, "Event", "Shutdown")) {
		sweep(x, 1);
		syncing &= ~(1u << x);
	}
	return 0;
}

static void
flushout(void *arg)
{
	(void)arg;
	if (ami_buf_flush(&out, 1) < 0)
		ami_stdout_failed(errno);
}

int
main(int argc, char *argv[])
{
	struct ami_drive in;
	int ch;

	while ((ch = getopt(argc, argv, "H:hV")) != -1) {
		switch (ch) {
		case 'H':
			if (ntargets == AMI_STAB_SERVERS)
				errx(2, "at most %d servers", AMI_STAB_SERVERS);
			targets[ntargets++] = optarg;
			break;
		case 'V':
			printf("statemerge %s\n", AMI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	signal(SIGPIPE, SIG_DFL);
	devs = ami_stab_new(NAMES_MAX);
	pres = ami_stab_new(NAMES_MAX);
	ami_drive_init(&in, 0, "stdin", 0, handle, NULL);
	in.pause = flushout;
	ami_drive_run(&in, NULL);
	ami_drive_free(&in);
	ami_stab_free(devs);
	ami_stab_free(pres);
	ami_buf_free(&out);
	return 0;
}
