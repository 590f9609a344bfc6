/*
 * decode: the one-line and JSON decoders on any line; what they accept
 * must encode and decode back to the same fields.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_msg m = { 0 };
	char *line, err[200];
	int json;

	for (json = 0; json < 2; json++) {
		/* decoded in place: a copy, and no slack after it for ASan */
		if ((line = malloc(size ? size : 1)) == NULL)
			abort();
		memcpy(line, data, size);
		if ((json ? ami_json_decode(line, size, &m, err, sizeof(err)) :
		    ami_text_decode(line, size, &m, err, sizeof(err))) == 0)
			roundtrip(&m);
		ami_msg_clear(&m);
		free(line);
	}
	ami_msg_free(&m);
	return 0;
}
