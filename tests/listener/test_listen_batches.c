/*
 * Unit tests of the listener's LISTEN batches and channel cap, over
 * tests/fakes/fake_pg: a (re)connect LISTENs every channel in a few round
 * trips, many subscribers arriving together share one, the health check
 * UNLISTENs in batches too, and hands on notifications between its slices,
 * and --max-listen-channels leaves new streams
 * without a channel (counted, and free again once channels are forgotten).
 * The concurrent test runs the real loop with threads calling
 * listener_ensure_many while slow statements hold the listener thread.
 */
#include "check.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "dispatch/dispatch_queue.h"
#include "fakes/fake_pg.h"
#include "listener/listener.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 5000

struct rig {
    struct fake_pg *pg;
    struct pg_ops ops;
    struct dispatch_queue *queue;
    struct metrics metrics;
    struct listener *l;
    _Atomic bool none_in_use; /* stream_in_use answers false for every stream */
    bool notify_once;         /* a notification arrives at the next stream_in_use */
};

static bool stream_in_use(void *ctx, const char *stream)
{
    (void)stream;
    struct rig *r = ctx;
    if (r->notify_once)
        fake_pg_notify(r->pg, "s0", "meanwhile");
    r->notify_once = false;
    return !atomic_load(&r->none_in_use);
}

static void rig_init(struct rig *r, int64_t health_check_ms, long max_channels)
{
    memset(r, 0, sizeof *r);
    r->pg = fake_pg_new();
    r->ops = fake_pg_ops(r->pg);
    r->queue = dispatch_queue_new();
    metrics_init(&r->metrics);
    r->l = listener_new(&(struct listener_deps){
        .pg = &r->ops,
        .conninfo = "fake",
        .queue = r->queue,
        .metrics = &r->metrics,
        .clock = &system_clock,
        .stream_in_use = stream_in_use,
        .stream_ctx = r,
        .health_check_ms = health_check_ms,
        .max_channels = max_channels,
    });
}

static void rig_free(struct rig *r)
{
    listener_free(r->l);
    CHECK(!fake_pg_open(r->pg));
    for (struct dispatch_msg *m = dispatch_queue_try_pop_all(r->queue), *next; m; m = next) {
        next = m->next;
        dispatch_msg_free(m);
    }
    dispatch_queue_free(r->queue);
    fake_pg_free(r->pg);
}

static int listens_of(struct rig *r, const char *verb, const char *stream)
{
    char sql[128];
    snprintf(sql, sizeof sql, "%s \"%s\"", verb, stream);
    return fake_pg_count(r->pg, sql);
}

static int64_t gauge(struct rig *r)
{
    return atomic_load(&r->metrics.listen_channels);
}

static uint64_t refused(struct rig *r)
{
    return atomic_load(&r->metrics.listen_channels_refused);
}

static void test_connect_batches(void)
{
    struct rig r;
    rig_init(&r, 1000, 2000);
    char names[1200][16];
    for (int i = 0; i < 1200; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        CHECK_EQ(listener_ensure(r.l, names[i]), -1); /* not connected: LISTENed on connect */
    }
    CHECK_EQ(gauge(&r), 1200);
    CHECK_EQ(listener_connect_once(r.l), 0);
    /* 1,202 channels (the two fixed ones too), 500 to a round trip. */
    CHECK_EQ(fake_pg_round_trips(r.pg), 3);
    CHECK_EQ(listens_of(&r, "LISTEN", "sse#events"), 1);
    CHECK_EQ(listens_of(&r, "LISTEN", "s0"), 1);
    CHECK_EQ(listens_of(&r, "LISTEN", "s1199"), 1);
    free(fake_pg_take_log(r.pg));
    /* A subscriber of many streams, some new: one round trip for the new ones.
     * With no thread, the ensure cannot wait: the next connect takes them. */
    const char *mixed[] = {"s1", "new-a", "s2", "new-b"};
    CHECK_EQ(listener_ensure_many(r.l, mixed, 4), -1);
    CHECK_EQ(gauge(&r), 1202);
    CHECK_EQ(listener_ensure_many(r.l, mixed, 0), 0); /* no stream: nothing to do */
    rig_free(&r);
}

static void test_cap(void)
{
    struct rig r;
    rig_init(&r, 1000, 3);
    CHECK_EQ(listener_connect_once(r.l), 0);
    const char *abc[] = {"a", "b", "c"};
    CHECK_EQ(listener_ensure_many(r.l, abc, 3), -1); /* no loop to ack: counted in the set */
    CHECK_EQ(gauge(&r), 3);
    CHECK_EQ(refused(&r), 0);
    /* Over the cap: no channel, nothing to wait for, counted each time. */
    CHECK_EQ(listener_ensure(r.l, "d"), 0);
    CHECK_EQ(listener_ensure(r.l, "d"), 0);
    const char *mixed[] = {"a", "e"};
    CHECK_EQ(listener_ensure_many(r.l, mixed, 2), -1); /* a is known but not LISTENed yet */
    CHECK_EQ(refused(&r), 3);
    CHECK_EQ(gauge(&r), 3);
    /* The channels already in the set are LISTENed on the next connect;
     * the refused ones are not. */
    fake_pg_fail_consume(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    fake_pg_fail_consume(r.pg, false);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(listens_of(&r, "LISTEN", "c"), 1);
    CHECK_EQ(listens_of(&r, "LISTEN", "d"), 0);
    CHECK_EQ(listens_of(&r, "LISTEN", "e"), 0);
    CHECK_EQ(listener_ensure_many(r.l, abc, 3), 0); /* LISTENed now: at once */
    /* Forgotten channels make room, and a batch of UNLISTENs is one round trip. */
    atomic_store(&r.none_in_use, true);
    CHECK_EQ(listener_health_once(r.l), 0);
    int before = fake_pg_round_trips(r.pg);
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_round_trips(r.pg) - before, 2); /* SELECT 1, then the three UNLISTENs */
    CHECK_EQ(listens_of(&r, "UNLISTEN", "a") + listens_of(&r, "UNLISTEN", "b") +
                 listens_of(&r, "UNLISTEN", "c"),
             3);
    CHECK_EQ(gauge(&r), 0);
    atomic_store(&r.none_in_use, false);
    CHECK_EQ(listener_ensure(r.l, "d"), -1); /* admitted now (no loop to ack it) */
    CHECK_EQ(gauge(&r), 1);
    CHECK_EQ(refused(&r), 3);
    rig_free(&r);
}

static void test_long_health_check_serves_notifications(void)
{
    struct rig r;
    rig_init(&r, 1000, 2000);
    char names[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        listener_ensure(r.l, names[i]);
    }
    CHECK_EQ(listener_connect_once(r.l), 0);
    for (struct dispatch_msg *m = dispatch_queue_try_pop_all(r.queue), *next; m; m = next) {
        next = m->next;
        dispatch_msg_free(m);
    }
    /* A notification arrives while the check goes through a thousand
     * channels (in its first slice, as the set's order is random): it is
     * handed on before the check ends, not after. */
    r.notify_once = true;
    atomic_store(&r.none_in_use, true);
    CHECK_EQ(listener_health_once(r.l), 0);
    struct dispatch_msg *m = dispatch_queue_try_pop_all(r.queue);
    CHECK(m && m->kind == DISPATCH_EPHEMERAL && strcmp(m->data, "meanwhile") == 0);
    CHECK(m && m->next && m->next->kind == DISPATCH_WAKE && !m->next->next);
    while (m) {
        struct dispatch_msg *next = m->next;
        dispatch_msg_free(m);
        m = next;
    }
    /* The second unused check forgets them all: UNLISTENs in batches too. */
    int before = fake_pg_round_trips(r.pg);
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_round_trips(r.pg) - before, 1 + 4); /* SELECT 1, one per slice of 256 */
    CHECK_EQ(listens_of(&r, "UNLISTEN", "s999"), 1);
    CHECK_EQ(gauge(&r), 0);
    rig_free(&r);
}

static void test_cap_zero(void)
{
    struct rig r;
    rig_init(&r, 1000, 0);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(fake_pg_round_trips(r.pg), 1); /* the two fixed channels only */
    CHECK_EQ(listener_ensure(r.l, "a"), 0);
    CHECK_EQ(listens_of(&r, "LISTEN", "a"), 0);
    CHECK_EQ(refused(&r), 1);
    CHECK_EQ(gauge(&r), 0);
    rig_free(&r);
}

/* ---- many subscribers at once, on the real loop ---- */

#define THREADS            8
#define STREAMS_PER_THREAD 20

struct worker_arg {
    struct rig *r;
    int index;
    int rc;
};

static void *subscribe(void *arg)
{
    struct worker_arg *w = arg;
    char names[STREAMS_PER_THREAD][24];
    const char *streams[STREAMS_PER_THREAD];
    for (int i = 0; i < STREAMS_PER_THREAD; i++) {
        snprintf(names[i], sizeof names[i], "t%d-%d", w->index, i);
        streams[i] = names[i];
    }
    w->rc = listener_ensure_many(w->r->l, streams, STREAMS_PER_THREAD);
    return NULL;
}

static int64_t now_ms(void)
{
    return clock_now_ms(&system_clock);
}

static void test_concurrent_ensures_share_round_trips(void)
{
    struct rig r;
    rig_init(&r, 60000, 1000);
    CHECK_EQ(listener_start(r.l), 0);
    int64_t end = now_ms() + WAIT_MS;
    while (!listener_connected(r.l) && now_ms() < end)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    CHECK(listener_connected(r.l));
    int before = fake_pg_round_trips(r.pg);
    /* Each round trip takes 100 ms: the ensures that arrive meanwhile queue
     * up and go together in the next one. */
    fake_pg_exec_delay(r.pg, 100);
    pthread_t threads[THREADS];
    struct worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){&r, i, 99};
        PTOK(pthread_create(&threads[i], NULL, subscribe, &args[i]));
    }
    for (int i = 0; i < THREADS; i++) {
        PTOK(pthread_join(threads[i], NULL));
        CHECK_EQ(args[i].rc, 0);
    }
    int trips = fake_pg_round_trips(r.pg) - before;
    CHECK(trips >= 1 && trips <= 3);
    printf("%d ensures of %d new streams each: %d round trips\n", THREADS, STREAMS_PER_THREAD,
           trips);
    for (int i = 0; i < THREADS; i++) {
        char name[24];
        snprintf(name, sizeof name, "t%d-%d", i, STREAMS_PER_THREAD - 1);
        CHECK_EQ(listens_of(&r, "LISTEN", name), 1);
    }
    CHECK_EQ(gauge(&r), THREADS * STREAMS_PER_THREAD);
    /* Known and LISTENed: no round trip at all. */
    fake_pg_exec_delay(r.pg, 0);
    before = fake_pg_round_trips(r.pg);
    struct worker_arg again = {&r, 0, 99};
    subscribe(&again);
    CHECK_EQ(again.rc, 0);
    CHECK_EQ(fake_pg_round_trips(r.pg), before);
    /* A failing batch fails every waiter in it. */
    fake_pg_fail_exec(r.pg, "LISTEN");
    CHECK_EQ(listener_ensure(r.l, "doomed"), -1);
    fake_pg_fail_exec(r.pg, NULL);
    listener_stop(r.l);
    rig_free(&r);
}

int main(void)
{
    test_connect_batches();
    test_cap();
    test_cap_zero();
    test_long_health_check_serves_notifications();
    test_concurrent_ensures_share_round_trips();
    return CHECK_DONE();
}
