/* md5.c: the AMI challenge key, through libmd. */
#include <md5.h>

#include "ami.h"

void
ami_md5_hex(const void *p, size_t n, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[MD5_DIGEST_LENGTH];
	MD5_CTX c;
	int i;

	MD5Init(&c);
	MD5Update(&c, p, n);
	MD5Final(d, &c);
	for (i = 0; i < MD5_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[32] = '\0';
}
