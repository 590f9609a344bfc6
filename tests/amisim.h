/*
 * amisim's private header: what its files share, grouped by file; what
 * amisim does, its options and its data dir: tests/amisim.c.
 */
#ifndef AMISIM_H
#define AMISIM_H

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

#define EV_SYSTEM   (1 << 0)
#define EV_CALL     (1 << 1)
#define EV_USER     (1 << 6)
#define EV_SECURITY (1 << 17)
#define EV_ALL      INT_MAX /* manager.c's "all" */

/* device states: ast_devstate_str() and ast_devstate2str() */
enum { DS_UNKNOWN, DS_NOT_INUSE, DS_INUSE, DS_BUSY, DS_INVALID,
	DS_UNAVAILABLE, DS_RINGING, DS_RINGINUSE, DS_ONHOLD };
extern const char *devnames[DS_ONHOLD + 1], *devtexts[DS_ONHOLD + 1];
/* presence states: ast_presence_state2str() */
extern const char *presnames[7];

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

/* ---- amisim.c: the server's state ---- */
extern const char *datadir;
extern char *dirs[8];
extern size_t ndirs;
extern int logfd;
extern int listenfd, ctlfd;
extern int lport;
extern struct client **clients;
extern size_t nclients;
extern int64_t start_ms;
extern struct timeval start_tv;
extern int ext_mwi;      /* res_mwi_external instead of app_voicemail */
extern char version[64], amiversion[32];

extern struct kvs vars, astdb;
extern struct device *devices;
extern size_t ndevices;
extern struct hint *hints;
extern size_t nhints;
extern struct provider *providers;
extern size_t nproviders;
extern struct mailbox *mailboxes;
extern size_t nmailboxes;
extern struct user *users;
extern size_t nusers;
extern struct deferred *deferred;
extern size_t ndeferred;
extern struct script *scripts;
extern long processed_calls;

extern int phase;
extern int64_t phase_until;
extern long shut_errors;
extern int64_t down_ms, boot_ms;
extern unsigned long *restart_at; /* -f restart=N: executed counts */
extern size_t nrestart;

/* faults for the first connection */
extern long f_close;
extern int f_cut;
extern int64_t f_stall;
extern int f_mute;
extern int f_garbage, f_split, f_refuse, f_noread, f_nochallenge;

/* replay */
extern unsigned long rp_count;

/* ---- amisim-util.c: small helpers ---- */
void *xgrow(void *p, size_t *cap, size_t n, size_t size);
void bufprintf(struct ami_buf *b, const char *fmt, ...);
void put(struct ami_buf *b, const char *s);
const char *kvs_get(const struct kvs *s, const char *k);
void kvs_set(struct kvs *s, const char *k, const char *v);
int kvs_del(struct kvs *s, const char *k);
void kvs_free(struct kvs *s);
const char *db_get(const char *family, const char *key);
void db_put(const char *family, const char *key, const char *val);
void fmt_tv(char *out, size_t len, struct timeval tv);
int perm_of(const char *s);
const char *perm_str(int cat);
int truth(const char *s);
int eventmask(const char *s);

/* ---- amisim-data.c: the data dir ---- */
char *slurp(const char *path, size_t *lenp);
char *data_file(const char *name, size_t *lenp);
char *nextline(char **pp);
void load_settings(void);
struct device *dev_find(const char *name, int create);
int devstate_val(const char *s);
int dev_state(const char *name);
int hint_state(const struct hint *h);
const char *extstate_str(int s);
int hint_has(const struct hint *h, const char *dev);
struct provider *prov_find(const char *name, int create);
struct mailbox *mbox_find(const char *name, int create);
void load_data(void);

/* ---- amisim-tmpl.c: templates ---- */
int tmpl_load(struct tmpl *t, const char *name, int path);
void tmpl_free(struct tmpl *t);
const char *hdr_get(const struct client *c, const char *name);
void expand(struct ami_buf *out, const char *s, size_t n, struct ctx *x,
    int *drop);
char *expand_str(const char *s, struct ctx *x);
const char *darg(const struct line *l, const char *word);
int cond_true(const struct block *b, struct ctx *x);
void block_text(struct ami_buf *out, const struct block *b, struct ctx *x);
const char *find_directive(const struct tmpl *t, const char *word);
char *unescape_msg(const char *s, struct ctx *x);

/* ---- amisim-send.c: sessions: output, responses, security events ---- */
enum sec { SEC_OK, SEC_BADFORMAT, SEC_NOTALLOWED, SEC_BADUSER, SEC_BADPASS,
	SEC_BADCHAL };
void client_close(struct client *c);
void client_shut(struct client *c);
void send_block(struct client *c, const char *s, size_t n);
void send_buf(struct client *c, struct ami_buf *b);
void send_msg(struct client *c, struct ami_msg *m);
void process_events(struct client *c);
int filter_pass(const struct client *c, const char *text);
void flush_deferred(void);
void publish(int cat, const char *text, size_t len);
void publish_msg(int cat, struct ami_msg *m);
void event_start(struct ami_msg *m, const char *name, int cat);
void resp_start(struct ami_msg *m, struct client *c, const char *resp);
void respond(struct client *c, const char *resp, const char *msg);
/* static, as they were in one file: libc has an error(3) of its own */
static inline void
ack(struct client *c, const char *msg)
{
	respond(c, "Success", msg);
}

static inline void
error(struct client *c, const char *msg)
{
	respond(c, "Error", msg);
}

void listack(struct client *c, const char *msg);
void list_item(struct ami_msg *m, struct client *c, const char *event);
void list_complete(struct client *c, const char *event, long n);
void security_event(struct client *c, enum sec type, const char *a1,
    const char *a2, const char *a3);

/* ---- amisim-state.c: state changes and the events they make ---- */
enum { DS_HINTS_FIRST, DS_DSC_FIRST, DS_QUIET };     /* devstate_set()'s how */
void extension_status(const struct hint *h, struct client *c);
void devstate_set(const char *name, int state, int how);
int presence_set(const char *provider, const char *value, int quiet);
void mwi_publish(struct mailbox *mb, int new, int old, int devstate);

/* ---- amisim-script.c: scripts ---- */
void script_resume(struct script *s);
void run_script(struct tmpl *t, struct kvs *args);

/* ---- amisim-act-session.c: the session's own (Login ... UserEvent) ---- */
int act_login(struct client *c);
int act_challenge(struct client *c);
int act_logoff(struct client *c);
int act_ping(struct client *c);
int act_events(struct client *c);
int act_filter(struct client *c);
int act_userevent(struct client *c);

/* ---- amisim-act-vars.c: variables and astdb ---- */
int act_setvar(struct client *c);
int act_getvar(struct client *c);
int act_dbput(struct client *c);
int act_dbget(struct client *c);
int act_dbdel(struct client *c);
int act_dbdeltree(struct client *c);
int act_dbgettree(struct client *c);

/* ---- amisim-act-state.c: what the state is ---- */
int act_extensionstate(struct client *c);
int act_extensionstatelist(struct client *c);
int act_devicestatelist(struct client *c);
int act_presencestate(struct client *c);
int act_presencestatelist(struct client *c);
int act_mailboxcount(struct client *c);
int act_mailboxstatus(struct client *c);
int act_voicemailrefresh(struct client *c);
int act_mwiupdate(struct client *c);
int act_mwidelete(struct client *c);
int act_mwiget(struct client *c);
int act_corestatus(struct client *c);
int act_coresettings(struct client *c);

/* ---- amisim-act-call.c: Command, Hangup, Originate ---- */
int act_command(struct client *c);
int act_hangup(struct client *c);
int act_originate(struct client *c);

/* ---- amisim-action.c: actions from a file; the table; the input ---- */
void clear_headers(struct client *c);
int input_lines(struct client *c);

/* ---- amisim-sock.c: sessions: sockets; the replay file ---- */
void accept_client(void);
void free_client(struct client *c);
void client_write(struct client *c, int64_t now);
void client_read(struct client *c);
void load_replay(const char *path);

/* ---- amisim-life.c: the lifecycle: restart and boot ---- */
void listen_open(int port);
void shutdown_begin(void);
void shutting_answer(struct client *c);
void boot_begin(int64_t now);
int late_module(const char *action);
void phase_timer(int64_t now);

/* ---- amisim-ctl.c: the control channel ---- */
void control_read(void);

#endif
