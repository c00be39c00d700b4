/*
 * header_watch: the sockets waiting for headers form one list in the order
 * their waits began, so the head always has the earliest deadline (every
 * socket of a watch gets the same allowance at a given moment) and a sweep
 * stops at the first socket still in time. Adding, removing and closing are
 * O(1) under the worker's mutex. The thread is woken only when the list
 * goes from empty to not, or when the daemon becomes full; otherwise it
 * sleeps until the head's deadline.
 *
 * Does not: read or parse anything (the daemon says when headers are
 * complete), or close a descriptor.
 */
#include "web/header_watch.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

/* Lines per second about swept sockets. */
#define SWEEP_LOG_PER_SECOND 1

struct watched {
    struct header_watch *hw;
    int fd;                      /* fixed: the daemon's descriptor */
    int64_t since_ms;            /* guarded by the worker's mutex: its wait began */
    bool listed;                 /* guarded: waiting for headers */
    struct watched *prev, *next; /* guarded */
};

struct header_watch {
    struct header_watch_deps deps; /* fixed after start */
    struct worker *worker;         /* fixed after start: its mutex guards the rest */
    struct watched *head, *tail;   /* the sockets waiting for headers, oldest first */
    size_t open;                   /* sockets connected and not yet closed */
    bool ever_full;                /* open reached full_at at least once */
    int64_t full_ms;               /* when it last did */
    bool kicked;                   /* the list or the allowance changed: sweep again */
    uint64_t swept;                /* sockets shut down */
    struct log_budget log;         /* lines about swept sockets */
};

struct header_watch *header_watch_new(const struct header_watch_deps *deps)
{
    assert(deps->timeout_ms > 0);
    struct header_watch *hw = xcalloc(1, sizeof *hw);
    hw->deps = *deps;
    hw->worker = worker_new("http", NULL, NULL);
    return hw;
}

static void append(struct header_watch *hw, struct watched *s, int64_t now)
{
    s->since_ms = now;
    s->listed = true;
    s->prev = hw->tail;
    s->next = NULL;
    if (hw->tail)
        hw->tail->next = s;
    else
        hw->head = s;
    hw->tail = s;
}

static void unlink_watched(struct header_watch *hw, struct watched *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        hw->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        hw->tail = s->prev;
    s->prev = s->next = NULL;
    s->listed = false;
}

/* Mutex held: make the thread sweep again. */
static void kick(struct header_watch *hw)
{
    hw->kicked = true;
    worker_signal(hw->worker);
}

struct watched *header_watch_connected(struct header_watch *hw, int fd)
{
    struct watched *s = xcalloc(1, sizeof *s);
    s->hw = hw;
    s->fd = fd;
    worker_lock(hw->worker);
    int64_t now = clock_now_ms(hw->deps.clock);
    bool was_empty = !hw->head;
    append(hw, s, now);
    hw->open++;
    bool full = hw->deps.full_at && hw->open >= hw->deps.full_at;
    if (full) {
        hw->ever_full = true;
        hw->full_ms = now;
    }
    if (was_empty || full)
        kick(hw);
    worker_unlock(hw->worker);
    return s;
}

void header_watch_headers_done(struct watched *s)
{
    if (!s)
        return;
    struct header_watch *hw = s->hw;
    worker_lock(hw->worker);
    if (s->listed)
        unlink_watched(hw, s);
    worker_unlock(hw->worker);
}

void header_watch_waiting(struct watched *s)
{
    if (!s)
        return;
    struct header_watch *hw = s->hw;
    worker_lock(hw->worker);
    if (!s->listed) {
        bool was_empty = !hw->head;
        append(hw, s, clock_now_ms(hw->deps.clock));
        if (was_empty)
            kick(hw);
    }
    worker_unlock(hw->worker);
}

void header_watch_closed(struct watched *s)
{
    if (!s)
        return;
    struct header_watch *hw = s->hw;
    worker_lock(hw->worker);
    if (s->listed)
        unlink_watched(hw, s);
    assert(hw->open > 0);
    hw->open--;
    worker_unlock(hw->worker);
    free(s);
}

/* Mutex held: how long a socket may wait for its headers right now. */
static int64_t allowance(const struct header_watch *hw, int64_t now)
{
    int64_t t = hw->deps.timeout_ms;
    bool full = hw->deps.full_at && hw->open >= hw->deps.full_at;
    return full || (hw->ever_full && now - hw->full_ms < t) ? t / 4 : t;
}

int64_t header_watch_sweep(struct header_watch *hw)
{
    size_t n = 0;
    worker_lock(hw->worker);
    int64_t now = clock_now_ms(hw->deps.clock), allow = allowance(hw, now);
    /* The descriptor stays open until header_watch_closed, which waits for
     * this mutex: the socket shut down is always the watched one. */
    while (hw->head && now - hw->head->since_ms >= allow) {
        struct watched *s = hw->head;
        unlink_watched(hw, s);
        shutdown(s->fd, SHUT_RDWR);
        n++;
    }
    hw->swept += n;
    int64_t next = hw->head ? hw->head->since_ms + allow - now : -1;
    worker_unlock(hw->worker);
    if (n && log_budget_take(&hw->log, SWEEP_LOG_PER_SECOND))
        log_info("http", "closed %zu sockets without complete request headers after %lld ms", n,
                 (long long)allow);
    return next;
}

uint64_t header_watch_swept(struct header_watch *hw)
{
    worker_lock(hw->worker);
    uint64_t n = hw->swept;
    worker_unlock(hw->worker);
    return n;
}

/* Waits until ms from now (-1: no deadline), a kick or a stop; false once
 * stopped. */
static bool wait_for_deadline(struct header_watch *hw, int64_t ms)
{
    struct timespec ts = clock_monotonic_deadline(ms);
    worker_lock(hw->worker);
    if (!hw->kicked && !worker_stopping(hw->worker))
        worker_cond_wait(hw->worker, ms >= 0 ? &ts : NULL);
    hw->kicked = false;
    bool go_on = !worker_stopping(hw->worker);
    worker_unlock(hw->worker);
    return go_on;
}

static void *run(void *arg)
{
    struct header_watch *hw = arg;
    while (wait_for_deadline(hw, header_watch_sweep(hw)))
        ;
    return NULL;
}

int header_watch_start(struct header_watch *hw)
{
    return worker_start(hw->worker, run, hw);
}

void header_watch_stop(struct header_watch *hw)
{
    if (hw)
        worker_stop(hw->worker);
}

void header_watch_free(struct header_watch *hw)
{
    if (!hw)
        return;
    worker_free(hw->worker);
    assert(hw->open == 0 && !hw->head);
    free(hw);
}
