/*
 * event_store_pg: the dispatcher's reads of durable events, over a libpq
 * connection of its own (never the LISTEN one, which must stay free to
 * receive notifications). Connects lazily and, after any error, drops the
 * connection so the next call reconnects: the dispatcher retries on its next
 * wake. Dispatcher thread only.
 */
#include "event_store.h"
#include "log.h"
#include "pg_ops.h"
#include "xalloc.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 1000

struct event_store_pg {
    char *conninfo;
    PGconn *conn;
    bool failing; /* log a failure once until the next success */
};

static const char read_after_sql[] =
    "SELECT position, stream, event, data, (extract(epoch FROM published_at) * 1e6)::int8 "
    "FROM sse.events WHERE position > $1::int8 ORDER BY position LIMIT $2::int8";
static const char read_range_sql[] =
    "SELECT position, stream, event, data, (extract(epoch FROM published_at) * 1e6)::int8 "
    "FROM sse.events WHERE position > $1::int8 AND position <= $2::int8 "
    "AND stream = ANY($3::text[]) ORDER BY position LIMIT $4::int8";

struct event_store_pg *event_store_pg_new(const char *conninfo)
{
    struct event_store_pg *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(conninfo ? conninfo : "");
    return s;
}

void event_store_pg_free(struct event_store_pg *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s->conninfo);
    free(s);
}

static void fail(struct event_store_pg *s, const char *what)
{
    if (!s->failing)
        log_warn("store", "%s: %s", what, s->conn ? PQerrorMessage(s->conn) : "no connection");
    s->failing = true;
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
}

static bool connected(struct event_store_pg *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return true;
    if (s->conn)
        PQfinish(s->conn);
    s->conn = pg_connect_named(s->conninfo, "sse-gateway-reader");
    if (PQstatus(s->conn) != CONNECTION_OK) {
        fail(s, "could not connect");
        return false;
    }
    return true;
}

/* Runs a query and calls fn per row; returns the row count or -1. */
static long run(struct event_store_pg *s, const char *sql, int nparams, const char *const *params,
                stored_event_fn fn, void *arg)
{
    if (!connected(s))
        return -1;
    PGresult *r = PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        fail(s, "could not read events");
        return -1;
    }
    long rows = PQntuples(r);
    for (long i = 0; i < rows; i++) {
        struct stored_event ev = {
            .position = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10),
            .stream = PQgetvalue(r, (int)i, 1),
            .event = PQgetisnull(r, (int)i, 2) ? NULL : PQgetvalue(r, (int)i, 2),
            .data = PQgetvalue(r, (int)i, 3),
            .data_len = (size_t)PQgetlength(r, (int)i, 3),
            .published_us = strtoll(PQgetvalue(r, (int)i, 4), NULL, 10),
        };
        fn(arg, &ev);
    }
    PQclear(r);
    if (s->failing)
        log_info("store", "reading events again");
    s->failing = false;
    return rows;
}

static long read_after(void *ctx, int64_t after, long limit, stored_event_fn fn, void *arg)
{
    char a[32], l[32];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%ld", limit);
    const char *params[] = {a, l};
    return run(ctx, read_after_sql, 2, params, fn, arg);
}

/* A text[] literal: {"a","b"} with quotes and backslashes escaped. */
static char *text_array(const char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(items[i]) + 3;
    char *out = xmalloc(cap), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *c = items[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

struct page_state {
    stored_event_fn fn;
    void *arg;
    int64_t last;
};

static void page_row(void *arg, const struct stored_event *ev)
{
    struct page_state *st = arg;
    st->last = ev->position;
    st->fn(st->arg, ev);
}

static long read_range(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, stored_event_fn fn, void *arg)
{
    char *array = text_array(streams, nstreams);
    struct page_state st = {fn, arg, after};
    long total = 0, rows;
    do {
        char a[32], u[32], l[32];
        snprintf(a, sizeof a, "%" PRId64, st.last);
        snprintf(u, sizeof u, "%" PRId64, upto);
        snprintf(l, sizeof l, "%d", PAGE);
        const char *params[] = {a, u, array, l};
        rows = run(ctx, read_range_sql, 4, params, page_row, &st);
        if (rows < 0) {
            total = -1;
            break;
        }
        total += rows;
    } while (rows == PAGE);
    free(array);
    return total;
}

static int bounds(void *ctx, int64_t *head, int64_t *pruned_through)
{
    struct event_store_pg *s = ctx;
    if (!connected(s))
        return -1;
    PGresult *r = PQexec(s->conn, "SELECT head, pruned_through FROM sse.state");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        PQclear(r);
        fail(s, "could not read sse.state");
        return -1;
    }
    *head = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *pruned_through = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return 0;
}

struct event_store_ops event_store_pg_ops(struct event_store_pg *s)
{
    return (struct event_store_ops){read_after, read_range, bounds, s};
}
