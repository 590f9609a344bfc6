/*
 * dnd.c: the DND words dndparse and dndctl share, so what one writes the
 * other reads: which names are peers, which words are states.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "ami.h"

/* a peer name goes into a line of the DND list, Channel=, an AstDB key
 * and DEVICE_STATE(Custom:DND...): nothing that could break any of them */
int
ami_dnd_peer(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > AMI_PEER_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && memchr("_.+@-", s[i], 5) == NULL)
			return 0;
	return 1;
}

int
ami_dnd_state(const char *s, size_t n)
{
	static const char *on[] = { "enable", "enabled", "on", "yes", "1", "true" };
	static const char *off[] = { "disable", "disabled", "off", "no", "0", "false" };
	size_t i;

	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (strlen(on[i]) == n && strncasecmp(s, on[i], n) == 0)
			return 1;
		if (strlen(off[i]) == n && strncasecmp(s, off[i], n) == 0)
			return 0;
	}
	return -1;
}
