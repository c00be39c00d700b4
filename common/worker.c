/*
 * worker: a thread's start, stop and join, and the timed wait on a condvar
 * that runs on CLOCK_MONOTONIC, so a change of the wall clock neither cuts a
 * wait short nor stretches it. The stop flag is written under the mutex (a
 * waiter cannot miss the broadcast) and is atomic, so a thread that blocks
 * elsewhere can read it without the lock.
 */
#include "common/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    const char *module;    /* fixed after new */
    worker_wake_fn wake;   /* fixed after new */
    void *wake_ctx;        /* fixed after new */
    pthread_t thread;      /* owned by the caller of start/stop */
    bool running;          /* owned by the caller of start/stop */
    pthread_mutex_t mtx;   /* also guards what the owner waits on */
    pthread_cond_t cond;   /* CLOCK_MONOTONIC */
    _Atomic bool stopping; /* shared: written under mtx */
};

struct worker *worker_new(const char *module, worker_wake_fn wake, void *wake_ctx)
{
    struct worker *w = xcalloc(1, sizeof *w);
    w->module = module;
    w->wake = wake;
    w->wake_ctx = wake_ctx;
    atomic_init(&w->stopping, false);
    pthread_condattr_t attr;
    PTOK(pthread_condattr_init(&attr));
    PTOK(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC));
    PTOK(pthread_cond_init(&w->cond, &attr));
    PTOK(pthread_condattr_destroy(&attr));
    PTOK(pthread_mutex_init(&w->mtx, NULL));
    return w;
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    worker_stop(w);
    PTOK(pthread_cond_destroy(&w->cond));
    PTOK(pthread_mutex_destroy(&w->mtx));
    free(w);
}

int worker_start(struct worker *w, worker_fn fn, void *arg)
{
    assert(!w->running);
    worker_lock(w);
    atomic_store(&w->stopping, false);
    worker_unlock(w);
    int err = pthread_create(&w->thread, NULL, fn, arg);
    if (err != 0) {
        char buf[128];
        log_error(w->module, "could not start thread: %s", strerror_r(err, buf, sizeof buf));
        return -1;
    }
    w->running = true;
    return 0;
}

bool worker_stop(struct worker *w)
{
    worker_lock(w);
    atomic_store(&w->stopping, true);
    PTOK(pthread_cond_broadcast(&w->cond));
    if (w->running && w->wake)
        w->wake(w->wake_ctx);
    worker_unlock(w);
    if (!w->running)
        return false;
    PTOK(pthread_join(w->thread, NULL));
    w->running = false;
    return true;
}

bool worker_stopping(struct worker *w)
{
    return atomic_load(&w->stopping);
}

bool worker_wait(struct worker *w, int64_t ms)
{
    struct timespec deadline = clock_monotonic_deadline(ms);
    worker_lock(w);
    while (!worker_stopping(w) && worker_cond_wait(w, &deadline))
        ;
    bool go_on = !worker_stopping(w);
    worker_unlock(w);
    return go_on;
}

void worker_lock(struct worker *w)
{
    PTOK(pthread_mutex_lock(&w->mtx));
}

void worker_unlock(struct worker *w)
{
    PTOK(pthread_mutex_unlock(&w->mtx));
}

void worker_signal(struct worker *w)
{
    PTOK(pthread_cond_signal(&w->cond));
}

bool worker_cond_wait(struct worker *w, const struct timespec *deadline)
{
    if (!deadline) {
        PTOK(pthread_cond_wait(&w->cond, &w->mtx));
        return true;
    }
    int rc = pthread_cond_timedwait(&w->cond, &w->mtx, deadline);
    if (rc == ETIMEDOUT)
        return false;
    PTOK(rc);
    return true;
}
