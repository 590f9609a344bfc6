/*
 * amitools library: one public header, grouped by source file.
 *
 * Messages are lists of (key, value) byte strings, never maps: AMI repeats
 * headers (Output, Variable, ChanVariable) and their order matters.  Parsed
 * messages point into the parser's buffer (no copies on the hot path) and
 * stay valid until the next call on that parser; ami_msg_add() and
 * ami_msg_copy() give a message storage of its own.
 */
#ifndef AMI_H
#define AMI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define AMI_VERSION "0.1"

/* Asterisk's input limits (main/manager.c): what we refuse to send. */
#define AMI_LINE_MAX    1024    /* bytes per header line, CRLF included */
#define AMI_HEADERS_MAX 128     /* headers per action */
/* Default cap for one incoming message; Asterisk's output has no limit. */
#define AMI_MSG_MAX     (16u << 20)
/* bytes a parser keeps allocated and defined past its data, so that its
 * lines, the fields split from them (f->slack) and a message's raw block
 * can be read in whole 16-byte loads (parse.c, text.c) */
#define AMI_SLACK       64

/*
 * memchr for the short lines of AMI (21 bytes on average) in a parser's
 * buffer (parse.c, text.c): inline, 16 bytes at a time where SSE2 is, the
 * last few in one more load whose bytes past s + n are masked off (they
 * are the parser's, AMI_SLACK); libc's memchr where SSE2 is not.  A call
 * to memchr a line and a header cost more than the search in it.
 */
static inline char *
ami_shortchr(const char *s, int c, size_t n)
{
#ifdef __SSE2__
	const __m128i x = _mm_set1_epi8(c);
	unsigned m;

	for (;; s += 16, n -= 16) {
		m = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(
		    (const __m128i *)s), x));
		if (n < 16)
			m &= (1u << n) - 1;
		if (m != 0)
			return (char *)s + __builtin_ctz(m);
		if (n <= 16)
			return NULL;
	}
#else
	return memchr(s, c, n);
#endif
}

/* ---- alloc.c: allocate or die ---- */
/* as their libc namesakes, but a failure is fatal: err(2) naming the call */
void   *ami_xmalloc(size_t);
void   *ami_xcalloc(size_t, size_t);
void   *ami_xrealloc(void *, size_t);
void   *ami_xreallocarray(void *, size_t, size_t);
char   *ami_xstrdup(const char *);
char   *ami_xstrndup(const char *, size_t);

/* ---- buf.c: growable byte buffer ---- */
struct ami_buf {
	char   *p;
	size_t  len, cap;
};
/* room for n more and, past them, slack bytes of zeros or old data that
 * the doubling does not count: a buffer that must hold exactly a power
 * of two (the parser at its cap) plus a few is not grown to twice that */
void	ami_buf_grow_slack(struct ami_buf *, size_t n, size_t slack);
/* room for n more; inline: the hot paths ask once a message or a line,
 * and the call cost more than the test for room */
static inline void
ami_buf_grow(struct ami_buf *b, size_t n)
{
	if (b->cap - b->len < n)
		ami_buf_grow_slack(b, n, 0);
}
void	ami_buf_adds(struct ami_buf *, const char *);
/* inline: every message is added so */
static inline void
ami_buf_add(struct ami_buf *b, const void *p, size_t n)
{
	if (n == 0)     /* p may be NULL, and memcpy must not see it */
		return;
	ami_buf_grow(b, n);
	__builtin_memcpy(b->p + b->len, p, n);
	b->len += n;
}
static inline void
ami_buf_addc(struct ami_buf *b, int c)
{
	ami_buf_grow(b, 1);
	b->p[b->len++] = c;
}
void	ami_buf_free(struct ami_buf *);
/* write all of b to fd (retrying EINTR/EAGAIN via poll); -1 on error */
int	ami_buf_flush(struct ami_buf *, int fd);
/* a write to stdout failed with errno e: a closed pipe (EPIPE) ends the
 * program as SIGPIPE ends a pipeline's writer, quietly, whether SIGPIPE
 * was ignored, or blocked in the calling thread, or not; any other error
 * exits 2 saying it */
void	ami_stdout_failed(int e) __attribute__((noreturn));

/* ---- msg.c: a message ---- */
struct ami_field {
	const char *k, *v;
	uint32_t    kl, vl;
	int         tight;  /* wire line "Key:value", no space after the colon */
	int         slack;  /* k, v in a parser's buffer: AMI_SLACK readable on */
};
struct ami_arena;
struct ami_msg {
	struct ami_field *f;
	size_t            n, cap;
	const char       *raw;      /* wire bytes as received, or NULL */
	size_t            rawlen;
	struct ami_arena *arena;    /* storage for added/copied fields */
};
void	ami_msg_clear(struct ami_msg *);            /* n = 0, keeps memory */
void	ami_msg_free(struct ami_msg *);
/* add a field pointing at caller's bytes (no copy) */
void	ami_msg_ref(struct ami_msg *, const char *, size_t, const char *, size_t);
/* add a field copied into the message's own storage */
void	ami_msg_add(struct ami_msg *, const char *, size_t, const char *, size_t);
void	ami_msg_adds(struct ami_msg *, const char *, const char *);
void	ami_msg_copy(struct ami_msg *dst, const struct ami_msg *src);
/* value of the first field named key (case-insensitive), length in *len */
const char *ami_msg_get(const struct ami_msg *, const char *key, size_t *len);
/* same, compared against a NUL-terminated value, case-insensitive */
int	ami_msg_is(const struct ami_msg *, const char *key, const char *val);
int	ami_msg_find(const struct ami_msg *, const char *key, size_t from);
/* replace the value of field i (copied) */
void	ami_msg_set(struct ami_msg *, size_t i, const char *, size_t);
void	ami_msg_del(struct ami_msg *, size_t i);
/* case-insensitive (ASCII letters only, as strncasecmp in the C locale);
 * inline, so that a literal key's length is known at compile time and
 * most calls end at the length test, and the rest cost no call (every
 * message's first header is compared so, more than once) */
static inline int
ami_keyeq(const char *k, size_t kl, const char *key)
{
	size_t i;
	unsigned char a, b;

	if (__builtin_strlen(key) != kl)
		return 0;
	/* as written (nearly always): a literal's few loads, no loop */
	if (__builtin_constant_p(kl) && __builtin_memcmp(k, key, kl) == 0)
		return 1;
	for (i = 0; i < kl; i++) {
		a = k[i];
		b = key[i];
		/* differ only in bit 5, and b a letter: a is its other case */
		if (a != b && ((a | 0x20) != (b | 0x20) ||
		    (unsigned)((b | 0x20) - 'a') > 25))
			return 0;
	}
	return 1;
}
/* 1 if the comma-separated list names s (case-insensitive), else 0 */
int	ami_listhas(const char *list, const char *s, size_t n);
/*
 * The marker amicat writes in its stream for a message it had to skip
 * (Event AmitoolsSkipped, Server, Reason "line N (byte B): ... skipped"):
 * said on stderr as "SERVER: REASON", 1.  Any other message: 0, silent.
 */
int	ami_msg_skipped(const struct ami_msg *);

/* ---- parse.c: incremental reader for sockets and text input ---- */
/* the end of an Asterisk 13 "Response: Follows" text (read and written) */
#define AMI_ENDCMD "--END COMMAND--"
/* f from the wire header line [s, e) whose colon is c (past s): its value
 * after one space, or, with none, right after the colon (f->tight); inline:
 * every header of every message comes here (and text.c's raw lines) */
static inline void
ami_field_split(struct ami_field *f, const char *s, const char *c,
    const char *e)
{
	const char *v = c + 1 < e && c[1] == ' ' ? c + 2 : c + 1;

	f->k = s;
	f->kl = c - s;
	f->v = v;
	f->vl = e - v;
	f->tight = v == c + 1;
}
enum ami_mode {
	AMI_WIRE,       /* AMI wire blocks only (a socket) */
	AMI_AUTO        /* per message: wire block, one-line or JSON */
};
/* a reader's skim: finds an Event block's end for the parser as
 * ami_text_lines does, from the block's start s to e, which is 64 KiB on
 * at most (a bigger block the parser skims itself); what it does on the
 * way is its own, to keep if the block then comes out as the next message
 * (it may yet be skipped over the cap, or be looked at again once more of
 * it is read) */
typedef const char *ami_skim_fn(void *arg, const char *s, const char *e,
    unsigned long *lines);
struct ami_parser {
	struct ami_buf b;
	size_t   start;     /* first unconsumed byte in b */
	size_t   scan;      /* line (from start) the search for the end resumes at */
	size_t   lscan;     /* no LF in [scan, lscan): the LF search resumes here */
	size_t   max;       /* cap for one message */
	size_t   rdsz;      /* the room a read is given at least */
	enum ami_mode mode;
	int      eof;
	int      skipping;  /* discarding an oversized message */
	int      skipbol;   /* skipping, just after LF (1) or LF CR (2) */
	char     endtail[sizeof(AMI_ENDCMD)];  /* skipping a Follows block: */
	size_t   endtl;     /* the last bytes of its line so far (CR kept) */
	int      brief;     /* an Event: block gives only that first field (for a
	                     * reader that copies m->raw); others all theirs */
	ami_skim_fn *skim;  /* with brief, when set: the reader's skim */
	void    *skimarg;
	unsigned long line;     /* input line where the current message starts */
	unsigned long nextline; /* line number at b.p[start] */
	unsigned long long off; /* input byte offset of b.p[start] */
	unsigned long long skipoff, skipsize;   /* the message being skipped */
	struct ami_buf head;    /* its first lines, to say whose answer it was */
	char     err[200];
};
void	ami_parser_init(struct ami_parser *, enum ami_mode, size_t max);
void	ami_parser_free(struct ami_parser *);
/* room to read into, *n bytes: at least 64 KiB, and twice that after a
 * read that filled it (a commit of *n), up to 256 KiB; then
 * ami_parser_commit() what was read.  ami_parser_feed() copies bytes in,
 * which is not a read */
char   *ami_parser_space(struct ami_parser *, size_t *n);
void	ami_parser_commit(struct ami_parser *, size_t);
void	ami_parser_feed(struct ami_parser *, const void *, size_t);
/*
 * Next message: 1 got one (fields point into the parser), 0 need more input,
 * -1 a bad or oversized message was skipped (p->err says why and where:
 * input line, byte offset, and the size of a message over the cap; call
 * again to go on).  A message over max bytes is skipped in constant memory
 * as it streams by (a Response: Follows block to the empty line after its
 * --END COMMAND--), and reported once its end is seen; m then holds the
 * complete header lines of its first 4 KiB (an ActionID says whose answer
 * was lost), else m is empty.  At EOF (p->eof set) a final wire block
 * without its blank line is returned in AMI_AUTO; a last line without its
 * newline is never returned: it is reported and dropped, with its message.
 */
int	ami_parser_next(struct ami_parser *, struct ami_msg *);
/* the banner "Asterisk Call Manager/x.y.z": 1 and copies it, 0 need more;
 * a first line over AMI_LINE_MAX bytes is dropped and out describes it
 * (so it is never taken for a banner) */
int	ami_parser_banner(struct ami_parser *, char *, size_t);
/* read(2) once into the parser: bytes read, 0 at EOF, -1 error */
ssize_t	ami_parser_read(struct ami_parser *, int fd);
/*
 * The input loop every tool that reads messages from a stream runs.  One
 * step reads fd once into in, then hands each message it completes to
 * fn(m, line it starts on, arg) in order, until fn returns nonzero (then
 * no more are taken: done is set, and run stops).  A bad or oversized
 * message is warned about ("name: why"; name NULL, for stdin: just why,
 * which names the line), counted in bad and not handed on; an amicat
 * AmitoolsSkipped marker is an ordinary message (see ami_msg_skipped).
 */
struct ami_drive {
	struct ami_parser in;
	struct ami_msg    m;
	int         fd;
	const char *name;
	int       (*fn)(struct ami_msg *, unsigned long line, void *arg);
	void      (*pause)(void *arg);  /* after each step: the input may
	                                 * pause now, so flush what waits */
	void       *arg;
	unsigned long bad;
	int         done;
};
/* an AMI_AUTO parser with cap max (0: AMI_MSG_MAX); pause NULL */
void	ami_drive_init(struct ami_drive *, int fd, const char *name,
	    size_t max, int (*fn)(struct ami_msg *, unsigned long, void *),
	    void *arg);
void	ami_drive_free(struct ami_drive *);
/* one step: bytes read, 0 at EOF, -1 a signal came first (errno EINTR,
 * nothing read, call again); any other read error is fatal: err(2, name) */
ssize_t	ami_drive_step(struct ami_drive *);
/* steps to EOF, to done, or (stop not NULL) till *stop is set: a tool's
 * volatile sig_atomic_t (an int; not named here, as <signal.h> would
 * bring <unistd.h>'s dup into every file); a signal that sets it while
 * the input is waited for ends the wait (ami_stop_wait) */
void	ami_drive_run(struct ami_drive *, const volatile int *stop);

/* ---- wire.c: AMI wire writer and action checks ---- */
/* append m as "Key: Value\r\n"... "\r\n" ("Key:Value" when tight; a
 * nameless field as its value alone).  A message that starts with
 * "Response: Follows" is written as Asterisk 13 did: its Output values as
 * text lines ended by LF, then "--END COMMAND--\r\n\r\n" */
void	ami_wire_put(struct ami_buf *, const struct ami_msg *);
/* whether ami_wire_put's bytes read back (AMI_AUTO) as this very message:
 * 0 yes, -1 no, the field and reason in err (a line feed in a value, a
 * colon in a name, a first line read as one-line or JSON...) */
int	ami_wire_exact(const struct ami_msg *, char *err, size_t errlen);
/* refuse what Asterisk would mangle or what would inject headers: 0 ok,
 * -1 with a reason in err */
int	ami_wire_check(const struct ami_msg *, char *err, size_t errlen);

/* ---- text.c: the one-line format and JSON lines ---- */
void	ami_text_put(struct ami_buf *, const struct ami_msg *);   /* + '\n' */
/* ami_text_put of m, an Event block (no Follows) read brief, from a parser
 * (AMI_SLACK): ami_text_lines of m->raw, then ami_text_end */
void	ami_text_block(struct ami_buf *, const struct ami_msg *, size_t from);
/* the lines of the wire block at s (in a parser's buffer: AMI_SLACK),
 * converted as parse.c splits them, each followed by a space, added to b
 * up to the block's empty line: just past that, or NULL when it is not
 * before e (the whole lines before e added); *lines gains the lines
 * passed.  A common line in one pass of four loads */
const char *ami_text_lines(struct ami_buf *, const char *s, const char *e,
	    unsigned long *lines);
/* the end of a one-line message whose lines ami_text_lines added from
 * b->len start on: m's fields from `from` on (those added after the
 * parse), and its line feed */
void	ami_text_end(struct ami_buf *, const struct ami_msg *, size_t from,
	    size_t start);
void	ami_json_put(struct ami_buf *, const struct ami_msg *);   /* + '\n' */
/* append a value the way the one-line format writes it */
void	ami_text_value(struct ami_buf *, const char *, size_t);
/* the same into buf (cut to fit): input named in a diagnostic stays on
 * one line whatever bytes it holds; returns buf */
const char *ami_visible(char *buf, size_t cap, const char *, size_t);
/* decode one line into m, in place (it is modified); 0 ok, -1 with err */
int	ami_text_decode(char *, size_t, struct ami_msg *, char *err, size_t);
int	ami_json_decode(char *, size_t, struct ami_msg *, char *err, size_t);

/* ---- dnd.c: the DND words dndparse and dndctl share ---- */
#define AMI_PEER_MAX 80     /* conf/employee.sql's column agrees */
/* 1 to 80 of A-Z a-z 0-9 _ . + @ -: safe in every place a peer goes; the
 * one rule for a peer name (peerlist keeps no other, so a map line it
 * writes is one dndparse reads) */
int	ami_dnd_peer(const char *, size_t);
/* enable(d)/on/yes/1/true 1, disable(d)/off/no/0/false 0, else -1 */
int	ami_dnd_state(const char *, size_t);

/* ---- dndmatch.c: DND lines by PCRE2 patterns (not in dnd.c: only the
 * tools that match lines link PCRE2) ---- */
struct ami_dnd_pats;
/* compile re (NULL: the built-in one, for SPA phones' "[0]Enable DND")
 * and add it to *ps, made when NULL; it needs the named groups state and
 * ip (the sender's address) or peer.  0 ok, -1 with err */
int	ami_dnd_compile(struct ami_dnd_pats **, const char *re, char *err,
	    size_t);
struct ami_dnd_hit {
	int         on;         /* ami_dnd_state() of the state group */
	const char *peer, *ip;  /* spans of the line, NULL when not there */
	size_t      peerl, ipl;
};
/* the first pattern (in the order added) that matches s: 1 with a state
 * word and a peer (not empty, not yet checked) or else the address; 0 the
 * line is no DND change */
int	ami_dnd_match(struct ami_dnd_pats *, const char *, size_t,
	    struct ami_dnd_hit *);
void	ami_dnd_free(struct ami_dnd_pats *);

/* ---- grace.c: how a signal ends a tool: at once, or after a grace ---- */
/* both policies leave a SIGHUP that was ignored at start ignored (nohup) */
/* INT, TERM and HUP (a closed terminal) set *flag (a volatile
 * sig_atomic_t) and end a wait for input: for a tool that owes no answers */
void	ami_stop_signals(volatile int *flag);
/* wait for input at fd: 1 there is some, 0 *stop is set (a stop signal
 * that comes while it waits ends the wait, whenever it comes) */
int	ami_stop_wait(int fd, const volatile int *stop);
/* hold: every signal but SIGPIPE blocked in the calling thread (its mask
 * kept), so a thread it starts takes none and they wake the one that
 * waits for the input; 0: the kept mask back */
void	ami_signals_held(int hold);
#define AMI_GRACE_S 5   /* s: what was read before a signal still goes */
struct pollfd;
/* block INT, TERM and HUP but in ami_grace_poll, and count each */
void	ami_grace_init(void);
int	ami_grace_signals(void);        /* how many came */
/* 1 once, at the first look after the first signal: the input ends, and
 * what was read must be done by *end (now + AMI_GRACE_S); else 0 */
int	ami_grace_begins(int64_t now, int64_t *end);
/* ppoll(2) for ms (-1: no limit) with the signals let in: -1 EINTR when
 * one came */
int	ami_grace_poll(struct pollfd *, unsigned n, int64_t ms);

/* ---- tab.c: a hash table of named items ---- */
/* items are the caller's structs, each with its name (char *, NUL-ended)
 * as first member; the table holds pointers to them */
struct ami_tab {
	void  **slot;
	uint64_t *sig;          /* each slot's name: length, ami_hash */
	size_t  cap, n;         /* n items */
};
/* the item named key (n bytes), NULL when none */
void   *ami_tab_get(const struct ami_tab *, const char *key, size_t n);
/* add item, whose name is not there yet */
void	ami_tab_put(struct ami_tab *, void *item);
/* take the item named key out and return it, NULL when none */
void   *ami_tab_del(struct ami_tab *, const char *key, size_t n);
/* every item once, in no order: *i 0 first, NULL after the last */
void   *ami_tab_each(const struct ami_tab *, size_t *i);
/* freeitem (NULL: none) on every item, then the table's memory */
void	ami_tab_free(struct ami_tab *, void (*freeitem)(void *));
uint32_t ami_hash(const char *, size_t);        /* FNV-1a: 0 for no bytes */

/* ---- devstate.c: device state across servers ---- */
/* Asterisk's enum ast_device_state, in its order */
enum { AMI_DS_UNKNOWN, AMI_DS_NOT_INUSE, AMI_DS_INUSE, AMI_DS_BUSY,
	AMI_DS_INVALID, AMI_DS_UNAVAILABLE, AMI_DS_RINGING, AMI_DS_RINGINUSE,
	AMI_DS_ONHOLD, AMI_DS_NSTATES };
#define AMI_DEVICE_MAX 80       /* bytes of a device name we mirror */
/* a state word (any case) as AMI_DS_*, or -1 */
int	ami_devstate_val(const char *, size_t);
const char *ami_devstate_str(int);      /* "INVALID" for a bad one */
/* Asterisk's ast_devstate_aggregate: init (INVALID), then add each
 * device's state; state is what a hint joining them shows */
struct ami_devagg {
	int state, ringing, inuse;
};
void	ami_devagg_init(struct ami_devagg *);
void	ami_devagg_add(struct ami_devagg *, int);
/* the mirror of device dev: "Custom:" and dev with each '/' made '-'
 * (Asterisk 20 keeps a Custom: name with a '/' under another name and
 * loses it across a restart).  0 ok; -1 for a device that is a Custom: or
 * MWI: one, is empty or longer than AMI_DEVICE_MAX, or has a byte other
 * than A-Z a-z 0-9 _ . @ + - / : (out needs AMI_DEVICE_MAX + 8 bytes) */
int	ami_devstate_mirror(char *out, size_t, const char *dev, size_t);
/* the table, an ami_tab (tab.c) of max names at most: a name (device or
 * presentity) -> per server (index below AMI_STAB_SERVERS) the value it
 * says, the value last set on it, and the values set whose echo is still
 * due (ami_due_*) */
#define AMI_STAB_SERVERS 32
/* echoes due: the values set on a server whose echo, when the server
 * says them, is not news (statemerge's per name and server, amiaction
 * -E's per key and server), a list oldest first */
#define AMI_DUE_MAX      16     /* due echoes kept in a list */
#define AMI_DUE_TTL      10000  /* ms: an echo that never came is forgotten */
struct ami_due {
	struct ami_due *next;
	int64_t at;
	char    val[];
};
struct ami_stent {
	char    *key;
	char    *val[AMI_STAB_SERVERS];     /* NULL: says nothing */
	char    *told[AMI_STAB_SERVERS];    /* NULL: nothing set yet */
	struct ami_due *due[AMI_STAB_SERVERS];
	char    *cur;                       /* presence: the value all should have */
	uint32_t sess[AMI_STAB_SERVERS];    /* ami_hash of the Session= val came in */
	uint32_t stale;                     /* servers whose val awaits a list */
};
struct ami_stab;
struct ami_stab *ami_stab_new(size_t max);      /* max names */
/* the entry of key (n bytes): NULL when not there and !create, or when
 * the table holds max names already, or key holds a NUL byte */
struct ami_stent *ami_stab_get(struct ami_stab *, const char *key, size_t n,
	    int create);
/* every entry once, in no order: *i 0 first, NULL at the end */
struct ami_stent *ami_stab_each(struct ami_stab *, size_t *i);
/* *slot freed and set to a copy of v's n bytes (v NULL: cleared); any
 * string field, a map entry's too */
void	ami_stab_set(char **slot, const char *v, size_t n);
void	ami_stab_free(struct ami_stab *);
/* v was set: its echo is due (the oldest forgotten past AMI_DUE_MAX) */
void	ami_due_add(struct ami_due **, const char *v, int64_t now);
/* is v the echo of one set?  1 and forgotten (with those due before it,
 * which will not come), 0 a genuine change */
int	ami_due_echo(struct ami_due **, const char *v, int64_t now);

/* ---- outq.c: stdout through a writer thread ---- */
struct ami_outq;
/* bound: bytes queued at most; block: wait for room instead of refusing */
struct ami_outq *ami_outq_new(int fd, size_t bound, int block);
/* one whole message: 0 queued, 1 refused (full, not blocking), -1 failed */
int	ami_outq_put(struct ami_outq *, const void *, size_t);
/* or encode straight into the batch, then commit what follows mark */
struct ami_buf *ami_outq_batch(struct ami_outq *);
int	ami_outq_commit(struct ami_outq *, size_t mark);
/* hand what was put to the writer now: call before waiting for input */
int	ami_outq_flush(struct ami_outq *);
void	ami_outq_block(struct ami_outq *);     /* stop dropping: wait for room */
int	ami_outq_fd(struct ami_outq *);     /* readable once the writer failed */
int	ami_outq_error(struct ami_outq *);  /* errno of the failed write, or 0 */
int	ami_outq_close(struct ami_outq *);  /* drain, stop; errno or 0 */
/* close at exit: a closed pipe raises SIGPIPE, other errors exit 2 */
void	ami_outq_done(struct ami_outq *);

/* ---- md5.c ---- */
void	ami_md5_hex(const void *, size_t, char out[33]);

/* ---- conf.c: config file and environment ---- */
struct ami_server {
	char  name[64];
	char  host[256];
	char  port[16];
	char  user[128];
	char  secret[256];
	char  events[256];
	int   keepalive;        /* seconds between Pings when idle, 0 off */
	int   tls, verify;      /* AMI over TLS; check certificate and name */
	char  cafile[256];      /* "": the system's CAs */
	int   plain;            /* auth = plain: Secret in clear, no Challenge */
};
/*
 * Fill s for server name (NULL or "default"): /etc/amitools.conf,
 * ~/.amitools.conf, file (when not NULL), then AMI_HOST, AMI_PORT, AMI_USER,
 * AMI_SECRET_FILE.  A file holding a secret must not be readable by group or
 * other.  0 ok, -1 with err.
 */
int	ami_conf_server(struct ami_server *, const char *name, const char *file,
	    char *err, size_t errlen);
/* s without white space at either end (cut in place) */
char	*ami_trim(char *s);
/*
 * path opened for reading when it is a regular file of at most max bytes;
 * opening does not block (a FIFO, a device).  oflags: more open(2) flags
 * (O_NOFOLLOW).  NULL with err and errno (EINVAL: not a regular file,
 * EFBIG: too large; ENOENT, ELOOP as open(2)).
 */
FILE	*ami_fopen_file(const char *path, off_t max, int oflags, char *err,
	    size_t errlen);
/* a tool's own section: each listed key found is copied into its val
 * (later files win); a key not listed is an error, and a file that sets
 * a secret must be private to its owner.  0 ok, -1 with err */
struct ami_confkey {
	const char *key;
	char       *val;
	size_t      len;
};
int	ami_conf_section(const char *sect, const char *file,
	    struct ami_confkey *, size_t, char *err, size_t errlen);
/*
 * An option letter that getopt(3) returned, spelled anew: renamed holds
 * pairs of letters, old then new ("mk": -m is now -k).  An old letter is
 * said on stderr with its new spelling and returned as the new one; any
 * other comes back as it is.  One meaning per letter across the suite
 * (amitools(7)); the old spellings work for one release.
 */
int	ami_oldopt(int ch, const char *renamed);
/* s as a number from lo to hi, or exit 2 saying "what s: why" (what:
 * "-W", "[mqtt] keepalive"); strtonum(3) */
long long ami_argnum(const char *what, const char *s, long long lo,
	    long long hi);

/* ---- clock.c: the monotonic clock and the retry backoff ---- */
int64_t	ami_now_ms(void);   /* CLOCK_MONOTONIC, in ms */
int64_t	ami_now_us(void);   /* the same clock in µs, for what is reported finer */
/* how long to wait (ms) before the next try after tries failures in a row
 * (0 after the first): min doubled per failure, capped at max, and a
 * uniform jitter taking it down to half of that */
int64_t	ami_backoff(unsigned tries, int64_t min, int64_t max);

/* ---- tls.c: libtls, opened at the first TLS connection ---- */
struct tls;
struct tls_config;
/* the libtls calls conn.c makes, each tls_NAME(3) as ami_tls.NAME */
extern struct ami_tls {
	struct tls *(*client)(void);
	int	(*close)(struct tls *);
	int	(*configure)(struct tls *, struct tls_config *);
	int	(*connect_cbs)(struct tls *,
		    ssize_t (*)(struct tls *, void *, size_t, void *),
		    ssize_t (*)(struct tls *, const void *, size_t, void *),
		    void *, const char *);
	const char *(*error)(struct tls *);
	void	(*free)(struct tls *);
	int	(*handshake)(struct tls *);
	ssize_t	(*read)(struct tls *, void *, size_t);
	ssize_t	(*write)(struct tls *, const void *, size_t);
	const char *(*config_error)(struct tls_config *);
	void	(*config_free)(struct tls_config *);
	struct tls_config *(*config_new)(void);
	void	(*config_insecure_noverifycert)(struct tls_config *);
	void	(*config_insecure_noverifyname)(struct tls_config *);
	int	(*config_set_ca_file)(struct tls_config *, const char *);
} ami_tls;
/* ami_tls filled, once; -1 (why: the loader's words) when libtls (the
 * soname the build linked against) cannot be opened */
int	ami_tls_open(char *why, size_t n);

/* ---- conn.c: one AMI connection as a state machine for poll(2) ---- */
enum ami_state {
	AMI_DOWN,           /* waiting for the next reconnect attempt */
	AMI_CONNECTING,
	AMI_HANDSHAKE,      /* TLS */
	AMI_BANNER,
	AMI_CHALLENGE,
	AMI_LOGIN,
	AMI_UP
};
struct addrinfo;
struct ami_conn {
	const struct ami_server *srv;
	enum ami_state state;
	int      fd;
	struct addrinfo *ai, *ai_next;  /* while connecting: addresses to try */
	struct tls *tls;           /* NULL: plain TCP */
	short    tlswant;          /* POLLIN or POLLOUT libtls waits for */
	int      tlsmore;          /* decrypted bytes may wait inside libtls */
	struct ami_parser in;
	struct ami_buf out;        /* bytes not yet written to fd */
	int      ever_up;          /* a reconnect marker is owed after a drop */
	int      authfail;         /* credentials or certificate refused */
	unsigned tries;            /* failed attempts since last success */
	int64_t  next_try;         /* ms: retry when DOWN, else login deadline */
	int64_t  last_rx, ping_sent;
	int64_t  down_since;       /* ms, when the last session was lost */
	int      booted;           /* FullyBooted seen since the login */
	int      sysadded;         /* system class asked for, not the caller */
	int64_t  boot_by;          /* ms: without FullyBooted, booted then */
	unsigned long seq;         /* ActionID counter */
	char     banner[64];
	char     err[256];         /* why the last attempt failed */
	int      brief;            /* once up: the parser's brief (set by the
	                            * tool; login and responses split in full,
	                            * and all when sysadded) */
	ami_skim_fn *skim;         /* and its skim, skimarg (the tool's) */
	void    *skimarg;
	const char *only;          /* set by the tool: the only events it wants
	                            * (a comma list): see ami_conn_step */
};
void	ami_conn_init(struct ami_conn *, const struct ami_server *);
/* what poll should wait for: events for fd (or -1), timeout in ms */
int	ami_conn_pollfd(struct ami_conn *, short *events, int64_t now,
	    int *timeout);
/*
 * Drive the connection after poll: revents for its fd (0 on timeout).
 * Messages received while UP go one by one to cb; cb gets a NULL message
 * when the login succeeded (booted 0; ever_up tells a reconnect from the
 * first connection), and another when the server is fully booted (booted
 * 1): Asterisk accepts a login before it has loaded everything, and
 * actions sent then fail (transcript 15).  Booted means Event: FullyBooted
 * came (the login asks for the system class for it, and what the caller's
 * events setting did not ask for is not passed on), or, for a user who may
 * not read system events, 3 s passed.  Event: Shutdown makes booted 0
 * again.  With only set, the login's Events mask is narrowed to the
 * classes of those events (those configured, or all) when every one has a
 * known class on that server (AMI 2 and later); names starting with
 * Amitools (the tools' own markers) need none.  A message the parser
 * skipped (over the cap) comes as its ActionID, if it had one, and a last
 * field AmitoolsError saying why.
 * Returns -1 when the connection just went down (err says why; authfail
 * when credentials were refused), 0 otherwise.
 */
typedef void ami_msg_cb(void *, struct ami_conn *, struct ami_msg *);
int	ami_conn_step(struct ami_conn *, short revents, int64_t now,
	    ami_msg_cb *, void *);
/* queue an action for writing; the caller sets its ActionID */
void	ami_conn_send(struct ami_conn *, const void *wire, size_t);
/* send Logoff and what is still queued (waits 1 s at most) */
void	ami_conn_logoff(struct ami_conn *);
void	ami_conn_free(struct ami_conn *);

/* ---- match.c: PCRE2 filters (only tools that filter link PCRE2) ---- */
struct ami_filter;
/* "[!]Key~regex"; NULL with err on a bad spec or regex */
struct ami_filter *ami_filter_new(const char *, char *err, size_t);
int	ami_filter_match(const struct ami_filter *, const struct ami_msg *);
void	ami_filter_free(struct ami_filter *);

/* ---- tmpl.c: %{Key} templates ---- */
struct ami_tmpl;
struct ami_tmpl *ami_tmpl_new(const char *, char *err, size_t);
/* expand into b; value bytes are passed to put (e.g. ami_text_value) or
 * copied as they are when put is NULL */
void	ami_tmpl_expand(const struct ami_tmpl *, const struct ami_msg *,
	    struct ami_buf *, void (*put)(struct ami_buf *, const char *, size_t));
void	ami_tmpl_free(struct ami_tmpl *);

/* ---- map.c: the peers map file ("ip peer description" a line) ---- */
/*
 * ip and peer are words, the description the rest of the line (trimmed,
 * may be empty); ip "-" means not known.  '#' lines and empty lines are
 * comments: read as entries with ip == peer == NULL and the whole line in
 * desc, and written back where they stand.  A deleted entry has desc ==
 * NULL and is skipped.  All strings are the map's own (malloc'ed).
 */
struct ami_map_ent {
	char *ip, *peer, *desc;
};
struct ami_map {
	struct ami_map_ent *e;
	size_t n, cap;
};
#define AMI_MAP_MAX (64 * 1024 * 1024)   /* bytes of a map file */
/* read path into m (initialised here); a missing file is an empty map,
 * one that is no regular file or larger than AMI_MAP_MAX an error.
 * 0 ok, -1 with err (a line that is not "ip peer [description]" names
 * its line number) */
int	ami_map_read(struct ami_map *, const char *path, char *err, size_t);
/* replace path with m by ami_file_replace: 0 ok; -1 with err, and the
 * old file untouched, on any failure (a full disk) or an entry that would
 * not read back as written */
int	ami_map_write(const struct ami_map *, const char *path, char *err, size_t);
/* append an entry (strings copied); ip and peer NULL: a comment line */
void	ami_map_add(struct ami_map *, const char *ip, const char *peer,
	    const char *desc);
void	ami_map_del(struct ami_map *, size_t i);
void	ami_map_free(struct ami_map *);
/* first entry with that ip, or NULL (a linear scan) */
const struct ami_map_ent *ami_map_ip(const struct ami_map *, const char *ip);

/* ---- file.c: a file replaced whole, and the lock its writers share ---- */
/*
 * Replace path with the n bytes at p: a temporary file of a name of its
 * own in the same directory (the old file's mode and owner when it is a
 * regular file, else 0666 less the umask, as any new file), fsync, rename,
 * fsync of the directory (a failure of that last one only warned: the
 * file is replaced).  0 ok; -1 with errno, *what naming the step that
 * failed ("temporary file", "write", "rename"), and the old file as it was.
 */
int	ami_file_replace(const char *path, const void *p, size_t n,
	    const char **what);
/* writers of one file take turns: an flock of its directory (the file is
 * replaced, the directory stays), waited for AMI_FILE_LOCK_MS at most.
 * fd of the directory to close when done, -1 with err (naming the pid
 * that holds the lock, when /proc/locks says it) */
#define AMI_FILE_LOCK_MS 10000
int	ami_file_lock(const char *path, char *err, size_t);

/*
 * ---- db.c: MySQL / MariaDB (lib/db.o, not in libami.a: only the tools in
 * the Makefile's MYSQL_TOOLS link it and libmysqlclient) ----
 *
 * Settings come from option files only: the standard ones (/etc/my.cnf,
 * /etc/mysql/my.cnf, $MYSQL_HOME/my.cnf, ~/.my.cnf; groups [client],
 * [client-server], [client-mariadb], then group) or, when file is given,
 * that file alone.  host, socket, port, user, password and database all
 * come from there; nothing secret is ever on a command line.  Strings are
 * UTF-8 (the connection is set to utf8mb4).
 *
 * Errors: functions return -1 and keep the reason (ami_db_error, with the
 * server's error number).  ami_db_transient says whether trying again later
 * may work (server down or gone, connection lost, deadlock, lock wait
 * timeout, too many connections); a lost connection is closed, and with
 * it any open transaction is rolled back by the server.  ami_db_retry_at
 * says when to try again (after any failure): ami_backoff from 1 s to 60 s
 * over the failures since the last success.  Nothing
 * reconnects behind the caller's back: the next call after a lost
 * connection connects anew, so roll back and start the transaction over.
 */
struct ami_db;
struct ami_stmt;
struct ami_db *ami_db_new(const char *group, const char *file);  /* no I/O */
/* before the first connect: flags for mysql_real_connect() and one
 * timeout (seconds) for connect, read and write instead of 10 s and 60 s */
void	ami_db_options(struct ami_db *, unsigned long flags, unsigned timeout);
void	ami_db_free(struct ami_db *);
int	ami_db_connect(struct ami_db *);    /* when not connected; 0 up */
int	ami_db_up(const struct ami_db *);
int	ami_db_exec(struct ami_db *, const char *sql);  /* no result set */
int	ami_db_begin(struct ami_db *);
int	ami_db_commit(struct ami_db *);     /* fails when the connection was lost */
void	ami_db_rollback(struct ami_db *);   /* keeps the error that led to it */
const char *ami_db_error(const struct ami_db *);
unsigned ami_db_errno(const struct ami_db *);
int	ami_db_transient(const struct ami_db *);
int64_t	ami_db_retry_at(const struct ami_db *);  /* ami_now_ms() time */
/* for what statements cannot do (several in one query): the connection,
 * a MYSQL * (made when needed; NULL, the error kept, when that failed).
 * After a call on it failed, ami_db_fail keeps its error as any other (or
 * msg, a failure of the caller's own) and returns -1 */
void   *ami_db_mysql(struct ami_db *);
int	ami_db_fail(struct ami_db *, const char *msg);
/* a prepared statement: no I/O here; prepared at its first run on each
 * connection.  Parameters and columns are NUL-terminated strings. */
struct ami_stmt *ami_db_prepare(struct ami_db *, const char *sql);
/* run with n parameters (v[i] NULL: SQL NULL); connects when needed.
 * A result set is fetched whole, so other statements may run while its
 * rows are read.  0 ok, -1 error */
int	ami_stmt_exec(struct ami_stmt *, const char *const *v, unsigned n);
/* next row: 1 with *row[0..columns-1] (NULL for SQL NULL; valid until the
 * next fetch or exec), 0 no more rows, -1 error */
int	ami_stmt_fetch(struct ami_stmt *, const char *const **row);
void	ami_stmt_free(struct ami_stmt *);

/* ---- sip.c: the in-dialog NOTIFY of a message-summary subscription ---- */
struct ami_sip_notify {
	const char *ruri, *route;          /* contact, record_route (or "") */
	const char *from_user, *from_domain, *from_tag;   /* to_* of the row */
	const char *to_user, *to_domain, *to_tag;         /* watcher, from_tag */
	const char *callid, *contact, *event_id;          /* event_id or "" */
	const char *via_host, *branch, *user_agent;
	const char *account;               /* Message-Account URI */
	unsigned long cseq;
	long     expires;                  /* seconds the subscription has left */
	int      via_port, new_msgs, old_msgs;
};
/* append the request to b: 0 ok, -1 (b untouched) when a value would
 * inject a header or break a line, with the field named in err */
int	ami_sip_notify(struct ami_buf *, const struct ami_sip_notify *,
	    char *err, size_t errlen);
struct ami_sip_resp {
	int         status;
	const char *reason, *branch;       /* point into the message */
	size_t      reasonl, branchl;
};
/* a response to our NOTIFY: 0 ok, -1 not a response or no branch */
int	ami_sip_response(const char *, size_t, struct ami_sip_resp *);

/* ---- watchers.c: the SIP proxy's active_watchers table (MySQL) ---- */
enum ami_layout { AMI_LAYOUT_OPENSIPS, AMI_LAYOUT_KAMAILIO };
struct ami_watcher {
	unsigned long id;
	long     local_cseq, expires;   /* expires: Unix time */
	char    *f[12];                 /* AMI_W_* below, NUL-terminated */
};
enum { AMI_W_TO_USER, AMI_W_TO_DOMAIN, AMI_W_WUSER, AMI_W_WDOMAIN, AMI_W_TO_TAG,
	AMI_W_FROM_TAG, AMI_W_CALLID, AMI_W_CONTACT, AMI_W_RR, AMI_W_LCONTACT,
	AMI_W_EVENT_ID, AMI_W_NFIELDS };
struct ami_watchers;
/* the table on db, connected first here (the connection needs options
 * of its own): connects and detects the layout; NULL, the error in db,
 * when either failed.  Every call below fails the same way,
 * with -1: the connection is lost (worth retrying) when !ami_db_up(db) */
struct ami_watchers *ami_watchers_open(struct ami_db *);
enum ami_layout ami_watchers_layout(const struct ami_watchers *);
/* active, unexpired message-summary dialogs of watcher user@domain into
 * *rows (free with ami_watchers_free): count, or -1 */
int	ami_watchers_load(struct ami_watchers *, const char *user,
	    const char *domain, struct ami_watcher **rows);
/* the same for n watchers at once (one query): the rows of every pair
 * users[i]@domains[i], and maybe of other combinations too */
int	ami_watchers_load_many(struct ami_watchers *, const char *const *users,
	    const char *const *domains, int n, struct ami_watcher **rows);
void	ami_watchers_free(struct ami_watcher *, int n);
/* local_cseq = old + 1 if it still is old: 1 done, 0 it moved (reload),
 * -1 error */
int	ami_watchers_bump(struct ami_watchers *, unsigned long id, long old);
/* the same for n rows in one round trip: done[i] 1 or 0; -1 error */
int	ami_watchers_bump_many(struct ami_watchers *, const unsigned long *ids,
	    const long *olds, int n, int *done);
int	ami_watchers_delete(struct ami_watchers *, unsigned long id);
/* active message-summary rows in the table, or -1 */
long	ami_watchers_count(struct ami_watchers *);
void	ami_watchers_close(struct ami_watchers *);

#endif
