/*
 * peerlist: the SIP peer inventory, from Asterisk's own lists and events
 * into the MySQL employee table (-d) or a map file (-m).
 *
 * Reads AMI messages on stdin (one-line, wire blocks or JSON): chan_sip
 * PeerEntry items and SIPshowpeer answers; PJSIP EndpointList,
 * EndpointDetail, AorDetail, ContactList and ContactStatusDetail items;
 * PeerStatus and ContactStatus events.  Status words are mapped to one
 * set (statuses[]).  A message tells what it knows of one peer and
 * nothing of any other: a field it does not carry, or carries empty, is
 * left as it was, never taken from the message before.  Changes are
 * written when the input pauses (or has flowed for a second) and no list
 * is half read, and at its end; each write is one transaction, or one
 * atomic replace of the map, and touches only what differs.  Nothing is
 * deleted without -p, and -p needs every list whole.  While the database
 * or the map cannot be written, changes wait in memory, one record per
 * peer, input goes on being read, and the write is tried again with
 * backoff; at the end of the input it is written at once or the exit
 * status is 2 with nothing half-written.
 */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ami.h"

#define CHUNK      500      /* rows per statement */
#define FLUSH_MS   1000     /* a stream that never pauses is written this often */
#define LIST_MS    10000    /* a list this long without an item has lost its end */
#define MAXLISTS   16
#define MAXDEPTH   16       /* #include nesting in extensions.conf */
#define RANK_URI   1        /* an IP taken from a contact URI's host ... */
#define RANK_ADDR  2        /* ... gives way to the address the packets came from */

enum { DESC, CALLERID, PHONE, IP, INCOMING, STATUS, NF };
static const char *const label[NF] = {
	"Description", "CallerID", "Phone", "IP", "Incoming", "Status"
};
static const unsigned width[NF] = { 255, 80, 255, 255, 1000, 32 };
#define COLUMNS "peer, description, callerid, phone, ip, incoming, status"
#define MAPFIELDS (1u << DESC | 1u << IP)

static const char *Dflag, *dflag, *mflag, *xflag;
static int nflag, pflag, vflag;

struct peer {
	char   *name;
	char   *v[NF];          /* said since the last write; NULL: not said */
	int     iprank;
	int     pending, added, changed;
	int     isnew, diff;    /* in the write under way: no row yet, a change */
};

/* a peer as the table or the map has it */
struct row {
	char   *name;
	char   *v[NF];          /* NULL: not stored (the map keeps two fields) */
	size_t  ent;            /* the map's entry */
	int     owned;          /* strings are ours (from the database) */
};

/* -X: the numbers whose Dial() rings a peer */
struct inc {
	char *name;
	struct ami_buf nums;    /* "n1,n2", in the order of the file */
};

struct list {
	char   *key;            /* its ActionID, "" when the input has none */
	unsigned long items;
};

static struct ami_tab peers, incoming;
static struct peer **pending;
static size_t npending, cappending, nseen;
static int64_t pending_since, retry_at, list_at;
static unsigned mask = ~0u;
static struct list lists[MAXLISTS];
static int nlists, wholelists, brokenlists, loose;
static unsigned long added, changed, notseen, pruned;
static int failures;
static struct ami_db *db;
static char why[600];
static int retryable;
static volatile sig_atomic_t stop;

static void
usage(void)
{
	fprintf(stderr, "usage: peerlist [-hNpVv] [-D mycnf] [-X extensions.conf] "
	    "-d group | -m mapfile\n");
	exit(2);
}


static int
same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* bytes of the valid UTF-8 sequence at s, 0 when it is not one */
static size_t
utf8len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;      /* no UTF-16 surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A value as it is stored: valid UTF-8 (a stray byte becomes U+FFFD),
 * control bytes as spaces, no blanks around it, at most max characters.
 * The map and the table then read back exactly what was compared.
 */
static char *
sanitize(const char *s, size_t n, unsigned max)
{
	struct ami_buf b = { 0 };
	size_t i = 0, l;
	unsigned chars = 0;
	unsigned char c;

	while (i < n && ((unsigned char)s[i] <= ' ' || s[i] == 0x7f))
		i++;
	for (; i < n && chars < max; chars++) {
		c = s[i];
		if (c < 0x80) {
			ami_buf_addc(&b, c < ' ' || c == 0x7f ? ' ' : c);
			i++;
		} else if ((l = utf8len((const unsigned char *)s + i, n - i)) == 0) {
			ami_buf_add(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			ami_buf_add(&b, s + i, l);
			i += l;
		}
	}
	while (b.len > 0 && b.p[b.len - 1] == ' ')
		b.len--;
	ami_buf_addc(&b, '\0');
	return b.p;
}

/* ---- what the input says ---- */

/* a header's value; p is NULL when the message has no such header */
struct val {
	const char *p;
	size_t n;
};

static struct val
get(const struct ami_msg *m, const char *key)
{
	struct val v;

	v.p = ami_msg_get(m, key, &v.n);
	if (v.p == NULL)
		v.n = 0;
	return v;
}

static struct val
part(const char *p, size_t n)
{
	return (struct val){ p, n };
}

static int
eq(struct val v, const char *s)
{
	return v.p != NULL && v.n == strlen(s) && strncasecmp(v.p, s, v.n) == 0;
}

static struct peer *
peer_pending(struct val name, unsigned long line)
{
	struct peer *p;

	/* the peers dndparse and dndctl take: a line of the map that one of
	 * them would skip is never written */
	if (!ami_dnd_peer(name.p, name.n)) {
		char vis[120];
		warnx("line %lu: peer name %s is not 1 to %d of A-Z a-z 0-9 "
		    "_ . + @ -; skipped", line,
		    ami_visible(vis, sizeof(vis), name.p, name.n), AMI_PEER_MAX);
		return NULL;
	}
	if ((p = ami_tab_get(&peers, name.p, name.n)) == NULL) {
		p = ami_xcalloc(1, sizeof(*p));
		p->name = ami_xstrndup(name.p, name.n);
		ami_tab_put(&peers, p);
		nseen++;
	}
	if (!p->pending) {
		if (npending == cappending) {
			cappending = cappending ? 2 * cappending : 256;
			pending = ami_xreallocarray(pending, cappending,
			    sizeof(*pending));
		}
		if (npending == 0)
			pending_since = ami_now_ms();
		pending[npending++] = p;
		p->pending = 1;
	}
	if (xflag != NULL && p->v[INCOMING] == NULL) {
		struct inc *in = ami_tab_get(&incoming, p->name, strlen(p->name));
		/* known even when empty: no number dials this peer any more */
		p->v[INCOMING] = in ? sanitize(in->nums.p, in->nums.len,
		    width[INCOMING]) : sanitize("", 0, 0);
	}
	return p;
}

/* field f of p is v; an empty value is not known, so it changes nothing */
static void
set_field(struct peer *p, int f, struct val v, int rank)
{
	char *c;

	if (v.p == NULL)
		return;
	if ((c = sanitize(v.p, v.n, width[f]))[0] == '\0') {
		free(c);
		return;
	}
	if (f == IP) {
		/* a host is a word; the map could not hold anything else */
		if (strchr(c, ' ') != NULL || c[0] == '#' ||
		    (p->v[IP] != NULL && rank < p->iprank)) {
			free(c);
			return;
		}
		p->iprank = rank;
	}
	free(p->v[f]);
	p->v[f] = c;
}

/*
 * One status word whatever the source, so that a list from cron and the
 * live events that follow it agree on a peer that did not change.
 * peerlist(1) has the table.  NULL: the word says nothing of whether the
 * peer can be reached (a contact created, updated or removed: the
 * endpoint's PeerStatus follows; a REGISTER refused: the registration
 * before it may still hold).
 */
static const struct {
	const char *word, *status;
} statuses[] = {
	{ "Reachable",    "Reachable" },    /* PJSIP; chan_sip PeerStatus */
	{ "NonQualified", "Reachable" },    /* a PJSIP contact, qualify off */
	{ "Registered",   "Reachable" },    /* chan_sip PeerStatus */
	{ "OK",           "Reachable" },    /* SIPpeers: "OK (1 ms)" */
	{ "Unmonitored",  "Reachable" },    /* SIPpeers: qualify off */
	{ "Lagged",       "Lagged" },       /* chan_sip: "LAGGED (250 ms)" */
	{ "Unreachable",  "Unreachable" },  /* SIPpeers: "UNREACHABLE" */
	{ "Unregistered", "Unreachable" },  /* chan_sip; PJSIP says Unreachable */
	{ "Unknown",      "Unknown" },      /* not qualified yet */
	{ "Created",      NULL },
	{ "Updated",      NULL },
	{ "Removed",      NULL },
	{ "Rejected",     NULL },
};

/* v in the words above; "OK (1 ms)" is OK: the round trip is no change */
static void
set_status(struct peer *p, struct val v)
{
	const char *paren;
	size_t i;

	if (v.p != NULL && (paren = memmem(v.p, v.n, " (", 2)) != NULL)
		v.n = paren - v.p;
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (eq(v, statuses[i].word)) {
			if (statuses[i].status != NULL)
				set_field(p, STATUS, part(statuses[i].status,
				    strlen(statuses[i].status)), 0);
			return;
		}
	set_field(p, STATUS, v, 0);   /* a word this table does not know yet */
}

/* no contact at all: a PJSIP endpoint's PeerStatus says Unreachable */
static void
set_nocontact(struct peer *p)
{
	set_status(p, part("Unregistered", 12));
}

/* the host of "ip:port", "[v6]:port", a bare v4 or v6 address */
static void
set_addr(struct peer *p, struct val v)
{
	const char *c;

	if (v.n == 0)
		return;
	if (v.p[0] == '[' && (c = memchr(v.p, ']', v.n)) != NULL)
		v = part(v.p + 1, c - v.p - 1);
	else if ((c = memchr(v.p, ':', v.n)) != NULL &&
	    memchr(c + 1, ':', v.n - (c + 1 - v.p)) == NULL)
		v.n = c - v.p;
	set_field(p, IP, v, RANK_ADDR);
}

/* the host of a SIP URI: sip:user@host:port;params, <...> allowed */
static void
say_uri(struct peer *p, struct val v)
{
	const char *end = v.p + v.n, *h, *at, *e;

	if (v.n == 0)
		return;
	if ((h = memchr(v.p, ':', v.n)) == NULL)
		return;
	h++;
	for (e = h; e < end && *e != ';' && *e != '?' && *e != '>'; e++)
		;
	if ((at = memrchr(h, '@', e - h)) != NULL)
		h = at + 1;
	if (h < e && *h == '[') {
		if ((at = memchr(h, ']', e - h)) != NULL)
			set_field(p, IP, part(h + 1, at - h - 1), RANK_URI);
		return;
	}
	if ((at = memchr(h, ':', e - h)) != NULL)
		e = at;
	set_field(p, IP, part(h, e - h), RANK_URI);
}

/* "Name" <number>, <number>, or a bare name or number */
static void
say_callerid(struct peer *p, struct val v, int withname)
{
	const char *lt;
	struct val name = v;

	if (v.n == 0)
		return;
	if (v.p[v.n - 1] == '>' && (lt = memrchr(v.p, '<', v.n)) != NULL) {
		set_field(p, CALLERID, part(lt + 1, v.p + v.n - 2 - lt), 0);
		name.n = lt - v.p;
		while (name.n > 0 && name.p[name.n - 1] == ' ')
			name.n--;
	} else if (strspn(v.p, "0123456789+*#") >= v.n) {
		set_field(p, CALLERID, v, 0);
		name.n = 0;
	}
	if (name.n >= 2 && name.p[0] == '"' && name.p[name.n - 1] == '"')
		name = part(name.p + 1, name.n - 2);
	if (withname)
		set_field(p, DESC, name, 0);
}

/* chan_sip: SIPpeers' PeerEntry, and the answer to SIPshowpeer */
static void
sip_peer(const struct ami_msg *m, unsigned long line, int showpeer)
{
	struct peer *p;
	struct val ip;

	if ((p = peer_pending(get(m, "ObjectName"), line)) == NULL)
		return;
	set_field(p, DESC, get(m, "Description"), 0);
	set_status(p, get(m, "Status"));
	ip = get(m, showpeer ? "Address-IP" : "IPaddress");
	if (ip.n == 0 || eq(ip, "-none-") || eq(ip, "(null)"))
		set_nocontact(p);
	else
		set_addr(p, ip);
	if (showpeer) {
		say_callerid(p, get(m, "Callerid"), 0);
		set_field(p, PHONE, get(m, "SIP-Useragent"), 0);
	}
}

static void
endpoint_list(const struct ami_msg *m, unsigned long line)
{
	struct peer *p;
	struct val c;
	const char *slash, *comma;

	if ((p = peer_pending(get(m, "ObjectName"), line)) == NULL)
		return;
	/* "aor/uri,aor/uri,": the first contact */
	if ((c = get(m, "Contacts")).n == 0) {
		set_nocontact(p);
		return;
	}
	if ((comma = memchr(c.p, ',', c.n)) != NULL)
		c.n = comma - c.p;
	if ((slash = memchr(c.p, '/', c.n)) != NULL)
		say_uri(p, part(slash + 1, c.p + c.n - slash - 1));
}

static void
endpoint_detail(const struct ami_msg *m, unsigned long line)
{
	struct peer *p;

	if ((p = peer_pending(get(m, "ObjectName"), line)) == NULL)
		return;
	say_callerid(p, get(m, "Callerid"), 1);
}

/* AorDetail (PJSIPShowEndpoint): an AOR without a contact */
static void
aor_detail(const struct ami_msg *m, unsigned long line)
{
	struct peer *p;
	struct val name = get(m, "EndpointName");

	if (name.n == 0)
		name = get(m, "ObjectName");
	if (get(m, "Contacts").n > 0 || (p = peer_pending(name, line)) == NULL)
		return;
	set_nocontact(p);
}

/* ContactList, ContactStatusDetail: one contact of an endpoint */
static void
contact(const struct ami_msg *m, unsigned long line, int detail)
{
	struct peer *p;
	struct val name;
	const char *semi;

	name = get(m, detail ? "EndpointName" : "Endpoint");
	if (name.n == 0)
		name = get(m, "AOR");
	if (name.n == 0 && (name = get(m, "ObjectName")).p != NULL &&
	    (semi = memchr(name.p, ';', name.n)) != NULL)
		name.n = semi - name.p;         /* "aor;@hash" */
	if ((p = peer_pending(name, line)) == NULL)
		return;
	set_field(p, PHONE, get(m, "UserAgent"), 0);
	set_status(p, get(m, "Status"));
	say_uri(p, get(m, detail ? "URI" : "Uri"));
	set_addr(p, get(m, detail ? "ViaAddress" : "ViaAddr"));
}

static void
peer_status(const struct ami_msg *m, unsigned long line)
{
	struct peer *p;
	struct val name = get(m, "Peer");
	const char *slash;

	if (name.p != NULL && (slash = memchr(name.p, '/', name.n)) != NULL)
		name = part(slash + 1, name.n - (slash + 1 - name.p));
	if ((p = peer_pending(name, line)) == NULL)
		return;
	set_status(p, get(m, "PeerStatus"));
	set_addr(p, get(m, "Address"));
}

static void
contact_status(const struct ami_msg *m, unsigned long line)
{
	struct peer *p;
	struct val name, st = get(m, "ContactStatus");

	/* a contact removed says nothing of the endpoint, which PeerStatus
	 * reports; with remove_existing it follows the new contact's Created */
	if (eq(st, "Removed"))
		return;
	if ((name = get(m, "EndpointName")).n == 0)
		name = get(m, "AOR");
	if ((p = peer_pending(name, line)) == NULL)
		return;
	set_status(p, st);
	set_field(p, PHONE, get(m, "UserAgent"), 0);
	say_uri(p, get(m, "URI"));
}

/* ---- lists: whole or not, for -p and for when to write ---- */

static struct list *
list_find(struct val id)
{
	int i;

	for (i = 0; i < nlists; i++)
		if (strlen(lists[i].key) == id.n &&
		    (id.n == 0 || memcmp(lists[i].key, id.p, id.n) == 0))
			return &lists[i];
	return NULL;
}

static void
list_close(struct list *l)
{
	free(l->key);
	*l = lists[--nlists];
}

/* a list starts (a response) or ends (its Complete event) */
static void
list_event(const struct ami_msg *m, unsigned long line)
{
	struct val id = get(m, "ActionID"), items = get(m, "ListItems");
	struct list *l = list_find(id);
	const char *errstr;
	char num[32];
	long long want;

	if (ami_msg_get(m, "Event", NULL) == NULL) {
		if (l != NULL) {
			warnx("line %lu: a list starts again before its end", line);
			brokenlists++;
			l->items = 0;
		} else if (nlists == MAXLISTS) {
			warnx("line %lu: over %d lists open at once", line, MAXLISTS);
			brokenlists++;
		} else {
			lists[nlists].key = ami_xstrndup(id.p ? id.p : "", id.n);
			lists[nlists++].items = 0;
			list_at = ami_now_ms();
		}
		return;
	}
	snprintf(num, sizeof(num), "%.*s", (int)(items.n < 31 ? items.n : 31),
	    items.p ? items.p : "");
	want = strtonum(num, 0, LONG_MAX, &errstr);
	if (l == NULL) {
		warnx("line %lu: the end of a list whose start is not in the "
		    "input", line);
		brokenlists++;
		return;
	}
	if (errstr != NULL || (unsigned long)want != l->items) {
		char vis[40];
		warnx("line %lu: the list has %lu items, its end says %s",
		    line, l->items, ami_visible(vis, sizeof(vis), items.p, items.n));
		brokenlists++;
	} else
		wholelists++;
	list_close(l);
}

/* one message of the input */
static void
handle(const struct ami_msg *m, unsigned long line)
{
	struct val ev = get(m, "Event");
	struct list *l;
	int item = 0;

	if (ev.p == NULL) {
		if (!ami_msg_is(m, "Response", "Success"))
			return;
		if (ami_msg_is(m, "EventList", "start"))
			list_event(m, line);
		else if (ami_msg_is(m, "ChanObjectType", "peer") &&
		    ami_msg_get(m, "Channeltype", NULL) != NULL)
			sip_peer(m, line, 1);
		return;
	}
	if (ami_msg_is(m, "EventList", "Complete")) {
		list_event(m, line);
		return;
	}
	/* a list's items carry its ActionID and no Privilege */
	if (ami_msg_get(m, "Privilege", NULL) == NULL &&
	    (l = list_find(get(m, "ActionID"))) != NULL) {
		l->items++;
		item = 1;
		list_at = ami_now_ms();
	}
	if (eq(ev, "PeerStatus"))
		peer_status(m, line);
	else if (eq(ev, "ContactStatus"))
		contact_status(m, line);
	else {
		if (eq(ev, "PeerEntry"))
			sip_peer(m, line, 0);
		else if (eq(ev, "EndpointList"))
			endpoint_list(m, line);
		else if (eq(ev, "EndpointDetail"))
			endpoint_detail(m, line);
		else if (eq(ev, "AorDetail"))
			aor_detail(m, line);
		else if (eq(ev, "ContactList"))
			contact(m, line, 0);
		else if (eq(ev, "ContactStatusDetail"))
			contact(m, line, 1);
		else
			return;
		/* -p trusts only lists read whole */
		if (!item)
			loose++;
	}
}

/* ---- extensions.conf: which numbers Dial() which peer ---- */

static void
inc_free(void *p)
{
	struct inc *i = p;

	free(i->name);
	ami_buf_free(&i->nums);
	free(i);
}

static int
number(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789+*#") == strlen(s);
}

static void
dials(const char *num, char *app)
{
	char *args, *end, *t, *res, *save = NULL;
	struct inc *in;
	size_t rl, nl = strlen(num);
	const char *p;

	app += strspn(app, " \t");
	if (strncasecmp(app, "Dial", 4) != 0)
		return;
	args = app + 4 + strspn(app + 4, " \t");
	if (*args++ != '(')
		return;
	/* the first argument: the targets, TECH/resource joined by & */
	args[strcspn(args, ",)")] = '\0';
	for (t = strtok_r(args, "&", &save); t != NULL;
	    t = strtok_r(NULL, "&", &save)) {
		if ((res = strchr(t, '/')) == NULL || strchr(t, '$') != NULL)
			continue;
		res++;
		rl = strcspn(res, "/@ \t");
		if (rl == 0)
			continue;
		res[rl] = '\0';
		if ((in = ami_tab_get(&incoming, res, strlen(res))) == NULL) {
			in = ami_xcalloc(1, sizeof(*in));
			in->name = ami_xstrndup(res, rl);
			ami_tab_put(&incoming, in);
		}
		for (p = in->nums.p, end = in->nums.p + in->nums.len;
		    p != NULL && p < end; p += strcspn(p, ",") + 1)
			if ((size_t)(end - p) >= nl && strncmp(p, num, nl) == 0 &&
			    (p + nl == end || p[nl] == ','))
				break;
		if (p != NULL && p < end)
			continue;
		if (in->nums.len > 0)
			ami_buf_addc(&in->nums, ',');
		ami_buf_add(&in->nums, num, nl);
		ami_buf_grow(&in->nums, 1);
		in->nums.p[in->nums.len] = '\0';
	}
}

static void
readext(const char *path, const char *dir, int depth, int must)
{
	char *line = NULL, *s, *eq, *key, *val, *c, *inc, cur[128] = "";
	size_t cap = 0;
	FILE *fp;

	if (depth > MAXDEPTH)
		errx(2, "%s: #include nested over %d deep", path, MAXDEPTH);
	if ((fp = fopen(path, "r")) == NULL) {
		if (!must && errno == ENOENT)
			return;
		err(2, "%s", path);
	}
	while (getline(&line, &cap, fp) != -1) {
		/* a comment runs from an unescaped ';' */
		for (c = line; (c = strchr(c, ';')) != NULL; c++)
			if (c == line || c[-1] != '\\') {
				*c = '\0';
				break;
			}
		s = ami_trim(line);
		if (strncmp(s, "#include", 8) == 0 || strncmp(s, "#tryinclude", 11) == 0) {
			inc = ami_trim(s + (s[1] == 'i' ? 8 : 11));
			if (*inc == '"' || *inc == '<') {
				inc++;
				inc[strcspn(inc, "\">")] = '\0';
			}
			if (*inc == '/')
				readext(inc, dir, depth + 1, s[1] == 'i');
			else {
				char rel[PATH_MAX];
				snprintf(rel, sizeof(rel), "%s/%s", dir, inc);
				readext(rel, dir, depth + 1, s[1] == 'i');
			}
			continue;
		}
		if (*s == '[') {
			cur[0] = '\0';
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		key = ami_trim(s);
		val = eq + 1 + (eq[1] == '>');
		if (strcasecmp(key, "exten") == 0) {
			/* NUMBER[/callerid],PRIORITY,App(args) */
			val = ami_trim(val);
			if ((c = strchr(val, ',')) == NULL)
				continue;
			*c = '\0';
			val[strcspn(val, "/")] = '\0';
			strlcpy(cur, ami_trim(val), sizeof(cur));
			val = c + 1;
		} else if (strcasecmp(key, "same") != 0 || cur[0] == '\0')
			continue;
		if ((c = strchr(val, ',')) == NULL)
			continue;       /* a hint has a priority of "hint", no app */
		if (number(cur))
			dials(cur, c + 1);
	}
	if (ferror(fp))
		err(2, "%s", path);
	free(line);
	fclose(fp);
}

/* ---- writing ---- */

static void
row_free(void *p)
{
	struct row *r = p;
	int f;

	if (r->owned) {
		free(r->name);
		for (f = 0; f < NF; f++)
			free(r->v[f]);
	}
	free(r);
}

/* what p makes of old (NULL: a new row) in out; 1 when it differs */
static int
merge(const struct peer *p, const struct row *old, const char *out[NF])
{
	int f, diff = old == NULL;

	for (f = 0; f < NF; f++) {
		const char *was = old ? old->v[f] : NULL;
		out[f] = (mask & 1u << f) && p->v[f] != NULL ? p->v[f] : was;
		if (old != NULL && !same(out[f], was))
			diff = 1;
	}
	return diff;
}

/* one line of -N / -v output, in the one-line AMI format */
static void
report(struct ami_buf *b, const char *what, const char *name,
    const struct row *old, const char *const nv[NF])
{
	struct ami_msg m = { 0 };
	char oldkey[32];
	int f;

	ami_msg_adds(&m, "Change", what);
	ami_msg_adds(&m, "Peer", name);
	for (f = 0; f < NF; f++) {
		if (!(mask & 1u << f))
			continue;
		if (old == NULL || nv == NULL) {
			const char *v = nv ? nv[f] : old->v[f];
			if (v != NULL && *v != '\0')
				ami_msg_adds(&m, label[f], v);
		} else if (!same(nv[f], old->v[f])) {
			ami_msg_adds(&m, label[f], nv[f] ? nv[f] : "");
			snprintf(oldkey, sizeof(oldkey), "Old%s", label[f]);
			ami_msg_adds(&m, oldkey, old->v[f] ? old->v[f] : "");
		}
	}
	ami_text_put(b, &m);
	ami_msg_free(&m);
}

/* the SQL for k rows: head, then k groups of "(?,...)" or "?", then tail */
static char *
sql_for(const char *head, unsigned k, const char *group, const char *tail)
{
	struct ami_buf b = { 0 };
	unsigned i;

	ami_buf_adds(&b, head);
	for (i = 0; i < k; i++) {
		if (i > 0)
			ami_buf_addc(&b, ',');
		ami_buf_adds(&b, group);
	}
	ami_buf_adds(&b, tail);
	ami_buf_addc(&b, '\0');
	return b.p;
}

static int
dbfail(struct ami_stmt *st)
{
	ami_stmt_free(st);
	return -1;
}

/* rows for the pending peers, or all of them, into t */
static int
load(struct ami_tab *t, int all)
{
	struct ami_stmt *st;
	const char *const *row;
	const char *params[CHUNK];
	char *sql;
	size_t i = 0, k;
	int rc, f;

	if (!all && npending == 0)
		return 0;
	do {
		k = all ? 0 : npending - i < CHUNK ? npending - i : CHUNK;
		/* the rows stay as read until COMMIT */
		sql = sql_for(all ? "SELECT " COLUMNS " FROM employee" :
		    "SELECT " COLUMNS " FROM employee WHERE peer IN (", k, "?",
		    all ? (nflag ? "" : " FOR UPDATE") :
		    (nflag ? ")" : ") FOR UPDATE"));
		st = ami_db_prepare(db, sql);
		free(sql);
		for (k = 0; !all && k < CHUNK && i < npending; k++)
			params[k] = pending[i++]->name;
		if (ami_stmt_exec(st, params, k) < 0)
			return dbfail(st);
		while ((rc = ami_stmt_fetch(st, &row)) == 1) {
			struct row *r;
			if (row[0] == NULL ||
			    ami_tab_get(t, row[0], strlen(row[0])) != NULL)
				continue;
			r = ami_xcalloc(1, sizeof(*r));
			r->name = ami_xstrdup(row[0]);
			r->owned = 1;
			for (f = 0; f < NF; f++)
				if (row[f + 1] != NULL)
					r->v[f] = ami_xstrdup(row[f + 1]);
			ami_tab_put(t, r);
		}
		if (rc < 0)
			return dbfail(st);
		ami_stmt_free(st);
	} while (!all && i < npending);
	return 0;
}

/* run sql for n items of params (per items), CHUNK items a statement */
static int
batch(const char *head, const char *group, const char *tail,
    const char **params, size_t n, unsigned per)
{
	struct ami_stmt *st = NULL;
	size_t i, k, lastk = 0;
	char *sql;

	for (i = 0; i < n; i += k) {
		k = n - i < CHUNK ? n - i : CHUNK;
		if (k != lastk) {
			ami_stmt_free(st);
			sql = sql_for(head, k, group, tail);
			st = ami_db_prepare(db, sql);
			free(sql);
			lastk = k;
		}
		if (ami_stmt_exec(st, params + i * per, k * per) < 0)
			return dbfail(st);
	}
	ami_stmt_free(st);
	return 0;
}

/* the pending changes are done (and, at the end, ngone peers found
 * gone): count them, forget what was said */
static void
settle(int final, size_t ngone)
{
	struct peer *p;
	size_t i;
	int f;

	for (i = 0; i < npending; i++) {
		p = pending[i];
		if (p->isnew && !p->changed)
			p->added = 1;
		else if (p->diff && !p->added)
			p->changed = 1;
		for (f = 0; f < NF; f++) {
			free(p->v[f]);
			p->v[f] = NULL;
		}
		p->iprank = 0;
		p->pending = 0;
	}
	npending = 0;
	if (final) {
		notseen = ngone;
		pruned = pflag && !stop ? ngone : 0;
	}
}

static void
count_final(const struct ami_tab *rows, const char ***gone, size_t *ngone)
{
	struct row *r;
	size_t i = 0;

	*ngone = 0;
	*gone = ami_xcalloc(rows->n + 1, sizeof(**gone));
	while ((r = ami_tab_each(rows, &i)) != NULL)
		if (ami_tab_get(&peers, r->name, strlen(r->name)) == NULL)
			(*gone)[(*ngone)++] = r->name;
}

static int
flush_db(int final, struct ami_buf *out)
{
	struct ami_tab rows = { 0 };
	const char **params = NULL, **gone = NULL, *nv[NF];
	size_t i, nw = 0, ngone = 0;
	int f, rc = -1;

	if (ami_db_connect(db) < 0 || (!nflag && ami_db_begin(db) < 0))
		goto out;
	if (load(&rows, final || npending > 4 * CHUNK) < 0)
		goto out;
	params = ami_xcalloc(npending * (NF + 1) + 1, sizeof(*params));
	for (i = 0; i < npending; i++) {
		struct peer *p = pending[i];
		struct row *old = ami_tab_get(&rows, p->name, strlen(p->name));
		p->isnew = old == NULL;
		if (!(p->diff = merge(p, old, nv)))
			continue;
		report(out, old ? "changed" : "added", p->name, old, nv);
		params[nw * (NF + 1)] = p->name;
		for (f = 0; f < NF; f++)
			params[nw * (NF + 1) + f + 1] = nv[f] ? nv[f] : "";
		nw++;
	}
	if (final)
		count_final(&rows, &gone, &ngone);
	if (final && pflag && !stop)
		for (i = 0; i < ngone; i++)
			report(out, "pruned", gone[i], ami_tab_get(&rows,
			    gone[i], strlen(gone[i])), NULL);
	if (nflag) {
		rc = 0;
		goto done;
	}
	if (batch("INSERT INTO employee (" COLUMNS ") VALUES ", "(?,?,?,?,?,?,?)",
	    " ON DUPLICATE KEY UPDATE description = VALUES(description),"
	    " callerid = VALUES(callerid), phone = VALUES(phone),"
	    " ip = VALUES(ip), incoming = VALUES(incoming),"
	    " status = VALUES(status)", params, nw, NF + 1) < 0 ||
	    (final && pflag && !stop && batch("DELETE FROM employee WHERE peer IN (",
	    "?", ")", gone, ngone, 1) < 0) ||
	    ami_db_commit(db) < 0)
		goto out;
	rc = 0;
done:
	settle(final, ngone);
out:
	if (rc < 0) {
		ami_db_rollback(db);
		retryable = ami_db_transient(db);
		snprintf(why, sizeof(why), "database [%s]: %s%s", dflag,
		    ami_db_error(db),
		    ami_db_errno(db) == 1146 || ami_db_errno(db) == 1054 ?
		    "; conf/employee.sql creates the table (and says how to "
		    "bring an older one up to date)" : "");
	}
	free(params);
	free(gone);
	ami_tab_free(&rows, row_free);
	return rc;
}

static int
flush_map(int final, struct ami_buf *out)
{
	struct ami_map map;
	struct ami_tab rows = { 0 };
	const char **gone = NULL, *nv[NF], *ip, *desc;
	struct row *r;
	size_t i, ngone = 0, *ents;
	int lock = -1, rc = -1, dirty = 0;

	/* a map mid-edit by hand may be right on the next try */
	retryable = 1;
	memset(&map, 0, sizeof(map));
	if ((!nflag && (lock = ami_file_lock(mflag, why, sizeof(why))) < 0) ||
	    ami_map_read(&map, mflag, why, sizeof(why)) < 0)
		goto out;
	if (map.n == 0)
		ami_map_add(&map, NULL, NULL, "# ip             peer   description");
	for (i = 0; i < map.n; i++) {
		if (map.e[i].peer == NULL || ami_tab_get(&rows, map.e[i].peer,
		    strlen(map.e[i].peer)) != NULL)
			continue;
		r = ami_xcalloc(1, sizeof(*r));
		r->name = map.e[i].peer;
		r->v[IP] = strcmp(map.e[i].ip, "-") == 0 ? NULL : map.e[i].ip;
		r->v[DESC] = map.e[i].desc;
		r->ent = i;
		ami_tab_put(&rows, r);
	}
	for (i = 0; i < npending; i++) {
		struct peer *p = pending[i];
		r = ami_tab_get(&rows, p->name, strlen(p->name));
		p->isnew = r == NULL;
		if (!(p->diff = merge(p, r, nv)))
			continue;
		report(out, r ? "changed" : "added", p->name, r, nv);
		dirty = 1;
		ip = nv[IP] ? nv[IP] : "-";
		desc = nv[DESC] ? nv[DESC] : "";
		if (r == NULL) {
			ami_map_add(&map, ip, p->name, desc);
			continue;
		}
		/* the row's strings are the entry's: compare before replacing */
		if (!same(nv[DESC], r->v[DESC]))
			ami_stab_set(&map.e[r->ent].desc, desc, strlen(desc));
		if (!same(nv[IP], r->v[IP]))
			ami_stab_set(&map.e[r->ent].ip, ip, strlen(ip));
		r->v[IP] = r->v[DESC] = NULL;
	}
	if (final)
		count_final(&rows, &gone, &ngone);
	if (final && pflag && !stop && ngone > 0) {
		/* the names are the entries': look all up before deleting any */
		ents = ami_xcalloc(ngone, sizeof(*ents));
		for (i = 0; i < ngone; i++) {
			r = ami_tab_get(&rows, gone[i], strlen(gone[i]));
			report(out, "pruned", gone[i], r, NULL);
			ents[i] = r->ent;
		}
		for (i = 0; i < ngone; i++)
			ami_map_del(&map, ents[i]);
		free(ents);
		dirty = 1;
	}
	if (!nflag && dirty && ami_map_write(&map, mflag, why, sizeof(why)) < 0)
		goto out;
	rc = 0;
	settle(final, ngone);
out:
	free(gone);
	ami_tab_free(&rows, row_free);
	ami_map_free(&map);
	if (lock != -1)
		close(lock);
	return rc;
}

/*
 * Write what is pending: 0 written; -1 not, said on stderr, to be tried
 * again at retry_at.  At the end of the input, or when waiting cannot
 * mend it, a failure ends the program with status 2.
 */
static int
flush(int final)
{
	struct ami_buf out = { 0 };
	int rc, wasup;
	int64_t now;

	if (dflag != NULL) {
		wasup = ami_db_up(db);
		rc = flush_db(final, &out);
		/* a connection the server dropped while we were idle */
		if (rc < 0 && wasup && !ami_db_up(db)) {
			out.len = 0;
			rc = flush_db(final, &out);
		}
	} else
		rc = flush_map(final, &out);
	if (rc == 0) {
		if (failures > 0)
			warnx("%s: written after %d failed %s",
			    dflag ? "database" : mflag, failures,
			    failures == 1 ? "try" : "tries");
		failures = 0;
		if ((vflag || nflag) && out.len > 0 &&
		    (fwrite(out.p, 1, out.len, stdout) != out.len ||
		    fflush(stdout) == EOF))
			ami_stdout_failed(errno);
		ami_buf_free(&out);
		return 0;
	}
	ami_buf_free(&out);
	failures++;
	if (final || !retryable) {
		if (npending > 0)
			errx(2, "%s; the changes of %zu peers were not written",
			    why, npending);
		errx(2, "%s", why);
	}
	now = ami_now_ms();
	retry_at = dflag ? ami_db_retry_at(db) : now +
	    ami_backoff(failures - 1, 1000, 60000);
	warnx("%s; %zu peers wait, next try in %.0f s", why, npending,
	    retry_at > now ? (retry_at - now) / 1000.0 : 0.0);
	return -1;
}

/* a message from stdin: 1 in *bad for one amicat lost */
static int
take1(struct ami_msg *m, unsigned long line, void *bad)
{
	if (ami_msg_skipped(m))
		*(int *)bad = 1;
	else
		handle(m, line);
	return 0;
}

static int
run(void)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct ami_drive in;
	int64_t now;
	int timeout, rc, bad = 0;

	ami_drive_init(&in, 0, "stdin", 0, take1, &bad);
	while (!stop) {
		timeout = -1;
		now = ami_now_ms();
		if (npending > 0 && nlists > 0 && !nflag) {
			/* a stray start, or an end that never came, must not
			 * hold a live stream's changes for ever */
			if (now - list_at < LIST_MS)
				timeout = (int)(list_at + LIST_MS - now);
			else {
				warnx("a list has had no item for %d s and no "
				    "end: it is not whole", LIST_MS / 1000);
				brokenlists += nlists;
				while (nlists > 0)
					list_close(&lists[0]);
			}
		}
		/* -p answers for the whole input: nothing goes in before its
		 * end, however slowly it comes */
		if (npending > 0 && nlists == 0 && !nflag && !pflag) {
			if (now >= retry_at && now - pending_since >= FLUSH_MS) {
				flush(0);
				continue;
			}
			timeout = retry_at > now ? (int)(retry_at - now) : 0;
		}
		if ((rc = poll(&pfd, 1, timeout)) == -1) {
			if (errno == EINTR)
				continue;
			err(2, "poll");
		}
		if (rc == 0) {
			/* the input paused: what it said so far goes in */
			if (nlists == 0 && !pflag)
				flush(0);
			continue;
		}
		if (ami_drive_step(&in) == 0)
			break;
	}
	if (in.bad)
		bad = 1;
	ami_drive_free(&in);
	if (nlists > 0) {
		warnx("the input ended inside a list: its EventList: Complete "
		    "never came");
		brokenlists += nlists;
		while (nlists > 0)
			list_close(&lists[0]);
	}
	return bad;
}

/* a peer at the end: counted, then freed */
static void
count_and_free(void *v)
{
	struct peer *p = v;
	int f;

	added += p->added;
	changed += p->changed;
	for (f = 0; f < NF; f++)
		free(p->v[f]);
	free(p->name);
	free(p);
}

int
main(int argc, char *argv[])
{
	char *dir;
	int ch, bad;
	unsigned long seen;

	while ((ch = getopt(argc, argv, "c:D:d:hm:NnpVvX:x:")) != -1) {
		switch (ami_oldopt(ch, "cDnNxX")) {
		case 'D':
			Dflag = optarg;
			break;
		case 'd':
			dflag = optarg;
			break;
		case 'm':
			mflag = optarg;
			break;
		case 'N':
			nflag = 1;
			break;
		case 'p':
			pflag = 1;
			break;
		case 'V':
			printf("peerlist %s\n", AMI_VERSION);
			return 0;
		case 'v':
			vflag = 1;
			break;
		case 'X':
			xflag = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc != optind || (dflag == NULL) == (mflag == NULL) ||
	    (Dflag != NULL && dflag == NULL))
		usage();
	if (xflag != NULL) {
		dir = ami_xstrdup(xflag);
		readext(xflag, dirname(dir), 0, 1);
		free(dir);
	}
	if (dflag != NULL)
		db = ami_db_new(dflag, Dflag);
	else
		mask = MAPFIELDS;
	ami_stop_signals(&stop);

	bad = run();
	if (nseen == 0) {
		warnx("no peers in the input; nothing written");
		return bad ? 2 : 1;
	}
	if (pflag && stop)
		warnx("interrupted: nothing pruned");
	else if (pflag && brokenlists + loose > 0)
		errx(2, "-p: in the input, %d list%s not whole and %d "
		    "item%s outside any list; nothing written", brokenlists,
		    brokenlists == 1 ? " was" : "s were", loose,
		    loose == 1 ? " was" : "s were");
	else if (pflag && wholelists == 0)
		errx(2, "-p: no whole list in the input (a response with "
		    "EventList: start, its items, its EventList: Complete); "
		    "nothing written");
	flush(1);
	seen = nseen;
	ami_tab_free(&peers, count_and_free);
	ami_tab_free(&incoming, inc_free);
	free(pending);
	ami_db_free(db);
	printf("%s%lu added, %lu changed, %lu unchanged, %lu not seen",
	    nflag ? "dry run: " : "", added, changed, seen - added - changed,
	    notseen);
	if (pflag)
		printf(", %lu pruned", pruned);
	printf("\n");
	if (fflush(stdout) == EOF || ferror(stdout))
		ami_stdout_failed(errno);
	return bad ? 2 : 0;
}
