/*
 * Unit tests of the write pool with real connections, parked on fake
 * sockets that take every direct write: a small round is written by the
 * caller before flush returns; a large one by the pool's threads; every
 * socket gets its frames once and in the order they were queued, over many
 * rounds handed over by two threads at once (a push that finds a write
 * already owed rides along with it, so later rounds may be small and
 * written inline); no pool, or a stopped one, writes everything inline.
 */
#include "check.h"
#include "common/frame.h"
#include "registry/conn_list.h"
#include "registry/connection.h"
#include "registry/write_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define MAX_BYTES 4096

/* A parked socket that takes everything and remembers what, and who wrote it. */
struct sock {
    pthread_mutex_t mtx; /* the test's threads read it while writers write */
    int sends, writers_seen;
    pthread_t writer;
    char got[MAX_BYTES];
    size_t n;
};

static void sock_suspend(void *ctx)
{
    (void)ctx;
}

static void sock_resume(void *ctx)
{
    (void)ctx;
}

static long sock_send(void *ctx, const struct iovec *iov, int iovcnt, int64_t published)
{
    struct sock *s = ctx;
    (void)published;
    pthread_mutex_lock(&s->mtx);
    s->sends++;
    if (s->sends == 1 || !pthread_equal(s->writer, pthread_self()))
        s->writers_seen++;
    s->writer = pthread_self();
    long n = 0;
    for (int i = 0; i < iovcnt; i++) {
        size_t take = iov[i].iov_len < MAX_BYTES - 1 - s->n ? iov[i].iov_len : MAX_BYTES - 1 - s->n;
        memcpy(s->got + s->n, iov[i].iov_base, take);
        s->n += take;
        n += (long)iov[i].iov_len;
    }
    pthread_mutex_unlock(&s->mtx);
    return n;
}

static const struct conn_io_ops ops = {sock_suspend, sock_resume, sock_send};

struct rig {
    size_t n;
    struct sock *socks;
    struct connection **conns;
};

/* n connections, each parked after a first read (MHD has sent its headers). */
static void rig_init(struct rig *r, size_t n)
{
    r->n = n;
    r->socks = calloc(n, sizeof *r->socks);
    r->conns = calloc(n, sizeof *r->conns);
    struct frame *hello = frame_new("h", 1, 0);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_init(&r->socks[i].mtx, NULL);
        r->conns[i] =
            connection_new(&(struct connection_params){.streams = (const char *const[]){"s"},
                                                       .nstreams = 1,
                                                       .io = &ops,
                                                       .io_ctx = &r->socks[i]});
        char buf[8];
        int64_t pub;
        connection_push(r->conns[i], hello, 0, true);
        CHECK_EQ(connection_read(r->conns[i], buf, sizeof buf, &pub), 1);
        CHECK_EQ(connection_read(r->conns[i], buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    }
    frame_unref(hello);
}

static void rig_free(struct rig *r)
{
    for (size_t i = 0; i < r->n; i++) {
        connection_unref(r->conns[i]);
        pthread_mutex_destroy(&r->socks[i].mtx);
    }
    free(r->socks);
    free(r->conns);
}

/* Pushes text to connections [from, to) and hands the round to the pool.
 * Returns the list's length after the flush (0); no CHECK here, since the
 * feeders call it from their threads. */
static size_t round_of(struct write_pool *p, struct rig *r, size_t from, size_t to,
                       const char *text)
{
    struct frame *f = frame_new(text, strlen(text), 0);
    struct conn_list l = {0};
    for (size_t i = from; i < to; i++)
        if (connection_push(r->conns[i], f, 0, true) == CONN_PUSH_NEEDS_RESUME)
            conn_list_push(&l, connection_ref(r->conns[i]));
    write_pool_flush(p, &l);
    size_t left = l.len;
    conn_list_free(&l);
    frame_unref(f);
    return left;
}

static void wait_written(struct write_pool *p)
{
    for (int i = 0; i < 5000 && write_pool_pending(p) > 0; i++)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    CHECK_EQ(write_pool_pending(p), 0);
}

static void test_small_round_inline(void)
{
    struct write_pool *p = write_pool_new(4);
    CHECK_EQ(write_pool_start(p), 0);
    struct rig r;
    rig_init(&r, WRITE_POOL_INLINE_MAX);
    CHECK_EQ(round_of(p, &r, 0, r.n, "a"), 0);
    for (size_t i = 0; i < r.n; i++) /* written before flush returned, by this thread */
        CHECK(r.socks[i].sends == 1 && pthread_equal(r.socks[i].writer, pthread_self()));
    write_pool_free(p);
    rig_free(&r);
}

struct feeder {
    struct write_pool *p;
    struct rig *r;
    size_t from, to;
    int rounds;
    size_t left; /* summed from round_of, checked by the main thread */
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    for (int k = 0; k < f->rounds; k++) {
        char text[8];
        snprintf(text, sizeof text, "%c", 'a' + k);
        f->left += round_of(f->p, f->r, f->from, f->to, text);
    }
    return NULL;
}

static void test_large_rounds_in_parallel(void)
{
    struct write_pool *p = write_pool_new(4);
    CHECK_EQ(write_pool_start(p), 0);
    struct rig r;
    rig_init(&r, 2000);
    /* Two threads hand over rounds at once (as the dispatcher and the
     * heartbeat do), each for its half of the connections. */
    struct feeder a = {p, &r, 0, 1000, 20, 0}, b = {p, &r, 1000, 2000, 20, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, feed, &a);
    pthread_create(&tb, NULL, feed, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ(a.left + b.left, 0);
    wait_written(p);
    size_t in_order = 0, one_writer = 0;
    pthread_t first = r.socks[0].writer;
    bool several_threads = false;
    for (size_t i = 0; i < r.n; i++) {
        pthread_mutex_lock(&r.socks[i].mtx);
        r.socks[i].got[r.socks[i].n] = '\0';
        in_order += strcmp(r.socks[i].got, "abcdefghijklmnopqrst") == 0;
        one_writer += r.socks[i].writers_seen == 1;
        several_threads = several_threads || !pthread_equal(r.socks[i].writer, first);
        pthread_mutex_unlock(&r.socks[i].mtx);
    }
    CHECK_EQ(in_order, r.n); /* every socket got its 20 frames once, in order */
    CHECK(several_threads);  /* and the rounds were spread */
    CHECK(one_writer > 0);
    write_pool_stop(p);
    write_pool_stop(p);
    write_pool_free(p);
    rig_free(&r);
}

static void test_no_pool_inline(void)
{
    struct rig r;
    rig_init(&r, 100);
    CHECK_EQ(round_of(NULL, &r, 0, r.n, "x"), 0);
    struct write_pool *stopped = write_pool_new(2); /* never started: inline too */
    CHECK_EQ(round_of(stopped, &r, 0, r.n, "y"), 0);
    for (size_t i = 0; i < r.n; i++) {
        r.socks[i].got[r.socks[i].n] = '\0';
        CHECK_STR(r.socks[i].got, "xy");
    }
    write_pool_free(stopped);
    write_pool_free(NULL);
    rig_free(&r);
}

int main(void)
{
    test_small_round_inline();
    test_large_rounds_in_parallel();
    test_no_pool_inline();
    return CHECK_DONE();
}
