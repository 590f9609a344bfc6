/*
 * amimqtt: AMI text lines to and from an MQTT broker, for one server.
 *
 * Reads messages on stdin (amicat -H server, one-line, wire or JSON) and
 * publishes each, as one line tagged Server= and Session=, QoS 1:
 *   DeviceStateChange    PREFIX/SERVER/device/DEVICE          retained
 *   PresenceStateChange  PREFIX/SERVER/presence/PRESENTITY    retained
 *   any other Event=E    PREFIX/SERVER/event/E
 * The retained topics are the table: whoever (re)subscribes gets every
 * server's states at once.  At each connect it publishes, retained,
 * PREFIX/SERVER/status "Event=AmitoolsUp", and its Last Will there is
 * "Event=AmitoolsGone": a dead agent's states stop counting.  Session=
 * (new for every run) tells this run's states from a dead one's, in
 * whatever order a broker hands retained messages out; Conn= (the
 * connection's number in the run, on status only) tells the Will of a
 * lost connection from the Up of the next, which a restarted broker may
 * hand out after it.  It also publishes again what it holds, for a broker
 * that lost it.
 *
 * Writes on stdout every message of PREFIX/+/{device,presence,event}/#
 * and PREFIX/+/status (its own too), one line each, when its payload is
 * one message whose Server= is the topic's server.  The broker and its
 * credentials come from the [mqtt] section of amitools.conf only.
 *
 * With -A it is instead the server's home-automation link: it publishes
 * plain payloads (-j: JSON objects) a home-automation system can use,
 *   DeviceStateChange    PREFIX/SERVER/ha/device/DEVICE      the State, retained
 *   PresenceStateChange  PREFIX/SERVER/ha/presence/NAME      the Status, retained
 *   an event of -e       PREFIX/SERVER/ha/event/E[/USEREVENT] JSON
 * and "online" on PREFIX/SERVER/ha/status, "offline" its Will; and it
 * writes on stdout, one line each, the actions it reads on
 * PREFIX/SERVER/ha/action (JSON object or one line) whose Action the
 * [mqtt] key actions names.  Anything else read there is said on stderr
 * and never reaches stdout: no payload with a line break, a NUL, more
 * than one Action or a value Asterisk would take for a header, and no
 * retained one (it would be taken again at every reconnect).
 *
 * Nothing from stdin is published until the broker has acknowledged the
 * subscriptions of the connection: a message sent before them would not
 * come back to this agent's own statemerge (and one that libmosquitto
 * queued while the broker was away would grow without bound).  While the
 * broker is away stdin waits: the writer before it (amicat) holds the
 * stream, within its own bound.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "ami.h"

#define TOPICS_MAX 50000    /* retained topics held for a republish */
#define PAYLOAD_MAX 4096

static const char *cflag, *eflag, *Hflag, *pflag;
static int Aflag, jflag;
static char host[256] = "127.0.0.1", port[16] = "1883", user[128], secret[256],
    tls[8] = "no", cafile[PATH_MAX], certfile[PATH_MAX], keyfile[PATH_MAX],
    keepalive[16] = "30", prefix[128] = "amitools", protocol[8] = "3.1.1",
    actions[1024];
static char session[40];
static unsigned long conn;          /* this run's connection: orders status */
static char upline[512];            /* this connection's status */
static struct mosquitto *mq;
static struct ami_stab *held;       /* retained topic -> payload (val[0]) */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t subscribed = PTHREAD_COND_INITIALIZER;
static int ready, submid;           /* under lock: subscriptions acked */
static struct ami_buf out;
static volatile sig_atomic_t stop;

static void
usage(void)
{
	fprintf(stderr, "usage: amimqtt [-AhjV] [-c config] [-e event,...] [-T prefix] "
	    "-H server\n");
	exit(2);
}

static void
readconf(void)
{
	struct ami_confkey keys[] = {
		{ "actions", actions, sizeof(actions) },
		{ "cafile", cafile, sizeof(cafile) },
		{ "certfile", certfile, sizeof(certfile) },
		{ "host", host, sizeof(host) },
		{ "keepalive", keepalive, sizeof(keepalive) },
		{ "keyfile", keyfile, sizeof(keyfile) },
		{ "port", port, sizeof(port) },
		{ "prefix", prefix, sizeof(prefix) },
		{ "protocol", protocol, sizeof(protocol) },
		{ "secret", secret, sizeof(secret) },
		{ "tls", tls, sizeof(tls) },
		{ "username", user, sizeof(user) },
	};
	char errbuf[256];

	if (ami_conf_section("mqtt", cflag, keys, sizeof(keys) / sizeof(keys[0]),
	    errbuf, sizeof(errbuf)) < 0)
		errx(2, "%s", errbuf);
	if (pflag != NULL && strlcpy(prefix, pflag, sizeof(prefix)) >= sizeof(prefix))
		errx(2, "-T %s: too long", pflag);
	if (strpbrk(prefix, "+#") != NULL || prefix[0] == '\0')
		errx(2, "[mqtt] prefix %s: not a topic prefix", prefix);
}

/* a topic level from a name: no wildcard, no NUL */
static int
level(const char *s, size_t n)
{
	return n > 0 && memchr(s, '+', n) == NULL && memchr(s, '#', n) == NULL &&
	    memchr(s, '\0', n) == NULL;
}

static void
publish(const char *topic, const char *payload, size_t n, int retain)
{
	int rc;

	rc = mosquitto_publish(mq, NULL, topic, n, payload, 1, retain);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
		warnx("publish %s: %s", topic, mosquitto_strerror(rc));
}

/* the status line EV of this connection, and its topic */
static void
statusline(char *t, size_t tcap, char *line, size_t cap, const char *ev)
{
	if (Aflag) {    /* what a home-automation system calls availability */
		snprintf(t, tcap, "%s/%s/ha/status", prefix, Hflag);
		strlcpy(line, strcmp(ev, "AmitoolsUp") == 0 ? "online" :
		    "offline", cap);
		return;
	}
	snprintf(t, tcap, "%s/%s/status", prefix, Hflag);
	snprintf(line, cap, "Event=%s Server=%s Session=%s Conn=%lu", ev,
	    Hflag, session, conn);
}

/* the Will of the next connection: a new Conn= */
static void
setwill(struct mosquitto *m)
{
	char t[256], will[512];
	int rc;

	statusline(t, sizeof(t), will, sizeof(will), "AmitoolsGone");
	if ((rc = mosquitto_will_set(m, t, strlen(will), will, 1, true)) != 0)
		errx(2, "will: %s", mosquitto_strerror(rc));
}

/*
 * libmosquitto's own errors (a certificate the CA does not vouch for, a
 * name it does not carry) and a socket's (ondisconnect) are said once
 * each until a connect works: it retries by itself, and a silent retry
 * loop would hide a wrong cafile or port for ever.
 */
static char lasterr[256];

static void
sayonce(const char *what)
{
	if (strncmp(lasterr, what, sizeof(lasterr) - 1) == 0)
		return;
	strlcpy(lasterr, what, sizeof(lasterr));
	warnx("broker %s:%s: %s", host, port, what);
}

static void
onlog(struct mosquitto *m, void *arg, int level, const char *str)
{
	(void)m;
	(void)arg;
	if (level & MOSQ_LOG_ERR)
		sayonce(str);
}

/* runs in the loop's thread before it reconnects: stdin waits again */
static void
ondisconnect(struct mosquitto *m, void *arg, int rc)
{
	(void)arg;
	/* a socket's error on the first connect (a broker not up, a port
	 * no broker is on): libmosquitto does not log it, and its later
	 * retries do not come here */
	if (rc == MOSQ_ERR_ERRNO)
		sayonce(mosquitto_strerror(rc));
	pthread_mutex_lock(&lock);
	ready = 0;
	conn++;
	setwill(m);
	pthread_mutex_unlock(&lock);
}

static void
onconnect(struct mosquitto *m, void *arg, int rc)
{
	/* status first: a broker hands out each filter's retained messages
	 * in turn, and a state counts only once its session's Up is known */
	static const char *const subs[] = { "status", "device/#",
	    "presence/#", "event/#" };
	enum { NSUBS = sizeof(subs) / sizeof(subs[0]) };
	char t[NSUBS][256], *tp[NSUBS];
	struct ami_stent *e;
	size_t i, nsubs = NSUBS;

	(void)arg;
	if (rc != 0) {
		sayonce(mosquitto_connack_string(rc));
		return;
	}
	lasterr[0] = '\0';
	for (i = 0; i < NSUBS; i++) {
		snprintf(t[i], sizeof(t[i]), "%s/+/%s", prefix, subs[i]);
		tp[i] = t[i];
	}
	if (Aflag) {    /* only its own server's actions */
		snprintf(t[0], sizeof(t[0]), "%s/%s/ha/action", prefix, Hflag);
		nsubs = 1;
	}
	pthread_mutex_lock(&lock);
	ready = 0;
	/* one SUBSCRIBE, sent before anything this connection publishes */
	mosquitto_subscribe_multiple(m, &submid, nsubs, tp, 1, 0, NULL);
	statusline(t[0], sizeof(t[0]), upline, sizeof(upline), "AmitoolsUp");
	publish(t[0], upline, strlen(upline), 1);
	for (i = 0; (e = ami_stab_each(held, &i)) != NULL; )
		publish(e->key, e->val[0], strlen(e->val[0]), 1);
	pthread_mutex_unlock(&lock);
}

/*
 * A retained topic of this server that does not say what this run holds
 * (a stale copy a broker or a bridge handed out after ours) is set again:
 * the agent owns its server's topics, so every copy converges to it.
 */
static void
repair(const struct mosquitto_message *msg)
{
	struct ami_stent *e;
	const char *want = NULL;
	char t[256], st[256];

	pthread_mutex_lock(&lock);
	statusline(st, sizeof(st), t, sizeof(t), "AmitoolsUp");
	if (strcmp(msg->topic, st) == 0)
		want = upline[0] != '\0' ? upline : NULL;
	else if ((e = ami_stab_get(held, msg->topic, strlen(msg->topic), 0)) != NULL)
		want = e->val[0];
	if (want != NULL && ((size_t)msg->payloadlen != strlen(want) ||
	    memcmp(msg->payload, want, msg->payloadlen) != 0))
		publish(msg->topic, want, strlen(want), 1);
	pthread_mutex_unlock(&lock);
}

static void
onsubscribe(struct mosquitto *m, void *arg, int mid, int n, const int *qos)
{
	int i;

	(void)m;
	(void)arg;
	for (i = 0; i < n; i++)
		if (qos[i] > 2)
			warnx("broker %s:%s refused a subscription: this agent "
			    "will not see what the bus says", host, port);
	pthread_mutex_lock(&lock);
	if (mid == submid) {
		ready = 1;
		pthread_cond_broadcast(&subscribed);
	}
	pthread_mutex_unlock(&lock);
}

/* wait (under lock) until the subscriptions stand, or a signal says stop */
static int
await_ready(void)
{
	struct timespec ts;

	while (!ready && !stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&subscribed, &lock, &ts);
	}
	return ready;
}

/* why the action payload p (n bytes) is refused, or NULL: it is in m */
static const char *
haparse(char *p, size_t n, struct ami_msg *m, char *why, size_t cap)
{
	const char *a;
	char nm[64];
	size_t al, skip = strspn(p, " \t");

	if (strlen(p) != n)
		return "a NUL in the payload";
	if (strpbrk(p, "\r\n") != NULL)
		return "a line break in the payload";
	if (p[skip] == '[' || p[skip] == '"')
		return "a JSON payload that is not an object";
	if ((p[skip] == '{' ? ami_json_decode(p + skip, n - skip, m, why, cap) :
	    ami_text_decode(p, n, m, why, cap)) < 0 ||
	    ami_wire_check(m, why, cap) < 0)
		return why;
	if ((a = ami_msg_get(m, "Action", &al)) == NULL || al == 0)
		return "no Action";
	if (ami_msg_find(m, "Action", ami_msg_find(m, "Action", 0) + 1) >= 0)
		return "more than one Action";
	if (!ami_listhas(actions, a, al)) {
		snprintf(why, cap, "Action %s is not in [mqtt] actions",
		    ami_visible(nm, sizeof(nm), a, al));
		return why;
	}
	return NULL;
}

/*
 * An action from PREFIX/SERVER/ha/action, in the loop's thread: written
 * on stdout for this server (amiaction), or refused on stderr.
 */
static void
haaction(const struct mosquitto_message *msg)
{
	struct ami_msg am = { 0 };
	char why[256], *copy;
	const char *no;
	int i;

	if (msg->payloadlen == 0)   /* a retained action cleared */
		return;
	if (msg->retain) {          /* handed out at a (re)subscribe */
		warnx("%s: a retained action, which would be taken again at "
		    "every reconnect; refused", msg->topic);
		return;
	}
	if (msg->payloadlen > PAYLOAD_MAX) {
		warnx("%s: a payload of %d bytes, over %d; refused", msg->topic,
		    msg->payloadlen, PAYLOAD_MAX);
		return;
	}
	copy = ami_xstrndup(msg->payload, msg->payloadlen);
	if ((no = haparse(copy, msg->payloadlen, &am, why, sizeof(why))) != NULL)
		warnx("%s: %s%s", msg->topic, no,   /* said once */
		    strstr(no, "refused") != NULL ? "" : "; refused");
	else {
		while ((i = ami_msg_find(&am, "Server", 0)) >= 0)
			ami_msg_del(&am, i);
		ami_msg_ref(&am, "Server", 6, Hflag, strlen(Hflag));
		ami_text_put(&out, &am);
		if (ami_buf_flush(&out, 1) < 0)
			ami_stdout_failed(errno);
	}
	ami_msg_free(&am);
	free(copy);
}

static void
onmessage(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct ami_msg am = { 0 };
	char why[160], *copy, *srv;
	const char *s;
	size_t pl = strlen(prefix), sl, vl;

	(void)m;
	(void)arg;
	if (Aflag) {
		haaction(msg);
		return;
	}
	if (msg->payloadlen <= 0 || msg->payloadlen > PAYLOAD_MAX ||
	    strncmp(msg->topic, prefix, pl) != 0 || msg->topic[pl] != '/')
		return;
	srv = msg->topic + pl + 1;
	sl = strcspn(srv, "/");
	if (sl == strlen(Hflag) && strncmp(srv, Hflag, sl) == 0)
		repair(msg);
	copy = ami_xstrndup(msg->payload, msg->payloadlen);
	if (strlen(copy) != (size_t)msg->payloadlen || strchr(copy, '\n') != NULL ||
	    ami_text_decode(copy, msg->payloadlen, &am, why, sizeof(why)) < 0 ||
	    (s = ami_msg_get(&am, "Server", &vl)) == NULL ||
	    vl != sl || strncmp(s, srv, sl) != 0)
		warnx("%s: not one message of that server; dropped",
		    ami_visible(why, sizeof(why), msg->topic, strlen(msg->topic)));
	else {
		ami_text_put(&out, &am);
		if (ami_buf_flush(&out, 1) < 0)
			ami_stdout_failed(errno);
	}
	ami_msg_free(&am);
	free(copy);
}

/* the topic of m, or -1 (said) when it has none */
static int
topic(const struct ami_msg *m, char *t, size_t cap, int *retain)
{
	const char *ev, *name = NULL, *kind = "event";
	size_t evl, nl = 0;

	if ((ev = ami_msg_get(m, "Event", &evl)) == NULL || !level(ev, evl))
		return -1;
	*retain = 0;
	if (ami_keyeq(ev, evl, "DeviceStateChange")) {
		kind = "device";
		name = ami_msg_get(m, "Device", &nl);
	} else if (ami_keyeq(ev, evl, "PresenceStateChange")) {
		kind = "presence";
		name = ami_msg_get(m, "Presentity", &nl);
	}
	if (name == NULL) {
		name = ev;
		nl = evl;
	} else
		*retain = 1;
	if (!level(name, nl) || (size_t)snprintf(t, cap, "%s/%s/%s/%.*s", prefix,
	    Hflag, kind, (int)nl, name) >= cap) {
		warnx("%s: no topic for that name; not published",
		    ami_visible(t, cap, name, nl));
		return -1;
	}
	return 0;
}

/*
 * publish the payload p (a NUL after it) on topic t once the broker has
 * the subscriptions; a retained one is held for the next republish
 */
static void
post(const char *t, struct ami_buf *p, int retain)
{
	struct ami_stent *e;

	ami_buf_addc(p, '\0');
	pthread_mutex_lock(&lock);
	if (!await_ready()) {
		pthread_mutex_unlock(&lock);
		return;
	}
	if (retain && (e = ami_stab_get(held, t, strlen(t), 1)) != NULL)
		ami_stab_set(&e->val[0], p->p, p->len - 1);
	else if (retain)
		warnx("%s: more than %d topics held", t, TOPICS_MAX);
	publish(t, p->p, p->len - 1, retain);
	pthread_mutex_unlock(&lock);
}

/* the JSON object of m's fields named in keys, as "key":value, lower case */
static void
hajson(struct ami_buf *b, const struct ami_msg *m, const char *const *keys)
{
	struct ami_msg o = { 0 };
	const char *v;
	size_t vl;

	ami_msg_ref(&o, "server", 6, Hflag, strlen(Hflag));
	for (; *keys != NULL; keys += 2)
		if ((v = ami_msg_get(m, *keys, &vl)) != NULL)
			ami_msg_ref(&o, keys[1], strlen(keys[1]), v, vl);
	ami_json_put(b, &o);
	b->len--;       /* no newline: a payload is one message */
	ami_msg_free(&o);
}

/*
 * -A: a device's or presentity's state, plain or JSON, retained; an
 * event of -e as JSON; anything else is not for home automation
 */
static void
haforward(struct ami_msg *m)
{
	static const char *const dev[] = { "Device", "device", "State",
	    "state", NULL }, *const pres[] = { "Presentity", "presentity",
	    "Status", "status", "Subtype", "subtype", "Message", "message",
	    NULL };
	static struct ami_buf line;
	const char *ev, *name, *val, *kind = "event", *const *keys = NULL;
	char t[512];
	size_t evl, nl = 0, vl;
	int n;

	if ((ev = ami_msg_get(m, "Event", &evl)) == NULL || !level(ev, evl))
		return;
	if (ami_keyeq(ev, evl, "DeviceStateChange")) {
		keys = dev;
		kind = "device";
	} else if (ami_keyeq(ev, evl, "PresenceStateChange")) {
		keys = pres;
		kind = "presence";
	} else if (eflag == NULL || !ami_listhas(eflag, ev, evl))
		return;
	line.len = 0;
	if (keys != NULL) {
		if ((name = ami_msg_get(m, keys[0], &nl)) == NULL ||
		    (val = ami_msg_get(m, keys[2], &vl)) == NULL)
			return;
		n = snprintf(t, sizeof(t), "%s/%s/ha/%s/%.*s", prefix, Hflag,
		    kind, (int)nl, name);
		if (jflag)
			hajson(&line, m, keys);
		else
			ami_buf_add(&line, val, vl);
	} else {
		/* a UserEvent's name is a level of its own */
		if ((name = ami_msg_get(m, "UserEvent", &nl)) == NULL ||
		    !ami_keyeq(ev, evl, "UserEvent")) {
			name = "";
			nl = 0;
		}
		n = snprintf(t, sizeof(t), "%s/%s/ha/%s/%.*s%s%.*s", prefix,
		    Hflag, kind, (int)evl, ev, nl ? "/" : "", (int)nl, name);
		ami_json_put(&line, m);
		line.len--;
	}
	/* a device or presentity needs a name; a UserEvent's may be none */
	if ((size_t)n >= sizeof(t) || ((nl > 0 || keys != NULL) &&
	    !level(name, nl))) {
		warnx("%s: no topic for that name; not published",
		    ami_visible(t, sizeof(t), name, nl));
		return;
	}
	if (line.len > PAYLOAD_MAX) {
		warnx("%s: message too long; not published", t);
		return;
	}
	post(t, &line, keys != NULL);
}

static int
forward(struct ami_msg *m, unsigned long lineno, void *arg)
{
	static struct ami_buf line;
	char t[512];
	int i, retain;

	(void)lineno, (void)arg;
	while ((i = ami_msg_find(m, "Server", 0)) >= 0)
		ami_msg_del(m, i);
	while ((i = ami_msg_find(m, "Session", 0)) >= 0)
		ami_msg_del(m, i);
	ami_msg_ref(m, "Server", 6, Hflag, strlen(Hflag));
	ami_msg_ref(m, "Session", 7, session, strlen(session));
	if (Aflag) {
		haforward(m);
		return 0;
	}
	if (topic(m, t, sizeof(t), &retain) < 0)
		return 0;
	line.len = 0;
	ami_text_put(&line, m);
	line.len--;     /* no newline: a payload is one message */
	if (line.len > PAYLOAD_MAX) {
		warnx("%s: message too long; not published", t);
		return 0;
	}
	post(t, &line, retain);
	return 0;
}

static void
setup(void)
{
	char id[96];
	int ka, rc, v5;

	snprintf(session, sizeof(session), "%llx%x",
	    (unsigned long long)ami_now_ms(), (unsigned)getpid() & 0xffff);
	snprintf(id, sizeof(id), "amimqtt-%.30s-%s", Hflag, session);
	ka = ami_argnum("[mqtt] keepalive", keepalive, 5, 3600);
	if (strcmp(protocol, "5") != 0 && strcmp(protocol, "3.1.1") != 0)
		errx(2, "[mqtt] protocol %s: 3.1.1 or 5", protocol);
	v5 = strcmp(protocol, "5") == 0;
	mosquitto_lib_init();
	if ((mq = mosquitto_new(id, true, NULL)) == NULL)
		err(2, "mosquitto_new");
	mosquitto_int_option(mq, MOSQ_OPT_PROTOCOL_VERSION,
	    v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	/* a state change is one small packet: Nagle held each ~40 ms */
	mosquitto_int_option(mq, MOSQ_OPT_TCP_NODELAY, 1);
	if (user[0] != '\0' &&
	    mosquitto_username_pw_set(mq, user, secret[0] ? secret : NULL) != 0)
		errx(2, "[mqtt] username: refused");
	if (strcmp(tls, "yes") == 0 && (rc = mosquitto_tls_set(mq,
	    cafile[0] ? cafile : NULL, cafile[0] ? NULL : "/etc/ssl/certs",
	    certfile[0] ? certfile : NULL, keyfile[0] ? keyfile : NULL,
	    NULL)) != MOSQ_ERR_SUCCESS)
		errx(2, "[mqtt] tls: %s", mosquitto_strerror(rc));
	setwill(mq);
	mosquitto_connect_callback_set(mq, onconnect);
	mosquitto_log_callback_set(mq, onlog);
	mosquitto_subscribe_callback_set(mq, onsubscribe);
	mosquitto_disconnect_callback_set(mq, ondisconnect);
	mosquitto_message_callback_set(mq, onmessage);
	mosquitto_reconnect_delay_set(mq, 1, 30, true);
	/* the loop first: libmosquitto's thread, started after a connect
	 * the broker refused (one not up yet at boot), waits for ever and
	 * never retries (eclipse-mosquitto/mosquitto#1903) */
	ami_signals_held(1);
	rc = mosquitto_loop_start(mq);
	ami_signals_held(0);
	if (rc != MOSQ_ERR_SUCCESS)
		errx(2, "mosquitto_loop_start: %s", mosquitto_strerror(rc));
	if ((rc = mosquitto_connect_async(mq, host,
	    ami_argnum("[mqtt] port", port, 1, 65535), ka)) != MOSQ_ERR_SUCCESS &&
	    rc != MOSQ_ERR_ERRNO)
		errx(2, "%s:%s: %s", host, port, mosquitto_strerror(rc));
}

/* stdin is done: say so on the status topic, then go */
static void
finish(void)
{
	char t[256], gone[512];
	struct timespec ts = { 0, 100 * 1000000L };
	int i;

	pthread_mutex_lock(&lock);
	upline[0] = '\0';      /* its own Gone is not to be repaired */
	statusline(t, sizeof(t), gone, sizeof(gone), "AmitoolsGone");
	publish(t, gone, strlen(gone), 1);
	pthread_mutex_unlock(&lock);
	/* QoS 1 in flight gets 2 s to be acknowledged */
	for (i = 0; i < 20 && mosquitto_want_write(mq); i++)
		nanosleep(&ts, NULL);
	nanosleep(&ts, NULL);
	mosquitto_disconnect(mq);
	mosquitto_loop_stop(mq, false);
	mosquitto_destroy(mq);
	mosquitto_lib_cleanup();
}

int
main(int argc, char *argv[])
{
	struct ami_drive in;
	int ch;

	while ((ch = getopt(argc, argv, "Ac:e:H:hjp:T:V")) != -1) {
		switch (ami_oldopt(ch, "pT")) {
		case 'A':
			Aflag = 1;
			break;
		case 'c':
			cflag = optarg;
			break;
		case 'e':
			eflag = optarg;
			break;
		case 'H':
			Hflag = optarg;
			break;
		case 'j':
			jflag = 1;
			break;
		case 'T':
			pflag = optarg;
			break;
		case 'V':
			printf("amimqtt %s\n", AMI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc || Hflag == NULL)
		usage();
	if (!Aflag && (eflag != NULL || jflag))
		errx(2, "-e and -j are for the home-automation topics: with -A");
	if (!level(Hflag, strlen(Hflag)) || strchr(Hflag, '/') != NULL ||
	    strchr(Hflag, ' ') != NULL)
		errx(2, "-H %s: not a server name for a topic", Hflag);
	readconf();
	ami_stop_signals(&stop);
	signal(SIGPIPE, SIG_DFL);
	held = ami_stab_new(TOPICS_MAX);
	setup();
	ami_drive_init(&in, 0, "stdin", 0, forward, NULL);
	ami_drive_run(&in, &stop);
	finish();
	ami_drive_free(&in);
	ami_stab_free(held);
	return 0;
}
