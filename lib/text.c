/*
 * text.c: the one-line format (amitools.7) and JSON lines.  Both decoders
 * work in place: an unescaped string is never longer than its escaped form.
 * JSON carries arbitrary bytes by writing each byte of invalid UTF-8 as a
 * lone surrogate \udcXX (Python's surrogateescape), so raw -> JSON -> raw is
 * exact.  A message whose repeated keys are not adjacent cannot keep its
 * order as an object with arrays, so it is written as a list of pairs.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ami.h"

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

/*
 * Whether any byte of x is special, a word at a time.  Every constant is
 * below 0x80, so each haszero(x ^ c) shares the ~x & HIGH mask and the terms
 * can be ORed first; a borrow only ever starts at a special byte, so the
 * answer is exact.
 */
#define BYTES(c) (ONES * (c))
#define IS(x, c) (((x) ^ BYTES(c)) - ONES)

/* needs an escape inside quotes: control, '"', '\\', DEL */
static inline uint64_t
escaped(uint64_t x)
{
	return ((x - BYTES(0x20)) | IS(x, '"') | IS(x, '\\') | IS(x, 0x7f)) &
	    ~x & HIGH;
}

static char *
escape(char *w, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '"': *w++ = '\\'; *w++ = '"'; break;
	case '\\': *w++ = '\\'; *w++ = '\\'; break;
	case '\t': *w++ = '\\'; *w++ = 't'; break;
	case '\r': *w++ = '\\'; *w++ = 'r'; break;
	case '\n': *w++ = '\\'; *w++ = 'n'; break;
	default:
		if (c < 0x20 || c == 0x7f) {
			*w++ = '\\';
			*w++ = 'x';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		} else
			*w++ = c;
	}
	return w;
}

/* values with spaces are common: words without escapes go in whole */
static void
quoted(struct ami_buf *b, const char *s, size_t n)
{
	uint64_t x;
	size_t i = 0, k;
	char *w;

	ami_buf_grow(b, 4 * n + 2);
	w = b->p + b->len;
	*w++ = '"';
	for (; i + 8 <= n; i += 8) {
		memcpy(&x, s + i, 8);
		if (!escaped(x)) {
			memcpy(w, &x, 8);
			w += 8;
		} else
			for (k = 0; k < 8; k++)
				w = escape(w, s[i + k]);
	}
	for (; i < n; i++)
		w = escape(w, s[i]);
	*w++ = '"';
	b->len = w - b->p;
}

/* needs quotes: also space, and '=' in a key */
static inline uint64_t
special(uint64_t x, int iskey)
{
	uint64_t t = (x - BYTES(0x21)) | IS(x, '"') | IS(x, '\\') | IS(x, 0x7f);

	return (iskey ? t | IS(x, '=') : t) & ~x & HIGH;
}

/*
 * Copy s to w if no byte needs quoting, a word at a time.  Most tokens are
 * short: the last word overlaps the one before it (or, under 8 bytes, two
 * halves overlap), so no token ends in a bytewise loop.
 */
#ifdef __SSE2__
/* special() on 16 bytes at once: bytes up to 0x20 (unsigned: 0x80 and up
 * are plain), '"', '\\', DEL, and '=' in a key */
static inline __attribute__((always_inline)) int
special16(__m128i x, int iskey)
{
	__m128i t = _mm_cmpeq_epi8(_mm_subs_epu8(x, _mm_set1_epi8(0x20)),
	    _mm_setzero_si128());

	t = _mm_or_si128(t, _mm_cmpeq_epi8(x, _mm_set1_epi8('"')));
	t = _mm_or_si128(t, _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
	t = _mm_or_si128(t, _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
	if (iskey)
		t = _mm_or_si128(t, _mm_cmpeq_epi8(x, _mm_set1_epi8('=')));
	return _mm_movemask_epi8(t);
}
#endif

static inline __attribute__((always_inline)) int
copyplain(char *w, const char *s, size_t n, int iskey)
{
	uint64_t x;
	uint32_t a, b;
	size_t i;

#ifdef __SSE2__
	/* 16 bytes a check where SSE2 is; 8 to 15 as two overlapping halves */
	__m128i v;

	if (n >= 16) {
		for (i = 0; i + 16 < n; i += 16) {
			v = _mm_loadu_si128((const __m128i *)(s + i));
			if (special16(v, iskey))
				return 0;
			_mm_storeu_si128((__m128i *)(w + i), v);
		}
		v = _mm_loadu_si128((const __m128i *)(s + n - 16));
		if (special16(v, iskey))
			return 0;
		_mm_storeu_si128((__m128i *)(w + n - 16), v);
		return 1;
	}
	if (n >= 8) {
		v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)s),
		    _mm_loadl_epi64((const __m128i *)(s + n - 8)));
		if (special16(v, iskey))
			return 0;
		_mm_storel_epi64((__m128i *)w, v);
		_mm_storel_epi64((__m128i *)(w + n - 8), _mm_unpackhi_epi64(v, v));
		return 1;
	}
#endif
	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&x, s + i, 8);
			if (special(x, iskey))
				return 0;
			memcpy(w + i, &x, 8);
		}
		memcpy(&x, s + n - 8, 8);
		if (special(x, iskey))
			return 0;
		memcpy(w + n - 8, &x, 8);
		return 1;
	}
	if (n >= 4) {
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
	} else {
		/* 1 to 3 bytes, padded with a plain byte */
		a = (unsigned char)s[0] | (unsigned char)s[n / 2] << 8 |
		    (unsigned char)s[n - 1] << 16 | (uint32_t)'a' << 24;
		b = a;
	}
	if (special(a | (uint64_t)b << 32, iskey))
		return 0;
	if (n >= 4) {
		memcpy(w, &a, 4);
		memcpy(w + n - 4, &b, 4);
	} else {
		w[0] = s[0];
		w[n / 2] = s[n / 2];
		w[n - 1] = s[n - 1];
	}
	return 1;
}

/* s as a token at w, in b, which the caller has grown by 4n + 2: past
 * it.  Inlined, the key and value checks specialise and the constants
 * stay in registers across fields; the write pointer is a local, as a
 * store through b->p could change b->len for all the compiler knows */
static inline __attribute__((always_inline)) char *
token(struct ami_buf *b, char *w, const char *s, size_t n, int iskey)
{
	if (n > 0 && copyplain(w, s, n, iskey))
		return w + n;
	b->len = w - b->p;
	quoted(b, s, n);
	return b->p + b->len;
}

void
ami_text_value(struct ami_buf *b, const char *s, size_t n)
{
	ami_buf_grow(b, 4 * n + 2);
	b->len = token(b, b->p + b->len, s, n, 0) - b->p;
}

const char *
ami_visible(char *buf, size_t cap, const char *s, size_t n)
{
	struct ami_buf b = { 0 };

	ami_text_value(&b, s, n < cap ? n : cap);
	ami_buf_addc(&b, '\0');
	strlcpy(buf, b.p, cap);
	ami_buf_free(&b);
	return buf;
}

/*
 * A wire line "Key:value" (no space after the colon) has the key "Key:" in
 * the one-line and JSON forms, so that it converts back as it came; no key
 * read from the wire holds a colon.  The rare path: the key is copied.
 */
static void
tightkey(struct ami_buf *b, const struct ami_field *f,
    void (*put)(struct ami_buf *, const char *, size_t))
{
	struct ami_buf k = { 0 };

	ami_buf_add(&k, f->k, f->kl);
	ami_buf_addc(&k, ':');
	put(b, k.p, k.len);
	ami_buf_free(&k);
}

/* a key read as "Key:" is the wire's "Key:value" */
static void
untight(struct ami_msg *m)
{
	struct ami_field *f = &m->f[m->n - 1];

	if (f->kl > 1 && f->k[f->kl - 1] == ':') {
		f->kl--;
		f->tight = 1;
	}
}

static void
keytoken(struct ami_buf *b, const char *s, size_t n)
{
	b->len = token(b, b->p + b->len, s, n, 1) - b->p;
}

#ifdef __SSE2__
/* special16() of 32 bytes, and the spaces among them: with the spaces
 * taken off, the bytes that need an escape inside quotes (escaped()'s) */
static inline __attribute__((always_inline)) uint32_t
special32(__m128i x0, __m128i x1, int iskey, uint32_t *sp)
{
	const __m128i y = _mm_set1_epi8(' ');

	*sp = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x0, y)) |
	    (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x1, y)) << 16;
	return (uint32_t)special16(x0, iskey) |
	    (uint32_t)special16(x1, iskey) << 16;
}

/*
 * The field f, a key and a value of 1 to 32 bytes each that may be read
 * 32 bytes on (f->slack), at w: past it, or NULL when it needs what
 * token() does (a key that needs quotes, a value that needs an escape).
 * Two loads each and no branch on their lengths; a value with a space is
 * written quoted at once.
 */
static inline __attribute__((always_inline)) char *
field32(char *w, const struct ami_field *f)
{
	const __m128i *k = (const __m128i *)f->k, *v = (const __m128i *)f->v;
	__m128i k0 = _mm_loadu_si128(k), k1 = _mm_loadu_si128(k + 1);
	__m128i v0 = _mm_loadu_si128(v), v1 = _mm_loadu_si128(v + 1);
	uint32_t km = ((uint64_t)1 << f->kl) - 1, vm = ((uint64_t)1 << f->vl) - 1;
	uint32_t sp, spc;
	unsigned q;

	if ((special32(k0, k1, 1, &sp) & km) != 0)
		return NULL;
	_mm_storeu_si128((__m128i *)w, k0);
	_mm_storeu_si128((__m128i *)w + 1, k1);
	w += f->kl;
	*w++ = '=';
	if (((spc = special32(v0, v1, 0, &sp)) & vm) == 0) {
		_mm_storeu_si128((__m128i *)w, v0);
		_mm_storeu_si128((__m128i *)w + 1, v1);
		return w + f->vl;
	}
	if ((spc & ~sp & vm) != 0)
		return NULL;
	q = f->vl;
	*w = '"';
	_mm_storeu_si128((__m128i *)(w + 1), v0);
	_mm_storeu_si128((__m128i *)(w + 1) + 1, v1);
	w[q + 1] = '"';
	return w + q + 2;
}
#endif

/* the field f at w, with room for 4 (kl + vl) + 12 bytes and 34 past
 * them (field32's whole stores): past it */
static inline __attribute__((always_inline)) char *
putfield(struct ami_buf *b, char *w, const struct ami_field *f)
{
#ifdef __SSE2__
	char *o;

	if (f->slack && !f->tight && f->kl - 1 < 32 && f->vl - 1 < 32 &&
	    (o = field32(w, f)) != NULL)
		return o;
#endif
	if (f->tight) {
		b->len = w - b->p;
		tightkey(b, f, keytoken);
		w = b->p + b->len;
	} else
		w = token(b, w, f->k, f->kl, 1);
	*w++ = '=';
	return token(b, w, f->v, f->vl, 0);
}

/*
 * The wire line [s, nl), nl its LF, as parse.c's field() splits it, at w
 * and followed by a space: past that.  b is grown for it here.
 */
static char *
slowline(struct ami_buf *b, char *w, const char *s, const char *nl)
{
	const char *le = nl > s && nl[-1] == '\r' ? nl - 1 : nl, *c;
	struct ami_field f = { 0 };

	b->len = w - b->p;
	ami_buf_grow(b, 4 * (nl - s) + 48);
	w = b->p + b->len;
	if ((c = ami_shortchr(s, ':', le - s)) == NULL || c == s) {
		f.k = "";       /* not a header: kept nameless */
		f.v = s;
		f.vl = le - s;
	} else
		ami_field_split(&f, s, c, le);
	w = putfield(b, w, &f);
	*w++ = ' ';
	return w;
}

#ifdef __SSE2__
/* the 32 bytes of x0 and x1 equal to c, as a mask */
static inline __attribute__((always_inline)) uint32_t
eq32(__m128i x0, __m128i x1, char c)
{
	const __m128i y = _mm_set1_epi8(c);

	return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x0, y)) |
	    (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x1, y)) << 16;
}

/*
 * The common wire line, "Key: value" and its LF within 32 bytes of s, a
 * key that needs no quotes and a value that needs no escape, written at
 * w as slowline() writes it, from its masks and no branch on its
 * lengths: past it, *next past its LF.  NULL for any other line.  The
 * loads are at s and s + 1, not at the value, so that none waits for the
 * masks: "Key=\"value" is the line as it is, "Key=value" the key from s
 * and the rest from s + 1.  Reads 33 bytes from s (AMI_SLACK past e at
 * most); writes 34 from w.
 */
static inline __attribute__((always_inline)) char *
fastline(char *w, const char *s, const char *e, const char **next)
{
	const __m128i idx = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	    11, 12, 13, 14, 15), sixteen = _mm_set1_epi8(16);
	__m128i x0 = _mm_loadu_si128((const __m128i *)s);
	__m128i x1 = _mm_loadu_si128((const __m128i *)s + 1);
	__m128i y0 = _mm_loadu_si128((const __m128i *)(s + 1));
	__m128i y1 = _mm_loadu_si128((const __m128i *)(s + 17));
	__m128i after0, after1;
	uint32_t lf = eq32(x0, x1, '\n'), line, col, sp, spc, vm;
	unsigned i, le, c, v, q;

	if (lf == 0 || (i = __builtin_ctz(lf)) >= (size_t)(e - s))
		return NULL;
	line = (lf & -lf) - 1;
	/* less its CR: one just before the LF */
	le = i - ((eq32(x0, x1, '\r') << 1 & (line + 1)) != 0);
	col = eq32(x0, x1, ':') & line;
	if (col == 0)
		return NULL;
	c = __builtin_ctz(col);
	v = c + 2;
	spc = special32(x0, x1, 0, &sp);
	/* a key of 1 byte or more, plain, then ": " and the value */
	if (c == 0 || v > le || !(sp >> (c + 1) & 1) ||
	    ((spc | eq32(x0, x1, '=')) & ((col & -col) - 1)) != 0)
		return NULL;
	vm = line & ~((2u << (c + 1)) - 1);
	vm &= (uint32_t)(((uint64_t)1 << le) - 1);
	/* quoted: a space or nothing; one that needs an escape is slowline's */
	q = (spc & vm) != 0 || v == le;
	if ((spc & ~sp & vm) != 0)
		return NULL;
	/* unquoted, the bytes after the colon come from s + 1 */
	after0 = _mm_cmpgt_epi8(idx, _mm_set1_epi8(q ? 127 : c));
	after1 = _mm_cmpgt_epi8(_mm_add_epi8(idx, sixteen),
	    _mm_set1_epi8(q ? 127 : c));
	_mm_storeu_si128((__m128i *)w, _mm_or_si128(_mm_andnot_si128(after0,
	    x0), _mm_and_si128(after0, y0)));
	_mm_storeu_si128((__m128i *)w + 1, _mm_or_si128(_mm_andnot_si128(after1,
	    x1), _mm_and_si128(after1, y1)));
	w[c] = '=';
	w[c + 1] = q ? '"' : s[c + 2];
	w += le - 1 + q;
	w[0] = q ? '"' : ' ';
	w[q] = ' ';
	*next = s + i + 1;
	return w + 1 + q;
}
#endif

/* what a fast line may write past w (fastline's whole stores) */
#define LINE_ROOM 64

const char *
ami_text_lines(struct ami_buf *b, const char *s, const char *e,
    unsigned long *lines)
{
	const char *nl;
	char *w, *lim;
	unsigned long n = 0;
#ifdef __SSE2__
	char *o;
#endif

	ami_buf_grow(b, LINE_ROOM);
	w = b->p + b->len;
	/* a local: b->cap is reloaded after each store through w, a char
	 * pointer that could alias it for all the compiler knows */
	lim = b->p + b->cap - LINE_ROOM;
	for (;; n++) {
		if (w > lim) {
			b->len = w - b->p;
			ami_buf_grow(b, LINE_ROOM);
			w = b->p + b->len;
			lim = b->p + b->cap - LINE_ROOM;
		}
#ifdef __SSE2__
		/* an empty line is never a fast one */
		if ((o = fastline(w, s, e, &s)) != NULL) {
			w = o;
			continue;
		}
#endif
		if (s < e && *s == '\n') {
			s += 1;
			break;
		}
		if (e - s >= 2 && s[0] == '\r' && s[1] == '\n') {
			s += 2;
			break;
		}
		if ((nl = ami_shortchr(s, '\n', e - s)) == NULL) {
			s = NULL;       /* a last line without its LF is no field */
			break;
		}
		w = slowline(b, w, s, nl);
		lim = b->p + b->cap - LINE_ROOM;
		s = nl + 1;
	}
	*lines += n + (s != NULL);
	b->len = w - b->p;
	return s;
}

void
ami_text_end(struct ami_buf *b, const struct ami_msg *m, size_t from,
    size_t start)
{
	size_t i, need = 1 + 34;        /* 34: putfield's */
	char *w;

	for (i = from; i < m->n; i++)
		need += 4 * (m->f[i].kl + m->f[i].vl) + 48;
	ami_buf_grow(b, need);
	w = b->p + b->len;
	for (i = from; i < m->n; i++) {
		w = putfield(b, w, &m->f[i]);
		*w++ = ' ';
	}
	if (w > b->p + start)
		w[-1] = '\n';
	else
		*w++ = '\n';
	b->len = w - b->p;
}

void
ami_text_put(struct ami_buf *b, const struct ami_msg *m)
{
	ami_text_end(b, m, 0, b->len);
}

void
ami_text_block(struct ami_buf *b, const struct ami_msg *m, size_t from)
{
	size_t start = b->len;
	unsigned long lines = 0;

	ami_text_lines(b, m->raw, m->raw + m->rawlen, &lines);
	ami_text_end(b, m, from, start);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* decode a quoted one-line token at *pp (on the quote) into place */
static int
unquote(char **pp, char *e, size_t *len, char *err, size_t errlen)
{
	char *r = *pp + 1, *w = *pp, *start = *pp;
	int h, l;

	while (r < e && *r != '"') {
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		if (++r == e)
			break;
		switch (*r++) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case 't': *w++ = '\t'; break;
		case 'r': *w++ = '\r'; break;
		case 'n': *w++ = '\n'; break;
		case 'x':
			if (e - r < 2 || (h = hexval(r[0])) < 0 || (l = hexval(r[1])) < 0) {
				snprintf(err, errlen, "bad \\x escape");
				return -1;
			}
			*w++ = h << 4 | l;
			r += 2;
			break;
		default:
			snprintf(err, errlen, "unknown escape \\%c", r[-1]);
			return -1;
		}
	}
	if (r == e) {
		snprintf(err, errlen, "unterminated quote");
		return -1;
	}
	*len = w - start;
	*pp = r + 1;
	return 0;
}

int
ami_text_decode(char *s, size_t n, struct ami_msg *m, char *err, size_t errlen)
{
	char *p = s, *e = s + n, *k, *v;
	size_t kl, vl;

	ami_msg_clear(m);
	while (p < e) {
		if (*p == ' ') {
			p++;
			continue;
		}
		k = p;
		if (*p == '"') {
			if (unquote(&p, e, &kl, err, errlen) < 0)
				return -1;
		} else {
			while (p < e && *p != '=' && *p != ' ')
				p++;
			kl = p - k;
		}
		if (p == e || *p != '=') {
			snprintf(err, errlen, "field \"%.*s\" has no '='",
			    (int)(kl > 40 ? 40 : kl), k);
			return -1;
		}
		v = ++p;
		if (p < e && *p == '"') {
			if (unquote(&p, e, &vl, err, errlen) < 0)
				return -1;
			if (p < e && *p != ' ') {
				snprintf(err, errlen, "junk after quoted value of %.*s",
				    (int)kl, k);
				return -1;
			}
		} else {
			while (p < e && *p != ' ')
				p++;
			vl = p - v;
		}
		ami_msg_ref(m, k, kl, v, vl);
		untight(m);
	}
	if (m->n == 0) {
		snprintf(err, errlen, "empty message");
		return -1;
	}
	return 0;
}

/* ---- JSON ---- */

static void
jstring(struct ami_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	unsigned c, need, i, cp;
	char *w;

	ami_buf_grow(b, 6 * n + 2);
	w = b->p + b->len;
	*w++ = '"';
	while (p < e) {
		c = *p;
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*w++ = *p++;
			continue;
		}
		if (c < 0x80) {
			*w++ = '\\';
			switch (c) {
			case '"': *w++ = '"'; break;
			case '\\': *w++ = '\\'; break;
			case '\n': *w++ = 'n'; break;
			case '\r': *w++ = 'r'; break;
			case '\t': *w++ = 't'; break;
			default:
				memcpy(w, "u00", 3);
				w += 3;
				*w++ = hex[c >> 4];
				*w++ = hex[c & 15];
			}
			p++;
			continue;
		}
		/* a well-formed UTF-8 sequence passes as it is */
		need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 :
		    c >= 0xc2 && c < 0xe0 ? 1 : 0;
		if (c >= 0xf5)
			need = 0;
		cp = c & (0x3f >> need);
		for (i = 1; need && i <= need; i++) {
			if (p + i >= e || (p[i] & 0xc0) != 0x80) {
				need = 0;
				break;
			}
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
			need = 0;
		if (need == 3 && (cp < 0x10000 || cp > 0x10ffff))
			need = 0;
		if (need) {
			memcpy(w, p, need + 1);
			w += need + 1;
			p += need + 1;
			continue;
		}
		memcpy(w, "\\udc", 4);
		w += 4;
		*w++ = hex[c >> 4];
		*w++ = hex[c & 15];
		p++;
	}
	*w++ = '"';
	b->len = w - b->p;
}

/* the same key as JSON writes it: "Key" and "Key:" differ */
static int
samekey(const struct ami_field *a, const struct ami_field *b)
{
	return a->kl == b->kl && a->tight == b->tight &&
	    memcmp(a->k, b->k, a->kl) == 0;
}

static int
adjacent_repeats_only(const struct ami_msg *m, int *anyrepeat)
{
	size_t i, j;

	*anyrepeat = 0;
	for (i = 1; i < m->n; i++)
		for (j = 0; j + 1 < i; j++)
			if (samekey(&m->f[j], &m->f[i])) {
				*anyrepeat = 1;
				if (!samekey(&m->f[i - 1], &m->f[i]))
					return 0;
				break;
			}
	for (i = 1; i < m->n && !*anyrepeat; i++)
		if (samekey(&m->f[i - 1], &m->f[i]))
			*anyrepeat = 1;
	return 1;
}

static void
jkey(struct ami_buf *b, const struct ami_field *f)
{
	if (f->tight)
		tightkey(b, f, jstring);
	else
		jstring(b, f->k, f->kl);
}

void
ami_json_put(struct ami_buf *b, const struct ami_msg *m)
{
	size_t i, j;
	int repeats;

	if (!adjacent_repeats_only(m, &repeats)) {
		ami_buf_addc(b, '[');
		for (i = 0; i < m->n; i++) {
			ami_buf_adds(b, i ? ",[" : "[");
			jkey(b, &m->f[i]);
			ami_buf_addc(b, ',');
			jstring(b, m->f[i].v, m->f[i].vl);
			ami_buf_addc(b, ']');
		}
		ami_buf_adds(b, "]\n");
		return;
	}
	ami_buf_addc(b, '{');
	for (i = 0; i < m->n; i = j) {
		if (i > 0)
			ami_buf_addc(b, ',');
		jkey(b, &m->f[i]);
		ami_buf_addc(b, ':');
		for (j = i + 1; repeats && j < m->n && samekey(&m->f[j], &m->f[i]); j++)
			;
		if (j == i + 1) {
			jstring(b, m->f[i].v, m->f[i].vl);
			continue;
		}
		ami_buf_addc(b, '[');
		for (size_t k = i; k < j; k++) {
			if (k > i)
				ami_buf_addc(b, ',');
			jstring(b, m->f[k].v, m->f[k].vl);
		}
		ami_buf_addc(b, ']');
	}
	ami_buf_adds(b, "}\n");
}

struct jp {
	char *s, *p, *e;
	char *err;
	size_t errlen;
};

static void
ws(struct jp *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\t'))
		j->p++;
}

static int
jfail(struct jp *j, const char *what)
{
	snprintf(j->err, j->errlen, "JSON: %s at byte %td", what, j->p - j->s);
	return -1;
}

static int
hex4(const char *p, unsigned *out)
{
	int i, h;

	*out = 0;
	for (i = 0; i < 4; i++) {
		if ((h = hexval(p[i])) < 0)
			return -1;
		*out = *out << 4 | h;
	}
	return 0;
}

static char *
utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = cp;
	} else if (cp < 0x800) {
		*w++ = 0xc0 | cp >> 6;
		*w++ = 0x80 | (cp & 0x3f);
	} else if (cp < 0x10000) {
		*w++ = 0xe0 | cp >> 12;
		*w++ = 0x80 | ((cp >> 6) & 0x3f);
		*w++ = 0x80 | (cp & 0x3f);
	} else {
		*w++ = 0xf0 | cp >> 18;
		*w++ = 0x80 | ((cp >> 12) & 0x3f);
		*w++ = 0x80 | ((cp >> 6) & 0x3f);
		*w++ = 0x80 | (cp & 0x3f);
	}
	return w;
}

/* a string, a number or a literal, decoded into place */
static int
jscalar(struct jp *j, const char **s, size_t *n)
{
	char *w, *r;
	unsigned cp, lo;

	ws(j);
	if (j->p < j->e && *j->p != '"') {
		r = j->p;
		while (j->p < j->e && strchr(",]} \t", *j->p) == NULL)
			j->p++;
		if (j->p == r)
			return jfail(j, "value expected");
		*s = r;
		*n = j->p - r;
		if (*n == 4 && memcmp(r, "null", 4) == 0)
			*n = 0;
		return 0;
	}
	if (j->p == j->e)
		return jfail(j, "value expected");
	w = r = ++j->p;
	*s = w;
	while (r < j->e && *r != '"') {
		if ((unsigned char)*r < 0x20)
			return jfail(j, "control byte in string");
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		if (++r == j->e)
			break;
		switch (*r++) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '/': *w++ = '/'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u':
			if (j->e - r < 4 || hex4(r, &cp) < 0)
				return jfail(j, "bad \\u escape");
			r += 4;
			if (cp >= 0xdc80 && cp <= 0xdcff) {
				*w++ = cp & 0xff;   /* surrogateescape */
				break;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->e - r < 6 || r[0] != '\\' || r[1] != 'u' ||
				    hex4(r + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return jfail(j, "unpaired surrogate");
				r += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff)
				return jfail(j, "unpaired surrogate");
			w = utf8(w, cp);
			break;
		default:
			return jfail(j, "unknown escape");
		}
	}
	if (r == j->e)
		return jfail(j, "unterminated string");
	*n = w - *s;
	j->p = r + 1;
	return 0;
}

static int
jexpect(struct jp *j, char c)
{
	ws(j);
	if (j->p == j->e || *j->p != c) {
		char what[32];
		snprintf(what, sizeof(what), "'%c' expected", c);
		return jfail(j, what);
	}
	j->p++;
	return 0;
}

static int
jpeek(struct jp *j, char c)
{
	ws(j);
	return j->p < j->e && *j->p == c;
}

int
ami_json_decode(char *s, size_t n, struct ami_msg *m, char *err, size_t errlen)
{
	struct jp j = { s, s, s + n, err, errlen };
	const char *k, *v;
	size_t kl, vl;
	int pairs = jpeek(&j, '['), members = 0;

	ami_msg_clear(m);
	if (!pairs && !jpeek(&j, '{'))
		return jfail(&j, "a JSON object or list of pairs expected");
	j.p++;
	while (!jpeek(&j, pairs ? ']' : '}')) {
		if (members++ > 0 && jexpect(&j, ',') < 0)
			return -1;
		if (pairs && jexpect(&j, '[') < 0)
			return -1;
		if (!pairs && !jpeek(&j, '"'))
			return jfail(&j, "key expected");
		if (jscalar(&j, &k, &kl) < 0 || jexpect(&j, pairs ? ',' : ':') < 0)
			return -1;
		if (!pairs && jpeek(&j, '[')) {
			j.p++;
			while (!jpeek(&j, ']')) {
				if (jscalar(&j, &v, &vl) < 0)
					return -1;
				ami_msg_ref(m, k, kl, v, vl);
				untight(m);
				if (!jpeek(&j, ']') && jexpect(&j, ',') < 0)
					return -1;
			}
			j.p++;
			continue;
		}
		if (jpeek(&j, '{') || jpeek(&j, '['))
			return jfail(&j, "nested value");
		if (jscalar(&j, &v, &vl) < 0)
			return -1;
		ami_msg_ref(m, k, kl, v, vl);
		untight(m);
		if (pairs && jexpect(&j, ']') < 0)
			return -1;
	}
	j.p++;
	ws(&j);
	if (j.p != j.e)
		return jfail(&j, "junk after message");
	if (m->n == 0)
		return jfail(&j, "empty message");
	return 0;
}
