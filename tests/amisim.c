/*
 * amisim: an AMI server for the tests that answers like Asterisk 20.20.1
 * as recorded in shared/fixtures/asterisk-20.20.1 (byte for byte, up to
 * timestamps, ports, pointers and unique ids).  One thread, one poll(2)
 * loop, any number of clients, non-blocking sockets, output buffered per
 * client.
 *
 * usage: amisim [-C fifo] [-d datadir] [-f fault]... [-L logfile]
 *               [-N count] [-P portfile] [-p port] [-R file]
 *
 *   -p PORT   listen on 127.0.0.1:PORT (0, the default: any free port)
 *   -P FILE   once listening, write the port and a newline to FILE
 *             (written to a temporary name, then renamed)
 *   -d DIR    data dir (default: amisim.d next to the binary)
 *   -L FILE   append each action run, one line each, in the amitools
 *             one-line format (not the ones refused: not logged in, no
 *             write class, shutting down, not loaded yet while booting),
 *             so a test can count what was executed
 *   -R FILE -N COUNT
 *             after each login send COUNT events taken in turn from FILE
 *             (wire blocks; '#' lines and a banner are skipped) as fast as
 *             the socket takes them, still answering actions, then close
 *             (after the last byte: shutdown, drain, close)
 *   -C FIFO   control channel, see below (created when missing)
 *   -f FAULT  for the first connection only:
 *             close=N    close after N messages (responses and events)
 *             cut=N      the same, but write the first half of message N+1
 *                        first (a server killed mid-message)
 *             stall=MS   after login neither read nor write for MS ms
 *             mute=MS    after login read (and log) actions but answer
 *                        nothing for MS ms
 *             garbage    junk bytes before the first event after login
 *             split      write one byte per write(2)
 *             refuse     Login fails whatever the secret
 *             nochallenge  Challenge fails (as a server, or a man in the
 *                        middle, that wants the secret in clear)
 *             noread     stop reading the socket after login
 *           and for the whole server (transcripts 14 and 15):
 *             restart=N  "core restart now" once the Nth action has run
 *                        (counted as -L logs them; repeat for more)
 *             shuterrors=N  actions of each session answered "Asterisk
 *                        is shutting down" before silence (default 8)
 *             down=MS    the port refuses connections this long (400)
 *             boot=MS    then logins work but FullyBooted comes this
 *                        much later (200)
 *
 * The data dir (files are looked up in DIR, then in the dir named by
 * "base" in DIR/settings, and so on):
 *   settings      "key = value": base, voicemail (app_voicemail or
 *                 external: res_mwi_external_ami's MWIUpdate/MWIGet/
 *                 MWIDelete instead of VoicemailRefresh & co.), version,
 *                 ami_version
 *   users         manager.conf style: [name], secret, read, write
 *   hints         "context exten hint", in the order Asterisk lists them
 *   devices       "device STATE" in the order of Asterisk's device state
 *                 cache; STATE "-" keeps a place for a device seen later
 *   mailboxes     "mailbox@context urgent new old": the voicemail spool
 *                 (app_voicemail) or the MWI store (external, "-" = none)
 *   vars          "name value": variables for the templates below
 *   actions/NAME  the answer to action NAME as a template (list actions:
 *                 PJSIPShow*, SIPpeers, SIPshowpeer, Voicemail*, ...)
 *   commands/CMD  output of CLI command CMD (spaces as '_') for Command
 *   originate/CHAN  what Originate of CHAN ('/' as '_') does: a script
 *   scripts/NAME  scripts for the control channel
 *
 * Templates and scripts are AMI wire blocks separated by blank lines, with
 * '#' comment lines.  {name} is replaced: a template variable (vars,
 * @set, script arguments {1}..{9}, Originate's headers), {h:Header} a
 * header of the action, {dev:DEVICE} / {devstr:DEVICE} a device state as
 * DEVICE_STATE() / PJSIP say it, {new:MBOX} {old:MBOX} {urg:MBOX},
 * {md5:TEXT}, {epoch} {epoch+N}, {eventtv}, {hex8}, {ptr}, {count} (list
 * items so far).  A line with {?name} is left out when name is empty.
 * Lines starting with '@' are directives, run before their block is sent:
 *   @if A = B | @if A != B | @if A     the block only when true
 *   @mode list | @mode one             (actions, first block)
 *   @require HEADER MESSAGE            Error when the header is missing
 *   @empty MESSAGE | @emptyok MESSAGE  list without items: Error/Success
 *   @error MESSAGE                     "one" mode, no block matched
 *   @set NAME VALUE | @unset NAME
 *   @channel VAR TECH/RES              new channel: {VAR} {VAR.uid}
 *   @local VAR Local/EXTEN@CONTEXT     {VAR1} {VAR2} {VAR1.uid} {VAR2.uid}
 *   @devstate DEVICE STATE [dsc-first|quiet]
 *   @mwi MAILBOX NEW OLD               publish MWI (MessageWaiting)
 *   @pbx                               count a call (CoreProcessedCalls)
 *   @fail MESSAGE                      (originate, first block) a sync
 *                                      Originate answers Error MESSAGE
 *   @delay MS                          the rest of the script later
 * In "list" mode the first block is the response, the last one ends the
 * list and the ones between are the items.  Script blocks are events,
 * sent to every session that may read their Privilege class.
 *
 * Control channel (-C FIFO, made when missing): one command a line, run
 * before any client input that arrives after it (the FIFO is polled
 * first), so a test may write a command and then send its next action:
 *   devstate DEVICE STATE [quiet]  as Setvar DEVICE_STATE(), any device;
 *                                  quiet: no events (state at boot)
 *   presence PROVIDER STATE,SUBTYPE,MESSAGE   (presenceq: quiet)
 *   spool MAILBOX NEW OLD [URGENT] files in the voicemail spool: silent
 *                                  until VoicemailRefresh polls, as in 07
 *   mwi MAILBOX NEW OLD            publish MWI now (MessageWaiting ...)
 *   set NAME VALUE / unset NAME    template variables (set processed_calls
 *                                  N: CoreStatus's CoreProcessedCalls)
 *   [run] SCRIPT [ARG...]          DATADIR/scripts/SCRIPT, {1}.. = ARGs
 *   emit FILE                      a script from any path
 *   kick                           drop every connection
 *   restart                        "core restart now" (see -f restart)
 *   boot                           boot as if started now (a login
 *                                  during boot, as in 15)
 * The recordings' out-of-band happenings map to these: voicemail files
 * copied into the spool (07) to "spool", sipp REGISTERs to "register" and
 * "sip-unregister"/"sip-register" (09, 13), sipp calls to "call-881" and
 * "call-882" (10).
 *
 * Input is read as manager.c's get_input() reads it (a 1024-byte line
 * buffer, at most 128 headers, a lone blank line is an empty action), not
 * with ami_parser: what Asterisk answers to malformed input ("Failed to
 * parse message: line too long", "Missing action in request") is part of
 * what is simulated.
 *
 * Timing, as manager.c has it: an action's response is written at once,
 * the events it causes are queued and follow it; security events about
 * bad requests (RequestBadFormat, RequestNotAllowed) come through stasis
 * and are queued DEFER_MS later, or before the next event, whichever is
 * first (transcript 07 shows one arriving after the next response).
 *
 * A restart: Event: Shutdown to the sessions that read system; each
 * session's next shuterrors actions are answered "Asterisk is shutting
 * down", later ones are read and left unanswered; after two of those, or
 * 100 ms without any, every connection is reset (RST, as in 14), once
 * the peers' kernels have taken every answer written (an answer an RST
 * throws away is an action the client must think unanswered: 3 s at
 * most), and the port refuses for down=MS.  Then boot=MS of booting: a login works, with
 * no FullyBooted and a SuccessfulAuth that comes late, Setvar of
 * DEVICE_STATE()/PRESENCE_STATE() is "Variable not set" and
 * DeviceStateList/PresenceStateList unknown commands; at the end the boot
 * events (PeerStatus and ContactStatus of registered PJSIP contacts,
 * MessageWaiting, ExtensionStatus of each hint with no hint text) and
 * FullyBooted (Status first).  State (astdb, devices, registrations)
 * survives, as astdb and the registrations did in 15.
 *
 * Users (DATADIR/users) have read= and write= classes: an action that
 * none of the user's write classes allows is answered "Permission
 * denied" with a RequestNotAllowed event (16); the classes per action are
 * in actions[] below, as the modules register them.
 *
 * SIGTERM ends it with exit status 0.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ami.h"

#define INBUF           1024    /* Asterisk's session inbuf, less its NUL */
#define AUTHFAIL_MS     1000    /* manager.c sleeps 1 s on a failed login */
#define DEFER_MS        200     /* security events arrive via stasis, late */
#define DRAIN_MS        3000    /* after our FIN, wait this long for theirs */
#define SLICE           (1u << 20)  /* replay bytes per write(2) at most */

/* Asterisk's event classes, in authority_to_str() order */
static const struct {
	const char *name;
	int         bit;
} perms[] = {
	{ "system", 1 << 0 }, { "call", 1 << 1 }, { "log", 1 << 2 },
	{ "verbose", 1 << 3 }, { "command", 1 << 4 }, { "agent", 1 << 5 },
	{ "user", 1 << 6 }, { "config", 1 << 7 }, { "dtmf", 1 << 8 },
	{ "reporting", 1 << 9 }, { "cdr", 1 << 10 }, { "dialplan", 1 << 11 },
	{ "originate", 1 << 12 }, { "agi", 1 << 13 }, { "cc", 1 << 14 },
	{ "aoc", 1 << 15 }, { "test", 1 << 16 }, { "security", 1 << 17 },
	{ "message", 1 << 18 },
};
#define EV_SYSTEM   (1 << 0)
#define EV_CALL     (1 << 1)
#define EV_USER     (1 << 6)
#define EV_SECURITY (1 << 17)
#define EV_ALL      INT_MAX /* manager.c's "all" */

/* device states: ast_devstate_str() and ast_devstate2str() */
static const char *devnames[] = { "UNKNOWN", "NOT_INUSE", "INUSE", "BUSY",
	"INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD" };
static const char *devtexts[] = { "Unknown", "Not in use", "In use", "Busy",
	"Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold" };
enum { DS_UNKNOWN, DS_NOT_INUSE, DS_INUSE, DS_BUSY, DS_INVALID,
	DS_UNAVAILABLE, DS_RINGING, DS_RINGINUSE, DS_ONHOLD };
static const char *presnames[] = { "not_set", "unavailable", "available",
	"away", "xa", "chat", "dnd" };

struct kv {
	char *k, *v;
};
struct kvs {
	struct kv *a;
	size_t     n, cap;
};

struct device {
	char *name;
	int   state;
	int   present;
};

struct hint {
	char *context, *exten, *text, *devs, *provider;
	int   laststate;
	int   lastpres;         /* -1: invalid, as an unset CustomPresence */
	char *lastsub, *lastmsg;
};

struct provider {
	char *name;
	int   state;
	char *sub, *msg;
};

struct mailbox {
	char *name;
	int   urg, new, old;    /* the spool, or the MWI store */
	int   pubnew, pubold;   /* what was last published */
	int   present;          /* external mode: an MWI object exists */
};

struct user {
	char name[80], secret[256];
	int  readperm, writeperm;
};

struct filter {
	regex_t re;
	int     exclude;
};

struct client {
	int      fd;
	unsigned conn;          /* 1 for the first connection */
	int      authed, dead, shut;
	char     inbuf[INBUF + 1];
	int      inlen, toolong;
	char    *hdr[AMI_HEADERS_MAX];
	int      nhdr, hdrloss;
	struct ami_buf out;     /* whole messages not yet written */
	size_t   off;
	struct ami_buf evq;     /* events waiting for process_events() */
	int      readperm, writeperm, send_events;
	char     user[80], challenge[16], sid[32];
	char     laddr[64], raddr[64];
	struct timeval start_tv;
	struct filter *filters;
	size_t   nfilters;
	int64_t  block_until;   /* a failed login sleeps, like Asterisk */
	struct ami_buf pending; /* its answer, sent when the sleep ends */
	int64_t  drain_until;
	long     shut_answered, shut_dropped;   /* during PH_SHUTTING */
	/* faults */
	long     close_after, nsent;
	int      cut;           /* half of the next message, then close */
	int      stall_pending, garbage_pending, split, noread;
	int      mute;          /* the stall still reads */
	int64_t  stall_ms, stall_until;
	/* replay */
	int      replaying;
	unsigned long rp_left;
	size_t   rp_idx;
	const char *rp_ptr;
	size_t   rp_cur;        /* bytes of the slice being written */
};

struct deferred {
	int   cat;
	char *text;
	size_t len;
	int64_t when;
};

struct ctx {                    /* what a template is expanded against */
	struct client *c;       /* the action's session, or NULL */
	struct kvs    *local;
	long           count;
};

struct line {
	char  *s;
	size_t n;
};
struct block {
	struct line *l;
	size_t       n;
};
struct tmpl {
	struct block *b;
	size_t        n;
	char         *text;
};

struct script {
	struct script *next;
	struct tmpl    t;
	size_t         pc;
	struct kvs     vars;
	int64_t        wake;
};

static const char *datadir;
static char *dirs[8];
static size_t ndirs;
static int logfd = -1;
static int listenfd = -1, ctlfd = -1;
static char ctlbuf[4096];
static size_t ctllen;
static int lport;
static struct client **clients;
static size_t nclients;
static unsigned nconn;
static volatile sig_atomic_t quit;
static int64_t start_ms;
static struct timeval start_tv;
static int ext_mwi;             /* res_mwi_external instead of app_voicemail */
static char version[64] = "20.20.1", amiversion[32] = "9.0.0";

static struct kvs vars, globals, astdb;
static struct device *devices;
static size_t ndevices;
static struct hint *hints;
static size_t nhints;
static struct provider *providers;
static size_t nproviders;
static struct mailbox *mailboxes;
static size_t nmailboxes;
static struct user *users;
static size_t nusers;
static struct deferred *deferred;
static size_t ndeferred;
static struct script *scripts;
static unsigned long uidseq;
static long processed_calls;

/*
 * The lifecycle of a restart, as transcripts 14 and 15 show it: UP ->
 * SHUTTING (Event: Shutdown; the next shut_errors actions of each session
 * answered "Asterisk is shutting down", the ones after them read and left
 * unanswered; SHUT_DROPS of those, or SHUT_MS without any, and every
 * session is reset: RST, no Goodbye) -> DOWN (the port refuses, down_ms)
 * -> BOOTING (logins accepted, no FullyBooted, the modules that load late
 * missing, boot_ms) -> UP (the boot events, then FullyBooted).
 */
enum { PH_UP, PH_SHUTTING, PH_DOWN, PH_BOOTING };
#define SHUT_DROPS      2       /* 14-198 and 14-199 went unanswered */
#define SHUT_MS         100
static int phase = PH_UP;
static int64_t phase_until, shut_drain;
static long shut_errors = 8;
static int64_t down_ms = 400, boot_ms = 200;
static unsigned long *restart_at;       /* -f restart=N: executed counts */
static size_t nrestart;
static unsigned long executed;          /* actions run (what -L logs) */

/* faults for the first connection */
static long f_close = -1;
static int f_cut;
static int64_t f_stall = -1;
static int f_mute;
static int f_garbage, f_split, f_refuse, f_noread, f_nochallenge;

/* replay */
static char *rp_big;
static size_t rp_cyclelen, rp_nev, *rp_off;
static unsigned long rp_count;

static void publish(int, const char *, size_t);
static void run_script(struct tmpl *, struct kvs *);
static void script_resume(struct script *);
static void log_action(struct client *);
static void shutting_answer(struct client *);
static int late_module(const char *);
static void shutdown_begin(void);

/* ---- small helpers ---- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		err(2, "strdup");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		err(2, "strndup");
	return p;
}

static void *
xgrow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	if ((p = reallocarray(p, *cap, size)) == NULL)
		err(2, "reallocarray");
	return p;
}

static void
bufprintf(struct ami_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	ami_buf_grow(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		errx(2, "vsnprintf");
	if ((size_t)n >= b->cap - b->len) {
		ami_buf_grow(b, n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += n;
}

/* ami_buf_add() of nothing to a fresh buffer would memcpy to NULL */
static void
put(struct ami_buf *b, const char *s)
{
	if (*s != '\0')
		ami_buf_adds(b, s);
}

static const char *
kvs_get(const struct kvs *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->a[i].k, k) == 0)
			return s->a[i].v;
	return NULL;
}

static void
kvs_set(struct kvs *s, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->a[i].k, k) == 0) {
			free(s->a[i].v);
			s->a[i].v = xstrdup(v);
			return;
		}
	s->a = xgrow(s->a, &s->cap, s->n, sizeof(*s->a));
	s->a[s->n].k = xstrdup(k);
	s->a[s->n++].v = xstrdup(v);
}

static int
kvs_del(struct kvs *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->a[i].k, k) == 0) {
			free(s->a[i].k);
			free(s->a[i].v);
			s->a[i] = s->a[--s->n];
			return 0;
		}
	return -1;
}

static void
kvs_free(struct kvs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->a[i].k);
		free(s->a[i].v);
	}
	free(s->a);
	memset(s, 0, sizeof(*s));
}

/* astdb keeps insertion order per family, which is all DBGet needs */
static const char *
db_get(const char *family, const char *key)
{
	char k[512];

	snprintf(k, sizeof(k), "/%s/%s", family, key);
	return kvs_get(&astdb, k);
}

static void
db_put(const char *family, const char *key, const char *val)
{
	char k[512];

	snprintf(k, sizeof(k), "/%s/%s", family, key);
	kvs_set(&astdb, k, val);
}

/* "2026-11-23T03:40:53.987+0000", the way ast_json_timeval() writes it */
static void
fmt_tv(char *out, size_t len, struct timeval tv)
{
	struct tm tm;
	time_t t = tv.tv_sec;
	char a[32], z[8];

	localtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm);
	snprintf(out, len, "%s.%03ld%s", a, (long)tv.tv_usec / 1000, z);
}

static int
perm_of(const char *s)
{
	char buf[256], *p, *w;
	int r = 0;
	size_t i;

	strlcpy(buf, s, sizeof(buf));
	for (p = buf; (w = strsep(&p, ",")) != NULL;) {
		if (strcmp(w, "all") == 0)
			return EV_ALL;
		for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
			if (strcmp(w, perms[i].name) == 0)
				r |= perms[i].bit;
	}
	return r;
}

static const char *
perm_str(int cat)
{
	size_t i;

	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (cat == perms[i].bit)
			return perms[i].name;
	return "none";
}

/* ast_true() / ast_false() */
static int
truth(const char *s)
{
	static const char *t[] = { "yes", "true", "y", "t", "1", "on" };
	static const char *f[] = { "no", "false", "n", "f", "0", "off" };
	size_t i;

	for (i = 0; i < 6; i++) {
		if (strcasecmp(s, t[i]) == 0)
			return 1;
		if (strcasecmp(s, f[i]) == 0)
			return 0;
	}
	return -1;
}

/* strings_to_mask(): -1 leaves the mask as it is */
static int
eventmask(const char *s)
{
	const char *p;

	if (*s == '\0')
		return -1;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0')
		return atoi(s);
	switch (truth(s)) {
	case 0:
		return 0;
	case 1:
		return EV_ALL;
	}
	return perm_of(s);
}

/* ---- the data dir ---- */

static char *
slurp(const char *path, size_t *lenp)
{
	struct ami_buf b = { 0 };
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	for (;;) {
		ami_buf_grow(&b, 65536);
		if ((n = read(fd, b.p + b.len, b.cap - b.len - 1)) <= 0)
			break;
		b.len += n;
	}
	close(fd);
	b.p[b.len] = '\0';
	if (lenp != NULL)
		*lenp = b.len;
	return b.p;
}

/* a data file: the first dir in the base chain that has it */
static char *
data_file(const char *name, size_t *lenp)
{
	char path[PATH_MAX];
	char *p;
	size_t i;

	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if ((p = slurp(path, lenp)) != NULL)
			return p;
	}
	return NULL;
}

/* next line of a data file, without its end; NULL at the end */
static char *
nextline(char **pp)
{
	char *s = *pp, *nl;

	if (s == NULL || *s == '\0')
		return NULL;
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		*pp = nl + 1;
	} else
		*pp = s + strlen(s);
	if (nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	return s;
}

static void
load_settings(void)
{
	char path[PATH_MAX], *text, *p, *l, *eq, *k, *v;
	char *dir = xstrdup(datadir);

	while (ndirs < sizeof(dirs) / sizeof(dirs[0])) {
		dirs[ndirs++] = dir;
		snprintf(path, sizeof(path), "%s/settings", dir);
		if ((text = slurp(path, NULL)) == NULL)
			return;
		dir = NULL;
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || (eq = strchr(l, '=')) == NULL)
				continue;
			*eq = '\0';
			k = ami_trim(l);
			v = ami_trim(eq + 1);
			if (strcmp(k, "base") == 0 && dir == NULL) {
				snprintf(path, sizeof(path), "%s/%s",
				    dirs[ndirs - 1], v);
				dir = xstrdup(path);
			} else if (strcmp(k, "voicemail") == 0 && ndirs == 1)
				ext_mwi = strcmp(v, "external") == 0;
			else if (strcmp(k, "version") == 0 && ndirs == 1)
				strlcpy(version, v, sizeof(version));
			else if (strcmp(k, "ami_version") == 0 && ndirs == 1)
				strlcpy(amiversion, v, sizeof(amiversion));
		}
		free(text);
		if (dir == NULL)
			return;
	}
}

static struct device *
dev_find(const char *name, int create)
{
	size_t i;

	for (i = 0; i < ndevices; i++)
		if (strcasecmp(devices[i].name, name) == 0)
			return &devices[i];
	if (!create)
		return NULL;
	{
		static size_t cap;

		devices = xgrow(devices, &cap, ndevices, sizeof(*devices));
	}
	devices[ndevices].name = xstrdup(name);
	devices[ndevices].state = DS_UNKNOWN;
	devices[ndevices].present = 0;
	return &devices[ndevices++];
}

static int
devstate_val(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(devnames) / sizeof(devnames[0]); i++)
		if (strcasecmp(s, devnames[i]) == 0)
			return i;
	return -1;
}

static int
dev_state(const char *name)
{
	struct device *d = dev_find(name, 0);

	/* INVALID: a Custom: device a restart did not give back (18b) */
	return d != NULL && (d->present || d->state == DS_INVALID) ? d->state :
	    DS_UNKNOWN;
}

/* ast_devstate_aggregate_add() and _result() over "A&B&C" */
static int
hint_state(const struct hint *h)
{
	static const int order[] = { 1, 3, 6, 7, 0, 2, 5, 8, 4 };
	char buf[512], *p, *d;
	int agg = DS_INVALID, ringing = 0, s;

	strlcpy(buf, h->devs, sizeof(buf));
	for (p = buf; (d = strsep(&p, "&")) != NULL;) {
		if (*d == '\0')
			continue;
		s = dev_state(d);
		if (s == DS_RINGING)
			ringing = 1;
		if (order[s] > order[agg])
			agg = s;
	}
	if (ringing && agg == DS_INUSE)
		agg = DS_RINGINUSE;
	/* ast_devstate_to_extenstate() */
	switch (agg) {
	case DS_ONHOLD:
		return 16;
	case DS_BUSY:
		return 2;
	case DS_UNAVAILABLE:
	case DS_INVALID:
		return 4;
	case DS_RINGINUSE:
		return 1 | 8;
	case DS_RINGING:
		return 8;
	case DS_INUSE:
		return 1;
	}
	return 0;
}

static const char *
extstate_str(int s)
{
	switch (s) {
	case 0: return "Idle";
	case 1: return "InUse";
	case 2: return "Busy";
	case 4: return "Unavailable";
	case 8: return "Ringing";
	case 9: return "InUse&Ringing";
	case 16: return "Hold";
	case 17: return "InUse&Hold";
	}
	return "Unknown";
}

static int
hint_has(const struct hint *h, const char *dev)
{
	char buf[512], *p, *d;

	strlcpy(buf, h->devs, sizeof(buf));
	for (p = buf; (d = strsep(&p, "&")) != NULL;)
		if (strcasecmp(d, dev) == 0)
			return 1;
	return 0;
}

static struct provider *
prov_find(const char *name, int create)
{
	static size_t cap;
	size_t i;

	for (i = 0; i < nproviders; i++)
		if (strcasecmp(providers[i].name, name) == 0)
			return &providers[i];
	if (!create)
		return NULL;
	providers = xgrow(providers, &cap, nproviders, sizeof(*providers));
	providers[nproviders].name = xstrdup(name);
	providers[nproviders].state = -1;
	providers[nproviders].sub = xstrdup("");
	providers[nproviders].msg = xstrdup("");
	return &providers[nproviders++];
}

static struct mailbox *
mbox_find(const char *name, int create)
{
	static size_t cap;
	char full[256];
	size_t i;

	/* a mailbox without @context is in "default" */
	snprintf(full, sizeof(full), "%s%s", name,
	    strchr(name, '@') ? "" : "@default");
	for (i = 0; i < nmailboxes; i++)
		if (strcasecmp(mailboxes[i].name, full) == 0)
			return &mailboxes[i];
	if (!create)
		return NULL;
	mailboxes = xgrow(mailboxes, &cap, nmailboxes, sizeof(*mailboxes));
	memset(&mailboxes[nmailboxes], 0, sizeof(*mailboxes));
	mailboxes[nmailboxes].name = xstrdup(full);
	return &mailboxes[nmailboxes++];
}

static void
load_data(void)
{
	char *text, *p, *l, *w[4], *s;
	struct user *u = NULL;
	struct hint *h;
	struct device *d;
	struct mailbox *mb;
	size_t ucap = 0, hcap = 0, i;
	int n;

	if ((text = data_file("users", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			l = ami_trim(l);
			if (*l == '\0' || *l == ';' || *l == '#')
				continue;
			if (*l == '[') {
				users = xgrow(users, &ucap, nusers, sizeof(*users));
				u = &users[nusers++];
				memset(u, 0, sizeof(*u));
				l[strcspn(l, "]")] = '\0';
				strlcpy(u->name, l + 1, sizeof(u->name));
				continue;
			}
			if (u == NULL || (s = strchr(l, '=')) == NULL)
				continue;
			*s++ = '\0';
			l = ami_trim(l);
			s = ami_trim(s);
			if (strcmp(l, "secret") == 0)
				strlcpy(u->secret, s, sizeof(u->secret));
			else if (strcmp(l, "read") == 0)
				u->readperm = perm_of(s);
			else if (strcmp(l, "write") == 0)
				u->writeperm = perm_of(s);
		}
		free(text);
	} else {
		/* the fixtures' manager.conf */
		users = xgrow(users, &ucap, 0, sizeof(*users));
		memset(users, 0, sizeof(*users));
		strlcpy(users[0].name, "tester", sizeof(users[0].name));
		strlcpy(users[0].secret, "testpass", sizeof(users[0].secret));
		users[0].readperm = users[0].writeperm = EV_ALL;
		nusers = 1;
	}

	if ((text = data_file("devices", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || sscanf(l, "%ms %ms", &w[0], &w[1]) != 2)
				continue;
			d = dev_find(w[0], 1);
			if (strcmp(w[1], "-") != 0) {
				if ((n = devstate_val(w[1])) < 0)
					errx(2, "devices: bad state %s", w[1]);
				d->state = n;
				d->present = 1;
				if (strncasecmp(w[0], "Custom:", 7) == 0)
					db_put("CustomDevstate", w[0] + 7, w[1]);
			}
			free(w[0]);
			free(w[1]);
		}
		free(text);
	}

	if ((text = data_file("hints", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || sscanf(l, "%ms %ms %ms", &w[0], &w[1],
			    &w[2]) != 3)
				continue;
			hints = xgrow(hints, &hcap, nhints, sizeof(*hints));
			h = &hints[nhints++];
			h->context = w[0];
			h->exten = w[1];
			h->text = w[2];
			h->devs = xstrdup(w[2]);
			h->provider = NULL;
			if ((s = strchr(h->devs, ',')) != NULL) {
				*s = '\0';
				h->provider = xstrdup(s + 1);
			}
			h->laststate = hint_state(h);
			h->lastpres = -1;
			h->lastsub = xstrdup("");
			h->lastmsg = xstrdup("");
		}
		free(text);
	}

	if ((text = data_file("mailboxes", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || sscanf(l, "%ms %ms %ms %ms", &w[0],
			    &w[1], &w[2], &w[3]) != 4)
				continue;
			mb = mbox_find(w[0], 1);
			if (strcmp(w[1], "-") != 0) {
				mb->urg = atoi(w[1]);
				mb->new = atoi(w[2]);
				mb->old = atoi(w[3]);
				mb->present = 1;
			}
			mb->pubnew = mb->new + mb->urg;
			mb->pubold = mb->old;
			for (i = 0; i < 4; i++)
				free(w[i]);
		}
		free(text);
	}

	if ((text = data_file("vars", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || *l == '\0')
				continue;
			s = l + strcspn(l, " \t");
			if (*s != '\0')
				*s++ = '\0';
			s += strspn(s, " \t");
			kvs_set(&vars, l, s);
		}
		free(text);
	}
}

/* ---- templates ---- */

/* a data file or, with path set, a file anywhere, parsed into blocks */
static int
tmpl_load(struct tmpl *t, const char *name, int path)
{
	char *p, *l;
	struct block *b = NULL;
	size_t bcap = 0, lcap = 0;

	memset(t, 0, sizeof(*t));
	if ((t->text = path ? slurp(name, NULL) : data_file(name, NULL)) == NULL)
		return -1;
	for (p = t->text; (l = nextline(&p)) != NULL;) {
		if (*l == '#')
			continue;
		if (*l == '\0') {
			b = NULL;
			continue;
		}
		if (b == NULL) {
			t->b = xgrow(t->b, &bcap, t->n, sizeof(*t->b));
			b = &t->b[t->n++];
			memset(b, 0, sizeof(*b));
			lcap = 0;
		}
		b->l = xgrow(b->l, &lcap, b->n, sizeof(*b->l));
		b->l[b->n].s = l;
		b->l[b->n++].n = strlen(l);
	}
	return 0;
}

static void
tmpl_free(struct tmpl *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->b[i].l);
	free(t->b);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

/* astman_get_header(): first "Name:" line, blanks after the colon skipped */
static const char *
hdr_get(const struct client *c, const char *name)
{
	size_t l = strlen(name);
	const char *v;
	int i;

	if (c == NULL)
		return "";
	for (i = 0; i < c->nhdr; i++)
		if (strncasecmp(c->hdr[i], name, l) == 0 && c->hdr[i][l] == ':') {
			v = c->hdr[i] + l + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return "";
}

static void expand(struct ami_buf *, const char *, size_t, struct ctx *, int *);

static void
resolve(struct ami_buf *out, char *name, struct ctx *x)
{
	char tmp[64], md[33];
	const char *v;
	struct mailbox *mb;
	struct timeval tv;

	if (strncmp(name, "h:", 2) == 0) {
		put(out, hdr_get(x->c, name + 2));
	} else if (strncmp(name, "dev:", 4) == 0) {
		put(out, devnames[dev_state(name + 4)]);
	} else if (strncmp(name, "devstr:", 7) == 0) {
		put(out, devtexts[dev_state(name + 7)]);
	} else if (strncmp(name, "new:", 4) == 0 || strncmp(name, "old:", 4) == 0 ||
	    strncmp(name, "urg:", 4) == 0) {
		mb = mbox_find(name + 4, 0);
		bufprintf(out, "%d", mb == NULL ? 0 : name[0] == 'n' ? mb->new :
		    name[0] == 'o' ? mb->old : mb->urg);
	} else if (strncmp(name, "md5:", 4) == 0) {
		ami_md5_hex(name + 4, strlen(name + 4), md);
		put(out, md);
	} else if (strncmp(name, "epoch", 5) == 0) {
		bufprintf(out, "%lld", (long long)time(NULL) + atoll(name + 5));
	} else if (strcmp(name, "eventtv") == 0) {
		gettimeofday(&tv, NULL);
		fmt_tv(tmp, sizeof(tmp), tv);
		put(out, tmp);
	} else if (strcmp(name, "hex8") == 0) {
		bufprintf(out, "%08x", arc4random());
	} else if (strcmp(name, "ptr") == 0) {
		bufprintf(out, "0x7f%02x%08x", arc4random() & 0xff,
		    arc4random() & ~15u);
	} else if (strcmp(name, "count") == 0) {
		bufprintf(out, "%ld", x->count);
	} else if ((x->local != NULL && (v = kvs_get(x->local, name)) != NULL) ||
	    (v = kvs_get(&vars, name)) != NULL) {
		put(out, v);
	} else if (x->c != NULL) {
		/* an action's template: {ActionID} is the header */
		put(out, hdr_get(x->c, name));
	}
}

/*
 * Expand {name} in s.  Names nest ({pjsip.{1}.cid}): the inside is expanded
 * first.  *drop is set when a {?name} came out empty.
 */
static void
expand(struct ami_buf *out, const char *s, size_t n, struct ctx *x, int *drop)
{
	struct ami_buf name = { 0 };
	size_t i, j, depth, before;
	int opt;

	for (i = 0; i < n; i++) {
		if (s[i] != '{') {
			ami_buf_addc(out, s[i]);
			continue;
		}
		if (i + 1 < n && s[i + 1] == '{') {
			ami_buf_addc(out, '{');
			i++;
			continue;
		}
		for (j = i + 1, depth = 1; j < n; j++) {
			if (s[j] == '{')
				depth++;
			else if (s[j] == '}' && --depth == 0)
				break;
		}
		if (j >= n) {
			ami_buf_add(out, s + i, n - i);
			break;
		}
		opt = s[i + 1] == '?';
		name.len = 0;
		expand(&name, s + i + 1 + opt, j - i - 1 - opt, x, drop);
		ami_buf_addc(&name, '\0');
		before = out->len;
		resolve(out, name.p, x);
		if (opt && out->len == before && drop != NULL)
			*drop = 1;
		i = j;
	}
	ami_buf_free(&name);
}

static char *
expand_str(const char *s, struct ctx *x)
{
	struct ami_buf b = { 0 };
	char *r;

	expand(&b, s, strlen(s), x, NULL);
	ami_buf_addc(&b, '\0');
	r = xstrdup(b.p);
	ami_buf_free(&b);
	return r;
}

/* a directive's argument: after the word, blanks skipped */
static const char *
darg(const struct line *l, const char *word)
{
	size_t n = strlen(word);
	const char *s;

	if (strncmp(l->s, word, n) != 0 || (l->s[n] != ' ' && l->s[n] != '\0'))
		return NULL;
	for (s = l->s + n; *s == ' '; s++)
		;
	return s;
}

static int
cond_true(const struct block *b, struct ctx *x)
{
	const char *a, *op;
	char *l, *r;
	size_t i;
	int ok, neg;

	for (i = 0; i < b->n; i++) {
		if ((a = darg(&b->l[i], "@if")) == NULL)
			continue;
		if ((op = strstr(a, " != ")) != NULL || (op = strstr(a, " = ")) != NULL) {
			neg = op[1] == '!';
			l = xstrndup(a, op - a);
			r = expand_str(op + (neg ? 4 : 3), x);
			{
				char *le = expand_str(l, x);

				ok = (strcasecmp(le, r) == 0) != neg;
				free(le);
			}
			free(l);
			free(r);
		} else {
			l = expand_str(a, x);
			ok = *l != '\0';
			free(l);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* the message text of a block: header lines expanded, directives left out */
static void
block_text(struct ami_buf *out, const struct block *b, struct ctx *x)
{
	size_t i, mark;
	int drop;

	for (i = 0; i < b->n; i++) {
		if (b->l[i].s[0] == '@')
			continue;
		mark = out->len;
		drop = 0;
		expand(out, b->l[i].s, b->l[i].n, x, &drop);
		if (drop)
			out->len = mark;
		else
			ami_buf_add(out, "\r\n", 2);
	}
}

static const char *
find_directive(const struct tmpl *t, const char *word)
{
	size_t i;
	const char *a;

	if (t->n == 0)
		return NULL;
	for (i = 0; i < t->b[0].n; i++)
		if ((a = darg(&t->b[0].l[i], word)) != NULL)
			return a;
	return NULL;
}

/* "\n" in a directive's message is a line feed (Asterisk's stray LF) */
static char *
unescape_msg(const char *s, struct ctx *x)
{
	char *e = expand_str(s, x), *r, *w;

	for (r = w = e; *r; r++) {
		if (r[0] == '\\' && r[1] == 'n') {
			*w++ = '\n';
			r++;
		} else
			*w++ = *r;
	}
	*w = '\0';
	return e;
}

/* ---- sessions: output ---- */

static void
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
static void
client_shut(struct client *c)
{
	if (!c->shut) {
		c->shut = 1;
		c->replaying = 0;
	}
}

/* append one whole message to a session's output */
static void
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

static void
send_buf(struct client *c, struct ami_buf *b)
{
	send_block(c, b->p, b->len);
	b->len = 0;
}

static void
send_msg(struct client *c, struct ami_msg *m)
{
	struct ami_buf b = { 0 };

	ami_wire_put(&b, m);
	send_block(c, b.p, b.len);
	ami_buf_free(&b);
	ami_msg_clear(m);
}

/* process_events(): what was published during an action, after its answer */
static void
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

static int
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

static void
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
static void
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
				z = xstrndup(text, len);
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
	deferred[ndeferred].text = xstrndup(text, len);
	deferred[ndeferred].len = len;
	deferred[ndeferred++].when = now_ms() + DEFER_MS;
}

static void
publish_msg(int cat, struct ami_msg *m)
{
	struct ami_buf b = { 0 };

	ami_wire_put(&b, m);
	publish(cat, b.p, b.len);
	ami_buf_free(&b);
	ami_msg_clear(m);
}

static void
event_start(struct ami_msg *m, const char *name, int cat)
{
	char priv[64];

	ami_msg_clear(m);
	snprintf(priv, sizeof(priv), "%s,all", perm_str(cat));
	ami_msg_adds(m, "Event", name);
	ami_msg_adds(m, "Privilege", priv);
}

/* ---- responses, as astman_send_response_full() builds them ---- */

static void
resp_start(struct ami_msg *m, struct client *c, const char *resp)
{
	const char *id = hdr_get(c, "ActionID");

	ami_msg_clear(m);
	ami_msg_adds(m, "Response", resp);
	if (*id != '\0')
		ami_msg_adds(m, "ActionID", id);
}

static void
respond(struct client *c, const char *resp, const char *msg)
{
	struct ami_msg m = { 0 };

	resp_start(&m, c, resp);
	if (msg != NULL)
		ami_msg_adds(&m, "Message", msg);
	send_msg(c, &m);
	ami_msg_free(&m);
}

static void
ack(struct client *c, const char *msg)
{
	respond(c, "Success", msg);
}

static void
error(struct client *c, const char *msg)
{
	respond(c, "Error", msg);
}

static void
listack(struct client *c, const char *msg)
{
	struct ami_msg m = { 0 };

	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "EventList", "start");
	ami_msg_adds(&m, "Message", msg);
	send_msg(c, &m);
	ami_msg_free(&m);
}

static void
list_item(struct ami_msg *m, struct client *c, const char *event)
{
	const char *id = hdr_get(c, "ActionID");

	ami_msg_clear(m);
	ami_msg_adds(m, "Event", event);
	if (*id != '\0')
		ami_msg_adds(m, "ActionID", id);
}

static void
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

enum sec { SEC_OK, SEC_BADFORMAT, SEC_NOTALLOWED, SEC_BADUSER, SEC_BADPASS,
	SEC_BADCHAL };

static void
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

/* ---- state changes and the events they make ---- */

static void
extension_status(const struct hint *h, struct client *c)
{
	struct ami_msg m = { 0 };
	char num[16];

	if (c != NULL)
		list_item(&m, c, "ExtensionStatus");
	else
		event_start(&m, "ExtensionStatus", EV_CALL);
	ami_msg_adds(&m, "Exten", h->exten);
	ami_msg_adds(&m, "Context", h->context);
	ami_msg_adds(&m, "Hint", h->text);
	snprintf(num, sizeof(num), "%d", h->laststate);
	ami_msg_adds(&m, "Status", num);
	ami_msg_adds(&m, "StatusText", extstate_str(h->laststate));
	if (c != NULL)
		send_msg(c, &m);
	else
		publish_msg(EV_CALL, &m);
	ami_msg_free(&m);
}

enum { DS_HINTS_FIRST, DS_DSC_FIRST, DS_QUIET };

static void
devstate_set(const char *name, int state, int how)
{
	struct device *d = dev_find(name, 1);
	struct ami_msg m = { 0 };
	size_t i, nch = 0;
	int *changed, s;

	d->state = state;
	d->present = 1;
	if ((changed = calloc(nhints + 1, sizeof(*changed))) == NULL)
		err(2, "calloc");
	for (i = 0; i < nhints; i++) {
		if (!hint_has(&hints[i], name))
			continue;
		s = hint_state(&hints[i]);
		if (s != hints[i].laststate) {
			hints[i].laststate = s;
			changed[nch++] = i;
		}
	}
	if (how != DS_QUIET) {
		if (how == DS_HINTS_FIRST)
			for (i = 0; i < nch; i++)
				extension_status(&hints[changed[i]], NULL);
		event_start(&m, "DeviceStateChange", EV_CALL);
		ami_msg_adds(&m, "Device", d->name);
		ami_msg_adds(&m, "State", devnames[state]);
		publish_msg(EV_CALL, &m);
		if (how == DS_DSC_FIRST)
			for (i = 0; i < nch; i++)
				extension_status(&hints[changed[i]], NULL);
	}
	free(changed);
	ami_msg_free(&m);
}

static int
presence_val(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(presnames) / sizeof(presnames[0]); i++)
		if (strcasecmp(s, presnames[i]) == 0)
			return i;
	return -1;
}

/* "state,subtype,message[,options]" as func_presencestate parses it */
static int
presence_set(const char *provider, const char *value, int quiet)
{
	char *buf = xstrdup(value), *p = buf, *st, *sub, *msg;
	struct provider *pr;
	struct ami_msg m = { 0 };
	size_t i;
	int state;

	st = strsep(&p, ",");
	sub = p ? strsep(&p, ",") : "";
	msg = p ? strsep(&p, ",") : "";
	if (*st == '\0' || (state = presence_val(st)) < 0) {
		free(buf);
		return -1;
	}
	pr = prov_find(provider, 1);
	pr->state = state;
	free(pr->sub);
	free(pr->msg);
	pr->sub = xstrdup(sub);
	pr->msg = xstrdup(msg);
	db_put("CustomPresence", provider + strcspn(provider, ":") + 1, value);
	if (!quiet) {
		event_start(&m, "PresenceStateChange", EV_CALL);
		ami_msg_adds(&m, "Presentity", pr->name);
		ami_msg_adds(&m, "Status", presnames[state]);
		ami_msg_adds(&m, "Subtype", sub);
		ami_msg_adds(&m, "Message", msg);
		publish_msg(EV_CALL, &m);
	}
	for (i = 0; i < nhints; i++) {
		struct hint *h = &hints[i];

		if (h->provider == NULL || strcasecmp(h->provider, provider) != 0)
			continue;
		if (h->lastpres == state && strcmp(h->lastsub, sub) == 0 &&
		    strcmp(h->lastmsg, msg) == 0)
			continue;
		h->lastpres = state;
		free(h->lastsub);
		free(h->lastmsg);
		h->lastsub = xstrdup(sub);
		h->lastmsg = xstrdup(msg);
		if (quiet)
			continue;
		event_start(&m, "PresenceStatus", EV_CALL);
		ami_msg_adds(&m, "Exten", h->exten);
		ami_msg_adds(&m, "Context", h->context);
		ami_msg_adds(&m, "Hint", h->text);
		ami_msg_adds(&m, "Status", presnames[state]);
		ami_msg_adds(&m, "Subtype", sub);
		ami_msg_adds(&m, "Message", msg);
		publish_msg(EV_CALL, &m);
	}
	ami_msg_free(&m);
	free(buf);
	return 0;
}

/* MWI published: MessageWaiting, and res_mwi_devstate's MWI: device */
static void
mwi_publish(struct mailbox *mb, int new, int old, int devstate)
{
	struct ami_msg m = { 0 };
	char n[16], o[16], dev[300];

	mb->pubnew = new;
	mb->pubold = old;
	snprintf(n, sizeof(n), "%d", new);
	snprintf(o, sizeof(o), "%d", old);
	event_start(&m, "MessageWaiting", EV_CALL);
	ami_msg_adds(&m, "Mailbox", mb->name);
	ami_msg_adds(&m, "Waiting", new > 0 ? "1" : "0");
	ami_msg_adds(&m, "New", n);
	ami_msg_adds(&m, "Old", o);
	publish_msg(EV_CALL, &m);
	ami_msg_free(&m);
	if (devstate) {
		snprintf(dev, sizeof(dev), "MWI:%s", mb->name);
		devstate_set(dev, new > 0 ? DS_INUSE : DS_NOT_INUSE,
		    DS_HINTS_FIRST);
	}
}

/* ---- scripts ---- */

static void
new_uid(char *out, size_t len)
{
	snprintf(out, len, "%lld.%lu", (long long)time(NULL), ++uidseq);
}

/* the next channel number for a technology (each driver counts alone) */
static unsigned long
chan_seq(const char *tech)
{
	char key[64], num[24];
	const char *v;
	unsigned long n;

	snprintf(key, sizeof(key), "chanseq.%.*s", (int)strcspn(tech, "/"), tech);
	n = (v = kvs_get(&vars, key)) != NULL ? strtoul(v, NULL, 10) : 0;
	snprintf(num, sizeof(num), "%lu", n + 1);
	kvs_set(&vars, key, num);
	return n;
}

/* run the statements of a block; 1 when the script must wait (@delay) */
static int
statements(const struct block *b, struct script *s, struct ctx *x)
{
	const struct line *l;
	const char *a;
	char *e, *w1, *w2, *w3, *p, key[128], val[256];
	size_t i;
	int st, ret = 0;

	for (i = 0; i < b->n; i++) {
		l = &b->l[i];
		if (l->s[0] != '@' || darg(l, "@if") != NULL)
			continue;
		if ((a = darg(l, "@delay")) != NULL) {
			e = expand_str(a, x);
			s->wake = now_ms() + atol(e);
			free(e);
			ret = 1;
			continue;
		}
		if ((a = darg(l, "@pbx")) != NULL) {
			processed_calls++;
			continue;
		}
		if (darg(l, "@fail") != NULL)
			continue;       /* act_originate()'s answer */
		e = expand_str(l->s, x);
		p = e;
		strsep(&p, " ");
		w1 = p ? strsep(&p, " ") : NULL;
		if (w1 == NULL) {
			warnx("script: %s: argument missing", e);
			free(e);
			continue;
		}
		if (darg(l, "@set") != NULL) {
			kvs_set(&vars, w1, p ? p : "");
		} else if (darg(l, "@unset") != NULL) {
			kvs_del(&vars, w1);
		} else if (darg(l, "@channel") != NULL && p != NULL) {
			snprintf(val, sizeof(val), "%s-%08lx", p, chan_seq(p));
			kvs_set(&s->vars, w1, val);
			new_uid(val, sizeof(val));
			snprintf(key, sizeof(key), "%s.uid", w1);
			kvs_set(&s->vars, key, val);
		} else if (darg(l, "@local") != NULL && p != NULL) {
			unsigned long n = chan_seq(p);
			int half;

			for (half = 1; half <= 2; half++) {
				snprintf(key, sizeof(key), "%s%d", w1, half);
				snprintf(val, sizeof(val), "%s-%08lx;%d", p, n, half);
				kvs_set(&s->vars, key, val);
				snprintf(key, sizeof(key), "%s%d.uid", w1, half);
				new_uid(val, sizeof(val));
				kvs_set(&s->vars, key, val);
			}
		} else if (darg(l, "@devstate") != NULL && p != NULL) {
			w2 = strsep(&p, " ");
			w3 = p;
			if ((st = devstate_val(w2)) < 0)
				warnx("script: bad device state %s", w2);
			else
				devstate_set(w1, st, w3 == NULL ? DS_HINTS_FIRST :
				    strcmp(w3, "dsc-first") == 0 ? DS_DSC_FIRST :
				    strcmp(w3, "quiet") == 0 ? DS_QUIET :
				    DS_HINTS_FIRST);
		} else if (darg(l, "@mwi") != NULL && p != NULL) {
			struct mailbox *mb = mbox_find(w1, 1);

			w2 = strsep(&p, " ");
			mb->new = atoi(w2);
			mb->old = p ? atoi(p) : 0;
			mb->present = 1;
			mwi_publish(mb, mb->new + mb->urg, mb->old, 1);
		} else
			warnx("script: unknown directive %s", e);
		free(e);
	}
	return ret;
}

static void
script_free(struct script *s)
{
	tmpl_free(&s->t);
	kvs_free(&s->vars);
	free(s);
}

/* run blocks from s->pc until the end or a @delay */
static void
script_resume(struct script *s)
{
	struct ami_buf b = { 0 };
	struct ctx x = { NULL, &s->vars, 0 };
	const struct block *bl;
	const char *priv;
	char *pv;
	int cat, wait;

	s->wake = 0;
	while (s->pc < s->t.n) {
		bl = &s->t.b[s->pc++];
		if (!cond_true(bl, &x))
			continue;
		wait = statements(bl, s, &x);
		b.len = 0;
		block_text(&b, bl, &x);
		if (b.len > 0) {
			ami_buf_add(&b, "\r\n", 2);
			ami_buf_addc(&b, '\0');
			cat = 0;
			if ((priv = strcasestr(b.p, "\r\nPrivilege:")) != NULL) {
				priv += 12;
				priv += strspn(priv, " ");
				pv = xstrndup(priv, strcspn(priv, ",\r"));
				cat = perm_of(pv);
				free(pv);
				if (cat == EV_ALL)
					cat = 0;
			}
			publish(cat, b.p, b.len - 1);
		}
		if (wait)
			break;
	}
	ami_buf_free(&b);
	if (s->wake == 0)
		script_free(s);
	else {
		s->next = scripts;
		scripts = s;
	}
}

/* t is taken over */
static void
run_script(struct tmpl *t, struct kvs *args)
{
	struct script *s;
	size_t i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		err(2, "calloc");
	s->t = *t;
	memset(t, 0, sizeof(*t));
	for (i = 0; args != NULL && i < args->n; i++)
		kvs_set(&s->vars, args->a[i].k, args->a[i].v);
	script_resume(s);
}

/* ---- actions ---- */

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

static int
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
		c->block_until = now_ms() + AUTHFAIL_MS;
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
		up = (now_ms() - start_ms) / 1000;
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

static int
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

static int
act_logoff(struct client *c)
{
	respond(c, "Goodbye", "Thanks for all the fish.");
	return -1;
}

static int
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

static int
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

static int
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

static int
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

/* "FUNC(arg)" -> arg, or NULL */
static char *
func_arg(const char *var, const char *func)
{
	size_t n = strlen(func), len = strlen(var);

	if (strncasecmp(var, func, n) != 0 || var[n] != '(' || var[len - 1] != ')')
		return NULL;
	return xstrndup(var + n + 1, len - n - 2);
}

static int
act_setvar(struct client *c)
{
	const char *name = hdr_get(c, "Variable"), *val = hdr_get(c, "Value");
	char *arg = NULL;
	int res = 0, st;

	if (*name == '\0') {
		error(c, "No variable specified");
		return 0;
	}
	if (*hdr_get(c, "Channel") != '\0') {
		error(c, "No such channel");
		return 0;
	}
	/* the events are made while the action runs, sent after its answer */
	if (phase == PH_BOOTING && (strncasecmp(name, "DEVICE_STATE(", 13) == 0 ||
	    strncasecmp(name, "PRESENCE_STATE(", 15) == 0))
		res = -1;      /* their modules are not loaded yet (15) */
	else if ((arg = func_arg(name, "DEVICE_STATE")) != NULL) {
		if (strncasecmp(arg, "Custom:", 7) != 0 || arg[7] == '\0' ||
		    (st = devstate_val(val)) < 0 || st == DS_UNKNOWN)
			res = -1;
		else {
			db_put("CustomDevstate", arg + 7, val);
			devstate_set(arg, st, DS_HINTS_FIRST);
		}
	} else if ((arg = func_arg(name, "PRESENCE_STATE")) != NULL) {
		if (strncasecmp(arg, "CustomPresence:", 15) != 0 || arg[15] == '\0')
			res = -1;
		else
			res = presence_set(arg, val, 0);
	} else if (name[strlen(name) - 1] == ')') {
		res = -1;
	} else
		kvs_set(&globals, name, val);
	free(arg);
	if (res == 0)
		ack(c, "Variable Set");
	else
		error(c, "Variable not set");
	return 0;
}

static int
act_getvar(struct client *c)
{
	const char *name = hdr_get(c, "Variable"), *v = NULL;
	char *arg, *field, out[512] = "";
	struct ami_msg m = { 0 };
	struct provider *pr;

	if (*name == '\0') {
		error(c, "No variable specified");
		return 0;
	}
	if (*hdr_get(c, "Channel") != '\0') {
		error(c, "No such channel");
		return 0;
	}
	if ((arg = func_arg(name, "DEVICE_STATE")) != NULL) {
		v = devnames[dev_state(arg)];
	} else if ((arg = func_arg(name, "PRESENCE_STATE")) != NULL) {
		if ((field = strchr(arg, ',')) != NULL) {
			*field++ = '\0';
			field[strcspn(field, ",")] = '\0';
			if ((pr = prov_find(arg, 0)) != NULL && pr->state >= 0) {
				if (strcasecmp(field, "value") == 0)
					v = presnames[pr->state];
				else if (strcasecmp(field, "subtype") == 0)
					v = pr->sub;
				else if (strcasecmp(field, "message") == 0)
					v = pr->msg;
			}
		}
	} else if (name[strlen(name) - 1] != ')')
		v = kvs_get(&globals, name);
	if (v != NULL)
		strlcpy(out, v, sizeof(out));
	free(arg);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Variable", name);
	ami_msg_adds(&m, "Value", out);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_dbput(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");

	if (*fam == '\0')
		error(c, "No family specified");
	else if (*key == '\0')
		error(c, "No key specified");
	else {
		db_put(fam, key, hdr_get(c, "Val"));
		ack(c, "Updated database successfully");
	}
	return 0;
}

static int
act_dbget(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key"), *v;
	struct ami_msg m = { 0 };
	const char *id = hdr_get(c, "ActionID");

	if (*fam == '\0') {
		error(c, "No family specified.");
		return 0;
	}
	if (*key == '\0') {
		error(c, "No key specified.");
		return 0;
	}
	if ((v = db_get(fam, key)) == NULL) {
		error(c, "Database entry not found");
		return 0;
	}
	listack(c, "Result will follow");
	ami_msg_adds(&m, "Event", "DBGetResponse");
	ami_msg_adds(&m, "Family", fam);
	ami_msg_adds(&m, "Key", key);
	ami_msg_adds(&m, "Val", v);
	if (*id != '\0')
		ami_msg_adds(&m, "ActionID", id);
	send_msg(c, &m);
	ami_msg_free(&m);
	list_complete(c, "DBGetComplete", 1);
	return 0;
}

static int
act_dbdel(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");
	char k[512];

	if (*fam == '\0')
		error(c, "No family specified.");
	else if (*key == '\0')
		error(c, "No key specified.");
	else {
		snprintf(k, sizeof(k), "/%s/%s", fam, key);
		if (kvs_del(&astdb, k) != 0)
			error(c, "Database entry could not be deleted");
		else
			ack(c, "Key deleted successfully");
	}
	return 0;
}

static int
act_dbdeltree(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");
	char pre[512];
	size_t i, n = 0, pl;

	if (*fam == '\0') {
		error(c, "No family specified.");
		return 0;
	}
	snprintf(pre, sizeof(pre), "/%s/%s", fam, key);
	pl = strlen(pre);
	for (i = 0; i < astdb.n;) {
		if (strncasecmp(astdb.a[i].k, pre, pl) == 0 &&
		    (astdb.a[i].k[pl] == '\0' || astdb.a[i].k[pl] == '/' ||
		    *key == '\0')) {
			kvs_del(&astdb, astdb.a[i].k);
			n++;
		} else
			i++;
	}
	if (n == 0)
		error(c, "Database entry not found");
	else
		ack(c, "Key tree deleted successfully");
	return 0;
}

/* manager.c action_dbgettree(): Family, optional Key under it */
static int
act_dbgettree(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");
	struct ami_msg m = { 0 };
	char pre[512];
	size_t i, pl, fl;
	long n = 0;

	if (*fam == '\0') {
		error(c, "No family specified.");
		return 0;
	}
	if (*key != '\0')
		snprintf(pre, sizeof(pre), "/%s/%s", fam, key);
	else
		snprintf(pre, sizeof(pre), "/%s", fam);
	pl = strlen(pre);
	listack(c, "Result will follow");
	for (i = 0; i < astdb.n; i++) {
		const char *k = astdb.a[i].k, *slash;

		if (strncmp(k, pre, pl) != 0 || (k[pl] != '/' && k[pl] != '\0') ||
		    (slash = strrchr(k, '/')) == k)
			continue;
		ami_msg_clear(&m);
		fl = slash - k - 1;
		ami_msg_adds(&m, "Event", "DBGetTreeResponse");
		ami_msg_add(&m, "Family", 6, k + 1, fl);
		ami_msg_adds(&m, "Key", slash + 1);
		ami_msg_adds(&m, "Val", astdb.a[i].v);
		if (*hdr_get(c, "ActionID") != '\0')
			ami_msg_adds(&m, "ActionID", hdr_get(c, "ActionID"));
		send_msg(c, &m);
		n++;
	}
	ami_msg_free(&m);
	list_complete(c, "DBGetTreeComplete", n);
	return 0;
}

static struct hint *
hint_find(const char *context, const char *exten)
{
	size_t i;

	for (i = 0; i < nhints; i++)
		if (strcmp(hints[i].context, context) == 0 &&
		    strcmp(hints[i].exten, exten) == 0)
			return &hints[i];
	return NULL;
}

static int
act_extensionstate(struct client *c)
{
	const char *exten = hdr_get(c, "Exten"), *context = hdr_get(c, "Context");
	struct hint *h;
	struct ami_msg m = { 0 };
	char num[16];
	int st;

	if (*exten == '\0') {
		error(c, "Extension not specified");
		return 0;
	}
	if (*context == '\0')
		context = "default";
	h = hint_find(context, exten);
	st = h != NULL ? h->laststate : -1;
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Extension Status");
	ami_msg_adds(&m, "Exten", exten);
	ami_msg_adds(&m, "Context", context);
	ami_msg_adds(&m, "Hint", h != NULL ? h->text : "");
	snprintf(num, sizeof(num), "%d", st);
	ami_msg_adds(&m, "Status", num);
	ami_msg_adds(&m, "StatusText", extstate_str(st));
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_extensionstatelist(struct client *c)
{
	size_t i;

	if (nhints == 0) {
		error(c, "No dialplan hints are available");
		return 0;
	}
	listack(c, "Extension Statuses will follow");
	for (i = 0; i < nhints; i++)
		extension_status(&hints[i], c);
	list_complete(c, "ExtensionStateListComplete", nhints);
	return 0;
}

static int
act_devicestatelist(struct client *c)
{
	struct ami_msg m = { 0 };
	size_t i;
	long n = 0;

	listack(c, "Device State Changes will follow");
	for (i = 0; i < ndevices; i++) {
		if (!devices[i].present)
			continue;
		list_item(&m, c, "DeviceStateChange");
		ami_msg_adds(&m, "Device", devices[i].name);
		ami_msg_adds(&m, "State", devnames[devices[i].state]);
		send_msg(c, &m);
		n++;
	}
	ami_msg_free(&m);
	list_complete(c, "DeviceStateListComplete", n);
	return 0;
}

static int
act_presencestate(struct client *c)
{
	const char *prov = hdr_get(c, "Provider");
	struct provider *pr;
	struct ami_msg m = { 0 };
	char buf[300];

	if (*prov == '\0') {
		error(c, "No provider specified");
		return 0;
	}
	if ((pr = prov_find(prov, 0)) == NULL || pr->state < 0) {
		snprintf(buf, sizeof(buf), "Invalid provider %s or provider in "
		    "invalid state", prov);
		error(c, buf);
		return 0;
	}
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Presence State");
	ami_msg_adds(&m, "State", presnames[pr->state]);
	if (*pr->sub != '\0')
		ami_msg_adds(&m, "Subtype", pr->sub);
	if (*pr->msg != '\0') {
		/* Asterisk repeats Message; PresenceMessage is the new name */
		ami_msg_adds(&m, "Message", pr->msg);
		ami_msg_adds(&m, "PresenceMessage", pr->msg);
	}
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_presencestatelist(struct client *c)
{
	struct ami_msg m = { 0 };
	size_t i;
	long n = 0;

	listack(c, "Presence State Changes will follow");
	for (i = 0; i < nproviders; i++) {
		if (providers[i].state < 0)
			continue;
		list_item(&m, c, "PresenceStateChange");
		ami_msg_adds(&m, "Presentity", providers[i].name);
		ami_msg_adds(&m, "Status", presnames[providers[i].state]);
		ami_msg_adds(&m, "Subtype", providers[i].sub);
		ami_msg_adds(&m, "Message", providers[i].msg);
		send_msg(c, &m);
		n++;
	}
	ami_msg_free(&m);
	list_complete(c, "PresenceStateListComplete", n);
	return 0;
}

/* what app_voicemail or res_mwi_external count for a mailbox */
static void
mbox_counts(const char *name, int *urg, int *new, int *old)
{
	struct mailbox *mb = mbox_find(name, 0);

	*urg = *new = *old = 0;
	if (mb == NULL || (ext_mwi && !mb->present))
		return;
	*urg = ext_mwi ? 0 : mb->urg;
	*new = mb->new;
	*old = mb->old;
}

static int
act_mailboxcount(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct ami_msg m = { 0 };
	char u[16], n[16], o[16];
	int urg, new, old;

	if (*name == '\0') {
		error(c, "Mailbox not specified");
		return 0;
	}
	mbox_counts(name, &urg, &new, &old);
	snprintf(u, sizeof(u), "%d", urg);
	snprintf(n, sizeof(n), "%d", new);
	snprintf(o, sizeof(o), "%d", old);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Mailbox Message Count");
	ami_msg_adds(&m, "Mailbox", name);
	ami_msg_adds(&m, "UrgMessages", u);
	ami_msg_adds(&m, "NewMessages", n);
	ami_msg_adds(&m, "OldMessages", o);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_mailboxstatus(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct ami_msg m = { 0 };
	int urg, new, old;

	if (*name == '\0') {
		error(c, "Mailbox not specified");
		return 0;
	}
	mbox_counts(name, &urg, &new, &old);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Mailbox Status");
	ami_msg_adds(&m, "Mailbox", name);
	ami_msg_adds(&m, "Waiting", new + urg > 0 ? "1" : "0");
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

/* app_voicemail polls the mailboxes it was asked about; changes publish */
static int
act_voicemailrefresh(struct client *c)
{
	const char *ctx = hdr_get(c, "Context"), *box = hdr_get(c, "Mailbox");
	struct mailbox *mb;
	size_t i, bl;
	const char *at;

	for (i = 0; i < nmailboxes; i++) {
		mb = &mailboxes[i];
		at = strchr(mb->name, '@');
		bl = at - mb->name;
		if (*box != '\0' && (strlen(box) != bl || strncmp(box, mb->name, bl) != 0))
			continue;
		if (*ctx != '\0' && strcmp(ctx, at + 1) != 0)
			continue;
		if (mb->new + mb->urg != mb->pubnew || mb->old != mb->pubold)
			mwi_publish(mb, mb->new + mb->urg, mb->old, 1);
	}
	ack(c, "Refresh sent");
	return 0;
}

static int
act_mwiupdate(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct mailbox *mb;

	if (*name == '\0') {
		error(c, "Missing mailbox parameter in request");
		return 0;
	}
	mb = mbox_find(name, 1);
	mb->present = 1;
	mb->urg = 0;
	mb->new = atoi(hdr_get(c, "NewMessages"));
	mb->old = atoi(hdr_get(c, "OldMessages"));
	ack(c, NULL);
	mwi_publish(mb, mb->new, mb->old, 1);
	return 0;
}

static int
act_mwidelete(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct mailbox *mb;

	if (*name == '\0') {
		error(c, "Missing mailbox parameter in request");
		return 0;
	}
	ack(c, NULL);
	if ((mb = mbox_find(name, 0)) != NULL && mb->present) {
		mb->present = 0;
		mb->new = mb->old = mb->urg = 0;
		mwi_publish(mb, 0, 0, 0);
	}
	return 0;
}

static int
act_mwiget(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox"), *id = hdr_get(c, "ActionID");
	struct mailbox *mb;
	struct ami_msg m = { 0 };
	char n[16], o[16];
	long count = 0;

	if (*name == '\0') {
		error(c, "Missing mailbox parameter in request");
		return 0;
	}
	listack(c, "Mailboxes will follow");
	if ((mb = mbox_find(name, 0)) != NULL && mb->present) {
		snprintf(n, sizeof(n), "%d", mb->new);
		snprintf(o, sizeof(o), "%d", mb->old);
		ami_msg_adds(&m, "Event", "MWIGet");
		ami_msg_adds(&m, "Mailbox", mb->name);
		ami_msg_adds(&m, "OldMessages", o);
		ami_msg_adds(&m, "NewMessages", n);
		if (*id != '\0')
			ami_msg_adds(&m, "ActionID", id);
		send_msg(c, &m);
		count++;
	}
	ami_msg_free(&m);
	list_complete(c, "MWIGetComplete", count);
	return 0;
}

static int
act_corestatus(struct client *c)
{
	struct ami_msg m = { 0 };
	struct tm tm;
	time_t t = start_tv.tv_sec;
	char d[32], tt[32], n[24];

	localtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d", &tm);
	strftime(tt, sizeof(tt), "%H:%M:%S", &tm);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "CoreStartupDate", d);
	ami_msg_adds(&m, "CoreStartupTime", tt);
	ami_msg_adds(&m, "CoreReloadDate", d);
	ami_msg_adds(&m, "CoreReloadTime", tt);
	ami_msg_adds(&m, "CoreCurrentCalls", "0");
	snprintf(n, sizeof(n), "%ld", processed_calls);
	ami_msg_adds(&m, "CoreProcessedCalls", n);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_coresettings(struct client *c)
{
	struct ami_msg m = { 0 };
	const char *v;

	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "AMIversion", amiversion);
	ami_msg_adds(&m, "AsteriskVersion", version);
	ami_msg_adds(&m, "SystemName", "");
	ami_msg_adds(&m, "CoreMaxCalls", "0");
	ami_msg_adds(&m, "CoreMaxLoadAvg", "0.000000");
	ami_msg_adds(&m, "CoreRunUser", "");
	ami_msg_adds(&m, "CoreRunGroup", "");
	ami_msg_adds(&m, "CoreMaxFilehandles", "0");
	ami_msg_adds(&m, "CoreRealTimeEnabled", "No");
	ami_msg_adds(&m, "CoreCDRenabled",
	    (v = kvs_get(&vars, "core.cdr")) != NULL ? v : "Yes");
	ami_msg_adds(&m, "CoreHTTPenabled", "No");
	ami_msg_adds(&m, "SoundsSearchCustomDir", "No");
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

/* is words (a command's first words, '_' between) how some file in
 * DATADIR/commands starts? */
static int
command_prefix(const char *words)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t i, n = strlen(words);
	DIR *d;
	int found = 0;

	for (i = 0; i < ndirs && !found; i++) {
		snprintf(path, sizeof(path), "%s/commands", dirs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while (!found && (de = readdir(d)) != NULL)
			found = strncmp(de->d_name, words, n) == 0 &&
			    (de->d_name[n] == '_' || de->d_name[n] == '\0');
		closedir(d);
	}
	return found;
}

/*
 * cli.c's find_best(): the words of an unknown command up to the first
 * that no command goes on with, that one included; the first word always
 * passes (a one-word command, "!", matches any one word), so "no such cli
 * command" gives "no such" (19)
 */
static const char *
best_words(const char *cmd, char *out, size_t len)
{
	char key[300] = "", *w, *p, *copy = xstrdup(cmd);
	int n = 0;

	*out = '\0';
	for (p = copy; (w = strsep(&p, " \t")) != NULL;) {
		if (*w == '\0')
			continue;
		if (n > 0) {
			strlcat(out, " ", len);
			strlcat(key, "_", sizeof(key));
		}
		strlcat(out, w, len);
		strlcat(key, w, sizeof(key));
		if (n++ > 0 && !command_prefix(key))
			break;
	}
	free(copy);
	return out;
}

static int
act_command(struct client *c)
{
	const char *cmd = hdr_get(c, "Command");
	char name[300], *w, *text, *p, *line, help[300];
	struct ami_buf b = { 0 };
	struct ctx x = { c, NULL, 0 };
	size_t i, len;
	int space = 1, found = 1;

	if (*cmd == '\0') {
		error(c, "No command provided");
		return 0;
	}
	/* the file name: the command's words joined by '_' */
	strlcpy(name, "commands/", sizeof(name));
	w = name + strlen(name);
	for (i = 0; cmd[i] != '\0' && w < name + sizeof(name) - 2; i++) {
		if (isspace((unsigned char)cmd[i])) {
			space = 1;
			continue;
		}
		if (space && w[-1] != '/')
			*w++ = '_';
		space = 0;
		*w++ = cmd[i] == '/' ? '_' : cmd[i];
	}
	*w = '\0';
	if ((text = data_file(name, &len)) == NULL) {
		found = 0;
		bufprintf(&b, "No such command '%s' (type 'core show help %s' "
		    "for other possible commands)\n", cmd, best_words(cmd, help,
		    sizeof(help)));
	} else if (len >= 6 && strncmp(text, "@fail\n", 6) == 0) {
		/* a command that ran and failed (19: dialplan show of a
		 * context that does not exist) */
		found = 0;
		expand(&b, text + 6, len - 6, &x, NULL);
	} else
		expand(&b, text, len, &x, NULL);
	free(text);
	ami_buf_addc(&b, '\0');
	/* Asterisk drops one trailing newline, then each line is an Output */
	if (b.len >= 2 && b.p[b.len - 2] == '\n')
		b.p[b.len - 2] = '\0';
	{
		struct ami_msg m = { 0 };

		resp_start(&m, c, found ? "Success" : "Error");
		ami_msg_adds(&m, "Message", "Command output follows");
		for (p = b.p; (line = strsep(&p, "\n")) != NULL;)
			ami_msg_adds(&m, "Output", line);
		send_msg(c, &m);
		ami_msg_free(&m);
	}
	ami_buf_free(&b);
	return 0;
}

static int
act_hangup(struct client *c)
{
	if (*hdr_get(c, "Channel") == '\0')
		error(c, "No channel specified");
	else
		error(c, "No such channel");
	return 0;
}

/* ast_callerid_parse() for the usual forms: "Name" <num>, Name <num>, num */
static void
callerid_parse(const char *cid, char *name, size_t nl, char *num, size_t ml)
{
	const char *lt = strchr(cid, '<'), *gt;
	char *e;

	*name = *num = '\0';
	if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
		snprintf(num, ml, "%.*s", (int)(gt - lt - 1), lt + 1);
		snprintf(name, nl, "%.*s", (int)(lt - cid), cid);
	} else
		strlcpy(name, cid, nl);
	e = ami_trim(name);
	memmove(name, e, strlen(e) + 1);
	if (name[0] == '"' && strlen(name) >= 2 && name[strlen(name) - 1] == '"') {
		memmove(name, name + 1, strlen(name));
		name[strlen(name) - 1] = '\0';
	}
	if (lt == NULL && strspn(name, "0123456789*#+") == strlen(name)) {
		strlcpy(num, name, ml);
		*name = '\0';
	}
}

static int
act_originate(struct client *c)
{
	const char *chan = hdr_get(c, "Channel"), *id = hdr_get(c, "ActionID");
	int async = truth(hdr_get(c, "Async")) == 1;
	char file[300], *w, name[128], num[128];
	const char *fail;
	struct tmpl t;
	struct kvs args = { 0 };
	struct ami_msg m = { 0 };
	static const char *copy[] = { "Channel", "Application", "Data",
		"Context", "Exten", "Priority", "Account" };
	size_t i;

	if (*chan == '\0') {
		error(c, "Channel not specified");
		return 0;
	}
	if (strchr(chan, '/') == NULL) {
		error(c, "Invalid channel");
		return 0;
	}
	if (*hdr_get(c, "Exten") != '\0' && (*hdr_get(c, "Context") == '\0' ||
	    *hdr_get(c, "Priority") == '\0') && *hdr_get(c, "Application") == '\0') {
		error(c, "Originate with 'Exten' requires 'Context' and 'Priority'");
		return 0;
	}
	snprintf(file, sizeof(file), "originate/%s", chan);
	for (w = file + 10; *w; w++)
		if (*w == '/')
			*w = '_';
	if (tmpl_load(&t, file, 0) != 0) {
		if (!async) {
			error(c, "Originate failed");
			return 0;
		}
		ack(c, "Originate successfully queued");
		callerid_parse(hdr_get(c, "CallerID"), name, sizeof(name), num,
		    sizeof(num));
		event_start(&m, "OriginateResponse", EV_CALL);
		if (*id != '\0')
			ami_msg_adds(&m, "ActionID", id);
		ami_msg_adds(&m, "Response", "Failure");
		ami_msg_adds(&m, "Channel", chan);
		if (*hdr_get(c, "Application") != '\0') {
			ami_msg_adds(&m, "Application", hdr_get(c, "Application"));
			ami_msg_adds(&m, "Data", hdr_get(c, "Data"));
		} else {
			ami_msg_adds(&m, "Context", hdr_get(c, "Context"));
			ami_msg_adds(&m, "Exten", hdr_get(c, "Exten"));
		}
		ami_msg_adds(&m, "Reason", "0");
		ami_msg_adds(&m, "Uniqueid", "<unknown>");
		ami_msg_adds(&m, "CallerIDNum", *num ? num : "<unknown>");
		ami_msg_adds(&m, "CallerIDName", *name ? name : "<unknown>");
		publish_msg(EV_CALL, &m);
		ami_msg_free(&m);
		return 0;
	}
	/* a sync Originate that fails still ran what it ran (21) */
	if ((fail = find_directive(&t, "@fail")) != NULL && !async)
		error(c, fail);
	else
		ack(c, "Originate successfully queued");
	for (i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		kvs_set(&args, copy[i], hdr_get(c, copy[i]));
	kvs_set(&args, "ActionID", id);
	kvs_set(&args, "async", async ? "1" : "");
	callerid_parse(hdr_get(c, "CallerID"), name, sizeof(name), num,
	    sizeof(num));
	kvs_set(&args, "CallerIDNum", *num ? num : "<unknown>");
	kvs_set(&args, "CallerIDName", *name ? name : "<unknown>");
	run_script(&t, &args);
	kvs_free(&args);
	return 0;
}

/* actions/NAME for an action, its name matched as Asterisk does: any case */
static int
action_file(const char *action, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	size_t i;

	if (strchr(action, '/') != NULL || action[0] == '.')
		return -1;
	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/actions", dirs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (strcasecmp(de->d_name, action) == 0) {
				snprintf(out, len, "actions/%s", de->d_name);
				closedir(d);
				return 0;
			}
		closedir(d);
	}
	return -1;
}

/*
 * An action answered from DATADIR/actions/NAME (see the header comment):
 * 0 answered, -1 no such file.
 */
static int
act_template(struct client *c, const char *action)
{
	struct tmpl t;
	struct ctx x = { c, NULL, 0 };
	struct ami_buf b = { 0 }, items = { 0 };
	char file[300], *msg;
	const char *a, *mode;
	size_t i, first;
	int list, nitems = 0;

	if (action_file(action, file, sizeof(file)) != 0 ||
	    tmpl_load(&t, file, 0) != 0)
		return -1;
	mode = find_directive(&t, "@mode");
	list = mode != NULL && strncmp(mode, "list", 4) == 0;
	/* @require checks, in order */
	for (i = 0; t.n > 0 && i < t.b[0].n; i++) {
		char hname[64];

		if ((a = darg(&t.b[0].l[i], "@require")) == NULL)
			continue;
		snprintf(hname, sizeof(hname), "%.*s", (int)strcspn(a, " "), a);
		if (*hdr_get(c, hname) == '\0') {
			a += strcspn(a, " ");
			a += strspn(a, " ");
			msg = unescape_msg(a, &x);
			error(c, msg);
			free(msg);
			goto done;
		}
	}
	first = mode != NULL ? 1 : 0;
	if (list) {
		if (t.n < first + 2)
			errx(2, "%s: a list needs a response and an end", file);
		for (i = first + 1; i + 1 < t.n; i++) {
			if (!cond_true(&t.b[i], &x))
				continue;
			nitems++;
			x.count = nitems;
			block_text(&items, &t.b[i], &x);
			ami_buf_add(&items, "\r\n", 2);
		}
		x.count = nitems;
		if (nitems == 0 && ((a = find_directive(&t, "@empty")) != NULL ||
		    (a = find_directive(&t, "@emptyok")) != NULL)) {
			msg = unescape_msg(a, &x);
			respond(c, find_directive(&t, "@empty") ? "Error" :
			    "Success", msg);
			free(msg);
			goto done;
		}
		block_text(&b, &t.b[first], &x);
		ami_buf_add(&b, "\r\n", 2);
		send_buf(c, &b);
		/* items one by one, so close=N counts them */
		{
			size_t off = 0;
			char *e;

			while (off < items.len) {
				e = memmem(items.p + off, items.len - off,
				    "\r\n\r\n", 4);
				i = e == NULL ? items.len : (size_t)(e - items.p) + 4;
				send_block(c, items.p + off, i - off);
				off = i;
			}
		}
		block_text(&b, &t.b[t.n - 1], &x);
		ami_buf_add(&b, "\r\n", 2);
		send_buf(c, &b);
	} else {
		for (i = first; i < t.n; i++)
			if (cond_true(&t.b[i], &x))
				break;
		if (i == t.n) {
			a = find_directive(&t, "@error");
			msg = unescape_msg(a != NULL ? a : "Not found", &x);
			error(c, msg);
			free(msg);
			goto done;
		}
		block_text(&b, &t.b[i], &x);
		ami_buf_add(&b, "\r\n", 2);
		send_buf(c, &b);
	}
done:
	ami_buf_free(&b);
	ami_buf_free(&items);
	tmpl_free(&t);
	return 0;
}

#define W_SYS   EV_SYSTEM
#define W_CALL  EV_CALL
#define W_REP   (1 << 9)        /* reporting */
#define W_CMD   (1 << 4)        /* command */
#define W_ORIG  (1 << 12)       /* originate */

/*
 * The actions, and the write classes (manager.conf write=) that allow
 * each, any one of them, as the modules register them: a session without
 * one gets "Permission denied" and a RequestNotAllowed (transcript 16).
 */
static const struct action {
	const char *name;
	int (*fn)(struct client *);
	int mode;               /* 0 always, 1 app_voicemail, 2 external MWI */
	int perm;               /* 0: anyone logged in */
} actions[] = {
	{ "Login", act_login, 0, 0 },
	{ "Logoff", act_logoff, 0, 0 },
	{ "Challenge", act_challenge, 0, 0 },
	{ "Ping", act_ping, 0, 0 },
	{ "Events", act_events, 0, 0 },
	{ "Filter", act_filter, 0, W_SYS },
	{ "UserEvent", act_userevent, 0, EV_USER },
	{ "Setvar", act_setvar, 0, W_CALL },
	{ "Getvar", act_getvar, 0, W_CALL | W_REP },
	{ "DBPut", act_dbput, 0, W_SYS },
	{ "DBGet", act_dbget, 0, W_SYS | W_REP },
	{ "DBGetTree", act_dbgettree, 0, W_SYS | W_REP },
	{ "DBDel", act_dbdel, 0, W_SYS },
	{ "DBDelTree", act_dbdeltree, 0, W_SYS },
	{ "ExtensionState", act_extensionstate, 0, W_CALL | W_REP },
	{ "ExtensionStateList", act_extensionstatelist, 0, W_CALL | W_REP },
	{ "DeviceStateList", act_devicestatelist, 0, W_CALL | W_REP },
	{ "PresenceState", act_presencestate, 0, W_CALL | W_REP },
	{ "PresenceStateList", act_presencestatelist, 0, W_CALL | W_REP },
	{ "MailboxCount", act_mailboxcount, 0, W_CALL | W_REP },
	{ "MailboxStatus", act_mailboxstatus, 0, W_CALL | W_REP },
	{ "VoicemailRefresh", act_voicemailrefresh, 1, EV_USER },
	{ "VoicemailUsersList", NULL, 1, W_CALL | W_REP },
	{ "VoicemailUserStatus", NULL, 1, W_CALL | W_REP },
	{ "MWIUpdate", act_mwiupdate, 2, W_CALL },
	{ "MWIGet", act_mwiget, 2, W_CALL | W_REP },
	{ "MWIDelete", act_mwidelete, 2, W_CALL },
	{ "CoreStatus", act_corestatus, 0, W_SYS | W_REP },
	{ "CoreSettings", act_coresettings, 0, W_SYS | W_REP },
	{ "Command", act_command, 0, W_CMD },
	{ "Hangup", act_hangup, 0, W_SYS | W_CALL },
	{ "Originate", act_originate, 0, W_ORIG },
	/* answered from DATADIR/actions */
	{ "CoreShowChannels", NULL, 0, W_SYS | W_REP },
	{ "Status", NULL, 0, W_SYS | W_CALL | W_REP },
	{ "PJSIPShowEndpoints", NULL, 0, W_SYS },
	{ "PJSIPShowEndpoint", NULL, 0, W_SYS },
	{ "PJSIPShowAors", NULL, 0, W_SYS },
	{ "PJSIPShowAuths", NULL, 0, W_SYS },
	{ "PJSIPShowContacts", NULL, 0, W_SYS },
	{ "PJSIPShowRegistrationsInbound", NULL, 0, W_SYS },
	{ "SIPpeers", NULL, 0, W_SYS | W_REP },
	{ "SIPshowpeer", NULL, 0, W_SYS | W_REP },
};

/* process_message(): 0 go on, -1 the session ends */
static int
process_message(struct client *c)
{
	const char *action = "";
	char buf[600];
	size_t i, l = strlen("Action");
	int j, ret = 0;

	/* __astman_get_header(m, "Action", GET_HEADER_SKIP_EMPTY) */
	for (j = 0; j < c->nhdr; j++)
		if (strncasecmp(c->hdr[j], "Action", l) == 0 && c->hdr[j][l] == ':') {
			action = c->hdr[j] + l + 1;
			action += strspn(action, " \t");
			if (*action != '\0')
				break;
		}
	if (*action == '\0') {
		security_event(c, SEC_BADFORMAT, "Action: NONE", NULL, NULL);
		error(c, "Missing action in request");
		return 0;
	}
	if (phase == PH_SHUTTING) {
		shutting_answer(c);
		return 0;
	}
	snprintf(buf, sizeof(buf), "Action: %s", action);
	if (!c->authed && strcasecmp(action, "Login") != 0 &&
	    strcasecmp(action, "Logoff") != 0 &&
	    strcasecmp(action, "Challenge") != 0) {
		security_event(c, SEC_NOTALLOWED, buf, NULL, NULL);
		error(c, "Permission denied");
		return 0;
	}
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcasecmp(actions[i].name, action) != 0)
			continue;
		if (actions[i].mode == (ext_mwi ? 1 : 2) ||
		    (phase == PH_BOOTING && late_module(action)))
			break;
		if (actions[i].perm != 0 && !(c->writeperm & actions[i].perm)) {
			security_event(c, SEC_NOTALLOWED, buf, NULL, NULL);
			error(c, "Permission denied");
			return 0;
		}
		if (actions[i].fn == NULL &&
		    action_file(actions[i].name, buf, sizeof(buf)) != 0)
			break;
		log_action(c);
		if (actions[i].fn != NULL)
			ret = actions[i].fn(c);
		else
			act_template(c, actions[i].name);
		goto done;
	}
	if (i == sizeof(actions) / sizeof(actions[0]) &&
	    action_file(action, buf, sizeof(buf)) == 0) {
		log_action(c);
		act_template(c, action);
		goto done;
	}
	snprintf(buf, sizeof(buf), "Action: %s", action);
	snprintf(buf, sizeof(buf), "Action: %s", action);
	security_event(c, SEC_BADFORMAT, buf, NULL, NULL);
	snprintf(buf, sizeof(buf), "Invalid/unknown command: %s. Use Action: "
	    "ListCommands to show available commands.", action);
	error(c, buf);
done:
	executed++;
	if (nrestart > 0 && executed == restart_at[0]) {
		/* -f restart=N: after the Nth action run, as in 14 */
		memmove(restart_at, restart_at + 1, --nrestart * sizeof(*restart_at));
		shutdown_begin();
	}
	if (ret != 0)
		return ret;
	if (*hdr_get(c, "SuppressEvents") == '\0')
		process_events(c);
	return 0;
}

/* -L: each action run, as one line; not the ones refused (not logged in,
 * no permission, shutting down, not loaded yet); written at once, so tests
 * can tail it and count what was executed */
static void
log_action(struct client *c)
{
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	const char *colon, *v;
	int i;

	if (logfd < 0)
		return;
	for (i = 0; i < c->nhdr; i++) {
		if ((colon = strchr(c->hdr[i], ':')) == NULL) {
			ami_msg_add(&m, "", 0, c->hdr[i], strlen(c->hdr[i]));
			continue;
		}
		v = colon + 1;
		if (*v == ' ')
			v++;
		ami_msg_add(&m, c->hdr[i], colon - c->hdr[i], v, strlen(v));
	}
	if (m.n > 0) {
		ami_text_put(&b, &m);
		if (write(logfd, b.p, b.len) != (ssize_t)b.len)
			warn("log");
	}
	ami_buf_free(&b);
	ami_msg_free(&m);
}

static void
clear_headers(struct client *c)
{
	int i;

	for (i = 0; i < c->nhdr; i++)
		free(c->hdr[i]);
	c->nhdr = 0;
	c->hdrloss = 0;
}

/*
 * do_message() and get_input(): lines from a 1024-byte buffer, as
 * manager.c reads them, so overlong lines and header floods get
 * Asterisk's own answers.  Returns -1 when the session ends.
 */
static int
input_lines(struct client *c)
{
	char line[INBUF + 1];
	int x, cr = 0, res;

	for (;;) {
		if (c->shut || c->dead || c->block_until > 0 ||
		    (c->close_after >= 0 && c->nsent >= c->close_after && !c->cut))
			return 0;
		for (x = 0; x < c->inlen; x++) {
			if (c->inbuf[x] == '\r' && x + 1 < c->inlen &&
			    c->inbuf[x + 1] == '\n')
				cr = 2;
			else if (c->inbuf[x] == '\n')
				cr = 1;
			else
				continue;
			break;
		}
		if (x == c->inlen) {
			if (c->inlen >= INBUF) {
				/* keep the last byte: it may be half a CRLF */
				c->inbuf[0] = c->inbuf[c->inlen - 1];
				c->inlen = 1;
				c->toolong = 1;
				continue;
			}
			return 0;
		}
		memcpy(line, c->inbuf, x);
		line[x] = '\0';
		c->inlen -= x + cr;
		memmove(c->inbuf, c->inbuf + x + cr, c->inlen);
		/* everything after a NUL is lost, as in a C string */
		if (line[0] != '\0') {
			if (c->nhdr < AMI_HEADERS_MAX)
				c->hdr[c->nhdr++] = xstrdup(line);
			else
				c->hdrloss = 1;
			continue;
		}
		/* do_message() runs process_events() before it reads on */
		process_events(c);
		if (c->hdrloss) {
			error(c, "Too many lines in message or allocation failure");
			res = 0;
		} else if (c->toolong) {
			error(c, "Failed to parse message: line too long");
			c->toolong = 0;
			res = 0;
		} else
			res = process_message(c);
		clear_headers(c);
		if (res < 0) {
			if (c->block_until == 0)
				client_shut(c);
			return -1;
		}
	}
}

/* ---- sessions: sockets ---- */

static void
sockname(int fd, int peer, char *out, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char a[INET_ADDRSTRLEN] = "0.0.0.0";

	memset(&sin, 0, sizeof(sin));
	if ((peer ? getpeername(fd, (struct sockaddr *)&sin, &sl) :
	    getsockname(fd, (struct sockaddr *)&sin, &sl)) == 0)
		inet_ntop(AF_INET, &sin.sin_addr, a, sizeof(a));
	snprintf(out, len, "IPV4/TCP/%s/%d", a, ntohs(sin.sin_port));
}

static void
accept_client(void)
{
	static size_t cap;
	struct client *c;
	int fd, one = 1, big = 4 << 20;

	if ((fd = accept4(listenfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn("accept");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(2, "calloc");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rp_count > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	c->fd = fd;
	c->conn = ++nconn;
	c->send_events = EV_ALL;
	c->close_after = -1;
	snprintf(c->sid, sizeof(c->sid), "%p", (void *)c);
	sockname(fd, 0, c->laddr, sizeof(c->laddr));
	sockname(fd, 1, c->raddr, sizeof(c->raddr));
	if (c->conn == 1) {
		c->close_after = f_close;
		c->cut = f_cut;
		c->split = f_split;
	}
	clients = xgrow(clients, &cap, nclients, sizeof(*clients));
	clients[nclients++] = c;
	/* the banner is not a message: close=N does not count it */
	bufprintf(&c->out, "Asterisk Call Manager/%s\r\n", amiversion);
}

static void
free_client(struct client *c)
{
	size_t i;

	client_close(c);
	clear_headers(c);
	for (i = 0; i < c->nfilters; i++)
		regfree(&c->filters[i].re);
	free(c->filters);
	ami_buf_free(&c->out);
	ami_buf_free(&c->evq);
	ami_buf_free(&c->pending);
	free(c);
}

/* as Asterisk: with a Filter set, every replayed event passes it or is not
 * sent (one event a slice: only make bench filters a replay) */
static void
replay_filtered(struct client *c)
{
	size_t start, len;
	char *z;
	int pass = 0;

	while (!pass && c->rp_left > 0 && (c->close_after < 0 ||
	    c->nsent < c->close_after)) {
		start = rp_off[c->rp_idx];
		len = rp_off[c->rp_idx + 1] - start;
		z = xstrndup(rp_big + start, len);
		if ((pass = filter_pass(c, z))) {
			c->rp_ptr = rp_big + start;
			c->rp_cur = len;
		}
		free(z);
		c->rp_left--;
		c->nsent++;
		c->rp_idx = (c->rp_idx + 1) % rp_nev;
	}
	if (c->rp_left == 0 || (c->close_after >= 0 && c->nsent >= c->close_after))
		client_shut(c);
}

/* the next replay slice: whole events, at most SLICE bytes */
static void
replay_slice(struct client *c)
{
	size_t k, bytes, end, start = rp_off[c->rp_idx];
	unsigned long max = c->rp_left;

	if (c->nfilters > 0) {
		replay_filtered(c);
		return;
	}
	if (c->close_after >= 0 && (unsigned long)(c->close_after - c->nsent) < max)
		max = c->close_after - c->nsent;
	for (k = 0; k < max; k++) {
		end = c->rp_idx + k + 1;
		bytes = (end / rp_nev) * rp_cyclelen + rp_off[end % rp_nev] - start;
		if (bytes > SLICE && k > 0)
			break;
	}
	end = c->rp_idx + k;
	bytes = (end / rp_nev) * rp_cyclelen + rp_off[end % rp_nev] - start;
	c->rp_ptr = rp_big + start;
	c->rp_cur = bytes;
	c->rp_left -= k;
	c->nsent += k;
	c->rp_idx = end % rp_nev;
	if (c->close_after >= 0 && c->nsent >= c->close_after)
		client_shut(c);
	else if (c->rp_left == 0)
		client_shut(c);
}

/* write what we can; a replay slice or an out message is never cut short */
static void
client_write(struct client *c, int64_t now)
{
	ssize_t n;
	size_t want;

	while (!c->dead) {
		if (c->stall_until > now)
			return;
		if (c->rp_cur > 0) {
			want = c->split ? 1 : c->rp_cur;
			n = write(c->fd, c->rp_ptr, want);
			if (n > 0) {
				c->rp_ptr += n;
				c->rp_cur -= n;
			}
		} else if (c->off < c->out.len) {
			want = c->split ? 1 : c->out.len - c->off;
			n = write(c->fd, c->out.p + c->off, want);
			if (n > 0 && (c->off += n) == c->out.len)
				c->off = c->out.len = 0;
		} else if (c->stall_pending) {
			c->stall_pending = 0;
			c->stall_until = now + c->stall_ms;
			return;
		} else if (c->replaying && c->rp_left > 0 && !c->shut) {
			replay_slice(c);
			continue;
		} else {
			if (c->shut && c->drain_until == 0) {
				shutdown(c->fd, SHUT_WR);
				c->drain_until = now + DRAIN_MS;
			}
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_close(c);
			return;
		}
		if (c->split)
			return;
	}
}

static void
client_read(struct client *c)
{
	char junk[65536];
	ssize_t n;

	if (c->shut) {
		/* draining after our FIN: their bytes no longer count */
		n = read(c->fd, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	n = read(c->fd, c->inbuf + c->inlen, INBUF - c->inlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->inlen += n;
	input_lines(c);
}

/* ---- the lifecycle: restart and boot (transcripts 14, 15) ---- */

static void
listen_open(int port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int one = 1;

	if ((listenfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0)
		err(2, "socket");
	setsockopt(listenfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listenfd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		err(2, "bind 127.0.0.1:%d", port);
	if (listen(listenfd, 128) != 0)
		err(2, "listen");
	if (getsockname(listenfd, (struct sockaddr *)&sin, &sl) != 0)
		err(2, "getsockname");
	lport = ntohs(sin.sin_port);
}

/* "core restart now": Event: Shutdown to every session that reads system */
static void
shutdown_begin(void)
{
	struct ami_msg m = { 0 };
	size_t i;

	if (phase == PH_SHUTTING || phase == PH_DOWN)
		return;
	event_start(&m, "Shutdown", EV_SYSTEM);
	ami_msg_adds(&m, "Shutdown", "Cleanly");
	ami_msg_adds(&m, "Restart", "True");
	publish_msg(EV_SYSTEM, &m);
	ami_msg_free(&m);
	for (i = 0; i < nclients; i++)
		clients[i]->shut_answered = clients[i]->shut_dropped = 0;
	phase = PH_SHUTTING;
	phase_until = now_ms() + SHUT_MS;
	shut_drain = phase_until + DRAIN_MS;
}

/* an action while shutting down: the first few answered, then silence */
static void
shutting_answer(struct client *c)
{
	int64_t now = now_ms();

	if (c->shut_answered < shut_errors) {
		c->shut_answered++;
		error(c, "Asterisk is shutting down");
	} else if (++c->shut_dropped >= SHUT_DROPS)
		phase_until = now;
	if (phase_until != now && phase_until < now + SHUT_MS)
		phase_until = now + SHUT_MS;
}

/* every answer written and taken by the peer (an RST drops what the
 * kernel still holds, and an answer lost is an action run twice) */
static int
all_sent(int64_t now)
{
	struct client *c;
	size_t i;
	int q;

	for (i = 0; i < nclients; i++) {
		c = clients[i];
		process_events(c);
		client_write(c, now);
		if (c->dead || c->fd < 0)
			continue;
		if (c->off < c->out.len || c->rp_cur > 0 ||
		    (ioctl(c->fd, SIOCOUTQ, &q) == 0 && q > 0))
			return 0;
	}
	return 1;
}

/* the process ends: what was written goes, then RST (14), no Goodbye;
 * the port refuses until the new process listens */
static void
reset_all(int64_t now)
{
	struct linger lg = { 1, 0 };
	struct client *c;
	size_t i;

	for (i = 0; i < nclients; i++) {
		c = clients[i];
		if (c->fd >= 0)
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		client_close(c);
	}
	close(listenfd);
	listenfd = -1;
	phase = PH_DOWN;
	phase_until = now + down_ms;
}

/*
 * func_devstate at load: the Custom: states come back from astdb, but
 * named by the key's last component, so Custom:PJSIP/100 returns as
 * Custom:100 and itself reads INVALID (18b)
 */
static void
custom_reload(void)
{
	struct device *d;
	const char *slash;
	char name[300];
	size_t i;
	int st;

	for (i = 0; i < ndevices; i++)
		if (strncasecmp(devices[i].name, "Custom:", 7) == 0) {
			devices[i].present = 0;
			devices[i].state = strchr(devices[i].name + 7, '/') ?
			    DS_INVALID : DS_UNKNOWN;
		}
	for (i = 0; i < astdb.n; i++) {
		if (strncasecmp(astdb.a[i].k, "/CustomDevstate/", 16) != 0 ||
		    (st = devstate_val(astdb.a[i].v)) < 0)
			continue;
		slash = strrchr(astdb.a[i].k, '/');
		snprintf(name, sizeof(name), "Custom:%s", slash + 1);
		d = dev_find(name, 1);
		d->state = st;
		d->present = 1;
	}
	for (i = 0; i < nhints; i++)
		hints[i].laststate = hint_state(&hints[i]);
}

static void
boot_begin(int64_t now)
{
	custom_reload();
	if (listenfd < 0)
		listen_open(lport);
	phase = PH_BOOTING;
	phase_until = now + boot_ms;
	start_ms = now;
	gettimeofday(&start_tv, NULL);
}

/* the modules that register these load after a login is possible (15) */
static int
late_module(const char *action)
{
	return strcasecmp(action, "DeviceStateList") == 0 ||
	    strcasecmp(action, "PresenceStateList") == 0;
}

/* what the modules say as they finish loading, then FullyBooted (15) */
static void
boot_done(int64_t now)
{
	struct ami_msg m = { 0 };
	struct hint h;
	char key[300], n[24];
	size_t i;

	phase = PH_UP;
	for (i = 0; i < vars.n; i++) {
		const char *k = vars.a[i].k, *dot;

		if (strncmp(k, "pjsip.", 6) != 0 || (dot = strchr(k + 6, '.')) == NULL ||
		    strcmp(dot, ".contact") != 0 || *vars.a[i].v == '\0')
			continue;
		snprintf(key, sizeof(key), "PJSIP/%.*s", (int)(dot - k - 6), k + 6);
		event_start(&m, "PeerStatus", EV_SYSTEM);
		ami_msg_adds(&m, "ChannelType", "PJSIP");
		ami_msg_adds(&m, "Peer", key);
		ami_msg_adds(&m, "PeerStatus", "Reachable");
		publish_msg(EV_SYSTEM, &m);
		event_start(&m, "ContactStatus", EV_SYSTEM);
		ami_msg_adds(&m, "URI", vars.a[i].v);
		ami_msg_adds(&m, "ContactStatus", "NonQualified");
		ami_msg_add(&m, "AOR", 3, k + 6, dot - k - 6);
		ami_msg_add(&m, "EndpointName", 12, k + 6, dot - k - 6);
		ami_msg_adds(&m, "RoundtripUsec", "0");
		publish_msg(EV_SYSTEM, &m);
	}
	for (i = 0; i < nmailboxes; i++)
		if (!ext_mwi || mailboxes[i].present)
			mwi_publish(&mailboxes[i], mailboxes[i].new + mailboxes[i].urg,
			    mailboxes[i].old, 0);
	/* the hints as the dialplan loads them: no hint text yet */
	for (i = 0; i < nhints; i++) {
		h = hints[i];
		h.text = "";
		extension_status(&h, NULL);
	}
	event_start(&m, "FullyBooted", EV_SYSTEM);
	ami_msg_adds(&m, "Status", "Fully Booted");
	snprintf(n, sizeof(n), "%ld", (long)((now - start_ms) / 1000));
	ami_msg_adds(&m, "Uptime", n);
	ami_msg_adds(&m, "LastReload", n);
	publish_msg(EV_SYSTEM, &m);
	ami_msg_free(&m);
}

static void
phase_timer(int64_t now)
{
	if (phase == PH_UP || now < phase_until)
		return;
	if (phase == PH_SHUTTING) {
		if (all_sent(now) || now >= shut_drain)
			reset_all(now);
		else
			phase_until = now + 5;
	}
	else if (phase == PH_DOWN)
		boot_begin(now);
	else
		boot_done(now);
}

/* ---- the control channel ---- */

/* the rest of line after n words */
static const char *
after_words(const char *line, int n)
{
	line += strspn(line, " \t");
	while (n-- > 0) {
		line += strcspn(line, " \t");
		line += strspn(line, " \t");
	}
	return line;
}

static void
control(char *line)
{
	char *copy = xstrdup(line), *p = line, *av[12], name[300], key[16];
	struct tmpl t;
	struct kvs args = { 0 };
	struct mailbox *mb;
	size_t i;
	int ac = 0, st;

	while (ac < 12 && (av[ac] = strsep(&p, " \t")) != NULL)
		if (*av[ac] != '\0')
			ac++;
	if (ac == 0 || av[0][0] == '#')
		goto out;
	if (strcmp(av[0], "devstate") == 0 && ac >= 3) {
		if ((st = devstate_val(av[2])) < 0)
			warnx("control: bad device state %s", av[2]);
		else {
			if (strncasecmp(av[1], "Custom:", 7) == 0)
				db_put("CustomDevstate", av[1] + 7, av[2]);
			devstate_set(av[1], st, ac > 3 && strcmp(av[3], "quiet") == 0 ?
			    DS_QUIET : DS_HINTS_FIRST);
		}
	} else if ((strcmp(av[0], "presence") == 0 ||
	    strcmp(av[0], "presenceq") == 0) && ac >= 3) {
		if (presence_set(av[1], after_words(copy, 2), av[0][8] == 'q') != 0)
			warnx("control: bad presence %s", after_words(copy, 2));
	} else if (strcmp(av[0], "spool") == 0 && ac >= 4) {
		/* files in the spool: app_voicemail sees them when it polls */
		mb = mbox_find(av[1], 1);
		mb->new = atoi(av[2]);
		mb->old = atoi(av[3]);
		mb->urg = ac > 4 ? atoi(av[4]) : 0;
	} else if (strcmp(av[0], "mwi") == 0 && ac >= 4) {
		mb = mbox_find(av[1], 1);
		mb->new = atoi(av[2]);
		mb->old = atoi(av[3]);
		mb->present = 1;
		mwi_publish(mb, mb->new + mb->urg, mb->old, 1);
	} else if (strcmp(av[0], "set") == 0 && ac >= 2) {
		if (strcmp(av[1], "processed_calls") == 0)
			processed_calls = atol(after_words(copy, 2));
		else
			kvs_set(&vars, av[1], after_words(copy, 2));
	} else if (strcmp(av[0], "unset") == 0 && ac >= 2) {
		kvs_del(&vars, av[1]);
	} else if (strcmp(av[0], "emit") == 0 && ac >= 2) {
		if (tmpl_load(&t, av[1], 1) != 0)
			warn("control: emit %s", av[1]);
		else
			run_script(&t, NULL);
	} else if (strcmp(av[0], "restart") == 0) {
		shutdown_begin();
	} else if (strcmp(av[0], "boot") == 0) {
		/* as if started just now: logins before FullyBooted (15) */
		if (phase == PH_UP)
			boot_begin(now_ms());
	} else if (strcmp(av[0], "kick") == 0) {
		for (i = 0; i < nclients; i++)
			client_close(clients[i]);
	} else {
		/* "run SCRIPT ARGS" or just "SCRIPT ARGS" */
		int first = strcmp(av[0], "run") == 0 ? 1 : 0, k;

		if (first >= ac || strchr(av[first], '/') != NULL) {
			warnx("control: %s: what to run?", line);
			goto out;
		}
		snprintf(name, sizeof(name), "scripts/%s", av[first]);
		if (tmpl_load(&t, name, 0) != 0) {
			warnx("control: unknown command or script %s", av[first]);
			goto out;
		}
		for (k = first + 1; k < ac; k++) {
			snprintf(key, sizeof(key), "%d", k - first);
			kvs_set(&args, key, av[k]);
		}
		run_script(&t, &args);
		kvs_free(&args);
	}
	/* events of a control command go out at once */
	for (i = 0; i < nclients; i++)
		process_events(clients[i]);
out:
	free(copy);
}

static void
control_read(void)
{
	ssize_t n;
	char *nl;

	n = read(ctlfd, ctlbuf + ctllen, sizeof(ctlbuf) - 1 - ctllen);
	if (n <= 0)
		return;
	ctllen += n;
	while ((nl = memchr(ctlbuf, '\n', ctllen)) != NULL) {
		*nl = '\0';
		control(ctlbuf);
		ctllen -= nl + 1 - ctlbuf;
		memmove(ctlbuf, nl + 1, ctllen);
	}
	if (ctllen == sizeof(ctlbuf) - 1)
		ctllen = 0;
}

/* ---- replay file ---- */

static void
load_replay(const char *path)
{
	char *text, *p, *e, *nl, *q;
	struct ami_buf cyc = { 0 };
	size_t len, cap = 0, i, reps;
	int inmsg = 0;

	if ((text = slurp(path, &len)) == NULL)
		err(2, "%s", path);
	/* normalise to CRLF blocks; '#' lines and a banner do not count */
	for (p = text, e = text + len; p < e; p = nl + 1) {
		if ((nl = memchr(p, '\n', e - p)) == NULL)
			nl = e;
		q = nl;
		if (q > p && q[-1] == '\r')
			q--;
		if (q == p) {
			if (inmsg) {
				ami_buf_add(&cyc, "\r\n", 2);
				inmsg = 0;
			}
			continue;
		}
		if (!inmsg && (*p == '#' || strncmp(p, "Asterisk Call Manager/", 22) == 0))
			continue;
		if (!inmsg) {
			rp_off = xgrow(rp_off, &cap, rp_nev + 1, sizeof(*rp_off));
			rp_off[rp_nev++] = cyc.len;
			inmsg = 1;
		}
		ami_buf_add(&cyc, p, q - p);
		ami_buf_add(&cyc, "\r\n", 2);
	}
	if (inmsg)
		ami_buf_add(&cyc, "\r\n", 2);
	free(text);
	if (rp_nev == 0)
		errx(2, "%s: no events", path);
	rp_off = xgrow(rp_off, &cap, rp_nev + 1, sizeof(*rp_off));
	rp_off[rp_nev] = cyc.len;
	rp_cyclelen = cyc.len;
	/* enough copies that a slice from any event start is contiguous */
	reps = (SLICE + rp_cyclelen) / rp_cyclelen + 2;
	if ((rp_big = malloc(reps * rp_cyclelen)) == NULL)
		err(2, "malloc");
	for (i = 0; i < reps; i++)
		memcpy(rp_big + i * rp_cyclelen, cyc.p, rp_cyclelen);
	ami_buf_free(&cyc);
}

/* ---- main ---- */

static void
onterm(int sig)
{
	(void)sig;
	quit = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: amisim [-C fifo] [-d datadir] [-f fault]... "
	    "[-L logfile] [-N count]\n"
	    "              [-P portfile] [-p port] [-R file]\n");
	exit(2);
}

static void
fault(const char *s)
{
	const char *e;

	if (strncmp(s, "close=", 6) == 0 || strncmp(s, "cut=", 4) == 0) {
		f_cut = s[1] == 'u';
		f_close = strtonum(strchr(s, '=') + 1, 0, LONG_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strncmp(s, "stall=", 6) == 0 || strncmp(s, "mute=", 5) == 0) {
		f_mute = s[0] == 'm';
		f_stall = strtonum(strchr(s, '=') + 1, 0, INT_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strcmp(s, "garbage") == 0)
		f_garbage = 1;
	else if (strcmp(s, "split") == 0)
		f_split = 1;
	else if (strcmp(s, "refuse") == 0)
		f_refuse = 1;
	else if (strcmp(s, "noread") == 0)
		f_noread = 1;
	else if (strncmp(s, "restart=", 8) == 0) {
		restart_at = reallocarray(restart_at, nrestart + 1,
		    sizeof(*restart_at));
		if (restart_at == NULL)
			err(2, "reallocarray");
		restart_at[nrestart] = strtonum(s + 8, 1, LONG_MAX, &e);
		if (e != NULL || (nrestart > 0 &&
		    restart_at[nrestart] <= restart_at[nrestart - 1]))
			errx(2, "-f %s: %s", s, e != NULL ? e : "not increasing");
		nrestart++;
	} else if (strncmp(s, "shuterrors=", 11) == 0) {
		shut_errors = strtonum(s + 11, 0, LONG_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strncmp(s, "down=", 5) == 0 || strncmp(s, "boot=", 5) == 0) {
		*(s[0] == 'd' ? &down_ms : &boot_ms) =
		    strtonum(s + 5, 0, INT_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strcmp(s, "nochallenge") == 0)
		f_nochallenge = 1;
	else
		errx(2, "-f %s: unknown fault (close=N cut=N stall=MS mute=MS "
		    "garbage split refuse noread nochallenge restart=N "
		    "shuterrors=N down=MS boot=MS)", s);
}

static void
write_portfile(const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		err(2, "%s", tmp);
	fprintf(f, "%d\n", lport);
	if (fclose(f) != 0)
		err(2, "%s", tmp);
	if (rename(tmp, path) != 0)
		err(2, "rename %s", path);
}

static char *
default_datadir(void)
{
	static char dir[PATH_MAX + 16];
	char *slash;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", dir, PATH_MAX - 1)) < 0)
		return "tests/amisim.d";
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	strlcat(dir, "/amisim.d", sizeof(dir));
	return dir;
}

static int
poll_timeout(int64_t now)
{
	int64_t t = -1, w;
	size_t i;
	struct script *s;

#define SOONER(x) do { w = (x) - now; if (w < 0) w = 0; \
	if (t < 0 || w < t) t = w; } while (0)
	for (i = 0; i < ndeferred; i++)
		SOONER(deferred[i].when);
	for (s = scripts; s != NULL; s = s->next)
		SOONER(s->wake);
	if (phase != PH_UP)
		SOONER(phase_until);
	for (i = 0; i < nclients; i++) {
		if (clients[i]->block_until > 0)
			SOONER(clients[i]->block_until);
		if (clients[i]->stall_until > now)
			SOONER(clients[i]->stall_until);
		if (clients[i]->drain_until > 0)
			SOONER(clients[i]->drain_until);
	}
#undef SOONER
	return t > INT_MAX ? INT_MAX : (int)t;
}

static void
timers(int64_t now)
{
	struct script **sp, *s;
	struct client *c;
	size_t i;

	phase_timer(now);
	if (ndeferred > 0 && deferred[0].when <= now)
		flush_deferred();
	for (sp = &scripts; (s = *sp) != NULL;) {
		if (s->wake <= now) {
			*sp = s->next;
			script_resume(s);
			sp = &scripts;
		} else
			sp = &s->next;
	}
	for (i = 0; i < nclients; i++) {
		c = clients[i];
		if (c->block_until > 0 && c->block_until <= now) {
			/* the failed login's answer, then the end */
			c->block_until = 0;
			send_block(c, c->pending.p, c->pending.len);
			c->pending.len = 0;
			client_shut(c);
		}
		if (c->drain_until > 0 && c->drain_until <= now)
			client_close(c);
	}
}

int
main(int argc, char *argv[])
{
	struct pollfd *pfd = NULL;
	struct sigaction sa;
	const char *portfile = NULL, *replay = NULL, *fifo = NULL, *e;
	size_t pcap = 0, i, np, j;
	int ch, port = 0;
	int64_t now;
	struct client *c;

	while ((ch = getopt(argc, argv, "C:d:f:L:N:P:p:R:")) != -1) {
		switch (ch) {
		case 'C':
			fifo = optarg;
			break;
		case 'd':
			datadir = optarg;
			break;
		case 'f':
			fault(optarg);
			break;
		case 'L':
			if ((logfd = open(optarg, O_WRONLY | O_CREAT | O_APPEND |
			    O_CLOEXEC, 0644)) < 0)
				err(2, "%s", optarg);
			break;
		case 'N':
			rp_count = strtonum(optarg, 0, LLONG_MAX, &e);
			if (e != NULL)
				errx(2, "-N %s: %s", optarg, e);
			break;
		case 'P':
			portfile = optarg;
			break;
		case 'p':
			port = strtonum(optarg, 0, 65535, &e);
			if (e != NULL)
				errx(2, "-p %s: %s", optarg, e);
			break;
		case 'R':
			replay = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (replay != NULL) != (rp_count > 0))
		usage();
	if (datadir == NULL)
		datadir = default_datadir();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onterm;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	start_ms = now_ms();
	gettimeofday(&start_tv, NULL);
	load_settings();
	load_data();
	if (replay != NULL)
		load_replay(replay);
	if ((e = kvs_get(&vars, "processed_calls")) != NULL)
		processed_calls = atol(e);

	if (fifo != NULL) {
		if (mkfifo(fifo, 0600) != 0 && errno != EEXIST)
			err(2, "mkfifo %s", fifo);
		/* read-write, so the last writer going away is no EOF */
		if ((ctlfd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
			err(2, "%s", fifo);
	}
	listen_open(port);
	if (portfile != NULL)
		write_portfile(portfile);

	while (!quit) {
		now = now_ms();
		np = 0;
		pfd = xgrow(pfd, &pcap, nclients + 2, sizeof(*pfd));
		/* the control channel first: it runs before later input */
		if (ctlfd >= 0) {
			pfd[np].fd = ctlfd;
			pfd[np++].events = POLLIN;
		}
		pfd[np].fd = listenfd;
		pfd[np++].events = POLLIN;
		for (i = 0; i < nclients; i++) {
			c = clients[i];
			pfd[np].fd = c->fd;
			pfd[np].events = 0;
			pfd[np].revents = 0;
			if (c->block_until == 0 && (c->stall_until <= now ||
			    c->mute) && (!(c->authed && c->noread) || c->shut))
				pfd[np].events |= POLLIN;
			if (c->block_until == 0 && c->stall_until <= now) {
				if (c->off < c->out.len || c->rp_cur > 0 ||
				    (c->replaying && c->rp_left > 0) ||
				    (c->shut && c->drain_until == 0) ||
				    c->stall_pending)
					pfd[np].events |= POLLOUT;
			}
			np++;
		}
		if (poll(pfd, np, poll_timeout(now)) < 0) {
			if (errno == EINTR)
				continue;
			err(2, "poll");
		}
		now = now_ms();
		j = 0;
		if (ctlfd >= 0 && (pfd[j++].revents & POLLIN))
			control_read();
		if ((pfd[j++].revents & POLLIN) && listenfd >= 0)
			accept_client();
		for (i = 0; i < nclients && j < np; i++, j++) {
			c = clients[i];
			if (c->dead)
				continue;
			if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(c);
			/* events published by another session's action */
		}
		timers(now);
		for (i = 0; i < nclients; i++) {
			c = clients[i];
			process_events(c);
			if (!c->dead)
				client_write(c, now);
		}
		/* sessions that ended go, keeping the order of the rest */
		for (i = j = 0; i < nclients; i++) {
			if (clients[i]->dead)
				free_client(clients[i]);
			else
				clients[j++] = clients[i];
		}
		nclients = j;
	}
	for (i = 0; i < nclients; i++)
		free_client(clients[i]);
	free(pfd);
	return 0;
}
