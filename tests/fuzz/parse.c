/*
 * parse: the AMI parser on any bytes, fed in chunks whose sizes come from
 * the input itself, in wire and auto-detect modes; every message it
 * returns must survive the one-line and JSON round trips unchanged.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_parser p;
	struct ami_msg m = { 0 };
	size_t off, chunk;
	int mode, rc;

	if (size < 1)
		return 0;
	for (mode = 0; mode < 2; mode++) {
		ami_parser_init(&p, mode ? AMI_AUTO : AMI_WIRE, 4096);
		chunk = data[0] % 64 + 1;
		for (off = 1; off < size; off += chunk) {
			ami_parser_feed(&p, data + off,
			    size - off < chunk ? size - off : chunk);
			while ((rc = ami_parser_next(&p, &m)) != 0)
				if (rc > 0)
					roundtrip(&m);
		}
		p.eof = 1;
		while ((rc = ami_parser_next(&p, &m)) != 0)
			if (rc > 0)
				roundtrip(&m);
		ami_parser_free(&p);
	}
	ami_msg_free(&m);
	return 0;
}
