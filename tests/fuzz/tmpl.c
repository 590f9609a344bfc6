/*
 * tmpl: the template and filter compilers on any string, then used on a
 * message whose values hold every hard byte.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	struct ami_tmpl *t;
	struct ami_filter *f;
	char *s, err[200];

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	ami_msg_adds(&m, "Event", "PeerStatus");
	ami_msg_add(&m, "Peer", 4, "PJSIP/1\0\r\n\"x", 12);
	ami_msg_add(&m, "", 0, "nameless", 8);
	if ((t = ami_tmpl_new(s, err, sizeof(err))) != NULL) {
		ami_tmpl_expand(t, &m, &b, NULL);
		ami_tmpl_free(t);
	}
	if ((f = ami_filter_new(s, err, sizeof(err))) != NULL) {
		ami_filter_match(f, &m);
		ami_filter_free(f);
	}
	ami_buf_free(&b);
	ami_msg_free(&m);
	free(s);
	return 0;
}
