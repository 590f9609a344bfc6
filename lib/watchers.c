/*
 * watchers.c: the SIP proxy's active_watchers table, as OpenSIPS and
 * Kamailio lay it out (the layout is told by columns only one of them
 * has).  Only active (status 1), unexpired message-summary rows are ever
 * used: a terminated or expired dialog is one the phone has forgotten.
 * local_cseq is only ever moved by a compare-and-set, so a NOTIFY the
 * proxy sends at the same moment is never overtaken silently.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>

#include "ami.h"

struct ami_watchers {
	MYSQL   *db;
	enum ami_layout layout;
};

static const char *cols =
    "id, local_cseq, expires, to_user, to_domain, watcher_username, "
    "watcher_domain, to_tag, from_tag, callid, contact, "
    "COALESCE(record_route, ''), local_contact, COALESCE(event_id, '')";

/* errors after which the server is gone, not the statement wrong */
static int
lost(MYSQL *db)
{
	switch (mysql_errno(db)) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONN_HOST_ERROR:
	case CR_CONNECTION_ERROR:
	case CR_SERVER_LOST_EXTENDED:
	case 1053:      /* ER_SERVER_SHUTDOWN */
	case 1927:      /* ER_CONNECTION_KILLED */
		return 1;
	}
	return 0;
}

static int
fail(struct ami_watchers *w, const char *what, int *down, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, mysql_error(w->db));
	if (down != NULL)
		*down = lost(w->db);
	return -1;
}

struct ami_watchers *
ami_watchers_open(const char *group, const char *file, char *err,
    size_t errlen)
{
	struct ami_watchers *w;
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned int timeout = 5;
	int kam = 0, ops = 0;

	if ((w = calloc(1, sizeof(*w))) == NULL || (w->db = mysql_init(NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(w);
		return NULL;
	}
	if (file != NULL)
		mysql_options(w->db, MYSQL_READ_DEFAULT_FILE, file);
	mysql_options(w->db, MYSQL_READ_DEFAULT_GROUP, group);
	mysql_options(w->db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(w->db, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(w->db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	if (mysql_real_connect(w->db, NULL, NULL, NULL, NULL, 0, NULL,
	    CLIENT_MULTI_STATEMENTS) == NULL) {
		snprintf(err, errlen, "database (group %s): %s", group,
		    mysql_error(w->db));
		goto bad;
	}
	if (mysql_query(w->db, "SHOW COLUMNS FROM active_watchers") != 0 ||
	    (res = mysql_store_result(w->db)) == NULL) {
		snprintf(err, errlen, "active_watchers: %s", mysql_error(w->db));
		goto bad;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		kam |= strcmp(row[0], "from_user") == 0 ||
		    strcmp(row[0], "updated") == 0;
		ops |= strcmp(row[0], "sharing_tag") == 0;
	}
	mysql_free_result(res);
	if (kam == ops) {
		snprintf(err, errlen, "active_watchers: neither the OpenSIPS nor "
		    "the Kamailio layout");
		goto bad;
	}
	w->layout = kam ? AMI_LAYOUT_KAMAILIO : AMI_LAYOUT_OPENSIPS;
	return w;
bad:
	mysql_close(w->db);
	free(w);
	return NULL;
}

enum ami_layout
ami_watchers_layout(const struct ami_watchers *w)
{
	return w->layout;
}

static char *
esc(MYSQL *db, const char *s)
{
	size_t n = strlen(s);
	char *e;

	if ((e = malloc(2 * n + 1)) != NULL)
		mysql_real_escape_string(db, e, s, n);
	return e;
}

int
ami_watchers_load(struct ami_watchers *w, const char *user, const char *domain,
    struct ami_watcher **rows, int *down, char *err, size_t errlen)
{
	return ami_watchers_load_many(w, &user, &domain, 1, rows, down, err,
	    errlen);
}

/* "'a','b',..." of the n strings, escaped */
static int
inlist(MYSQL *db, struct ami_buf *q, const char *const *v, int n)
{
	char *e;
	int i;

	for (i = 0; i < n; i++) {
		if ((e = esc(db, v[i])) == NULL)
			return -1;
		ami_buf_adds(q, i ? ", '" : "'");
		ami_buf_adds(q, e);
		ami_buf_addc(q, '\'');
		free(e);
	}
	return 0;
}

int
ami_watchers_load_many(struct ami_watchers *w, const char *const *users,
    const char *const *domains, int nw, struct ami_watcher **rows, int *down,
    char *err, size_t errlen)
{
	struct ami_buf q = { 0 };
	struct ami_watcher *v;
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned long *lens;
	int n = 0, i;

	*rows = NULL;
	*down = 0;
	/* users IN (...) AND domains IN (...) can use an index on either;
	 * the caller keeps only the pairs it asked for */
	ami_buf_adds(&q, "SELECT ");
	ami_buf_adds(&q, cols);
	ami_buf_adds(&q, " FROM active_watchers WHERE watcher_username IN (");
	if (inlist(w->db, &q, users, nw) < 0)
		goto oom;
	ami_buf_adds(&q, ") AND watcher_domain IN (");
	if (inlist(w->db, &q, domains, nw) < 0)
		goto oom;
	ami_buf_adds(&q, ") AND event = 'message-summary' AND status = 1 "
	    "AND expires > UNIX_TIMESTAMP() ORDER BY id");
	if (mysql_real_query(w->db, q.p, q.len) != 0 ||
	    (res = mysql_store_result(w->db)) == NULL) {
		ami_buf_free(&q);
		return fail(w, "active_watchers", down, err, errlen);
	}
	ami_buf_free(&q);
	if ((v = calloc(mysql_num_rows(res) + 1, sizeof(*v))) == NULL) {
		mysql_free_result(res);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		lens = mysql_fetch_lengths(res);
		v[n].id = strtoul(row[0], NULL, 10);
		v[n].local_cseq = strtol(row[1], NULL, 10);
		v[n].expires = strtol(row[2], NULL, 10);
		for (i = 0; i < AMI_W_NFIELDS; i++) {
			/* a NUL inside a value would cut it short unseen: make it
			 * a byte the NOTIFY builder refuses */
			if ((v[n].f[i] = malloc(lens[i + 3] + 1)) == NULL)
				break;
			memcpy(v[n].f[i], row[i + 3], lens[i + 3]);
			v[n].f[i][lens[i + 3]] = '\0';
			if (strlen(v[n].f[i]) != lens[i + 3])
				v[n].f[i][strlen(v[n].f[i])] = '\n';
		}
		n++;
		if (i < AMI_W_NFIELDS) {
			mysql_free_result(res);
			ami_watchers_free(v, n);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	mysql_free_result(res);
	*rows = v;
	return n;
oom:
	ami_buf_free(&q);
	snprintf(err, errlen, "out of memory");
	return -1;
}

void
ami_watchers_free(struct ami_watcher *v, int n)
{
	int i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < AMI_W_NFIELDS; j++)
			free(v[i].f[j]);
	free(v);
}

static int
update(struct ami_watchers *w, const char *q, int *down, char *err,
    size_t errlen)
{
	*down = 0;
	if (mysql_query(w->db, q) != 0)
		return fail(w, "active_watchers", down, err, errlen);
	return mysql_affected_rows(w->db) == 1;
}

int
ami_watchers_bump(struct ami_watchers *w, unsigned long id, long old,
    int *down, char *err, size_t errlen)
{
	int done;

	if (ami_watchers_bump_many(w, &id, &old, 1, &done, down, err, errlen) < 0)
		return -1;
	return done;
}

int
ami_watchers_bump_many(struct ami_watchers *w, const unsigned long *ids,
    const long *olds, int n, int *done, int *down, char *err, size_t errlen)
{
	struct ami_buf q = { 0 };
	char one[160];
	int i, rc;

	*down = 0;
	/* one round trip for the batch, each statement its own compare-and-set
	 * with its own affected-rows count */
	for (i = 0; i < n; i++) {
		snprintf(one, sizeof(one), "%sUPDATE active_watchers SET local_cseq "
		    "= local_cseq + 1 WHERE id = %lu AND local_cseq = %ld",
		    i ? ";" : "", ids[i], olds[i]);
		ami_buf_adds(&q, one);
	}
	rc = mysql_real_query(w->db, q.p, q.len);
	ami_buf_free(&q);
	for (i = 0; i < n; i++) {
		if (rc != 0)
			break;
		done[i] = mysql_affected_rows(w->db) == 1;
		if ((rc = mysql_next_result(w->db)) > 0)
			break;
		if (rc < 0 && i + 1 < n) {
			rc = 1;
			break;
		}
		rc = 0;
	}
	if (i < n) {
		/* drain what the server still has, then report */
		fail(w, "active_watchers", down, err, errlen);
		while (mysql_next_result(w->db) == 0)
			;
		return -1;
	}
	return 0;
}

int
ami_watchers_delete(struct ami_watchers *w, unsigned long id, int *down,
    char *err, size_t errlen)
{
	char q[80];

	snprintf(q, sizeof(q), "DELETE FROM active_watchers WHERE id = %lu", id);
	return update(w, q, down, err, errlen);
}

long
ami_watchers_count(struct ami_watchers *w, char *err, size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	long n;

	if (mysql_query(w->db, "SELECT COUNT(*) FROM active_watchers WHERE "
	    "event = 'message-summary' AND status = 1 AND "
	    "expires > UNIX_TIMESTAMP()") != 0 ||
	    (res = mysql_store_result(w->db)) == NULL)
		return fail(w, "active_watchers", NULL, err, errlen);
	row = mysql_fetch_row(res);
	n = row != NULL && row[0] != NULL ? strtol(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return n;
}

void
ami_watchers_close(struct ami_watchers *w)
{
	if (w == NULL)
		return;
	mysql_close(w->db);
	free(w);
}
