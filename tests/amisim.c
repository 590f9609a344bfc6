/*
 * amisim: an AMI server for the tests that answers like Asterisk 20.20.1
 * as recorded in shared/fixtures/asterisk-20.20.1 (byte for byte, up to
 * timestamps, ports, pointers and unique ids).  One thread, one poll(2)
 * loop, any number of clients, non-blocking sockets, output buffered per
 * client.
 *
 * usage: amisim [-C fifo] [-d datadir] [-f fault]... [-L logfile]
 *               [-N count] [-P portfile] [-p port] [-R file]
 *
 *   -p PORT   listen on 127.0.0.1:PORT (0, the default: any free port)
 *   -P FILE   once listening, write the port and a newline to FILE
 *             (written to a temporary name, then renamed)
 *   -d DIR    data dir (default: amisim.d next to the binary)
 *   -L FILE   append each action run, one line each, in the amitools
 *             one-line format (not the ones refused: not logged in, no
 *             write class, shutting down, not loaded yet while booting),
 *             so a test can count what was executed
 *   -R FILE -N COUNT
 *             after each login send COUNT events taken in turn from FILE
 *             (wire blocks; '#' lines and a banner are skipped) as fast as
 *             the socket takes them, still answering actions, then close
 *             (after the last byte: shutdown, drain, close)
 *   -C FIFO   control channel, see below (created when missing)
 *   -f FAULT  for the first connection only:
 *             close=N    close after N messages (responses and events)
 *             cut=N      the same, but write the first half of message N+1
 *                        first (a server killed mid-message)
 *             stall=MS   after login neither read nor write for MS ms
 *             mute=MS    after login read (and log) actions but answer
 *                        nothing for MS ms
 *             garbage    junk bytes before the first event after login
 *             split      write one byte per write(2)
 *             refuse     Login fails whatever the secret
 *             nochallenge  Challenge fails (as a server, or a man in the
 *                        middle, that wants the secret in clear)
 *             noread     stop reading the socket after login
 *           and for the whole server (transcripts 14 and 15):
 *             restart=N  "core restart now" once the Nth action has run
 *                        (counted as -L logs them; repeat for more)
 *             shuterrors=N  actions of each session answered "Asterisk
 *                        is shutting down" before silence (default 8)
 *             down=MS    the port refuses connections this long (400)
 *             boot=MS    then logins work but FullyBooted comes this
 *                        much later (200)
 *
 * The data dir (files are looked up in DIR, then in the dir named by
 * "base" in DIR/settings, and so on):
 *   settings      "key = value": base, voicemail (app_voicemail or
 *                 external: res_mwi_external_ami's MWIUpdate/MWIGet/
 *                 MWIDelete instead of VoicemailRefresh & co.), version,
 *                 ami_version
 *   users         manager.conf style: [name], secret, read, write
 *   hints         "context exten hint", in the order Asterisk lists them
 *   devices       "device STATE" in the order of Asterisk's device state
 *                 cache; STATE "-" keeps a place for a device seen later
 *   mailboxes     "mailbox@context urgent new old": the voicemail spool
 *                 (app_voicemail) or the MWI store (external, "-" = none)
 *   vars          "name value": variables for the templates below
 *   actions/NAME  the answer to action NAME as a template (list actions:
 *                 PJSIPShow*, SIPpeers, SIPshowpeer, Voicemail*, ...)
 *   commands/CMD  output of CLI command CMD (spaces as '_') for Command
 *   originate/CHAN  what Originate of CHAN ('/' as '_') does: a script
 *   scripts/NAME  scripts for the control channel
 *
 * Templates and scripts are AMI wire blocks separated by blank lines, with
 * '#' comment lines.  {name} is replaced: a template variable (vars,
 * @set, script arguments {1}..{9}, Originate's headers), {h:Header} a
 * header of the action, {dev:DEVICE} / {devstr:DEVICE} a device state as
 * DEVICE_STATE() / PJSIP say it, {new:MBOX} {old:MBOX} {urg:MBOX},
 * {md5:TEXT}, {epoch} {epoch+N}, {eventtv}, {hex8}, {ptr}, {count} (list
 * items so far).  A line with {?name} is left out when name is empty.
 * Lines starting with '@' are directives, run before their block is sent:
 *   @if A = B | @if A != B | @if A     the block only when true
 *   @mode list | @mode one             (actions, first block)
 *   @require HEADER MESSAGE            Error when the header is missing
 *   @empty MESSAGE | @emptyok MESSAGE  list without items: Error/Success
 *   @error MESSAGE                     "one" mode, no block matched
 *   @set NAME VALUE | @unset NAME
 *   @channel VAR TECH/RES              new channel: {VAR} {VAR.uid}
 *   @local VAR Local/EXTEN@CONTEXT     {VAR1} {VAR2} {VAR1.uid} {VAR2.uid}
 *   @devstate DEVICE STATE [dsc-first|quiet]
 *   @mwi MAILBOX NEW OLD               publish MWI (MessageWaiting)
 *   @pbx                               count a call (CoreProcessedCalls)
 *   @fail MESSAGE                      (originate, first block) a sync
 *                                      Originate answers Error MESSAGE
 *   @delay MS                          the rest of the script later
 * In "list" mode the first block is the response, the last one ends the
 * list and the ones between are the items.  Script blocks are events,
 * sent to every session that may read their Privilege class.
 *
 * Control channel (-C FIFO, made when missing): one command a line, run
 * before any client input that arrives after it (the FIFO is polled
 * first), so a test may write a command and then send its next action:
 *   devstate DEVICE STATE [quiet]  as Setvar DEVICE_STATE(), any device;
 *                                  quiet: no events (state at boot)
 *   presence PROVIDER STATE,SUBTYPE,MESSAGE   (presenceq: quiet)
 *   spool MAILBOX NEW OLD [URGENT] files in the voicemail spool: silent
 *                                  until VoicemailRefresh polls, as in 07
 *   mwi MAILBOX NEW OLD            publish MWI now (MessageWaiting ...)
 *   set NAME VALUE / unset NAME    template variables (set processed_calls
 *                                  N: CoreStatus's CoreProcessedCalls)
 *   [run] SCRIPT [ARG...]          DATADIR/scripts/SCRIPT, {1}.. = ARGs
 *   emit FILE                      a script from any path
 *   kick                           drop every connection
 *   restart                        "core restart now" (see -f restart)
 *   boot                           boot as if started now (a login
 *                                  during boot, as in 15)
 * The recordings' out-of-band happenings map to these: voicemail files
 * copied into the spool (07) to "spool", sipp REGISTERs to "register" and
 * "sip-unregister"/"sip-register" (09, 13), sipp calls to "call-881" and
 * "call-882" (10).
 *
 * Input is read as manager.c's get_input() reads it (a 1024-byte line
 * buffer, at most 128 headers, a lone blank line is an empty action), not
 * with ami_parser: what Asterisk answers to malformed input ("Failed to
 * parse message: line too long", "Missing action in request") is part of
 * what is simulated.
 *
 * Timing, as manager.c has it: an action's response is written at once,
 * the events it causes are queued and follow it; security events about
 * bad requests (RequestBadFormat, RequestNotAllowed) come through stasis
 * and are queued DEFER_MS later, or before the next event, whichever is
 * first (transcript 07 shows one arriving after the next response).
 *
 * A restart: Event: Shutdown to the sessions that read system; each
 * session's next shuterrors actions are answered "Asterisk is shutting
 * down", later ones are read and left unanswered; after two of those, or
 * 100 ms without any, every connection is reset (RST, as in 14), once
 * the peers' kernels have taken every answer written (an answer an RST
 * throws away is an action the client must think unanswered: 3 s at
 * most), and the port refuses for down=MS.  Then boot=MS of booting: a login works, with
 * no FullyBooted and a SuccessfulAuth that comes late, Setvar of
 * DEVICE_STATE()/PRESENCE_STATE() is "Variable not set" and
 * DeviceStateList/PresenceStateList unknown commands; at the end the boot
 * events (PeerStatus and ContactStatus of registered PJSIP contacts,
 * MessageWaiting, ExtensionStatus of each hint with no hint text) and
 * FullyBooted (Status first).  State (astdb, devices, registrations)
 * survives, as astdb and the registrations did in 15.
 *
 * Users (DATADIR/users) have read= and write= classes: an action that
 * none of the user's write classes allows is answered "Permission
 * denied" with a RequestNotAllowed event (16); the classes per action are
 * in actions[] (amisim-action.c), as the modules register them.
 *
 * SIGTERM ends it with exit status 0.
 *
 * Its parts, one concern a file: this file holds the server's state and
 * main(); tests/amisim-*.c the rest, amisim.h what they share.
 */
#include "amisim.h"

/* device states: ast_devstate_str() and ast_devstate2str() */
const char *devnames[] = { "UNKNOWN", "NOT_INUSE", "INUSE", "BUSY",
	"INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD" };
const char *devtexts[] = { "Unknown", "Not in use", "In use", "Busy",
	"Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold" };
const char *presnames[] = { "not_set", "unavailable", "available",
	"away", "xa", "chat", "dnd" };

const char *datadir;
char *dirs[8];
size_t ndirs;
int logfd = -1;
int listenfd = -1, ctlfd = -1;
int lport;
struct client **clients;
size_t nclients;
static volatile sig_atomic_t quit;
int64_t start_ms;
struct timeval start_tv;
int ext_mwi;
char version[64] = "20.20.1", amiversion[32] = "9.0.0";

struct kvs vars, astdb;
struct device *devices;
size_t ndevices;
struct hint *hints;
size_t nhints;
struct provider *providers;
size_t nproviders;
struct mailbox *mailboxes;
size_t nmailboxes;
struct user *users;
size_t nusers;
struct deferred *deferred;
size_t ndeferred;
struct script *scripts;
long processed_calls;

int phase = PH_UP;
int64_t phase_until;
long shut_errors = 8;
int64_t down_ms = 400, boot_ms = 200;
unsigned long *restart_at;
size_t nrestart;

/* faults for the first connection */
long f_close = -1;
int f_cut;
int64_t f_stall = -1;
int f_mute;
int f_garbage, f_split, f_refuse, f_noread, f_nochallenge;

/* replay */
unsigned long rp_count;

/* ---- main ---- */

static void
onterm(int sig)
{
	(void)sig;
	quit = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: amisim [-C fifo] [-d datadir] [-f fault]... "
	    "[-L logfile] [-N count]\n"
	    "              [-P portfile] [-p port] [-R file]\n");
	exit(2);
}

static void
fault(const char *s)
{
	const char *e;

	if (strncmp(s, "close=", 6) == 0 || strncmp(s, "cut=", 4) == 0) {
		f_cut = s[1] == 'u';
		f_close = strtonum(strchr(s, '=') + 1, 0, LONG_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strncmp(s, "stall=", 6) == 0 || strncmp(s, "mute=", 5) == 0) {
		f_mute = s[0] == 'm';
		f_stall = strtonum(strchr(s, '=') + 1, 0, INT_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strcmp(s, "garbage") == 0)
		f_garbage = 1;
	else if (strcmp(s, "split") == 0)
		f_split = 1;
	else if (strcmp(s, "refuse") == 0)
		f_refuse = 1;
	else if (strcmp(s, "noread") == 0)
		f_noread = 1;
	else if (strncmp(s, "restart=", 8) == 0) {
		restart_at = reallocarray(restart_at, nrestart + 1,
		    sizeof(*restart_at));
		if (restart_at == NULL)
			err(2, "reallocarray");
		restart_at[nrestart] = strtonum(s + 8, 1, LONG_MAX, &e);
		if (e != NULL || (nrestart > 0 &&
		    restart_at[nrestart] <= restart_at[nrestart - 1]))
			errx(2, "-f %s: %s", s, e != NULL ? e : "not increasing");
		nrestart++;
	} else if (strncmp(s, "shuterrors=", 11) == 0) {
		shut_errors = strtonum(s + 11, 0, LONG_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strncmp(s, "down=", 5) == 0 || strncmp(s, "boot=", 5) == 0) {
		*(s[0] == 'd' ? &down_ms : &boot_ms) =
		    strtonum(s + 5, 0, INT_MAX, &e);
		if (e != NULL)
			errx(2, "-f %s: %s", s, e);
	} else if (strcmp(s, "nochallenge") == 0)
		f_nochallenge = 1;
	else
		errx(2, "-f %s: unknown fault (close=N cut=N stall=MS mute=MS "
		    "garbage split refuse noread nochallenge restart=N "
		    "shuterrors=N down=MS boot=MS)", s);
}

static void
write_portfile(const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		err(2, "%s", tmp);
	fprintf(f, "%d\n", lport);
	if (fclose(f) != 0)
		err(2, "%s", tmp);
	if (rename(tmp, path) != 0)
		err(2, "rename %s", path);
}

static char *
default_datadir(void)
{
	static char dir[PATH_MAX + 16];
	char *slash;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", dir, PATH_MAX - 1)) < 0)
		return "tests/amisim.d";
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	strlcat(dir, "/amisim.d", sizeof(dir));
	return dir;
}

static int
poll_timeout(int64_t now)
{
	int64_t t = -1, w;
	size_t i;
	struct script *s;

#define SOONER(x) do { w = (x) - now; if (w < 0) w = 0; \
	if (t < 0 || w < t) t = w; } while (0)
	for (i = 0; i < ndeferred; i++)
		SOONER(deferred[i].when);
	for (s = scripts; s != NULL; s = s->next)
		SOONER(s->wake);
	if (phase != PH_UP)
		SOONER(phase_until);
	for (i = 0; i < nclients; i++) {
		if (clients[i]->block_until > 0)
			SOONER(clients[i]->block_until);
		if (clients[i]->stall_until > now)
			SOONER(clients[i]->stall_until);
		if (clients[i]->drain_until > 0)
			SOONER(clients[i]->drain_until);
	}
#undef SOONER
	return t > INT_MAX ? INT_MAX : (int)t;
}

static void
timers(int64_t now)
{
	struct script **sp, *s;
	struct client *c;
	size_t i;

	phase_timer(now);
	if (ndeferred > 0 && deferred[0].when <= now)
		flush_deferred();
	for (sp = &scripts; (s = *sp) != NULL;) {
		if (s->wake <= now) {
			*sp = s->next;
			script_resume(s);
			sp = &scripts;
		} else
			sp = &s->next;
	}
	for (i = 0; i < nclients; i++) {
		c = clients[i];
		if (c->block_until > 0 && c->block_until <= now) {
			/* the failed login's answer, then the end */
			c->block_until = 0;
			send_block(c, c->pending.p, c->pending.len);
			c->pending.len = 0;
			client_shut(c);
		}
		if (c->drain_until > 0 && c->drain_until <= now)
			client_close(c);
	}
}

int
main(int argc, char *argv[])
{
	struct pollfd *pfd = NULL;
	struct sigaction sa;
	const char *portfile = NULL, *replay = NULL, *fifo = NULL, *e;
	size_t pcap = 0, i, np, j;
	int ch, port = 0;
	int64_t now;
	struct client *c;

	while ((ch = getopt(argc, argv, "C:d:f:L:N:P:p:R:")) != -1) {
		switch (ch) {
		case 'C':
			fifo = optarg;
			break;
		case 'd':
			datadir = optarg;
			break;
		case 'f':
			fault(optarg);
			break;
		case 'L':
			if ((logfd = open(optarg, O_WRONLY | O_CREAT | O_APPEND |
			    O_CLOEXEC, 0644)) < 0)
				err(2, "%s", optarg);
			break;
		case 'N':
			rp_count = strtonum(optarg, 0, LLONG_MAX, &e);
			if (e != NULL)
				errx(2, "-N %s: %s", optarg, e);
			break;
		case 'P':
			portfile = optarg;
			break;
		case 'p':
			port = strtonum(optarg, 0, 65535, &e);
			if (e != NULL)
				errx(2, "-p %s: %s", optarg, e);
			break;
		case 'R':
			replay = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (replay != NULL) != (rp_count > 0))
		usage();
	if (datadir == NULL)
		datadir = default_datadir();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onterm;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	start_ms = ami_now_ms();
	gettimeofday(&start_tv, NULL);
	load_settings();
	load_data();
	if (replay != NULL)
		load_replay(replay);
	if ((e = kvs_get(&vars, "processed_calls")) != NULL)
		processed_calls = atol(e);

	if (fifo != NULL) {
		if (mkfifo(fifo, 0600) != 0 && errno != EEXIST)
			err(2, "mkfifo %s", fifo);
		/* read-write, so the last writer going away is no EOF */
		if ((ctlfd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
			err(2, "%s", fifo);
	}
	listen_open(port);
	if (portfile != NULL)
		write_portfile(portfile);

	while (!quit) {
		now = ami_now_ms();
		np = 0;
		pfd = xgrow(pfd, &pcap, nclients + 2, sizeof(*pfd));
		/* the control channel first: it runs before later input */
		if (ctlfd >= 0) {
			pfd[np].fd = ctlfd;
			pfd[np++].events = POLLIN;
		}
		pfd[np].fd = listenfd;
		pfd[np++].events = POLLIN;
		for (i = 0; i < nclients; i++) {
			c = clients[i];
			pfd[np].fd = c->fd;
			pfd[np].events = 0;
			pfd[np].revents = 0;
			if (c->block_until == 0 && (c->stall_until <= now ||
			    c->mute) && (!(c->authed && c->noread) || c->shut))
				pfd[np].events |= POLLIN;
			if (c->block_until == 0 && c->stall_until <= now) {
				if (c->off < c->out.len || c->rp_cur > 0 ||
				    (c->replaying && c->rp_left > 0) ||
				    (c->shut && c->drain_until == 0) ||
				    c->stall_pending)
					pfd[np].events |= POLLOUT;
			}
			np++;
		}
		if (poll(pfd, np, poll_timeout(now)) < 0) {
			if (errno == EINTR)
				continue;
			err(2, "poll");
		}
		now = ami_now_ms();
		j = 0;
		if (ctlfd >= 0 && (pfd[j++].revents & POLLIN))
			control_read();
		if ((pfd[j++].revents & POLLIN) && listenfd >= 0)
			accept_client();
		for (i = 0; i < nclients && j < np; i++, j++) {
			c = clients[i];
			if (c->dead)
				continue;
			if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(c);
			/* events published by another session's action */
		}
		timers(now);
		for (i = 0; i < nclients; i++) {
			c = clients[i];
			process_events(c);
			if (!c->dead)
				client_write(c, now);
		}
		/* sessions that ended go, keeping the order of the rest */
		for (i = j = 0; i < nclients; i++) {
			if (clients[i]->dead)
				free_client(clients[i]);
			else
				clients[j++] = clients[i];
		}
		nclients = j;
	}
	for (i = 0; i < nclients; i++)
		free_client(clients[i]);
	free(pfd);
	return 0;
}
