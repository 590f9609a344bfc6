/* ---- actions: Command, Hangup, Originate ---- */

#include "amisim.h"

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
	char key[300] = "", *w, *p, *copy = ami_xstrdup(cmd);
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

int
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

int
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

int
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
