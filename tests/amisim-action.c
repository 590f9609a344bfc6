/* ---- actions ---- */

#include "amisim.h"

static struct kvs globals;
static unsigned long executed;          /* actions run (what -L logs) */

static void log_action(struct client *);

static int
authenticate(struct client *c)
{
	const char *name = hdr_get(c, "Username"), *key;
	struct user *u = NULL;
	char buf[512], md[33];
	size_t i;
	int mask;

	if (*name == '\0')
		return -1;
	for (i = 0; i < nusers; i++)
		if (strcasecmp(users[i].name, name) == 0)
			u = &users[i];
	if (u == NULL) {
		security_event(c, SEC_BADUSER, name, NULL, NULL);
		return -1;
	}
	if (f_refuse && c->conn == 1) {
		security_event(c, SEC_BADPASS, name, NULL, NULL);
		return -1;
	}
	if (strcasecmp(hdr_get(c, "AuthType"), "MD5") == 0) {
		key = hdr_get(c, "Key");
		if (*key == '\0' || c->challenge[0] == '\0')
			return -1;
		snprintf(buf, sizeof(buf), "%s%s", c->challenge, u->secret);
		ami_md5_hex(buf, strlen(buf), md);
		if (strcmp(md, key) != 0) {
			security_event(c, SEC_BADCHAL, name, key, md);
			return -1;
		}
	} else if (strcmp(hdr_get(c, "Secret"), u->secret) != 0) {
		security_event(c, SEC_BADPASS, name, NULL, NULL);
		return -1;
	}
	strlcpy(c->user, u->name, sizeof(c->user));
	c->readperm = u->readperm;
	c->writeperm = u->writeperm;
	gettimeofday(&c->start_tv, NULL);
	if ((mask = eventmask(hdr_get(c, "Events"))) >= 0)
		c->send_events = mask;
	return 0;
}

static int
act_login(struct client *c)
{
	struct ami_msg m = { 0 };
	char n[24];
	long up;

	if (c->authed) {
		ack(c, "Already authenticated");
		return 0;
	}
	if (authenticate(c) != 0) {
		/* Asterisk sleeps 1 s in the session thread, then answers */
		struct ami_msg e = { 0 };

		resp_start(&e, c, "Error");
		ami_msg_adds(&e, "Message", "Authentication failed");
		ami_wire_put(&c->pending, &e);
		ami_msg_free(&e);
		c->block_until = ami_now_ms() + AUTHFAIL_MS;
		return -1;
	}
	c->authed = 1;
	ack(c, "Authentication accepted");
	if (c->conn == 1) {
		c->garbage_pending = f_garbage;
		c->noread = f_noread;
		if (f_stall >= 0) {
			c->stall_pending = 1;
			c->stall_ms = f_stall;
			c->mute = f_mute;
		}
	}
	if ((c->send_events & EV_SYSTEM) && (c->readperm & EV_SYSTEM) &&
	    phase == PH_UP) {
		up = (ami_now_ms() - start_ms) / 1000;
		event_start(&m, "FullyBooted", EV_SYSTEM);
		snprintf(n, sizeof(n), "%ld", up);
		ami_msg_adds(&m, "Uptime", n);
		ami_msg_adds(&m, "LastReload", n);
		ami_msg_adds(&m, "Status", "Fully Booted");
		send_msg(c, &m);
	}
	ami_msg_free(&m);
	security_event(c, SEC_OK, NULL, NULL, NULL);
	if (rp_count > 0) {
		c->replaying = 1;
		c->rp_left = rp_count;
		c->rp_idx = 0;
	}
	return 0;
}

static int
act_challenge(struct client *c)
{
	struct ami_msg m = { 0 };

	if (f_nochallenge && c->conn == 1) {
		error(c, "Permission denied");
		return 0;
	}
	if (strcasecmp(hdr_get(c, "AuthType"), "MD5") != 0) {
		error(c, "Must specify AuthType");
		return 0;
	}
	if (c->challenge[0] == '\0')
		snprintf(c->challenge, sizeof(c->challenge), "%ld",
		    (long)(arc4random() & 0x7fffffff));
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Challenge", c->challenge);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_logoff(struct client *c)
{
	respond(c, "Goodbye", "Thanks for all the fish.");
	return -1;
}

static int
act_ping(struct client *c)
{
	struct ami_msg m = { 0 };
	struct timeval tv;
	char ts[48];

	gettimeofday(&tv, NULL);
	snprintf(ts, sizeof(ts), "%ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Ping", "Pong");
	ami_msg_adds(&m, "Timestamp", ts);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_events(struct client *c)
{
	struct ami_msg m = { 0 };
	int res = eventmask(hdr_get(c, "EventMask"));

	if (res < 0) {
		error(c, "Invalid event mask");
		return 0;
	}
	c->send_events = res;
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Events", res > 0 ? "On" : "Off");
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_filter(struct client *c)
{
	const char *f = hdr_get(c, "Filter");
	struct filter *nf;
	int exclude = 0;

	if (strcasecmp(hdr_get(c, "Operation"), "Add") != 0) {
		error(c, "Unknown operation");
		return 0;
	}
	if (*f == '!') {
		exclude = 1;
		f++;
	}
	if (*f == '\0') {
		error(c, "Filter was formatted incorrectly.  Check the syntax "
		    "of the filter given.");
		return 0;
	}
	if ((nf = reallocarray(c->filters, c->nfilters + 1, sizeof(*nf))) == NULL)
		err(2, "reallocarray");
	c->filters = nf;
	if (regcomp(&nf[c->nfilters].re, f, REG_EXTENDED | REG_NOSUB) != 0) {
		error(c, "Filter did not compile.  Check the syntax of the "
		    "filter given.");
		return 0;
	}
	nf[c->nfilters++].exclude = exclude;
	ack(c, "Success");
	return 0;
}

static int
act_userevent(struct client *c)
{
	struct ami_buf b = { 0 };
	int i;

	ack(c, "Event Sent");
	bufprintf(&b, "Event: UserEvent\r\nPrivilege: user,all\r\n"
	    "UserEvent: %s\r\n", hdr_get(c, "UserEvent"));
	/* the action's own header lines, as they came */
	for (i = 0; i < c->nhdr; i++)
		if (strncasecmp(c->hdr[i], "UserEvent:", 10) != 0 &&
		    strncasecmp(c->hdr[i], "Action:", 7) != 0)
			bufprintf(&b, "%s\r\n", c->hdr[i]);
	ami_buf_add(&b, "\r\n", 2);
	publish(EV_USER, b.p, b.len);
	ami_buf_free(&b);
	return 0;
}

/* "FUNC(arg)" -> arg, or NULL */
static char *
func_arg(const char *var, const char *func)
{
	size_t n = strlen(func), len = strlen(var);

	if (strncasecmp(var, func, n) != 0 || var[n] != '(' || var[len - 1] != ')')
		return NULL;
	return xstrndup(var + n + 1, len - n - 2);
}

static int
act_setvar(struct client *c)
{
	const char *name = hdr_get(c, "Variable"), *val = hdr_get(c, "Value");
	char *arg = NULL;
	int res = 0, st;

	if (*name == '\0') {
		error(c, "No variable specified");
		return 0;
	}
	if (*hdr_get(c, "Channel") != '\0') {
		error(c, "No such channel");
		return 0;
	}
	/* the events are made while the action runs, sent after its answer */
	if (phase == PH_BOOTING && (strncasecmp(name, "DEVICE_STATE(", 13) == 0 ||
	    strncasecmp(name, "PRESENCE_STATE(", 15) == 0))
		res = -1;      /* their modules are not loaded yet (15) */
	else if ((arg = func_arg(name, "DEVICE_STATE")) != NULL) {
		if (strncasecmp(arg, "Custom:", 7) != 0 || arg[7] == '\0' ||
		    (st = devstate_val(val)) < 0 || st == DS_UNKNOWN)
			res = -1;
		else {
			db_put("CustomDevstate", arg + 7, val);
			devstate_set(arg, st, DS_HINTS_FIRST);
		}
	} else if ((arg = func_arg(name, "PRESENCE_STATE")) != NULL) {
		if (strncasecmp(arg, "CustomPresence:", 15) != 0 || arg[15] == '\0')
			res = -1;
		else
			res = presence_set(arg, val, 0);
	} else if (name[strlen(name) - 1] == ')') {
		res = -1;
	} else
		kvs_set(&globals, name, val);
	free(arg);
	if (res == 0)
		ack(c, "Variable Set");
	else
		error(c, "Variable not set");
	return 0;
}

static int
act_getvar(struct client *c)
{
	const char *name = hdr_get(c, "Variable"), *v = NULL;
	char *arg, *field, out[512] = "";
	struct ami_msg m = { 0 };
	struct provider *pr;

	if (*name == '\0') {
		error(c, "No variable specified");
		return 0;
	}
	if (*hdr_get(c, "Channel") != '\0') {
		error(c, "No such channel");
		return 0;
	}
	if ((arg = func_arg(name, "DEVICE_STATE")) != NULL) {
		v = devnames[dev_state(arg)];
	} else if ((arg = func_arg(name, "PRESENCE_STATE")) != NULL) {
		if ((field = strchr(arg, ',')) != NULL) {
			*field++ = '\0';
			field[strcspn(field, ",")] = '\0';
			if ((pr = prov_find(arg, 0)) != NULL && pr->state >= 0) {
				if (strcasecmp(field, "value") == 0)
					v = presnames[pr->state];
				else if (strcasecmp(field, "subtype") == 0)
					v = pr->sub;
				else if (strcasecmp(field, "message") == 0)
					v = pr->msg;
			}
		}
	} else if (name[strlen(name) - 1] != ')')
		v = kvs_get(&globals, name);
	if (v != NULL)
		strlcpy(out, v, sizeof(out));
	free(arg);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Variable", name);
	ami_msg_adds(&m, "Value", out);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_dbput(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");

	if (*fam == '\0')
		error(c, "No family specified");
	else if (*key == '\0')
		error(c, "No key specified");
	else {
		db_put(fam, key, hdr_get(c, "Val"));
		ack(c, "Updated database successfully");
	}
	return 0;
}

static int
act_dbget(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key"), *v;
	struct ami_msg m = { 0 };
	const char *id = hdr_get(c, "ActionID");

	if (*fam == '\0') {
		error(c, "No family specified.");
		return 0;
	}
	if (*key == '\0') {
		error(c, "No key specified.");
		return 0;
	}
	if ((v = db_get(fam, key)) == NULL) {
		error(c, "Database entry not found");
		return 0;
	}
	listack(c, "Result will follow");
	ami_msg_adds(&m, "Event", "DBGetResponse");
	ami_msg_adds(&m, "Family", fam);
	ami_msg_adds(&m, "Key", key);
	ami_msg_adds(&m, "Val", v);
	if (*id != '\0')
		ami_msg_adds(&m, "ActionID", id);
	send_msg(c, &m);
	ami_msg_free(&m);
	list_complete(c, "DBGetComplete", 1);
	return 0;
}

static int
act_dbdel(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");
	char k[512];

	if (*fam == '\0')
		error(c, "No family specified.");
	else if (*key == '\0')
		error(c, "No key specified.");
	else {
		snprintf(k, sizeof(k), "/%s/%s", fam, key);
		if (kvs_del(&astdb, k) != 0)
			error(c, "Database entry could not be deleted");
		else
			ack(c, "Key deleted successfully");
	}
	return 0;
}

static int
act_dbdeltree(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");
	char pre[512];
	size_t i, n = 0, pl;

	if (*fam == '\0') {
		error(c, "No family specified.");
		return 0;
	}
	snprintf(pre, sizeof(pre), "/%s/%s", fam, key);
	pl = strlen(pre);
	for (i = 0; i < astdb.n;) {
		if (strncasecmp(astdb.a[i].k, pre, pl) == 0 &&
		    (astdb.a[i].k[pl] == '\0' || astdb.a[i].k[pl] == '/' ||
		    *key == '\0')) {
			kvs_del(&astdb, astdb.a[i].k);
			n++;
		} else
			i++;
	}
	if (n == 0)
		error(c, "Database entry not found");
	else
		ack(c, "Key tree deleted successfully");
	return 0;
}

/* manager.c action_dbgettree(): Family, optional Key under it */
static int
act_dbgettree(struct client *c)
{
	const char *fam = hdr_get(c, "Family"), *key = hdr_get(c, "Key");
	struct ami_msg m = { 0 };
	char pre[512];
	size_t i, pl, fl;
	long n = 0;

	if (*fam == '\0') {
		error(c, "No family specified.");
		return 0;
	}
	if (*key != '\0')
		snprintf(pre, sizeof(pre), "/%s/%s", fam, key);
	else
		snprintf(pre, sizeof(pre), "/%s", fam);
	pl = strlen(pre);
	listack(c, "Result will follow");
	for (i = 0; i < astdb.n; i++) {
		const char *k = astdb.a[i].k, *slash;

		if (strncmp(k, pre, pl) != 0 || (k[pl] != '/' && k[pl] != '\0') ||
		    (slash = strrchr(k, '/')) == k)
			continue;
		ami_msg_clear(&m);
		fl = slash - k - 1;
		ami_msg_adds(&m, "Event", "DBGetTreeResponse");
		ami_msg_add(&m, "Family", 6, k + 1, fl);
		ami_msg_adds(&m, "Key", slash + 1);
		ami_msg_adds(&m, "Val", astdb.a[i].v);
		if (*hdr_get(c, "ActionID") != '\0')
			ami_msg_adds(&m, "ActionID", hdr_get(c, "ActionID"));
		send_msg(c, &m);
		n++;
	}
	ami_msg_free(&m);
	list_complete(c, "DBGetTreeComplete", n);
	return 0;
}

static struct hint *
hint_find(const char *context, const char *exten)
{
	size_t i;

	for (i = 0; i < nhints; i++)
		if (strcmp(hints[i].context, context) == 0 &&
		    strcmp(hints[i].exten, exten) == 0)
			return &hints[i];
	return NULL;
}

static int
act_extensionstate(struct client *c)
{
	const char *exten = hdr_get(c, "Exten"), *context = hdr_get(c, "Context");
	struct hint *h;
	struct ami_msg m = { 0 };
	char num[16];
	int st;

	if (*exten == '\0') {
		error(c, "Extension not specified");
		return 0;
	}
	if (*context == '\0')
		context = "default";
	h = hint_find(context, exten);
	st = h != NULL ? h->laststate : -1;
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Extension Status");
	ami_msg_adds(&m, "Exten", exten);
	ami_msg_adds(&m, "Context", context);
	ami_msg_adds(&m, "Hint", h != NULL ? h->text : "");
	snprintf(num, sizeof(num), "%d", st);
	ami_msg_adds(&m, "Status", num);
	ami_msg_adds(&m, "StatusText", extstate_str(st));
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_extensionstatelist(struct client *c)
{
	size_t i;

	if (nhints == 0) {
		error(c, "No dialplan hints are available");
		return 0;
	}
	listack(c, "Extension Statuses will follow");
	for (i = 0; i < nhints; i++)
		extension_status(&hints[i], c);
	list_complete(c, "ExtensionStateListComplete", nhints);
	return 0;
}

static int
act_devicestatelist(struct client *c)
{
	struct ami_msg m = { 0 };
	size_t i;
	long n = 0;

	listack(c, "Device State Changes will follow");
	for (i = 0; i < ndevices; i++) {
		if (!devices[i].present)
			continue;
		list_item(&m, c, "DeviceStateChange");
		ami_msg_adds(&m, "Device", devices[i].name);
		ami_msg_adds(&m, "State", devnames[devices[i].state]);
		send_msg(c, &m);
		n++;
	}
	ami_msg_free(&m);
	list_complete(c, "DeviceStateListComplete", n);
	return 0;
}

static int
act_presencestate(struct client *c)
{
	const char *prov = hdr_get(c, "Provider");
	struct provider *pr;
	struct ami_msg m = { 0 };
	char buf[300];

	if (*prov == '\0') {
		error(c, "No provider specified");
		return 0;
	}
	if ((pr = prov_find(prov, 0)) == NULL || pr->state < 0) {
		snprintf(buf, sizeof(buf), "Invalid provider %s or provider in "
		    "invalid state", prov);
		error(c, buf);
		return 0;
	}
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Presence State");
	ami_msg_adds(&m, "State", presnames[pr->state]);
	if (*pr->sub != '\0')
		ami_msg_adds(&m, "Subtype", pr->sub);
	if (*pr->msg != '\0') {
		/* Asterisk repeats Message; PresenceMessage is the new name */
		ami_msg_adds(&m, "Message", pr->msg);
		ami_msg_adds(&m, "PresenceMessage", pr->msg);
	}
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_presencestatelist(struct client *c)
{
	struct ami_msg m = { 0 };
	size_t i;
	long n = 0;

	listack(c, "Presence State Changes will follow");
	for (i = 0; i < nproviders; i++) {
		if (providers[i].state < 0)
			continue;
		list_item(&m, c, "PresenceStateChange");
		ami_msg_adds(&m, "Presentity", providers[i].name);
		ami_msg_adds(&m, "Status", presnames[providers[i].state]);
		ami_msg_adds(&m, "Subtype", providers[i].sub);
		ami_msg_adds(&m, "Message", providers[i].msg);
		send_msg(c, &m);
		n++;
	}
	ami_msg_free(&m);
	list_complete(c, "PresenceStateListComplete", n);
	return 0;
}

/* what app_voicemail or res_mwi_external count for a mailbox */
static void
mbox_counts(const char *name, int *urg, int *new, int *old)
{
	struct mailbox *mb = mbox_find(name, 0);

	*urg = *new = *old = 0;
	if (mb == NULL || (ext_mwi && !mb->present))
		return;
	*urg = ext_mwi ? 0 : mb->urg;
	*new = mb->new;
	*old = mb->old;
}

static int
act_mailboxcount(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct ami_msg m = { 0 };
	char u[16], n[16], o[16];
	int urg, new, old;

	if (*name == '\0') {
		error(c, "Mailbox not specified");
		return 0;
	}
	mbox_counts(name, &urg, &new, &old);
	snprintf(u, sizeof(u), "%d", urg);
	snprintf(n, sizeof(n), "%d", new);
	snprintf(o, sizeof(o), "%d", old);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Mailbox Message Count");
	ami_msg_adds(&m, "Mailbox", name);
	ami_msg_adds(&m, "UrgMessages", u);
	ami_msg_adds(&m, "NewMessages", n);
	ami_msg_adds(&m, "OldMessages", o);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_mailboxstatus(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct ami_msg m = { 0 };
	int urg, new, old;

	if (*name == '\0') {
		error(c, "Mailbox not specified");
		return 0;
	}
	mbox_counts(name, &urg, &new, &old);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "Message", "Mailbox Status");
	ami_msg_adds(&m, "Mailbox", name);
	ami_msg_adds(&m, "Waiting", new + urg > 0 ? "1" : "0");
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

/* app_voicemail polls the mailboxes it was asked about; changes publish */
static int
act_voicemailrefresh(struct client *c)
{
	const char *ctx = hdr_get(c, "Context"), *box = hdr_get(c, "Mailbox");
	struct mailbox *mb;
	size_t i, bl;
	const char *at;

	for (i = 0; i < nmailboxes; i++) {
		mb = &mailboxes[i];
		at = strchr(mb->name, '@');
		bl = at - mb->name;
		if (*box != '\0' && (strlen(box) != bl || strncmp(box, mb->name, bl) != 0))
			continue;
		if (*ctx != '\0' && strcmp(ctx, at + 1) != 0)
			continue;
		if (mb->new + mb->urg != mb->pubnew || mb->old != mb->pubold)
			mwi_publish(mb, mb->new + mb->urg, mb->old, 1);
	}
	ack(c, "Refresh sent");
	return 0;
}

static int
act_mwiupdate(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct mailbox *mb;

	if (*name == '\0') {
		error(c, "Missing mailbox parameter in request");
		return 0;
	}
	mb = mbox_find(name, 1);
	mb->present = 1;
	mb->urg = 0;
	mb->new = atoi(hdr_get(c, "NewMessages"));
	mb->old = atoi(hdr_get(c, "OldMessages"));
	ack(c, NULL);
	mwi_publish(mb, mb->new, mb->old, 1);
	return 0;
}

static int
act_mwidelete(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox");
	struct mailbox *mb;

	if (*name == '\0') {
		error(c, "Missing mailbox parameter in request");
		return 0;
	}
	ack(c, NULL);
	if ((mb = mbox_find(name, 0)) != NULL && mb->present) {
		mb->present = 0;
		mb->new = mb->old = mb->urg = 0;
		mwi_publish(mb, 0, 0, 0);
	}
	return 0;
}

static int
act_mwiget(struct client *c)
{
	const char *name = hdr_get(c, "Mailbox"), *id = hdr_get(c, "ActionID");
	struct mailbox *mb;
	struct ami_msg m = { 0 };
	char n[16], o[16];
	long count = 0;

	if (*name == '\0') {
		error(c, "Missing mailbox parameter in request");
		return 0;
	}
	listack(c, "Mailboxes will follow");
	if ((mb = mbox_find(name, 0)) != NULL && mb->present) {
		snprintf(n, sizeof(n), "%d", mb->new);
		snprintf(o, sizeof(o), "%d", mb->old);
		ami_msg_adds(&m, "Event", "MWIGet");
		ami_msg_adds(&m, "Mailbox", mb->name);
		ami_msg_adds(&m, "OldMessages", o);
		ami_msg_adds(&m, "NewMessages", n);
		if (*id != '\0')
			ami_msg_adds(&m, "ActionID", id);
		send_msg(c, &m);
		count++;
	}
	ami_msg_free(&m);
	list_complete(c, "MWIGetComplete", count);
	return 0;
}

static int
act_corestatus(struct client *c)
{
	struct ami_msg m = { 0 };
	struct tm tm;
	time_t t = start_tv.tv_sec;
	char d[32], tt[32], n[24];

	localtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d", &tm);
	strftime(tt, sizeof(tt), "%H:%M:%S", &tm);
	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "CoreStartupDate", d);
	ami_msg_adds(&m, "CoreStartupTime", tt);
	ami_msg_adds(&m, "CoreReloadDate", d);
	ami_msg_adds(&m, "CoreReloadTime", tt);
	ami_msg_adds(&m, "CoreCurrentCalls", "0");
	snprintf(n, sizeof(n), "%ld", processed_calls);
	ami_msg_adds(&m, "CoreProcessedCalls", n);
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

static int
act_coresettings(struct client *c)
{
	struct ami_msg m = { 0 };
	const char *v;

	resp_start(&m, c, "Success");
	ami_msg_adds(&m, "AMIversion", amiversion);
	ami_msg_adds(&m, "AsteriskVersion", version);
	ami_msg_adds(&m, "SystemName", "");
	ami_msg_adds(&m, "CoreMaxCalls", "0");
	ami_msg_adds(&m, "CoreMaxLoadAvg", "0.000000");
	ami_msg_adds(&m, "CoreRunUser", "");
	ami_msg_adds(&m, "CoreRunGroup", "");
	ami_msg_adds(&m, "CoreMaxFilehandles", "0");
	ami_msg_adds(&m, "CoreRealTimeEnabled", "No");
	ami_msg_adds(&m, "CoreCDRenabled",
	    (v = kvs_get(&vars, "core.cdr")) != NULL ? v : "Yes");
	ami_msg_adds(&m, "CoreHTTPenabled", "No");
	ami_msg_adds(&m, "SoundsSearchCustomDir", "No");
	send_msg(c, &m);
	ami_msg_free(&m);
	return 0;
}

/* is words (a command's first words, '_' between) how some file in
 * DATADIR/commands starts? */
static int
command_prefix(const char *words)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t i, n = strlen(words);
	DIR *d;
	int found = 0;

	for (i = 0; i < ndirs && !found; i++) {
		snprintf(path, sizeof(path), "%s/commands", dirs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while (!found && (de = readdir(d)) != NULL)
			found = strncmp(de->d_name, words, n) == 0 &&
			    (de->d_name[n] == '_' || de->d_name[n] == '\0');
		closedir(d);
	}
	return found;
}

/*
 * cli.c's find_best(): the words of an unknown command up to the first
 * that no command goes on with, that one included; the first word always
 * passes (a one-word command, "!", matches any one word), so "no such cli
 * command" gives "no such" (19)
 */
static const char *
best_words(const char *cmd, char *out, size_t len)
{
	char key[300] = "", *w, *p, *copy = xstrdup(cmd);
	int n = 0;

	*out = '\0';
	for (p = copy; (w = strsep(&p, " \t")) != NULL;) {
		if (*w == '\0')
			continue;
		if (n > 0) {
			strlcat(out, " ", len);
			strlcat(key, "_", sizeof(key));
		}
		strlcat(out, w, len);
		strlcat(key, w, sizeof(key));
		if (n++ > 0 && !command_prefix(key))
			break;
	}
	free(copy);
	return out;
}

static int
act_command(struct client *c)
{
	const char *cmd = hdr_get(c, "Command");
	char name[300], *w, *text, *p, *line, help[300];
	struct ami_buf b = { 0 };
	struct ctx x = { c, NULL, 0 };
	size_t i, len;
	int space = 1, found = 1;

	if (*cmd == '\0') {
		error(c, "No command provided");
		return 0;
	}
	/* the file name: the command's words joined by '_' */
	strlcpy(name, "commands/", sizeof(name));
	w = name + strlen(name);
	for (i = 0; cmd[i] != '\0' && w < name + sizeof(name) - 2; i++) {
		if (isspace((unsigned char)cmd[i])) {
			space = 1;
			continue;
		}
		if (space && w[-1] != '/')
			*w++ = '_';
		space = 0;
		*w++ = cmd[i] == '/' ? '_' : cmd[i];
	}
	*w = '\0';
	if ((text = data_file(name, &len)) == NULL) {
		found = 0;
		bufprintf(&b, "No such command '%s' (type 'core show help %s' "
		    "for other possible commands)\n", cmd, best_words(cmd, help,
		    sizeof(help)));
	} else if (len >= 6 && strncmp(text, "@fail\n", 6) == 0) {
		/* a command that ran and failed (19: dialplan show of a
		 * context that does not exist) */
		found = 0;
		expand(&b, text + 6, len - 6, &x, NULL);
	} else
		expand(&b, text, len, &x, NULL);
	free(text);
	ami_buf_addc(&b, '\0');
	/* Asterisk drops one trailing newline, then each line is an Output */
	if (b.len >= 2 && b.p[b.len - 2] == '\n')
		b.p[b.len - 2] = '\0';
	{
		struct ami_msg m = { 0 };

		resp_start(&m, c, found ? "Success" : "Error");
		ami_msg_adds(&m, "Message", "Command output follows");
		for (p = b.p; (line = strsep(&p, "\n")) != NULL;)
			ami_msg_adds(&m, "Output", line);
		send_msg(c, &m);
		ami_msg_free(&m);
	}
	ami_buf_free(&b);
	return 0;
}

static int
act_hangup(struct client *c)
{
	if (*hdr_get(c, "Channel") == '\0')
		error(c, "No channel specified");
	else
		error(c, "No such channel");
	return 0;
}

/* ast_callerid_parse() for the usual forms: "Name" <num>, Name <num>, num */
static void
callerid_parse(const char *cid, char *name, size_t nl, char *num, size_t ml)
{
	const char *lt = strchr(cid, '<'), *gt;
	char *e;

	*name = *num = '\0';
	if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
		snprintf(num, ml, "%.*s", (int)(gt - lt - 1), lt + 1);
		snprintf(name, nl, "%.*s", (int)(lt - cid), cid);
	} else
		strlcpy(name, cid, nl);
	e = ami_trim(name);
	memmove(name, e, strlen(e) + 1);
	if (name[0] == '"' && strlen(name) >= 2 && name[strlen(name) - 1] == '"') {
		memmove(name, name + 1, strlen(name));
		name[strlen(name) - 1] = '\0';
	}
	if (lt == NULL && strspn(name, "0123456789*#+") == strlen(name)) {
		strlcpy(num, name, ml);
		*name = '\0';
	}
}

static int
act_originate(struct client *c)
{
	const char *chan = hdr_get(c, "Channel"), *id = hdr_get(c, "ActionID");
	int async = truth(hdr_get(c, "Async")) == 1;
	char file[300], *w, name[128], num[128];
	const char *fail;
	struct tmpl t;
	struct kvs args = { 0 };
	struct ami_msg m = { 0 };
	static const char *copy[] = { "Channel", "Application", "Data",
		"Context", "Exten", "Priority", "Account" };
	size_t i;

	if (*chan == '\0') {
		error(c, "Channel not specified");
		return 0;
	}
	if (strchr(chan, '/') == NULL) {
		error(c, "Invalid channel");
		return 0;
	}
	if (*hdr_get(c, "Exten") != '\0' && (*hdr_get(c, "Context") == '\0' ||
	    *hdr_get(c, "Priority") == '\0') && *hdr_get(c, "Application") == '\0') {
		error(c, "Originate with 'Exten' requires 'Context' and 'Priority'");
		return 0;
	}
	snprintf(file, sizeof(file), "originate/%s", chan);
	for (w = file + 10; *w; w++)
		if (*w == '/')
			*w = '_';
	if (tmpl_load(&t, file, 0) != 0) {
		if (!async) {
			error(c, "Originate failed");
			return 0;
		}
		ack(c, "Originate successfully queued");
		callerid_parse(hdr_get(c, "CallerID"), name, sizeof(name), num,
		    sizeof(num));
		event_start(&m, "OriginateResponse", EV_CALL);
		if (*id != '\0')
			ami_msg_adds(&m, "ActionID", id);
		ami_msg_adds(&m, "Response", "Failure");
		ami_msg_adds(&m, "Channel", chan);
		if (*hdr_get(c, "Application") != '\0') {
			ami_msg_adds(&m, "Application", hdr_get(c, "Application"));
			ami_msg_adds(&m, "Data", hdr_get(c, "Data"));
		} else {
			ami_msg_adds(&m, "Context", hdr_get(c, "Context"));
			ami_msg_adds(&m, "Exten", hdr_get(c, "Exten"));
		}
		ami_msg_adds(&m, "Reason", "0");
		ami_msg_adds(&m, "Uniqueid", "<unknown>");
		ami_msg_adds(&m, "CallerIDNum", *num ? num : "<unknown>");
		ami_msg_adds(&m, "CallerIDName", *name ? name : "<unknown>");
		publish_msg(EV_CALL, &m);
		ami_msg_free(&m);
		return 0;
	}
	/* a sync Originate that fails still ran what it ran (21) */
	if ((fail = find_directive(&t, "@fail")) != NULL && !async)
		error(c, fail);
	else
		ack(c, "Originate successfully queued");
	for (i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		kvs_set(&args, copy[i], hdr_get(c, copy[i]));
	kvs_set(&args, "ActionID", id);
	kvs_set(&args, "async", async ? "1" : "");
	callerid_parse(hdr_get(c, "CallerID"), name, sizeof(name), num,
	    sizeof(num));
	kvs_set(&args, "CallerIDNum", *num ? num : "<unknown>");
	kvs_set(&args, "CallerIDName", *name ? name : "<unknown>");
	run_script(&t, &args);
	kvs_free(&args);
	return 0;
}

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
				c->hdr[c->nhdr++] = xstrdup(line);
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
