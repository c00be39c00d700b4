/*
 * Unit tests of the heartbeat step: which connections get ": hb", that events
 * reset heartbeat idleness but not the idle timeout, and that the thread
 * stops promptly. Time comes from a hand-driven clock; sockets are a fake io.
 */
#include "check.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/metrics.h"
#include "heartbeat/heartbeat.h"
#include "registry/connection.h"
#include "registry/registry.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static int64_t fake_now;
static int64_t now_ms(void *ctx)
{
    (void)ctx;
    return fake_now;
}
static int64_t wall_us(void *ctx)
{
    (void)ctx;
    return fake_now * 1000;
}
static const struct clock_ops hand_clock = {now_ms, wall_us, NULL};

static _Atomic int resumes;
static void on_suspend(void *ctx)
{
    (void)ctx;
}
static void on_resume(void *ctx)
{
    (void)ctx;
    resumes++;
}
static const struct conn_io_ops io = {on_suspend, on_resume};

static struct connection *subscriber(const char *stream)
{
    const char *streams[] = {stream};
    return connection_new(&(struct connection_params){
        .streams = streams, .nstreams = 1, .io = &io, .now_ms = fake_now});
}

/* Reads what is queued; "" when the reader parked the socket or ended it. */
static const char *drain(struct connection *c, char *buf, size_t size, long *rc)
{
    int64_t published;
    *rc = connection_read(c, buf, size - 1, &published);
    buf[*rc > 0 ? *rc : 0] = '\0';
    return buf;
}

static void test_heartbeat_to_idle_connections_only(void)
{
    struct metrics m;
    metrics_init(&m);
    struct registry *r = registry_new();
    fake_now = 0;
    struct connection *a = subscriber("a"), *b = subscriber("b"), *c = subscriber("c");
    CHECK(registry_add(r, a));
    CHECK(registry_add(r, b));
    CHECK(registry_add(r, c));
    struct heartbeat *h = heartbeat_new(&(struct heartbeat_deps){
        .registry = r, .metrics = &m, .clock = &hand_clock, .interval_ms = 1000});
    char buf[256];
    long rc;
    /* Park every socket first, as the HTTP worker would. */
    CHECK_STR(drain(a, buf, sizeof buf, &rc), "");
    CHECK_STR(drain(b, buf, sizeof buf, &rc), "");
    CHECK_STR(drain(c, buf, sizeof buf, &rc), "");

    fake_now = 500;
    CHECK_EQ(heartbeat_tick(h), 0);
    fake_now = 1000;
    resumes = 0;
    CHECK_EQ(heartbeat_tick(h), 3);
    CHECK_EQ(resumes, 3);
    CHECK_STR(drain(a, buf, sizeof buf, &rc), ": hb\n\n");
    CHECK_STR(drain(b, buf, sizeof buf, &rc), ": hb\n\n");
    CHECK_STR(drain(c, buf, sizeof buf, &rc), ": hb\n\n");
    CHECK_EQ(atomic_load(&m.heartbeats), 3);

    /* An event to a at 1500 keeps it from needing a heartbeat at 2000. */
    fake_now = 1500;
    struct frame *ev = frame_new("id: 1\ndata: x\n\n", 15, 0);
    /* a's reader has not parked again since it wrote the heartbeat. */
    CHECK_EQ(connection_push(a, ev, fake_now, true), CONN_PUSH_QUEUED);
    frame_unref(ev);
    fake_now = 2000;
    CHECK_EQ(heartbeat_tick(h), 2);
    CHECK_STR(drain(a, buf, sizeof buf, &rc), "id: 1\ndata: x\n\n");
    CHECK_STR(drain(b, buf, sizeof buf, &rc), ": hb\n\n");

    heartbeat_free(h);
    registry_free(r);
    connection_unref(a);
    connection_unref(b);
    connection_unref(c);
}

static void test_idle_timeout_ignores_heartbeats(void)
{
    struct metrics m;
    metrics_init(&m);
    struct registry *r = registry_new();
    fake_now = 0;
    struct connection *quiet = subscriber("q"), *busy = subscriber("b");
    CHECK(registry_add(r, quiet));
    CHECK(registry_add(r, busy));
    struct heartbeat *h = heartbeat_new(&(struct heartbeat_deps){.registry = r,
                                                                 .metrics = &m,
                                                                 .clock = &hand_clock,
                                                                 .interval_ms = 1000,
                                                                 .idle_timeout_ms = 2500});
    struct frame *ev = frame_new("data: x\n\n", 9, 0);
    for (fake_now = 1000; fake_now <= 3000; fake_now += 1000) {
        connection_push(busy, ev, fake_now, true);
        heartbeat_tick(h);
    }
    frame_unref(ev);
    /* quiet only ever got heartbeats: closed at 3000; busy kept receiving. */
    CHECK(connection_is_closed(quiet));
    CHECK(!connection_is_closed(busy));
    char buf[256];
    long rc = 1;
    for (int i = 0; i < 10 && rc > 0; i++)
        drain(quiet, buf, sizeof buf, &rc);
    CHECK_EQ(rc, CONN_READ_END);
    heartbeat_free(h);
    registry_free(r);
    connection_unref(quiet);
    connection_unref(busy);
}

static void test_thread_stops_promptly(void)
{
    struct metrics m;
    metrics_init(&m);
    struct registry *r = registry_new();
    struct heartbeat *h = heartbeat_new(&(struct heartbeat_deps){
        .registry = r, .metrics = &m, .clock = &system_clock, .interval_ms = 60000});
    CHECK_EQ(heartbeat_start(h), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    heartbeat_stop(h);
    heartbeat_stop(h); /* safe twice */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(waited < 1.0);
    heartbeat_free(h);
    registry_free(r);
}

int main(void)
{
    test_heartbeat_to_idle_connections_only();
    test_idle_timeout_ignores_heartbeats();
    test_thread_stops_promptly();
    return CHECK_DONE();
}
