/*
 * parse.c: incremental reader.  Bytes go in as they arrive (any chunking,
 * down to one byte), messages come out pointing into the buffer, so the hot
 * path copies nothing.  Wire blocks end at an empty line (CRLF or LF); a
 * bare LF inside a header line ends that line, which is what makes
 * Asterisk's real "Message: No Contacts found\n\r\n" parse right.  An
 * Asterisk 13 "Response: Follows" block runs to "--END COMMAND--" and its
 * text lines become Output fields, the form Asterisk 14+ sends.
 *
 * Bounded and linear on any input: no byte is searched twice for a line
 * end however the input is split into reads, a message over the cap is
 * skipped as it streams by (only the state of a line end split across
 * reads is kept), and at most the cap is ever held.  A last line without
 * its newline is never returned as a message.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ami.h"

#define READ_CHUNK (64 * 1024)   /* a read's room at first */
#define READ_MAX   (256 * 1024)  /* and at most (ami_parser_commit) */
#define HEAD_MAX   4096      /* what a skipped message keeps of its head */
#define SKIM_MAX   (64 * 1024)  /* a block the reader's skim may look at */
#define BANNER "Asterisk Call Manager/"
enum { SKIP_NONE, SKIP_BLOCK, SKIP_LINE, SKIP_FOLLOWS };

void
ami_parser_init(struct ami_parser *p, enum ami_mode mode, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->max = max ? max : AMI_MSG_MAX;
	p->nextline = 1;
	p->rdsz = READ_CHUNK;
}

void
ami_parser_free(struct ami_parser *p)
{
	ami_buf_free(&p->b);
	ami_buf_free(&p->head);
}

/* room for n more bytes, what was consumed dropped first */
static char *
room(struct ami_parser *p, size_t n)
{
	if (p->start == p->b.len) {
		/* give back what one huge message made us grow to */
		if (p->b.cap > 4 * p->rdsz + AMI_SLACK)
			ami_buf_free(&p->b);
		p->b.len = p->start = 0;
	} else if (p->start > 0 && p->b.cap - p->b.len < n + AMI_SLACK) {
		memmove(p->b.p, p->b.p + p->start, p->b.len - p->start);
		p->b.len -= p->start;
		p->start = 0;
	}
	ami_buf_grow_slack(&p->b, n, AMI_SLACK);
	return p->b.p + p->b.len;
}

char *
ami_parser_space(struct ami_parser *p, size_t *n)
{
	size_t pend = p->b.len - p->start, want = p->rdsz;
	char *s;

	/* no more than the cap is ever held: a message is known to be over
	 * it once max bytes of it are here and it has not ended */
	if (p->skipping == SKIP_NONE && pend < p->max && p->max - pend < want)
		want = p->max - pend;
	s = room(p, want);

	*n = p->b.cap - p->b.len - AMI_SLACK;
	return s;
}

void
ami_parser_commit(struct ami_parser *p, size_t n)
{
	/* a read that filled its room: a busy stream, whose next read gets
	 * twice the room.  Each read acks and wakes the sender, dear on a VM:
	 * amicat one-line took 11 % less time on loopback with reads of
	 * 256 KiB than of 64 KiB.  A quiet stream keeps its buffer small */
	if (n > 0 && p->b.len + n == p->b.cap - AMI_SLACK && p->rdsz < READ_MAX)
		p->rdsz *= 2;
	p->b.len += n;
}

void
ami_parser_feed(struct ami_parser *p, const void *data, size_t n)
{
	if (n == 0)     /* data may be NULL, and memcpy must not see it */
		return;
	memcpy(room(p, n), data, n);
	p->b.len += n;          /* not a read: the read room stays */
}

ssize_t
ami_parser_read(struct ami_parser *p, int fd)
{
	size_t room;
	char *s = ami_parser_space(p, &room);
	ssize_t n = read(fd, s, room);

	if (n > 0)
		ami_parser_commit(p, n);
	else if (n == 0)
		p->eof = 1;
	return n;
}

void
ami_drive_init(struct ami_drive *d, int fd, const char *name, size_t max,
    int (*fn)(struct ami_msg *, unsigned long, void *), void *arg)
{
	memset(d, 0, sizeof(*d));
	ami_parser_init(&d->in, AMI_AUTO, max);
	d->fd = fd;
	d->name = name;
	d->fn = fn;
	d->arg = arg;
}

void
ami_drive_free(struct ami_drive *d)
{
	ami_msg_free(&d->m);
	ami_parser_free(&d->in);
}

ssize_t
ami_drive_step(struct ami_drive *d)
{
	ssize_t n;
	int rc;

	if ((n = ami_parser_read(&d->in, d->fd)) < 0) {
		if (errno == EINTR)
			return -1;
		err(2, "%s", d->name ? d->name : "stdin");
	}
	while (!d->done && (rc = ami_parser_next(&d->in, &d->m)) != 0) {
		if (rc > 0)
			d->done = d->fn(&d->m, d->in.line, d->arg) != 0;
		else {
			warnx("%s%s%s", d->name ? d->name : "",
			    d->name ? ": " : "", d->in.err);
			d->bad++;
		}
	}
	return n;
}

void
ami_drive_run(struct ami_drive *d, const volatile int *stop)
{
	ssize_t n;

	while (stop == NULL || ami_stop_wait(d->fd, stop)) {
		n = ami_drive_step(d);
		if (d->pause != NULL)
			d->pause(d->arg);
		if (n == 0 || d->done)
			break;
	}
}

static void
consume(struct ami_parser *p, const char *to, unsigned long lines)
{
	p->off += (size_t)(to - p->b.p) - p->start;
	p->start = to - p->b.p;
	p->scan = p->lscan = 0;
	p->nextline += lines;
}

static unsigned long
nlines(const char *s, const char *e)
{
	unsigned long n = 0;

	while ((s = memchr(s, '\n', e - s)) != NULL) {
		n++;
		s++;
	}
	return n;
}

int
ami_parser_banner(struct ami_parser *p, char *out, size_t outlen)
{
	char *s = p->b.p + p->start, *nl;
	size_t n = p->b.len - p->start;

	if ((nl = memchr(s, '\n', n)) == NULL) {
		if (n <= AMI_LINE_MAX)
			return 0;
		/* no greeting is that long: whatever this is, keep none of it */
		snprintf(out, outlen, "a first line over %d bytes", AMI_LINE_MAX);
		p->line = p->nextline;
		p->skipoff = p->off;
		p->skipsize = n;
		p->skipping = SKIP_LINE;
		p->skipbol = 0;
		p->head.len = 0;
		consume(p, s + n, 0);
		return 1;
	}
	n = nl - s;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	snprintf(out, outlen, "%.*s", (int)n, s);
	consume(p, nl + 1, 1);
	return 1;
}

/* the header line [s, e) whose colon is c, added to m */
static inline void
header(struct ami_msg *m, const char *s, const char *c, const char *e)
{
	struct ami_field *f;

	if (m->n == m->cap) {           /* the rare path grows the array */
		ami_msg_ref(m, s, 0, s, 0);
		m->n--;
	}
	/* ami_msg_ref inline: every header of every message comes here */
	f = &m->f[m->n++];
	ami_field_split(f, s, c, e);
	f->slack = 1;
}

/* inline: every header of every message comes here, and the call cost
 * a third of it */
static inline __attribute__((always_inline)) void
fieldc(struct ami_msg *m, const char *s, const char *c, const char *e,
    int follows)
{
	if (follows && (c == NULL || m->n >= 3 ||
	    !(ami_keyeq(s, c - s, "Privilege") || ami_keyeq(s, c - s, "ActionID")))) {
		ami_msg_ref(m, "Output", 6, s, e - s);
		return;
	}
	if (c == NULL || c == s) {
		/* not a header (or a nameless one, ": x"): keep the line as it
		 * is, nameless, rather than lose it */
		ami_msg_ref(m, "", 0, s, e - s);
		return;
	}
	header(m, s, c, e);
}

/* the line [s, e) as fieldc's field, its colon looked for here */
static inline __attribute__((always_inline)) void
field(struct ami_msg *m, const char *s, const char *e, int follows)
{
	fieldc(m, s, ami_shortchr(s, ':', e - s), e, follows);
}

#ifdef __SSE2__
/*
 * The LF that ends the line at ls, or NULL when it is not before e, and
 * in *c the line's first colon (NULL: none): the two looked for in one
 * 16-byte load, which takes most lines whole.  Reads up to AMI_SLACK bytes
 * past e.
 */
static inline __attribute__((always_inline)) char *
linesplit(const char *ls, const char *e, const char **c)
{
	__m128i x = _mm_loadu_si128((const __m128i *)ls);
	unsigned l = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')));
	unsigned k = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')));
	size_t n = e - ls;
	char *nl;

	if (n < 16)
		l &= (1u << n) - 1;
	if (l != 0) {
		k &= (l & -l) - 1;
		*c = k != 0 ? ls + __builtin_ctz(k) : NULL;
		return (char *)ls + __builtin_ctz(l);
	}
	if (n <= 16 || (nl = ami_shortchr(ls + 16, '\n', n - 16)) == NULL)
		return NULL;
	*c = k != 0 ? ls + __builtin_ctz(k) : ami_shortchr(ls + 16, ':', nl - ls - 16);
	return nl;
}
#endif

/* the complete, non-empty lines of the first HEAD_MAX bytes of [s, e) */
static void
head(struct ami_msg *m, const char *s, const char *e)
{
	const char *nl, *le;

	if (e - s > HEAD_MAX)
		e = s + HEAD_MAX;
	for (; (nl = memchr(s, '\n', e - s)) != NULL; s = nl + 1) {
		le = nl > s && nl[-1] == '\r' ? nl - 1 : nl;
		if (le == s)
			break;
		field(m, s, le, 0);
	}
}

static int
endswith(const char *s, const char *e, const char *suffix)
{
	size_t n = strlen(suffix);

	return (size_t)(e - s) >= n && memcmp(e - n, suffix, n) == 0;
}

/* "Response: Follows", the first line of an Asterisk 13 command's output */
static int
follows_line(const char *ls, const char *le)
{
	const char *c = memchr(ls, ':', le - ls), *v;

	if (c == NULL || !ami_keyeq(ls, c - ls, "Response"))
		return 0;
	v = c + 1 < le && c[1] == ' ' ? c + 2 : c + 1;
	return ami_keyeq(v, le - v, "Follows");
}

static int
follows_block(const char *s, const char *e)
{
	const char *nl = memchr(s, '\n', e - s);

	if (nl == NULL)
		nl = e;
	return follows_line(s, nl > s && nl[-1] == '\r' ? nl - 1 : nl);
}

/* report the message skipped for its size; m gets its first headers */
static int
skipped(struct ami_parser *p, struct ami_msg *m, int cut)
{
	snprintf(p->err, sizeof(p->err), "line %lu (byte %llu): message %s "
	    "%llu bytes, over the %zu-byte cap, skipped", p->line, p->skipoff,
	    cut ? "cut by the end of input after" : "of", p->skipsize, p->max);
	ami_msg_clear(m);
	ami_buf_grow(&p->head, AMI_SLACK);
	if (p->head.len > 0)
		head(m, p->head.p, p->head.p + p->head.len);
	return -1;
}

/*
 * The message at start is over the cap and not complete: keep its first
 * lines (for skipped) and drop what was read of it; skip() goes on from
 * where the search for its end had got to.  A Follows block goes on from
 * the start of the line the search was in (its text may hold empty lines:
 * only one after --END COMMAND-- ends it), so that line is searched again
 * once: at most the cap, once a message.
 */
static void
startskip(struct ami_parser *p, int how)
{
	char *s = p->b.p + p->start, *r = s + p->lscan;

	p->line = p->nextline;
	p->skipoff = p->off;
	p->skipsize = r - s;
	p->skipping = how;
	p->head.len = 0;
	ami_buf_add(&p->head, s, p->scan < HEAD_MAX ? p->scan : HEAD_MAX);
	if (how == SKIP_BLOCK && p->scan > 0 &&
	    follows_block(s, p->b.p + p->b.len)) {
		p->skipping = SKIP_FOLLOWS;
		p->endtl = 0;
		r = s + p->scan;
		p->skipsize = r - s;
	}
	/* at a line start, or after a CR that may be an empty line's */
	p->skipbol = 0;
	if (p->skipping == SKIP_BLOCK && p->scan > 0 && p->lscan == p->scan)
		p->skipbol = 1;
	else if (p->skipping == SKIP_BLOCK && p->scan > 0 &&
	    p->lscan == p->scan + 1 && s[p->scan] == '\r')
		p->skipbol = 2;
	consume(p, r, how == SKIP_BLOCK ? nlines(s, s + p->scan) : 0);
}

/* the last bytes of the line [s, e) so far, kept to find its end marker */
static void
endtail(struct ami_parser *p, const char *s, const char *e)
{
	size_t n = e - s, keep = sizeof(p->endtail);

	if (n >= keep) {
		memcpy(p->endtail, e - keep, keep);
		p->endtl = keep;
		return;
	}
	if (p->endtl + n > keep) {
		memmove(p->endtail, p->endtail + p->endtl + n - keep,
		    keep - n);
		p->endtl = keep - n;
	}
	memcpy(p->endtail + p->endtl, s, n);
	p->endtl += n;
}

/*
 * Skipping a Follows block: up to the end of its --END COMMAND-- line (a
 * line that ends with it, one CR off, as block_end reads it), then on as a
 * block.  Only the line's last bytes are kept across reads.  Past how much
 * of [r, e) it got: the marker's line end, or e.
 */
static char *
skip_follows(struct ami_parser *p, char *r, char *e, unsigned long *lines)
{
	size_t n = sizeof(AMI_ENDCMD) - 1, t;
	char *nl;

	while ((nl = memchr(r, '\n', e - r)) != NULL) {
		endtail(p, r, nl);
		r = nl + 1;
		++*lines;
		t = p->endtl;
		if (t > 0 && p->endtail[t - 1] == '\r')
			t--;
		p->endtl = 0;
		if (t >= n && memcmp(p->endtail + t - n, AMI_ENDCMD, n) == 0) {
			p->skipping = SKIP_BLOCK;
			p->skipbol = 1;
			return r;
		}
	}
	endtail(p, r, e);
	return e;
}

/*
 * Discard up to the end of the message being skipped (the next LF for a
 * line, an empty line for a block, one after --END COMMAND-- for a
 * Follows block), keeping nothing: the state of a line
 * end split across reads is in skipbol.  1 done, 0 need more.
 */
static int
skip(struct ami_parser *p)
{
	char *s = p->b.p + p->start, *e = p->b.p + p->b.len, *r = s, *nl;
	unsigned long lines = 0;
	int done = 0;

	if (p->skipping == SKIP_FOLLOWS)
		r = skip_follows(p, r, e, &lines);
	while (r < e && !done) {
		if (p->skipbol) {
			if (*r == '\n') {
				r++;
				lines++;
				done = 1;
				break;
			}
			if (*r == '\r' && p->skipbol == 1) {
				r++;
				p->skipbol = 2;
				continue;
			}
			p->skipbol = 0;
		}
		if ((nl = memchr(r, '\n', e - r)) == NULL) {
			r = e;
			break;
		}
		r = nl + 1;
		lines++;
		if (p->skipping == SKIP_LINE)
			done = 1;
		else
			p->skipbol = 1;
	}
	p->skipsize += r - s;
	consume(p, r, lines);
	if (done)
		p->skipping = SKIP_NONE;
	return done;
}

/*
 * Just past the blank line that ends the block at s (in a Follows block,
 * the first one after --END COMMAND--), or NULL when it has not come yet.
 * The search resumes where the last one stopped: lines already seen are
 * not looked at again, nor the part of a line already searched for its
 * LF, so a message or a line that arrives in many reads is searched once.
 * It stops before the --END COMMAND-- line, to find it again.
 */
static char *
block_end(struct ami_parser *p, char *s, char *e)
{
	char *ls = s + p->scan, *from = s + p->lscan, *le, *nl;
	int follows = p->scan > 0 && follows_block(s, e);

	for (; (nl = memchr(from, '\n', e - from)) != NULL; ls = from = nl + 1) {
		le = nl > ls && nl[-1] == '\r' ? nl - 1 : nl;
		if (follows == 1 && endswith(ls, le, AMI_ENDCMD))
			follows = 2;
		else if (le == ls && follows != 1)
			return nl + 1;
		else if (ls == s)
			follows = follows_line(ls, le);
		if (follows != 2)
			p->scan = p->lscan = nl + 1 - s;
	}
	if (ls == s + p->scan)
		p->lscan = e - s;
	return NULL;
}

/* the first empty line after s, or NULL */
static char *
empty_line(char *s, char *e)
{
	char *nl;

	for (; (nl = memchr(s, '\n', e - s)) != NULL; s = nl + 1)
		if (nl == s || (nl == s + 1 && *s == '\r'))
			return nl + 1;
	return NULL;
}

/* at the end of the input, a block whose end never came: -1 with the
 * reason, or 0 to read it as it is */
static int
cut_block(struct ami_parser *p, char *s, char *e)
{
	char *end = e;
	const char *why = NULL;

	p->line = p->nextline;
	if (e[-1] != '\n')
		why = "its last line has no newline";
	else if (p->mode == AMI_WIRE)
		why = "no empty line after it";
	else if (follows_block(s, e)) {
		/* a truncated capture: the rest is other messages */
		why = "Response: Follows without --END COMMAND--, skipped to "
		    "its first empty line";
		if ((end = empty_line(s, e)) == NULL)
			end = e;
	}
	if (why == NULL)
		return 0;
	snprintf(p->err, sizeof(p->err), "line %lu: message cut by the end of "
	    "input (%s): %zu bytes not read", p->line, why, (size_t)(end - s));
	consume(p, end, nlines(s, end));
	return -1;
}

#ifdef __SSE2__
/* the bits set in a 32-bit mask (x86-64's baseline has no POPCNT) */
static inline unsigned
bits32(unsigned x)
{
	x -= x >> 1 & 0x55555555;
	x = (x & 0x33333333) + (x >> 2 & 0x33333333);
	x = (x + (x >> 4)) & 0x0f0f0f0f;
	return x * 0x01010101 >> 24;
}

/* the LFs counted in acc's bytes, added to n */
static inline unsigned long
lfsum(__m128i acc, unsigned long n)
{
	__m128i s = _mm_sad_epu8(acc, _mm_setzero_si128());

	return n + _mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4);
}

/* the LFs of 16 bytes as a mask (and counted in acc), and in cand those
 * that a byte of 0x08-0x0f follows (an LF or a CR: two operations, not
 * three) */
static inline unsigned
lf16(const char *q, __m128i *acc, unsigned *cand)
{
	const __m128i lf = _mm_set1_epi8('\n'), low = _mm_set1_epi8(7);
	__m128i x = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)q), lf);
	__m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(q + 1)), low);

	*acc = _mm_sub_epi8(*acc, x);
	*cand = _mm_movemask_epi8(_mm_and_si128(x, _mm_cmpeq_epi8(a,
	    _mm_set1_epi8(0x0f))));
	return _mm_movemask_epi8(x);
}
#endif

/*
 * Just past the empty line that follows an LF in [q, e), lines counted
 * (the LFs up to its own), or NULL when none is all here.  Where SSE2 is
 * (every x86-64), 32 bytes at a time and no branch a line: an LF that an
 * LF, a CR (or another byte of 0x08-0x0f) follows is a candidate, looked
 * at in scalar code (after an LF comes the next line's first byte, a CR
 * there nearly always the empty line's CR LF); the LFs counted in byte
 * lanes, summed every 127 turns (before a lane can overflow) and at the
 * end.  -r spends most of its time here: lines of a mean 21 bytes cost
 * libc's memchr more in its calls than in its search.
 */
static char *
lf_empty(char *q, char *e, unsigned long *lines)
{
	unsigned long n = *lines;
	char *nl;
#ifdef __SSE2__
	__m128i acc;
	unsigned lfs, cand, c1, i;
	size_t turns;
	char *lim;

	while (e - q >= 34) {
		/* 127 turns at most: a byte lane of acc counts to 254 */
		turns = (e - q - 34) / 32 + 1;
		lim = q + 32 * (turns < 127 ? turns : 127);
		acc = _mm_setzero_si128();
		for (; q < lim; q += 32) {
			lfs = lf16(q, &acc, &cand);
			lfs |= lf16(q + 16, &acc, &c1) << 16;
			for (cand |= c1 << 16; cand != 0; cand &= cand - 1) {
				i = __builtin_ctz(cand);
				if (q[i + 1] == '\n' ||
				    (q[i + 1] == '\r' && q[i + 2] == '\n'))
					break;
			}
			if (cand == 0)
				continue;
			/* acc has this turn's LFs: those after i taken off */
			*lines = lfsum(acc, n) - bits32(lfs & ~((2u << i) - 1)) + 1;
			return q + i + (q[i + 1] == '\n' ? 2 : 3);
		}
		n = lfsum(acc, n);
	}
#endif
	for (; (nl = memchr(q, '\n', e - q)) != NULL; q = nl + 1) {
		n++;
		if (e - nl > 1 && nl[1] == '\n') {
			*lines = n + 1;
			return nl + 2;
		}
		if (e - nl > 2 && nl[1] == '\r' && nl[2] == '\n') {
			*lines = n + 1;
			return nl + 3;
		}
	}
	return NULL;
}

/* the rest of an event read brief, from the line start q: just past its
 * empty line (lines counted), or NULL when it is not all here */
static char *
skim(char *q, char *e, unsigned long *lines)
{
	if (e - q >= 1 && *q == '\n') {
		++*lines;
		return q + 1;
	}
	if (e - q >= 2 && q[0] == '\r' && q[1] == '\n') {
		++*lines;
		return q + 2;
	}
	return lf_empty(q, e, lines);
}

/*
 * The end of the brief Event block at s whose first line ends at nl: the
 * reader's skim when it has one (it reads the block once for both), in
 * its first SKIM_MAX bytes.  A bigger block, one over the cap say, is the
 * parser's: the reader's skim may keep what it does, and must not be
 * made to do that for megabytes it may never get.
 */
static inline char *
briefend(struct ami_parser *p, char *s, char *nl, char *e,
    unsigned long *lines)
{
	char *lim = e - s > SKIM_MAX ? s + SKIM_MAX : e, *end;

	if (p->skim != NULL) {
		*lines = 0;
		end = (char *)p->skim(p->skimarg, s, lim, lines);
		if (end != NULL || lim == e)
			return end;
	}
	*lines = 1;
	return skim(nl + 1, e, lines);
}

/*
 * The fields of the block at s, up to its end (just past its empty line,
 * returned) or up to e (NULL: the end is not there, or the input ended
 * without it); *lines counts its lines.  With brief, an Event block
 * gets its first field only and the rest is skimmed (briefend).
 */
static char *
walk(struct ami_parser *p, struct ami_msg *m, char *s, char *e,
    unsigned long *lines)
{
	const char *c;
	char *ls, *le, *nl;
	int follows = 0;

	*lines = 0;
	/* an event for a reader of m->raw, its first line as Asterisk
	 * writes it (nearly every block -r reads): its name is enough */
	if (p->brief && e - s > 6 && memcmp(s, "Event:", 6) == 0 &&
	    (nl = ami_shortchr(s + 6, '\n', e - s - 6)) != NULL) {
		header(m, s, s + 5, nl[-1] == '\r' ? nl - 1 : nl);
		return briefend(p, s, nl, e, lines);
	}
#ifdef __SSE2__
	for (ls = s; (nl = linesplit(ls, e, &c)) != NULL; ls = nl + 1) {
#else
	for (ls = s; (nl = ami_shortchr(ls, '\n', e - ls)) != NULL; ls = nl + 1) {
		c = ami_shortchr(ls, ':', nl - ls);
#endif
		le = nl > ls && nl[-1] == '\r' ? nl - 1 : nl;
		++*lines;
		if (follows == 1 && endswith(ls, le, AMI_ENDCMD)) {
			if (le - ls > (long)strlen(AMI_ENDCMD))
				field(m, ls, le - strlen(AMI_ENDCMD), 1);
			follows = 2;
		} else if (le == ls && follows != 1)
			return nl + 1;
		else {
			fieldc(m, ls, c, le, follows == 1);
			if (ls == s) {
				/* follows_line, from the field just split */
				follows = m->f[0].kl == 8 &&
				    ami_keyeq(m->f[0].k, 8, "Response") &&
				    ami_keyeq(m->f[0].v, m->f[0].vl, "Follows");
				/* an event for a reader of m->raw: its name is enough */
				if (p->brief && m->f[0].kl == 5 &&
				    ami_keyeq(m->f[0].k, 5, "Event"))
					return briefend(p, s, nl, e, lines);
			}
		}
	}
	return NULL;
}

/* inline: every block comes here, nearly all by the first branch */
static inline __attribute__((always_inline)) int
wire_block(struct ami_parser *p, struct ami_msg *m)
{
	char *s = p->b.p + p->start, *e = p->b.p + p->b.len, *end;
	unsigned long lines;

	/* a block that is all here at the first look (nearly every one):
	 * found and split in one pass; else block_end, which resumes */
	if (p->scan == 0 && (p->lscan == 0 ||
	    (s + p->lscan < e && s[p->lscan] == '\n')) &&
	    (end = walk(p, m, s, e, &lines)) != NULL &&
	    (size_t)(end - s) <= p->max)
		goto whole;
	ami_msg_clear(m);
	if ((end = block_end(p, s, e)) == NULL) {
		if (!p->eof) {
			if ((size_t)(e - s) >= p->max) {
				startskip(p, SKIP_BLOCK);
				return ami_parser_next(p, m);
			}
			return 0;
		}
		if (cut_block(p, s, e) < 0)
			return -1;
		end = e;
	}
	if ((size_t)(end - s) > p->max) {
		p->line = p->nextline;
		p->skipoff = p->off;
		p->skipsize = end - s;
		p->head.len = 0;
		ami_buf_add(&p->head, s, end - s < HEAD_MAX ? end - s : HEAD_MAX);
		consume(p, end, nlines(s, end));
		return skipped(p, m, 0);
	}
	walk(p, m, s, end, &lines);
whole:
	m->raw = s;
	m->rawlen = end - s;
	p->line = p->nextline;
	consume(p, end, lines);
	return 1;
}

static int
text_line(struct ami_parser *p, struct ami_msg *m, char *s, char *nl)
{
	char *le = nl, err[128];
	int json = *s == '{' || *s == '[', rc;

	if (le > s && le[-1] == '\r')
		le--;
	p->line = p->nextline;
	consume(p, nl + 1, 1);
	rc = json ? ami_json_decode(s, le - s, m, err, sizeof(err)) :
	    ami_text_decode(s, le - s, m, err, sizeof(err));
	if (rc == 0)
		return 1;
	snprintf(p->err, sizeof(p->err), "line %lu: %s", p->line, err);
	ami_msg_clear(m);
	return -1;
}

/* a JSON line: starts with { or [; one that ends in CR LF must also end
 * with its closing bracket (a wire block's text line may start with [) */
static int
json_line(const char *s, const char *nl)
{
	if (*s != '{' && *s != '[')
		return 0;
	if (nl - s < 2 || nl[-1] != '\r')
		return 1;
	return nl[-2] == (*s == '{' ? '}' : ']');
}

int
ami_parser_next(struct ami_parser *p, struct ami_msg *m)
{
	char *s, *e, *nl, *colon, *eq;
	int crlf;

	ami_msg_clear(m);
	for (;;) {
		if (p->skipping != SKIP_NONE) {
			if (skip(p))
				return skipped(p, m, 0);
			if (!p->eof)
				return 0;
			p->skipping = SKIP_NONE;
			return skipped(p, m, 1);
		}
		if (p->start == p->b.len)       /* b.p may be NULL */
			return 0;
		s = p->b.p + p->start;
		e = p->b.p + p->b.len;
		/* empty lines between messages */
		if (*s == '\n') {
			consume(p, s + 1, 1);
			continue;
		}
		if (*s == '\r' && (e - s == 1 || s[1] == '\n')) {
			if (e - s == 1 && !p->eof)
				return 0;
			consume(p, s + (e - s == 1 ? 1 : 2), 1);
			continue;
		}
		/* a block under way was told from a line by its first line */
		if (p->mode == AMI_WIRE || p->scan > 0)
			return wire_block(p, m);

		if ((nl = memchr(s + p->lscan, '\n', e - s - p->lscan)) == NULL) {
			p->lscan = e - s;
			if (!p->eof) {
				if ((size_t)(e - s) >= p->max) {
					startskip(p, SKIP_LINE);
					continue;
				}
				return 0;
			}
			p->line = p->nextline;
			snprintf(p->err, sizeof(p->err), "line %lu: the last line "
			    "has no newline (%zu bytes): not read", p->line,
			    (size_t)(e - s));
			consume(p, e, 0);
			return -1;
		}
		p->lscan = nl - s;
		crlf = nl > s && nl[-1] == '\r';
		if (*s == '#' || (nl - s >= (long)strlen(BANNER) &&
		    memcmp(s, BANNER, strlen(BANNER)) == 0)) {
			consume(p, nl + 1, 1);
			continue;
		}
		colon = memchr(s, ':', nl - s);
		eq = memchr(s, '=', nl - s);
		/* one-line: a quoted key, or = before the colon or right
		 * after it (Key:=value, the wire's Key:value) */
		if (json_line(s, nl) || *s == '"' ||
		    (eq != NULL && (colon == NULL || eq <= colon + 1))) {
			if ((size_t)(nl + 1 - s) > p->max) {
				p->line = p->nextline;
				p->skipoff = p->off;
				p->skipsize = nl + 1 - s;
				p->head.len = 0;
				consume(p, nl + 1, 1);
				return skipped(p, m, 0);
			}
			return text_line(p, m, s, nl);
		}
		if (colon == NULL && !crlf) {
			p->line = p->nextline;
			snprintf(p->err, sizeof(p->err),
			    "line %lu: not an AMI message (no Key=Value or Key: Value)",
			    p->line);
			consume(p, nl + 1, 1);
			return -1;
		}
		return wire_block(p, m);
	}
}
