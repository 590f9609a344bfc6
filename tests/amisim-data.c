/* ---- the data dir ---- */

#include "amisim.h"

char *
slurp(const char *path, size_t *lenp)
{
	struct ami_buf b = { 0 };
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	for (;;) {
		ami_buf_grow(&b, 65536);
		if ((n = read(fd, b.p + b.len, b.cap - b.len - 1)) <= 0)
			break;
		b.len += n;
	}
	close(fd);
	b.p[b.len] = '\0';
	if (lenp != NULL)
		*lenp = b.len;
	return b.p;
}

/* a data file: the first dir in the base chain that has it */
char *
data_file(const char *name, size_t *lenp)
{
	char path[PATH_MAX];
	char *p;
	size_t i;

	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if ((p = slurp(path, lenp)) != NULL)
			return p;
	}
	return NULL;
}

/* next line of a data file, without its end; NULL at the end */
char *
nextline(char **pp)
{
	char *s = *pp, *nl;

	if (s == NULL || *s == '\0')
		return NULL;
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		*pp = nl + 1;
	} else
		*pp = s + strlen(s);
	if (nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	return s;
}

void
load_settings(void)
{
	char path[PATH_MAX], *text, *p, *l, *eq, *k, *v;
	char *dir = ami_xstrdup(datadir);

	while (ndirs < sizeof(dirs) / sizeof(dirs[0])) {
		dirs[ndirs++] = dir;
		snprintf(path, sizeof(path), "%s/settings", dir);
		if ((text = slurp(path, NULL)) == NULL)
			return;
		dir = NULL;
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || (eq = strchr(l, '=')) == NULL)
				continue;
			*eq = '\0';
			k = ami_trim(l);
			v = ami_trim(eq + 1);
			if (strcmp(k, "base") == 0 && dir == NULL) {
				snprintf(path, sizeof(path), "%s/%s",
				    dirs[ndirs - 1], v);
				dir = ami_xstrdup(path);
			} else if (strcmp(k, "voicemail") == 0 && ndirs == 1)
				ext_mwi = strcmp(v, "external") == 0;
			else if (strcmp(k, "version") == 0 && ndirs == 1)
				strlcpy(version, v, sizeof(version));
			else if (strcmp(k, "ami_version") == 0 && ndirs == 1)
				strlcpy(amiversion, v, sizeof(amiversion));
		}
		free(text);
		if (dir == NULL)
			return;
	}
}

struct device *
dev_find(const char *name, int create)
{
	size_t i;

	for (i = 0; i < ndevices; i++)
		if (strcasecmp(devices[i].name, name) == 0)
			return &devices[i];
	if (!create)
		return NULL;
	{
		static size_t cap;

		devices = xgrow(devices, &cap, ndevices, sizeof(*devices));
	}
	devices[ndevices].name = ami_xstrdup(name);
	devices[ndevices].state = DS_UNKNOWN;
	devices[ndevices].present = 0;
	return &devices[ndevices++];
}

int
devstate_val(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(devnames) / sizeof(devnames[0]); i++)
		if (strcasecmp(s, devnames[i]) == 0)
			return i;
	return -1;
}

int
dev_state(const char *name)
{
	struct device *d = dev_find(name, 0);

	/* INVALID: a Custom: device a restart did not give back (18b) */
	return d != NULL && (d->present || d->state == DS_INVALID) ? d->state :
	    DS_UNKNOWN;
}

/* ast_devstate_aggregate_add() and _result() over "A&B&C" */
int
hint_state(const struct hint *h)
{
	static const int order[] = { 1, 3, 6, 7, 0, 2, 5, 8, 4 };
	char buf[512], *p, *d;
	int agg = DS_INVALID, ringing = 0, s;

	strlcpy(buf, h->devs, sizeof(buf));
	for (p = buf; (d = strsep(&p, "&")) != NULL;) {
		if (*d == '\0')
			continue;
		s = dev_state(d);
		if (s == DS_RINGING)
			ringing = 1;
		if (order[s] > order[agg])
			agg = s;
	}
	if (ringing && agg == DS_INUSE)
		agg = DS_RINGINUSE;
	/* ast_devstate_to_extenstate() */
	switch (agg) {
	case DS_ONHOLD:
		return 16;
	case DS_BUSY:
		return 2;
	case DS_UNAVAILABLE:
	case DS_INVALID:
		return 4;
	case DS_RINGINUSE:
		return 1 | 8;
	case DS_RINGING:
		return 8;
	case DS_INUSE:
		return 1;
	}
	return 0;
}

const char *
extstate_str(int s)
{
	switch (s) {
	case 0: return "Idle";
	case 1: return "InUse";
	case 2: return "Busy";
	case 4: return "Unavailable";
	case 8: return "Ringing";
	case 9: return "InUse&Ringing";
	case 16: return "Hold";
	case 17: return "InUse&Hold";
	}
	return "Unknown";
}

int
hint_has(const struct hint *h, const char *dev)
{
	char buf[512], *p, *d;

	strlcpy(buf, h->devs, sizeof(buf));
	for (p = buf; (d = strsep(&p, "&")) != NULL;)
		if (strcasecmp(d, dev) == 0)
			return 1;
	return 0;
}

struct provider *
prov_find(const char *name, int create)
{
	static size_t cap;
	size_t i;

	for (i = 0; i < nproviders; i++)
		if (strcasecmp(providers[i].name, name) == 0)
			return &providers[i];
	if (!create)
		return NULL;
	providers = xgrow(providers, &cap, nproviders, sizeof(*providers));
	providers[nproviders].name = ami_xstrdup(name);
	providers[nproviders].state = -1;
	providers[nproviders].sub = ami_xstrdup("");
	providers[nproviders].msg = ami_xstrdup("");
	return &providers[nproviders++];
}

struct mailbox *
mbox_find(const char *name, int create)
{
	static size_t cap;
	char full[256];
	size_t i;

	/* a mailbox without @context is in "default" */
	snprintf(full, sizeof(full), "%s%s", name,
	    strchr(name, '@') ? "" : "@default");
	for (i = 0; i < nmailboxes; i++)
		if (strcasecmp(mailboxes[i].name, full) == 0)
			return &mailboxes[i];
	if (!create)
		return NULL;
	mailboxes = xgrow(mailboxes, &cap, nmailboxes, sizeof(*mailboxes));
	memset(&mailboxes[nmailboxes], 0, sizeof(*mailboxes));
	mailboxes[nmailboxes].name = ami_xstrdup(full);
	return &mailboxes[nmailboxes++];
}

void
load_data(void)
{
	char *text, *p, *l, *w[4], *s;
	struct user *u = NULL;
	struct hint *h;
	struct device *d;
	struct mailbox *mb;
	size_t ucap = 0, hcap = 0, i;
	int n;

	if ((text = data_file("users", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			l = ami_trim(l);
			if (*l == '\0' || *l == ';' || *l == '#')
				continue;
			if (*l == '[') {
				users = xgrow(users, &ucap, nusers, sizeof(*users));
				u = &users[nusers++];
				memset(u, 0, sizeof(*u));
				l[strcspn(l, "]")] = '\0';
				strlcpy(u->name, l + 1, sizeof(u->name));
				continue;
			}
			if (u == NULL || (s = strchr(l, '=')) == NULL)
				continue;
			*s++ = '\0';
			l = ami_trim(l);
			s = ami_trim(s);
			if (strcmp(l, "secret") == 0)
				strlcpy(u->secret, s, sizeof(u->secret));
			else if (strcmp(l, "read") == 0)
				u->readperm = perm_of(s);
			else if (strcmp(l, "write") == 0)
				u->writeperm = perm_of(s);
		}
		free(text);
	} else {
		/* the fixtures' manager.conf */
		users = xgrow(users, &ucap, 0, sizeof(*users));
		memset(users, 0, sizeof(*users));
		strlcpy(users[0].name, "tester", sizeof(users[0].name));
		strlcpy(users[0].secret, "testpass", sizeof(users[0].secret));
		users[0].readperm = users[0].writeperm = EV_ALL;
		nusers = 1;
	}

	if ((text = data_file("devices", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || sscanf(l, "%ms %ms", &w[0], &w[1]) != 2)
				continue;
			d = dev_find(w[0], 1);
			if (strcmp(w[1], "-") != 0) {
				if ((n = devstate_val(w[1])) < 0)
					errx(2, "devices: bad state %s", w[1]);
				d->state = n;
				d->present = 1;
				if (strncasecmp(w[0], "Custom:", 7) == 0)
					db_put("CustomDevstate", w[0] + 7, w[1]);
			}
			free(w[0]);
			free(w[1]);
		}
		free(text);
	}

	if ((text = data_file("hints", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || sscanf(l, "%ms %ms %ms", &w[0], &w[1],
			    &w[2]) != 3)
				continue;
			hints = xgrow(hints, &hcap, nhints, sizeof(*hints));
			h = &hints[nhints++];
			h->context = w[0];
			h->exten = w[1];
			h->text = w[2];
			h->devs = ami_xstrdup(w[2]);
			h->provider = NULL;
			if ((s = strchr(h->devs, ',')) != NULL) {
				*s = '\0';
				h->provider = ami_xstrdup(s + 1);
			}
			h->laststate = hint_state(h);
			h->lastpres = -1;
			h->lastsub = ami_xstrdup("");
			h->lastmsg = ami_xstrdup("");
		}
		free(text);
	}

	if ((text = data_file("mailboxes", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || sscanf(l, "%ms %ms %ms %ms", &w[0],
			    &w[1], &w[2], &w[3]) != 4)
				continue;
			mb = mbox_find(w[0], 1);
			if (strcmp(w[1], "-") != 0) {
				mb->urg = atoi(w[1]);
				mb->new = atoi(w[2]);
				mb->old = atoi(w[3]);
				mb->present = 1;
			}
			mb->pubnew = mb->new + mb->urg;
			mb->pubold = mb->old;
			for (i = 0; i < 4; i++)
				free(w[i]);
		}
		free(text);
	}

	if ((text = data_file("vars", NULL)) != NULL) {
		for (p = text; (l = nextline(&p)) != NULL;) {
			if (*l == '#' || *l == '\0')
				continue;
			s = l + strcspn(l, " \t");
			if (*s != '\0')
				*s++ = '\0';
			s += strspn(s, " \t");
			kvs_set(&vars, l, s);
		}
		free(text);
	}
}
