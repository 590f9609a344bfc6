/*
 * conf: the config parser on any file, through the public functions a
 * tool calls: ami_conf_server for [default] and a named section,
 * ami_conf_section for a tool's own.  What they accept must be strings
 * that fit, holding no CR, LF or other control byte but tab; what they
 * refuse, a message saying why.
 * The file is a memfd, read through /proc/self/fd: no disk is written
 * and no run leaves a file behind.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"

static char path[64];
static int fd = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the file under test only: no ~/.amitools.conf, no environment */
	unsetenv("HOME");
	unsetenv("AMI_HOST");
	unsetenv("AMI_PORT");
	unsetenv("AMI_USER");
	unsetenv("AMI_SECRET_FILE");
	/* private, as a file holding a secret must be */
	if ((fd = memfd_create("amitools.conf", 0)) < 0 || fchmod(fd, 0600) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

/* a value as a tool gets it: NUL-terminated within its buffer, no
 * control byte but tab */
static void
value(const char *v, size_t size)
{
	size_t i, n = strnlen(v, size);

	if (n == size)
		abort();
	for (i = 0; i < n; i++)
		if (iscntrl((unsigned char)v[i]) && v[i] != '\t')
			abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ami_server s;
	char err[300], map[64], tech[16];
	struct ami_confkey keys[] = {
		{ "map", map, sizeof(map) },
		{ "tech", tech, sizeof(tech) },
	};

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	err[0] = '\0';
	if (ami_conf_server(&s, "pbx2", path, err, sizeof(err)) == 0) {
		value(s.name, sizeof(s.name));
		value(s.host, sizeof(s.host));
		value(s.port, sizeof(s.port));
		value(s.user, sizeof(s.user));
		value(s.secret, sizeof(s.secret));
		value(s.events, sizeof(s.events));
		value(s.cafile, sizeof(s.cafile));
		if (s.keepalive < 0 || s.keepalive > 3600)
			abort();
	} else
		said(err, sizeof(err));
	map[0] = tech[0] = err[0] = '\0';
	if (ami_conf_section("dndparse", path, keys, 2, err, sizeof(err)) == 0) {
		value(map, sizeof(map));
		value(tech, sizeof(tech));
	} else
		said(err, sizeof(err));
	return 0;
}
