/*
 * event_store_pg: the dispatcher's reads of durable events over a libpq
 * connection of its own (never the LISTEN one, which must stay free to
 * receive notifications, nor the sequencer's, which holds transactions).
 *
 * Three prepared statements: new events after a position (the live
 * catch-up), a position range filtered by streams (a connect's replay, paged
 * here in chunks of PAGE rows so one replay never holds a huge result), and
 * the head and pruned_through of sse.state.
 *
 * Connects lazily and prepares on connect. After an error it drops the
 * connection; the next call reconnects (the dispatcher retries on its next
 * wake). A call that fails on a connection that had been working retries
 * once on a fresh one at once, so the catch-up WAKE the listener posts after
 * a database restart is served without waiting for the next wake.
 * Each kind of failure is logged once until a call succeeds again.
 *
 * Thread: the dispatcher's only. Does not: write, or interpret events.
 */
#include "db/event_store_pg.h"
#include "common/log.h"
#include "common/pg_ops.h"
#include "common/pg_text.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define PAGE 1000

enum failure { FAIL_CONNECT, FAIL_PREPARE, FAIL_READ, FAIL_STATE, FAIL_KINDS };

static const char *const failure_what[FAIL_KINDS] = {
    "could not connect",
    "could not prepare statements",
    "could not read events",
    "could not read sse.state",
};

struct event_store_pg {
    char *conninfo;  /* fixed after start */
    PGconn *conn;    /* owned by dispatcher thread: NULL until connected */
    unsigned logged; /* owned by dispatcher thread: failure kinds logged since the last success */
};

#define EVENT_COLUMNS                                                                              \
    "SELECT position, stream, event, data, (extract(epoch FROM published_at) * 1e6)::int8 "        \
    "FROM sse.events "

static const struct {
    const char *name, *sql;
    int nparams;
} statements[] = {
    {"sse_read_after", EVENT_COLUMNS "WHERE position > $1::int8 ORDER BY position LIMIT $2::int8",
     2},
    {"sse_read_range",
     EVENT_COLUMNS "WHERE position > $1::int8 AND position <= $2::int8 "
                   "AND stream = ANY($3::text[]) ORDER BY position LIMIT $4::int8",
     4},
    {"sse_bounds", "SELECT head, pruned_through FROM sse.state", 0},
};

struct event_store_pg *event_store_pg_new(const char *conninfo)
{
    struct event_store_pg *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(conninfo ? conninfo : "");
    return s;
}

static void disconnect(struct event_store_pg *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
}

void event_store_pg_free(struct event_store_pg *s)
{
    if (!s)
        return;
    disconnect(s);
    free(s->conninfo);
    free(s);
}

/* Logs a kind of failure once per streak, then drops the connection so the
 * next call starts from a fresh one. */
static void fail(struct event_store_pg *s, enum failure kind, const char *detail)
{
    if (!(s->logged & (1u << kind))) {
        char *msg = pg_text_one_line(detail);
        log_warn("store", "%s: %s", failure_what[kind], msg);
        free(msg);
        s->logged |= 1u << kind;
    }
    disconnect(s);
}

static void succeeded(struct event_store_pg *s)
{
    if (s->logged)
        log_info("store", "reading events again");
    s->logged = 0;
}

static bool prepare_all(struct event_store_pg *s)
{
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        PGresult *r =
            PQprepare(s->conn, statements[i].name, statements[i].sql, statements[i].nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            fail(s, FAIL_PREPARE, PQerrorMessage(s->conn));
            return false;
        }
    }
    return true;
}

/* Connects and prepares if needed. *fresh says whether the connection is
 * new (a failure on it is not worth an immediate retry). */
static bool ensure_connected(struct event_store_pg *s, bool *fresh)
{
    *fresh = s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK;
    if (!*fresh)
        return true;
    disconnect(s);
    s->conn = pg_connect_named(s->conninfo, "sse-gateway-reader");
    if (PQstatus(s->conn) != CONNECTION_OK) {
        fail(s, FAIL_CONNECT, PQerrorMessage(s->conn));
        return false;
    }
    return prepare_all(s);
}

/* Runs prepared statement `name` (text parameters, text results). When a
 * connection that had been working turns out broken (the server restarted
 * or killed it while idle), retries once on a fresh one. Returns the result
 * (the caller PQclears it) or NULL after logging a failure of kind. */
static PGresult *exec(struct event_store_pg *s, const char *name, int nparams,
                      const char *const *params, enum failure kind)
{
    for (int attempt = 0;; attempt++) {
        bool fresh;
        if (!ensure_connected(s, &fresh))
            return NULL;
        PGresult *r = PQexecPrepared(s->conn, name, nparams, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            return r;
        PQclear(r);
        if (attempt == 0 && !fresh && PQstatus(s->conn) != CONNECTION_OK) {
            log_info("store", "connection lost while idle: reconnecting");
            disconnect(s);
            continue;
        }
        fail(s, kind, PQerrorMessage(s->conn));
        return NULL;
    }
}

static int64_t int8_at(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Runs an event query and calls fn per row, in order. Returns the row count or -1. */
static long each_event(struct event_store_pg *s, const char *name, int nparams,
                       const char *const *params, stored_event_fn fn, void *arg)
{
    PGresult *r = exec(s, name, nparams, params, FAIL_READ);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        struct stored_event ev = {
            .position = int8_at(r, i, 0),
            .stream = PQgetvalue(r, i, 1),
            .event = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2),
            .data = PQgetvalue(r, i, 3),
            .data_len = (size_t)PQgetlength(r, i, 3),
            .published_us = PQgetisnull(r, i, 4) ? 0 : int8_at(r, i, 4),
        };
        fn(arg, &ev);
    }
    PQclear(r);
    succeeded(s);
    return rows;
}

static long read_after(void *ctx, int64_t after, long limit, stored_event_fn fn, void *arg)
{
    char a[24], l[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%ld", limit);
    const char *params[] = {a, l};
    return each_event(ctx, "sse_read_after", 2, params, fn, arg);
}

struct page {
    stored_event_fn fn;
    void *arg;
    int64_t last; /* position of the last row seen: the next page starts after it */
};

static void page_row(void *arg, const struct stored_event *ev)
{
    struct page *pg = arg;
    pg->last = ev->position;
    pg->fn(pg->arg, ev);
}

static long read_range(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, stored_event_fn fn, void *arg)
{
    char *array = pg_text_array(streams, nstreams);
    char u[24], l[24];
    snprintf(u, sizeof u, "%" PRId64, upto);
    snprintf(l, sizeof l, "%d", PAGE);
    struct page pg = {fn, arg, after};
    long total = 0, rows;
    do {
        char a[24];
        snprintf(a, sizeof a, "%" PRId64, pg.last);
        const char *params[] = {a, u, array, l};
        rows = each_event(ctx, "sse_read_range", 4, params, page_row, &pg);
        total = rows < 0 ? -1 : total + rows;
    } while (rows == PAGE);
    free(array);
    return total;
}

static int bounds(void *ctx, int64_t *head, int64_t *pruned_through)
{
    struct event_store_pg *s = ctx;
    PGresult *r = exec(s, "sse_bounds", 0, NULL, FAIL_STATE);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        fail(s, FAIL_STATE, "sse.state does not hold exactly one row");
        return -1;
    }
    *head = int8_at(r, 0, 0);
    *pruned_through = int8_at(r, 0, 1);
    PQclear(r);
    succeeded(s);
    return 0;
}

struct event_store_ops event_store_pg_ops(struct event_store_pg *s)
{
    return (struct event_store_ops){read_after, read_range, bounds, s};
}
