/*
 * outq.c: stdout through a writer thread.  The producer (the thread that
 * reads sockets) never blocks on a slow terminal or pipe: Asterisk drops a
 * client whose writes stall for 100 ms, losing everything it had queued.
 * Messages are handed over whole, so a full queue drops whole messages and
 * the reader never sees half of one.
 *
 * The producer hands over a batch when it reaches BATCH or before it waits
 * for input (ami_outq_flush), so output is prompt and a busy stream costs
 * one wake-up per batch, not per message.  A wake-up is dear on a VM: on
 * the two-core one here it took 18 us of the producer's time, and with
 * batches of 192 KiB amicat one-line spent 8 % of its time waking the
 * writer; 448 KiB halves that.  (A batch of 64 KiB made amicat -r take
 * twice as long on two busy cores.)
 *
 * Memory stays two buffers of 512 KiB: a batch goes straight to the writer
 * once it has written the last one (idle()), and while it is merely busy
 * the producer waits for it, PATIENCE at most, the kernel's socket buffer
 * holding the stream meanwhile.  Only a writer that stays stuck makes a
 * queue (fill) behind it, which grows towards the bound; a blocking outq
 * queues up to the bound before it waits.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ami.h"

struct ami_outq {
	pthread_mutex_t mu;
	pthread_cond_t  more, room;
	pthread_t       th;
	struct ami_buf  out;        /* the writer's, empty when it is idle */
	struct ami_buf  fill;       /* behind out: what a stuck writer (or a
	                             * blocking outq's busy one) has to come */
	struct ami_buf  batch;      /* producer's own, handed over whole */
	size_t          queued;     /* fill.len at the last flush, which it
	                             * can't exceed before the next */
	size_t          bound;
	int             fd, waiting, writing, closing, block, err;
	int             stuck;      /* the writer missed PATIENCE: don't wait */
	int             wake[2];    /* tells a poll loop the writer failed */
};

#define BUFCAP   (512 * 1024)   /* a batch's buffer, as it grows by doubling */
#define BATCH    (BUFCAP - BUFCAP / 8)  /* and room for the message past it */
#define PATIENCE 20             /* ms; Asterisk gives a blocked write 100 */

/* nothing handed to the writer is left: a batch can go straight to it */
static int
idle(const struct ami_outq *q)
{
	return !q->writing && q->out.len == 0 && q->fill.len == 0;
}

static void *
writer(void *arg)
{
	struct ami_outq *q = arg;
	struct ami_buf t;
	int e;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->out.len == 0 && q->fill.len == 0 && !q->closing) {
			q->stuck = 0;
			q->waiting = 1;
			pthread_cond_wait(&q->more, &q->mu);
			q->waiting = 0;
		}
		if (q->out.len == 0) {
			if (q->fill.len == 0)
				break;
			t = q->fill;
			q->fill = q->out;
			q->out = t;
		}
		q->writing = 1;
		pthread_mutex_unlock(&q->mu);
		e = ami_buf_flush(&q->out, q->fd) < 0 ? errno : 0;
		/* give back what a stuck stretch or a huge message made it */
		if (q->out.cap > BUFCAP + BUFCAP / 2)
			ami_buf_free(&q->out);
		pthread_mutex_lock(&q->mu);
		q->writing = 0;
		pthread_cond_signal(&q->room);
		if (e) {
			q->err = e;
			q->fill.len = 0;
			q->out.len = 0;
			(void)!write(q->wake[1], "x", 1);
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct ami_outq *
ami_outq_new(int fd, size_t bound, int block)
{
	struct ami_outq *q;
	int rc;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->fd = fd;
	q->bound = bound;
	q->block = block;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->more, NULL);
	pthread_cond_init(&q->room, NULL);
	if (pipe2(q->wake, O_CLOEXEC | O_NONBLOCK) == -1)
		goto fail;
	ami_signals_held(1);
	rc = pthread_create(&q->th, NULL, writer, q);
	ami_signals_held(0);
	if (rc != 0)
		goto fail;
	return q;
fail:
	free(q);
	return NULL;
}

/* wait for the writer to be idle, or to miss PATIENCE */
static void
patience(struct ami_outq *q)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += PATIENCE * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!q->err && !idle(q))
		if (pthread_cond_timedwait(&q->room, &q->mu, &until) == ETIMEDOUT) {
			q->stuck = 1;
			return;
		}
}

int
ami_outq_flush(struct ami_outq *q)
{
	struct ami_buf t;
	int rc = 0;

	if (q->batch.len == 0)
		return 0;
	pthread_mutex_lock(&q->mu);
	while (q->block && !q->err && q->fill.len > 0 &&
	    q->fill.len + q->batch.len > q->bound)
		pthread_cond_wait(&q->room, &q->mu);
	if (!q->block && !q->stuck)
		patience(q);
	if (q->err)
		rc = -1;
	else if (idle(q)) {
		t = q->out;
		q->out = q->batch;
		q->batch = t;
	} else if (q->fill.len == 0) {
		t = q->fill;
		q->fill = q->batch;
		q->batch = t;
	} else
		ami_buf_add(&q->fill, q->batch.p, q->batch.len);
	q->batch.len = 0;
	q->queued = q->fill.len;
	if (q->waiting)
		pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

struct ami_buf *
ami_outq_batch(struct ami_outq *q)
{
	return &q->batch;
}

int
ami_outq_commit(struct ami_outq *q, size_t mark)
{
	size_t queued;

	/* only the producer adds to fill: under the bound at the last
	 * flush, no need to look again (a lock a message cost 5 %) */
	if (!q->block && q->batch.len > BATCH / 2 &&
	    q->queued + q->batch.len > q->bound) {
		pthread_mutex_lock(&q->mu);
		queued = q->fill.len;
		pthread_mutex_unlock(&q->mu);
		if (queued > 0 && queued + q->batch.len > q->bound) {
			q->batch.len = mark;
			return 1;
		}
	}
	if (q->batch.len >= BATCH)
		return ami_outq_flush(q);
	return 0;
}

int
ami_outq_put(struct ami_outq *q, const void *p, size_t n)
{
	size_t mark = q->batch.len;

	ami_buf_add(&q->batch, p, n);
	return ami_outq_commit(q, mark);
}

/* at exit nothing is left to read: waiting for the writer loses nothing */
void
ami_outq_block(struct ami_outq *q)
{
	pthread_mutex_lock(&q->mu);
	q->block = 1;
	pthread_mutex_unlock(&q->mu);
}

int
ami_outq_fd(struct ami_outq *q)
{
	return q->wake[0];
}

int
ami_outq_error(struct ami_outq *q)
{
	int e;

	pthread_mutex_lock(&q->mu);
	e = q->err;
	pthread_mutex_unlock(&q->mu);
	return e;
}

int
ami_outq_close(struct ami_outq *q)
{
	int e;

	ami_outq_flush(q);
	pthread_mutex_lock(&q->mu);
	q->closing = 1;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	e = q->err;
	close(q->wake[0]);
	close(q->wake[1]);
	ami_buf_free(&q->fill);
	ami_buf_free(&q->out);
	ami_buf_free(&q->batch);
	free(q);
	return e;
}

/* the end of a tool: all of stdout written, or exit the way sbase does */
void
ami_outq_done(struct ami_outq *q)
{
	int e;

	if ((e = ami_outq_close(q)) != 0)
		ami_stdout_failed(e);
}
