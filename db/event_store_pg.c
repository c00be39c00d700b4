/*
 * event_store_pg: reads of durable events over a libpq connection of its
 * own (never the LISTEN one, which must stay free to receive
 * notifications, nor the sequencer's, which holds transactions). The
 * dispatcher and the replayer each have one.
 *
 * Three prepared statements: new events after a position (the live
 * catch-up), a position range filtered by streams (a replay's slice), both
 * bounded in rows and in bytes so no answer is huge whatever the events
 * hold, and the head and pruned_through of sse.state.
 *
 * Connects lazily and prepares on connect. After an error it drops the
 * connection; the next call reconnects (the dispatcher retries on its next
 * wake). A call that fails on a connection that had been working retries
 * once on a fresh one at once, so the catch-up WAKE the listener posts after
 * a database restart is served without waiting for the next wake.
 * Each kind of failure is logged once until a call succeeds again.
 *
 * Thread: its owner's only. Does not: write, or interpret events.
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

/* Every read is bounded twice: an inner LIMIT of rows, then a running sum
 * of data bytes that keeps the rows starting within the byte budget (so at
 * least the first). inner_rows tells the caller whether the range was read
 * to its end. octet_length reads a stored value's size without detoasting
 * it. */
#define BOUNDED(where)                                                                             \
    "SELECT position, stream, event, data, published_us, inner_rows, "                             \
    "bytes_before FROM (SELECT *, sum(octet_length(data)) OVER w - octet_length(data) AS "         \
    "bytes_before, count(*) OVER () AS inner_rows FROM (SELECT position, stream, event, data, "    \
    "(extract(epoch FROM published_at) * 1e6)::int8 AS published_us FROM sse.events "              \
    "WHERE " where " ORDER BY position LIMIT $2::int8) rows WINDOW w AS (ORDER BY position)) t "   \
    "WHERE bytes_before < $3::int8 ORDER BY position"

static const struct {
    const char *name, *sql;
    int nparams;
} statements[] = {
    {"sse_read_after", BOUNDED("position > $1::int8"), 3},
    {"sse_read_range",
     BOUNDED("position > $1::int8 AND position <= $4::int8 AND stream = ANY($5::text[])"), 5},
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

/* Runs a bounded event query and calls fn per row, in order. Returns the
 * row count or -1; *complete: every row of the range was returned. */
static long each_event(struct event_store_pg *s, const char *name, int nparams,
                       const char *const *params, long max_rows, bool *complete, stored_event_fn fn,
                       void *arg)
{
    PGresult *r = exec(s, name, nparams, params, FAIL_READ);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    long inner = rows ? (long)int8_at(r, 0, 5) : 0;
    *complete = inner < max_rows && rows == inner;
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

static long read_after(void *ctx, int64_t after, long max_rows, size_t max_bytes, bool *complete,
                       stored_event_fn fn, void *arg)
{
    char a[24], l[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%ld", max_rows);
    snprintf(b, sizeof b, "%zu", max_bytes);
    const char *params[] = {a, l, b};
    return each_event(ctx, "sse_read_after", 3, params, max_rows, complete, fn, arg);
}

static long read_range(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, long max_rows, size_t max_bytes, bool *complete,
                       stored_event_fn fn, void *arg)
{
    char *array = pg_text_array(streams, nstreams);
    char a[24], l[24], b[24], u[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%ld", max_rows);
    snprintf(b, sizeof b, "%zu", max_bytes);
    snprintf(u, sizeof u, "%" PRId64, upto);
    const char *params[] = {a, l, b, u, array};
    long rows = each_event(ctx, "sse_read_range", 5, params, max_rows, complete, fn, arg);
    free(array);
    return rows;
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
