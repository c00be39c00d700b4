/*
 * sequencer: owns the leader role and this instance's fleet row, on a
 * connection of its own (a leader_store) and a thread of its own. The leader
 * (holder of a session advisory lock) runs sequence_batch in a loop: each
 * batch moves the outbox rows of whole committed transactions into
 * sse.events with the next positions and NOTIFYs "sse#events"
 * (docs/DESIGN.md, The delivery guarantee). While batches keep coming it
 * runs them back to back; when one comes back empty it sets
 * sse.state.leader_sleeping, runs one more batch (anything committed before
 * the flag became visible), and only then sleeps on "sse#wake", which
 * publishers send at commit only while the flag is set. A publisher whose
 * commit-time check ran just before the flag committed is picked up by the
 * short backup poll. Leadership is lost with the connection: a dead leader's
 * backend exits and frees the lock, and another instance takes it within
 * about SEQUENCER_TRY_LOCK_MS.
 *
 * Housekeeping: every instance upserts its sse.gateways row; the leader also
 * prunes retention and stale fleet rows, vacuums the outbox and samples its
 * lag; a follower, after each try for the lock, checks that the leader is a
 * gateway and that it sequences (watch_leader). All timing comes from the
 * injected clock, so tests drive the step.
 */
#include "db/sequencer.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "db/leader_store.h"
#include "dispatch/dispatch_queue.h"
#include "dispatch/event_store.h"

#include <assert.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct sequencer {
    struct sequencer_deps deps;           /* fixed after start */
    const struct leader_store_ops *store; /* fixed after start */
    int64_t started_us;                   /* fixed after start */
    /* Stop and drain requests. The thread sleeps in poll() on its database
     * socket too (for "sse#wake"), which a condvar cannot watch, so the
     * worker's stop reaches it through this eventfd. */
    int wake_fd;           /* fixed after start */
    struct worker *worker; /* fixed after start */
    bool connected;        /* owned by sequencer thread */
    bool leader, sleeping; /* owned by sequencer thread */
    bool drain_noted;      /* owned by sequencer thread */
    int64_t backoff_ms;    /* owned by sequencer thread */
    /* owned by sequencer thread: when each is due (ms) */
    int64_t next_connect, next_try_lock, next_fleet, next_retention, next_lag, next_vacuum;
    int64_t unvacuumed;  /* owned by sequencer thread: rows moved since the last vacuum */
    bool vacuum_refused; /* owned by sequencer thread: not allowed, stop trying */
    /* owned by sequencer thread: a follower's watch of the leader */
    bool watching;                   /* watch_head and progress_ms are set */
    int64_t watch_head, progress_ms; /* the head, and when it last moved (or nothing waited) */
    bool stalled;                    /* the gauge's value */
    int64_t woke_us; /* owned by sequencer thread: wall µs a wait last ended early (debug) */
    int64_t next_stall_log;         /* when a lasting stall is logged again */
    _Atomic bool leader_pub, db_ok; /* shared: mirrors for other threads */
    _Atomic bool draining;          /* shared: set by sequencer_set_draining */
};

static void poke(void *ctx)
{
    struct sequencer *s = ctx;
    uint64_t one = 1;
    ssize_t ignored = write(s->wake_fd, &one, sizeof one);
    (void)ignored;
}

struct sequencer *sequencer_new(const struct sequencer_deps *deps)
{
    struct sequencer *s = xcalloc(1, sizeof *s);
    s->deps = *deps;
    assert(deps->store && deps->metrics && deps->clock);
    s->store = deps->store;
    s->started_us = clock_wall_us(deps->clock);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0)
        abort();
    s->worker = worker_new("sequencer", poke, s);
    s->backoff_ms = SEQUENCER_BACKOFF_MIN_MS;
    return s;
}

static int64_t now_ms(struct sequencer *s)
{
    return clock_now_ms(s->deps.clock);
}

static void set_stalled(struct sequencer *s, bool stalled)
{
    s->stalled = stalled;
    atomic_store(&s->deps.metrics->sequencer_stalled, stalled ? 1 : 0);
}

static void set_leader(struct sequencer *s, bool leader)
{
    if (leader) { /* this instance sequences now; a later watch starts afresh */
        set_stalled(s, false);
        s->watching = false;
    }
    if (leader != s->leader)
        log_info("sequencer", leader ? "became leader" : "no longer leader");
    s->leader = leader;
    atomic_store(&s->leader_pub, leader);
    atomic_store(&s->deps.metrics->leader, leader ? 1 : 0);
}

/* The store closed its connection after a failure (and logged why): the
 * lock went with it. Reconnect after the backoff. */
static void lost(struct sequencer *s)
{
    s->connected = false;
    atomic_store(&s->db_ok, false);
    set_leader(s, false);
    s->next_connect = now_ms(s) + s->backoff_ms;
}

/* Checks a store call's status; false (and the connection lost) on -1. */
static bool ok(struct sequencer *s, long rc)
{
    if (rc < 0)
        lost(s);
    return rc >= 0;
}

static int connect_db(struct sequencer *s, int64_t now)
{
    bool may_vacuum = false;
    if (s->store->connect(s->store->ctx, &may_vacuum) != 0) {
        lost(s);
        s->backoff_ms *= 2;
        if (s->backoff_ms > SEQUENCER_BACKOFF_MAX_MS)
            s->backoff_ms = SEQUENCER_BACKOFF_MAX_MS;
        s->next_connect = now + s->backoff_ms;
        return -1;
    }
    s->connected = true;
    /* VACUUM is the owner's: another role's would only print a warning per
     * table every few thousand rows. Such a leader leaves it to autovacuum. */
    if (!may_vacuum && !s->vacuum_refused)
        log_info("sequencer", "not the owner of sse.outbox: leaving its vacuum to autovacuum");
    s->vacuum_refused = !may_vacuum;
    s->backoff_ms = SEQUENCER_BACKOFF_MIN_MS;
    s->sleeping = false;
    s->next_fleet = s->next_try_lock = now;
    atomic_store(&s->db_ok, true);
    return 0;
}

static void upsert_fleet_row(struct sequencer *s)
{
    struct fleet_row row = {
        .instance_id = s->deps.instance_id,
        .started_us = s->started_us,
        .connections = s->deps.connections ? s->deps.connections(s->deps.connections_ctx) : 0L,
        .draining = atomic_load(&s->draining),
        .leader = s->leader,
    };
    ok(s, s->store->upsert_fleet_row(s->store->ctx, &row));
}

static void prune(struct sequencer *s)
{
    long pruned =
        s->store->prune(s->store->ctx, s->deps.retention_ms, 3 * s->deps.fleet_interval_ms);
    if (!ok(s, pruned))
        return;
    metrics_add(&s->deps.metrics->pruned_events, (uint64_t)pruned);
    if (pruned > 0)
        log_info("sequencer", "pruned %ld events older than the retention", pruned);
}

static void sample_lag(struct sequencer *s)
{
    int64_t lag_us, ppm;
    if (!ok(s, s->store->sample_lag(s->store->ctx, &lag_us, &ppm)))
        return;
    atomic_store(&s->deps.metrics->outbox_lag_us, lag_us);
    atomic_store(&s->deps.metrics->notify_queue_usage_ppm, ppm);
}

static void try_lead(struct sequencer *s)
{
    int got = s->store->try_lock(s->store->ctx);
    if (ok(s, got) && got) {
        s->sleeping = false;
        set_leader(s, true);
    }
}

/* src as printable text: control characters and quotes escaped, so a
 * role or application name cannot break or fake a log line. */
static void escape(char *dst, size_t size, const char *src)
{
    size_t at = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && at + 5 < size; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            at += (size_t)snprintf(dst + at, size - at, "\\x%02x", *p);
        else
            dst[at++] = (char)*p;
    }
    dst[at] = '\0';
}

/* Logs the stall as an error naming the lock's holder, or its absence. */
static void log_stall(const struct leader_watch *w, bool foreign, int64_t waited_ms)
{
    char user[4 * sizeof w->holder_user + 1], app[4 * sizeof w->holder_app + 1];
    escape(user, sizeof user, w->holder_user);
    escape(app, sizeof app, w->holder_app);
    if (foreign)
        log_error("sequencer",
                  "the leader lock is held by a session that is not a gateway: pid %d, user "
                  "\"%s\", application \"%s\"; no event is sequenced, so none is delivered, "
                  "until it lets go",
                  w->holder_pid, user, app);
    else if (w->held)
        log_error("sequencer",
                  "nothing sequenced for %" PRId64 " s while events wait in the outbox; the "
                  "leader lock is held by pid %d, user \"%s\", application \"%s\"",
                  waited_ms / 1000, w->holder_pid, user, app);
    else
        log_error("sequencer",
                  "nothing sequenced for %" PRId64 " s while events wait in the outbox; "
                  "nobody holds the leader lock",
                  waited_ms / 1000);
}

/* A follower's watch of the leader, after each try for the lock. Another
 * session holding the lock, or an outbox that waits while the head stays
 * put, stops delivery on every instance while each looks healthy: say so,
 * by name, at once and then once a minute, and export it. */
static void watch_leader(struct sequencer *s, int64_t now)
{
    struct leader_watch w;
    if (!ok(s, s->store->watch(s->store->ctx, &w)))
        return;
    if (!s->watching || w.head != s->watch_head || !w.outbox_pending) {
        s->watching = true;
        s->watch_head = w.head;
        s->progress_ms = now;
    }
    bool foreign = w.held && !w.holder_gateway;
    bool stuck = w.outbox_pending && now - s->progress_ms >= SEQUENCER_STALL_MS;
    if ((foreign || stuck) && (!s->stalled || now >= s->next_stall_log)) {
        log_stall(&w, foreign, now - s->progress_ms);
        s->next_stall_log = now + SEQUENCER_STALL_LOG_MS;
    } else if (!foreign && !stuck && s->stalled) {
        log_info("sequencer", "the leader sequences again");
    }
    set_stalled(s, foreign || stuck);
}

static void resign(struct sequencer *s)
{
    if (!s->leader || !s->connected)
        return;
    if (ok(s, s->store->resign(s->store->ctx)))
        set_leader(s, false);
}

/* Returns how long until the fleet row is due. */
static int64_t housekeeping(struct sequencer *s, int64_t now)
{
    if (now >= s->next_fleet) {
        upsert_fleet_row(s);
        s->next_fleet = now + s->deps.fleet_interval_ms;
    }
    if (s->connected && s->leader && now >= s->next_retention) {
        prune(s);
        s->next_retention = now + SEQUENCER_RETENTION_EVERY_MS;
    }
    /* The outbox is a queue: every row is inserted, then deleted by a batch.
     * Its dead rows pile up at the low end of the id index, where every batch
     * starts scanning, and autovacuum visits a database once a minute by
     * default: 32,000 moved rows made an empty batch cost 3 ms. A role that
     * may not vacuum leaves it to autovacuum. */
    if (s->connected && s->leader && !s->vacuum_refused &&
        s->unvacuumed >= SEQUENCER_VACUUM_EVERY_ROWS && now >= s->next_vacuum) {
        s->vacuum_refused = s->store->vacuum(s->store->ctx) != 0;
        s->unvacuumed = 0;
        s->next_vacuum = now + SEQUENCER_VACUUM_MIN_MS;
    }
    if (s->connected && s->leader && now >= s->next_lag) {
        sample_lag(s);
        s->next_lag = now + SEQUENCER_LAG_EVERY_MS;
    }
    return s->next_fleet - now;
}

/* A batch's events on their way to this instance's dispatcher: those of
 * the prefix the store returned with their data, in position order. */
struct handoff {
    struct sequencer *s;
    struct dispatch_msg *m; /* NULL until the first event */
    bool cut;               /* an event came without its data: it and the rest are read */
    int64_t head;           /* the last position moved */
};

static void collect(void *arg, const struct stored_event *ev)
{
    struct handoff *h = arg;
    h->head = ev->position;
    if (h->cut || !ev->data || !h->s->deps.handoff) {
        h->cut = true;
        return;
    }
    if (!h->m)
        h->m = dispatch_msg_events();
    dispatch_msg_add_event(h->m, ev);
}

/* The leader's part of the step: one batch, then how long to wait. A batch
 * that committed goes straight to this instance's dispatcher (the store
 * calls back only after the commit), so it fans out without waiting for
 * its NOTIFY and reading the batch back; the other instances still learn of
 * it by the NOTIFY. At --log-level debug each batch that moved rows logs
 * its times (wall µs), which bench/run's breakdown joins with the events:
 * when a wait ended early (a wake; 0 if the batch followed another), and
 * when the batch started and came back committed. */
static int64_t sequence(struct sequencer *s)
{
    bool timed = log_enabled(LOG_DEBUG);
    int64_t start_us = timed ? clock_wall_us(s->deps.clock) : 0, woke_us = s->woke_us;
    s->woke_us = 0;
    struct handoff h = {.s = s};
    long moved = s->store->sequence_batch(
        s->store->ctx, s->deps.handoff ? SEQUENCER_HANDOFF_BYTES : 0, collect, &h);
    /* A dispatcher busy with a slow read would let hand-overs pile up:
     * past the bound they are dropped, and it reads them after the NOTIFY. */
    if (h.m)
        h.m->posted_us = timed ? clock_wall_us(s->deps.clock) : 0;
    if (!h.m || moved <= 0 || !dispatch_queue_offer(s->deps.handoff, h.m, SEQUENCER_HANDOFF_QUEUED))
        dispatch_msg_free(h.m);
    if (!ok(s, moved))
        return s->backoff_ms;
    if (timed && moved > 0)
        log_record(LOG_DEBUG, "sequencer", "batch sequenced", LOG_INT("head", h.head),
                   LOG_INT("events", moved), LOG_INT("woke_us", woke_us),
                   LOG_INT("start_us", start_us), LOG_INT("done_us", clock_wall_us(s->deps.clock)));
    if (moved > 0) {
        metrics_add(&s->deps.metrics->sequenced_events, (uint64_t)moved);
        s->unvacuumed += moved;
        s->sleeping = false;
        return 0;
    }
    if (!s->sleeping) {
        s->sleeping = ok(s, s->store->set_sleeping(s->store->ctx));
        return 0; /* one more batch before sleeping */
    }
    return SEQUENCER_IDLE_POLL_MS;
}

int64_t sequencer_step(struct sequencer *s)
{
    int64_t now = now_ms(s);
    if (!s->connected && (now < s->next_connect || connect_db(s, now) != 0))
        return s->next_connect - now;
    if (atomic_load(&s->draining)) {
        if (!s->drain_noted) { /* show draining in the fleet row now */
            s->drain_noted = true;
            s->next_fleet = now;
        }
        resign(s);
    } else if (!s->leader && now >= s->next_try_lock) {
        try_lead(s);
        if (s->connected && !s->leader)
            watch_leader(s, now);
        s->next_try_lock = now + SEQUENCER_TRY_LOCK_MS;
    }
    int64_t until_fleet = s->connected ? housekeeping(s, now) : 0;
    if (!s->connected)
        return s->backoff_ms;
    if (!s->leader)
        return until_fleet < SEQUENCER_TRY_LOCK_MS ? until_fleet : SEQUENCER_TRY_LOCK_MS;
    return sequence(s);
}

void sequencer_wait(struct sequencer *s, int64_t ms)
{
    int sock = s->connected ? s->store->socket(s->store->ctx) : -1;
    struct pollfd fds[2] = {{s->wake_fd, POLLIN, 0}, {sock, POLLIN, 0}};
    if (poll(fds, 2, (int)(ms > 60000 ? 60000 : ms)) <= 0)
        return;
    if (log_enabled(LOG_DEBUG))
        s->woke_us = clock_wall_us(s->deps.clock);
    if (fds[0].revents) {
        uint64_t v;
        ssize_t ignored = read(s->wake_fd, &v, sizeof v);
        (void)ignored;
    }
    if (fds[1].revents && s->connected) {
        int n = s->store->notifications(s->store->ctx);
        if (ok(s, n) && n > 0)
            s->next_try_lock = 0; /* a wake may mean the leader resigned: try now */
    }
}

static void *run(void *arg)
{
    struct sequencer *s = arg;
    while (!worker_stopping(s->worker)) {
        int64_t ms = sequencer_step(s);
        if (ms > 0 && !worker_stopping(s->worker))
            sequencer_wait(s, ms);
    }
    return NULL;
}

int sequencer_start(struct sequencer *s)
{
    return worker_start(s->worker, run, s);
}

void sequencer_set_draining(struct sequencer *s)
{
    atomic_store(&s->draining, true);
    poke(s);
}

void sequencer_stop(struct sequencer *s)
{
    if (!s || !worker_stop(s->worker))
        return;
    /* The thread is gone: its connection is ours now. */
    if (s->connected)
        resign(s);
    if (s->connected)
        ok(s, s->store->remove_fleet_row(s->store->ctx, s->deps.instance_id));
}

void sequencer_free(struct sequencer *s)
{
    if (!s)
        return;
    sequencer_stop(s);
    worker_free(s->worker);
    close(s->wake_fd);
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
