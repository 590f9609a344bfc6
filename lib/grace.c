/*
 * grace.c: how a tool that owes answers (amiaction, mwinotify) ends on a
 * signal.  INT, TERM and HUP (a closed terminal) are let in only while it
 * waits in ami_grace_poll, so none comes between its look at the count
 * and the wait; the first ends the input and what was read has
 * AMI_GRACE_S to be answered; a second stops at once.
 * The other tools (amicat, amimqtt, dndctl, peerlist) stop at their next
 * whole message on the first: ami_stop_signals, and ami_stop_wait for the
 * input driver's wait.  Either way the signal must reach the thread that
 * waits for the input: ami_signals_held keeps it from the threads a tool
 * starts (outq's writer, libmosquitto's).
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include "ami.h"

static volatile sig_atomic_t nsig;
static sigset_t unblocked;
static int64_t until = -1;

static void
onsignal(int sig)
{
	(void)sig;
	nsig++;
}

static volatile int *stopflag;

static void
onstop(int sig)
{
	(void)sig;
	*stopflag = 1;
}

/* INT, TERM and HUP: the signals that end a tool */
static void
stopset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* INT, TERM and HUP (a closed terminal) to fn; no SA_RESTART: a read
 * waiting for input ends (the MariaDB client retries its own calls).
 * A HUP ignored at start stays ignored: nohup(1), or a unit whose reload
 * sends HUP to a pipeline's group for dndparse alone, asked for that */
static void
catch_stops(void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn }, was;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (sigaction(SIGHUP, NULL, &was) == 0 && was.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
}

void
ami_stop_signals(volatile int *flag)
{
	stopflag = flag;
	catch_stops(onstop);
}

/*
 * The look at *stop and the wait for input are one step: the stop
 * signals are blocked for the look and let in by ppoll's mask, so one
 * that came between them cannot leave a read waiting for input that may
 * never come (valgrind's scheduling made that window wide: 0520's SIGHUP,
 * once in a CI run).  They are let in again before the caller goes on: a
 * tool's own waits (amimqtt's for its broker) look at *stop themselves.
 */
int
ami_stop_wait(int fd, const volatile int *stop)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	sigset_t stops, was;
	int rc;

	stopset(&stops);
	do {
		pthread_sigmask(SIG_BLOCK, &stops, &was);
		rc = *stop ? 0 : ppoll(&pfd, 1, NULL, &was);
		pthread_sigmask(SIG_SETMASK, &was, NULL);
	} while (rc == -1 && errno == EINTR);
	if (rc == -1)
		err(2, "poll");
	return rc > 0;
}

void
ami_signals_held(int hold)
{
	static sigset_t before;
	sigset_t all;

	if (hold) {
		/* but SIGPIPE, which a write sends to its own thread: a
		 * writer's closed stdout ends the tool there and then */
		sigfillset(&all);
		sigdelset(&all, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &all, &before);
	} else
		pthread_sigmask(SIG_SETMASK, &before, NULL);
}

void
ami_grace_init(void)
{
	sigset_t sigs;

	stopset(&sigs);
	sigprocmask(SIG_BLOCK, &sigs, &unblocked);
	catch_stops(onsignal);
}

int
ami_grace_signals(void)
{
	return nsig;
}

int
ami_grace_begins(int64_t now, int64_t *end)
{
	if (nsig == 0 || until >= 0)
		return 0;
	*end = until = now + AMI_GRACE_S * 1000LL;
	return 1;
}

int
ami_grace_poll(struct pollfd *pfd, unsigned n, int64_t ms)
{
	return ppoll(pfd, n, ms < 0 ? NULL : &(struct timespec){ ms / 1000,
	    ms % 1000 * 1000000L }, &unblocked);
}
