/* buf.c: growable byte buffer; allocation failure is fatal (err 2). */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ami.h"

void
ami_buf_grow_slack(struct ami_buf *b, size_t n, size_t slack)
{
	size_t cap;

	if (b->cap - b->len >= n + slack)
		return;
	cap = b->cap > slack ? b->cap - slack : 256;
	while (cap - b->len < n)
		cap *= 2;
	cap += slack;
	b->p = ami_xrealloc(b->p, cap);
	/* PCRE2's JIT may read a few bytes past a subject in the buffer:
	 * harmless, but only if they are defined (valgrind) */
	memset(b->p + b->cap, 0, cap - b->cap);
	b->cap = cap;
}

void
ami_buf_adds(struct ami_buf *b, const char *s)
{
	ami_buf_add(b, s, strlen(s));
}

void
ami_buf_free(struct ami_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int
ami_buf_flush(struct ami_buf *b, int fd)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len) {
		n = write(fd, b->p + off, b->len - off);
		if (n >= 0) {
			off += n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, -1);
			continue;
		}
		return -1;
	}
	b->len = 0;
	return 0;
}

void
ami_stdout_failed(int e)
{
	sigset_t pipe;

	if (e == EPIPE) {
		/* the reader went away: die the way a pipeline expects, from
		 * any thread (libmosquitto's blocks SIGPIPE in its own) */
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		pthread_sigmask(SIG_UNBLOCK, &pipe, NULL);
		raise(SIGPIPE);
	}
	errc(2, e, "stdout");
}
