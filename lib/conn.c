/*
 * conn.c: one AMI connection, driven by the caller's poll(2) loop so one
 * program can hold several servers and its other inputs without threads.
 * DOWN -> CONNECTING [-> HANDSHAKE] -> BANNER -> CHALLENGE -> LOGIN -> UP;
 * any failure goes back to DOWN with capped exponential backoff and jitter,
 * so a fleet of clients does not hammer a restarting Asterisk in step.  Our
 * own Login, Challenge and Ping traffic never reaches the caller.  With TLS
 * (libtls, opened by tls.c) the socket I/O goes through callbacks that
 * never raise SIGPIPE, and a certificate that does not verify is final,
 * like a wrong secret.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tls.h>
#include <unistd.h>

#include "ami.h"

#define BACKOFF_MIN_MS   500
#define BACKOFF_MAX_MS   30000
#define LOGIN_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 3000     /* each address */
#define BOOT_WAIT_MS     3000   /* no FullyBooted: a user without read=system */
#define PING_ID          "amitools-ping"
#define LOGIN_ID         "amitools-login"

static void send_simple(struct ami_conn *, const char *, const char *,
    const char *, const char *);
static int writeout(struct ami_conn *, int64_t);

void
ami_conn_init(struct ami_conn *c, const struct ami_server *srv)
{
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	c->fd = -1;
	c->state = AMI_DOWN;
	ami_parser_init(&c->in, AMI_WIRE, 0);
}

void
ami_conn_logoff(struct ami_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	int64_t until = ami_now_ms() + 1000;

	if (c->state != AMI_UP)
		return;
	send_simple(c, "Logoff", "amitools-logoff", NULL, NULL);
	/* what is owed goes out first, but a stuck server can't hold us */
	while (c->state == AMI_UP && c->out.len > 0 && ami_now_ms() < until &&
	    poll(&pfd, 1, 100) >= 0)
		writeout(c, ami_now_ms());
}

static void
addrs_free(struct ami_conn *c)
{
	if (c->ai != NULL)
		freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
}

static void
hangup(struct ami_conn *c)
{
	addrs_free(c);
	if (c->tls != NULL) {
		ami_tls.close(c->tls);
		ami_tls.free(c->tls);
		c->tls = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->tlswant = 0;
	c->tlsmore = 0;
}

void
ami_conn_free(struct ami_conn *c)
{
	hangup(c);
	ami_parser_free(&c->in);
	ami_buf_free(&c->out);
}

static void
fail(struct ami_conn *c, int64_t now, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	hangup(c);
	if (c->state == AMI_UP)
		c->down_since = now;
	c->state = AMI_DOWN;
	c->out.len = 0;
	ami_parser_free(&c->in);
	ami_parser_init(&c->in, AMI_WIRE, 0);
	c->next_try = now + ami_backoff(c->tries++, BACKOFF_MIN_MS,
	    BACKOFF_MAX_MS);
}

/*
 * Connect to the next address of the host; 0 under way, -1 none left
 * (errno).  A host with an address that does not answer (IPv6 to an
 * Asterisk bound to 0.0.0.0, say) is reached on the next one.
 */
static int
dial(struct ami_conn *c, int64_t now)
{
	struct addrinfo *ai;
	int fd, e = ECONNREFUSED;

	while ((ai = c->ai_next) != NULL) {
		c->ai_next = ai->ai_next;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			c->fd = fd;
			c->state = AMI_CONNECTING;
			c->next_try = now + CONNECT_TIMEOUT_MS;
			return 0;
		}
		e = errno;
		close(fd);
	}
	errno = e;
	return -1;
}

static void
start(struct ami_conn *c, int64_t now)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int rc;

	if ((rc = getaddrinfo(c->srv->host, c->srv->port, &hints, &c->ai)) != 0) {
		fail(c, now, "%s: %s", c->srv->host, gai_strerror(rc));
		return;
	}
	c->ai_next = c->ai;
	if (dial(c, now) < 0)
		fail(c, now, "connect to %s:%s: %s", c->srv->host, c->srv->port,
		    strerror(errno));
}

static ssize_t
tls_recv(struct tls *t, void *buf, size_t n, void *arg)
{
	struct ami_conn *c = arg;
	ssize_t r = recv(c->fd, buf, n, 0);

	(void)t;
	return r < 0 && errno == EAGAIN ? TLS_WANT_POLLIN : r;
}

static ssize_t
tls_send(struct tls *t, const void *buf, size_t n, void *arg)
{
	struct ami_conn *c = arg;
	ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);

	(void)t;
	return r < 0 && errno == EAGAIN ? TLS_WANT_POLLOUT : r;
}

static void
starttls(struct ami_conn *c, int64_t now)
{
	struct tls_config *cfg;
	const char *why = NULL;
	char err[256];

	if (ami_tls_open(err, sizeof(err)) < 0) {
		c->authfail = 1;        /* nor will it next time */
		fail(c, now, "%s: TLS: %s", c->srv->name, err);
		return;
	}
	if ((cfg = ami_tls.config_new()) == NULL || (c->tls = ami_tls.client()) == NULL) {
		ami_tls.config_free(cfg);
		fail(c, now, "%s: TLS: out of memory", c->srv->name);
		return;
	}
	if (c->srv->cafile[0] != '\0' &&
	    ami_tls.config_set_ca_file(cfg, c->srv->cafile) != 0)
		why = ami_tls.config_error(cfg);
	if (!c->srv->verify) {
		ami_tls.config_insecure_noverifycert(cfg);
		ami_tls.config_insecure_noverifyname(cfg);
	}
	if (why == NULL && (ami_tls.configure(c->tls, cfg) != 0 ||
	    ami_tls.connect_cbs(c->tls, tls_recv, tls_send, c, c->srv->host) != 0))
		why = ami_tls.error(c->tls);
	if (why != NULL) {
		c->authfail = 1;
		fail(c, now, "%s: TLS: %s", c->srv->name, why);
	} else
		c->state = AMI_HANDSHAKE;
	ami_tls.config_free(cfg);
}

/* 1 done, 0 again later, -1 failed */
static int
handshake(struct ami_conn *c, int64_t now)
{
	int rc = ami_tls.handshake(c->tls);

	if (rc == TLS_WANT_POLLIN || rc == TLS_WANT_POLLOUT) {
		c->tlswant = rc == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
		return 0;
	}
	c->tlswant = 0;
	if (rc == 0) {
		c->state = AMI_BANNER;
		c->last_rx = now;
		return 1;
	}
	/* a server in the middle of a restart is retried; a certificate
	 * that does not verify will not verify next time either */
	c->authfail = strstr(ami_tls.error(c->tls), "certificate") != NULL;
	fail(c, now, "%s: TLS: %s", c->srv->name, ami_tls.error(c->tls));
	return -1;
}

/* read(2) or ami_tls.read(3): -1 with EAGAIN when nothing is there yet */
static ssize_t
xread(struct ami_conn *c, void *buf, size_t n)
{
	ssize_t r;

	if (c->tls == NULL)
		return read(c->fd, buf, n);
	r = ami_tls.read(c->tls, buf, n);
	c->tlswant = r == TLS_WANT_POLLIN ? POLLIN :
	    r == TLS_WANT_POLLOUT ? POLLOUT : 0;
	if (c->tlswant)
		errno = EAGAIN;
	else if (r == -1)
		errno = EIO;
	return c->tlswant ? -1 : r;
}

static ssize_t
xwrite(struct ami_conn *c, const void *buf, size_t n)
{
	ssize_t r;

	if (c->tls == NULL)
		return send(c->fd, buf, n, MSG_NOSIGNAL);
	r = ami_tls.write(c->tls, buf, n);
	if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
		c->tlswant = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
		errno = EAGAIN;
		return -1;
	}
	if (r == -1)
		errno = EIO;
	return r;
}

/* the reason an I/O call failed, in libtls's words when it has them */
static const char *
ioerr(struct ami_conn *c)
{
	const char *e;

	if (c->tls != NULL && (e = ami_tls.error(c->tls)) != NULL)
		return e;
	return strerror(errno);
}

/* a token of a comma list, any case */
static int
has_word(const char *list, size_t n, const char *w)
{
	size_t wl = strlen(w), i = 0, e;

	while (i < n) {
		for (e = i; e < n && list[e] != ','; e++)
			;
		while (i < e && list[i] == ' ')
			i++;
		if (e - i == wl && strncasecmp(list + i, w, wl) == 0)
			return 1;
		i = e + 1;
	}
	return 0;
}

static const char *on[] = { "on", "yes", "true", "y", "t", "all" };
static const char *off[] = { "off", "no", "false", "n", "f", "0" };

/* an Events value as Asterisk reads it: 1 a truth word for all, 0 one
 * for none (or empty), -1 a number or a list of classes */
static int
truth(const char *e)
{
	size_t i;

	for (i = 0; i < 6; i++)
		if (strcasecmp(e, on[i]) == 0)
			return 1;
	for (i = 0; i < 6; i++)
		if (strcasecmp(e, off[i]) == 0 || *e == '\0')
			return 0;
	return -1;
}

/*
 * The class of an event, as Asterisk 12 and later (AMI 2+) sends it: only
 * the events whose Privilege: a real Asterisk 20 was seen to send
 * (tests/fixtures/asterisk-20.20.1); Asterisk 1.4 sent Newexten and
 * VarSet as call, say, so an older server keeps its mask.
 */
static const char *classes[] = { "call", "dialplan", "security", "system",
    "user" };
static const struct { const char *event; int class; } evclass[] = {
	{ "ChallengeSent", 2 }, { "ContactStatus", 3 },
	{ "DeviceStateChange", 0 }, { "DialBegin", 0 }, { "DialEnd", 0 },
	{ "ExtensionStatus", 0 }, { "FullyBooted", 3 }, { "Hangup", 0 },
	{ "HangupRequest", 0 }, { "LocalBridge", 0 }, { "MessageWaiting", 0 },
	{ "NewCallerid", 0 }, { "NewConnectedLine", 0 }, { "Newchannel", 0 },
	{ "Newexten", 1 }, { "Newstate", 0 }, { "OriginateResponse", 0 },
	{ "PeerStatus", 3 }, { "PresenceStateChange", 0 },
	{ "PresenceStatus", 0 }, { "RequestBadFormat", 2 },
	{ "RequestNotAllowed", 2 }, { "Shutdown", 3 }, { "SoftHangupRequest", 0 },
	{ "SuccessfulAuth", 2 }, { "UserEvent", 4 }, { "VarSet", 1 } };

/* the classes of the events in list, a bit each; -1 when one is unknown */
static int
classes_of(const char *list)
{
	const char *p, *comma;
	size_t i, n;
	int want = 0;

	for (p = list; ; p = comma + 1) {
		comma = strchrnul(p, ',');
		n = comma - p;
		for (i = 0; i < sizeof(evclass) / sizeof(evclass[0]); i++)
			if (strlen(evclass[i].event) == n &&
			    strncasecmp(evclass[i].event, p, n) == 0)
				break;
		if (i < sizeof(evclass) / sizeof(evclass[0]))
			want |= 1 << evclass[i].class;
		else if (n < 8 || strncasecmp(p, "Amitools", 8) != 0)
			return -1;
		if (*comma == '\0')
			return want;
	}
}

/*
 * The configured mask, narrowed to the classes of the only events the
 * caller wants (ami_conn.only) where that is certain: a truth word for
 * all becomes those classes, a list of classes keeps those of them; a
 * number, or an event of no known class, keeps the mask as it is.
 */
static const char *
narrowed(struct ami_conn *c, char *buf, size_t len)
{
	const char *e = c->srv->events;
	size_t i, n = 0;
	int want, all = truth(e) == 1;

	if (c->only == NULL || strtol(c->banner + 22, NULL, 10) < 2 ||
	    (want = classes_of(c->only)) < 0)
		return e;
	if (!all && (truth(e) == 0 || strspn(e, "0123456789") == strlen(e)))
		return e;
	all = all || has_word(e, strlen(e), "all");
	buf[0] = '\0';
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if ((want & 1 << i) && (all || has_word(e, strlen(e), classes[i])))
			n += snprintf(buf + n, len - n, "%s%s", n ? "," : "",
			    classes[i]);
	return n > 0 ? buf : "off";
}

/*
 * The Events mask to log in with: the caller's, plus the system class
 * when it lacks it, as FullyBooted is a system event (sysadded then says
 * to keep system events from the caller).  Asterisk reads the value as a
 * truth word, a number or a list of classes.
 */
static const char *
events_with_system(struct ami_conn *c, char *buf, size_t len)
{
	char mask[64];
	const char *e = narrowed(c, mask, sizeof(mask));

	c->sysadded = 0;
	switch (truth(e)) {
	case 1:
		return e;
	case 0:
		c->sysadded = 1;
		return "system";
	}
	if (strspn(e, "0123456789") == strlen(e)) {
		c->sysadded = !(atoi(e) & 1);
		snprintf(buf, len, "%d", atoi(e) | 1);
		return buf;
	}
	if ((c->sysadded = !has_word(e, strlen(e), "system") &&
	    !has_word(e, strlen(e), "all")) == 0) {
		snprintf(buf, len, "%s", e);
		return buf;
	}
	snprintf(buf, len, "%s,system", e);
	return buf;
}

static void
send_login(struct ami_conn *c, const char *challenge, size_t clen)
{
	struct ami_msg m = { 0 };
	char key[33], ev[sizeof(c->srv->events) + 8];
	struct ami_buf b = { 0 };

	ami_msg_adds(&m, "Action", "Login");
	ami_msg_adds(&m, "ActionID", LOGIN_ID);
	ami_msg_adds(&m, "Username", c->srv->user);
	if (challenge != NULL) {
		ami_buf_add(&b, challenge, clen);
		ami_buf_adds(&b, c->srv->secret);
		ami_md5_hex(b.p, b.len, key);
		explicit_bzero(b.p, b.len);
		ami_buf_free(&b);
		ami_msg_adds(&m, "AuthType", "MD5");
		ami_msg_adds(&m, "Key", key);
	} else
		ami_msg_adds(&m, "Secret", c->srv->secret);
	ami_msg_adds(&m, "Events", events_with_system(c, ev, sizeof(ev)));
	ami_wire_put(&c->out, &m);
	ami_msg_free(&m);
	c->state = AMI_LOGIN;
}

static void
send_simple(struct ami_conn *c, const char *action, const char *id,
    const char *k, const char *v)
{
	struct ami_msg m = { 0 };

	ami_msg_adds(&m, "Action", action);
	ami_msg_adds(&m, "ActionID", id);
	if (k != NULL)
		ami_msg_adds(&m, k, v);
	ami_wire_put(&c->out, &m);
	ami_msg_free(&m);
}

void
ami_conn_send(struct ami_conn *c, const void *wire, size_t n)
{
	ami_buf_add(&c->out, wire, n);
}

int
ami_conn_pollfd(struct ami_conn *c, short *events, int64_t now, int *timeout)
{
	int64_t at = c->next_try;
	int ka = c->srv->keepalive * 1000;

	*events = 0;
	if (c->state == AMI_CONNECTING)
		*events = POLLOUT;
	else if (c->state == AMI_HANDSHAKE)
		*events = c->tlswant;
	else if (c->state != AMI_DOWN)
		*events = POLLIN | (c->out.len ? POLLOUT : 0) | c->tlswant;
	if (c->tlsmore)
		*timeout = 0;
	if (c->state == AMI_UP) {
		at = INT64_MAX;
		if (ka > 0)
			at = c->ping_sent ? c->ping_sent + ka : c->last_rx + ka;
		if (!c->booted && c->boot_by < at)
			at = c->boot_by;
	}
	if (at != INT64_MAX) {
		int64_t t = at > now ? at - now : 0;
		if (*timeout < 0 || t < *timeout)
			*timeout = t;
	}
	return c->state == AMI_DOWN ? -1 : c->fd;
}

/* 0 written or again later, -1 failed, -2 the peer reset the connection:
 * what it sent before may still wait to be read, so read it first (an
 * answer lost there is an action thought unanswered) */
static int
writeout(struct ami_conn *c, int64_t now)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = xwrite(c, c->out.p, c->out.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if ((errno == ECONNRESET || errno == EPIPE) && c->tls == NULL) {
				snprintf(c->err, sizeof(c->err), "write to %s: %s",
				    c->srv->name, strerror(errno));
				c->out.len = 0;
				return -2;
			}
			fail(c, now, "write to %s: %s", c->srv->name, ioerr(c));
			return -1;
		}
		memmove(c->out.p, c->out.p + n, c->out.len - n);
		c->out.len -= n;
	}
	return 0;
}

/* one message while logging in; -1 when the connection failed */
static int
login_msg(struct ami_conn *c, struct ami_msg *m, int64_t now)
{
	size_t n;
	const char *v;

	if (ami_msg_get(m, "Event", NULL) != NULL)
		return 0;
	if (c->state == AMI_CHALLENGE) {
		if (ami_msg_is(m, "Response", "Success") &&
		    (v = ami_msg_get(m, "Challenge", &n)) != NULL)
			send_login(c, v, n);
		else {
			/* never the secret in clear unless the config asks:
			 * whoever refuses the challenge may be in the middle */
			if ((v = ami_msg_get(m, "Message", &n)) == NULL)
				v = "no reason given", n = strlen(v);
			c->authfail = 1;
			fail(c, now, "%s: the MD5 challenge was refused (%.*s); "
			    "not sending the secret in clear (auth = plain in "
			    "[%s] allows it)", c->srv->name, (int)n, v,
			    c->srv->name);
			return -1;
		}
		return 0;
	}
	if (ami_msg_is(m, "Response", "Success")) {
		c->state = AMI_UP;
		/* a system event hidden from the caller is told by its
		 * Privilege, a field brief does not split */
		c->in.brief = c->brief && !c->sysadded;
		c->in.skim = c->skim;
		c->in.skimarg = c->skimarg;
		c->tries = 0;
		c->ping_sent = 0;
		c->booted = 0;
		c->boot_by = now + BOOT_WAIT_MS;
		return 1;
	}
	v = ami_msg_get(m, "Message", &n);
	c->authfail = 1;
	fail(c, now, "%s: login as %s failed: %.*s", c->srv->name,
	    c->srv->user, v ? (int)n : 7, v ? v : "refused");
	return -1;
}

/*
 * FullyBooted and Shutdown (m's first field) change booted; 1 when the
 * event is not the caller's (a system event only our login asked for)
 */
static int
boot_event(struct ami_conn *c, struct ami_msg *m, ami_msg_cb *cb, void *arg)
{
	const char *p;
	size_t n;

	/* the caller found Event first: its value, not a search (every
	 * event comes here) */
	const struct ami_field *ev = &m->f[0];

	if (ami_keyeq(ev->v, ev->vl, "FullyBooted") && !c->booted) {
		c->booted = 1;
		cb(arg, c, NULL);
	} else if (ami_keyeq(ev->v, ev->vl, "Shutdown")) {
		c->booted = 0;          /* until the next login's FullyBooted */
		c->boot_by = INT64_MAX;
	}
	return c->sysadded && (p = ami_msg_get(m, "Privilege", &n)) != NULL &&
	    has_word(p, n, "system");
}

static int
readin(struct ami_conn *c, int64_t now, ami_msg_cb *cb, void *arg)
{
	struct ami_msg m = { 0 };
	ssize_t n;
	size_t room;
	char *space;
	int rc, reads = 0, up = 0;

	/* bounded, so one busy server cannot starve the others; libtls may
	 * then hold decrypted bytes that poll(2) can't see */
	c->tlsmore = 0;
	for (;;) {
		if (reads++ == 64) {
			c->tlsmore = c->tls != NULL;
			break;
		}
		space = ami_parser_space(&c->in, &room);
		n = xread(c, space, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			fail(c, now, "read from %s: %s", c->srv->name, ioerr(c));
			goto out;
		}
		ami_parser_commit(&c->in, n);
		if (n == 0)
			c->in.eof = 1;
		if (n > 0)
			c->last_rx = now;
		if (c->state == AMI_BANNER) {
			if (!ami_parser_banner(&c->in, c->banner, sizeof(c->banner))) {
				if (n == 0)
					goto closed;
				continue;
			}
			if (strncmp(c->banner, "Asterisk Call Manager/", 22) != 0) {
				fail(c, now, "%s is not an AMI server: \"%.40s\"",
				    c->srv->name, c->banner);
				goto out;
			}
			if (!c->srv->plain) {
				send_simple(c, "Challenge", LOGIN_ID, "AuthType", "MD5");
				c->state = AMI_CHALLENGE;
			} else
				send_login(c, NULL, 0);
		}
		while (c->state != AMI_BANNER && c->state != AMI_DOWN &&
		    (rc = ami_parser_next(&c->in, &m)) != 0) {
			if (rc < 0) {
				/* skipped (over the cap): handed on with its
				 * ActionID and why, never dropped silently */
				int id = ami_msg_find(&m, "ActionID", 0);
				if (id >= 0)
					m.f[0] = m.f[id];
				m.n = id >= 0;
				if (c->state == AMI_UP) {
					ami_msg_ref(&m, "AmitoolsError", 13,
					    c->in.err, strlen(c->in.err));
					cb(arg, c, &m);
				}
				continue;
			}
			if (c->state != AMI_UP) {
				if ((rc = login_msg(c, &m, now)) < 0)
					goto out;
				if (rc == 1) {
					up = 1;
					cb(arg, c, NULL);
					c->ever_up = 1;
				}
				continue;
			}
			if (m.n > 0 && ami_keyeq(m.f[0].k, m.f[0].kl, "Event") &&
			    boot_event(c, &m, cb, arg))
				continue;
			/* events (nearly all traffic) never carry it */
			if (m.n > 0 && m.f[0].kl == 8 &&
			    ami_keyeq(m.f[0].k, 8, "Response") &&
			    ami_msg_is(&m, "ActionID", PING_ID)) {
				c->ping_sent = 0;
				continue;
			}
			cb(arg, c, &m);
		}
		if (n == 0) {
closed:
			fail(c, now, "%s closed the connection", c->srv->name);
			goto out;
		}
	}
out:
	ami_msg_free(&m);
	return up;
}

int
ami_conn_step(struct ami_conn *c, short revents, int64_t now,
    ami_msg_cb *cb, void *arg)
{
	enum ami_state was = c->state;
	int ka = c->srv->keepalive * 1000, e = 0, rc;
	socklen_t elen = sizeof(e);

	switch (c->state) {
	case AMI_DOWN:
		if (now >= c->next_try)
			start(c, now);
		break;
	case AMI_CONNECTING:
		if (revents)
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen);
		else if (now >= c->next_try)
			e = ETIMEDOUT;
		if (e != 0) {
			close(c->fd);
			c->fd = -1;
			if (dial(c, now) < 0)
				fail(c, now, "connect to %s:%s: %s", c->srv->host,
				    c->srv->port, strerror(e));
		} else if (revents) {
			addrs_free(c);
			c->next_try = now + LOGIN_TIMEOUT_MS;
			if (c->srv->tls) {
				starttls(c, now);
				if (c->state == AMI_HANDSHAKE)
					handshake(c, now);
			} else {
				c->state = AMI_BANNER;
				c->last_rx = now;
			}
		}
		break;
	case AMI_HANDSHAKE:
		if (revents)
			handshake(c, now);
		else if (now >= c->next_try)
			fail(c, now, "%s: TLS handshake timed out", c->srv->name);
		break;
	default:
		if ((revents & POLLOUT) && (rc = writeout(c, now)) < 0) {
			if (rc == -2) {
				char why[sizeof(c->err)];

				/* the reset is the reason, not the EOF after it */
				memcpy(why, c->err, sizeof(why));
				readin(c, now, cb, arg);
				if (c->state != AMI_DOWN)
					fail(c, now, "%s", why);
				else
					memcpy(c->err, why, sizeof(why));
			}
			break;
		}
		if (revents & (POLLIN | POLLHUP | POLLERR))
			readin(c, now, cb, arg);
		if (c->state == AMI_DOWN)
			break;
		if (c->state != AMI_UP) {
			if (now >= c->next_try)
				fail(c, now, "%s: no login answer in %d s",
				    c->srv->name, LOGIN_TIMEOUT_MS / 1000);
			break;
		}
		if (!c->booted && now >= c->boot_by) {
			c->booted = 1;
			cb(arg, c, NULL);
		}
		if (ka > 0 && c->ping_sent && now - c->ping_sent >= ka)
			fail(c, now, "%s: no answer to Ping in %d s",
			    c->srv->name, ka / 1000);
		else if (ka > 0 && !c->ping_sent && now - c->last_rx >= ka) {
			send_simple(c, "Ping", PING_ID, NULL, NULL);
			c->ping_sent = now;
		}
		if (c->state == AMI_UP && c->out.len > 0)
			writeout(c, now);
	}
	if (c->state == AMI_DOWN && was != AMI_DOWN)
		return -1;
	return 0;
}
