/*
 * Unit tests of connection queues and the registry: backlog copies, partial
 * frames, the suspend/resume handshake, overflow, close, gone; subscriptions,
 * fan-out, swap-remove with many connections; and a threaded stress test of
 * pushes racing reads (run under ThreadSanitizer too).
 */
#include "check.h"
#include "connection.h"
#include "fake_io.h"
#include "frame.h"
#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct connection *conn_on(struct fake_io *io, const char *s1, const char *s2, size_t max)
{
    const char *streams[] = {s1, s2};
    return connection_new(&(struct connection_params){.streams = streams,
                                                      .nstreams = s2 ? 2 : 1,
                                                      .max_queued_bytes = max,
                                                      .io = &fake_io_ops,
                                                      .io_ctx = io});
}

static struct frame *text(const char *s)
{
    return frame_new(s, strlen(s), 0);
}

static void push_text(struct connection *c, const char *s)
{
    struct frame *f = text(s);
    connection_push(c, f, 0, true);
    frame_unref(f);
}

static void test_connection_queue(void)
{
    struct fake_io io = {0};
    struct connection *c = conn_on(&io, "s", NULL, 0);
    char buf[64];
    int64_t pub;
    push_text(c, "abc");
    push_text(c, "defgh");
    CHECK_EQ(connection_read(c, buf, 4, 0, &pub), 4); /* across frames, partial second */
    CHECK(memcmp(buf, "abcd", 4) == 0);
    CHECK_EQ(connection_queued_bytes(c), 4);
    CHECK_EQ(connection_read(c, buf, sizeof buf, 0, &pub), 4);
    CHECK(memcmp(buf, "efgh", 4) == 0);
    CHECK_EQ(connection_read(c, buf, sizeof buf, 0, &pub), CONN_READ_SUSPENDED);
    CHECK_EQ(io.suspends, 1);
    struct frame *f = text("x");
    CHECK_EQ(connection_push(c, f, 0, true), CONN_PUSH_NEEDS_RESUME);
    CHECK_EQ(connection_push(c, f, 0, true), CONN_PUSH_QUEUED); /* the duty is taken once */
    connection_resume(c);
    CHECK_EQ(io.resumes, 1);
    CHECK(connection_close(c, f) == false); /* not parked: no resume needed */
    CHECK_EQ(connection_push(c, f, 0, true), CONN_PUSH_CLOSED);
    CHECK_EQ(connection_read(c, buf, sizeof buf, 0, &pub), 3);
    CHECK_EQ(connection_read(c, buf, sizeof buf, 0, &pub), CONN_READ_END);
    frame_unref(f);
    connection_unref(c);
}

static void test_overflow_and_gone(void)
{
    struct fake_io io = {0};
    struct connection *c = conn_on(&io, "s", NULL, 8);
    char buf[64];
    int64_t pub;
    struct frame *f = text("12345");
    CHECK_EQ(connection_push(c, f, 0, true), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_push(c, f, 0, true), CONN_PUSH_OVERFLOW);
    CHECK_EQ(connection_queued_bytes(c), 0);
    CHECK(connection_is_closed(c));
    CHECK_EQ(connection_read(c, buf, sizeof buf, 0, &pub), CONN_READ_END);
    struct connection *g = conn_on(&io, "s", NULL, 0);
    CHECK_EQ(connection_read(g, buf, sizeof buf, 0, &pub), CONN_READ_SUSPENDED);
    connection_gone(g);
    int before = io.resumes;
    CHECK_EQ(connection_push(g, f, 0, true), CONN_PUSH_CLOSED);
    connection_resume(g); /* no io call after gone */
    CHECK_EQ(io.resumes, before);
    frame_unref(f);
    connection_unref(c);
    connection_unref(g);
}

static void test_registry_fanout_and_remove(void)
{
    struct fake_io io = {0};
    struct registry *r = registry_new();
    struct connection *a = conn_on(&io, "x", "y", 0), *b = conn_on(&io, "y", NULL, 0);
    CHECK(registry_add(r, a));
    CHECK(!registry_add(r, a)); /* already registered */
    CHECK(registry_add(r, b));
    CHECK_EQ(registry_stream_count(r), 2);
    CHECK(registry_stream_in_use(r, "x") && !registry_stream_in_use(r, "z"));
    struct conn_list resumes = {0};
    struct frame *f = text("e");
    CHECK_EQ(registry_fanout(r, "y", f, 0, true, &resumes, NULL), 2);
    CHECK_EQ(registry_fanout(r, "x", f, 0, true, &resumes, NULL), 1);
    CHECK_EQ(registry_fanout(r, "none", f, 0, true, &resumes, NULL), 0);
    CHECK_EQ(connection_queued_bytes(a), 2);
    CHECK_EQ(connection_queued_bytes(b), 1);
    CHECK(registry_remove(r, a));
    CHECK(!registry_remove(r, a));
    CHECK(!registry_stream_in_use(r, "x"));
    CHECK_EQ(registry_connection_count(r), 1);
    struct connection *closed = conn_on(&io, "y", NULL, 0);
    connection_gone(closed);
    CHECK(!registry_add(r, closed));
    frame_unref(f);
    conn_list_free(&resumes);
    registry_free(r);
    connection_unref(a);
    connection_unref(b);
    connection_unref(closed);
}

static void test_many_connections_swap_remove(void)
{
    enum { N = 1000 };
    struct fake_io io = {0};
    struct registry *r = registry_new();
    struct connection *c[N];
    char name[16];
    for (int i = 0; i < N; i++) {
        char other[16];
        snprintf(name, sizeof name, "s%d", i % 10);
        snprintf(other, sizeof other, "t%d", i % 7);
        c[i] = conn_on(&io, name, other, 0);
        registry_add(r, c[i]);
    }
    unsigned seed = 7;
    bool removed[N] = {false};
    for (int k = 0; k < N / 2; k++) {
        int i = rand_r(&seed) % N;
        if (!removed[i])
            CHECK(registry_remove(r, c[i]));
        removed[i] = true;
    }
    struct frame *f = text("z");
    struct conn_list resumes = {0};
    for (int s = 0; s < 10; s++) {
        snprintf(name, sizeof name, "s%d", s);
        size_t want = 0;
        for (int i = s; i < N; i += 10)
            want += !removed[i];
        CHECK_EQ(registry_fanout(r, name, f, 0, true, &resumes, NULL), want);
    }
    int exact = 1;
    for (int i = 0; i < N; i++)
        exact &= connection_queued_bytes(c[i]) == (removed[i] ? 0u : 1u);
    CHECK(exact);
    frame_unref(f);
    conn_list_free(&resumes);
    registry_free(r);
    for (int i = 0; i < N; i++)
        connection_unref(c[i]);
}

/* The threaded stress test: a producer fans out numbered frames, a reader
 * drains whenever it is resumed, as an HTTP worker would. */
struct stress {
    struct registry *r;
    struct connection *c;
    struct fake_io io;
    int frames;
    char *received;
    size_t len;
};

static void *produce(void *arg)
{
    struct stress *s = arg;
    struct conn_list resumes = {0};
    char buf[16];
    for (int i = 0; i < s->frames; i++) {
        snprintf(buf, sizeof buf, "%06d;", i);
        struct frame *f = text(buf);
        registry_fanout(s->r, "s", f, 0, true, &resumes, NULL);
        conn_list_resume_all(&resumes);
        frame_unref(f);
    }
    struct frame *end = text("END");
    if (connection_close(s->c, end))
        connection_resume(s->c);
    frame_unref(end);
    conn_list_free(&resumes);
    return NULL;
}

static void *consume(void *arg)
{
    struct stress *s = arg;
    char buf[100];
    int64_t pub;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int seen_resumes = 0;
    for (;;) {
        long n = connection_read(s->c, buf, sizeof buf, 0, &pub);
        if (n == CONN_READ_END)
            return NULL;
        if (n > 0) {
            memcpy(s->received + s->len, buf, (size_t)n);
            s->len += (size_t)n;
            continue;
        }
        /* Parked: wait (bounded) until the producer resumes us. */
        while (atomic_load(&s->io.resumes) == seen_resumes) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec > 20)
                return NULL;
            sched_yield();
        }
        seen_resumes = atomic_load(&s->io.resumes);
    }
}

static void test_threaded_push_and_read(void)
{
    struct stress s = {.frames = 20000};
    s.r = registry_new();
    s.c = conn_on(&s.io, "s", NULL, 0);
    s.received = calloc((size_t)s.frames * 7 + 16, 1);
    registry_add(s.r, s.c);
    pthread_t p, q;
    pthread_create(&q, NULL, consume, &s);
    pthread_create(&p, NULL, produce, &s);
    pthread_join(p, NULL);
    pthread_join(q, NULL);
    CHECK_EQ(s.len, (size_t)s.frames * 7 + 3);
    int in_order = 1;
    char want[16];
    for (int i = 0; i < s.frames && in_order; i++) {
        snprintf(want, sizeof want, "%06d;", i);
        in_order = memcmp(s.received + (size_t)i * 7, want, 7) == 0;
    }
    CHECK(in_order);
    free(s.received);
    registry_free(s.r);
    connection_unref(s.c);
}

int main(void)
{
    test_connection_queue();
    test_overflow_and_gone();
    test_registry_fanout_and_remove();
    test_many_connections_swap_remove();
    test_threaded_push_and_read();
    return CHECK_DONE();
}
