/* ---- actions: from a file; the table; running one; the input ---- */

#include "amisim.h"

static unsigned long executed;          /* actions run (what -L logs) */

static void log_action(struct client *);

/* actions/NAME for an action, its name matched as Asterisk does: any case */
static int
action_file(const char *action, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	size_t i;

	if (strchr(action, '/') != NULL || action[0] == '.')
		return -1;
	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/actions", dirs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (strcasecmp(de->d_name, action) == 0) {
				snprintf(out, len, "actions/%s", de->d_name);
				closedir(d);
				return 0;
			}
		closedir(d);
	}
	return -1;
}

/*
 * An action answered from DATADIR/actions/NAME (see the header comment):
 * 0 answered, -1 no such file.
 */
static int
act_template(struct client *c, const char *action)
{
	struct tmpl t;
	struct ctx x = { c, NULL, 0 };
	struct ami_buf b = { 0 }, items = { 0 };
	char file[300], *msg;
	const char *a, *mode;
	size_t i, first;
	int list, nitems = 0;

	if (action_file(action, file, sizeof(file)) != 0 ||
	    tmpl_load(&t, file, 0) != 0)
		return -1;
	mode = find_directive(&t, "@mode");
	list = mode != NULL && strncmp(mode, "list", 4) == 0;
	/* @require checks, in order */
	for (i = 0; t.n > 0 && i < t.b[0].n; i++) {
		char hname[64];

		if ((a = darg(&t.b[0].l[i], "@require")) == NULL)
			continue;
		snprintf(hname, sizeof(hname), "%.*s", (int)strcspn(a, " "), a);
		if (*hdr_get(c, hname) == '\0') {
			a += strcspn(a, " ");
			a += strspn(a, " ");
			msg = unescape_msg(a, &x);
			error(c, msg);
			free(msg);
			goto done;
		}
	}
	first = mode != NULL ? 1 : 0;
	if (list) {
		if (t.n < first + 2)
			errx(2, "%s: a list needs a response and an end", file);
		for (i = first + 1; i + 1 < t.n; i++) {
			if (!cond_true(&t.b[i], &x))
				continue;
			nitems++;
			x.count = nitems;
			block_text(&items, &t.b[i], &x);
			ami_buf_add(&items, "\r\n", 2);
		}
		x.count = nitems;
		if (nitems == 0 && ((a = find_directive(&t, "@empty")) != NULL ||
		    (a = find_directive(&t, "@emptyok")) != NULL)) {
			msg = unescape_msg(a, &x);
			respond(c, find_directive(&t, "@empty") ? "Error" :
			    "Success", msg);
			free(msg);
			goto done;
		}
		block_text(&b, &t.b[first], &x);
		ami_buf_add(&b, "\r\n", 2);
		send_buf(c, &b);
		/* items one by one, so close=N counts them */
		{
			size_t off = 0;
			char *e;

			while (off < items.len) {
				e = memmem(items.p + off, items.len - off,
				    "\r\n\r\n", 4);
				i = e == NULL ? items.len : (size_t)(e - items.p) + 4;
				send_block(c, items.p + off, i - off);
				off = i;
			}
		}
		block_text(&b, &t.b[t.n - 1], &x);
		ami_buf_add(&b, "\r\n", 2);
		send_buf(c, &b);
	} else {
		for (i = first; i < t.n; i++)
			if (cond_true(&t.b[i], &x))
				break;
		if (i == t.n) {
			a = find_directive(&t, "@error");
			msg = unescape_msg(a != NULL ? a : "Not found", &x);
			error(c, msg);
			free(msg);
			goto done;
		}
		block_text(&b, &t.b[i], &x);
		ami_buf_add(&b, "\r\n", 2);
		send_buf(c, &b);
	}
done:
	ami_buf_free(&b);
	ami_buf_free(&items);
	tmpl_free(&t);
	return 0;
}

#define W_SYS   EV_SYSTEM
#define W_CALL  EV_CALL
#define W_REP   (1 << 9)        /* reporting */
#define W_CMD   (1 << 4)        /* command */
#define W_ORIG  (1 << 12)       /* originate */

/*
 * The actions, and the write classes (manager.conf write=) that allow
 * each, any one of them, as the modules register them: a session without
 * one gets "Permission denied" and a RequestNotAllowed (transcript 16).
 */
static const struct action {
	const char *name;
	int (*fn)(struct client *);
	int mode;               /* 0 always, 1 app_voicemail, 2 external MWI */
	int perm;               /* 0: anyone logged in */
} actions[] = {
	{ "Login", act_login, 0, 0 },
	{ "Logoff", act_logoff, 0, 0 },
	{ "Challenge", act_challenge, 0, 0 },
	{ "Ping", act_ping, 0, 0 },
	{ "Events", act_events, 0, 0 },
	{ "Filter", act_filter, 0, W_SYS },
	{ "UserEvent", act_userevent, 0, EV_USER },
	{ "Setvar", act_setvar, 0, W_CALL },
	{ "Getvar", act_getvar, 0, W_CALL | W_REP },
	{ "DBPut", act_dbput, 0, W_SYS },
	{ "DBGet", act_dbget, 0, W_SYS | W_REP },
	{ "DBGetTree", act_dbgettree, 0, W_SYS | W_REP },
	{ "DBDel", act_dbdel, 0, W_SYS },
	{ "DBDelTree", act_dbdeltree, 0, W_SYS },
	{ "ExtensionState", act_extensionstate, 0, W_CALL | W_REP },
	{ "ExtensionStateList", act_extensionstatelist, 0, W_CALL | W_REP },
	{ "DeviceStateList", act_devicestatelist, 0, W_CALL | W_REP },
	{ "PresenceState", act_presencestate, 0, W_CALL | W_REP },
	{ "PresenceStateList", act_presencestatelist, 0, W_CALL | W_REP },
	{ "MailboxCount", act_mailboxcount, 0, W_CALL | W_REP },
	{ "MailboxStatus", act_mailboxstatus, 0, W_CALL | W_REP },
	{ "VoicemailRefresh", act_voicemailrefresh, 1, EV_USER },
	{ "VoicemailUsersList", NULL, 1, W_CALL | W_REP },
	{ "VoicemailUserStatus", NULL, 1, W_CALL | W_REP },
	{ "MWIUpdate", act_mwiupdate, 2, W_CALL },
	{ "MWIGet", act_mwiget, 2, W_CALL | W_REP },
	{ "MWIDelete", act_mwidelete, 2, W_CALL },
	{ "CoreStatus", act_corestatus, 0, W_SYS | W_REP },
	{ "CoreSettings", act_coresettings, 0, W_SYS | W_REP },
	{ "Command", act_command, 0, W_CMD },
	{ "Hangup", act_hangup, 0, W_SYS | W_CALL },
	{ "Originate", act_originate, 0, W_ORIG },
	/* answered from DATADIR/actions */
	{ "CoreShowChannels", NULL, 0, W_SYS | W_REP },
	{ "Status", NULL, 0, W_SYS | W_CALL | W_REP },
	{ "PJSIPShowEndpoints", NULL, 0, W_SYS },
	{ "PJSIPShowEndpoint", NULL, 0, W_SYS },
	{ "PJSIPShowAors", NULL, 0, W_SYS },
	{ "PJSIPShowAuths", NULL, 0, W_SYS },
	{ "PJSIPShowContacts", NULL, 0, W_SYS },
	{ "PJSIPShowRegistrationsInbound", NULL, 0, W_SYS },
	{ "SIPpeers", NULL, 0, W_SYS | W_REP },
	{ "SIPshowpeer", NULL, 0, W_SYS | W_REP },
};

/* process_message(): 0 go on, -1 the session ends */
static int
process_message(struct client *c)
{
	const char *action = "";
	char buf[600];
	size_t i, l = strlen("Action");
	int j, ret = 0;

	/* __astman_get_header(m, "Action", GET_HEADER_SKIP_EMPTY) */
	for (j = 0; j < c->nhdr; j++)
		if (strncasecmp(c->hdr[j], "Action", l) == 0 && c->hdr[j][l] == ':') {
			action = c->hdr[j] + l + 1;
			action += strspn(action, " \t");
			if (*action != '\0')
				break;
		}
	if (*action == '\0') {
		security_event(c, SEC_BADFORMAT, "Action: NONE", NULL, NULL);
		error(c, "Missing action in request");
		return 0;
	}
	if (phase == PH_SHUTTING) {
		shutting_answer(c);
		return 0;
	}
	snprintf(buf, sizeof(buf), "Action: %s", action);
	if (!c->authed && strcasecmp(action, "Login") != 0 &&
	    strcasecmp(action, "Logoff") != 0 &&
	    strcasecmp(action, "Challenge") != 0) {
		security_event(c, SEC_NOTALLOWED, buf, NULL, NULL);
		error(c, "Permission denied");
		return 0;
	}
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcasecmp(actions[i].name, action) != 0)
			continue;
		if (actions[i].mode == (ext_mwi ? 1 : 2) ||
		    (phase == PH_BOOTING && late_module(action)))
			break;
		if (actions[i].perm != 0 && !(c->writeperm & actions[i].perm)) {
			security_event(c, SEC_NOTALLOWED, buf, NULL, NULL);
			error(c, "Permission denied");
			return 0;
		}
		if (actions[i].fn == NULL &&
		    action_file(actions[i].name, buf, sizeof(buf)) != 0)
			break;
		log_action(c);
		if (actions[i].fn != NULL)
			ret = actions[i].fn(c);
		else
			act_template(c, actions[i].name);
		goto done;
	}
	if (i == sizeof(actions) / sizeof(actions[0]) &&
	    action_file(action, buf, sizeof(buf)) == 0) {
		log_action(c);
		act_template(c, action);
		goto done;
	}
	snprintf(buf, sizeof(buf), "Action: %s", action);
	security_event(c, SEC_BADFORMAT, buf, NULL, NULL);
	snprintf(buf, sizeof(buf), "Invalid/unknown command: %s. Use Action: "
	    "ListCommands to show available commands.", action);
	error(c, buf);
done:
	executed++;
	if (nrestart > 0 && executed == restart_at[0]) {
		/* -f restart=N: after the Nth action run, as in 14 */
		memmove(restart_at, restart_at + 1, --nrestart * sizeof(*restart_at));
		shutdown_begin();
	}
	if (ret != 0)
		return ret;
	if (*hdr_get(c, "SuppressEvents") == '\0')
		process_events(c);
	return 0;
}

/* -L: each action run, as one line; not the ones refused (not logged in,
 * no permission, shutting down, not loaded yet); written at once, so tests
 * can tail it and count what was executed */
static void
log_action(struct client *c)
{
	struct ami_msg m = { 0 };
	struct ami_buf b = { 0 };
	const char *colon, *v;
	int i;

	if (logfd < 0)
		return;
	for (i = 0; i < c->nhdr; i++) {
		if ((colon = strchr(c->hdr[i], ':')) == NULL) {
			ami_msg_add(&m, "", 0, c->hdr[i], strlen(c->hdr[i]));
			continue;
		}
		v = colon + 1;
		if (*v == ' ')
			v++;
		ami_msg_add(&m, c->hdr[i], colon - c->hdr[i], v, strlen(v));
	}
	if (m.n > 0) {
		ami_text_put(&b, &m);
		if (write(logfd, b.p, b.len) != (ssize_t)b.len)
			warn("log");
	}
	ami_buf_free(&b);
	ami_msg_free(&m);
}

void
clear_headers(struct client *c)
{
	int i;

	for (i = 0; i < c->nhdr; i++)
		free(c->hdr[i]);
	c->nhdr = 0;
	c->hdrloss = 0;
}

/*
 * do_message() and get_input(): lines from a 1024-byte buffer, as
 * manager.c reads them, so overlong lines and header floods get
 * Asterisk's own answers.  Returns -1 when the session ends.
 */
int
input_lines(struct client *c)
{
	char line[INBUF + 1];
	int x, cr = 0, res;

	for (;;) {
		if (c->shut || c->dead || c->block_until > 0 ||
		    (c->close_after >= 0 && c->nsent >= c->close_after && !c->cut))
			return 0;
		for (x = 0; x < c->inlen; x++) {
			if (c->inbuf[x] == '\r' && x + 1 < c->inlen &&
			    c->inbuf[x + 1] == '\n')
				cr = 2;
			else if (c->inbuf[x] == '\n')
				cr = 1;
			else
				continue;
			break;
		}
		if (x == c->inlen) {
			if (c->inlen >= INBUF) {
				/* keep the last byte: it may be half a CRLF */
				c->inbuf[0] = c->inbuf[c->inlen - 1];
				c->inlen = 1;
				c->toolong = 1;
				continue;
			}
			return 0;
		}
		memcpy(line, c->inbuf, x);
		line[x] = '\0';
		c->inlen -= x + cr;
		memmove(c->inbuf, c->inbuf + x + cr, c->inlen);
		/* everything after a NUL is lost, as in a C string */
		if (line[0] != '\0') {
			if (c->nhdr < AMI_HEADERS_MAX)
				c->hdr[c->nhdr++] = ami_xstrdup(line);
			else
				c->hdrloss = 1;
			continue;
		}
		/* do_message() runs process_events() before it reads on */
		process_events(c);
		if (c->hdrloss) {
			error(c, "Too many lines in message or allocation failure");
			res = 0;
		} else if (c->toolong) {
			error(c, "Failed to parse message: line too long");
			c->toolong = 0;
			res = 0;
		} else
			res = process_message(c);
		clear_headers(c);
		if (res < 0) {
			if (c->block_until == 0)
				client_shut(c);
			return -1;
		}
	}
}
