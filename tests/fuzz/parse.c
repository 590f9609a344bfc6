/*
 * parse: the AMI parser on any bytes, fed in chunks whose sizes come from
 * the input itself, in wire or auto-detect mode; every message it returns
 * must survive the one-line and JSON round trips unchanged.  The first
 * byte picks the chunk size (1 to 64, bits 0-5), a cap of 256 bytes (bit
 * 6), so oversized messages are short enough to be made, and the mode
 * (bit 7): one mode an input halves the work of a run, and the fuzzer
 * flips the bit as any other.  Without the cap, the chunks must give what
 * the whole input at once gives: the resumed search for a message's end
 * is checked too.
 */
#include "common.h"

#define SMALL_MAX 256

/* what p has ready: each message as one-line text, an error as "!";
 * with check set, the messages go through the round trips */
static void
drain(struct ami_parser *p, struct ami_msg *m, int check, struct ami_buf *out)
{
	int rc;

	while ((rc = ami_parser_next(p, m)) != 0) {
		if (rc < 0) {
			said(p->err, sizeof(p->err));
			ami_buf_adds(out, "!\n");
			continue;
		}
		if (m->rawlen > p->max || (p->mode == AMI_WIRE && m->raw == NULL))
			abort();
		if (check)
			roundtrip(m);
		ami_text_put(out, m);
	}
}

static void
run(enum ami_mode mode, size_t max, const unsigned char *data, size_t size,
    size_t chunk, int check, struct ami_buf *out)
{
	struct ami_parser p;
	struct ami_msg m = { 0 };
	size_t off, n;

	ami_parser_init(&p, mode, max);
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		ami_parser_feed(&p, data + off, n);
		drain(&p, &m, check, out);
	}
	p.eof = 1;
	drain(&p, &m, check, out);
	ami_parser_free(&p);
	ami_msg_free(&m);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_buf chunked = { 0 }, whole = { 0 };
	enum ami_mode mode;
	size_t max;

	if (size < 1)
		return 0;
	max = data[0] & 64 ? SMALL_MAX : 0;
	mode = data[0] & 128 ? AMI_AUTO : AMI_WIRE;
	run(mode, max, data + 1, size - 1, (data[0] & 63) + 1, 1, &chunked);
	if (max == 0) {
		run(mode, max, data + 1, size - 1, size, 0, &whole);
		if (chunked.len != whole.len || (whole.len > 0 &&
		    memcmp(chunked.p, whole.p, whole.len) != 0))
			abort();
	}
	ami_buf_free(&chunked);
	ami_buf_free(&whole);
	return 0;
}
