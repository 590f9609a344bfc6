/* ---- templates ---- */

#include "amisim.h"

/* a data file or, with path set, a file anywhere, parsed into blocks */
int
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

void
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
const char *
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
void
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

char *
expand_str(const char *s, struct ctx *x)
{
	struct ami_buf b = { 0 };
	char *r;

	expand(&b, s, strlen(s), x, NULL);
	ami_buf_addc(&b, '\0');
	r = ami_xstrdup(b.p);
	ami_buf_free(&b);
	return r;
}

/* a directive's argument: after the word, blanks skipped */
const char *
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

int
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
			l = ami_xstrndup(a, op - a);
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
void
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

const char *
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
char *
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
