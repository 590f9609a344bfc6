/* ---- sessions: output ---- */

#include "amisim.h"

void
client_close(struct client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* graceful end: what was queued still goes out, then our FIN, then drain */
void
client_shut(struct client *c)
{
	if (!c->shut) {
		c->shut = 1;
		c->replaying = 0;
	}
}

/* append one whole message to a session's output */
void
send_block(struct client *c, const char *s, size_t n)
{
	static const char junk[] = "\xff\xfe\x01\x02 binary junk\r\n"
	    "a line without a colon\r\nNul\0Byte: here\r\n\r\n";

	if (c->dead || c->shut || n == 0)
		return;
	if (c->close_after >= 0 && c->nsent >= c->close_after && c->cut) {
		ami_buf_add(&c->out, s, n / 2);
		client_shut(c);
		return;
	}
	if (c->close_after >= 0 && c->nsent >= c->close_after)
		return;
	if (c->garbage_pending && n > 6 && strncmp(s, "Event:", 6) == 0) {
		c->garbage_pending = 0;
		ami_buf_add(&c->out, junk, sizeof(junk) - 1);
	}
	ami_buf_add(&c->out, s, n);
	c->nsent++;
	if (c->close_after >= 0 && c->nsent >= c->close_after && !c->cut)
		client_shut(c);
}

void
send_buf(struct client *c, struct ami_buf *b)
{
	send_block(c, b->p, b->len);
	b->len = 0;
}

void
send_msg(struct client *c, struct ami_msg *m)
{
	struct ami_buf b = { 0 };

	ami_wire_put(&b, m);
	send_block(c, b.p, b.len);
	ami_buf_free(&b);
	ami_msg_clear(m);
}

/* process_events(): what was published during an action, after its answer */
void
process_events(struct client *c)
{
	size_t i = 0, e;
	char *p;

	while (i < c->evq.len) {
		/* the queue holds whole messages, each ending in an empty line */
		p = memmem(c->evq.p + i, c->evq.len - i, "\r\n\r\n", 4);
		e = p == NULL ? c->evq.len : (size_t)(p - c->evq.p) + 4;
		send_block(c, c->evq.p + i, e - i);
		i = e;
	}
	c->evq.len = 0;
}

int
filter_pass(const struct client *c, const char *text)
{
	size_t i;
	int inc = 0, exc = 0, hasinc = 0, hasexc = 0;

	if (c->nfilters == 0)
		return 1;
	for (i = 0; i < c->nfilters; i++) {
		int m = regexec(&c->filters[i].re, text, 0, NULL, 0) == 0;

		if (c->filters[i].exclude) {
			hasexc = 1;
			exc |= m;
		} else {
			hasinc = 1;
			inc |= m;
		}
	}
	if (hasinc && !hasexc)
		return inc;
	if (!hasinc && hasexc)
		return !exc;
	return inc && !exc;
}

void
flush_deferred(void)
{
	size_t i, n = ndeferred;
	struct deferred *d;

	/* publish() would flush again: take the list first */
	if ((d = reallocarray(NULL, n, sizeof(*d))) == NULL)
		err(2, "reallocarray");
	memcpy(d, deferred, n * sizeof(*d));
	ndeferred = 0;
	for (i = 0; i < n; i++) {
		publish(d[i].cat, d[i].text, d[i].len);
		free(d[i].text);
	}
	free(d);
}

/* manager_event(): to every session that may read cat, in its queue */
void
publish(int cat, const char *text, size_t len)
{
	struct client *c;
	char *z = NULL;
	size_t i;

	if (ndeferred > 0)
		flush_deferred();
	for (i = 0; i < nclients; i++) {
		c = clients[i];
		if (c->dead || !c->authed || (c->readperm & cat) != cat ||
		    (c->send_events & cat) != cat)
			continue;
		if (c->nfilters > 0) {
			if (z == NULL)
				z = ami_xstrndup(text, len);
			if (!filter_pass(c, z))
				continue;
		}
		ami_buf_add(&c->evq, text, len);
	}
	free(z);
}

/* a security event: Asterisk hands these over through stasis, late */
static void
publish_later(int cat, const char *text, size_t len)
{
	static size_t cap;

	deferred = xgrow(deferred, &cap, ndeferred, sizeof(*deferred));
	deferred[ndeferred].cat = cat;
	deferred[ndeferred].text = ami_xstrndup(text, len);
	deferred[ndeferred].len = len;
	deferred[ndeferred++].when = ami_now_ms() + DEFER_MS;
}

void
publish_msg(int cat, struct ami_msg *m)
{
	struct ami_buf b = { 0 };

	ami_wire_put(&b, m);
	publish(cat, b.p, b.len);
	ami_buf_free(&b);
	ami_msg_clear(m);
}

void
event_start(struct ami_msg *m, const char *name, int cat)
{
	char priv[64];

	ami_msg_clear(m);
	snprintf(priv, sizeof(priv), "%s,all", perm_str(cat));
	ami_msg_adds(m, "Event", name);
	ami_msg_adds(m, "Privilege", priv);
}

/* ---- responses, as astman_send_response_full() builds them ---- */

void
resp_start(struct ami_msg *m, struct client *c, const char *resp)
{
	const char *id = hdr_get(c, "ActionID");

	ami_msg_clear(m);
	ami_msg_adds(m, "Response", resp);
	if (*id != '\0')
		ami_msg_adds(m, "ActionID", id);
}

void
respond(struct client *c, const char *resp, const char *msg)
{
	struct ami_msg m = { 0 };

	resp_start(&m, c, resp);
	if (msg != NULL)
		ami_msg_adds(&m, "Message", msg);
	send_msg(c, &m);
	ami_msg_free(&m);
}

void
listack(struct client *c, const char *msg)
{
	struct ami_msg m = { 0 };

	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "EventList", "start");
	ami_msg_adds(&m, "Message", msg);
	send_msg(c, &m);
	ami_msg_free(&m);
}

void
list_item(struct ami_msg *m, struct client *c, const char *event)
{
	const char *id = hdr_get(c, "ActionID");

	ami_msg_clear(m);
	ami_msg_adds(m, "Event", event);
	if (*id != '\0')
		ami_msg_adds(m, "ActionID", id);
}

void
list_complete(struct client *c, const char *event, long n)
{
	struct ami_msg m = { 0 };
	char num[24];

	list_item(&m, c, event);
	ami_msg_adds(&m, "EventList", "Complete");
	snprintf(num, sizeof(num), "%ld", n);
	ami_msg_adds(&m, "ListItems", num);
	send_msg(c, &m);
	ami_msg_free(&m);
}

/* ---- security events (main/security_events.c field order) ---- */

void
security_event(struct client *c, enum sec type, const char *a1, const char *a2,
    const char *a3)
{
	static const char *names[] = { "SuccessfulAuth", "RequestBadFormat",
		"RequestNotAllowed", "InvalidAccountID", "InvalidPassword",
		"ChallengeResponseFailed" };
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	struct timeval now;
	char tv[64], stv[64];

	gettimeofday(&now, NULL);
	fmt_tv(tv, sizeof(tv), now);
	fmt_tv(stv, sizeof(stv), c->start_tv);
	event_start(&m, names[type], EV_SECURITY);
	ami_msg_adds(&m, "EventTV", tv);
	ami_msg_adds(&m, "Severity", type == SEC_OK ? "Informational" : "Error");
	ami_msg_adds(&m, "Service", "AMI");
	ami_msg_adds(&m, "EventVersion", type == SEC_BADPASS ? "2" : "1");
	if (type != SEC_BADFORMAT)
		ami_msg_adds(&m, "AccountID", type == SEC_BADUSER ||
		    type == SEC_BADPASS || type == SEC_BADCHAL ? a1 : c->user);
	ami_msg_adds(&m, "SessionID", c->sid);
	ami_msg_adds(&m, "LocalAddress", c->laddr);
	ami_msg_adds(&m, "RemoteAddress", c->raddr);
	switch (type) {
	case SEC_OK:
		ami_msg_adds(&m, "UsingPassword", "0");
		break;
	case SEC_BADFORMAT:
	case SEC_NOTALLOWED:
		ami_msg_adds(&m, "RequestType", a1);
		break;
	case SEC_BADCHAL:
		ami_msg_adds(&m, "Challenge", c->challenge);
		ami_msg_adds(&m, "Response", a2);
		ami_msg_adds(&m, "ExpectedResponse", a3);
		break;
	default:
		break;
	}
	ami_msg_adds(&m, "SessionTV", stv);
	if (type == SEC_BADFORMAT)
		ami_msg_adds(&m, "AccountID", c->user);
	ami_wire_put(&b, &m);
	/* while booting even a login's comes late (15) */
	if (type == SEC_BADFORMAT || type == SEC_NOTALLOWED ||
	    phase == PH_BOOTING)
		publish_later(EV_SECURITY, b.p, b.len);
	else
		publish(EV_SECURITY, b.p, b.len);
	ami_buf_free(&b);
	ami_msg_free(&m);
}
