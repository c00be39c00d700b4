/*
 * Unit tests of the worker helper: start and stop twice, a stop that ends a
 * long wait at once, a timed wait that times out, a condvar wait woken by a
 * signal, and the wake hook for a thread that blocks elsewhere. Every wait
 * for another thread is bounded; the long waits (60 s) only bound a test
 * that would otherwise hang.
 */
#include "check.h"
#include "common/clock.h"
#include "common/worker.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int64_t elapsed_ms(int64_t since)
{
    return clock_now_ms(&system_clock) - since;
}

/* Waits up to 5 s for *flag; true if it was set. */
static bool eventually(_Atomic bool *flag)
{
    int64_t start = clock_now_ms(&system_clock);
    while (!atomic_load(flag) && elapsed_ms(start) < 5000) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(flag);
}

struct waiter {
    struct worker *w;
    int64_t wait_ms;
    bool result;          /* what worker_wait returned; read after the join */
    int64_t took_ms;      /* how long it took; read after the join */
    _Atomic bool entered; /* about to wait */
    _Atomic bool done;    /* the wait is over */
};

static void *wait_once(void *arg)
{
    struct waiter *t = arg;
    int64_t start = clock_now_ms(&system_clock);
    atomic_store(&t->entered, true);
    t->result = worker_wait(t->w, t->wait_ms);
    t->took_ms = elapsed_ms(start);
    atomic_store(&t->done, true);
    return NULL;
}

static void test_start_stop_twice(void)
{
    struct waiter t = {.wait_ms = 20};
    t.w = worker_new("test", NULL, NULL);
    CHECK(!worker_stop(t.w)); /* before start: nothing to join */
    CHECK(worker_stopping(t.w));
    for (int round = 0; round < 2; round++) {
        /* A start clears the flag a stop left: the wait runs its course. */
        atomic_store(&t.done, false);
        t.result = false;
        CHECK_EQ(worker_start(t.w, wait_once, &t), 0);
        CHECK(eventually(&t.done));
        CHECK(worker_stop(t.w));
        CHECK(t.result);
        CHECK(t.took_ms >= 20);
        CHECK(!worker_stop(t.w)); /* twice: nothing left to join */
    }
    worker_free(t.w);
    worker_free(NULL);
}

static void test_stop_ends_a_long_wait(void)
{
    struct waiter t = {.wait_ms = 60000};
    t.w = worker_new("test", NULL, NULL);
    CHECK_EQ(worker_start(t.w, wait_once, &t), 0);
    /* Most likely inside the wait by now; if not, the wait sees the flag. */
    CHECK(eventually(&t.entered));
    int64_t start = clock_now_ms(&system_clock);
    CHECK(worker_stop(t.w));
    CHECK(elapsed_ms(start) < 30000);
    CHECK(!t.result);
    CHECK(atomic_load(&t.done));
    worker_free(t.w);
}

static void test_timed_wait_times_out(void)
{
    struct worker *w = worker_new("test", NULL, NULL);
    int64_t start = clock_now_ms(&system_clock);
    struct timespec deadline = clock_monotonic_deadline(30);
    worker_lock(w);
    int spurious = 0;
    while (worker_cond_wait(w, &deadline) && spurious < 1000)
        spurious++;
    worker_unlock(w);
    CHECK(spurious < 1000);
    CHECK(elapsed_ms(start) >= 30);
    worker_free(w);
}

struct signalled {
    struct worker *w;
    bool ready;           /* guarded by the worker's mutex */
    bool saw_ready;       /* read after the join */
    _Atomic bool waiting; /* the thread holds the mutex or waits */
    _Atomic bool done;    /* the wait is over */
};

static void *wait_for_ready(void *arg)
{
    struct signalled *t = arg;
    struct timespec deadline = clock_monotonic_deadline(60000);
    worker_lock(t->w);
    atomic_store(&t->waiting, true);
    while (!t->ready && worker_cond_wait(t->w, &deadline))
        ;
    t->saw_ready = t->ready;
    worker_unlock(t->w);
    atomic_store(&t->done, true);
    return NULL;
}

static void test_cond_wait_woken_by_signal(void)
{
    struct signalled t = {0};
    t.w = worker_new("test", NULL, NULL);
    CHECK_EQ(worker_start(t.w, wait_for_ready, &t), 0);
    CHECK(eventually(&t.waiting));
    worker_lock(t.w);
    t.ready = true;
    worker_signal(t.w);
    worker_unlock(t.w);
    /* The signal ends the wait, not the stop: it only joins. */
    CHECK(eventually(&t.done));
    worker_stop(t.w);
    CHECK(t.saw_ready);
    worker_free(t.w);
}

struct piped {
    int fds[2];
    int wakes;   /* wake hook calls: the stopping thread's */
    ssize_t got; /* what the blocked thread read; read after the join */
};

static void wake_by_pipe(void *ctx)
{
    struct piped *p = ctx;
    p->wakes++;
    char c = 1;
    ssize_t ignored = write(p->fds[1], &c, 1);
    (void)ignored;
}

static void *block_on_pipe(void *arg)
{
    struct piped *p = arg;
    char c;
    p->got = read(p->fds[0], &c, 1);
    return NULL;
}

static void test_wake_hook_reaches_a_thread_blocked_elsewhere(void)
{
    struct piped p = {.wakes = 0, .got = 0};
    CHECK_EQ(pipe(p.fds), 0);
    struct worker *w = worker_new("test", wake_by_pipe, &p);
    CHECK(!worker_stop(w)); /* no thread: no wake */
    CHECK_EQ(p.wakes, 0);
    CHECK_EQ(worker_start(w, block_on_pipe, &p), 0);
    CHECK(worker_stop(w));
    CHECK_EQ(p.wakes, 1);
    CHECK_EQ(p.got, 1);
    CHECK(!worker_stop(w));
    CHECK_EQ(p.wakes, 1);
    worker_free(w);
    close(p.fds[0]);
    close(p.fds[1]);
}

int main(void)
{
    test_start_stop_twice();
    test_stop_ends_a_long_wait();
    test_timed_wait_times_out();
    test_cond_wait_woken_by_signal();
    test_wake_hook_reaches_a_thread_blocked_elsewhere();
    return CHECK_DONE();
}
