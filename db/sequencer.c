/*
 * sequencer: owns the leader role and this instance's fleet row, on a
 * connection of its own and a thread of its own. The leader (holder of a
 * session advisory lock) calls sse._sequence() in a loop: each call moves the
 * outbox rows of whole committed transactions into sse.events with the next
 * positions and NOTIFYs "sse#events" (docs/DESIGN.md, The delivery guarantee). While batches keep
 * coming it runs them back to back; when one comes back empty it sets sse.state.leader_sleeping,
 * runs one more batch (anything committed before the flag became visible), and only then sleeps on
 * "sse#wake", which publishers send at commit only while the flag is set. A publisher whose
 * commit-time check ran just before the flag committed is picked up by the
 * short backup poll. Leadership is lost with the connection: a dead leader's
 * backend exits and frees the lock, and another instance takes it within
 * about TRY_LOCK_MS.
 *
 * Housekeeping: every instance upserts its sse.gateways row; the leader also
 * prunes retention and stale fleet rows and samples the outbox lag.
 */
#include "db/sequencer.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg_ops.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LEADER_LOCK_KEY    "6004712034128654481" /* a fixed key for pg_try_advisory_lock */
#define BATCH_ROWS         "1000"
#define IDLE_POLL_MS       100
#define TRY_LOCK_MS        500
#define RETENTION_EVERY_MS 5000
#define LAG_EVERY_MS       1000
#define BACKOFF_MAX_MS     5000
/* The outbox is a queue: every row is inserted, then deleted by a batch. Its
 * dead rows pile up at the low end of the id index, which is where every
 * batch starts scanning, and autovacuum visits a database once a minute by
 * default: 32,000 moved rows made an empty batch cost 3 ms. So the leader
 * vacuums the outbox (and the one-row state table) itself after this many
 * rows, at most once per VACUUM_MIN_MS. */
#define VACUUM_EVERY_ROWS 2000
#define VACUUM_MIN_MS     250

struct sequencer {
    struct sequencer_deps deps; /* fixed after start */
    char *host;                 /* fixed after start */
    int64_t started_us;         /* fixed after start */
    int wake_fd;                /* fixed after start: stop and drain requests */
    pthread_t thread;           /* fixed after start */
    bool started;               /* owned by the caller of start/stop */
    PGconn *conn;               /* owned by sequencer thread */
    bool leader, sleeping;      /* owned by sequencer thread */
    bool drain_noted;           /* owned by sequencer thread */
    int64_t backoff_ms, next_connect, next_try_lock, next_fleet, next_retention, next_lag;
    int64_t next_vacuum, unvacuumed; /* owned by sequencer thread */
    bool vacuum_refused;             /* owned by sequencer thread: not allowed, stop trying */
    _Atomic bool leader_pub, db_ok, draining, stopping;
};

struct sequencer *sequencer_new(const struct sequencer_deps *deps)
{
    struct sequencer *s = xcalloc(1, sizeof *s);
    s->deps = *deps;
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    s->host = xstrdup(host);
    s->started_us = clock_wall_us(deps->clock);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0)
        abort();
    s->backoff_ms = 100;
    return s;
}

static void set_leader(struct sequencer *s, bool leader)
{
    if (leader != s->leader)
        log_info("sequencer", leader ? "became leader" : "no longer leader");
    s->leader = leader;
    atomic_store(&s->leader_pub, leader);
    atomic_store(&s->deps.metrics->leader, leader ? 1 : 0);
}

static void drop_connection(struct sequencer *s, const char *what)
{
    log_warn("sequencer", "%s: %s", what, s->conn ? PQerrorMessage(s->conn) : "no connection");
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    atomic_store(&s->db_ok, false);
    set_leader(s, false);
    s->next_connect = clock_now_ms(s->deps.clock) + s->backoff_ms;
}

/* Runs sql with params; returns the result (caller PQclears) or NULL after dropping the conn. */
static PGresult *query(struct sequencer *s, const char *sql, int n, const char *const *params,
                       const char *what)
{
    PGresult *r = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        PQclear(r);
        drop_connection(s, what);
        return NULL;
    }
    return r;
}

/* A server notice as one log line (libpq would print it raw to stderr). */
static void log_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    log_info("sequencer", "server notice: %s", msg ? msg : "(none)");
}

static int connect_db(struct sequencer *s, int64_t now)
{
    s->conn = pg_connect_named(s->deps.conninfo, "sse-gateway-sequencer");
    PGresult *r = NULL;
    if (PQstatus(s->conn) != CONNECTION_OK ||
        !(r = query(s, "LISTEN \"sse#wake\"", 0, NULL, "could not connect"))) {
        if (s->conn)
            drop_connection(s, "could not connect");
        s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
        s->next_connect = now + s->backoff_ms;
        return -1;
    }
    PQclear(r);
    PQsetNoticeReceiver(s->conn, log_notice, NULL);
    /* VACUUM is the owner's: another role's would only print a warning per
     * table every few thousand rows. Such a leader leaves it to autovacuum. */
    r = query(s,
              "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = "
              "'sse.outbox'::regclass",
              0, NULL, "could not connect");
    if (!r)
        return -1;
    bool owner = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!owner && !s->vacuum_refused)
        log_info("sequencer", "not the owner of sse.outbox: leaving its vacuum to autovacuum");
    s->vacuum_refused = !owner;
    s->backoff_ms = 100;
    s->sleeping = false;
    s->next_fleet = s->next_try_lock = now;
    atomic_store(&s->db_ok, true);
    return 0;
}

static void upsert_fleet_row(struct sequencer *s)
{
    char pid[16], started[32], conns[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(started, sizeof started, "%.6f", (double)s->started_us / 1e6);
    snprintf(conns, sizeof conns, "%ld",
             s->deps.connections ? s->deps.connections(s->deps.connections_ctx) : 0L);
    const char *params[] = {
        s->deps.instance_id,  s->host, pid, started, conns, atomic_load(&s->draining) ? "t" : "f",
        s->leader ? "t" : "f"};
    PGresult *r = query(s,
                        "INSERT INTO sse.gateways AS g (id, host, pid, started_at, last_seen, "
                        "connections, draining, leader) VALUES ($1, $2, $3, to_timestamp($4), "
                        "now(), $5, $6, $7) ON CONFLICT (id) DO UPDATE SET last_seen = now(), "
                        "connections = EXCLUDED.connections, draining = EXCLUDED.draining, "
                        "leader = EXCLUDED.leader",
                        7, params, "could not update the fleet row");
    PQclear(r);
}

static void prune(struct sequencer *s)
{
    char retention[32], stale[32];
    snprintf(retention, sizeof retention, "%" PRId64 " milliseconds", s->deps.retention_ms);
    snprintf(stale, sizeof stale, "%" PRId64 " milliseconds", 3 * s->deps.fleet_interval_ms);
    const char *p1[] = {retention};
    PGresult *r = query(s,
                        "WITH d AS (DELETE FROM sse.events WHERE sequenced_at < now() - "
                        "$1::interval RETURNING position) UPDATE sse.state SET pruned_through = "
                        "GREATEST(pruned_through, (SELECT coalesce(max(position), 0) FROM d)) "
                        "RETURNING (SELECT count(*) FROM d)",
                        1, p1, "could not prune events");
    if (!r)
        return;
    long pruned = PQntuples(r) ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    metrics_add(&s->deps.metrics->pruned_events, (uint64_t)pruned);
    if (pruned > 0)
        log_info("sequencer", "pruned %ld events older than the retention", pruned);
    const char *p2[] = {stale};
    PQclear(query(s, "DELETE FROM sse.gateways WHERE last_seen < now() - $1::interval", 1, p2,
                  "could not prune the fleet"));
}

/* Not fatal: a role that may publish but not vacuum leaves it to autovacuum. */
static void vacuum_queues(struct sequencer *s)
{
    PGresult *r = PQexec(s->conn, "VACUUM sse.outbox, sse.state");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_warn("sequencer", "cannot vacuum the outbox, leaving it to autovacuum: %s",
                 PQresultErrorMessage(r));
        s->vacuum_refused = true;
    }
    PQclear(r);
    s->unvacuumed = 0;
}

static void sample_lag(struct sequencer *s)
{
    PGresult *r = query(s,
                        "SELECT coalesce(extract(epoch FROM now() - min(published_at)), 0), "
                        "pg_notification_queue_usage() FROM sse.outbox",
                        0, NULL, "could not sample the outbox lag");
    if (!r)
        return;
    atomic_store(&s->deps.metrics->outbox_lag_us, (int64_t)(atof(PQgetvalue(r, 0, 0)) * 1e6));
    atomic_store(&s->deps.metrics->notify_queue_usage_ppm,
                 (int64_t)(atof(PQgetvalue(r, 0, 1)) * 1e6));
    PQclear(r);
}

static void try_lead(struct sequencer *s)
{
    PGresult *r = query(s, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")", 0, NULL,
                        "could not try the leader lock");
    if (!r)
        return;
    bool got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (got) {
        s->sleeping = false;
        set_leader(s, true);
    }
}

static void resign(struct sequencer *s)
{
    if (!s->leader || !s->conn)
        return;
    /* The NOTIFY (sent at the unlock's commit) wakes the other instances'
     * sequencers, so one takes over now rather than at its next try. */
    PQclear(query(s, "SELECT pg_advisory_unlock(" LEADER_LOCK_KEY "), pg_notify('sse#wake', '')", 0,
                  NULL, "could not release the leader lock"));
    set_leader(s, false);
}

/* One batch: rows moved, or -1 after an error. */
static long sequence_batch(struct sequencer *s)
{
    PGresult *r = query(s, "SELECT moved FROM sse._sequence(" BATCH_ROWS ")", 0, NULL,
                        "could not sequence the outbox");
    if (!r)
        return -1;
    long moved = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return moved;
}

static int64_t housekeeping(struct sequencer *s, int64_t now)
{
    if (now >= s->next_fleet) {
        upsert_fleet_row(s);
        s->next_fleet = now + s->deps.fleet_interval_ms;
    }
    if (s->conn && s->leader && now >= s->next_retention) {
        prune(s);
        s->next_retention = now + RETENTION_EVERY_MS;
    }
    if (s->conn && s->leader && !s->vacuum_refused && s->unvacuumed >= VACUUM_EVERY_ROWS &&
        now >= s->next_vacuum) {
        vacuum_queues(s);
        s->next_vacuum = now + VACUUM_MIN_MS;
    }
    if (s->conn && s->leader && now >= s->next_lag) {
        sample_lag(s);
        s->next_lag = now + LAG_EVERY_MS;
    }
    return s->next_fleet - now;
}

int64_t sequencer_step(struct sequencer *s)
{
    int64_t now = clock_now_ms(s->deps.clock);
    if (!s->conn && (now < s->next_connect || connect_db(s, now) != 0))
        return s->next_connect - now;
    if (atomic_load(&s->draining)) {
        if (!s->drain_noted) { /* show draining in the fleet row now */
            s->drain_noted = true;
            s->next_fleet = now;
        }
        resign(s);
    } else if (!s->leader && now >= s->next_try_lock) {
        try_lead(s);
        s->next_try_lock = now + TRY_LOCK_MS;
    }
    int64_t until_fleet = s->conn ? housekeeping(s, now) : 0;
    if (!s->conn)
        return s->backoff_ms;
    if (!s->leader)
        return until_fleet < TRY_LOCK_MS ? until_fleet : TRY_LOCK_MS;
    long moved = sequence_batch(s);
    if (moved < 0)
        return s->backoff_ms;
    if (moved > 0) {
        metrics_add(&s->deps.metrics->sequenced_events, (uint64_t)moved);
        s->unvacuumed += moved;
        s->sleeping = false;
        return 0;
    }
    if (!s->sleeping) {
        PGresult *r = query(s, "UPDATE sse.state SET leader_sleeping = true", 0, NULL,
                            "could not set leader_sleeping");
        PQclear(r);
        s->sleeping = r != NULL;
        return 0; /* one more batch before sleeping */
    }
    return IDLE_POLL_MS;
}

/* Sleeps up to ms, waking early on "sse#wake", drain or stop. */
static void wait_for(struct sequencer *s, int64_t ms)
{
    struct pollfd fds[2] = {{s->wake_fd, POLLIN, 0}, {s->conn ? PQsocket(s->conn) : -1, POLLIN, 0}};
    if (poll(fds, 2, (int)(ms > 60000 ? 60000 : ms)) <= 0)
        return;
    if (fds[0].revents) {
        uint64_t v;
        ssize_t ignored = read(s->wake_fd, &v, sizeof v);
        (void)ignored;
    }
    if (fds[1].revents && s->conn) {
        if (!PQconsumeInput(s->conn)) {
            drop_connection(s, "lost the connection");
            return;
        }
        PGnotify *n;
        while ((n = PQnotifies(s->conn))) {
            PQfreemem(n);
            s->next_try_lock = 0; /* a wake may mean the leader resigned: try now */
        }
    }
}

static void *run(void *arg)
{
    struct sequencer *s = arg;
    while (!atomic_load(&s->stopping)) {
        int64_t ms = sequencer_step(s);
        if (ms > 0 && !atomic_load(&s->stopping))
            wait_for(s, ms);
    }
    return NULL;
}

int sequencer_start(struct sequencer *s)
{
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        log_error("sequencer", "could not start thread");
        return -1;
    }
    s->started = true;
    return 0;
}

static void poke(struct sequencer *s)
{
    uint64_t one = 1;
    ssize_t ignored = write(s->wake_fd, &one, sizeof one);
    (void)ignored;
}

void sequencer_set_draining(struct sequencer *s)
{
    atomic_store(&s->draining, true);
    poke(s);
}

void sequencer_stop(struct sequencer *s)
{
    if (!s || !s->started)
        return;
    atomic_store(&s->stopping, true);
    poke(s);
    PTOK(pthread_join(s->thread, NULL));
    s->started = false;
    /* The thread is gone: its connection is ours now. */
    if (s->conn) {
        resign(s);
        const char *params[] = {s->deps.instance_id};
        if (s->conn)
            PQclear(query(s, "DELETE FROM sse.gateways WHERE id = $1", 1, params,
                          "could not remove the fleet row"));
    }
}

void sequencer_free(struct sequencer *s)
{
    if (!s)
        return;
    sequencer_stop(s);
    if (s->conn)
        PQfinish(s->conn);
    close(s->wake_fd);
    free(s->host);
    free(s);
}

bool sequencer_is_leader(struct sequencer *s)
{
    return atomic_load(&s->leader_pub);
}

bool sequencer_db_ok(struct sequencer *s)
{
    return atomic_load(&s->db_ok);
}
