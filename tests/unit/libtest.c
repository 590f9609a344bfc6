/*
 * libtest: unit tests for lib/, printing TAP.  Each case feeds the parser
 * the hard shapes real servers and users produce: any chunking, huge
 * messages, NUL bytes, invalid UTF-8, Asterisk's own malformations.
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "ami.h"
#include "../fuzz/common.h"   /* same_fields: one definition of "the same message" */

static int ntest, nfail;

static void
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		nfail++;
}

static int
veq(const struct ami_msg *m, size_t i, const char *k, const char *v, size_t vl)
{
	if (i >= m->n)
		return 0;
	if (vl == (size_t)-1)
		vl = strlen(v);
	return m->f[i].kl == strlen(k) && memcmp(m->f[i].k, k, m->f[i].kl) == 0 &&
	    m->f[i].vl == vl && memcmp(m->f[i].v, v, vl) == 0;
}

/* buffers are not NUL-terminated: compare by length */
static int
same(const struct ami_buf *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->p, s, b->len) == 0;
}

static int
has(const struct ami_buf *b, const char *s)
{
	return memmem(b->p, b->len, s, strlen(s)) != NULL;
}

/* feed s in chunks of chunk bytes; collect messages re-encoded as text */
static char *
parse_all(enum ami_mode mode, const char *s, size_t n, size_t chunk, int *nmsg,
    int *nerr)
{
	struct ami_parser p;
	struct ami_msg m = { 0 };
	struct ami_buf out = { 0 };
	size_t off = 0, k;
	int rc;

	*nmsg = *nerr = 0;
	ami_parser_init(&p, mode, 0);
	for (;;) {
		k = n - off < chunk ? n - off : chunk;
		ami_parser_feed(&p, s + off, k);
		off += k;
		if (off == n)
			p.eof = 1;
		while ((rc = ami_parser_next(&p, &m)) != 0) {
			if (rc < 0) {
				(*nerr)++;
				continue;
			}
			(*nmsg)++;
			ami_text_put(&out, &m);
		}
		if (off == n)
			break;
	}
	ami_buf_addc(&out, '\0');
	ami_msg_free(&m);
	ami_parser_free(&p);
	return out.p;
}

static void
test_chunking(void)
{
	const char *s = "Event: A\r\nKey: v 1\r\n\r\nEvent: B\nX:\nY: \n\n"
	    "Response: Error\r\nMessage: No Contacts found\n\r\n\r\n"
	    "Event: C\r\nK: v\r\n\r\n";
	const char *want = "Event=A Key=\"v 1\"\nEvent=B X:=\"\" Y=\"\"\n"
	    "Response=Error Message=\"No Contacts found\"\nEvent=C K=v\n";
	size_t chunk;
	int nm, ne, same = 1;
	char *got;

	for (chunk = 1; chunk <= strlen(s); chunk++) {
		got = parse_all(AMI_WIRE, s, strlen(s), chunk, &nm, &ne);
		if (strcmp(got, want) != 0 || nm != 4 || ne != 0) {
			if (same)
				printf("# chunk %zu got:\n# %s\n", chunk, got);
			same = 0;
		}
		free(got);
	}
	ok(same, "every chunk size 1..%zu gives the same 4 messages, stray LF included",
	    strlen(s));
}

static void
test_huge(void)
{
	struct ami_parser p;
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	char line[64];
	int i, rc;

	/* a 1 MiB value */
	ami_buf_adds(&b, "Event: Big\r\nData: ");
	for (i = 0; i < (1 << 20); i++)
		ami_buf_addc(&b, 'a' + i % 26);
	ami_buf_adds(&b, "\r\n\r\n");
	ami_parser_init(&p, AMI_WIRE, 0);
	ami_parser_feed(&p, b.p, b.len);
	rc = ami_parser_next(&p, &m);
	ok(rc == 1 && m.n == 2 && m.f[1].vl == (1 << 20) && m.rawlen == b.len,
	    "a 1 MiB message parses whole, raw kept");
	ami_parser_free(&p);

	/* 10,000 headers */
	b.len = 0;
	ami_buf_adds(&b, "Event: Many\r\n");
	for (i = 0; i < 10000; i++) {
		snprintf(line, sizeof(line), "Variable: v%d=%d\r\n", i, i);
		ami_buf_adds(&b, line);
	}
	ami_buf_adds(&b, "\r\n");
	ami_parser_init(&p, AMI_WIRE, 0);
	ami_parser_feed(&p, b.p, b.len);
	rc = ami_parser_next(&p, &m);
	ok(rc == 1 && m.n == 10001 && veq(&m, 10000, "Variable", "v9999=9999", -1),
	    "10,000 headers kept in order");
	ami_parser_free(&p);

	/* over the cap: skipped with an error, the next message survives */
	b.len = 0;
	ami_buf_adds(&b, "Event: Huge\r\nData: ");
	for (i = 0; i < 5000; i++)
		ami_buf_addc(&b, 'x');
	ami_buf_adds(&b, "\r\n\r\nEvent: After\r\n\r\n");
	ami_parser_init(&p, AMI_WIRE, 1000);
	for (i = 0; i < (int)b.len; i += 100)
		ami_parser_feed(&p, b.p + i, b.len - i < 100 ? b.len - i : 100);
	rc = ami_parser_next(&p, &m);
	ok(rc == -1 && strcmp(p.err, "line 1 (byte 0): message of 5023 bytes, "
	    "over the 1000-byte cap, skipped") == 0 && veq(&m, 0, "Event", "Huge", -1),
	    "a message over the cap is refused with its size and place, "
	    "its first header kept (%s)", p.err);
	rc = ami_parser_next(&p, &m);
	ok(rc == 1 && veq(&m, 0, "Event", "After", -1),
	    "the message after an oversized one is intact");
	ami_parser_free(&p);
	ami_msg_free(&m);
	ami_buf_free(&b);
}

/* the cap: a message of max bytes passes, max + 1 is skipped and said,
 * whether it arrives whole or a few bytes a read, as a block or a line */
static void
test_cap(void)
{
	static const struct { enum ami_mode mode; const char *head, *tail; } c[] = {
	    { AMI_WIRE, "Event: W\r\nD: ", "\r\n\r\n" },
	    { AMI_AUTO, "Event: W\r\nD: ", "\r\n\r\n" },
	    { AMI_AUTO, "Event=L D=", "\n" } };
	struct ami_parser p;
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	size_t i, n, chunk, off, k, max = 100;
	int rc, good = 1, got[2];
	char want[100];

	for (i = 0; i < 3; i++)
		for (chunk = 1; chunk <= 256; chunk += 255)
			for (n = max; n <= max + 1; n++) {
				b.len = 0;
				ami_buf_adds(&b, c[i].head);
				while (b.len < n - strlen(c[i].tail))
					ami_buf_addc(&b, 'x');
				ami_buf_adds(&b, c[i].tail);
				ami_buf_adds(&b, c[i].head);
				ami_buf_adds(&b, "after");
				ami_buf_adds(&b, c[i].tail);
				ami_parser_init(&p, c[i].mode, max);
				got[0] = got[1] = 0;
				for (off = 0; off < b.len; off += k) {
					k = b.len - off < chunk ? b.len - off : chunk;
					ami_parser_feed(&p, b.p + off, k);
					while ((rc = ami_parser_next(&p, &m)) != 0)
						got[rc > 0]++;
				}
				snprintf(want, sizeof(want), "line 1 (byte 0): message "
				    "of %zu bytes, over the %zu-byte cap, skipped", n, max);
				if (got[1] != 2 - (n > max) || got[0] != (n > max) ||
				    (n > max && strcmp(p.err, want) != 0)) {
					printf("# mode %d chunk %zu size %zu: %d msgs, %d "
					    "errors: %s\n", c[i].mode, chunk, n, got[1],
					    got[0], p.err);
					good = 0;
				}
				ami_parser_free(&p);
			}
	ok(good, "cap %zu: a block or line of %zu bytes passes, of %zu is skipped "
	    "and said with its size, whole or a byte a read", max, max, max + 1);
	ami_msg_free(&m);
	ami_buf_free(&b);
}

/* a Follows block over the cap is skipped to the empty line after its
 * --END COMMAND--, not to an empty line of its text (before the cap or
 * after it), in whatever reads it comes; of max bytes it passes */
static void
test_follows_cap(void)
{
	static const char head[] = "Response: Follows\r\nPrivilege: Command\r\n"
	    "ActionID: 7\r\nearly\n\nEvent: Early\n\n";
	static const char tail[] = "\n\nEvent: Late\n\nlast--END COMMAND--\r\n\r\n";
	static const size_t chunks[] = { 1, 2, 7, 16, 1000 };
	struct ami_parser p;
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	size_t i, j, n, off, k, max = 200, sizes[] = { 200, 201, 300 };
	int rc, good = 1, got[2], after;
	char want[100];

	for (i = 0; i < 5; i++)
		for (j = 0; j < 3; j++) {
			n = sizes[j];
			b.len = 0;
			ami_buf_adds(&b, head);
			while (b.len < n - strlen(tail))
				ami_buf_addc(&b, 'x');
			ami_buf_adds(&b, tail);
			ami_buf_adds(&b, "Event: After\r\n\r\n");
			ami_parser_init(&p, AMI_WIRE, max);
			got[0] = got[1] = after = 0;
			for (off = 0; off < b.len; off += k) {
				k = b.len - off < chunks[i] ? b.len - off : chunks[i];
				ami_parser_feed(&p, b.p + off, k);
				while ((rc = ami_parser_next(&p, &m)) != 0) {
					got[rc > 0]++;
					after = rc > 0 && veq(&m, 0, "Event", "After", -1);
				}
			}
			snprintf(want, sizeof(want), "line 1 (byte 0): message "
			    "of %zu bytes, over the %zu-byte cap, skipped", n, max);
			if (got[1] != 2 - (n > max) || got[0] != (n > max) ||
			    !after || (n > max && strcmp(p.err, want) != 0)) {
				printf("# chunk %zu size %zu: %d msgs, %d errors: %s\n",
				    chunks[i], n, got[1], got[0], p.err);
				good = 0;
			}
			ami_parser_free(&p);
		}
	ok(good, "cap %zu: a Follows block of %zu bytes passes, of %zu and more "
	    "is skipped to its --END COMMAND-- and said, whole or a byte a read",
	    max, max, max + 1);
	ami_msg_free(&m);
	ami_buf_free(&b);
}

static void
test_bytes(void)
{
	static const char s[] = "Event: Odd\r\nNul: a\0b\r\nUtf: \xc3\xa9\xff\xfe\r\n"
	    "no colon here\r\nDup: 1\r\nDup: 2\r\n\r\n";
	struct ami_parser p;
	struct ami_msg m = { 0 }, back = { 0 };
	struct ami_buf t = { 0 }, j = { 0 }, w = { 0 };
	char err[128];
	int rc;

	ami_parser_init(&p, AMI_WIRE, 0);
	ami_parser_feed(&p, s, sizeof(s) - 1);
	rc = ami_parser_next(&p, &m);
	ok(rc == 1 && veq(&m, 1, "Nul", "a\0b", 3), "NUL byte inside a value kept");
	ok(veq(&m, 2, "Utf", "\xc3\xa9\xff\xfe", -1), "invalid UTF-8 kept as bytes");
	ok(veq(&m, 3, "", "no colon here", -1), "a line without a colon is kept, nameless");
	ok(veq(&m, 4, "Dup", "1", -1) && veq(&m, 5, "Dup", "2", -1),
	    "duplicate headers kept in order");

	ami_text_put(&t, &m);
	ok(same(&t, "Event=Odd Nul=\"a\\x00b\" Utf=\xc3\xa9\xff\xfe "
	    "\"\"=\"no colon here\" Dup=1 Dup=2\n"),
	    "one-line text escapes NUL, passes high bytes, quotes the empty key");
	ami_json_put(&j, &m);
	ok(has(&j, "\"Utf\":\"\xc3\xa9\\udcff\\udcfe\"") &&
	    has(&j, "\"Dup\":[\"1\",\"2\"]") && has(&j, "\\u0000"),
	    "JSON: surrogateescape for invalid UTF-8, repeated key as array");

	ami_json_decode(j.p, j.len - 1, &back, err, sizeof(err));
	ami_wire_put(&w, &back);
	ok(w.len == m.rawlen && memcmp(w.p, m.raw, w.len) == 0,
	    "raw -> JSON -> raw is byte-identical");
	ami_msg_clear(&back);
	t.p[t.len - 1] = '\0';
	rc = ami_text_decode(t.p, t.len - 1, &back, err, sizeof(err));
	w.len = 0;
	ami_wire_put(&w, &back);
	ok(rc == 0 && w.len == m.rawlen && memcmp(w.p, m.raw, w.len) == 0,
	    "raw -> one-line -> raw is byte-identical");
	ami_parser_free(&p);
	ami_msg_free(&m);
	ami_msg_free(&back);
	ami_buf_free(&t);
	ami_buf_free(&j);
	ami_buf_free(&w);
}

/* the word-at-a-time scan: a special byte at any offset of any length */
static void
test_quoting_offsets(void)
{
	static const char specials[] = " \"\\\x7f\t\x01";
	struct ami_buf b = { 0 };
	struct ami_msg m = { 0 };
	char s[24];
	size_t n, at, k;
	int bad = 0;

	for (n = 1; n <= sizeof(s); n++) {
		memset(s, 'x', n);
		b.len = 0;
		ami_text_value(&b, s, n);
		bad |= b.len != n || b.p[0] == '"';
		for (at = 0; at < n; at++)
			for (k = 0; k < sizeof(specials) - 1; k++) {
				s[at] = specials[k];
				b.len = 0;
				ami_text_value(&b, s, n);
				bad |= b.p[0] != '"';
				s[at] = '=';
				ami_msg_clear(&m);
				ami_msg_ref(&m, s, n, "v", 1);
				b.len = 0;
				ami_text_put(&b, &m);
				bad |= b.p[0] != '"';
				s[at] = 'x';
			}
	}
	ok(!bad, "a byte that needs quoting is found at every offset, lengths 1-24");
	ami_buf_free(&b);
	ami_msg_free(&m);
}

static void
test_interleaved_json(void)
{
	struct ami_msg m = { 0 }, back = { 0 };
	struct ami_buf j = { 0 }, a = { 0 }, b = { 0 };
	char err[128], line[] = "K=x", notjson[] = "x}";

	ami_msg_adds(&m, "Response", "Success");
	ami_msg_adds(&m, "Message", "Presence State");
	ami_msg_adds(&m, "State", "dnd");
	ami_msg_adds(&m, "Message", "In a meeting");
	ami_json_put(&j, &m);
	ok(j.p[0] == '[', "non-adjacent repeats are written as a list of pairs");
	ok(ami_json_decode(j.p, j.len - 1, &back, err, sizeof(err)) == 0,
	    "the list of pairs decodes");
	ami_wire_put(&a, &m);
	ami_wire_put(&b, &back);
	ok(a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "and keeps the order");
	/* found by the fuzzer: decoding appended to what back held */
	ok(ami_text_decode(line, 3, &back, err, sizeof(err)) == 0 &&
	    back.n == 1 && veq(&back, 0, "K", "x", 1),
	    "a decoder replaces what the message held");
	ok(ami_json_decode(notjson, 2, &back, err, sizeof(err)) < 0,
	    "JSON that is not an object or a list is refused");
	ami_msg_free(&m);
	ami_msg_free(&back);
	ami_buf_free(&j);
	ami_buf_free(&a);
	ami_buf_free(&b);
}

static void
test_auto(void)
{
	const char *s = "# comment\n\nAsterisk Call Manager/9.0.0\r\n"
	    "Action=Setvar Variable=DEVICE_STATE(Custom:DND100) Value=BUSY\n"
	    "{\"Action\":\"Ping\",\"X\":[\"a\",\"b\"],\"N\":12,\"Z\":null}\n"
	    "Action: Logoff\r\nActionID: 9\r\n\r\n"
	    "garbage without separators\n"
	    "K=\"unterminated\n"
	    "[[\"Action\",\"Ping\"],[\"T\",\"\\u00e9\\ud83d\\ude00\"]]\n";
	const char *want = "Action=Setvar Variable=DEVICE_STATE(Custom:DND100) Value=BUSY\n"
	    "Action=Ping X=a X=b N=12 Z=\"\"\nAction=Logoff ActionID=9\n"
	    "Action=Ping T=\xc3\xa9\xf0\x9f\x98\x80\n";
	int nm, ne;
	char *got;
	size_t chunk;
	int same = 1;

	for (chunk = 1; chunk < 300; chunk += 7) {
		got = parse_all(AMI_AUTO, s, strlen(s), chunk, &nm, &ne);
		if (strcmp(got, want) != 0 || nm != 4 || ne != 2) {
			if (same)
				printf("# chunk %zu (%d msgs, %d errors):\n%s", chunk, nm, ne, got);
			same = 0;
		}
		free(got);
	}
	ok(same, "auto-detect: one-line, JSON object and pairs, wire block; "
	    "comments and banner skipped; 2 bad lines reported, not fatal");
}

static void
test_follows(void)
{
	static const char nul[] = "Response\0: Follows\r\nK: v\r\n\r\n";
	const char *s = "Response: Follows\r\nPrivilege: Command\r\nActionID: 5\r\n"
	    "Name/username   Host: x\n\nsecond: line\n--END COMMAND--\r\n\r\n"
	    "Event: Next\r\n\r\n";
	const char *want = "Response=Follows Privilege=Command ActionID=5 "
	    "Output=\"Name/username   Host: x\" Output=\"\" Output=\"second: line\"\n"
	    "Event=Next\n";
	size_t chunk;
	int nm, ne, same = 1;
	char *got;

	/* the search for the end resumes across reads, past blank lines
	 * and --END COMMAND-- alike */
	for (chunk = 1; chunk <= strlen(s); chunk++) {
		got = parse_all(AMI_WIRE, s, strlen(s), chunk, &nm, &ne);
		if (strcmp(got, want) != 0) {
			if (same)
				printf("# chunk %zu got:\n# %s", chunk, got);
			same = 0;
		}
		free(got);
	}
	ok(same, "Asterisk 13 Response: Follows becomes Output lines, blank "
	    "lines kept, in chunks of any size");
	/* found by the fuzzer: names were compared past the end of the
	 * literal when they held a NUL */
	ok(!ami_keyeq("Follows\0xy", 10, "Follows") &&
	    ami_keyeq("FOLLOWS", 7, "Follows"), "ami_keyeq: a NUL ends no comparison");
	got = parse_all(AMI_WIRE, nul, sizeof(nul) - 1, sizeof(nul), &nm, &ne);
	ok(nm == 1 && ne == 0 && strstr(got, "Output") == NULL,
	    "a first header named Response and a NUL starts no Follows block");
	free(got);
}

static void
test_check(void)
{
	struct ami_msg m = { 0 };
	char err[200], big[1100];
	int i;

	ami_msg_adds(&m, "Action", "Setvar");
	ami_msg_adds(&m, "Value", "x\r\nAction: Originate");
	ok(ami_wire_check(&m, err, sizeof(err)) < 0 && strstr(err, "Value") != NULL,
	    "CR/LF in a value refused: %s", err);
	ami_msg_clear(&m);
	ami_msg_adds(&m, "Action", "Setvar");
	ami_msg_adds(&m, "Bad: Key", "v");
	ok(ami_wire_check(&m, err, sizeof(err)) < 0, "colon in a header name refused");
	ami_msg_clear(&m);
	ami_msg_adds(&m, "Action", "Setvar");
	ami_msg_add(&m, "Key\r\nAction: Originate", 22, "v", 1);
	ok(ami_wire_check(&m, err, sizeof(err)) < 0 && strchr(err, '\r') == NULL &&
	    strstr(err, "\"Key\\r\\nAction: Originate\"") != NULL,
	    "CR/LF in a header name refused, said escaped: %s", err);
	ami_msg_clear(&m);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ami_msg_adds(&m, "Action", "UserEvent");
	ami_msg_adds(&m, "Data", big);
	ok(ami_wire_check(&m, err, sizeof(err)) < 0 && strstr(err, "1024") != NULL,
	    "a line over 1024 bytes refused");
	ami_msg_clear(&m);
	big[1024 - 8] = '\0';    /* "Data: " + value + CRLF = exactly 1024 */
	ami_msg_adds(&m, "Action", "UserEvent");
	ami_msg_adds(&m, "Data", big);
	ok(ami_wire_check(&m, err, sizeof(err)) == 0, "a line of exactly 1024 bytes passes");
	ami_msg_clear(&m);
	for (i = 0; i < 129; i++)
		ami_msg_adds(&m, i ? "K" : "Action", "v");
	ok(ami_wire_check(&m, err, sizeof(err)) < 0 && strstr(err, "128") != NULL,
	    "129 headers refused");
	ami_msg_free(&m);
	ok(ami_dnd_peer("100", 3) && !ami_dnd_peer("100\0", 4) &&
	    !ami_dnd_peer("1\r0", 3) && !ami_dnd_peer("", 0),
	    "a peer name: a NUL, a CR or nothing is not one");
}

static void
test_tmpl_filter(void)
{
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	struct ami_tmpl *t;
	struct ami_filter *f;
	char err[200];

	ami_msg_adds(&m, "Event", "PeerStatus");
	ami_msg_adds(&m, "Peer", "PJSIP/100");
	ami_msg_adds(&m, "PeerStatus", "Reachable");
	t = ami_tmpl_new("%{Peer}\\t%{peerstatus} 100%% %{Missing}.", err, sizeof(err));
	ami_tmpl_expand(t, &m, &b, NULL);
	ami_buf_addc(&b, '\0');
	ok(strcmp(b.p, "PJSIP/100\tReachable 100% .") == 0,
	    "template: keys case-insensitive, %%%%, \\t, missing key empty");
	ami_tmpl_free(t);
	ok(ami_tmpl_new("%{Peer", err, sizeof(err)) == NULL, "unclosed %%{ refused");
	f = ami_filter_new("Peer~^PJSIP/1", err, sizeof(err));
	ok(f && ami_filter_match(f, &m), "filter matches");
	ami_filter_free(f);
	f = ami_filter_new("!Device~^Custom:", err, sizeof(err));
	ok(f && ami_filter_match(f, &m), "negated filter passes a missing header");
	ami_filter_free(f);
	ok(ami_filter_new("Peer~(", err, sizeof(err)) == NULL && strstr(err, "offset"),
	    "bad regex: %s", err);
	ami_msg_free(&m);
	ami_buf_free(&b);
}

/* path holds n bytes of s (-1: a string), mode 600 */
static void
put(const char *path, const char *s, ssize_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	(void)!write(fd, s, n < 0 ? strlen(s) : (size_t)n);
	fchmod(fd, 0600);
	close(fd);
}

static void
test_conf(void)
{
	struct ami_server s;
	char path[] = "/tmp/amitools-conf-XXXXXX", err[300], map[64], text[2048];
	struct ami_confkey key = { "map", map, sizeof(map) };

	close(mkstemp(path));
	put(path, "; comment\n[default]\nhost = 10.1.2.3 ; inline\n"
	    "port = 5039\nusername = mon\nsecret = s3cret\n[pbx2]\n"
	    "host = 10.0.0.2\n", -1);
	unsetenv("AMI_HOST");
	unsetenv("AMI_SECRET_FILE");
	ok(ami_conf_server(&s, NULL, path, err, sizeof(err)) == 0 &&
	    strcmp(s.host, "10.1.2.3") == 0 && strcmp(s.port, "5039") == 0 &&
	    strcmp(s.secret, "s3cret") == 0, "config [default] read");
	ok(ami_conf_server(&s, "pbx2", path, err, sizeof(err)) == 0 &&
	    strcmp(s.host, "10.0.0.2") == 0 && strcmp(s.user, "mon") == 0,
	    "named section inherits [default]");
	ok(ami_conf_server(&s, "10.9.9.9:6000", path, err, sizeof(err)) == 0 &&
	    strcmp(s.host, "10.9.9.9") == 0 && strcmp(s.port, "6000") == 0,
	    "an unknown -H name is host:port");
	chmod(path, 0644);
	ok(ami_conf_server(&s, NULL, path, err, sizeof(err)) < 0 &&
	    strstr(err, "chmod 600") != NULL, "a readable file with a secret is refused");

	/* found by the fuzzer: a CR inside a value was kept, a NUL cut it */
	put(path, "[default]\nusername = mon\rAction: Originate\n", -1);
	ok(ami_conf_server(&s, NULL, path, err, sizeof(err)) < 0 &&
	    strstr(err, ":2: control character \\x0d") != NULL,
	    "a CR inside a value is refused: %s", err);
	put(path, "[default]\nhost = a\0b\n", 19);
	ok(ami_conf_server(&s, NULL, path, err, sizeof(err)) < 0 &&
	    strstr(err, "\\x00") != NULL, "a NUL in a line is refused");
	put(path, "[dndparse]\nmap = x\ry\n", -1);
	ok(ami_conf_section("dndparse", path, &key, 1, err, sizeof(err)) < 0 &&
	    strstr(err, "control character") != NULL,
	    "and in a tool's own section too");
	/* a line over 1 KiB was read as two, its tail as a line of its own:
	 * here a comment's tail set the host */
	memset(text, 'x', sizeof(text));
	memcpy(text, "[default]\n# ", 12);
	strcpy(text + 10 + 1023, "host = 10.6.6.6\n");
	put(path, text, -1);
	ok(ami_conf_server(&s, NULL, path, err, sizeof(err)) == 0 &&
	    strcmp(s.host, "127.0.0.1") == 0, "a comment of over 1 KiB is one line");
	unlink(path);
}

static void
test_dnd(void)
{
	struct ami_dnd_pats *ps = NULL;
	struct ami_dnd_hit h;
	const char *l;
	char err[200];

	ok(ami_dnd_compile(&ps, "^\\S+ (?<ip>\\S+) DND (?<state>on|off) for "
	    "(?<peer>.*)$", err, sizeof(err)) == 0 &&
	    ami_dnd_compile(&ps, NULL, err, sizeof(err)) == 0,
	    "dnd: a pattern and the built-in compile");
	l = "Aug 29 11:46:46 192.168.161.6 [0]Enable DND";
	ok(ami_dnd_match(ps, l, strlen(l), &h) && h.on == 1 && h.peer == NULL &&
	    h.ip == l + 16 && h.ipl == 13,
	    "dnd: the built-in gives the state and the sender's address");
	l = "x 10.0.0.1 DND off for 100";
	ok(ami_dnd_match(ps, l, strlen(l), &h) && h.on == 0 && h.ip == NULL &&
	    h.peerl == 3 && memcmp(h.peer, "100", 3) == 0,
	    "dnd: a peer group, when it matched, wins over the address");
	l = "x 10.0.0.1 DND on for ";
	ok(ami_dnd_match(ps, l, strlen(l), &h) && h.peer == NULL && h.ipl == 8,
	    "dnd: an empty peer leaves the address");
	l = "x 10.0.0.1 DND maybe for 100";
	ok(!ami_dnd_match(ps, l, strlen(l), &h), "dnd: no state word, no match");
	ok(ami_dnd_compile(&ps, "(?<ip>x", err, sizeof(err)) < 0 &&
	    strstr(err, "offset") != NULL, "dnd: a bad pattern refused: %s", err);
	ok(ami_dnd_compile(&ps, "(?<ip>x)", err, sizeof(err)) < 0 &&
	    strstr(err, "named groups") != NULL, "dnd: %s", err);
	ami_dnd_free(ps);
}

/* a response parsed from a buffer of its own size, for ASan */
static int
response(const char *s, struct ami_sip_resp *r)
{
	size_t n = strlen(s);
	char *m = malloc(n);
	int rc;

	memcpy(m, s, n);
	rc = ami_sip_response(m, n, r);
	free(m);
	return rc;
}

static void
test_sip(void)
{
	struct ami_sip_resp r;

	ok(response("SIP/2.0 481 Call Does Not Exist\r\nv: SIP/2.0/UDP "
	    "10.0.0.1;rport;branch=z9hG4bK-7,SIP/2.0/UDP x;branch=y\r\n\r\n",
	    &r) == 0 && r.status == 481 && r.reasonl == 19 && r.branchl == 9,
	    "sip: status, reason and the top Via's branch, compact form");
	/* found by the fuzzer: a Via ending in ";branch" was read one byte
	 * past the message, and a branch ran on over a CR */
	ok(response("SIP/2.0 200 OK\r\nVia: x;branch", &r) < 0,
	    "sip: a Via that ends in ;branch has none");
	ok(response("SIP/2.0 200 OK\r\nVia: x;branch=z9hG4bK-1\r2\r\n\r\n", &r) < 0,
	    "sip: a branch that is not a token is refused");
}

static int
slurp_is(const char *path, const char *want)
{
	char buf[1024];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

/* one rule for the mode; a link at the name is replaced, not followed;
 * no temporary file stays */
static void
test_replace(void)
{
	char dir[] = "/tmp/amitools-rep-XXXXXX", path[64], other[64];
	const char *what;
	struct stat st;
	mode_t mask;
	int rc;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(other, sizeof(other), "%s/g", dir);
	mask = umask(027);
	rc = ami_file_replace(path, "a\n", 2, &what);
	umask(mask);
	ok(rc == 0 && stat(path, &st) == 0 && (st.st_mode & 07777) == 0640 &&
	    slurp_is(path, "a\n"), "replace: a new file: 0666 less the umask");
	chmod(path, 0604);
	ok(ami_file_replace(path, "b\n", 2, &what) == 0 && stat(path, &st) == 0 &&
	    (st.st_mode & 07777) == 0604 && slurp_is(path, "b\n"),
	    "replace: the old file's mode kept");
	put(other, "keep", -1);
	unlink(path);
	(void)!symlink(other, path);
	ok(ami_file_replace(path, "c\n", 2, &what) == 0 &&
	    lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    slurp_is(other, "keep") && slurp_is(path, "c\n"),
	    "replace: a link at the name replaced, its target untouched");
	unlink(path);
	unlink(other);
	ok(rmdir(dir) == 0, "replace: no temporary file left");
}

static void
test_map(void)
{
	char dir[] = "/tmp/amitools-map-XXXXXX", path[64], err[300];
	const char *text = "# ip             peer   description\n"
	    "192.168.161.6    937    Reception\n"
	    "\n"
	    "192.168.161.7\t916 Sales  1  \r\n"
	    "-                101\n";
	const char *canon = "# ip             peer   description\n"
	    "192.168.161.6    937    Reception\n"
	    "\n"
	    "192.168.161.7    916    Sales  1\n"
	    "-                101\n";
	const struct ami_map_ent *e;
	struct ami_map m;
	int fd;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/peers.map", dir);
	ok(ami_map_read(&m, path, err, sizeof(err)) == 0 && m.n == 0,
	    "map: a missing file is an empty map");
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	(void)!write(fd, text, strlen(text));
	close(fd);
	ami_map_free(&m);
	ok(ami_map_read(&m, path, err, sizeof(err)) == 0 && m.n == 5,
	    "map: read, comments and empty lines kept as entries");
	e = ami_map_ip(&m, "192.168.161.7");
	ok(e != NULL && strcmp(e->peer, "916") == 0 &&
	    strcmp(e->desc, "Sales  1") == 0,
	    "map: by ip; tab, CR and blanks around the description dropped");
	e = &m.e[4];
	ok(strcmp(e->peer, "101") == 0 && strcmp(e->ip, "-") == 0 &&
	    e->desc[0] == '\0', "map: an unknown ip; no description");
	ok(ami_map_ip(&m, "10.9.9.9") == NULL, "map: an unknown ip");
	ok(ami_map_write(&m, path, err, sizeof(err)) == 0 && slurp_is(path, canon),
	    "map: written back in the canonical layout");
	ami_map_add(&m, "#10.0.0.1", "950", "");
	ok(ami_map_write(&m, path, err, sizeof(err)) < 0 &&
	    strstr(err, "would not read back") != NULL && slurp_is(path, canon),
	    "map: an entry that would read back as a comment: refused, file kept");
	ami_map_del(&m, m.n - 1);
	ami_stab_set(&m.e[1].desc, "Front desk", 10);
	fd = ami_map_write(&m, path, err, sizeof(err));
	ami_map_free(&m);
	ok(fd == 0 && ami_map_read(&m, path, err, sizeof(err)) == 0 &&
	    m.n == 5 && strcmp(m.e[1].peer, "937") == 0 &&
	    strcmp(m.e[1].desc, "Front desk") == 0,
	    "map: a changed description and a deleted entry, round trip");
	ami_map_free(&m);
	fd = open(path, O_WRONLY | O_APPEND);
	(void)!write(fd, "lonely\n", 7);
	close(fd);
	ok(ami_map_read(&m, path, err, sizeof(err)) < 0 &&
	    strstr(err, "peers.map:6: expected ip peer") != NULL,
	    "map: a line with one word: refused with its number");
	unlink(path);
	rmdir(dir);
}

/* ---- every byte in every writer, against rules written out here ---- */

static const char hexd[] = "0123456789abcdef";

/* the one-line escape of c inside quotes (amitools.7) */
static void
text_esc(struct ami_buf *b, unsigned char c)
{
	const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\t' ?
	    "\\t" : c == '\r' ? "\\r" : c == '\n' ? "\\n" : NULL;

	if (e != NULL)
		ami_buf_adds(b, e);
	else if (c < 0x20 || c == 0x7f) {
		ami_buf_adds(b, "\\x");
		ami_buf_addc(b, hexd[c >> 4]);
		ami_buf_addc(b, hexd[c & 15]);
	} else
		ami_buf_addc(b, c);
}

/* the one-line token of s: bare unless empty or holding a byte to quote */
static void
text_tok(struct ami_buf *b, const char *s, size_t n, int key)
{
	size_t i;
	int q = n == 0;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c <= 0x20 || c == '"' || c == '\\' || c == 0x7f ||
		    (key && c == '='))
			q = 1;
	}
	if (!q) {
		ami_buf_add(b, s, n);
		return;
	}
	ami_buf_addc(b, '"');
	for (i = 0; i < n; i++)
		text_esc(b, s[i]);
	ami_buf_addc(b, '"');
}

/* JSON: a byte alone or amid ASCII (so never part of valid UTF-8 when
 * 0x80 or over) */
static void
json_tok(struct ami_buf *b, const char *s, size_t n)
{
	size_t i;

	ami_buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\')
			ami_buf_addc(b, '\\'), ami_buf_addc(b, c);
		else if (c == '\n' || c == '\r' || c == '\t')
			ami_buf_adds(b, c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t");
		else if (c < 0x20 || c >= 0x80) {
			ami_buf_adds(b, c < 0x20 ? "\\u00" : "\\udc");
			ami_buf_addc(b, hexd[c >> 4]);
			ami_buf_addc(b, hexd[c & 15]);
		} else
			ami_buf_addc(b, c);
	}
	ami_buf_addc(b, '"');
}

/* what one writer gives for m, read back by the AUTO parser */
static int
readback(const struct ami_buf *w, const struct ami_msg *m)
{
	struct ami_parser p;
	struct ami_msg got = { 0 };
	int rc, good;

	ami_parser_init(&p, AMI_AUTO, 0);
	ami_parser_feed(&p, w->p, w->len);
	p.eof = 1;
	rc = ami_parser_next(&p, &got);
	good = rc == 1 && same_fields(&got, m) && ami_parser_next(&p, &got) == 0;
	ami_parser_free(&p);
	ami_msg_free(&got);
	return good;
}

static void
test_every_byte(void)
{
	/* short: the small-token path; long: the word-at-a-time paths, the
	 * byte in the middle of a word, bare and inside quotes */
	static const char *shapes[][2] = { { "", "" }, { "abcdefgh", "ijklmnop" },
	    { "say hello ", " world, twice" } };
	struct ami_msg m = { 0 };
	struct ami_buf got = { 0 }, want = { 0 }, v = { 0 };
	char err[200];
	int c, sh, key, bad[4] = { 0 }, badraw = 0, badexact = 0;

	for (sh = 0; sh < 3; sh++)
		for (key = 0; key < 2; key++)
			for (c = 0; c < 256; c++) {
				v.len = 0;
				ami_buf_adds(&v, shapes[sh][0]);
				ami_buf_addc(&v, c);
				ami_buf_adds(&v, shapes[sh][1]);
				ami_msg_clear(&m);
				ami_msg_adds(&m, "Event", "X");
				if (key)
					ami_msg_add(&m, v.p, v.len, "v", 1);
				else
					ami_msg_add(&m, "V", 1, v.p, v.len);
				/* one-line */
				got.len = want.len = 0;
				ami_text_put(&got, &m);
				ami_buf_adds(&want, "Event=X ");
				text_tok(&want, key ? v.p : "V", key ? v.len : 1, 1);
				ami_buf_addc(&want, '=');
				text_tok(&want, key ? "v" : v.p, key ? 1 : v.len, 0);
				ami_buf_addc(&want, '\n');
				if (got.len != want.len || memcmp(got.p, want.p, got.len))
					bad[0]++, printf("# one-line 0x%02x: %.*s", c,
					    (int)got.len, got.p);
				else if (!readback(&got, &m))
					bad[1]++, printf("# one-line 0x%02x does not "
					    "read back\n", c);
				/* JSON */
				got.len = want.len = 0;
				ami_json_put(&got, &m);
				ami_buf_adds(&want, "{\"Event\":\"X\",");
				json_tok(&want, key ? v.p : "V", key ? v.len : 1);
				ami_buf_addc(&want, ':');
				json_tok(&want, key ? "v" : v.p, key ? 1 : v.len);
				ami_buf_adds(&want, "}\n");
				if (got.len != want.len || memcmp(got.p, want.p, got.len))
					bad[2]++, printf("# JSON 0x%02x: %.*s", c,
					    (int)got.len, got.p);
				else if (!readback(&got, &m))
					bad[3]++, printf("# JSON 0x%02x does not read "
					    "back\n", c);
				/* raw: bytes as they are; refused exactly when
				 * they would not read back */
				got.len = want.len = 0;
				ami_wire_put(&got, &m);
				ami_buf_adds(&want, "Event: X\r\n");
				ami_buf_add(&want, key ? v.p : "V", key ? v.len : 1);
				ami_buf_adds(&want, ": ");
				ami_buf_add(&want, key ? "v" : v.p, key ? 1 : v.len);
				ami_buf_adds(&want, "\r\n\r\n");
				if (got.len != want.len || memcmp(got.p, want.p, got.len))
					badraw++;
				if ((ami_wire_exact(&m, err, sizeof(err)) == 0) !=
				    (c != '\n' && !(key && c == ':')) ||
				    (c != '\n' && !(key && c == ':') &&
				    !readback(&got, &m)))
					badexact++, printf("# raw 0x%02x %s: %s\n",
					    c, key ? "key" : "value", err);
			}
	ok(bad[0] == 0, "one-line: every byte 0x00-0xff, in keys and values, "
	    "short and long, bare and quoted, escaped exactly as amitools(7) says");
	ok(bad[1] == 0, "and reads back as it was");
	ok(bad[2] == 0, "JSON: every byte escaped exactly (\\u00HH below 0x20, "
	    "\\udcHH for a byte of invalid UTF-8)");
	ok(bad[3] == 0, "and reads back as it was");
	ok(badraw == 0, "raw: every byte written as it is");
	ok(badexact == 0, "-r refuses exactly the line feed (and a colon in a "
	    "name), and all else reads back as it was");
	ami_msg_free(&m);
	ami_buf_free(&got);
	ami_buf_free(&want);
	ami_buf_free(&v);
}

/* a nameless first line (a socket's block "No queues.") is written as it
 * is: -r passes it exactly when it reads back as itself (found by the
 * parse fuzzer: ":=" passed and read back as one-line) */
static void
test_nameless_first(void)
{
	static const char *vs[] = { ":=", ":=x", "::=", ":x=", "=:", "a=:",
	    "No queues.", "a:", ":", "x=" };
	struct ami_msg m = { 0 };
	struct ami_buf w = { 0 };
	char err[200];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		ami_msg_clear(&m);
		ami_msg_ref(&m, "", 0, vs[i], strlen(vs[i]));
		ami_msg_ref(&m, "Then", 4, "x", 1);
		w.len = 0;
		ami_wire_put(&w, &m);
		if ((ami_wire_exact(&m, err, sizeof(err)) == 0) != readback(&w, &m))
			bad++, printf("# nameless first line %s: %s\n", vs[i],
			    readback(&w, &m) ? "reads back, refused" :
			    "passed, does not read back");
	}
	ok(bad == 0, "-r passes a nameless first line exactly when it reads back");
	ami_msg_free(&m);
	ami_buf_free(&w);
}

/* every delay within [base/2, base] for base = min << tries, capped at
 * max, and not all the same (the jitter mwinotify's copy lacked) */
static void
test_backoff(void)
{
	int64_t d, lo = -1, hi = -1, base;
	unsigned t;
	int i, bad = 0;

	for (t = 0; t < 40; t++) {
		base = 500LL << (t < 16 ? t : 16);
		if (base > 30000)
			base = 30000;
		for (i = 0; i < 200; i++) {
			d = ami_backoff(t, 500, 30000);
			if (d < base / 2 || d > base)
				bad++, printf("# try %u: %lld ms\n", t, (long long)d);
			if (t == 0)
				lo = lo < 0 || d < lo ? d : lo, hi = d > hi ? d : hi;
		}
	}
	ok(bad == 0, "backoff: min doubled per failure up to max, down to half");
	ok(hi - lo >= 100, "backoff: jittered (first try: %lld..%lld ms)",
	    (long long)lo, (long long)hi);
}

/* ms and µs are one clock: a µs reading falls between the ms around it */
static void
test_clock(void)
{
	int64_t a = ami_now_ms(), us = ami_now_us(), b = ami_now_ms();

	ok(a <= us / 1000 && us / 1000 <= b && b - a < 1000,
	    "clock: ami_now_us is ami_now_ms's clock (%lld <= %lld <= %lld)",
	    (long long)a, (long long)(us / 1000), (long long)b);
}

/* the one hash table: items found, counted, taken out (the runs that
 * pass a hole stay found), and devstate's typed use of it */
struct titem {
	char *name;
	int   v;
};

static void
test_tab(void)
{
	struct ami_tab t = { 0 };
	struct ami_stab *st;
	struct ami_stent *e;
	struct titem *it;
	char name[16];
	size_t i;
	int n, lost = 0, seen = 0;

	for (n = 0; n < 5000; n++) {
		it = ami_xcalloc(1, sizeof(*it));
		snprintf(name, sizeof(name), "k%d", n);
		it->name = ami_xstrdup(name);
		it->v = n;
		ami_tab_put(&t, it);
	}
	for (n = 0; n < 5000; n += 2) {     /* every other one goes */
		snprintf(name, sizeof(name), "k%d", n);
		it = ami_tab_del(&t, name, strlen(name));
		if (it == NULL || it->v != n)
			lost++;
		else {
			free(it->name);
			free(it);
		}
	}
	ok(lost == 0 && t.n == 2500, "tab: 2500 of 5000 items taken out");
	for (n = 0; n < 5000; n++) {
		snprintf(name, sizeof(name), "k%d", n);
		it = ami_tab_get(&t, name, strlen(name));
		if ((n % 2 == 0) != (it == NULL) || (it != NULL && it->v != n))
			lost++;
	}
	ok(lost == 0, "tab: the others all found, the ones taken out not");
	ok(ami_tab_del(&t, "k0", 2) == NULL, "tab: one taken out twice: NULL");
	for (i = 0; (it = ami_tab_each(&t, &i)) != NULL; )
		seen++;
	ok(seen == 2500, "tab: each sees every item once (%d)", seen);
	ok(ami_tab_get(&t, "k1\0x", 4) == NULL, "tab: a key with a NUL is not "
	    "the name it starts with");
	for (i = 0; (it = ami_tab_each(&t, &i)) != NULL; )
		free(it->name);
	ami_tab_free(&t, free);
	ok(ami_hash("", 0) == 0 && ami_hash("a", 1) != 0,
	    "hash: 0 for no bytes only");

	st = ami_stab_new(2);
	e = ami_stab_get(st, "dev1", 4, 1);
	ok(e != NULL && ami_stab_get(st, "dev1", 4, 0) == e,
	    "stab: made, then found");
	ok(ami_stab_get(st, "a\0b", 3, 1) == NULL &&
	    ami_stab_get(st, "a", 1, 0) == NULL,
	    "stab: a name with a NUL is never made (it would be cut)");
	ok(ami_stab_get(st, "dev2", 4, 1) != NULL &&
	    ami_stab_get(st, "dev3", 4, 1) == NULL, "stab: max names at most");
	for (i = 0, n = 0; ami_stab_each(st, &i) != NULL; n++)
		;
	ok(n == 2, "stab: each sees both");
	ami_stab_free(st);
}

/*
 * A read's room: 64 KiB at first, doubled by each read that fills it (a
 * busy stream: a file here), to 256 KiB and a buffer of 512 KiB at most;
 * a quiet stream (a pipe, one event a read) keeps the first.
 */
static void
test_readsize(void)
{
	static const char ev[] = "Event: Tick\r\nPrivilege: system,all\r\n"
	    "Seq: 12345\r\n\r\n";
	char path[] = "/tmp/amitools-rd-XXXXXX";
	struct ami_parser p;
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	size_t first, room, most = 0, cap = 0;
	int fd, i, n = 0, pfd[2];

	for (i = 0; i < 40000; i++)
		ami_buf_add(&b, ev, sizeof(ev) - 1);
	if ((fd = mkstemp(path)) < 0 || write(fd, b.p, b.len) != (ssize_t)b.len ||
	    lseek(fd, 0, SEEK_SET) != 0)
		err(2, "%s", path);
	unlink(path);
	ami_parser_init(&p, AMI_WIRE, 0);
	ami_parser_space(&p, &first);
	while (ami_parser_read(&p, fd) > 0) {
		while (ami_parser_next(&p, &m) > 0)
			n++;
		ami_parser_space(&p, &room);
		most = room > most ? room : most;
		cap = p.b.cap > cap ? p.b.cap : cap;
	}
	close(fd);
	ok(first == 64 * 1024 && most >= 256 * 1024 &&
	    cap <= 512 * 1024 + AMI_SLACK && n == 40000,
	    "a busy stream's reads grow from 64 KiB to 256 KiB, the buffer "
	    "to 512 KiB at most (first %zu, most %zu, buffer %zu, %d events)",
	    first, most, cap, n);
	ami_parser_free(&p);

	if (pipe(pfd) != 0)
		err(2, "pipe");
	ami_parser_init(&p, AMI_WIRE, 0);
	for (i = n = 0; i < 100; i++) {
		if (write(pfd[1], ev, sizeof(ev) - 1) != sizeof(ev) - 1 ||
		    ami_parser_read(&p, pfd[0]) <= 0)
			err(2, "pipe");
		while (ami_parser_next(&p, &m) > 0)
			n++;
	}
	ami_parser_space(&p, &room);
	ok(room == 64 * 1024 && n == 100,
	    "a quiet stream's reads keep 64 KiB (%zu, %d events)", room, n);
	close(pfd[0]);
	close(pfd[1]);
	ami_parser_free(&p);
	ami_msg_free(&m);
	ami_buf_free(&b);
}

struct drain {
	int fd, stall;  /* ms before the first read */
	struct ami_buf got;
};

/* a reader slower than the producer, stalled once past PATIENCE */
static void *
drain(void *arg)
{
	struct drain *d = arg;
	struct timespec ts = { 0, d->stall * 1000000L }, pause = { 0, 200000 };
	char buf[65536];
	ssize_t n;

	nanosleep(&ts, NULL);
	while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
		ami_buf_add(&d->got, buf, n);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/*
 * outq: what is put comes out whole and in order through a slow pipe,
 * whether each batch goes straight to the idle writer, waits for a busy
 * one, or queues behind a stuck one (the reader's first stall).
 */
static void
test_outq(void)
{
	struct drain d = { .stall = 100 };
	struct ami_buf want = { 0 };
	struct ami_outq *q;
	pthread_t th;
	char line[32];
	int pfd[2], i, n, refused = 0;

	if (pipe(pfd) != 0 || (q = ami_outq_new(pfd[1], 16u << 20, 0)) == NULL)
		err(2, "outq");
	d.fd = pfd[0];
	if (pthread_create(&th, NULL, drain, &d) != 0)
		errx(2, "pthread_create");
	for (i = 0; i < 300000; i++) {
		n = snprintf(line, sizeof(line), "%d\n", i);
		ami_buf_add(&want, line, n);
		refused += ami_outq_put(q, line, n) != 0;
		if (i % 50000 == 0 && ami_outq_flush(q) != 0)
			refused++;
	}
	i = ami_outq_close(q);
	close(pfd[1]);
	pthread_join(th, NULL);
	close(pfd[0]);
	ok(i == 0 && refused == 0 && d.got.len == want.len &&
	    memcmp(d.got.p, want.p, want.len) == 0,
	    "outq: %zu bytes through a pipe that stalls, all of them in order "
	    "(%zu out, %d refused)", want.len, d.got.len, refused);
	ami_buf_free(&d.got);
	ami_buf_free(&want);
}

/* a reader's skim as amicat's one-line: each block converted as its end
 * is looked for, into a buffer of its own; the most it ever held */
static struct ami_buf skimout;
static const char *skimend;
static size_t skimmost;

static const char *
convskim(void *arg, const char *s, const char *e, unsigned long *lines)
{
	(void)arg;
	skimout.len = 0;
	skimend = ami_text_lines(&skimout, s, e, lines);
	if (skimout.len > skimmost)
		skimmost = skimout.len;
	return skimend;
}

/* s fed chunk bytes at a time, brief, with skim or not: each message as
 * "@line", its first field and raw bytes, an error as "!"; with skim,
 * each event ended by its empty line must have had its lines from the
 * skim, as ami_text_block writes them (*bad counts those that did not) */
static void
skim_all(const char *s, size_t n, size_t chunk, size_t max, int withskim,
    struct ami_buf *out, int *bad)
{
	struct ami_parser p;
	struct ami_msg m = { 0 };
	struct ami_buf block = { 0 };
	size_t off = 0, k;
	char at[32];
	int rc;

	ami_parser_init(&p, AMI_WIRE, max);
	p.brief = 1;
	if (withskim)
		p.skim = convskim;
	skimend = NULL;
	for (;;) {
		k = n - off < chunk ? n - off : chunk;
		ami_parser_feed(&p, s + off, k);
		if ((off += k) == n)
			p.eof = 1;
		while ((rc = ami_parser_next(&p, &m)) != 0) {
			if (rc < 0) {
				ami_buf_adds(out, "!");
				ami_buf_adds(out, p.err);
				continue;
			}
			snprintf(at, sizeof(at), "@%lu ", p.line);
			ami_buf_adds(out, at);
			ami_text_put(out, &m);
			ami_buf_add(out, m.raw, m.rawlen);
			if (!withskim || m.n != 1 || m.rawlen > 64 * 1024)
				continue;
			block.len = 0;
			ami_text_block(&block, &m, 1);
			if (skimend != m.raw + m.rawlen)
				++*bad;
			else {
				ami_text_end(&skimout, &m, 1, 0);
				*bad += !(skimout.len == block.len &&
				    memcmp(skimout.p, block.p, block.len) == 0);
			}
			skimend = NULL;
		}
		if (off == n)
			break;
	}
	ami_parser_free(&p);
	ami_msg_free(&m);
	ami_buf_free(&block);
}

/*
 * The parser with a reader's skim (amicat's one-line) gives the messages,
 * lines and errors it gives without, in every chunking, and the skim's
 * lines are the event's one-line; a block over the skim's 64 KiB is the
 * parser's, so a block over the cap costs the skim no more than that.
 */
static void
test_skim(void)
{
	const char *s = "Event: A\r\nKey: v 1\r\nLong: 0123456789abcdef0123456789"
	    "abcdef\r\n\r\nEvent: B\nX:\nY: \n\nResponse: Success\r\nActionID: 1"
	    "\r\n\r\nEvent:C\r\nNo colon\r\n: nameless\r\nQ: \"q\" \\ \x01\x7f\r"
	    "\r\n\r\n\n\nEvent: D\r\nK: v\r\n\n";
	struct ami_buf with = { 0 }, without = { 0 }, b = { 0 };
	size_t chunk, big;
	int bad = 0, differ = 0, rc;
	char want[128];
	struct ami_parser p;
	struct ami_msg m = { 0 };

	for (chunk = 1; chunk <= strlen(s); chunk++) {
		with.len = without.len = 0;
		skim_all(s, strlen(s), chunk, 0, 1, &with, &bad);
		skim_all(s, strlen(s), chunk, 0, 0, &without, &bad);
		if (with.len != without.len ||
		    memcmp(with.p, without.p, with.len) != 0) {
			if (!differ)
				printf("# chunk %zu: %.*s\n", chunk,
				    (int)with.len, with.p);
			differ = 1;
		}
	}
	ok(!differ, "with a reader's skim, every chunking 1..%zu gives the "
	    "same messages, lines and raw bytes", strlen(s));
	ok(bad == 0, "and the skim's lines are each event's one-line "
	    "(%d not)", bad);

	/* a block of 100 KB, and one of 300 KB over a cap of 200 KB */
	ami_buf_adds(&b, "Event: Big\r\n");
	while (b.len < 100000)
		ami_buf_adds(&b, "Variable: some=value\r\n");
	ami_buf_adds(&b, "\r\n");
	big = b.len;
	ami_buf_adds(&b, "Event: Huge\r\n");
	while (b.len - big < 300000)
		ami_buf_adds(&b, "Variable: some=value\r\n");
	ami_buf_adds(&b, "\r\n");
	snprintf(want, sizeof(want), "!line %zu (byte %zu): message of %zu "
	    "bytes, over the 200000-byte cap, skipped", (big - 12) / 22 + 3,
	    big, b.len - big);
	ami_buf_adds(&b, "Event: After\r\nK: v\r\n\r\n");
	with.len = without.len = 0;
	skimmost = 0;
	skim_all(b.p, b.len, 4096, 200000, 1, &with, &bad);
	skim_all(b.p, b.len, 4096, 200000, 0, &without, &bad);
	ok(with.len == without.len && memcmp(with.p, without.p, with.len) == 0 &&
	    has(&with, "@1 Event=Big\n") && has(&with, want) &&
	    has(&with, "Event=After\n"), "a block over 64 KiB, and one over "
	    "the cap, read with a skim as without (%s)", want + 1);
	/* these lines are shorter in one-line than on the wire */
	ok(skimmost > 0 && skimmost <= 64 * 1024, "the skim was given 64 KiB "
	    "of them at most (it wrote %zu bytes)", skimmost);
	ami_parser_init(&p, AMI_WIRE, 0);
	p.brief = 1;
	p.skim = convskim;
	ami_parser_feed(&p, b.p, big);
	rc = ami_parser_next(&p, &m);
	ok(rc == 1 && m.rawlen == big && skimend == NULL,
	    "a block over 64 KiB: the parser found its end, not the skim");
	ami_parser_free(&p);
	ami_msg_free(&m);
	ami_buf_free(&b);
	ami_buf_free(&with);
	ami_buf_free(&without);
	ami_buf_free(&skimout);
}

int
main(void)
{
	test_tab();
	test_backoff();
	test_clock();
	test_chunking();
	test_huge();
	test_every_byte();
	test_nameless_first();
	test_cap();
	test_follows_cap();
	test_bytes();
	test_quoting_offsets();
	test_interleaved_json();
	test_auto();
	test_follows();
	test_check();
	test_tmpl_filter();
	test_conf();
	test_dnd();
	test_sip();
	test_map();
	test_replace();
	test_readsize();
	test_outq();
	test_skim();
	printf("1..%d\n", ntest);
	return nfail != 0;
}
