/*
 * match.c: "[!]Key~regex" filters, PCRE2 with JIT.  A filter holds when any
 * field of that name matches (AMI repeats headers); "!" negates, so a
 * missing header passes a negated filter.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami.h"

struct ami_filter {
	char  *key;
	int    neg;
	pcre2_code *re;
	pcre2_match_data *md;
};

struct ami_filter *
ami_filter_new(const char *spec, char *err, size_t errlen)
{
	struct ami_filter *f;
	const char *tilde;
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE off;
	int code;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	if (*spec == '!') {
		f->neg = 1;
		spec++;
	}
	if ((tilde = strchr(spec, '~')) == NULL || tilde == spec) {
		snprintf(err, errlen, "filter \"%s\": expected [!]Key~regex", spec);
		free(f);
		return NULL;
	}
	f->key = ami_xstrndup(spec, tilde - spec);
	f->re = pcre2_compile((PCRE2_SPTR)tilde + 1, PCRE2_ZERO_TERMINATED, 0,
	    &code, &off, NULL);
	if (f->re == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen, "filter \"%s\": %s at offset %zu",
		    spec, (char *)msg, (size_t)off);
		ami_filter_free(f);
		return NULL;
	}
	pcre2_jit_compile(f->re, PCRE2_JIT_COMPLETE);
	f->md = pcre2_match_data_create_from_pattern(f->re, NULL);
	return f;
}

int
ami_filter_match(const struct ami_filter *f, const struct ami_msg *m)
{
	int i;

	for (i = ami_msg_find(m, f->key, 0); i >= 0;
	    i = ami_msg_find(m, f->key, i + 1))
		if (pcre2_match(f->re, (PCRE2_SPTR)m->f[i].v, m->f[i].vl, 0, 0,
		    f->md, NULL) >= 0)
			return !f->neg;
	return f->neg;
}

void
ami_filter_free(struct ami_filter *f)
{
	if (f == NULL)
		return;
	pcre2_match_data_free(f->md);
	pcre2_code_free(f->re);
	free(f->key);
	free(f);
}
