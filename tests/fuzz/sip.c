/*
 * sip: mwinotify's SIP code on any bytes.  The response parser: what it
 * finds lies inside the message, a status of three digits, a branch of
 * token bytes.  The NOTIFY writer, on fields cut from the same bytes at
 * '|': one holding CR or LF refuses the request and writes nothing;
 * otherwise each line of what is written ends in CRLF, the headers are
 * the ones the fields ask for, no more, and Content-Length is the body's.
 */
#include <ctype.h>

#include "common.h"

#define NFIELDS 15

static void
response(const char *m, size_t len)
{
	struct ami_sip_resp r;
	size_t i;

	if (ami_sip_response(m, len, &r) < 0)
		return;
	if (r.status < 100 || r.status > 999 ||
	    !inside(r.reason, r.reasonl, m, len) ||
	    memchr(r.reason, '\n', r.reasonl) != NULL ||
	    r.branchl == 0 || !inside(r.branch, r.branchl, m, len))
		abort();
	/* RFC 3261 token bytes */
	for (i = 0; i < r.branchl; i++)
		if (!isalnum((unsigned char)r.branch[i]) &&
		    memchr("-.!%*_+`'~", r.branch[i], 10) == NULL)
			abort();
}

/* lines of s..e that end in CRLF, none empty; -1 when one is not */
static int
lines(const char *s, const char *e)
{
	const char *nl;
	int n = 0;

	for (; s < e; s = nl + 1, n++)
		if ((nl = memchr(s, '\n', e - s)) == NULL || nl - s < 2 ||
		    nl[-1] != '\r' || memchr(s, '\r', nl - 1 - s) != NULL)
			return -1;
	return n;
}

static void
notify(const char *f[NFIELDS], size_t size)
{
	struct ami_sip_notify n = {
		.ruri = f[0], .route = f[1], .from_user = f[2],
		.from_domain = f[3], .from_tag = f[4], .to_user = f[5],
		.to_domain = f[6], .to_tag = f[7], .callid = f[8],
		.contact = f[9], .event_id = f[10], .via_host = f[11],
		.branch = f[12], .user_agent = f[13], .account = f[14],
		.cseq = size, .expires = 3600 - (long)size, .via_port = 5060,
		.new_msgs = size % 3, .old_msgs = size % 5,
	};
	struct ami_buf b = { 0 };
	const char *body, *cl;
	char err[200];
	int i, crlf = 0, want;

	for (i = 0; i < NFIELDS; i++)
		crlf |= f[i][strcspn(f[i], "\r\n")] != '\0';
	if (ami_sip_notify(&b, &n, err, sizeof(err)) < 0) {
		said(err, sizeof(err));
		if (b.len != 0)
			abort();
		return;
	}
	if (crlf)
		abort();
	ami_buf_addc(&b, '\0');
	b.len--;
	want = 11 + (*n.route != '\0') + (*n.contact != '\0') +
	    (*n.user_agent != '\0');
	if ((body = strstr(b.p, "\r\n\r\n")) == NULL ||
	    lines(b.p, body + 2) != want || lines(body + 4, b.p + b.len) < 0 ||
	    (cl = strstr(b.p, "\r\nContent-Length: ")) == NULL ||
	    strtol(cl + 18, NULL, 10) != b.p + b.len - (body + 4))
		abort();
	ami_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *f[NFIELDS];
	char *s, *p;
	int i;

	response((const char *)data, size);
	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0, p = s; i < NFIELDS; i++) {
		f[i] = p;
		if ((p = strchr(p, '|')) != NULL)
			*p++ = '\0';
		else
			p = "";
	}
	notify(f, size);
	free(s);
	return 0;
}
