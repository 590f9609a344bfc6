/*
 * sip.c: the NOTIFY a presence server sends in a message-summary dialog
 * (RFC 3265, body RFC 3842), and the few parts of a response a UDP client
 * transaction needs.  Every value comes from a database row or an AMI
 * event: one holding CR, LF or NUL would forge headers, so the whole
 * request is refused instead.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ami.h"

static void
addf(struct ami_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
addf(struct ami_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ami_buf_grow(b, n + 1);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

int
ami_sip_notify(struct ami_buf *b, const struct ami_sip_notify *n,
    char *err, size_t errlen)
{
	const struct { const char *v, *name; } f[] = {
		{ n->ruri, "contact" }, { n->route, "record_route" },
		{ n->from_user, "to_user" }, { n->from_domain, "to_domain" },
		{ n->from_tag, "to_tag" }, { n->to_user, "watcher_username" },
		{ n->to_domain, "watcher_domain" }, { n->to_tag, "from_tag" },
		{ n->callid, "callid" }, { n->contact, "local_contact" },
		{ n->event_id, "event_id" }, { n->via_host, "local address" },
		{ n->branch, "branch" }, { n->user_agent, "User-Agent" },
		{ n->account, "Message-Account" },
	};
	char body[512];
	size_t i;
	int bl;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].v[strcspn(f[i].v, "\r\n")] != '\0') {
			snprintf(err, errlen, "%s holds CR or LF; refused",
			    f[i].name);
			return -1;
		}
	if (*n->ruri == '\0' || *n->callid == '\0' || *n->from_tag == '\0' ||
	    *n->to_tag == '\0') {
		snprintf(err, errlen, "row without contact, callid or tags; refused");
		return -1;
	}
	bl = snprintf(body, sizeof(body),
	    "Messages-Waiting: %s\r\nMessage-Account: %s\r\n"
	    "Voice-Message: %d/%d (0/0)\r\n",
	    n->new_msgs > 0 ? "yes" : "no", n->account, n->new_msgs, n->old_msgs);
	if (bl < 0 || (size_t)bl >= sizeof(body)) {
		snprintf(err, errlen, "Message-Account too long; refused");
		return -1;
	}
	addf(b, "NOTIFY %s SIP/2.0\r\n", n->ruri);
	addf(b, "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n", n->via_host,
	    n->via_port, n->branch);
	/* record_route is stored as the Record-Route set, already in the
	 * order a UAS (the proxy's presence server) uses it as its Route */
	if (*n->route != '\0')
		addf(b, "Route: %s\r\n", n->route);
	ami_buf_adds(b, "Max-Forwards: 70\r\n");
	addf(b, "From: <sip:%s@%s>;tag=%s\r\n", n->from_user, n->from_domain,
	    n->from_tag);
	addf(b, "To: <sip:%s@%s>;tag=%s\r\n", n->to_user, n->to_domain, n->to_tag);
	addf(b, "Call-ID: %s\r\n", n->callid);
	addf(b, "CSeq: %lu NOTIFY\r\n", n->cseq);
	/* a name-addr: a bare URI gets the angle brackets it needs before
	 * header parameters may follow */
	if (*n->contact != '\0')
		addf(b, strchr(n->contact, '<') != NULL ? "Contact: %s\r\n" :
		    "Contact: <%s>\r\n", n->contact);
	if (*n->event_id != '\0')
		addf(b, "Event: message-summary;id=%s\r\n", n->event_id);
	else
		ami_buf_adds(b, "Event: message-summary\r\n");
	addf(b, "Subscription-State: active;expires=%ld\r\n",
	    n->expires > 0 ? n->expires : 0);
	if (*n->user_agent != '\0')
		addf(b, "User-Agent: %s\r\n", n->user_agent);
	ami_buf_adds(b, "Content-Type: application/simple-message-summary\r\n");
	addf(b, "Content-Length: %d\r\n\r\n", bl);
	ami_buf_add(b, body, bl);
	return 0;
}

/* the value of the first header named long or short (compact form) */
static const char *
header(const char *p, const char *end, const char *lng, const char *shrt,
    size_t *len)
{
	const char *eol, *c;
	size_t nl;

	while (p < end) {
		if ((eol = memchr(p, '\n', end - p)) == NULL)
			eol = end;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			return NULL;            /* end of the headers */
		if ((c = memchr(p, ':', eol - p)) != NULL) {
			nl = c - p;
			while (nl > 0 && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
				nl--;
			if ((nl == strlen(lng) && strncasecmp(p, lng, nl) == 0) ||
			    (nl == strlen(shrt) && strncasecmp(p, shrt, nl) == 0)) {
				c++;
				while (c < eol && (*c == ' ' || *c == '\t'))
					c++;
				*len = eol - c;
				if (*len > 0 && c[*len - 1] == '\r')
					(*len)--;
				return c;
			}
		}
		p = eol + 1;
	}
	return NULL;
}

/* a byte of an RFC 3261 token, what a branch is made of */
static int
token(char c)
{
	return isalnum((unsigned char)c) || memchr("-.!%*_+`'~", c, 10) != NULL;
}

int
ami_sip_response(const char *m, size_t len, struct ami_sip_resp *r)
{
	const char *end = m + len, *p, *v, *eol, *e;
	size_t vl, i;

	memset(r, 0, sizeof(*r));
	if (len < 12 || memcmp(m, "SIP/2.0 ", 8) != 0)
		return -1;
	for (p = m + 8; p < end && *p >= '0' && *p <= '9' && p < m + 11; p++)
		r->status = r->status * 10 + (*p - '0');
	if (p != m + 11 || r->status < 100)
		return -1;
	if ((eol = memchr(p, '\n', end - p)) == NULL)
		return -1;
	r->reason = p + (*p == ' ');
	r->reasonl = eol - r->reason;
	if (r->reasonl > 0 && r->reason[r->reasonl - 1] == '\r')
		r->reasonl--;
	if ((v = header(eol + 1, end, "Via", "v", &vl)) == NULL)
		return -1;
	/* the top Via: the first of a comma-separated list, too */
	for (i = 0; i + 8 <= vl; i++) {
		if (v[i] == ',')
			break;
		if (v[i] == ';' && strncasecmp(v + i + 1, "branch=", 7) == 0) {
			r->branch = v + i + 8;
			for (r->branchl = 0; r->branch + r->branchl < v + vl &&
			    token(r->branch[r->branchl]); r->branchl++)
				;
			/* what ends it must end a parameter, or the Via is bad */
			e = r->branch + r->branchl;
			return r->branchl > 0 && (e == v + vl ||
			    memchr(";, \t", *e, 4) != NULL) ? 0 : -1;
		}
	}
	return -1;
}
