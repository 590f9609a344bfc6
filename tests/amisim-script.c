/* ---- scripts ---- */

#include "amisim.h"

static unsigned long uidseq;

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
			s->wake = ami_now_ms() + atol(e);
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
void
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
				pv = ami_xstrndup(priv, strcspn(priv, ",\r"));
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
void
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
