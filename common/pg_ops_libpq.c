/*
 * pg_ops_libpq: pg_ops over libpq. Every PGresult is cleared and every
 * PGnotify freed with libpq's own functions.
 */
#include "common/pg_ops.h"
#include "common/log.h"
#include "common/pg_text.h"
#include "common/xalloc.h"

#include <libpq-fe.h>
#include <string.h>

/* The server's notices and warnings go to the log (one record each) instead
 * of libpq's default, a raw line on stderr. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    log_msg(strncmp(message, "WARNING", 7) == 0 ? LOG_WARN : LOG_INFO, "pg", "%s", message);
}

void *pg_connect_named(const char *conninfo, const char *app_name)
{
    /* expand_dbname lets conninfo be a full URL or key=value string; the
     * fallback name applies only when conninfo does not set its own. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {conninfo, app_name, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (c)
        PQsetNoticeProcessor(c, notice_to_log, NULL);
    return c;
}

static void *pq_connect(void *ctx, const char *conninfo, char **err)
{
    (void)ctx;
    PGconn *c = pg_connect_named(conninfo, "sse-gateway-listener");
    if (PQstatus(c) != CONNECTION_OK) {
        *err = pg_text_one_line(PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void pq_finish(void *ctx, void *conn)
{
    (void)ctx;
    PQfinish(conn);
}

static int pq_exec(void *ctx, void *conn, const char *sql, char **err)
{
    (void)ctx;
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *err = pg_text_one_line(PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static int pq_socket(void *ctx, void *conn)
{
    (void)ctx;
    return PQsocket(conn);
}

static int pq_consume(void *ctx, void *conn)
{
    (void)ctx;
    if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
        return -1;
    return 0;
}

static int pq_next_notification(void *ctx, void *conn, char **channel, char **payload)
{
    (void)ctx;
    PGnotify *n = PQnotifies(conn);
    if (!n)
        return 0;
    *channel = xstrdup(n->relname);
    *payload = xstrdup(n->extra ? n->extra : "");
    PQfreemem(n);
    return 1;
}

const struct pg_ops pg_ops_libpq = {pq_connect,           pq_finish, pq_exec, pq_socket, pq_consume,
                                    pq_next_notification, NULL};
