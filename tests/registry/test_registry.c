/*
 * Unit tests of the registry with real connections and a fake socket:
 * subscriptions and fan-out to exactly the right subscribers, collected
 * resumes, overflow removal, snapshots and stream listings, refusal of closed
 * or already registered connections, swap-remove with many connections and
 * streams, and one threaded stress test in which a producer, a heartbeat-like
 * pusher and a churn of short-lived subscribers race two reader threads
 * (run under ThreadSanitizer too).
 */
#include "check.h"
#include "common/frame.h"
#include "common/xalloc.h"
#include "fakes/fake_io.h"
#include "registry/conn_list.h"
#include "registry/connection.h"
#include "registry/registry.h"

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
                                                      .io_ctx = io,
                                                      .io_release = fake_io_release});
}

static struct frame *text(const char *s)
{
    return frame_new(s, strlen(s), 0);
}

static size_t fanout_text(struct registry *r, const char *stream, const char *s,
                          struct conn_list *resumes, size_t *overflowed)
{
    struct frame *f = text(s);
    size_t n = registry_fanout(r, stream, f, 0, 0, resumes, overflowed);
    frame_unref(f);
    return n;
}

/* Everything queued on c, as a string ("" if nothing; the reader then parks). */
static const char *drain(struct connection *c)
{
    static char buf[4096];
    int64_t pub;
    long n = connection_read(c, buf, sizeof buf - 1, &pub);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static bool list_has(const struct conn_list *l, const struct connection *c)
{
    for (size_t i = 0; i < l->len; i++)
        if (l->items[i] == c)
            return true;
    return false;
}

static void test_fanout_reaches_subscribers(void)
{
    struct fake_io io[3] = {{0}};
    struct registry *r = registry_new();
    struct connection *a = conn_on(&io[0], "x", "y", 0), *b = conn_on(&io[1], "y", NULL, 0);
    struct connection *c = conn_on(&io[2], "z", NULL, 0);
    CHECK(registry_add(r, a));
    CHECK(registry_add(r, b));
    CHECK(registry_add(r, c));
    CHECK_EQ(registry_connection_count(r), 3);
    CHECK_EQ(registry_stream_count(r), 3);
    CHECK(registry_stream_in_use(r, "x"));
    CHECK(registry_stream_in_use(r, "y"));
    CHECK(!registry_stream_in_use(r, "w"));
    struct conn_list resumes = {0};
    size_t overflowed = 0;
    CHECK_EQ(fanout_text(r, "y", "Y", &resumes, &overflowed), 2);
    CHECK_EQ(fanout_text(r, "x", "X", &resumes, &overflowed), 1);
    CHECK_EQ(fanout_text(r, "z", "Z", &resumes, &overflowed), 1);
    CHECK_EQ(fanout_text(r, "none", "N", &resumes, &overflowed), 0);
    CHECK_EQ(overflowed, 0);
    CHECK_EQ(resumes.len, 0); /* nobody was parked */
    CHECK_STR(drain(a), "YX");
    CHECK_STR(drain(b), "Y");
    CHECK_STR(drain(c), "Z");
    CHECK_STR(drain(a), ""); /* park all three */
    CHECK_STR(drain(b), "");
    CHECK_STR(drain(c), "");

    /* One resume each for the parked subscribers that got something. */
    CHECK_EQ(fanout_text(r, "y", "1", &resumes, NULL), 2);
    CHECK_EQ(fanout_text(r, "x", "2", &resumes, NULL), 1); /* a already owes: not twice */
    CHECK_EQ(resumes.len, 2);
    CHECK(list_has(&resumes, a) && list_has(&resumes, b) && !list_has(&resumes, c));
    conn_list_resume_all(&resumes);
    CHECK_EQ(resumes.len, 0);
    CHECK_EQ(atomic_load(&io[0].resumes), 1);
    CHECK_EQ(atomic_load(&io[1].resumes), 1);
    CHECK_EQ(atomic_load(&io[2].resumes), 0);
    CHECK_STR(drain(a), "12");

    CHECK(registry_remove(r, a));
    CHECK(!registry_remove(r, a)); /* idempotent */
    CHECK(!registry_stream_in_use(r, "x"));
    CHECK(registry_stream_in_use(r, "y"));
    CHECK_EQ(registry_stream_count(r), 2);
    CHECK_EQ(registry_connection_count(r), 2);
    CHECK_EQ(fanout_text(r, "x", "gone", &resumes, NULL), 0);
    CHECK(registry_add(r, a)); /* a removed connection may come back */
    CHECK_EQ(registry_stream_count(r), 3);
    conn_list_free(&resumes);
    registry_free(r);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(atomic_load(&io[i].releases), 0); /* we still hold ours */
    connection_unref(a);
    connection_unref(b);
    connection_unref(c);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(atomic_load(&io[i].releases), 1);
}

static void test_add_refusals(void)
{
    struct fake_io io = {0};
    struct registry *r = registry_new();
    struct connection *a = conn_on(&io, "s", NULL, 0);
    CHECK(registry_add(r, a));
    CHECK(!registry_add(r, a)); /* already registered */
    CHECK_EQ(registry_connection_count(r), 1);

    struct connection *gone = conn_on(&io, "s", NULL, 0);
    connection_gone(gone);
    CHECK(!registry_add(r, gone));
    struct connection *closing = conn_on(&io, "t", NULL, 0);
    CHECK(!connection_close(closing, NULL, CONN_END_SHUTDOWN));
    CHECK(!registry_add(r, closing));
    CHECK(!registry_remove(r, closing));
    CHECK_EQ(registry_connection_count(r), 1);
    CHECK(!registry_stream_in_use(r, "t"));

    /* Registered in one registry: refused by another. */
    struct registry *other = registry_new();
    CHECK(!registry_add(other, a));
    CHECK(!registry_remove(other, a));
    CHECK_EQ(registry_connection_count(r), 1);
    registry_free(other);
    registry_free(r);
    registry_free(NULL);
    connection_unref(a);
    connection_unref(gone);
    connection_unref(closing);
    CHECK_EQ(atomic_load(&io.releases), 3);
}

/* A slow consumer is closed by fan-out, removed, counted and handed back for
 * a resume; the other subscribers are not disturbed. */
static void test_fanout_overflow(void)
{
    struct fake_io io[3] = {{0}};
    struct registry *r = registry_new();
    struct connection *slow = conn_on(&io[0], "s", "t", 4);
    struct connection *fast = conn_on(&io[1], "s", NULL, 0);
    struct connection *parked_slow = conn_on(&io[2], "s", NULL, 4);
    CHECK(registry_add(r, slow));
    CHECK(registry_add(r, fast));
    CHECK(registry_add(r, parked_slow));
    CHECK_STR(drain(parked_slow), "");
    struct conn_list resumes = {0};
    size_t overflowed = 0;
    CHECK_EQ(fanout_text(r, "s", "abc", &resumes, &overflowed), 3);
    CHECK_EQ(resumes.len, 1); /* parked_slow */
    conn_list_resume_all(&resumes);
    CHECK_STR(drain(parked_slow), "abc");
    CHECK_STR(drain(parked_slow), "");

    CHECK_EQ(fanout_text(r, "s", "defgh", &resumes, &overflowed), 1);
    CHECK_EQ(overflowed, 2);
    CHECK_EQ(resumes.len, 2);
    CHECK(list_has(&resumes, slow) && list_has(&resumes, parked_slow));
    CHECK_EQ(registry_connection_count(r), 1);
    CHECK(!registry_stream_in_use(r, "t")); /* slow was its only subscriber */
    CHECK(!registry_remove(r, slow));       /* already removed */
    conn_list_resume_all(&resumes);
    CHECK_EQ(atomic_load(&io[0].resumes), 0); /* it was awake: nothing to un-park */
    CHECK_EQ(atomic_load(&io[2].resumes), 2);
    CHECK_STR(drain(fast), "abcdefgh");
    int64_t pub;
    char buf[8];
    CHECK_EQ(connection_read(slow, buf, sizeof buf, &pub), CONN_READ_END);
    CHECK_EQ(connection_read(parked_slow, buf, sizeof buf, &pub), CONN_READ_END);
    CHECK_EQ(fanout_text(r, "s", "h", &resumes, NULL), 1);
    registry_free(r);
    connection_unref(slow);
    connection_unref(fast);
    connection_unref(parked_slow);
    CHECK_EQ(atomic_load(&io[0].releases) + atomic_load(&io[1].releases) +
                 atomic_load(&io[2].releases),
             3);
    conn_list_free(&resumes);
}

/* A closed but still registered connection is skipped until the HTTP layer removes it. */
static void test_fanout_skips_closed(void)
{
    struct fake_io io = {0};
    struct registry *r = registry_new();
    struct connection *a = conn_on(&io, "s", NULL, 0), *b = conn_on(&io, "s", NULL, 0);
    CHECK(registry_add(r, a));
    CHECK(registry_add(r, b));
    connection_close(a, NULL, CONN_END_SHUTDOWN);
    struct conn_list resumes = {0};
    size_t overflowed = 0;
    CHECK_EQ(fanout_text(r, "s", "x", &resumes, &overflowed), 1);
    CHECK_EQ(overflowed, 0);
    CHECK_EQ(registry_connection_count(r), 2);
    connection_gone(a);
    CHECK(registry_remove(r, a));
    CHECK_EQ(registry_connection_count(r), 1);
    conn_list_free(&resumes);
    registry_free(r);
    connection_unref(a);
    connection_unref(b);
}

struct listing {
    char names[8][16];
    size_t subs[8];
    size_t n;
};

static void list_stream(void *arg, const char *stream, size_t subscribers)
{
    struct listing *l = arg;
    if (l->n < 8) {
        snprintf(l->names[l->n], sizeof l->names[0], "%s", stream);
        l->subs[l->n] = subscribers;
    }
    l->n++;
}

static size_t listed(const struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->n && i < 8; i++)
        if (strcmp(l->names[i], name) == 0)
            return l->subs[i];
    return 0;
}

static void test_listing_and_snapshot(void)
{
    struct fake_io io = {0};
    struct registry *r = registry_new();
    struct connection *a = conn_on(&io, "x", "y", 0), *b = conn_on(&io, "y", NULL, 0);
    struct connection *dup = conn_on(&io, "d", "d", 0); /* a name listed twice */
    CHECK(registry_add(r, a));
    CHECK(registry_add(r, b));
    CHECK(registry_add(r, dup));
    struct listing l = {0};
    registry_each_stream(r, list_stream, &l);
    CHECK_EQ(l.n, 3);
    CHECK_EQ(listed(&l, "x"), 1);
    CHECK_EQ(listed(&l, "y"), 2);
    CHECK_EQ(listed(&l, "d"), 1);
    CHECK_EQ(registry_stream_count(r), 3);
    struct conn_list resumes = {0};
    CHECK_EQ(fanout_text(r, "d", "once", &resumes, NULL), 1);
    CHECK_STR(drain(dup), "once");

    struct conn_list snap = {0};
    registry_snapshot(r, &snap);
    CHECK_EQ(snap.len, 3);
    CHECK(list_has(&snap, a) && list_has(&snap, b) && list_has(&snap, dup));
    CHECK(registry_remove(r, dup));
    CHECK(!registry_stream_in_use(r, "d"));
    CHECK(registry_remove(r, a));
    CHECK(registry_remove(r, b));
    CHECK_EQ(registry_stream_count(r), 0);
    CHECK_EQ(registry_connection_count(r), 0);
    connection_unref(a);
    connection_unref(b);
    connection_unref(dup);
    CHECK_EQ(atomic_load(&io.releases), 0); /* the snapshot still holds them */
    conn_list_free(&snap);
    CHECK_EQ(atomic_load(&io.releases), 3);
    l.n = 0;
    registry_each_stream(r, list_stream, &l);
    CHECK_EQ(l.n, 0);
    conn_list_free(&resumes);
    registry_free(r);
}

/* Registering and removing a random half of many connections keeps every
 * stream's array exact: fan-out reaches exactly the ones left. */
static void test_many_connections_swap_remove(void)
{
    enum { N = 1000 };
    struct fake_io io = {0};
    struct registry *r = registry_new();
    static struct connection *c[N];
    static bool removed[N];
    char name[16], other[16];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "s%d", i % 10);
        snprintf(other, sizeof other, "t%d", i % 7);
        c[i] = conn_on(&io, name, other, 0);
        CHECK(registry_add(r, c[i]));
        removed[i] = false;
    }
    CHECK_EQ(registry_stream_count(r), 17);
    unsigned seed = 7;
    size_t left = N;
    while (left > N / 2) {
        int i = rand_r(&seed) % N;
        if (removed[i])
            continue;
        CHECK(registry_remove(r, c[i]));
        removed[i] = true;
        left--;
    }
    CHECK_EQ(registry_connection_count(r), left);
    struct conn_list resumes = {0};
    bool exact = true;
    for (int s = 0; s < 10; s++) {
        snprintf(name, sizeof name, "s%d", s);
        size_t want = 0;
        for (int i = s; i < N; i += 10)
            want += !removed[i];
        exact &= fanout_text(r, name, "z", &resumes, NULL) == want;
    }
    for (int t = 0; t < 7; t++) {
        snprintf(name, sizeof name, "t%d", t);
        size_t want = 0;
        for (int i = t; i < N; i += 7)
            want += !removed[i];
        exact &= fanout_text(r, name, "w", &resumes, NULL) == want;
    }
    CHECK(exact);
    bool each_once = true;
    for (int i = 0; i < N; i++)
        each_once &= strcmp(drain(c[i]), removed[i] ? "" : "zw") == 0;
    CHECK(each_once);
    /* Remove the rest in reverse order: every stream goes away with its last subscriber. */
    for (int i = N - 1; i >= 0; i--)
        if (!removed[i])
            CHECK(registry_remove(r, c[i]));
    CHECK_EQ(registry_stream_count(r), 0);
    CHECK_EQ(registry_connection_count(r), 0);
    conn_list_free(&resumes);
    registry_free(r);
    for (int i = 0; i < N; i++)
        connection_unref(c[i]);
    CHECK_EQ(atomic_load(&io.releases), N);
}

/* 20k connections on 20k streams plus a shared one: the table grows and
 * shrinks, and add, fan-out and remove stay correct (and fast: a quadratic
 * path would take minutes here). */
static void test_scale(void)
{
    enum { N = 20000 };
    struct fake_io io = {0};
    struct registry *r = registry_new();
    struct connection **c = calloc(N, sizeof *c);
    int *order = calloc(N, sizeof *order);
    char name[16];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "u%d", i);
        c[i] = conn_on(&io, name, "all", 0);
        registry_add(r, c[i]);
        order[i] = i;
    }
    CHECK_EQ(registry_stream_count(r), N + 1);
    CHECK_EQ(registry_connection_count(r), N);
    struct conn_list resumes = {0};
    CHECK_EQ(fanout_text(r, "all", "a", &resumes, NULL), N);
    bool one_each = true;
    for (int i = 0; i < N; i += 97) {
        snprintf(name, sizeof name, "u%d", i);
        one_each &= fanout_text(r, name, "b", &resumes, NULL) == 1;
        one_each &= connection_queued_bytes(c[i]) == 2;
    }
    CHECK(one_each);
    unsigned seed = 99;
    for (int i = N - 1; i > 0; i--) {
        int j = rand_r(&seed) % (i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    bool removed_ok = true;
    for (int i = 0; i < N; i++) {
        removed_ok &= registry_remove(r, c[order[i]]);
        if (i == N / 2) /* N/2 + 1 removed: the rest of the u streams, plus "all" */
            removed_ok &= registry_stream_count(r) == (size_t)(N - N / 2 - 1) + 1;
    }
    CHECK(removed_ok);
    CHECK_EQ(registry_stream_count(r), 0);
    CHECK(!registry_stream_in_use(r, "all"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("scale: %d connections added, fanned out and removed in %.0f ms\n", N,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    conn_list_free(&resumes);
    registry_free(r);
    for (int i = 0; i < N; i++)
        connection_unref(c[i]);
    CHECK_EQ(atomic_load(&io.releases), N);
    free(c);
    free(order);
}

/* registry_free drops the references it holds, even for connections still registered. */
static void test_free_releases(void)
{
    struct fake_io io = {0};
    struct registry *r = registry_new();
    for (int i = 0; i < 5; i++) {
        struct connection *c = conn_on(&io, "s", i % 2 ? "t" : NULL, 0);
        CHECK(registry_add(r, c));
        connection_unref(c); /* the registry's is the last reference */
    }
    CHECK_EQ(atomic_load(&io.releases), 0);
    registry_free(r);
    CHECK_EQ(atomic_load(&io.releases), 5);
}

/*
 * The threaded stress test. A producer fans out numbered frames to stream
 * "s" and resumes in batches, as the dispatcher does; a heartbeat-like thread
 * pushes "h" frames to snapshots during the first half; a churn thread keeps
 * adding and removing short-lived, quickly overflowing subscribers. Two
 * readers drain their connections whenever their fake socket is resumed, as
 * HTTP workers would. Every numbered byte must arrive, in order, once; every
 * suspend must be matched by exactly one resume; and at random sync points
 * the producer waits until both readers have everything, so a lost wakeup
 * (a frame queued on a parked socket nobody resumes) shows up as a timeout
 * instead of being rescued by the next frame. Heartbeats would rescue it too,
 * hence their stop halfway.
 */
enum { STRESS_FRAMES = 20000, READERS = 2, FRAME_LEN = 7 };
#define SYNC_TIMEOUT_MS 10000

struct reader {
    struct connection *c;
    struct fake_io io;
    pthread_t thread;
    unsigned seed;
    char *received;
    size_t len, cap;
    _Atomic size_t progress; /* len, published for the producer's sync points */
    bool ended, timed_out, overrun;
};

struct stress {
    struct registry *r;
    struct reader readers[READERS];
    _Atomic bool producing;
    _Atomic bool heartbeats, heartbeat_stopped;
    size_t sync_points, sync_timeouts; /* producer only */
    size_t short_fanouts;              /* producer only */
    size_t churn_rounds;               /* churn thread only */
    size_t churn_overflows;            /* churn thread only */
    bool churn_released;               /* churn thread only */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wait_until_true(_Atomic bool *flag, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (!atomic_load(flag)) {
        if (now_ms() > deadline)
            return false;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return true;
}

static bool wait_for_progress(struct reader *rd, size_t bytes, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (atomic_load(&rd->progress) < bytes) {
        if (now_ms() > deadline)
            return false;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return true;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    char buf[128];
    int64_t pub;
    for (;;) {
        /* Sampled before the read: a resume after our park always counts. */
        int seen = atomic_load(&rd->io.resumes);
        size_t max = 1 + (size_t)rand_r(&rd->seed) % 97;
        long n = connection_read(rd->c, buf, max, &pub);
        if (n == CONN_READ_END) {
            rd->ended = true;
            return NULL;
        }
        if (n > 0) {
            for (long i = 0; i < n; i++) {
                if (buf[i] == 'h')
                    continue; /* heartbeat frames interleave at frame boundaries */
                if (rd->len == rd->cap) {
                    rd->overrun = true;
                    return NULL;
                }
                rd->received[rd->len++] = buf[i];
            }
            atomic_store(&rd->progress, rd->len);
            continue;
        }
        if (!fake_io_wait_resumes(&rd->io, seen, 2 * SYNC_TIMEOUT_MS)) {
            rd->timed_out = true;
            return NULL;
        }
    }
}

static void *producer_main(void *arg)
{
    struct stress *s = arg;
    struct conn_list resumes = {0};
    unsigned seed = 4242;
    int batch = 0;
    char buf[16];
    for (int i = 0; i < STRESS_FRAMES; i++) {
        snprintf(buf, sizeof buf, "%06d;", i);
        struct frame *f = frame_new(buf, FRAME_LEN, 0);
        size_t queued = registry_fanout(s->r, "s", f, i, 0, &resumes, NULL);
        frame_unref(f);
        if (queued < READERS)
            s->short_fanouts++;
        if (++batch >= 1 + rand_r(&seed) % 8) {
            conn_list_resume_all(&resumes);
            batch = 0;
        }
        if (i == STRESS_FRAMES / 2) {
            atomic_store(&s->heartbeats, false);
            wait_until_true(&s->heartbeat_stopped, SYNC_TIMEOUT_MS);
        }
        /* After one timeout the test has failed: stop waiting, finish fast. */
        if (rand_r(&seed) % 32 == 0 && s->sync_timeouts == 0) {
            conn_list_resume_all(&resumes);
            batch = 0;
            s->sync_points++;
            for (int k = 0; k < READERS; k++)
                if (!wait_for_progress(&s->readers[k], (size_t)(i + 1) * FRAME_LEN,
                                       SYNC_TIMEOUT_MS))
                    s->sync_timeouts++;
        }
    }
    conn_list_resume_all(&resumes);
    atomic_store(&s->producing, false);
    struct frame *end = frame_new("END", 3, 0);
    for (int k = 0; k < READERS; k++)
        if (connection_close(s->readers[k].c, end, CONN_END_SHUTDOWN))
            connection_resume(s->readers[k].c);
    frame_unref(end);
    conn_list_free(&resumes);
    return NULL;
}

static void *heartbeat_main(void *arg)
{
    struct stress *s = arg;
    struct conn_list snap = {0};
    struct frame *hb = frame_new("h", 1, 0);
    while (atomic_load(&s->heartbeats)) {
        registry_snapshot(s->r, &snap);
        for (size_t i = 0; i < snap.len; i++)
            if (connection_push(snap.items[i], hb, 0, false) == CONN_PUSH_NEEDS_RESUME)
                connection_resume(snap.items[i]);
        conn_list_clear(&snap);
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    frame_unref(hb);
    conn_list_free(&snap);
    atomic_store(&s->heartbeat_stopped, true);
    return NULL;
}

static void *churn_main(void *arg)
{
    struct stress *s = arg;
    struct fake_io io = {0};
    char buf[16];
    int64_t pub;
    while (atomic_load(&s->producing)) {
        struct connection *c = conn_on(&io, "s", "churn", 64);
        registry_add(s->r, c);
        for (int k = 0; k < 20; k++)
            if (connection_read(c, buf, sizeof buf, &pub) == CONN_READ_END) {
                s->churn_overflows++;
                break;
            }
        /* As the HTTP layer ends a subscriber: gone first, then unsubscribe. */
        connection_gone(c);
        registry_remove(s->r, c);
        connection_unref(c);
        s->churn_rounds++;
    }
    s->churn_released = atomic_load(&io.releases) == (int)s->churn_rounds;
    return NULL;
}

static void test_threaded_stress(void)
{
    static struct stress s;
    memset(&s, 0, sizeof s);
    s.r = registry_new();
    atomic_store(&s.producing, true);
    atomic_store(&s.heartbeats, true);
    for (int k = 0; k < READERS; k++) {
        struct reader *rd = &s.readers[k];
        rd->c = conn_on(&rd->io, "s", NULL, 0);
        rd->seed = 17u + (unsigned)k;
        rd->cap = (size_t)STRESS_FRAMES * FRAME_LEN + 3;
        rd->received = malloc(rd->cap);
        CHECK(registry_add(s.r, rd->c));
    }
    pthread_t producer, heartbeat, churn;
    for (int k = 0; k < READERS; k++)
        PTOK(pthread_create(&s.readers[k].thread, NULL, reader_main, &s.readers[k]));
    PTOK(pthread_create(&heartbeat, NULL, heartbeat_main, &s));
    PTOK(pthread_create(&churn, NULL, churn_main, &s));
    PTOK(pthread_create(&producer, NULL, producer_main, &s));
    PTOK(pthread_join(producer, NULL));
    PTOK(pthread_join(heartbeat, NULL));
    PTOK(pthread_join(churn, NULL));
    for (int k = 0; k < READERS; k++)
        PTOK(pthread_join(s.readers[k].thread, NULL));

    CHECK_EQ(s.short_fanouts, 0);
    CHECK(s.sync_points > 0);
    CHECK_EQ(s.sync_timeouts, 0);
    CHECK(s.churn_rounds > 0);
    CHECK(s.churn_released);
    printf("stress: %zu sync points, %d/%d parks, %zu churned subscribers, %zu closed by "
           "overflow\n",
           s.sync_points, atomic_load(&s.readers[0].io.suspends),
           atomic_load(&s.readers[1].io.suspends), s.churn_rounds, s.churn_overflows);
    char *want = malloc((size_t)STRESS_FRAMES * FRAME_LEN + 4);
    for (int i = 0; i < STRESS_FRAMES; i++)
        snprintf(want + (size_t)i * FRAME_LEN, FRAME_LEN + 1, "%06d;", i);
    memcpy(want + (size_t)STRESS_FRAMES * FRAME_LEN, "END", 4);
    for (int k = 0; k < READERS; k++) {
        struct reader *rd = &s.readers[k];
        CHECK(rd->ended);
        CHECK(!rd->timed_out);
        CHECK(!rd->overrun);
        CHECK_EQ(rd->len, rd->cap);
        CHECK(rd->len == rd->cap && memcmp(rd->received, want, rd->len) == 0);
        /* Each park was un-parked exactly once: no lost and no extra resume. */
        CHECK(atomic_load(&rd->io.suspends) > 0);
        CHECK_EQ(atomic_load(&rd->io.suspends), atomic_load(&rd->io.resumes));
        free(rd->received);
    }
    free(want);
    CHECK_EQ(registry_connection_count(s.r), READERS);
    registry_free(s.r);
    for (int k = 0; k < READERS; k++) {
        connection_unref(s.readers[k].c);
        CHECK_EQ(atomic_load(&s.readers[k].io.releases), 1);
    }
}

int main(void)
{
    test_fanout_reaches_subscribers();
    test_add_refusals();
    test_fanout_overflow();
    test_fanout_skips_closed();
    test_listing_and_snapshot();
    test_many_connections_swap_remove();
    test_scale();
    test_free_releases();
    test_threaded_stress();
    return CHECK_DONE();
}
