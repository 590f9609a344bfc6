/* ---- sessions: sockets ---- */

#include "amisim.h"

static unsigned nconn;
static char *rp_big;   /* the replay file */
static size_t rp_cyclelen, rp_nev, *rp_off;

static void
sockname(int fd, int peer, char *out, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char a[INET_ADDRSTRLEN] = "0.0.0.0";

	memset(&sin, 0, sizeof(sin));
	if ((peer ? getpeername(fd, (struct sockaddr *)&sin, &sl) :
	    getsockname(fd, (struct sockaddr *)&sin, &sl)) == 0)
		inet_ntop(AF_INET, &sin.sin_addr, a, sizeof(a));
	snprintf(out, len, "IPV4/TCP/%s/%d", a, ntohs(sin.sin_port));
}

void
accept_client(void)
{
	static size_t cap;
	struct client *c;
	int fd, one = 1, big = 4 << 20;

	if ((fd = accept4(listenfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn("accept");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(2, "calloc");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rp_count > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	c->fd = fd;
	c->conn = ++nconn;
	c->send_events = EV_ALL;
	c->close_after = -1;
	snprintf(c->sid, sizeof(c->sid), "%p", (void *)c);
	sockname(fd, 0, c->laddr, sizeof(c->laddr));
	sockname(fd, 1, c->raddr, sizeof(c->raddr));
	if (c->conn == 1) {
		c->close_after = f_close;
		c->cut = f_cut;
		c->split = f_split;
	}
	clients = xgrow(clients, &cap, nclients, sizeof(*clients));
	clients[nclients++] = c;
	/* the banner is not a message: close=N does not count it */
	bufprintf(&c->out, "Asterisk Call Manager/%s\r\n", amiversion);
}

void
free_client(struct client *c)
{
	size_t i;

	client_close(c);
	clear_headers(c);
	for (i = 0; i < c->nfilters; i++)
		regfree(&c->filters[i].re);
	free(c->filters);
	ami_buf_free(&c->out);
	ami_buf_free(&c->evq);
	ami_buf_free(&c->pending);
	free(c);
}

/* as Asterisk: with a Filter set, every replayed event passes it or is not
 * sent (one event a slice: only make bench filters a replay) */
static void
replay_filtered(struct client *c)
{
	size_t start, len;
	char *z;
	int pass = 0;

	while (!pass && c->rp_left > 0 && (c->close_after < 0 ||
	    c->nsent < c->close_after)) {
		start = rp_off[c->rp_idx];
		len = rp_off[c->rp_idx + 1] - start;
		z = ami_xstrndup(rp_big + start, len);
		if ((pass = filter_pass(c, z))) {
			c->rp_ptr = rp_big + start;
			c->rp_cur = len;
		}
		free(z);
		c->rp_left--;
		c->nsent++;
		c->rp_idx = (c->rp_idx + 1) % rp_nev;
	}
	if (c->rp_left == 0 || (c->close_after >= 0 && c->nsent >= c->close_after))
		client_shut(c);
}

/* the next replay slice: whole events, at most SLICE bytes */
static void
replay_slice(struct client *c)
{
	size_t k, bytes, end, start = rp_off[c->rp_idx];
	unsigned long max = c->rp_left;

	if (c->nfilters > 0) {
		replay_filtered(c);
		return;
	}
	if (c->close_after >= 0 && (unsigned long)(c->close_after - c->nsent) < max)
		max = c->close_after - c->nsent;
	for (k = 0; k < max; k++) {
		end = c->rp_idx + k + 1;
		bytes = (end / rp_nev) * rp_cyclelen + rp_off[end % rp_nev] - start;
		if (bytes > SLICE && k > 0)
			break;
	}
	end = c->rp_idx + k;
	bytes = (end / rp_nev) * rp_cyclelen + rp_off[end % rp_nev] - start;
	c->rp_ptr = rp_big + start;
	c->rp_cur = bytes;
	c->rp_left -= k;
	c->nsent += k;
	c->rp_idx = end % rp_nev;
	if (c->close_after >= 0 && c->nsent >= c->close_after)
		client_shut(c);
	else if (c->rp_left == 0)
		client_shut(c);
}

/* write what we can; a replay slice or an out message is never cut short */
void
client_write(struct client *c, int64_t now)
{
	ssize_t n;
	size_t want;

	while (!c->dead) {
		if (c->stall_until > now)
			return;
		if (c->rp_cur > 0) {
			want = c->split ? 1 : c->rp_cur;
			n = write(c->fd, c->rp_ptr, want);
			if (n > 0) {
				c->rp_ptr += n;
				c->rp_cur -= n;
			}
		} else if (c->off < c->out.len) {
			want = c->split ? 1 : c->out.len - c->off;
			n = write(c->fd, c->out.p + c->off, want);
			if (n > 0 && (c->off += n) == c->out.len)
				c->off = c->out.len = 0;
		} else if (c->stall_pending) {
			c->stall_pending = 0;
			c->stall_until = now + c->stall_ms;
			return;
		} else if (c->replaying && c->rp_left > 0 && !c->shut) {
			replay_slice(c);
			continue;
		} else {
			if (c->shut && c->drain_until == 0) {
				shutdown(c->fd, SHUT_WR);
				c->drain_until = now + DRAIN_MS;
			}
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_close(c);
			return;
		}
		if (c->split)
			return;
	}
}

void
client_read(struct client *c)
{
	char junk[65536];
	ssize_t n;

	if (c->shut) {
		/* draining after our FIN: their bytes no longer count */
		n = read(c->fd, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	n = read(c->fd, c->inbuf + c->inlen, INBUF - c->inlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->inlen += n;
	input_lines(c);
}

/* ---- replay file ---- */

void
load_replay(const char *path)
{
	char *text, *p, *e, *nl, *q;
	struct ami_buf cyc = { 0 };
	size_t len, cap = 0, i, reps;
	int inmsg = 0;

	if ((text = slurp(path, &len)) == NULL)
		err(2, "%s", path);
	/* normalise to CRLF blocks; '#' lines and a banner do not count */
	for (p = text, e = text + len; p < e; p = nl + 1) {
		if ((nl = memchr(p, '\n', e - p)) == NULL)
			nl = e;
		q = nl;
		if (q > p && q[-1] == '\r')
			q--;
		if (q == p) {
			if (inmsg) {
				ami_buf_add(&cyc, "\r\n", 2);
				inmsg = 0;
			}
			continue;
		}
		if (!inmsg && (*p == '#' || strncmp(p, "Asterisk Call Manager/", 22) == 0))
			continue;
		if (!inmsg) {
			rp_off = xgrow(rp_off, &cap, rp_nev + 1, sizeof(*rp_off));
			rp_off[rp_nev++] = cyc.len;
			inmsg = 1;
		}
		ami_buf_add(&cyc, p, q - p);
		ami_buf_add(&cyc, "\r\n", 2);
	}
	if (inmsg)
		ami_buf_add(&cyc, "\r\n", 2);
	free(text);
	if (rp_nev == 0)
		errx(2, "%s: no events", path);
	rp_off = xgrow(rp_off, &cap, rp_nev + 1, sizeof(*rp_off));
	rp_off[rp_nev] = cyc.len;
	rp_cyclelen = cyc.len;
	/* enough copies that a slice from any event start is contiguous */
	reps = (SLICE + rp_cyclelen) / rp_cyclelen + 2;
	if ((rp_big = malloc(reps * rp_cyclelen)) == NULL)
		err(2, "malloc");
	for (i = 0; i < reps; i++)
		memcpy(rp_big + i * rp_cyclelen, cyc.p, rp_cyclelen);
	ami_buf_free(&cyc);
}
