/* ---- the control channel ---- */

#include "amisim.h"

static char ctlbuf[4096];
static size_t ctllen;

/* the rest of line after n words */
static const char *
after_words(const char *line, int n)
{
	line += strspn(line, " \t");
	while (n-- > 0) {
		line += strcspn(line, " \t");
		line += strspn(line, " \t");
	}
	return line;
}

static void
control(char *line)
{
	char *copy = ami_xstrdup(line), *p = line, *av[12], name[300], key[16];
	struct tmpl t;
	struct kvs args = { 0 };
	struct mailbox *mb;
	size_t i;
	int ac = 0, st;

	while (ac < 12 && (av[ac] = strsep(&p, " \t")) != NULL)
		if (*av[ac] != '\0')
			ac++;
	if (ac == 0 || av[0][0] == '#')
		goto out;
	if (strcmp(av[0], "devstate") == 0 && ac >= 3) {
		if ((st = devstate_val(av[2])) < 0)
			warnx("control: bad device state %s", av[2]);
		else {
			if (strncasecmp(av[1], "Custom:", 7) == 0)
				db_put("CustomDevstate", av[1] + 7, av[2]);
			devstate_set(av[1], st, ac > 3 && strcmp(av[3], "quiet") == 0 ?
			    DS_QUIET : DS_HINTS_FIRST);
		}
	} else if ((strcmp(av[0], "presence") == 0 ||
	    strcmp(av[0], "presenceq") == 0) && ac >= 3) {
		if (presence_set(av[1], after_words(copy, 2), av[0][8] == 'q') != 0)
			warnx("control: bad presence %s", after_words(copy, 2));
	} else if (strcmp(av[0], "spool") == 0 && ac >= 4) {
		/* files in the spool: app_voicemail sees them when it polls */
		mb = mbox_find(av[1], 1);
		mb->new = atoi(av[2]);
		mb->old = atoi(av[3]);
		mb->urg = ac > 4 ? atoi(av[4]) : 0;
	} else if (strcmp(av[0], "mwi") == 0 && ac >= 4) {
		mb = mbox_find(av[1], 1);
		mb->new = atoi(av[2]);
		mb->old = atoi(av[3]);
		mb->present = 1;
		mwi_publish(mb, mb->new + mb->urg, mb->old, 1);
	} else if (strcmp(av[0], "set") == 0 && ac >= 2) {
		if (strcmp(av[1], "processed_calls") == 0)
			processed_calls = atol(after_words(copy, 2));
		else
			kvs_set(&vars, av[1], after_words(copy, 2));
	} else if (strcmp(av[0], "unset") == 0 && ac >= 2) {
		kvs_del(&vars, av[1]);
	} else if (strcmp(av[0], "emit") == 0 && ac >= 2) {
		if (tmpl_load(&t, av[1], 1) != 0)
			warn("control: emit %s", av[1]);
		else
			run_script(&t, NULL);
	} else if (strcmp(av[0], "restart") == 0) {
		shutdown_begin();
	} else if (strcmp(av[0], "boot") == 0) {
		/* as if started just now: logins before FullyBooted (15) */
		if (phase == PH_UP)
			boot_begin(ami_now_ms());
	} else if (strcmp(av[0], "kick") == 0) {
		for (i = 0; i < nclients; i++)
			client_close(clients[i]);
	} else {
		/* "run SCRIPT ARGS" or just "SCRIPT ARGS" */
		int first = strcmp(av[0], "run") == 0 ? 1 : 0, k;

		if (first >= ac || strchr(av[first], '/') != NULL) {
			warnx("control: %s: what to run?", line);
			goto out;
		}
		snprintf(name, sizeof(name), "scripts/%s", av[first]);
		if (tmpl_load(&t, name, 0) != 0) {
			warnx("control: unknown command or script %s", av[first]);
			goto out;
		}
		for (k = first + 1; k < ac; k++) {
			snprintf(key, sizeof(key), "%d", k - first);
			kvs_set(&args, key, av[k]);
		}
		run_script(&t, &args);
		kvs_free(&args);
	}
	/* events of a control command go out at once */
	for (i = 0; i < nclients; i++)
		process_events(clients[i]);
out:
	free(copy);
}

void
control_read(void)
{
	ssize_t n;
	char *nl;

	n = read(ctlfd, ctlbuf + ctllen, sizeof(ctlbuf) - 1 - ctllen);
	if (n <= 0)
		return;
	ctllen += n;
	while ((nl = memchr(ctlbuf, '\n', ctllen)) != NULL) {
		*nl = '\0';
		control(ctlbuf);
		ctllen -= nl + 1 - ctlbuf;
		memmove(ctlbuf, nl + 1, ctllen);
	}
	if (ctllen == sizeof(ctlbuf) - 1)
		ctllen = 0;
}
