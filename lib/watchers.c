/*
 * watchers.c: the SIP proxy's active_watchers table, as OpenSIPS and
 * Kamailio lay it out (the layout is told by columns only one of them
 * has).  Only active (status 1), unexpired message-summary rows are ever
 * used: a terminated or expired dialog is one the phone has forgotten.
 * local_cseq is only ever moved by a compare-and-set, so a NOTIFY the
 * proxy sends at the same moment is never overtaken silently.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "ami.h"

struct ami_watchers {
	struct ami_db *db;
	enum ami_layout layout;
};

static const char *cols =
    "id, local_cseq, expires, to_user, to_domain, watcher_username, "
    "watcher_domain, to_tag, from_tag, callid, contact, "
    "COALESCE(record_route, ''), local_contact, COALESCE(event_id, '')";

/* sql on db's connection (made when needed): the connection, or NULL
 * with the error kept */
static MYSQL *
run(struct ami_db *db, const char *sql)
{
	MYSQL *my;

	if ((my = ami_db_mysql(db)) == NULL)
		return NULL;
	if (mysql_query(my, sql) != 0) {
		ami_db_fail(db, NULL);
		return NULL;
	}
	return my;
}

/* the same for a query with a result set */
static MYSQL_RES *
rows_of(struct ami_db *db, const char *sql)
{
	MYSQL_RES *res;
	MYSQL *my;

	if ((my = run(db, sql)) == NULL)
		return NULL;
	if ((res = mysql_store_result(my)) == NULL)
		ami_db_fail(db, NULL);
	return res;
}

struct ami_watchers *
ami_watchers_open(struct ami_db *db)
{
	struct ami_watchers *w;
	MYSQL_RES *res;
	MYSQL_ROW row;
	int kam = 0, ops = 0;

	/* several compare-and-sets a round trip; and a server that stalls
	 * must not hold up the NOTIFYs in flight for long */
	ami_db_options(db, CLIENT_MULTI_STATEMENTS, 5);
	if ((res = rows_of(db, "SHOW COLUMNS FROM active_watchers")) == NULL)
		return NULL;
	while ((row = mysql_fetch_row(res)) != NULL) {
		kam |= strcmp(row[0], "from_user") == 0 ||
		    strcmp(row[0], "updated") == 0;
		ops |= strcmp(row[0], "sharing_tag") == 0;
	}
	mysql_free_result(res);
	if (kam == ops) {
		ami_db_fail(db, "active_watchers: neither the OpenSIPS nor the "
		    "Kamailio layout");
		return NULL;
	}
	w = ami_xcalloc(1, sizeof(*w));
	w->db = db;
	w->layout = kam ? AMI_LAYOUT_KAMAILIO : AMI_LAYOUT_OPENSIPS;
	return w;
}

enum ami_layout
ami_watchers_layout(const struct ami_watchers *w)
{
	return w->layout;
}

int
ami_watchers_load(struct ami_watchers *w, const char *user, const char *domain,
    struct ami_watcher **rows)
{
	return ami_watchers_load_many(w, &user, &domain, 1, rows);
}

/* "'a','b',..." of the n strings, escaped */
static void
inlist(MYSQL *my, struct ami_buf *q, const char *const *v, int n)
{
	size_t len;
	char *e;
	int i;

	for (i = 0; i < n; i++) {
		len = strlen(v[i]);
		e = ami_xmalloc(2 * len + 1);
		mysql_real_escape_string(my, e, v[i], len);
		ami_buf_adds(q, i ? ", '" : "'");
		ami_buf_adds(q, e);
		ami_buf_addc(q, '\'');
		free(e);
	}
}

int
ami_watchers_load_many(struct ami_watchers *w, const char *const *users,
    const char *const *domains, int nw, struct ami_watcher **rows)
{
	struct ami_buf q = { 0 };
	struct ami_watcher *v;
	MYSQL_RES *res;
	MYSQL_ROW row;
	MYSQL *my;
	unsigned long *lens;
	int n = 0, i;

	*rows = NULL;
	if ((my = ami_db_mysql(w->db)) == NULL)
		return -1;
	/* users IN (...) AND domains IN (...) can use an index on either;
	 * the caller keeps only the pairs it asked for */
	ami_buf_adds(&q, "SELECT ");
	ami_buf_adds(&q, cols);
	ami_buf_adds(&q, " FROM active_watchers WHERE watcher_username IN (");
	inlist(my, &q, users, nw);
	ami_buf_adds(&q, ") AND watcher_domain IN (");
	inlist(my, &q, domains, nw);
	ami_buf_adds(&q, ") AND event = 'message-summary' AND status = 1 "
	    "AND expires > UNIX_TIMESTAMP() ORDER BY id");
	ami_buf_addc(&q, '\0');
	res = rows_of(w->db, q.p);
	ami_buf_free(&q);
	if (res == NULL)
		return -1;
	v = ami_xcalloc(mysql_num_rows(res) + 1, sizeof(*v));
	while ((row = mysql_fetch_row(res)) != NULL) {
		lens = mysql_fetch_lengths(res);
		v[n].id = strtoul(row[0], NULL, 10);
		v[n].local_cseq = strtol(row[1], NULL, 10);
		v[n].expires = strtol(row[2], NULL, 10);
		for (i = 0; i < AMI_W_NFIELDS; i++) {
			/* a NUL inside a value would cut it short unseen: make it
			 * a byte the NOTIFY builder refuses */
			v[n].f[i] = ami_xmalloc(lens[i + 3] + 1);
			memcpy(v[n].f[i], row[i + 3], lens[i + 3]);
			v[n].f[i][lens[i + 3]] = '\0';
			if (strlen(v[n].f[i]) != lens[i + 3])
				v[n].f[i][strlen(v[n].f[i])] = '\n';
		}
		n++;
	}
	mysql_free_result(res);
	*rows = v;
	return n;
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

int
ami_watchers_bump(struct ami_watchers *w, unsigned long id, long old)
{
	int done;

	if (ami_watchers_bump_many(w, &id, &old, 1, &done) < 0)
		return -1;
	return done;
}

int
ami_watchers_bump_many(struct ami_watchers *w, const unsigned long *ids,
    const long *olds, int n, int *done)
{
	struct ami_buf q = { 0 };
	MYSQL *my;
	char one[160];
	int i, rc;

	/* one round trip for the batch, each statement its own compare-and-set
	 * with its own affected-rows count */
	for (i = 0; i < n; i++) {
		snprintf(one, sizeof(one), "%sUPDATE active_watchers SET local_cseq "
		    "= local_cseq + 1 WHERE id = %lu AND local_cseq = %ld",
		    i ? ";" : "", ids[i], olds[i]);
		ami_buf_adds(&q, one);
	}
	ami_buf_addc(&q, '\0');
	my = run(w->db, q.p);
	ami_buf_free(&q);
	if (my == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		done[i] = mysql_affected_rows(my) == 1;
		if ((rc = mysql_next_result(my)) > 0 || (rc < 0 && i + 1 < n))
			break;
	}
	if (i < n) {
		ami_db_fail(w->db, NULL);
		/* drain what the server still has, unless the connection
		 * went with the error */
		if (ami_db_up(w->db))
			while (mysql_next_result(my) == 0)
				;
		return -1;
	}
	return 0;
}

int
ami_watchers_delete(struct ami_watchers *w, unsigned long id)
{
	MYSQL *my;
	char q[80];

	snprintf(q, sizeof(q), "DELETE FROM active_watchers WHERE id = %lu", id);
	if ((my = run(w->db, q)) == NULL)
		return -1;
	return mysql_affected_rows(my) == 1;
}

long
ami_watchers_count(struct ami_watchers *w)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	long n;

	if ((res = rows_of(w->db, "SELECT COUNT(*) FROM active_watchers WHERE "
	    "event = 'message-summary' AND status = 1 AND "
	    "expires > UNIX_TIMESTAMP()")) == NULL)
		return -1;
	row = mysql_fetch_row(res);
	n = row != NULL && row[0] != NULL ? strtol(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return n;
}

void
ami_watchers_close(struct ami_watchers *w)
{
	free(w);
}
