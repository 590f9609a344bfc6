/* ---- actions: what the state is (hints, devices, mailboxes, ...) ---- */

#include "amisim.h"

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

int
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

int
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

int
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

int
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

int
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

int
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

int
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
int
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

int
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

int
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

int
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

int
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

int
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
