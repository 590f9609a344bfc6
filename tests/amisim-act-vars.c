/* ---- actions: variables and astdb ---- */

#include "amisim.h"

static struct kvs globals;

/* "FUNC(arg)" -> arg, or NULL */
static char *
func_arg(const char *var, const char *func)
{
	size_t n = strlen(func), len = strlen(var);

	if (strncasecmp(var, func, n) != 0 || var[n] != '(' || var[len - 1] != ')')
		return NULL;
	return ami_xstrndup(var + n + 1, len - n - 2);
}

int
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

int
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

int
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

int
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

int
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

int
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
int
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
