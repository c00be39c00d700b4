/*
 * leader_store_pg: the sequencer's SQL. The leader role is a session
 * advisory lock on this store's connection, so it ends with the connection:
 * a dead instance's backend exits and frees it. Each failing statement logs
 * one line ("what: why") and closes the connection. The fleet row's host and
 * pid are this process's, taken once.
 *
 * Thread: one at a time (the sequencer's, then the caller of its stop).
 * Does not: decide when to call what (the sequencer does).
 */
#include "db/leader_store_pg.h"
#include "common/log.h"
#include "common/pg_ops.h"
#include "common/pg_text.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_ROWS "1000"

struct leader_store_pg {
    char *conninfo; /* fixed after new */
    char *host;     /* fixed after new */
    PGconn *conn;   /* NULL while not connected */
};

struct leader_store_pg *leader_store_pg_new(const char *conninfo)
{
    struct leader_store_pg *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(conninfo ? conninfo : "");
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    s->host = xstrdup(host);
    return s;
}

static void disconnect(struct leader_store_pg *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
}

void leader_store_pg_free(struct leader_store_pg *s)
{
    if (!s)
        return;
    disconnect(s);
    free(s->conninfo);
    free(s->host);
    free(s);
}

/* Logs what failed and why, and closes the connection. Returns -1. */
static int fail(struct leader_store_pg *s, const char *what)
{
    char *why = pg_text_one_line(s->conn ? PQerrorMessage(s->conn) : "no connection");
    log_warn("sequencer", "%s: %s", what, why);
    free(why);
    disconnect(s);
    return -1;
}

/* Runs sql with text params; the result (the caller PQclears it) or NULL
 * after fail(). */
static PGresult *query(struct leader_store_pg *s, const char *sql, int n, const char *const *params,
                       const char *what)
{
    PGresult *r = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        PQclear(r);
        fail(s, what);
        return NULL;
    }
    return r;
}

/* Runs a statement whose result only matters for its status. 0, or -1. */
static int run(struct leader_store_pg *s, const char *sql, int n, const char *const *params,
               const char *what)
{
    PGresult *r = query(s, sql, n, params, what);
    PQclear(r);
    return r ? 0 : -1;
}

/* A server notice as one log line (libpq would print it raw to stderr). */
static void log_notice(void *arg, const PGresult *r)
{
    (void)arg;
    char *msg = pg_text_one_line(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
    log_info("sequencer", "server notice: %s", msg);
    free(msg);
}

static int pg_connect(void *ctx, bool *may_vacuum)
{
    struct leader_store_pg *s = ctx;
    disconnect(s);
    s->conn = pg_connect_named(s->conninfo, LEADER_APP_NAME);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return fail(s, "could not connect");
    if (run(s, "LISTEN \"sse#wake\"", 0, NULL, "could not connect") != 0)
        return -1;
    PQsetNoticeReceiver(s->conn, log_notice, NULL);
    PGresult *r = query(s,
                        "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = "
                        "'sse.outbox'::regclass",
                        0, NULL, "could not connect");
    if (!r)
        return -1;
    *may_vacuum = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return 0;
}

static int try_lock(void *ctx)
{
    struct leader_store_pg *s = ctx;
    PGresult *r = query(s, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")", 0, NULL,
                        "could not try the leader lock");
    if (!r)
        return -1;
    int got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return got;
}

/* Copies a column into a fixed buffer, cut to fit ("" for NULL). */
static void copy_text(char *dst, size_t size, PGresult *r, int col)
{
    snprintf(dst, size, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

static int watch(void *ctx, struct leader_watch *w)
{
    PGresult *r =
        query(ctx,
              "SELECT h.pid, h.usename, h.application_name, h.gateway, (SELECT head "
              "FROM sse.state), EXISTS (SELECT 1 FROM sse.outbox) FROM (" LEADER_HOLDER_SQL ") h",
              0, NULL, "could not watch the leader lock");
    if (!r)
        return -1;
    memset(w, 0, sizeof *w);
    w->held = !PQgetisnull(r, 0, 0);
    w->holder_pid = w->held ? atoi(PQgetvalue(r, 0, 0)) : 0;
    copy_text(w->holder_user, sizeof w->holder_user, r, 1);
    copy_text(w->holder_app, sizeof w->holder_app, r, 2);
    w->holder_gateway = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    w->head = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    w->outbox_pending = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
    PQclear(r);
    return 0;
}

static int resign(void *ctx)
{
    /* The NOTIFY (sent at the unlock's commit) wakes the other instances'
     * sequencers, so one takes over now rather than at its next try. */
    return run(ctx, "SELECT pg_advisory_unlock(" LEADER_LOCK_KEY "), pg_notify('sse#wake', '')", 0,
               NULL, "could not release the leader lock");
}

static long sequence_batch(void *ctx, size_t max_bytes, stored_event_fn fn, void *arg)
{
    char bytes[24];
    snprintf(bytes, sizeof bytes, "%zu", max_bytes);
    const char *params[] = {bytes};
    /* PQexecParams returns once the statement's transaction committed: an
     * error at commit would be its result instead. */
    PGresult *r = query(ctx, "SELECT * FROM sse._sequence_rows(" BATCH_ROWS ", $1::int8)", 1,
                        params, "could not sequence the outbox");
    if (!r)
        return -1;
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        bool has_data = !PQgetisnull(r, i, 3);
        struct stored_event ev = {
            .position = strtoll(PQgetvalue(r, i, 0), NULL, 10),
            .stream = PQgetvalue(r, i, 1),
            .event = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2),
            .data = has_data ? PQgetvalue(r, i, 3) : NULL,
            .data_len = has_data ? (size_t)PQgetlength(r, i, 3) : 0,
            .published_us = strtoll(PQgetvalue(r, i, 4), NULL, 10),
        };
        fn(arg, &ev);
    }
    PQclear(r);
    return rows;
}

static int set_sleeping(void *ctx)
{
    struct leader_store_pg *s = ctx;
    /* The flag only has to be visible to the publishers' commits, and an
     * asynchronous commit is, at once: waiting for its WAL flush cost the
     * leader a third of a millisecond or more each time it went idle. Lost
     * in a crash, it is set again after the reconnect. Two statements in
     * one simple query run as one transaction, so SET LOCAL covers it. */
    PGresult *r = PQexec(s->conn, "SET LOCAL synchronous_commit = off; "
                                  "UPDATE sse.state SET leader_sleeping = true");
    bool done = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return done ? 0 : fail(s, "could not set leader_sleeping");
}

static int upsert_fleet_row(void *ctx, const struct fleet_row *row)
{
    struct leader_store_pg *s = ctx;
    char pid[16], started[32], conns[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(started, sizeof started, "%.6f", (double)row->started_us / 1e6);
    snprintf(conns, sizeof conns, "%ld", row->connections);
    const char *params[] = {
        row->instance_id,       s->host, pid, started, conns, row->draining ? "t" : "f",
        row->leader ? "t" : "f"};
    return run(s,
               "INSERT INTO sse.gateways AS g (id, host, pid, started_at, last_seen, "
               "connections, draining, leader) VALUES ($1, $2, $3, to_timestamp($4), "
               "now(), $5, $6, $7) ON CONFLICT (id) DO UPDATE SET last_seen = now(), "
               "connections = EXCLUDED.connections, draining = EXCLUDED.draining, "
               "leader = EXCLUDED.leader",
               7, params, "could not update the fleet row");
}

static int remove_fleet_row(void *ctx, const char *instance_id)
{
    const char *params[] = {instance_id};
    return run(ctx, "DELETE FROM sse.gateways WHERE id = $1", 1, params,
               "could not remove the fleet row");
}

static long prune(void *ctx, int64_t retention_ms, int64_t stale_ms)
{
    struct leader_store_pg *s = ctx;
    char retention[32], stale[32];
    snprintf(retention, sizeof retention, "%" PRId64 " milliseconds", retention_ms);
    snprintf(stale, sizeof stale, "%" PRId64 " milliseconds", stale_ms);
    const char *p1[] = {retention};
    /* One statement, one transaction: the deletion, the raised bound and the
     * "pruned" notification (sent at commit, so no instance re-reads the
     * bound before it moved) go together, and only when something was
     * deleted. The instances' listeners turn it into a bounds WAKE. */
    PGresult *r = query(s,
                        "WITH d AS (DELETE FROM sse.events WHERE sequenced_at < now() - "
                        "$1::interval RETURNING position), u AS (UPDATE sse.state SET "
                        "pruned_through = GREATEST(pruned_through, m.top) FROM (SELECT "
                        "max(position) AS top FROM d) m WHERE m.top IS NOT NULL RETURNING 1) "
                        "SELECT (SELECT count(*) FROM d), "
                        "(SELECT pg_notify('sse#events', 'pruned') FROM u)",
                        1, p1, "could not prune events");
    if (!r)
        return -1;
    long pruned = PQntuples(r) ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    const char *p2[] = {stale};
    if (run(s, "DELETE FROM sse.gateways WHERE last_seen < now() - $1::interval", 1, p2,
            "could not prune the fleet") != 0)
        return -1;
    return pruned;
}

static int vacuum(void *ctx)
{
    struct leader_store_pg *s = ctx;
    PGresult *r = PQexec(s->conn, "VACUUM sse.outbox, sse.state");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char *why = pg_text_one_line(PQresultErrorMessage(r));
        log_warn("sequencer", "cannot vacuum the outbox, leaving it to autovacuum: %s", why);
        free(why);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static int sample_lag(void *ctx, int64_t *lag_us, int64_t *notify_ppm)
{
    PGresult *r = query(ctx,
                        "SELECT coalesce(extract(epoch FROM now() - min(published_at)), 0), "
                        "pg_notification_queue_usage() FROM sse.outbox",
                        0, NULL, "could not sample the outbox lag");
    if (!r)
        return -1;
    *lag_us = (int64_t)(atof(PQgetvalue(r, 0, 0)) * 1e6);
    *notify_ppm = (int64_t)(atof(PQgetvalue(r, 0, 1)) * 1e6);
    PQclear(r);
    return 0;
}

static int pg_socket(void *ctx)
{
    struct leader_store_pg *s = ctx;
    return s->conn ? PQsocket(s->conn) : -1;
}

static int notifications(void *ctx)
{
    struct leader_store_pg *s = ctx;
    if (!PQconsumeInput(s->conn))
        return fail(s, "lost the connection");
    int n = 0;
    for (PGnotify *note; (note = PQnotifies(s->conn)); n++)
        PQfreemem(note);
    return n;
}

struct leader_store_ops leader_store_pg_ops(struct leader_store_pg *s)
{
    return (struct leader_store_ops){
        .connect = pg_connect,
        .try_lock = try_lock,
        .watch = watch,
        .resign = resign,
        .sequence_batch = sequence_batch,
        .set_sleeping = set_sleeping,
        .upsert_fleet_row = upsert_fleet_row,
        .remove_fleet_row = remove_fleet_row,
        .prune = prune,
        .vacuum = vacuum,
        .sample_lag = sample_lag,
        .socket = pg_socket,
        .notifications = notifications,
        .ctx = s,
    };
}
