/*
 * listener: owns the dedicated LISTEN connection and the thread that waits on
 * it in a libevent loop. The loop only waits and calls a step:
 *   - the connection's socket → listener_poll_once: "sse#events" → WAKE
 *     ("pruned" → a bounds WAKE), "sse#notify" (JSON, notify_payload.c) →
 *     EPHEMERAL, any other channel → EPHEMERAL on the stream of that name
 *     (a raw NOTIFY "<stream>");
 *   - a health-check timer → listener_health_once: a round trip, the lazy
 *     UNLISTEN of streams nobody reads any more, and the backup bounds WAKE;
 *   - a reconnect timer, 100 ms doubling to 5 s → listener_connect_once,
 *     which LISTENs every channel again, in batches, and posts a catch-up
 *     bounds WAKE: durable events committed during an outage are read then,
 *     ephemeral ones are lost (at most once);
 *   - the command inbox's eventfd → inbox.c (batched LISTENs, or STOP).
 * It also builds, starts, stops and frees the whole listener.
 *
 * Threads: the loop and the steps run on the listener thread (or on a test's
 * thread with no loop); new, start, stop, free and connected on others. The
 * lock rules are in listener_internal.h.
 *
 * Not here: the channel set (channels.c), the inbox and listener_ensure_many
 * (inbox.c), the lazy UNLISTEN (sweep.c), reading events (the dispatcher
 * does it on a WAKE), and the "sse#wake" channel (the sequencer's own
 * connection).
 */
#include "listener/listener.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/pg_ops.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "dispatch/dispatch_queue.h"
#include "listener/listener_internal.h"
#include "listener/notify_payload.h"
#include "protocol/position.h"
#include "protocol/stream_name.h"

#include <assert.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WARN_EVERY_MS  10000 /* at most one line per kind of trouble */

/* ---- helpers of the listener thread ---- */

static struct timeval ms_to_tv(int64_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* Logs one warning unless one of the same kind went out in the last
 * WARN_EVERY_MS, in which case it is only counted and mentioned next time. */
static void __attribute__((format(printf, 3, 4)))
warn_limited(struct listener *l, struct log_budget *b, const char *fmt, ...)
{
    if (!log_budget_take_at(b, 1, WARN_EVERY_MS, clock_now_ms(l->deps.clock)))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap); /* a long message is cut, not lost */
    va_end(ap);
    unsigned suppressed = log_budget_refused(b);
    if (suppressed)
        log_warn("listener", "%s (%u more like it suppressed)", msg, suppressed);
    else
        log_warn("listener", "%s", msg);
}

static void post_ephemeral(struct listener *l, const char *stream, const char *event,
                           const char *data, size_t len)
{
    dispatch_queue_push(l->deps.queue, dispatch_msg_ephemeral(stream, event, data, len));
    metrics_add(&l->deps.metrics->events_ephemeral, 1);
}

/* The WAKE one batch of notifications on "sse#events" comes to: one read
 * catches up on every position. */
struct woke {
    bool any;     /* a notification came */
    bool bounds;  /* one said "pruned": re-read the retention bound */
    bool unknown; /* one named no head: the dispatcher must read */
    int64_t head; /* the highest head named */
};

static void handle_notification(struct listener *l, const char *channel, const char *payload,
                                struct woke *woke)
{
    if (strcmp(channel, CHANNEL_EVENTS) == 0) {
        /* The leader sends the head of each batch it commits, and "pruned"
         * after deleting events by retention. Anyone may send either: a
         * head only lets the dispatcher skip a read when it holds every
         * position up to it already, "pruned" only makes it re-read the
         * bound from the database. */
        int64_t head = 0;
        woke->any = true;
        if (strcmp(payload, "pruned") == 0)
            woke->bounds = true;
        else if (position_parse(payload, strlen(payload), &head) != 0 || head == 0)
            woke->unknown = true;
        else if (head > woke->head)
            woke->head = head;
    } else if (strcmp(channel, CHANNEL_NOTIFY) == 0) {
        struct notify_payload p;
        const char *why;
        if (notify_payload_parse(payload, strlen(payload), &p, &why) != 0) {
            /* A forged sentinel is an attack, not a bug of the sender: its
             * own budget, so a flood of bad payloads cannot hide it. */
            bool forged = why == notify_payload_reserved;
            metrics_add(forged ? &l->deps.metrics->notifications_reserved
                               : &l->deps.metrics->notifications_malformed,
                        1);
            warn_limited(l, forged ? &l->forged_warn : &l->payload_warn,
                         "dropped a notification on %s: %s", CHANNEL_NOTIFY, why);
            return;
        }
        post_ephemeral(l, p.stream, p.event, p.data, p.data_len);
        notify_payload_clear(&p);
    } else if (stream_name_valid(channel, strlen(channel))) {
        post_ephemeral(l, channel, NULL, payload, strlen(payload));
    } else {
        metrics_add(&l->deps.metrics->notifications_malformed, 1);
        warn_limited(l, &l->payload_warn, "dropped a notification on \"%.64s\": not a stream name",
                     channel);
    }
}

/* Hands on every notification libpq holds. Called after consume and after
 * every statement: libpq keeps what arrived while it waited for a result,
 * and the socket will not turn readable again for those. */
static void drain(struct listener *l)
{
    char *channel, *payload;
    struct woke woke = {0};
    while (l->deps.pg->next_notification(l->deps.pg->ctx, l->conn, &channel, &payload) == 1) {
        handle_notification(l, channel, payload, &woke);
        free(channel);
        free(payload);
    }
    if (!woke.any)
        return;
    struct dispatch_msg *m = woke.bounds ? dispatch_msg_wake_bounds() : dispatch_msg_wake();
    m->head_hint = woke.unknown ? 0 : woke.head;
    m->posted_us = clock_wall_us(l->deps.clock);
    dispatch_queue_push(l->deps.queue, m);
}

/* Arms the reconnect timer for the current backoff and doubles the next one.
 * A no-op while a reconnect is already pending. */
static void schedule_reconnect(struct listener *l)
{
    if (evtimer_pending(l->reconnect_ev, NULL))
        return;
    struct timeval tv = ms_to_tv(l->backoff_ms);
    evtimer_add(l->reconnect_ev, &tv);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* Closes the connection; every channel must be LISTENed again on the next. */
static void drop_connection(struct listener *l)
{
    if (!l->conn)
        return;
    if (l->sock_ev) {
        event_free(l->sock_ev); /* before finish closes its descriptor */
        l->sock_ev = NULL;
    }
    l->deps.pg->finish(l->deps.pg->ctx, l->conn);
    l->conn = NULL;
    PTOK(pthread_mutex_lock(&l->mtx));
    atomic_store(&l->connected, false);
    channels_unlisten_all(l->channels);
    PTOK(pthread_mutex_unlock(&l->mtx));
    atomic_store(&l->deps.metrics->listener_connected, 0);
}

static void connection_lost(struct listener *l, const char *what, const char *err)
{
    warn_limited(l, &l->lost_warn, "LISTEN connection lost, reconnecting: %s: %s", what,
                 err ? err : "unknown error");
    drop_connection(l);
    schedule_reconnect(l);
}

/* Runs one statement, then drains. On failure the connection is dropped and
 * the reconnect scheduled. */
static int run_sql(struct listener *l, const char *sql)
{
    char *err = NULL;
    if (l->deps.pg->exec(l->deps.pg->ctx, l->conn, sql, &err) != 0) {
        connection_lost(l, sql, err);
        free(err);
        return -1;
    }
    drain(l);
    return 0;
}

int listener_channels_sql(struct listener *l, const char *verb, struct channel **cs, size_t n)
{
    /* Each "; VERB \"name\"" fits in this, names being at most CHANNEL_MAX. */
    const size_t per = 2 + strlen("UNLISTEN") + 3 + CHANNEL_MAX;
    bool listen = strcmp(verb, "LISTEN") == 0;
    char *sql = xmalloc(CHANNEL_BATCH * per + 1);
    int rc = 0;
    for (size_t at = 0, end; at < n && rc == 0; at = end) {
        end = n - at > CHANNEL_BATCH ? at + CHANNEL_BATCH : n;
        size_t len = 0;
        for (size_t i = at; i < end; i++) {
            /* Plain quoting is safe: no stream name holds a '"' (stream_name.h). */
            assert(strlen(cs[i]->name) <= CHANNEL_MAX && !strchr(cs[i]->name, '"'));
            len += (size_t)snprintf(sql + len, per + 1, "%s%s \"%s\"", i > at ? "; " : "", verb,
                                    cs[i]->name);
        }
        rc = run_sql(l, sql);
        if (rc == 0 && listen) {
            PTOK(pthread_mutex_lock(&l->mtx));
            for (size_t i = at; i < end; i++)
                cs[i]->listened = true;
            PTOK(pthread_mutex_unlock(&l->mtx));
        }
    }
    free(sql);
    return rc;
}

/* LISTENs every channel not yet LISTENed, round after round, and turns
 * connected on in the critical section that finds none left: a stream that
 * listener_ensure adds meanwhile is either in a later round here or, once
 * connected is on, goes through the inbox. */
static int listen_all(struct listener *l, size_t *count)
{
    for (;;) {
        size_t n;
        PTOK(pthread_mutex_lock(&l->mtx));
        struct channel **todo = channels_unlistened(l->channels, &n);
        if (n == 0) {
            atomic_store(&l->connected, true);
            *count = channels_count(l->channels);
        }
        PTOK(pthread_mutex_unlock(&l->mtx));
        int rc = listener_channels_sql(l, "LISTEN", todo, n);
        free(todo);
        if (rc != 0 || n == 0)
            return rc;
    }
}

static void sock_cb(evutil_socket_t fd, short what, void *arg);

int listener_connect_once(struct listener *l)
{
    assert(!l->conn);
    char *err = NULL;
    l->conn = l->deps.pg->connect(l->deps.pg->ctx, l->deps.conninfo, &err);
    if (!l->conn) {
        warn_limited(l, &l->connect_warn, "could not connect, retrying: %s",
                     err ? err : "unknown error");
        free(err);
        schedule_reconnect(l);
        return -1;
    }
    int fd = l->deps.pg->socket(l->deps.pg->ctx, l->conn);
    if (fd >= 0)
        l->sock_ev = event_new(l->base, fd, EV_READ | EV_PERSIST, sock_cb, l);
    if (!l->sock_ev || event_add(l->sock_ev, NULL) != 0) {
        connection_lost(l, "watching the socket", "no usable socket");
        return -1;
    }
    size_t count = 0;
    if (listen_all(l, &count) != 0)
        return -1;
    evtimer_del(l->reconnect_ev);
    l->backoff_ms = BACKOFF_MIN_MS;
    atomic_store(&l->deps.metrics->listener_connected, 1);
    if (l->ever_connected)
        metrics_add(&l->deps.metrics->listener_reconnects, 1);
    log_info("listener", "%s: listening on %zu channels",
             l->ever_connected ? "reconnected" : "connected", count);
    l->ever_connected = true;
    /* Durable events committed while we were away are read now, and the
     * retention bound too: a "pruned" sent meanwhile was lost. */
    dispatch_queue_push(l->deps.queue, dispatch_msg_wake_bounds());
    return 0;
}

int listener_poll_once(struct listener *l)
{
    if (!l->conn)
        return -1;
    if (l->deps.pg->consume(l->deps.pg->ctx, l->conn) != 0) {
        connection_lost(l, "reading notifications", "the connection broke");
        return -1;
    }
    drain(l);
    return 0;
}

void listener_service(struct listener *l)
{
    if (l->deps.pg->consume(l->deps.pg->ctx, l->conn) != 0) {
        connection_lost(l, "reading notifications", "the connection broke");
        return;
    }
    drain(l);
    inbox_serve(l);
}

int listener_health_once(struct listener *l)
{
    if (!l->conn)
        schedule_reconnect(l); /* normally pending already */
    else
        run_sql(l, "SELECT 1");
    sweep_unused(l);
    /* The periodic poll that backs up every NOTIFY, "pruned" included (a lost wake costs a poll
     * interval, never an event, nor a pruned one served), also while disconnected: the
     * dispatcher reads over its own connection. */
    dispatch_queue_push(l->deps.queue, dispatch_msg_wake_bounds());
    return l->conn ? 0 : -1;
}

/* ---- the loop ---- */

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listener_poll_once(from_arg(arg));
}

static void health_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listener_health_once(from_arg(arg));
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = from_arg(arg);
    if (!l->conn)
        listener_connect_once(l);
}

static void *run(void *arg)
{
    struct listener *l = from_arg(arg);
    inbox_set_running(l, true);
    if (event_base_dispatch(l->base) < 0)
        log_error("listener", "event loop failed: notifications stop");
    inbox_set_running(l, false);
    drop_connection(l);
    return NULL;
}

/* ---- public ---- */

/* The worker's wake hook: the thread blocks in libevent, not on the
 * worker's condvar, so the stop reaches it as a command in its inbox. */
static void push_stop(void *ctx)
{
    struct listener *l = ctx;
    PTOK(pthread_mutex_lock(&l->mtx));
    inbox_push_stop(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
}

struct listener *listener_new(const struct listener_deps *deps)
{
    assert(deps->pg && deps->queue && deps->metrics && deps->clock);
    assert(deps->health_check_ms > 0);
    struct listener *l = xcalloc(1, sizeof *l);
    l->magic = LISTENER_MAGIC;
    l->deps = *deps;
    /* Before the base exists, or the base gets no locks (event2/thread.h). */
    if (evthread_use_pthreads() != 0)
        must(NULL, "libevent thread support");
    l->base = must(event_base_new(), "event base");
    inbox_init(l);
    l->health_ev = must(event_new(l->base, -1, EV_PERSIST, health_cb, l), "health timer");
    l->reconnect_ev = must(evtimer_new(l->base, reconnect_cb, l), "reconnect timer");
    l->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&l->connected, false);
    PTOK(pthread_mutex_init(&l->mtx, NULL));
    l->channels = channels_new();
    l->worker = worker_new("listener", push_stop, l);
    return l;
}

int listener_start(struct listener *l)
{
    PTOK(pthread_mutex_lock(&l->mtx));
    bool stopping = l->stopping;
    PTOK(pthread_mutex_unlock(&l->mtx));
    if (l->started || stopping) /* a stopped listener does not start again */
        return -1;
    struct timeval health = ms_to_tv(l->deps.health_check_ms), now = {0, 0};
    event_add(l->inbox_ev, NULL);
    event_add(l->health_ev, &health);
    if (!l->conn)
        evtimer_add(l->reconnect_ev, &now);
    if (worker_start(l->worker, run, l) != 0) {
        event_del(l->inbox_ev);
        event_del(l->health_ev);
        event_del(l->reconnect_ev);
        return -1;
    }
    l->started = true;
    return 0;
}

void listener_stop(struct listener *l)
{
    if (!l)
        return;
    PTOK(pthread_mutex_lock(&l->mtx));
    l->stopping = true; /* from now on ensure refuses at once */
    PTOK(pthread_mutex_unlock(&l->mtx));
    worker_stop(l->worker); /* push_stop, then join; safe twice */
    l->started = false;
}

void listener_free(struct listener *l)
{
    if (!l)
        return;
    listener_stop(l);
    drop_connection(l); /* a test may have connected with no thread */
    inbox_free(l);
    event_free(l->health_ev);
    event_free(l->reconnect_ev);
    event_base_free(l->base);
    channels_free(l->channels);
    worker_free(l->worker);
    PTOK(pthread_mutex_destroy(&l->mtx));
    l->magic = 0;
    free(l);
}

bool listener_connected(struct listener *l)
{
    return atomic_load(&l->connected);
}
