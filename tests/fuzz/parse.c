/*
 * parse: the AMI parser on any bytes, fed in chunks whose sizes come from
 * the input itself, in wire or auto-detect mode; every message it returns
 * must survive the one-line and JSON round trips unchanged.  The first
 * byte picks the chunk size (1 to 64, bits 0-5), a cap of 256 bytes (bit
 * 6), so oversized messages are short enough to be made, and the mode
 * (bit 7): one mode an input halves the work of a run, and the fuzzer
 * flips the bit as any other.  Without the cap, the chunks must give what
 * the whole input at once gives: the resumed search for a message's end
 * is checked too, and so is brief (an event's first field and its raw
 * bytes, every other message whole, as without brief; the line each
 * message starts on, and the errors, the same), and so is brief with a
 * reader's skim that converts each block as it looks for its end (as
 * amicat's one-line does).  An event's one-line written from its raw
 * block (ami_text_block, as amicat writes an event read brief) must be
 * that of its full split, and the skim's lines of it the same.
 */
#include "common.h"

#define SMALL_MAX 256

/* what brief keeps of m: an event's first field and raw bytes, else all */
static void
brieflook(struct ami_buf *out, struct ami_msg *m)
{
	if (m->raw != NULL && m->n > 0 && ami_keyeq(m->f[0].k, m->f[0].kl, "Event"))
		m->n = 1;
	ami_text_put(out, m);
	ami_buf_add(out, m->raw, m->rawlen);
}

static int
same(const struct ami_buf *a, const struct ami_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* m split whole: ami_text_block of its raw block writes what ami_text_put
 * of its fields does */
static void
blockcheck(const struct ami_msg *m)
{
	struct ami_buf put = { 0 }, block = { 0 };

	if (m->raw == NULL || m->n == 0 ||
	    !ami_keyeq(m->f[0].k, m->f[0].kl, "Event"))
		return;
	ami_text_put(&put, m);
	ami_text_block(&block, m, m->n);
	if (!same(&put, &block))
		abort();
	ami_buf_free(&put);
	ami_buf_free(&block);
}

/* a reader's skim as amicat's: the block converted on the way, kept for
 * the message that comes out next */
static struct ami_buf early;
static const char *earlyend;

static const char *
convskim(void *arg, const char *s, const char *e, unsigned long *lines)
{
	(void)arg;
	early.len = 0;
	return earlyend = ami_text_lines(&early, s, e, lines);
}

/* an event read brief, its raw block ended by its empty line: the skim
 * gave its end, and its lines are ami_text_block's */
static void
skimcheck(const struct ami_msg *m)
{
	struct ami_buf block = { 0 };
	const char *r = m->raw;
	size_t n = m->rawlen;

	if (r == NULL || m->n != 1 || !ami_keyeq(m->f[0].k, m->f[0].kl, "Event") ||
	    n < 2 || r[n - 1] != '\n' || !(r[n - 2] == '\n' ||
	    (n >= 3 && r[n - 2] == '\r' && r[n - 3] == '\n')))
		return;
	if (earlyend != r + n)
		abort();
	ami_text_end(&early, m, 1, 0);
	ami_text_block(&block, m, 1);
	if (!same(&early, &block))
		abort();
	earlyend = NULL;
	ami_buf_free(&block);
}

/* what p has ready: each message as one-line text (brief: brieflook), an
 * error as "!"; with check set, the messages go through the round trips */
static void
drain(struct ami_parser *p, struct ami_msg *m, int check, int brief,
    struct ami_buf *out)
{
	char at[32];
	int rc;

	while ((rc = ami_parser_next(p, m)) != 0) {
		if (rc < 0) {
			said(p->err, sizeof(p->err));
			ami_buf_adds(out, "!\n");
			ami_buf_adds(out, p->err);
			continue;
		}
		/* the line it starts on: brief counts lines it does not split */
		snprintf(at, sizeof(at), "@%lu ", p->line);
		ami_buf_adds(out, at);
		if (m->rawlen > p->max || (p->mode == AMI_WIRE && m->raw == NULL))
			abort();
		if (check) {
			blockcheck(m);
			roundtrip(m);
		}
		if (brief == 3)
			skimcheck(m);
		if (brief)
			brieflook(out, m);
		else
			ami_text_put(out, m);
	}
}

static void
run(enum ami_mode mode, size_t max, const unsigned char *data, size_t size,
    size_t chunk, int check, int brief, struct ami_buf *out)
{
	struct ami_parser p;
	struct ami_msg m = { 0 };
	size_t off, n;

	ami_parser_init(&p, mode, max);
	p.brief = brief > 1;
	if (brief == 3)
		p.skim = convskim;
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		ami_parser_feed(&p, data + off, n);
		drain(&p, &m, check, brief, out);
	}
	p.eof = 1;
	drain(&p, &m, check, brief, out);
	ami_parser_free(&p);
	ami_msg_free(&m);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_buf chunked = { 0 }, whole = { 0 }, skimmed = { 0 };
	enum ami_mode mode;
	size_t max;

	if (size < 1)
		return 0;
	max = data[0] & 64 ? SMALL_MAX : 0;
	mode = data[0] & 128 ? AMI_AUTO : AMI_WIRE;
	run(mode, max, data + 1, size - 1, (data[0] & 63) + 1, 1, 0, &chunked);
	if (max == 0) {
		run(mode, max, data + 1, size - 1, size, 0, 0, &whole);
		if (!same(&chunked, &whole))
			abort();
	}
	/* brief, a chunk a byte or a bigger one, against the full split */
	chunked.len = whole.len = 0;
	run(mode, max, data + 1, size - 1, (data[0] & 63) + 1, 0, 1, &whole);
	run(mode, max, data + 1, size - 1, (data[0] & 63) + 1, 0, 2, &chunked);
	if (!same(&chunked, &whole))
		abort();
	run(mode, max, data + 1, size - 1, (data[0] & 63) + 1, 0, 3, &skimmed);
	if (!same(&skimmed, &whole))
		abort();
	ami_buf_free(&chunked);
	ami_buf_free(&whole);
	ami_buf_free(&skimmed);
	return 0;
}
