/* ---- state changes and the events they make ---- */

#include "amisim.h"

void
extension_status(const struct hint *h, struct client *c)
{
	struct ami_msg m = { 0 };
	char num[16];

	if (c != NULL)
		list_item(&m, c, "ExtensionStatus");
	else
		event_start(&m, "ExtensionStatus", EV_CALL);
	ami_msg_adds(&m, "Exten", h->exten);
	ami_msg_adds(&m, "Context", h->context);
	ami_msg_adds(&m, "Hint", h->text);
	snprintf(num, sizeof(num), "%d", h->laststate);
	ami_msg_adds(&m, "Status", num);
	ami_msg_adds(&m, "StatusText", extstate_str(h->laststate));
	if (c != NULL)
		send_msg(c, &m);
	else
		publish_msg(EV_CALL, &m);
	ami_msg_free(&m);
}

void
devstate_set(const char *name, int state, int how)
{
	struct device *d = dev_find(name, 1);
	struct ami_msg m = { 0 };
	size_t i, nch = 0;
	int *changed, s;

	d->state = state;
	d->present = 1;
	if ((changed = calloc(nhints + 1, sizeof(*changed))) == NULL)
		err(2, "calloc");
	for (i = 0; i < nhints; i++) {
		if (!hint_has(&hints[i], name))
			continue;
		s = hint_state(&hints[i]);
		if (s != hints[i].laststate) {
			hints[i].laststate = s;
			changed[nch++] = i;
		}
	}
	if (how != DS_QUIET) {
		if (how == DS_HINTS_FIRST)
			for (i = 0; i < nch; i++)
				extension_status(&hints[changed[i]], NULL);
		event_start(&m, "DeviceStateChange", EV_CALL);
		ami_msg_adds(&m, "Device", d->name);
		ami_msg_adds(&m, "State", devnames[state]);
		publish_msg(EV_CALL, &m);
		if (how == DS_DSC_FIRST)
			for (i = 0; i < nch; i++)
				extension_status(&hints[changed[i]], NULL);
	}
	free(changed);
	ami_msg_free(&m);
}

static int
presence_val(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(presnames) / sizeof(presnames[0]); i++)
		if (strcasecmp(s, presnames[i]) == 0)
			return i;
	return -1;
}

/* "state,subtype,message[,options]" as func_presencestate parses it */
int
presence_set(const char *provider, const char *value, int quiet)
{
	char *buf = ami_xstrdup(value), *p = buf, *st, *sub, *msg;
	struct provider *pr;
	struct ami_msg m = { 0 };
	size_t i;
	int state;

	st = strsep(&p, ",");
	sub = p ? strsep(&p, ",") : "";
	msg = p ? strsep(&p, ",") : "";
	if (*st == '\0' || (state = presence_val(st)) < 0) {
		free(buf);
		return -1;
	}
	pr = prov_find(provider, 1);
	pr->state = state;
	free(pr->sub);
	free(pr->msg);
	pr->sub = ami_xstrdup(sub);
	pr->msg = ami_xstrdup(msg);
	db_put("CustomPresence", provider + strcspn(provider, ":") + 1, value);
	if (!quiet) {
		event_start(&m, "PresenceStateChange", EV_CALL);
		ami_msg_adds(&m, "Presentity", pr->name);
		ami_msg_adds(&m, "Status", presnames[state]);
		ami_msg_adds(&m, "Subtype", sub);
		ami_msg_adds(&m, "Message", msg);
		publish_msg(EV_CALL, &m);
	}
	for (i = 0; i < nhints; i++) {
		struct hint *h = &hints[i];

		if (h->provider == NULL || strcasecmp(h->provider, provider) != 0)
			continue;
		if (h->lastpres == state && strcmp(h->lastsub, sub) == 0 &&
		    strcmp(h->lastmsg, msg) == 0)
			continue;
		h->lastpres = state;
		free(h->lastsub);
		free(h->lastmsg);
		h->lastsub = ami_xstrdup(sub);
		h->lastmsg = ami_xstrdup(msg);
		if (quiet)
			continue;
		event_start(&m, "PresenceStatus", EV_CALL);
		ami_msg_adds(&m, "Exten", h->exten);
		ami_msg_adds(&m, "Context", h->context);
		ami_msg_adds(&m, "Hint", h->text);
		ami_msg_adds(&m, "Status", presnames[state]);
		ami_msg_adds(&m, "Subtype", sub);
		ami_msg_adds(&m, "Message", msg);
		publish_msg(EV_CALL, &m);
	}
	ami_msg_free(&m);
	free(buf);
	return 0;
}

/* MWI published: MessageWaiting, and res_mwi_devstate's MWI: device */
void
mwi_publish(struct mailbox *mb, int new, int old, int devstate)
{
	struct ami_msg m = { 0 };
	char n[16], o[16], dev[300];

	mb->pubnew = new;
	mb->pubold = old;
	snprintf(n, sizeof(n), "%d", new);
	snprintf(o, sizeof(o), "%d", old);
	event_start(&m, "MessageWaiting", EV_CALL);
	ami_msg_adds(&m, "Mailbox", mb->name);
	ami_msg_adds(&m, "Waiting", new > 0 ? "1" : "0");
	ami_msg_adds(&m, "New", n);
	ami_msg_adds(&m, "Old", o);
	publish_msg(EV_CALL, &m);
	ami_msg_free(&m);
	if (devstate) {
		snprintf(dev, sizeof(dev), "MWI:%s", mb->name);
		devstate_set(dev, new > 0 ? DS_INUSE : DS_NOT_INUSE,
		    DS_HINTS_FIRST);
	}
}
