/* ---- actions: the session's own (Login ... UserEvent) ---- */

#include "amisim.h"

static int
authenticate(struct client *c)
{
	const char *name = hdr_get(c, "Username"), *key;
	struct user *u = NULL;
	char buf[512], md[33];
	size_t i;
	int mask;

	if (*name == '\0')
		return -1;
	for (i = 0; i < nusers; i++)
		if (strcasecmp(users[i].name, name) == 0)
			u = &users[i];
	if (u == NULL) {
		security_event(c, SEC_BADUSER, name, NULL, NULL);
		return -1;
	}
	if (f_refuse && c->conn == 1) {
		security_event(c, SEC_BADPASS, name, NULL, NULL);
		return -1;
	}
	if (strcasecmp(hdr_get(c, "AuthType"), "MD5") == 0) {
		key = hdr_get(c, "Key");
		if (*key == '\0' || c->challenge[0] == '\0')
			return -1;
		snprintf(buf, sizeof(buf), "%s%s", c->challenge, u->secret);
		ami_md5_hex(buf, strlen(buf), md);
		if (strcmp(md, key) != 0) {
			security_event(c, SEC_BADCHAL, name, key, md);
			return -1;
		}
	} else if (strcmp(hdr_get(c, "Secret"), u->secret) != 0) {
		security_event(c, SEC_BADPASS, name, NULL, NULL);
		return -1;
	}
	strlcpy(c->user, u->name, sizeof(c->user));
	c->readperm = u->readperm;
	c->writeperm = u->writeperm;
	gettimeofday(&c->start_tv, NULL);
	if ((mask = eventmask(hdr_get(c, "Events"))) >= 0)
		c->send_events = mask;
	return 0;
}

int
act_login(struct client *c)
{
	struct ami_msg m = { 0 };
	char n[24];
	long up;

	if (c->authed) {
		ack(c, "Already authenticated");
		return 0;
	}
	if (authenticate(c) != 0) {
		/* Asterisk sleeps 1 s in the session thread, then answers */
		struct ami_msg e = { 0 };

		resp_start(&e, c, "Error");
		ami_msg_adds(&e, "Message", "Authentication failed");
		ami_wire_put(&c->pending, &e);
		ami_msg_free(&e);
		c->block_until = ami_now_ms() + AUTHFAIL_MS;
		return -1;
	}
	c->authed = 1;
	ack(c, "Authentication accepted");
	if (c->conn == 1) {
		c->garbage_pending = f_garbage;
		c->noread = f_noread;
		if (f_stall >= 0) {
			c->stall_pending = 1;
			c->stall_ms = f_stall;
			c->mute = f_mute;
		}
	}
	if ((c->send_events & EV_SYSTEM) && (c->readperm & EV_SYSTEM) &&
	    phase == PH_UP) {
		up = (ami_now_ms() - start_ms) / 1000;
		event_start(&m, "FullyBooted", EV_SYSTEM);
		snprintf(n, sizeof(n), "%ld", up);
		ami_msg_adds(&m, "Uptime", n);
		ami_msg_adds(&m, "LastReload", n);
		ami_msg_adds(&m, "Status", "Fully Booted");
		send_msg(c, &m);
	}
	ami_msg_free(&m);
	security_event(c, SEC_OK, NULL, NULL, NULL);
	if (rp_count > 0) {
		c->replaying = 1;
		c->rp_left = rp_count;
		c->rp_idx = 0;
	}
	return 0;
}

int
act_challenge(struct client *c)
{
	struct ami_msg m = { 0 };

	if (f_nochallenge && c->conn == 1) {
		error(c, "Permission denied");
		return 0;
	}
	if (strcasecmp(hdr_get(c, "AuthType"), "MD5") != 0) {
		error(c, "Must specify AuthType");
		return 0;
	}
	if (c->challenge[0] == '\0')
		snprintf(c->challenge, sizeof(c->challenge), "%ld",
		    (long)(arc4random() & 0x7fffffff));
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Challenge", c->challenge);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

int
act_logoff(struct client *c)
{
	respond(c, "Goodbye", "Thanks for all the fish.");
	return -1;
}

int
act_ping(struct client *c)
{
	struct ami_msg m = { 0 };
	struct timeval tv;
	char ts[48];

	gettimeofday(&tv, NULL);
	snprintf(ts, sizeof(ts), "%ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Ping", "Pong");
	ami_msg_adds(&m, "Timestamp", ts);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

int
act_events(struct client *c)
{
	struct ami_msg m = { 0 };
	int res = eventmask(hdr_get(c, "EventMask"));

	if (res < 0) {
		error(c, "Invalid event mask");
		return 0;
	}
	c->send_events = res;
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Events", res > 0 ? "On" : "Off");
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

int
act_filter(struct client *c)
{
	const char *f = hdr_get(c, "Filter");
	struct filter *nf;
	int exclude = 0;

	if (strcasecmp(hdr_get(c, "Operation"), "Add") != 0) {
		error(c, "Unknown operation");
		return 0;
	}
	if (*f == '!') {
		exclude = 1;
		f++;
	}
	if (*f == '\0') {
		error(c, "Filter was formatted incorrectly.  Check the syntax "
		    "of the filter given.");
		return 0;
	}
	if ((nf = reallocarray(c->filters, c->nfilters + 1, sizeof(*nf))) == NULL)
		err(2, "reallocarray");
	c->filters = nf;
	if (regcomp(&nf[c->nfilters].re, f, REG_EXTENDED | REG_NOSUB) != 0) {
		error(c, "Filter did not compile.  Check the syntax of the "
		    "filter given.");
		return 0;
	}
	nf[c->nfilters++].exclude = exclude;
	ack(c, "Success");
	return 0;
}

int
act_userevent(struct client *c)
{
	struct ami_buf b = { 0 };
	int i;

	ack(c, "Event Sent");
	bufprintf(&b, "Event: UserEvent\r\nPrivilege: user,all\r\n"
	    "UserEvent: %s\r\n", hdr_get(c, "UserEvent"));
	/* the action's own header lines, as they came */
	for (i = 0; i < c->nhdr; i++)
		if (strncasecmp(c->hdr[i], "UserEvent:", 10) != 0 &&
		    strncasecmp(c->hdr[i], "Action:", 7) != 0)
			bufprintf(&b, "%s\r\n", c->hdr[i]);
	ami_buf_add(&b, "\r\n", 2);
	publish(EV_USER, b.p, b.len);
	ami_buf_free(&b);
	return 0;
}
