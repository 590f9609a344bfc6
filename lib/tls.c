/*
 * tls.c: libtls, opened when a tool first reaches a server over TLS.
 * Linked, libtls brings libssl and libcrypto into every tool at start:
 * about 1.9 MiB of RSS (amicat may use 4) for connections that are
 * mostly plain.  dlopen(3) maps them only into a tool that needs them;
 * conn.c calls libtls through ami_tls.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ami.h"

#ifndef AMI_TLS_SONAME
#define AMI_TLS_SONAME "libtls.so"
#endif

struct ami_tls ami_tls;

int
ami_tls_open(char *why, size_t n)
{
	static const struct { const char *name; size_t at; } fn[] = {
#define FN(f) { "tls_" #f, offsetof(struct ami_tls, f) }
		FN(client), FN(close), FN(configure), FN(connect_cbs),
		FN(error), FN(free), FN(handshake), FN(read), FN(write),
		FN(config_error), FN(config_free), FN(config_new),
		FN(config_insecure_noverifycert),
		FN(config_insecure_noverifyname), FN(config_set_ca_file),
#undef FN
	};
	static void *lib;
	void *f;
	size_t i;

	if (lib != NULL)
		return 0;
	if ((lib = dlopen(AMI_TLS_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, n, "%s", dlerror());
		return -1;
	}
	for (i = 0; i < sizeof(fn) / sizeof(fn[0]); i++) {
		if ((f = dlsym(lib, fn[i].name)) == NULL) {
			snprintf(why, n, "%s: no %s", AMI_TLS_SONAME, fn[i].name);
			dlclose(lib);
			lib = NULL;
			return -1;
		}
		memcpy((char *)&ami_tls + fn[i].at, &f, sizeof(f));
	}
	return 0;
}
