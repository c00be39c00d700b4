/*
 * Unit tests of the dispatcher's step functions with a fake event store,
 * real registry and connections, and a fake socket: live delivery, replay
 * from the window and from the store, the gap sentinel, held cursors, store
 * failures, ephemeral messages and slow consumers.
 */
#include "check.h"
#include "connection.h"
#include "dispatch_queue.h"
#include "dispatcher.h"
#include "fake_clock.h"
#include "fake_io.h"
#include "fake_store.h"
#include "metrics.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>

struct rig {
    struct fake_store *store;
    struct event_store_ops ops;
    struct fake_clock clock;
    struct metrics metrics;
    struct registry *registry;
    struct dispatch_queue *queue;
    struct dispatcher *d;
    struct fake_io io;
};

static void rig_init(struct rig *r, size_t window)
{
    memset(r, 0, sizeof *r);
    r->store = fake_store_new();
    r->ops = fake_store_ops(r->store);
    fake_clock_init(&r->clock, 1000);
    metrics_init(&r->metrics);
    r->registry = registry_new();
    r->queue = dispatch_queue_new();
    r->d = dispatcher_new(&(struct dispatcher_deps){.queue = r->queue,
                                                    .registry = r->registry,
                                                    .store = &r->ops,
                                                    .metrics = &r->metrics,
                                                    .clock = &r->clock.ops,
                                                    .window_events = window,
                                                    .retry_ms = 1000});
}

static void rig_free(struct rig *r)
{
    dispatcher_free(r->d);
    dispatch_queue_free(r->queue);
    registry_free(r->registry);
    fake_store_free(r->store);
}

static struct connection *subscriber(struct rig *r, const char *s1, const char *s2, size_t max)
{
    const char *streams[] = {s1, s2};
    return connection_new(&(struct connection_params){.streams = streams,
                                                      .nstreams = s2 ? 2 : 1,
                                                      .max_queued_bytes = max,
                                                      .io = &fake_io_ops,
                                                      .io_ctx = &r->io});
}

static void connect_sub(struct rig *r, struct connection *c, bool has_cursor, int64_t cursor)
{
    dispatcher_handle(r->d, dispatch_msg_connect(connection_ref(c), has_cursor, cursor));
}

static void wake(struct rig *r)
{
    dispatcher_handle(r->d, dispatch_msg_wake());
    dispatcher_flush(r->d);
}

/* Everything queued on c, as one string (static buffer). */
static const char *drain(struct connection *c)
{
    static char buf[65536];
    size_t n = 0;
    int64_t pub;
    long got;
    while ((got = connection_read(c, buf + n, sizeof buf - 1 - n, 0, &pub)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    return buf;
}

static void test_live_delivery(void)
{
    struct rig r;
    rig_init(&r, 100);
    fake_store_append(r.store, "old", NULL, "before start");
    struct connection *a = subscriber(&r, "s", NULL, 0), *b = subscriber(&r, "other", NULL, 0);
    connect_sub(&r, a, false, 0);
    connect_sub(&r, b, false, 0);
    CHECK_EQ(registry_connection_count(r.registry), 2);
    CHECK_STR(drain(a), ""); /* live: nothing from before */
    fake_store_append(r.store, "s", "kind", "one");
    fake_store_append(r.store, "other", NULL, "not for a");
    fake_store_append(r.store, "s", NULL, "two");
    wake(&r);
    CHECK_STR(drain(a), "id: 2\nevent: kind\ndata: one\n\nid: 4\ndata: two\n\n");
    CHECK_STR(drain(b), "id: 3\ndata: not for a\n\n");
    CHECK_EQ(dispatcher_position(r.d), 4);
    CHECK_EQ(atomic_load(&r.metrics.events_durable), 3);
    wake(&r); /* nothing new: nothing twice */
    CHECK_STR(drain(a), "");
    connection_unref(a);
    connection_unref(b);
    rig_free(&r);
}

static void test_replay_from_window_then_live(void)
{
    struct rig r;
    rig_init(&r, 100);
    wake(&r); /* learn the start position (0) */
    for (int i = 0; i < 5; i++)
        fake_store_append(r.store, i % 2 ? "x" : "y", NULL, i % 2 ? "x" : "y");
    wake(&r);
    struct connection *c = subscriber(&r, "x", "y", 0);
    connect_sub(&r, c, true, 2);
    CHECK_STR(drain(c), "id: 3\ndata: y\n\nid: 4\ndata: x\n\nid: 5\ndata: y\n\n");
    CHECK_EQ(fake_store_range_calls(r.store), 0);
    CHECK_EQ(atomic_load(&r.metrics.replayed_memory), 3);
    fake_store_append(r.store, "x", NULL, "live");
    wake(&r);
    CHECK_STR(drain(c), "id: 6\ndata: live\n\n");
    connection_unref(c);
    rig_free(&r);
}

static void test_replay_from_store_below_window(void)
{
    struct rig r;
    rig_init(&r, 3);
    wake(&r);
    for (int i = 0; i < 8; i++)
        fake_store_append(r.store, "s", NULL, "e");
    wake(&r); /* the window keeps 6..8 only */
    struct connection *c = subscriber(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 1);
    const char *got = drain(c);
    CHECK(strncmp(got, "id: 2\n", 6) == 0);
    CHECK(strstr(got, "id: 8\ndata: e\n\n") != NULL);
    CHECK(strstr(got, "id: 1\n") == NULL);
    CHECK_EQ(fake_store_range_calls(r.store), 1);
    CHECK_EQ(fake_store_last_range_after(r.store), 1);
    CHECK_EQ(atomic_load(&r.metrics.replayed_database), 7);
    connection_unref(c);
    rig_free(&r);
}

static void test_gap_sentinel_when_pruned(void)
{
    struct rig r;
    rig_init(&r, 2);
    wake(&r);
    for (int i = 0; i < 6; i++)
        fake_store_append(r.store, "s", NULL, "e");
    wake(&r);
    fake_store_prune(r.store, 3);
    struct connection *c = subscriber(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 1);
    const char *got = drain(c);
    static const char gap[] =
        "event: gateway:gap\ndata: {\"last_event_id\":1,\"oldest_position\":4}\n\nid: 4\n";
    CHECK(strncmp(got, gap, sizeof gap - 1) == 0);
    CHECK(strstr(got, "id: 3\n") == NULL);
    CHECK_EQ(atomic_load(&r.metrics.gaps), 1);
    connection_unref(c);
    rig_free(&r);
}

static void test_cursor_ahead_is_held_until_reached(void)
{
    struct rig r;
    rig_init(&r, 100);
    wake(&r);
    fake_store_append(r.store, "s", NULL, "1");
    wake(&r);
    /* The client saw position 3 on a faster instance; the store has 2 now. */
    fake_store_append(r.store, "s", NULL, "2");
    struct connection *c = subscriber(&r, "s", NULL, 0);
    connect_sub(&r, c, true, 3);
    CHECK_EQ(dispatcher_position(r.d), 2); /* caught up while handling the connect */
    CHECK_EQ(registry_connection_count(r.registry), 0);
    fake_store_append(r.store, "s", NULL, "3");
    fake_store_append(r.store, "s", NULL, "4");
    wake(&r);
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_STR(drain(c), "id: 4\ndata: 4\n\n");
    connection_unref(c);
    rig_free(&r);
}

static void test_store_failure_keeps_wake_pending(void)
{
    struct rig r;
    rig_init(&r, 100);
    struct connection *c = subscriber(&r, "s", NULL, 0);
    wake(&r);
    connect_sub(&r, c, false, 0);
    fake_store_append(r.store, "s", NULL, "a");
    fake_store_set_failing(r.store, true);
    dispatcher_handle(r.d, dispatch_msg_wake());
    CHECK_EQ(dispatcher_flush(r.d), -1);
    CHECK_STR(drain(c), "");
    fake_store_set_failing(r.store, false);
    CHECK_EQ(dispatcher_flush(r.d), 0); /* no new wake needed */
    CHECK_STR(drain(c), "id: 1\ndata: a\n\n");
    connection_unref(c);
    rig_free(&r);
}

static void test_closed_connection_not_registered(void)
{
    struct rig r;
    rig_init(&r, 100);
    wake(&r);
    struct connection *c = subscriber(&r, "s", NULL, 0);
    connection_gone(c);
    connect_sub(&r, c, false, 0);
    CHECK_EQ(registry_connection_count(r.registry), 0);
    connection_unref(c);
    rig_free(&r);
}

static void test_ephemeral_has_no_id(void)
{
    struct rig r;
    rig_init(&r, 100);
    wake(&r);
    struct connection *c = subscriber(&r, "s", NULL, 0);
    connect_sub(&r, c, false, 0);
    dispatcher_handle(r.d, dispatch_msg_ephemeral("s", "typing", "x\ny", 3));
    CHECK_STR(drain(c), "event: typing\ndata: x\ndata: y\n\n");
    connection_unref(c);
    rig_free(&r);
}

static void test_slow_consumer_closed_others_unaffected(void)
{
    struct rig r;
    rig_init(&r, 100);
    wake(&r);
    struct connection *slow = subscriber(&r, "s", NULL, 64), *fast = subscriber(&r, "s", NULL, 0);
    connect_sub(&r, slow, false, 0);
    connect_sub(&r, fast, false, 0);
    for (int i = 0; i < 10; i++)
        fake_store_append(r.store, "s", NULL, "0123456789");
    wake(&r);
    CHECK(connection_is_closed(slow));
    CHECK_EQ(registry_connection_count(r.registry), 1);
    CHECK_EQ(atomic_load(&r.metrics.slow_consumer_disconnects), 1);
    const char *got = drain(fast);
    CHECK(strstr(got, "id: 1\n") && strstr(got, "id: 10\n"));
    int64_t pub;
    char buf[64];
    CHECK_EQ(connection_read(slow, buf, sizeof buf, 0, &pub), CONN_READ_END);
    connection_unref(slow);
    connection_unref(fast);
    rig_free(&r);
}

static void test_thread_lifecycle(void)
{
    struct rig r;
    rig_init(&r, 100);
    struct connection *c = subscriber(&r, "s", NULL, 0);
    CHECK_EQ(dispatcher_start(r.d), 0);
    dispatch_queue_push(r.queue, dispatch_msg_connect(connection_ref(c), false, 0));
    dispatcher_stop(r.d); /* everything queued before STOP is handled */
    dispatcher_stop(r.d);
    CHECK_EQ(registry_connection_count(r.registry), 1);
    connection_unref(c);
    rig_free(&r);
}

int main(void)
{
    test_live_delivery();
    test_replay_from_window_then_live();
    test_replay_from_store_below_window();
    test_gap_sentinel_when_pruned();
    test_cursor_ahead_is_held_until_reached();
    test_store_failure_keeps_wake_pending();
    test_closed_connection_not_registered();
    test_ephemeral_has_no_id();
    test_slow_consumer_closed_others_unaffected();
    test_thread_lifecycle();
    return CHECK_DONE();
}
