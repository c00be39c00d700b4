/*
 * Unit tests of the dispatcher's step functions (dispatcher_handle,
 * dispatcher_flush), with the replayer's step run after each connect, the
 * fake event store, a real registry, window and connections on a local fake
 * socket: live delivery, a fresh instance starting at the head, replay from
 * the window and from the store, the gap sentinel, held cursors, several
 * streams under one cursor, store failures, ephemeral messages, slow
 * consumers, resume batching, trimming at the retention bound, and the
 * leader's hand-over (fanned out without a read only when it follows the
 * position; a WAKE naming a head already here reads nothing). The last
 * test runs the real thread against a locked store.
 */
#include "check.h"
#include "common/metrics.h"
#include "dispatch/dispatch_queue.h"
#include "dispatch/dispatcher.h"
#include "dispatch/event_window.h"
#include "dispatch/replayer.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_store.h"
#include "registry/connection.h"
#include "registry/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a socket that only counts (and remembers the first resume) ---- */

struct sock {
    atomic_int suspends, resumes;
    struct connection *conn; /* borrowed, to look at the queue on resume */
    size_t queued_at_first_resume;
};

static void sock_suspend(void *ctx)
{
    struct sock *s = ctx;
    atomic_fetch_add(&s->suspends, 1);
}

static void sock_resume(void *ctx)
{
    struct sock *s = ctx;
    if (atomic_fetch_add(&s->resumes, 1) == 0 && s->conn)
        s->queued_at_first_resume = connection_queued_bytes(s->conn);
}

static const struct conn_io_ops sock_ops = {sock_suspend, sock_resume};

/* ---- the rig ---- */

struct rig {
    struct fake_store *store;
    struct event_store_ops ops;
    struct fake_clock clock;
    struct metrics metrics;
    struct registry *registry;
    struct dispatch_queue *queue;
    struct event_window *window;
    struct replayer *replayer;
    struct dispatcher *d;
    struct sock socks[8];
    size_t nsocks;
};

static int64_t rig_position(void *ctx)
{
    struct rig *r = ctx;
    return dispatcher_position(r->d);
}

static void rig_init(struct rig *r, size_t window)
{
    memset(r, 0, sizeof *r);
    r->store = fake_store_new();
    r->ops = fake_store_ops(r->store);
    fake_clock_init(&r->clock, 1000);
    metrics_init(&r->metrics);
    r->registry = registry_new();
    r->queue = dispatch_queue_new();
    r->window = event_window_new(window, SIZE_MAX, 0);
    r->replayer = replayer_new(&(struct replayer_deps){.window = r->window,
                                                       .store = &r->ops,
                                                       .metrics = &r->metrics,
                                                       .clock = &r->clock.ops,
                                                       .position = rig_position,
                                                       .position_ctx = r});
    r->d = dispatcher_new(&(struct dispatcher_deps){
        .queue = r->queue,
        .registry = r->registry,
        .window = r->window,
        .replayer = r->replayer,
        .store = &r->ops,
        .metrics = &r->metrics,
        .clock = &r->clock.ops,
    });
}

static void rig_free(struct rig *r)
{
    dispatcher_free(r->d);
    replayer_free(r->replayer);
    event_window_free(r->window);
    dispatch_queue_free(r->queue);
    registry_free(r->registry);
    fake_store_free(r->store);
}

/* A subscriber of one or two streams (s2 may be NULL); max 0 = unlimited. */
static struct connection *sub(struct rig *r, const char *s1, const char *s2, size_t max)
{
    const char *streams[] = {s1, s2};
    struct sock *s = &r->socks[r->nsocks++];
    struct connection *c = connection_new(&(struct connection_params){.streams = streams,
                                                                      .nstreams = s2 ? 2 : 1,
                                                                      .max_queued_bytes = max,
                                                                      .io = &sock_ops,
                                                                      .io_ctx = s,
                                                                      .now_ms = 1000});
    s->conn = c;
    return c;
}

static struct sock *sock_of(struct rig *r, size_t i)
{
    return &r->socks[i];
}

/* Runs the replayer's step until no replay is ready (they end, or wait for
 * a socket that drains only when a test reads it). */
static void settle(struct rig *r)
{
    while (replayer_run_once(r->replayer) > 0)
        ;
}

static void connect_sub(struct rig *r, struct connection *c, bool has_cursor, int64_t cursor)
{
    dispatcher_handle(r->d, dispatch_msg_connect(connection_ref(c), has_cursor, cursor));
    settle(r);
}

static int wake(struct rig *r)
{
    dispatcher_handle(r->d, dispatch_msg_wake());
    int rc = dispatcher_flush(r->d);
    settle(r); /* held connects may have begun replays */
    return rc;
}

static void append_n(struct rig *r, int n, const char *stream)
{
    for (int i = 0; i < n; i++)
        fake_store_append(r->store, stream, NULL, stream);
}

/* Everything queued on c, as one string (static buffer: one call per expression).
 * Reading it empty parks the socket, as an HTTP worker would. */
static const char *drain(struct connection *c)
{
    static char buf[1 << 18];
    size_t n = 0;
    int64_t pub;
    long got;
    while ((got = connection_read(c, buf + n, sizeof buf - 1 - n, &pub)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    return buf;
}

/* The "id:" values of a drained text, comma-separated (static buffer). */
static const char *ids(const char *text)
{
    static char out[1 << 16];
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = text; (p = strstr(p, "id: ")) != NULL; p += 4) {
        if (p != text && p[-1] != '\n')
            continue;
        long long v = atoll(p + 4);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%lld", n ? "," : "", v);
    }
    return out;
}

/* "from,from+1,…,to" */
static const char *seq(int64_t from, int64_t to)
{
    static char out[1 << 16];
    size_t n = 0;
    out[0] = '\0';
    for (int64_t v = from; v <= to; v++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%lld", n ? "," : "", (long long)v);
    return out;
}

static uint64_t metric(_Atomic uint64_t *m)
{
    return atomic_load(m);
}

/* ---- tests ---- */

static void test_live_delivery(void)
{
    struct rig r;
    rig_init(&r, 100);
    struct connection *a = sub(&r, "s", NULL, 0), *b = sub(&r, "other", NULL, 0);
    connect_sub(&r, a, false, 0);
    connect_sub(&r, b, false, 0);
    CHECK_EQ(registry_connection_count(r.registry), 2);
    CHECK_STR(drain(a), "");
    fake_store_append(r.store, "s", "kind", "one");
    fake_store_append(r.store, "other", NULL, "not for a");
    fake_store_append(r.store, "s", NULL, "two\nlines");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(drain(a), "id: 1\nstream: s\nevent: kind\ndata: one\n\n"
                        "id: 3\nstream: s\ndata: two\ndata: lines\n\n");
    CHECK_STR(drain(b), "id: 2\nstream: other\ndata: not for a\n\n");
    CHECK_EQ(dispatcher_position(r.d), 3);
    CHECK_EQ(metric(&r.metrics.events_durable), 3);
    CHECK_EQ(metric(&r.metrics.deliveries), 3);
    CHECK_EQ(wake(&r), 0); /* nothing new: nothing twice */
    CHECK_STR(drain(a), "");
    fake_store_append(r.store, "s", NULL, "three");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(drain(a), "id: 4\nstream: s\ndata: three\n\n");
    CHECK_EQ(metric(&r.metrics.events_durable), 4);
    connection_unref(a);
    connection_unref(b);
    rig_free(&r);
}

static void test_fresh_instance_starts_at_head(void)
{
    struct rig r;
    rig_init(&r, 100);
    append_n(&r, 5, "s"); /* history from before this instance */
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0); /* learns the head at once and registers live */
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_EQ(dispatcher_position(r.d), 5);
    CHECK_EQ(metric(&r.metrics.events_durable), 0); /* nothing replayed to nobody */
    CHECK_STR(drain(c), "");
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(c)), "6");
    connection_unref(c);
    rig_free(&r);
}

static void test_replay_from_window_then_live(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0); /* starts at 0 */
    append_n(&r, 5, "s");
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 2);
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_STR(
        drain(c),
        "id: 3\nstream: s\ndata: s\n\nid: 4\nstream: s\ndata: s\n\nid: 5\nstream: s\ndata: s\n\n");
    CHECK_EQ(fake_store_stats(r.store)->read_range_calls, 0);
    CHECK_EQ(metric(&r.metrics.replayed_memory), 3);
    CHECK_EQ(metric(&r.metrics.replayed_database), 0);
    append_n(&r, 2, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(c)), "6,7"); /* no duplicate, no gap */
    /* A cursor at the position replays nothing and registers at once. */
    struct connection *d = sub(&r, "s", NULL, 0);
    connect_sub(&r, d, true, 7);
    CHECK_EQ(registry_connection_count(r.registry), 2);
    CHECK_STR(drain(d), "");
    connection_unref(c);
    connection_unref(d);
    rig_free(&r);
}

static void test_replay_from_store_below_window(void)
{
    struct rig r;
    rig_init(&r, 3);
    CHECK_EQ(wake(&r), 0);
    append_n(&r, 8, "s");
    fake_store_append(r.store, "t", NULL, "other stream");
    CHECK_EQ(wake(&r), 0); /* the window keeps 7..9 only */
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 1);
    const struct fake_store_stats *st = fake_store_stats(r.store);
    CHECK_EQ(st->read_range_calls, 1);
    CHECK_EQ(st->last_range_after, 1);
    CHECK_EQ(st->last_range_upto, 9);
    CHECK_STR(st->last_range_streams, "s");
    CHECK_STR(ids(drain(c)), seq(2, 8));
    CHECK_EQ(metric(&r.metrics.replayed_database), 7);
    CHECK_EQ(metric(&r.metrics.replay_queries), 1);
    CHECK_EQ(metric(&r.metrics.replayed_memory), 0);
    CHECK_EQ(metric(&r.metrics.gaps), 0);
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(c)), "10");
    /* At the window's floor exactly, memory suffices. */
    struct connection *d = sub(&r, "s", NULL, 0);
    connect_sub(&r, d, true, 7);
    CHECK_EQ(st->read_range_calls, 1);
    CHECK_STR(ids(drain(d)), "8,10");
    connection_unref(c);
    connection_unref(d);
    rig_free(&r);
}

static void test_gap_sentinel_when_pruned(void)
{
    struct rig r;
    rig_init(&r, 2);
    CHECK_EQ(wake(&r), 0);
    append_n(&r, 6, "s");
    CHECK_EQ(wake(&r), 0);
    fake_store_prune(r.store, 3);
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 1);
    CHECK_STR(
        drain(c),
        "event: gateway:gap\ndata: {\"last_event_id\":1,\"oldest_position\":4}\n\n"
        "id: 4\nstream: s\ndata: s\n\nid: 5\nstream: s\ndata: s\n\nid: 6\nstream: s\ndata: s\n\n");
    CHECK_EQ(metric(&r.metrics.gaps), 1);
    CHECK_EQ(metric(&r.metrics.replayed_database), 3);
    /* A cursor at pruned_through lost nothing: no gap. */
    struct connection *d = sub(&r, "s", NULL, 0);
    connect_sub(&r, d, true, 3);
    CHECK_STR(
        drain(d),
        "id: 4\nstream: s\ndata: s\n\nid: 5\nstream: s\ndata: s\n\nid: 6\nstream: s\ndata: s\n\n");
    CHECK_EQ(metric(&r.metrics.gaps), 1);
    connection_unref(c);
    connection_unref(d);
    rig_free(&r);
}

static void test_cursor_ahead_is_held_until_reached(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    /* The client saw position 4 on an instance further along; the store has 2 now. */
    append_n(&r, 1, "s");
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 4);
    CHECK_EQ(dispatcher_position(r.d), 2); /* caught up first while handling the connect */
    CHECK_EQ(registry_connection_count(r.registry), 0);
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0); /* 3 < 4: still held */
    CHECK_EQ(registry_connection_count(r.registry), 0);
    CHECK_STR(drain(c), "");
    append_n(&r, 2, "s");
    CHECK_EQ(wake(&r), 0); /* reaches 5: served from the window, then registered */
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_STR(ids(drain(c)), "5");
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(c)), "6");
    connection_unref(c);
    rig_free(&r);
}

static void test_held_connect_expires(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 0);
    CHECK_STR(drain(c), "");           /* parked, as after the preamble */
    connect_sub(&r, c, true, 1000000); /* far ahead of a database at 0 */
    fake_clock_advance(&r.clock, 29000);
    CHECK_EQ(wake(&r), 0);
    CHECK(!connection_is_closed(c));
    fake_clock_advance(&r.clock, 1000);
    CHECK_EQ(wake(&r), 0);
    CHECK(connection_is_closed(c)); /* it reconnects with the same cursor: lossless */
    CHECK_EQ(atomic_load(&sock_of(&r, 0)->resumes), 1);
    CHECK_EQ(registry_connection_count(r.registry), 0);
    connection_unref(c);
    rig_free(&r);
}

static void test_several_streams_one_cursor(void)
{
    struct rig r;
    rig_init(&r, 4);
    CHECK_EQ(wake(&r), 0);
    for (int i = 0; i < 10; i++)
        fake_store_append(r.store, i % 3 == 0 ? "x" : i % 3 == 1 ? "y" : "z", NULL, "e");
    CHECK_EQ(wake(&r), 0); /* x: 1,4,7,10  y: 2,5,8  z: 3,6,9; window 7..10 */
    struct connection *mem = sub(&r, "x", "y", 0), *db = sub(&r, "y", "x", 0);
    connect_sub(&r, mem, true, 6);
    CHECK_STR(ids(drain(mem)), "7,8,10");
    connect_sub(&r, db, true, 1);
    CHECK_STR(fake_store_stats(r.store)->last_range_streams, "y,x");
    CHECK_STR(ids(drain(db)), "2,4,5,7,8,10");
    fake_store_append(r.store, "z", NULL, "e");
    fake_store_append(r.store, "y", NULL, "e");
    fake_store_append(r.store, "x", NULL, "e");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(mem)), "12,13");
    CHECK_STR(ids(drain(db)), "12,13");
    connection_unref(mem);
    connection_unref(db);
    rig_free(&r);
}

static void test_closed_connection_not_registered(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 0);
    connection_gone(c);
    connect_sub(&r, c, false, 0);
    CHECK_EQ(registry_connection_count(r.registry), 0);
    /* Held, then gone before the cursor is reached: dropped, never registered. */
    struct connection *h = sub(&r, "s", NULL, 0);
    connect_sub(&r, h, true, 2);
    connection_gone(h);
    append_n(&r, 3, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_EQ(registry_connection_count(r.registry), 0);
    connection_unref(c);
    connection_unref(h);
    rig_free(&r);
}

static void test_store_failure_keeps_wake_pending(void)
{
    struct rig r;
    rig_init(&r, 100);
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0);
    append_n(&r, 2, "s");
    fake_store_set_failing(r.store, true);
    CHECK_EQ(wake(&r), -1);
    CHECK_STR(drain(c), "");
    CHECK_EQ(dispatcher_flush(r.d), -1); /* still pending: it tries again */
    append_n(&r, 1, "s");
    fake_store_set_failing(r.store, false);
    CHECK_EQ(dispatcher_flush(r.d), 0); /* no new wake needed */
    CHECK_STR(ids(drain(c)), "1,2,3");
    int reads = fake_store_stats(r.store)->read_after_calls;
    CHECK_EQ(dispatcher_flush(r.d), 0); /* no longer pending: no read */
    CHECK_EQ(fake_store_stats(r.store)->read_after_calls, reads);
    connection_unref(c);
    rig_free(&r);
}

static void test_store_down_at_start_holds_connects(void)
{
    struct rig r;
    rig_init(&r, 100);
    append_n(&r, 3, "s");
    fake_store_set_failing(r.store, true);
    struct connection *live = sub(&r, "s", NULL, 0), *cur = sub(&r, "s", NULL, 0);
    connect_sub(&r, live, false, 0);
    int bounds_calls = fake_store_stats(r.store)->bounds_calls;
    connect_sub(&r, cur, true, 1); /* no second try within the batch */
    CHECK_EQ(fake_store_stats(r.store)->bounds_calls, bounds_calls);
    CHECK_EQ(registry_connection_count(r.registry), 0);
    CHECK_EQ(dispatcher_position(r.d), 0);
    CHECK_EQ(dispatcher_flush(r.d), -1);
    fake_store_set_failing(r.store, false);
    CHECK_EQ(dispatcher_flush(r.d), 0);
    settle(&r);
    CHECK_EQ(dispatcher_position(r.d), 3);
    CHECK_EQ(registry_connection_count(r.registry), 2);
    CHECK_STR(drain(live), "");
    CHECK_STR(ids(drain(cur)), "2,3"); /* below the new window's floor: from the store */
    CHECK_EQ(fake_store_stats(r.store)->read_range_calls, 1);
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(live)), "4");
    CHECK_STR(ids(drain(cur)), "4");
    connection_unref(live);
    connection_unref(cur);
    rig_free(&r);
}

static void test_replay_failure_closes_connection(void)
{
    struct rig r;
    rig_init(&r, 2);
    CHECK_EQ(wake(&r), 0);
    append_n(&r, 6, "s");
    CHECK_EQ(wake(&r), 0);
    fake_store_prune(r.store, 2);
    fake_store_fail(r.store, FAKE_READ_RANGE);
    struct connection *c = sub(&r, "s", NULL, 0);
    CHECK_STR(drain(c), ""); /* parked: the gap sentinel's push takes the resume duty */
    connect_sub(&r, c, true, 1);
    CHECK(connection_is_closed(c)); /* registered in replay mode, then closed */
    CHECK_EQ(replayer_active(r.replayer), 0);
    CHECK_EQ(atomic_load(&sock_of(&r, 0)->resumes), 1); /* so the socket can end */
    const char *got = drain(c);
    CHECK(strncmp(got, "event: gateway:gap\n", 19) == 0);
    CHECK_STR(ids(got), "");
    int64_t pub;
    char buf[8];
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_END);
    /* Without a gap nothing was queued: the close itself hands over the duty to resume. */
    struct connection *d = sub(&r, "s", NULL, 0);
    CHECK_STR(drain(d), "");
    connect_sub(&r, d, true, 2);
    CHECK(connection_is_closed(d));
    CHECK_EQ(atomic_load(&sock_of(&r, 1)->resumes), 1);
    CHECK_EQ(connection_read(d, buf, sizeof buf, &pub), CONN_READ_END);
    CHECK_EQ(metric(&r.metrics.gaps), 1);
    /* The live path is unaffected. */
    fake_store_fail(r.store, 0);
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_EQ(dispatcher_position(r.d), 7);
    connection_unref(c);
    connection_unref(d);
    rig_free(&r);
}

static void test_ephemeral_has_no_id(void)
{
    struct rig r;
    rig_init(&r, 100);
    struct connection *c = sub(&r, "s", NULL, 0), *o = sub(&r, "o", NULL, 0);
    connect_sub(&r, c, false, 0);
    connect_sub(&r, o, false, 0);
    dispatcher_handle(r.d, dispatch_msg_ephemeral("s", "typing", "x\ny", 3));
    dispatcher_handle(r.d, dispatch_msg_ephemeral("s", NULL, "plain", 5));
    CHECK_STR(drain(c), "stream: s\nevent: typing\ndata: x\ndata: y\n\nstream: s\ndata: plain\n\n");
    CHECK_STR(drain(o), "");
    CHECK_EQ(metric(&r.metrics.deliveries), 2);
    CHECK_EQ(dispatcher_position(r.d), 0);
    connection_unref(c);
    connection_unref(o);
    rig_free(&r);
}

static void test_slow_consumer_closed_others_unaffected(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    struct connection *slow = sub(&r, "s", NULL, 64), *fast = sub(&r, "s", NULL, 0);
    connect_sub(&r, slow, false, 0);
    connect_sub(&r, fast, false, 0);
    CHECK_STR(drain(slow), "");
    for (int i = 0; i < 10; i++)
        fake_store_append(r.store, "s", NULL, "0123456789");
    CHECK_EQ(wake(&r), 0);
    CHECK(connection_is_closed(slow));
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_EQ(metric(&r.metrics.slow_consumer_disconnects), 1);
    CHECK(atomic_load(&sock_of(&r, 0)->resumes) >= 1); /* woken, so the socket ends */
    CHECK_STR(ids(drain(fast)), seq(1, 10));
    int64_t pub;
    char buf[64];
    CHECK_EQ(connection_read(slow, buf, sizeof buf, &pub), CONN_READ_END);
    connection_unref(slow);
    connection_unref(fast);
    rig_free(&r);
}

static void test_resume_once_per_batch(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0);
    CHECK_STR(drain(c), ""); /* the worker parks the socket */
    append_n(&r, 3, "s");
    CHECK_EQ(wake(&r), 0);
    struct sock *s = sock_of(&r, 0);
    /* Woken once, after the batch: one write carries its three events. */
    CHECK_EQ(atomic_load(&s->resumes), 1);
    CHECK_EQ(s->queued_at_first_resume, 3 * strlen("id: 1\nstream: s\ndata: s\n\n"));
    CHECK_STR(ids(drain(c)), "1,2,3");
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_EQ(atomic_load(&s->resumes), 2); /* parked again by the drain: woken again */
    connection_unref(c);
    rig_free(&r);
}

static void test_large_backlog_in_batches(void)
{
    struct rig r;
    rig_init(&r, 10);
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0);
    append_n(&r, 2500, "s");
    int before = fake_store_stats(r.store)->read_after_calls;
    CHECK_EQ(wake(&r), 0);
    CHECK_EQ(fake_store_stats(r.store)->read_after_calls - before, 3); /* 1000, 1000, 500 */
    CHECK_EQ(dispatcher_position(r.d), 2500);
    CHECK_STR(ids(drain(c)), seq(1, 2500));
    CHECK_EQ(metric(&r.metrics.events_durable), 2500);
    connection_unref(c);
    rig_free(&r);
}

static void test_paced_replay(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK_EQ(wake(&r), 0);
    append_n(&r, 50, "s");
    CHECK_EQ(wake(&r), 0);
    /* A subscriber whose queue may hold 100 bytes (about four events). */
    struct connection *c = sub(&r, "s", NULL, 100);
    CHECK_STR(drain(c), "");
    connect_sub(&r, c, true, 0);
    size_t frame = strlen("id: 10\nstream: s\ndata: s\n\n");
    CHECK(connection_queued_bytes(c) <= 100 + frame); /* one slice, not the backlog */
    CHECK(connection_queued_bytes(c) > 0);
    CHECK_EQ(replayer_active(r.replayer), 1);
    /* Live events meanwhile are not queued: the replay brings them. */
    append_n(&r, 5, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK(connection_queued_bytes(c) <= 100 + frame);
    /* The socket takes 40 bytes at a time; the replay follows it. */
    static char all[1 << 14];
    size_t n = 0, peak = 0;
    int64_t pub;
    for (int i = 0; i < 1000 && n < sizeof all - 64; i++) {
        long got = connection_read(c, all + n, 40, &pub);
        if (got > 0)
            n += (size_t)got;
        settle(&r);
        size_t q = connection_queued_bytes(c);
        peak = q > peak ? q : peak;
        if (got <= 0 && replayer_active(r.replayer) == 0)
            break;
    }
    all[n] = '\0';
    CHECK_STR(ids(all), seq(1, 55)); /* every event once, in order, across the hand-over */
    CHECK(peak <= 100 + frame);
    CHECK_EQ(replayer_active(r.replayer), 0);
    CHECK_EQ(metric(&r.metrics.replayed_memory), 55);
    append_n(&r, 1, "s");
    CHECK_EQ(wake(&r), 0);
    CHECK_STR(ids(drain(c)), "56"); /* live now */
    connection_unref(c);
    rig_free(&r);
}

/* Retention that prunes past a slow database replay between two of its
 * slices: the client gets the gap sentinel, then only what survived, never a
 * silent skip. */
static void test_prune_during_a_paced_replay(void)
{
    struct rig r;
    rig_init(&r, 2); /* the window keeps two: the replay comes from the store */
    CHECK_EQ(wake(&r), 0);
    for (int i = 0; i < 30; i++) /* 40 bytes of data: two or three a slice */
        fake_store_append(r.store, "s", NULL, "0123456789012345678901234567890123456789");
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 100);
    connect_sub(&r, c, true, 0);
    CHECK_EQ(replayer_active(r.replayer), 1);
    static char first[1024];
    snprintf(first, sizeof first, "%s", drain(c));
    CHECK(strlen(first) > 0 && strstr(first, "gateway:gap") == NULL);
    fake_store_prune(r.store, 20); /* well past what the first slice brought */
    static char rest[1 << 13];
    size_t n = 0;
    for (int i = 0; i < 100 && replayer_active(r.replayer) > 0; i++) {
        settle(&r);
        n += (size_t)snprintf(rest + n, sizeof rest - n, "%s", drain(c));
    }
    CHECK_EQ(replayer_active(r.replayer), 0);
    const char *gap = strstr(rest, "event: gateway:gap\ndata: {\"last_event_id\":");
    CHECK(gap != NULL);
    CHECK(gap && strstr(gap, ",\"oldest_position\":21}\n\n") != NULL);
    CHECK_STR(gap ? ids(gap) : "", seq(21, 30)); /* after the gap: exactly the survivors */
    CHECK_EQ(metric(&r.metrics.gaps), 1);
    connection_unref(c);
    rig_free(&r);
}

static void test_window_trimmed_at_retention_bound(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    append_n(&r, 6, "s");
    CHECK_EQ(wake(&r), 0); /* the window holds 1..6 */
    fake_store_prune(r.store, 3);
    dispatcher_handle(r.d, dispatch_msg_wake_bounds());
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK(!event_window_covers(r.window, 2));
    /* From below the bound: the gap, then the rest, from the database. */
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 1);
    CHECK_STR(
        drain(c),
        "event: gateway:gap\ndata: {\"last_event_id\":1,\"oldest_position\":4}\n\n"
        "id: 4\nstream: s\ndata: s\n\nid: 5\nstream: s\ndata: s\n\nid: 6\nstream: s\ndata: s\n\n");
    CHECK_EQ(metric(&r.metrics.replayed_memory), 0);
    CHECK_EQ(metric(&r.metrics.gaps), 1);
    /* A plain wake does not re-read the bound. */
    int bounds = fake_store_stats(r.store)->bounds_calls;
    CHECK_EQ(wake(&r), 0);
    CHECK_EQ(fake_store_stats(r.store)->bounds_calls, bounds);
    connection_unref(c);
    rig_free(&r);
}

/* ---- the real thread, against a store locked for two threads ---- */

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct event_store_ops inner;

static long locked_read_after(void *ctx, int64_t after, long rows, size_t bytes, bool *complete,
                              stored_event_fn fn, void *arg)
{
    pthread_mutex_lock(&store_lock);
    long n = inner.read_after(ctx, after, rows, bytes, complete, fn, arg);
    pthread_mutex_unlock(&store_lock);
    return n;
}

static long locked_read_range(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                              size_t nstreams, long rows, size_t bytes, bool *complete,
                              stored_event_fn fn, void *arg)
{
    pthread_mutex_lock(&store_lock);
    long n = inner.read_range(ctx, after, upto, streams, nstreams, rows, bytes, complete, fn, arg);
    pthread_mutex_unlock(&store_lock);
    return n;
}

static int locked_bounds(void *ctx, int64_t *head, int64_t *pruned)
{
    pthread_mutex_lock(&store_lock);
    int rc = inner.bounds(ctx, head, pruned);
    pthread_mutex_unlock(&store_lock);
    return rc;
}

/* Polls cond for up to 5 s. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int wait_i_ = 0; wait_i_ < 5000 && !(cond); wait_i_++)                                \
            nanosleep(&(struct timespec){0, 1000000L}, NULL);                                      \
    } while (0)

/* The leader's hand-over of positions from..to, as the sequencer sends it
 * after its commit (the test appends the same positions to the store). */
static struct dispatch_msg *handover(int64_t from, int64_t to, const char *stream)
{
    struct dispatch_msg *m = dispatch_msg_events();
    for (int64_t p = from; p <= to; p++) {
        char data[32];
        snprintf(data, sizeof data, "h%lld", (long long)p);
        struct stored_event ev = {.position = p,
                                  .stream = stream,
                                  .data = data,
                                  .data_len = strlen(data),
                                  .published_us = p};
        dispatch_msg_add_event(m, &ev);
    }
    return m;
}

static int reads(struct rig *r)
{
    return fake_store_stats(r->store)->read_after_calls;
}

static void test_handover_fans_out_without_a_read(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0); /* starts at 0 */
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0);
    int before = reads(&r);
    append_n(&r, 2, "s");
    dispatcher_handle(r.d, handover(1, 2, "s"));
    CHECK_STR(drain(c), "id: 1\nstream: s\ndata: h1\n\nid: 2\nstream: s\ndata: h2\n\n");
    CHECK_EQ(dispatcher_position(r.d), 2);
    CHECK_EQ(metric(&r.metrics.events_durable), 2);
    CHECK_EQ(metric(&r.metrics.deliveries), 2);
    /* The NOTIFY of the same batch names its head: nothing to read. */
    struct dispatch_msg *w = dispatch_msg_wake();
    w->head_hint = 2;
    dispatcher_handle(r.d, w);
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_EQ(reads(&r), before);
    /* In the window before its fan-out: a replay from 0 gets both from memory. */
    struct connection *late = sub(&r, "s", NULL, 0);
    connect_sub(&r, late, true, 0);
    CHECK_STR(ids(drain(late)), "1,2");
    CHECK_EQ(metric(&r.metrics.replayed_memory), 2);
    CHECK_EQ(fake_store_stats(r.store)->read_range_calls, 0);
    /* The NOTIFY first, in the same batch of messages: decided at the flush. */
    append_n(&r, 1, "s");
    w = dispatch_msg_wake();
    w->head_hint = 3;
    dispatcher_handle(r.d, w);
    dispatcher_handle(r.d, handover(3, 3, "s"));
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_EQ(reads(&r), before);
    CHECK_STR(ids(drain(c)), "3");
    CHECK_STR(ids(drain(late)), "3");
    connection_unref(c);
    connection_unref(late);
    rig_free(&r);
}

static void test_handover_after_a_gap_reads(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(wake(&r), 0);
    struct connection *c = sub(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0);
    /* Batches 1-2 went by unseen (their NOTIFY not read yet): 3-4 wait for a read. */
    append_n(&r, 4, "s");
    int before = reads(&r);
    dispatcher_handle(r.d, handover(3, 4, "s"));
    CHECK_STR(drain(c), "");
    CHECK_EQ(dispatcher_position(r.d), 0);
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_EQ(reads(&r), before + 1);
    CHECK_STR(ids(drain(c)), "1,2,3,4");
    /* A batch read already: nothing twice. One partly read: the rest only. */
    dispatcher_handle(r.d, handover(3, 4, "s"));
    append_n(&r, 2, "s");
    dispatcher_handle(r.d, handover(4, 6, "s"));
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_EQ(reads(&r), before + 1);
    CHECK_STR(drain(c), "id: 5\nstream: s\ndata: h5\n\nid: 6\nstream: s\ndata: h6\n\n");
    /* A NOTIFY naming a head beyond the position, or none, reads. */
    append_n(&r, 1, "s");
    struct dispatch_msg *w = dispatch_msg_wake();
    w->head_hint = 7;
    dispatcher_handle(r.d, w);
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_EQ(reads(&r), before + 2);
    CHECK_STR(ids(drain(c)), "7");
    CHECK_EQ(wake(&r), 0);
    CHECK_EQ(reads(&r), before + 3);
    /* A forged head below the position skips nothing real. */
    append_n(&r, 1, "s");
    w = dispatch_msg_wake();
    w->head_hint = 1;
    dispatcher_handle(r.d, w);
    w = dispatch_msg_wake();
    w->head_hint = 8;
    dispatcher_handle(r.d, w);
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_STR(ids(drain(c)), "8");
    connection_unref(c);
    rig_free(&r);
}

static void test_handover_before_the_position_is_known(void)
{
    struct rig r;
    rig_init(&r, 100);
    append_n(&r, 3, "s");
    int before = reads(&r);
    /* A fresh instance starts live at the head: a hand-over first learns it. */
    dispatcher_handle(r.d, handover(3, 3, "s"));
    CHECK_EQ(dispatcher_flush(r.d), 0);
    CHECK_EQ(dispatcher_position(r.d), 3);
    CHECK_EQ(metric(&r.metrics.events_durable), 0);
    CHECK_EQ(reads(&r), before + 1);
    rig_free(&r);
}

static void test_thread_lifecycle(void)
{
    struct rig r;
    rig_init(&r, 100);
    inner = fake_store_ops(r.store);
    r.ops = (struct event_store_ops){locked_read_after, locked_read_range, locked_bounds, r.store};
    pthread_mutex_lock(&store_lock);
    append_n(&r, 2, "s"); /* before start: not replayed to a live subscriber */
    pthread_mutex_unlock(&store_lock);
    struct connection *live = sub(&r, "s", NULL, 0), *late = sub(&r, "s", NULL, 0);
    CHECK_EQ(dispatcher_start(r.d), 0);
    dispatch_queue_push(r.queue, dispatch_msg_connect(connection_ref(live), false, 0));
    WAIT_FOR(registry_connection_count(r.registry) == 1);
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_EQ(dispatcher_position(r.d), 2);
    pthread_mutex_lock(&store_lock);
    append_n(&r, 3, "s");
    pthread_mutex_unlock(&store_lock);
    dispatch_queue_push(r.queue, dispatch_msg_wake());
    WAIT_FOR(dispatcher_position(r.d) == 5);
    CHECK_EQ(dispatcher_position(r.d), 5);
    CHECK_STR(ids(drain(live)), "3,4,5");
    /* Everything queued before STOP is handled before the thread ends. */
    dispatch_queue_push(r.queue, dispatch_msg_connect(connection_ref(late), true, 3));
    dispatcher_stop(r.d);
    dispatcher_stop(r.d);
    CHECK_EQ(registry_connection_count(r.registry), 2);
    settle(&r); /* its replay began on the thread; the replayer's runs here */
    CHECK_STR(ids(drain(late)), "4,5");
    CHECK_EQ(dispatch_queue_depth(r.queue), 0);
    connection_unref(live);
    connection_unref(late);
    rig_free(&r);
}

int main(void)
{
    test_live_delivery();
    test_fresh_instance_starts_at_head();
    test_replay_from_window_then_live();
    test_replay_from_store_below_window();
    test_gap_sentinel_when_pruned();
    test_prune_during_a_paced_replay();
    test_cursor_ahead_is_held_until_reached();
    test_held_connect_expires();
    test_several_streams_one_cursor();
    test_closed_connection_not_registered();
    test_store_failure_keeps_wake_pending();
    test_store_down_at_start_holds_connects();
    test_replay_failure_closes_connection();
    test_ephemeral_has_no_id();
    test_slow_consumer_closed_others_unaffected();
    test_resume_once_per_batch();
    test_large_backlog_in_batches();
    test_paced_replay();
    test_window_trimmed_at_retention_bound();
    test_handover_fans_out_without_a_read();
    test_handover_after_a_gap_reads();
    test_handover_before_the_position_is_known();
    test_thread_lifecycle();
    return CHECK_DONE();
}
