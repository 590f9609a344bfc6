/*
 * db.c: MySQL / MariaDB for the tools that need it.  Built as lib/db.o,
 * outside libami.a, and linked only into the Makefile's MYSQL_TOOLS, so
 * the other tools never load libmysqlclient.
 *
 * Every setting comes from option files: the standard ones ([client], then
 * the tool's group) or the one file the caller names, so a password is
 * never on a command line.  Strings are UTF-8: the connection is utf8mb4
 * whatever the files say.  A statement keeps its SQL and is prepared again
 * on each new connection, so a caller may hold it across reconnects.  A
 * connection found dead is closed; the caller decides when to try again,
 * told by ami_db_retry_at() (capped exponential backoff with jitter).  No
 * automatic reconnect inside the client library: it would silently drop
 * an open transaction.
 */
#include <sys/stat.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "ami.h"

#define BACKOFF_MIN_MS  1000
#define BACKOFF_MAX_MS  60000
#define CONNECT_TIMEOUT 10      /* seconds; the option files may say otherwise */
#define IO_TIMEOUT      60      /* above InnoDB's default 50 s lock wait */

/* my_bool in MariaDB's headers, bool in MySQL 8's */
typedef __typeof__(*((MYSQL_BIND *)0)->is_null) dbbool;

struct ami_db {
	MYSQL   *my;            /* NULL while not connected */
	char    *group, *file;
	unsigned long flags;    /* for mysql_real_connect */
	unsigned ct, io;        /* timeouts, seconds */
	unsigned gen;           /* per connection: statements prepare again */
	unsigned tries;         /* failures since a statement last succeeded */
	int64_t  retry_at;
	int      transient;
	unsigned errnum;
	char     err[512];
};

struct ami_stmt {
	struct ami_db *db;
	char       *sql;
	MYSQL_STMT *st;
	unsigned    gen;
	struct {                /* the result columns, bound; all 0: none */
		MYSQL_RES  *meta;       /* NULL for no result set */
		unsigned    ncol;
		MYSQL_BIND *res;
		unsigned long *len;
		dbbool     *isnull;
		char      **buf;
		size_t     *cap;
		const char **row;
	} c;
	int         stored;     /* a result set is held client-side */
};

static int nlive;           /* ami_db objects: the library ends with the last */

static void
seterr(struct ami_db *db, unsigned errnum, const char *msg)
{
	int lost;

	db->errnum = errnum;
	snprintf(db->err, sizeof(db->err), "%s (error %u)", msg, errnum);
	lost = errnum == CR_CONNECTION_ERROR || errnum == CR_CONN_HOST_ERROR ||
	    errnum == CR_SERVER_GONE_ERROR || errnum == CR_SERVER_LOST ||
#ifdef CR_SERVER_LOST_EXTENDED
	    errnum == CR_SERVER_LOST_EXTENDED ||
#endif
#ifdef ER_CONNECTION_KILLED
	    errnum == ER_CONNECTION_KILLED ||
#endif
	    errnum == ER_SERVER_SHUTDOWN;
	db->transient = lost || errnum == ER_CON_COUNT_ERROR ||
	    errnum == ER_LOCK_DEADLOCK || errnum == ER_LOCK_WAIT_TIMEOUT ||
	    errnum == CR_UNKNOWN_HOST;
	if (lost && db->my != NULL) {
		mysql_close(db->my);
		db->my = NULL;
	}
	/* after any failure: a caller that retries even what is not
	 * transient (mwinotify's connect) waits as long */
	db->retry_at = ami_now_ms() + ami_backoff(db->tries++, BACKOFF_MIN_MS,
	    BACKOFF_MAX_MS);
}

struct ami_db *
ami_db_new(const char *group, const char *file)
{
	struct ami_db *db;
	struct stat st;

	/* the file named for this tool holds its password */
	if (file != NULL && stat(file, &st) == 0 && (st.st_mode & 077))
		errx(2, "%s holds a password but is readable by group or "
		    "other; run chmod 600 %s", file, file);
	if (nlive == 0 && mysql_library_init(0, NULL, NULL) != 0)
		errx(2, "the MySQL client library did not initialise");
	db = ami_xcalloc(1, sizeof(*db));
	db->group = ami_xstrdup(group);
	if (file != NULL)
		db->file = ami_xstrdup(file);
	db->ct = CONNECT_TIMEOUT;
	db->io = IO_TIMEOUT;
	nlive++;
	return db;
}

void
ami_db_options(struct ami_db *db, unsigned long flags, unsigned timeout)
{
	db->flags = flags;
	db->ct = db->io = timeout;
}

void
ami_db_free(struct ami_db *db)
{
	if (db == NULL)
		return;
	if (db->my != NULL)
		mysql_close(db->my);
	free(db->group);
	free(db->file);
	free(db);
	if (--nlive == 0)
		mysql_library_end();
}

int
ami_db_connect(struct ami_db *db)
{
	MYSQL *my;

	if (db->my != NULL)
		return 0;
	if ((my = mysql_init(NULL)) == NULL)
		errx(2, "mysql_init: out of memory");
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &db->ct);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &db->io);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &db->io);
	mysql_options(my, MYSQL_READ_DEFAULT_GROUP, db->group);
	if (db->file != NULL)
		mysql_options(my, MYSQL_READ_DEFAULT_FILE, db->file);
	if (mysql_real_connect(my, NULL, NULL, NULL, NULL, 0, NULL,
	    db->flags) == NULL ||
	    mysql_set_character_set(my, "utf8mb4") != 0) {
		seterr(db, mysql_errno(my), mysql_error(my));
		mysql_close(my);
		return -1;
	}
	db->my = my;
	db->gen++;
	return 0;
}

void *
ami_db_mysql(struct ami_db *db)
{
	return ami_db_connect(db) < 0 ? NULL : db->my;
}

int
ami_db_fail(struct ami_db *db, const char *msg)
{
	if (msg != NULL)
		seterr(db, CR_UNKNOWN_ERROR, msg);
	else
		seterr(db, mysql_errno(db->my), mysql_error(db->my));
	return -1;
}

int
ami_db_up(const struct ami_db *db)
{
	return db->my != NULL;
}

int64_t
ami_db_retry_at(const struct ami_db *db)
{
	return db->retry_at;
}

int
ami_db_transient(const struct ami_db *db)
{
	return db->transient;
}

unsigned
ami_db_errno(const struct ami_db *db)
{
	return db->errnum;
}

const char *
ami_db_error(const struct ami_db *db)
{
	return db->err;
}

int
ami_db_exec(struct ami_db *db, const char *sql)
{
	MYSQL_RES *r;

	if (ami_db_connect(db) < 0)
		return -1;
	if (mysql_real_query(db->my, sql, strlen(sql)) != 0)
		return ami_db_fail(db, NULL);
	if ((r = mysql_store_result(db->my)) != NULL)
		mysql_free_result(r);
	db->tries = 0;
	return 0;
}

int
ami_db_begin(struct ami_db *db)
{
	return ami_db_exec(db, "START TRANSACTION");
}

int
ami_db_commit(struct ami_db *db)
{
	if (db->my == NULL) {
		seterr(db, CR_SERVER_GONE_ERROR, "not connected at COMMIT");
		return -1;
	}
	return ami_db_exec(db, "COMMIT");
}

void
ami_db_rollback(struct ami_db *db)
{
	/* a connection lost is a transaction rolled back by the server; the
	 * error that made us roll back is the one worth reporting */
	if (db->my != NULL && mysql_real_query(db->my, "ROLLBACK", 8) != 0) {
		mysql_close(db->my);
		db->my = NULL;
	}
}

struct ami_stmt *
ami_db_prepare(struct ami_db *db, const char *sql)
{
	struct ami_stmt *s;

	s = ami_xcalloc(1, sizeof(*s));
	s->sql = ami_xstrdup(sql);
	s->db = db;
	return s;
}

static void
drop_result(struct ami_stmt *s)
{
	if (s->stored && s->st != NULL)
		mysql_stmt_free_result(s->st);
	s->stored = 0;
}

static void
drop_columns(struct ami_stmt *s)
{
	unsigned i;

	for (i = 0; i < s->c.ncol; i++)
		free(s->c.buf[i]);
	free(s->c.buf);
	free(s->c.cap);
	free(s->c.len);
	free(s->c.isnull);
	free(s->c.res);
	free(s->c.row);
	if (s->c.meta != NULL)
		mysql_free_result(s->c.meta);
	memset(&s->c, 0, sizeof(s->c));
}

static int
stmt_fail(struct ami_stmt *s)
{
	seterr(s->db, mysql_stmt_errno(s->st), mysql_stmt_error(s->st));
	return -1;
}

/* prepared on the current connection, result columns bound */
static int
prepare(struct ami_stmt *s)
{
	unsigned i;

	if (s->st != NULL && s->gen == s->db->gen)
		return 0;
	drop_result(s);
	drop_columns(s);
	if (s->st != NULL)
		mysql_stmt_close(s->st);
	if ((s->st = mysql_stmt_init(s->db->my)) == NULL)
		errx(2, "mysql_stmt_init: out of memory");
	s->gen = s->db->gen;
	if (mysql_stmt_prepare(s->st, s->sql, strlen(s->sql)) != 0) {
		stmt_fail(s);
		/* not prepared: the next run must try again */
		mysql_stmt_close(s->st);
		s->st = NULL;
		return -1;
	}
	if ((s->c.meta = mysql_stmt_result_metadata(s->st)) == NULL)
		return 0;
	s->c.ncol = mysql_num_fields(s->c.meta);
	s->c.res = ami_xcalloc(s->c.ncol, sizeof(*s->c.res));
	s->c.len = ami_xcalloc(s->c.ncol, sizeof(*s->c.len));
	s->c.isnull = ami_xcalloc(s->c.ncol, sizeof(*s->c.isnull));
	s->c.buf = ami_xcalloc(s->c.ncol, sizeof(*s->c.buf));
	s->c.cap = ami_xcalloc(s->c.ncol, sizeof(*s->c.cap));
	s->c.row = ami_xcalloc(s->c.ncol, sizeof(*s->c.row));
	for (i = 0; i < s->c.ncol; i++) {
		s->c.cap[i] = 256;
		s->c.buf[i] = ami_xmalloc(s->c.cap[i]);
		s->c.res[i].buffer_type = MYSQL_TYPE_STRING;
		s->c.res[i].buffer = s->c.buf[i];
		s->c.res[i].buffer_length = s->c.cap[i];
		s->c.res[i].length = &s->c.len[i];
		s->c.res[i].is_null = &s->c.isnull[i];
	}
	return 0;
}

int
ami_stmt_exec(struct ami_stmt *s, const char *const *v, unsigned n)
{
	MYSQL_BIND *b;
	unsigned i, want;
	int rc = -1;

	if (ami_db_connect(s->db) < 0)
		return -1;
	drop_result(s);
	if (prepare(s) < 0)
		return -1;
	if ((want = mysql_stmt_param_count(s->st)) != n) {
		char msg[128];
		snprintf(msg, sizeof(msg), "statement takes %u parameters, "
		    "given %u", want, n);
		return ami_db_fail(s->db, msg);
	}
	b = ami_xcalloc(n ? n : 1, sizeof(*b));
	for (i = 0; i < n; i++) {
		if (v[i] == NULL) {
			b[i].buffer_type = MYSQL_TYPE_NULL;
			continue;
		}
		b[i].buffer_type = MYSQL_TYPE_STRING;
		b[i].buffer = (void *)v[i];
		b[i].buffer_length = strlen(v[i]);
	}
	if ((n > 0 && mysql_stmt_bind_param(s->st, b) != 0) ||
	    mysql_stmt_execute(s->st) != 0)
		goto out;
	if (s->c.meta != NULL) {
		if (mysql_stmt_bind_result(s->st, s->c.res) != 0 ||
		    mysql_stmt_store_result(s->st) != 0)
			goto out;
		s->stored = 1;
	}
	s->db->tries = 0;
	rc = 0;
out:
	free(b);
	return rc < 0 ? stmt_fail(s) : 0;
}

int
ami_stmt_fetch(struct ami_stmt *s, const char *const **row)
{
	unsigned i;
	int rc, grown = 0;

	if (!s->stored)
		return 0;
	rc = mysql_stmt_fetch(s->st);
	if (rc == MYSQL_NO_DATA) {
		drop_result(s);
		return 0;
	}
	if (rc == 1)
		return stmt_fail(s);
	for (i = 0; i < s->c.ncol; i++) {
		if (s->c.isnull[i]) {
			s->c.row[i] = NULL;
			continue;
		}
		if (s->c.len[i] >= s->c.cap[i]) {
			/* a long value: room for it, then the column again */
			s->c.cap[i] = s->c.len[i] + 1;
			s->c.buf[i] = ami_xrealloc(s->c.buf[i], s->c.cap[i]);
			s->c.res[i].buffer = s->c.buf[i];
			s->c.res[i].buffer_length = s->c.cap[i];
			if (mysql_stmt_fetch_column(s->st, &s->c.res[i], i,
			    0) != 0)
				return stmt_fail(s);
			grown = 1;
		}
		s->c.buf[i][s->c.len[i]] = '\0';
		s->c.row[i] = s->c.buf[i];
	}
	if (grown && mysql_stmt_bind_result(s->st, s->c.res) != 0)
		return stmt_fail(s);
	*row = s->c.row;
	return 1;
}

void
ami_stmt_free(struct ami_stmt *s)
{
	if (s == NULL)
		return;
	drop_result(s);
	drop_columns(s);
	if (s->st != NULL)
		mysql_stmt_close(s->st);
	free(s->sql);
	free(s);
}
