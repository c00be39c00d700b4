/*
 * Unit tests of the sequencer's step with a fake leader store and a clock
 * moved by hand: taking the leader role (lock granted or refused, and at
 * once on a wake), resigning on drain, the reconnect backoff, the
 * leader_sleeping two-step, the vacuum threshold (and no vacuum by a role
 * that does not own the outbox), the cadences of pruning, lag samples and
 * the fleet row, and a follower's watch of the leader (a lock holder that is
 * not a gateway, an outbox waiting 10 s with the head put), and the hand-over
 * of each committed batch to the dispatcher queue. The real thread runs in
 * one test.
 */
#include "check.h"
#include "common/metrics.h"
#include "db/sequencer.h"
#include "dispatch/dispatch_queue.h"
#include "dispatch/event_store.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_leader_store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define START_MS     10000
#define FLEET_MS     1000
#define RETENTION_MS 3600000

struct rig {
    struct fake_leader_store db;
    struct fake_clock clock;
    struct metrics metrics;
    long connections;
    struct sequencer *s;
};

static long count_connections(void *ctx)
{
    return *(long *)ctx;
}

/* handoff: the dispatch queue committed batches go to, or NULL. */
static void rig_init_handoff(struct rig *r, struct dispatch_queue *handoff)
{
    memset(r, 0, sizeof *r);
    fake_leader_store_init(&r->db);
    fake_clock_init(&r->clock, START_MS);
    metrics_init(&r->metrics);
    r->connections = 7;
    r->s = sequencer_new(&(struct sequencer_deps){
        .store = &r->db.ops,
        .handoff = handoff,
        .instance_id = "gw-1",
        .metrics = &r->metrics,
        .clock = &r->clock.ops,
        .retention_ms = RETENTION_MS,
        .fleet_interval_ms = FLEET_MS,
        .connections = count_connections,
        .connections_ctx = &r->connections,
    });
}

static void rig_init(struct rig *r)
{
    rig_init_handoff(r, NULL);
}

static void rig_free(struct rig *r)
{
    sequencer_free(r->s);
}

static int64_t step(struct rig *r)
{
    return sequencer_step(r->s);
}

static void advance(struct rig *r, int64_t ms)
{
    fake_clock_advance(&r->clock, ms);
}

/* Steps until the leader sleeps (an empty batch after leader_sleeping was
 * set); false if that takes more than 100 steps. */
static bool step_until_asleep(struct rig *r)
{
    for (int i = 0; i < 100; i++)
        if (step(r) == SEQUENCER_IDLE_POLL_MS)
            return true;
    return false;
}

static void test_takes_the_leader_role(void)
{
    struct rig r;
    rig_init(&r);
    CHECK(!sequencer_is_leader(r.s));
    CHECK_EQ(step(&r), 0); /* leader: an empty batch, then one more */
    CHECK_EQ(r.db.calls[FLS_CONNECT], 1);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 1);
    CHECK(r.db.locked);
    CHECK(sequencer_is_leader(r.s));
    CHECK(sequencer_db_ok(r.s));
    CHECK_EQ(atomic_load(&r.metrics.leader), 1);
    /* The fleet row right away, saying so. */
    CHECK(r.db.has_row);
    CHECK_STR(r.db.row_id, "gw-1");
    CHECK(r.db.row.leader);
    CHECK(!r.db.row.draining);
    CHECK_EQ(r.db.row.connections, 7);
    CHECK_EQ(r.db.row.started_us, START_MS * 1000LL);
    CHECK_EQ(r.db.calls[FLS_SEQUENCE_BATCH], 1);
    /* A leader keeps the lock: no more tries. */
    CHECK(step_until_asleep(&r));
    advance(&r, 10 * SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 1);
    CHECK_EQ(r.db.calls[FLS_CONNECT], 1);
    rig_free(&r);
}

static void test_lock_refused(void)
{
    struct rig r;
    rig_init(&r);
    r.db.other_leader = true;
    CHECK_EQ(step(&r), SEQUENCER_TRY_LOCK_MS);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 1);
    CHECK(!sequencer_is_leader(r.s));
    CHECK(sequencer_db_ok(r.s));
    CHECK(r.db.has_row && !r.db.row.leader);
    /* A follower sequences nothing and leaves the leader's chores alone. */
    advance(&r, SEQUENCER_TRY_LOCK_MS - 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 1);
    advance(&r, 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 2);
    CHECK_EQ(r.db.calls[FLS_SEQUENCE_BATCH], 0);
    CHECK_EQ(r.db.calls[FLS_PRUNE], 0);
    CHECK_EQ(r.db.calls[FLS_SAMPLE_LAG], 0);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 0);
    /* The leader resigned: its "sse#wake" makes this one try at once. */
    r.db.other_leader = false;
    step(&r);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 2); /* not due yet */
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(fd >= 0);
    uint64_t one = 1;
    CHECK_EQ(write(fd, &one, sizeof one), (long)sizeof one);
    r.db.socket_fd = fd;
    r.db.notifications = 1;
    sequencer_wait(r.s, 60000); /* the socket is readable: returns at once */
    CHECK_EQ(r.db.calls[FLS_NOTIFICATIONS], 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 3);
    CHECK(sequencer_is_leader(r.s));
    /* A connection that breaks while waiting is lost, and the lock with it. */
    r.db.fail = 1u << FLS_NOTIFICATIONS;
    sequencer_wait(r.s, 60000);
    CHECK(!sequencer_is_leader(r.s));
    CHECK(!sequencer_db_ok(r.s));
    CHECK(!r.db.locked);
    close(fd);
    rig_free(&r);
}

static void test_resigns_on_drain(void)
{
    struct rig r;
    rig_init(&r);
    step(&r);
    CHECK(sequencer_is_leader(r.s));
    CHECK(step_until_asleep(&r));
    int upserts = r.db.calls[FLS_UPSERT_FLEET_ROW], batches = r.db.calls[FLS_SEQUENCE_BATCH];
    sequencer_set_draining(r.s);
    CHECK_EQ(step(&r), SEQUENCER_TRY_LOCK_MS);
    CHECK_EQ(r.db.calls[FLS_RESIGN], 1);
    CHECK(!r.db.locked);
    CHECK(!sequencer_is_leader(r.s));
    CHECK_EQ(atomic_load(&r.metrics.leader), 0);
    /* The fleet row says so now, not at its next due time. */
    CHECK_EQ(r.db.calls[FLS_UPSERT_FLEET_ROW], upserts + 1);
    CHECK(r.db.row.draining);
    CHECK(!r.db.row.leader);
    /* A draining instance never tries again, nor sequences. */
    for (int i = 0; i < 5; i++) {
        advance(&r, SEQUENCER_TRY_LOCK_MS);
        step(&r);
    }
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 1);
    CHECK_EQ(r.db.calls[FLS_RESIGN], 1);
    CHECK_EQ(r.db.calls[FLS_SEQUENCE_BATCH], batches);
    CHECK(r.db.row.draining);
    rig_free(&r);
}

static void test_backoff(void)
{
    struct rig r;
    rig_init(&r);
    r.db.fail = 1u << FLS_CONNECT;
    /* Doubling from the minimum, capped. */
    static const int64_t waits[] = {200, 400, 800, 1600, 3200, 5000, 5000};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        CHECK_EQ(step(&r), waits[i]);
        CHECK_EQ(r.db.calls[FLS_CONNECT], (int)i + 1);
        /* Not before the wait is over. */
        advance(&r, waits[i] - 1);
        CHECK_EQ(step(&r), 1);
        CHECK_EQ(r.db.calls[FLS_CONNECT], (int)i + 1);
        advance(&r, 1);
    }
    CHECK(!sequencer_db_ok(r.s));
    CHECK(!sequencer_is_leader(r.s));
    CHECK_EQ(r.db.calls[FLS_TRY_LOCK], 0);
    /* A connect resets it: the next failure waits the minimum again. */
    r.db.fail = 0;
    CHECK_EQ(step(&r), 0);
    CHECK(sequencer_db_ok(r.s));
    CHECK(sequencer_is_leader(r.s));
    r.db.fail = 1u << FLS_SEQUENCE_BATCH;
    CHECK_EQ(step(&r), SEQUENCER_BACKOFF_MIN_MS);
    CHECK(!sequencer_db_ok(r.s));
    CHECK(!sequencer_is_leader(r.s));
    CHECK_EQ(atomic_load(&r.metrics.leader), 0);
    CHECK(!r.db.locked);
    r.db.fail = 0;
    int connects = r.db.calls[FLS_CONNECT];
    advance(&r, SEQUENCER_BACKOFF_MIN_MS - 1);
    CHECK_EQ(step(&r), 1);
    CHECK_EQ(r.db.calls[FLS_CONNECT], connects);
    advance(&r, 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_CONNECT], connects + 1);
    CHECK(sequencer_is_leader(r.s));
    /* A failure in the housekeeping is lost the same way. */
    r.db.fail = 1u << FLS_UPSERT_FLEET_ROW;
    advance(&r, FLEET_MS);
    CHECK_EQ(step(&r), SEQUENCER_BACKOFF_MIN_MS);
    CHECK(!sequencer_is_leader(r.s));
    CHECK_EQ(r.db.calls[FLS_CONNECT], connects + 1);
    rig_free(&r);
}

static void test_sleeping_two_step(void)
{
    struct rig r;
    rig_init(&r);
    r.db.leader_sleeping = false;
    r.db.outbox = 1500;
    CHECK_EQ(step(&r), 0); /* a full batch: again at once */
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.sequenced, 1500);
    CHECK_EQ(atomic_load(&r.metrics.sequenced_events), 1500);
    CHECK_EQ(r.db.calls[FLS_SET_SLEEPING], 0);
    /* Empty: set the flag, then one more batch, and only then sleep. */
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.calls[FLS_SET_SLEEPING], 1);
    CHECK(r.db.leader_sleeping);
    CHECK_EQ(step(&r), SEQUENCER_IDLE_POLL_MS);
    CHECK_EQ(r.db.calls[FLS_SEQUENCE_BATCH], 4);
    CHECK_EQ(step(&r), SEQUENCER_IDLE_POLL_MS); /* asleep: no flag again */
    CHECK_EQ(r.db.calls[FLS_SET_SLEEPING], 1);
    /* A commit wakes it; the batch that moves rows clears the flag. */
    r.db.outbox = 3;
    CHECK_EQ(step(&r), 0);
    CHECK(!r.db.leader_sleeping);
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.calls[FLS_SET_SLEEPING], 2);
    /* Rows committed between setting the flag and the last batch are
     * sequenced by it, and the two-step starts over. */
    r.db.outbox = 2;
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.sequenced, 1505);
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.calls[FLS_SET_SLEEPING], 3);
    CHECK_EQ(step(&r), SEQUENCER_IDLE_POLL_MS);
    /* A failure to set the flag loses the connection; it is set again. */
    r.db.outbox = 1;
    step(&r);
    r.db.fail = 1u << FLS_SET_SLEEPING;
    CHECK_EQ(step(&r), 0);
    CHECK(!sequencer_db_ok(r.s));
    r.db.fail = 0;
    advance(&r, SEQUENCER_BACKOFF_MIN_MS);
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.calls[FLS_SET_SLEEPING], 5);
    CHECK_EQ(step(&r), SEQUENCER_IDLE_POLL_MS);
    rig_free(&r);
}

static void test_vacuum_threshold(void)
{
    struct rig r;
    rig_init(&r);
    r.db.outbox = SEQUENCER_VACUUM_EVERY_ROWS - 1;
    while (r.db.outbox > 0)
        step(&r);
    step(&r); /* the housekeeping runs at the start of a step */
    CHECK_EQ(r.db.calls[FLS_VACUUM], 0);
    r.db.outbox = 1;
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 0);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 1);
    /* Again after as many rows, but not within VACUUM_MIN_MS. */
    r.db.outbox = SEQUENCER_VACUUM_EVERY_ROWS;
    while (r.db.outbox > 0)
        step(&r);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 1);
    advance(&r, SEQUENCER_VACUUM_MIN_MS - 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 1);
    advance(&r, 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 2);
    /* Idle: nothing to vacuum, however long. */
    advance(&r, 10 * SEQUENCER_VACUUM_MIN_MS);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 2);
    /* Refused (a role without the right): the connection stays, no retries. */
    r.db.fail = 1u << FLS_VACUUM;
    r.db.outbox = SEQUENCER_VACUUM_EVERY_ROWS;
    while (r.db.outbox > 0)
        step(&r);
    advance(&r, SEQUENCER_VACUUM_MIN_MS);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 3);
    CHECK(sequencer_is_leader(r.s));
    CHECK(r.db.connected);
    r.db.fail = 0;
    r.db.outbox = 2 * SEQUENCER_VACUUM_EVERY_ROWS;
    while (r.db.outbox > 0)
        step(&r);
    advance(&r, SEQUENCER_VACUUM_MIN_MS);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 3);
    rig_free(&r);
}

static void test_no_vacuum_unless_owner(void)
{
    struct rig r;
    rig_init(&r);
    r.db.not_owner = true;
    r.db.outbox = 2 * SEQUENCER_VACUUM_EVERY_ROWS;
    while (r.db.outbox > 0)
        step(&r);
    advance(&r, SEQUENCER_VACUUM_MIN_MS);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 0);
    CHECK(sequencer_is_leader(r.s));
    /* Each connect asks again: a role that became the owner vacuums. */
    r.db.not_owner = false;
    r.db.fail = 1u << FLS_SEQUENCE_BATCH;
    step(&r);
    r.db.fail = 0;
    advance(&r, SEQUENCER_BACKOFF_MIN_MS);
    r.db.outbox = SEQUENCER_VACUUM_EVERY_ROWS;
    while (r.db.outbox > 0)
        step(&r);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_VACUUM], 1);
    rig_free(&r);
}

static void test_housekeeping_cadence(void)
{
    struct rig r;
    rig_init(&r);
    r.db.prunable = 5;
    r.db.lag_us = 1234;
    r.db.notify_ppm = 56;
    step(&r);
    /* Pruning and a lag sample as soon as it leads. */
    CHECK_EQ(r.db.calls[FLS_PRUNE], 1);
    CHECK_EQ(r.db.retention_ms, RETENTION_MS);
    CHECK_EQ(r.db.stale_ms, 3 * FLEET_MS);
    CHECK_EQ(atomic_load(&r.metrics.pruned_events), 5);
    CHECK_EQ(r.db.calls[FLS_SAMPLE_LAG], 1);
    CHECK_EQ(atomic_load(&r.metrics.outbox_lag_us), 1234);
    CHECK_EQ(atomic_load(&r.metrics.notify_queue_usage_ppm), 56);
    CHECK_EQ(r.db.calls[FLS_UPSERT_FLEET_ROW], 1);
    /* Then each on its own cadence. */
    int64_t elapsed = 0;
    while (elapsed < SEQUENCER_RETENTION_EVERY_MS - 1) {
        advance(&r, 1);
        elapsed++;
        step(&r);
    }
    CHECK_EQ(r.db.calls[FLS_PRUNE], 1);
    CHECK_EQ(r.db.calls[FLS_SAMPLE_LAG], SEQUENCER_RETENTION_EVERY_MS / SEQUENCER_LAG_EVERY_MS);
    CHECK_EQ(r.db.calls[FLS_UPSERT_FLEET_ROW], SEQUENCER_RETENTION_EVERY_MS / FLEET_MS);
    advance(&r, 1);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_PRUNE], 2);
    CHECK_EQ(atomic_load(&r.metrics.pruned_events), 5);
    /* The fleet row follows the connection count. */
    r.connections = 9;
    advance(&r, FLEET_MS);
    step(&r);
    CHECK_EQ(r.db.row.connections, 9);
    /* A failed prune loses the connection like any other call: no sample. */
    int samples = r.db.calls[FLS_SAMPLE_LAG];
    r.db.fail = 1u << FLS_PRUNE;
    advance(&r, SEQUENCER_RETENTION_EVERY_MS);
    CHECK_EQ(step(&r), SEQUENCER_BACKOFF_MIN_MS);
    CHECK(!sequencer_db_ok(r.s));
    CHECK_EQ(r.db.calls[FLS_SAMPLE_LAG], samples);
    rig_free(&r);
}

static void test_thread_resigns_and_removes_its_row_on_stop(void)
{
    struct rig r;
    rig_init(&r);
    CHECK_EQ(sequencer_start(r.s), 0);
    struct timespec tick = {0, 1000000};
    for (int i = 0; i < 5000 && !sequencer_is_leader(r.s); i++)
        nanosleep(&tick, NULL);
    CHECK(sequencer_is_leader(r.s));
    sequencer_stop(r.s);
    /* The thread is joined: the fake is ours to read. */
    CHECK_EQ(r.db.calls[FLS_RESIGN], 1);
    CHECK(!r.db.locked);
    CHECK_EQ(r.db.calls[FLS_REMOVE_FLEET_ROW], 1);
    CHECK(!r.db.has_row);
    CHECK(!sequencer_is_leader(r.s));
    sequencer_stop(r.s);
    CHECK_EQ(r.db.calls[FLS_RESIGN], 1);
    CHECK_EQ(r.db.calls[FLS_REMOVE_FLEET_ROW], 1);
    rig_free(&r);
}

static int64_t stalled(struct rig *r)
{
    return atomic_load(&r->metrics.sequencer_stalled);
}

static void test_watch_foreign_holder(void)
{
    struct rig r;
    rig_init(&r);
    r.db.other_leader = true;
    r.db.other.holder_gateway = false;
    r.db.other.holder_pid = 77;
    snprintf(r.db.other.holder_app, sizeof r.db.other.holder_app, "psql\nerror: forged");
    step(&r);
    CHECK(!sequencer_is_leader(r.s));
    CHECK_EQ(r.db.calls[FLS_WATCH], 1); /* right after the refused try */
    CHECK_EQ(stalled(&r), 1);           /* at once: nothing else needs to wait */
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK_EQ(r.db.calls[FLS_WATCH], 2);
    CHECK_EQ(stalled(&r), 1);
    /* It lets go: this instance takes over and sequences. */
    r.db.other_leader = false;
    r.db.outbox = 3;
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK(sequencer_is_leader(r.s));
    CHECK_EQ(stalled(&r), 0);
    CHECK_EQ(r.db.sequenced, 3);
    CHECK_EQ(r.db.calls[FLS_WATCH], 2); /* a leader does not watch itself */
    rig_free(&r);
}

static void test_watch_stall(void)
{
    struct rig r;
    rig_init(&r);
    r.db.other_leader = true; /* a gateway, which does not sequence */
    r.db.outbox = 5;
    step(&r);
    CHECK_EQ(stalled(&r), 0);
    for (int64_t waited = SEQUENCER_TRY_LOCK_MS; waited < SEQUENCER_STALL_MS;
         waited += SEQUENCER_TRY_LOCK_MS) {
        advance(&r, SEQUENCER_TRY_LOCK_MS);
        step(&r);
        CHECK_EQ(stalled(&r), 0);
    }
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK_EQ(stalled(&r), 1); /* the outbox waited 10 s with the head put */
    /* The head moves: the leader sequences again. */
    r.db.other.head = 2;
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK_EQ(stalled(&r), 0);
    /* An empty outbox never stalls, however long nothing is sequenced. */
    r.db.outbox = 0;
    advance(&r, 3 * SEQUENCER_STALL_MS);
    step(&r);
    CHECK_EQ(stalled(&r), 0);
    /* Rows come: their 10 s count from the last look that found none. */
    r.db.outbox = 1;
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    advance(&r, SEQUENCER_STALL_MS - 2 * SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK_EQ(stalled(&r), 0);
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK_EQ(stalled(&r), 1);
    /* A failing watch is a lost connection, like any other call. */
    r.db.fail = 1u << FLS_WATCH;
    advance(&r, SEQUENCER_TRY_LOCK_MS);
    step(&r);
    CHECK(!sequencer_db_ok(r.s));
    r.db.fail = 0;
    rig_free(&r);
}

/* A committed batch goes to this instance's dispatcher queue at once: the
 * events in position order with their data, up to SEQUENCER_HANDOFF_BYTES
 * of it; nothing for an empty or failed batch. */
static void test_hands_batches_to_the_dispatcher(void)
{
    struct dispatch_queue *q = dispatch_queue_new();
    struct rig r;
    rig_init_handoff(&r, q);
    CHECK(step_until_asleep(&r));
    CHECK(dispatch_queue_try_pop_all(q) == NULL); /* nothing moved, nothing handed */
    CHECK_EQ(r.db.last_max_bytes, SEQUENCER_HANDOFF_BYTES);
    r.db.outbox = 3;
    CHECK_EQ(step(&r), 0);
    struct dispatch_msg *m = dispatch_queue_try_pop_all(q);
    CHECK(m && m->kind == DISPATCH_EVENTS && !m->next);
    CHECK_EQ(m->nevents, 3);
    for (size_t i = 0; m && i < m->nevents; i++) {
        char want[32];
        snprintf(want, sizeof want, "event %zu", i + 1);
        CHECK_EQ(m->events[i].position, (int64_t)i + 1);
        CHECK_STR(m->events[i].stream, "s");
        CHECK_STR(m->events[i].data, want);
        CHECK_EQ(m->events[i].data_len, strlen(want));
        CHECK(m->events[i].event == NULL);
    }
    dispatch_msg_free(m);
    /* Past the bytes allowed, the store sends no data: only the prefix goes,
     * the dispatcher reads the rest after the NOTIFY. */
    r.db.data_bytes = SEQUENCER_HANDOFF_BYTES / 3 + 1;
    r.db.outbox = 4;
    CHECK_EQ(step(&r), 0);
    m = dispatch_queue_try_pop_all(q);
    CHECK(m && m->kind == DISPATCH_EVENTS && !m->next);
    CHECK_EQ(m->nevents, 2);
    CHECK_EQ(m ? m->events[1].position : 0, 5);
    CHECK_EQ(m ? m->events[1].data_len : 0, r.db.data_bytes);
    dispatch_msg_free(m);
    /* One larger than the whole allowance: nothing handed, all read. */
    r.db.data_bytes = SEQUENCER_HANDOFF_BYTES + 1;
    r.db.outbox = 1;
    CHECK_EQ(step(&r), 0);
    CHECK(dispatch_queue_try_pop_all(q) == NULL);
    /* A batch that fails hands nothing (its commit is not known). */
    r.db.data_bytes = 0;
    r.db.outbox = 2;
    r.db.fail = 1u << FLS_SEQUENCE_BATCH;
    step(&r);
    CHECK(dispatch_queue_try_pop_all(q) == NULL);
    rig_free(&r);
    dispatch_queue_free(q);
}

/* Without a queue the store is asked for no data at all. */
static void test_no_handoff_asks_no_data(void)
{
    struct rig r;
    rig_init(&r);
    r.db.outbox = 2;
    CHECK_EQ(step(&r), 0);
    CHECK_EQ(r.db.sequenced, 2);
    CHECK_EQ(r.db.last_max_bytes, 0);
    rig_free(&r);
}

/* Hand-overs the dispatcher has not taken yet are bounded: past
 * SEQUENCER_HANDOFF_QUEUED bytes a batch is not handed (it is read after
 * its NOTIFY), and once the dispatcher took them, batches go again. */
static void test_handoff_bounded(void)
{
    struct dispatch_queue *q = dispatch_queue_new();
    struct rig r;
    rig_init_handoff(&r, q);
    CHECK(step_until_asleep(&r));
    r.db.data_bytes = SEQUENCER_HANDOFF_BYTES / 2;
    size_t batches = 2 * SEQUENCER_HANDOFF_QUEUED / SEQUENCER_HANDOFF_BYTES + 2;
    for (size_t i = 0; i < batches; i++) {
        r.db.outbox = 1;
        CHECK_EQ(step(&r), 0);
    }
    CHECK_EQ(r.db.sequenced, (int64_t)batches); /* every batch was sequenced */
    struct dispatch_msg *all = dispatch_queue_try_pop_all(q);
    size_t handed = 0, bytes = 0;
    for (struct dispatch_msg *m = all, *next; m; m = next) {
        next = m->next;
        handed++;
        bytes += m->events_bytes;
        dispatch_msg_free(m);
    }
    CHECK(handed > 0 && handed < batches);
    CHECK(bytes <= SEQUENCER_HANDOFF_QUEUED);
    r.db.outbox = 1;
    CHECK_EQ(step(&r), 0);
    struct dispatch_msg *m = dispatch_queue_try_pop_all(q);
    CHECK(m && m->nevents == 1); /* taken: the next batch is handed again */
    dispatch_msg_free(m);
    rig_free(&r);
    dispatch_queue_free(q);
}

int main(void)
{
    test_handoff_bounded();
    test_hands_batches_to_the_dispatcher();
    test_no_handoff_asks_no_data();
    test_takes_the_leader_role();
    test_lock_refused();
    test_resigns_on_drain();
    test_backoff();
    test_sleeping_two_step();
    test_vacuum_threshold();
    test_no_vacuum_unless_owner();
    test_housekeeping_cadence();
    test_watch_foreign_holder();
    test_watch_stall();
    test_thread_resigns_and_removes_its_row_on_stop();
    return CHECK_DONE();
}
