/* ---- the lifecycle: restart and boot (transcripts 14, 15) ---- */

#include "amisim.h"

static int64_t shut_drain;

void
listen_open(int port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int one = 1;

	if ((listenfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0)
		err(2, "socket");
	setsockopt(listenfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listenfd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		err(2, "bind 127.0.0.1:%d", port);
	if (listen(listenfd, 128) != 0)
		err(2, "listen");
	if (getsockname(listenfd, (struct sockaddr *)&sin, &sl) != 0)
		err(2, "getsockname");
	lport = ntohs(sin.sin_port);
}

/* "core restart now": Event: Shutdown to every session that reads system */
void
shutdown_begin(void)
{
	struct ami_msg m = { 0 };
	size_t i;

	if (phase == PH_SHUTTING || phase == PH_DOWN)
		return;
	event_start(&m, "Shutdown", EV_SYSTEM);
	ami_msg_adds(&m, "Shutdown", "Cleanly");
	ami_msg_adds(&m, "Restart", "True");
	publish_msg(EV_SYSTEM, &m);
	ami_msg_free(&m);
	for (i = 0; i < nclients; i++)
		clients[i]->shut_answered = clients[i]->shut_dropped = 0;
	phase = PH_SHUTTING;
	phase_until = ami_now_ms() + SHUT_MS;
	shut_drain = phase_until + DRAIN_MS;
}

/* an action while shutting down: the first few answered, then silence */
void
shutting_answer(struct client *c)
{
	int64_t now = ami_now_ms();

	if (c->shut_answered < shut_errors) {
		c->shut_answered++;
		error(c, "Asterisk is shutting down");
	} else if (++c->shut_dropped >= SHUT_DROPS)
		phase_until = now;
	if (phase_until != now && phase_until < now + SHUT_MS)
		phase_until = now + SHUT_MS;
}

/* every answer written and taken by the peer (an RST drops what the
 * kernel still holds, and an answer lost is an action run twice) */
static int
all_sent(int64_t now)
{
	struct client *c;
	size_t i;
	int q;

	for (i = 0; i < nclients; i++) {
		c = clients[i];
		process_events(c);
		client_write(c, now);
		if (c->dead || c->fd < 0)
			continue;
		if (c->off < c->out.len || c->rp_cur > 0 ||
		    (ioctl(c->fd, SIOCOUTQ, &q) == 0 && q > 0))
			return 0;
	}
	return 1;
}

/* the process ends: what was written goes, then RST (14), no Goodbye;
 * the port refuses until the new process listens */
static void
reset_all(int64_t now)
{
	struct linger lg = { 1, 0 };
	struct client *c;
	size_t i;

	for (i = 0; i < nclients; i++) {
		c = clients[i];
		if (c->fd >= 0)
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		client_close(c);
	}
	close(listenfd);
	listenfd = -1;
	phase = PH_DOWN;
	phase_until = now + down_ms;
}

/*
 * func_devstate at load: the Custom: states come back from astdb, but
 * named by the key's last component, so Custom:PJSIP/100 returns as
 * Custom:100 and itself reads INVALID (18b)
 */
static void
custom_reload(void)
{
	struct device *d;
	const char *slash;
	char name[300];
	size_t i;
	int st;

	for (i = 0; i < ndevices; i++)
		if (strncasecmp(devices[i].name, "Custom:", 7) == 0) {
			devices[i].present = 0;
			devices[i].state = strchr(devices[i].name + 7, '/') ?
			    DS_INVALID : DS_UNKNOWN;
		}
	for (i = 0; i < astdb.n; i++) {
		if (strncasecmp(astdb.a[i].k, "/CustomDevstate/", 16) != 0 ||
		    (st = devstate_val(astdb.a[i].v)) < 0)
			continue;
		slash = strrchr(astdb.a[i].k, '/');
		snprintf(name, sizeof(name), "Custom:%s", slash + 1);
		d = dev_find(name, 1);
		d->state = st;
		d->present = 1;
	}
	for (i = 0; i < nhints; i++)
		hints[i].laststate = hint_state(&hints[i]);
}

void
boot_begin(int64_t now)
{
	custom_reload();
	if (listenfd < 0)
		listen_open(lport);
	phase = PH_BOOTING;
	phase_until = now + boot_ms;
	start_ms = now;
	gettimeofday(&start_tv, NULL);
}

/* the modules that register these load after a login is possible (15) */
int
late_module(const char *action)
{
	return strcasecmp(action, "DeviceStateList") == 0 ||
	    strcasecmp(action, "PresenceStateList") == 0;
}

/* what the modules say as they finish loading, then FullyBooted (15) */
static void
boot_done(int64_t now)
{
	struct ami_msg m = { 0 };
	struct hint h;
	char key[300], n[24];
	size_t i;

	phase = PH_UP;
	for (i = 0; i < vars.n; i++) {
		const char *k = vars.a[i].k, *dot;

		if (strncmp(k, "pjsip.", 6) != 0 || (dot = strchr(k + 6, '.')) == NULL ||
		    strcmp(dot, ".contact") != 0 || *vars.a[i].v == '\0')
			continue;
		snprintf(key, sizeof(key), "PJSIP/%.*s", (int)(dot - k - 6), k + 6);
		event_start(&m, "PeerStatus", EV_SYSTEM);
		ami_msg_adds(&m, "ChannelType", "PJSIP");
		ami_msg_adds(&m, "Peer", key);
		ami_msg_adds(&m, "PeerStatus", "Reachable");
		publish_msg(EV_SYSTEM, &m);
		event_start(&m, "ContactStatus", EV_SYSTEM);
		ami_msg_adds(&m, "URI", vars.a[i].v);
		ami_msg_adds(&m, "ContactStatus", "NonQualified");
		ami_msg_add(&m, "AOR", 3, k + 6, dot - k - 6);
		ami_msg_add(&m, "EndpointName", 12, k + 6, dot - k - 6);
		ami_msg_adds(&m, "RoundtripUsec", "0");
		publish_msg(EV_SYSTEM, &m);
	}
	for (i = 0; i < nmailboxes; i++)
		if (!ext_mwi || mailboxes[i].present)
			mwi_publish(&mailboxes[i], mailboxes[i].new + mailboxes[i].urg,
			    mailboxes[i].old, 0);
	/* the hints as the dialplan loads them: no hint text yet */
	for (i = 0; i < nhints; i++) {
		h = hints[i];
		h.text = "";
		extension_status(&h, NULL);
	}
	event_start(&m, "FullyBooted", EV_SYSTEM);
	ami_msg_adds(&m, "Status", "Fully Booted");
	snprintf(n, sizeof(n), "%ld", (long)((now - start_ms) / 1000));
	ami_msg_adds(&m, "Uptime", n);
	ami_msg_adds(&m, "LastReload", n);
	publish_msg(EV_SYSTEM, &m);
	ami_msg_free(&m);
}

void
phase_timer(int64_t now)
{
	if (phase == PH_UP || now < phase_until)
		return;
	if (phase == PH_SHUTTING) {
		if (all_sent(now) || now >= shut_drain)
			reset_all(now);
		else
			phase_until = now + 5;
	}
	else if (phase == PH_DOWN)
		boot_begin(now);
	else
		boot_done(now);
}
