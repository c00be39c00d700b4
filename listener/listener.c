/*
 * listener: owns the dedicated LISTEN connection and the thread that waits on
 * it in a libevent loop. The loop only waits and calls a step:
 *   - the connection's socket → listener_poll_once: "sse#events" → WAKE,
 *     "sse#notify" (JSON, notify_payload.c) → EPHEMERAL, any other channel →
 *     EPHEMERAL on the stream of that name (a raw NOTIFY "<stream>");
 *   - a health-check timer → listener_health_once: a round trip, the lazy
 *     UNLISTEN of streams nobody reads any more, and the backup WAKE;
 *   - a reconnect timer, 100 ms doubling to 5 s → listener_connect_once,
 *     which LISTENs every channel again and posts a catch-up WAKE: durable
 *     events committed during an outage are read then, ephemeral ones are
 *     lost (at most once);
 *   - an eventfd command inbox through which other threads ask for a
 *     synchronous LISTEN (listener_ensure waits for the ack) or STOP.
 *
 * Threads: the loop and the steps run on the listener thread (or on a test's
 * thread with no loop); ensure, connected and stop on others. The channel
 * set and the inbox are guarded by mtx, a leaf lock: pg_ops and stream_in_use
 * (the registry's lock) are never called with it held. Channel nodes are
 * freed only by the listener thread, which may keep pointers to them across
 * an unlock; their names never change.
 *
 * Not here: reading events (the dispatcher does it on a WAKE), and the
 * "sse#wake" channel (the sequencer's own connection).
 */
#include "listener/listener.h"
#include "common/clock.h"
#include "common/hash_table.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg_ops.h"
#include "common/xalloc.h"
#include "dispatch/dispatch_queue.h"
#include "listener/notify_payload.h"
#include "protocol/stream_name.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL_MAX       63 /* NAMEDATALEN - 1: PostgreSQL's longest identifier */
#define ENSURE_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS    100
#define BACKOFF_MAX_MS    5000
#define WARN_EVERY_MS     10000 /* at most one line per kind of trouble */
#define LISTENER_MAGIC    0x4c69734eu

/* One LISTEN channel; every field but name is guarded by mtx. */
struct channel {
    bool fixed;       /* CHANNEL_EVENTS or CHANNEL_NOTIFY: never UNLISTENed */
    bool listened;    /* LISTEN done on the current connection */
    uint64_t ensured; /* bumped by every listener_ensure */
    int idle_checks;  /* consecutive health checks without subscribers */
    char name[];      /* immutable; the set's key */
};

enum command_kind { CMD_LISTEN, CMD_STOP };

struct command {
    struct command *next;
    enum command_kind kind;
    char *stream;   /* CMD_LISTEN */
    int result;     /* guarded by mtx */
    bool done;      /* guarded by mtx: answered */
    bool abandoned; /* guarded by mtx: the waiter timed out; the answerer frees */
};

struct listener {
    unsigned magic;                                          /* fixed after start */
    struct listener_deps deps;                               /* fixed after start */
    struct event_base *base;                                 /* fixed after start */
    struct event *inbox_ev, *health_ev, *reconnect_ev;       /* fixed after start */
    int inbox_fd;                                            /* fixed after start */
    pthread_t thread;                                        /* owned by the caller of start/stop */
    bool started;                                            /* owned by the caller of start/stop */
    void *conn;                                              /* owned by listener thread */
    struct event *sock_ev;                                   /* owned by listener thread */
    int64_t backoff_ms;                                      /* owned by listener thread */
    bool ever_connected;                                     /* owned by listener thread */
    struct log_budget connect_warn, lost_warn, payload_warn; /* owned by listener thread */
    _Atomic bool connected; /* written under mtx by the listener thread */
    pthread_mutex_t mtx;
    pthread_cond_t acked; /* CLOCK_MONOTONIC; a command was answered */
    /* A set, not a list: listener_ensure runs for every stream of every subscription. */
    struct hash_table *channels;              /* guarded by mtx: name → struct channel */
    struct command *inbox_head, **inbox_tail; /* guarded by mtx */
    bool running;                             /* guarded by mtx: the loop takes commands */
    pthread_t loop_thread;                    /* guarded by mtx: valid while running */
    bool stopping;                            /* guarded by mtx: no more commands */
};

/* ---- channel set (mutex held) ---- */

static struct channel *set_find(struct hash_table *s, const char *name)
{
    return hash_table_find(s, name);
}

static struct channel *set_add(struct hash_table *s, const char *name, bool fixed)
{
    size_t len = strlen(name);
    struct channel *c = xcalloc(1, sizeof *c + len + 1);
    memcpy(c->name, name, len + 1);
    c->fixed = fixed;
    hash_table_insert(s, c->name, c);
    return c;
}

static void set_remove(struct hash_table *s, struct channel *c)
{
    struct channel *removed = hash_table_remove(s, c->name);
    assert(removed == c && "channel not in its set");
    (void)removed;
}

/* The channels that pass want(), as an array the caller frees. */
static struct channel **set_collect(const struct hash_table *s,
                                    bool (*want)(const struct channel *), size_t *n)
{
    struct channel **out = xcalloc(hash_table_count(s), sizeof(struct channel *));
    *n = 0;
    size_t at = 0;
    for (struct channel *c; (c = hash_table_next(s, &at));)
        if (want(c))
            out[(*n)++] = c;
    return out;
}

static void channel_free(struct channel *c)
{
    free(c);
}

static bool not_listened(const struct channel *c)
{
    return !c->listened;
}

static bool is_stream(const struct channel *c)
{
    return !c->fixed;
}

/* ---- helpers of the listener thread ---- */

static struct listener *from_arg(void *arg)
{
    struct listener *l = arg;
    assert(l && l->magic == LISTENER_MAGIC);
    return l;
}

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

static void handle_notification(struct listener *l, const char *channel, const char *payload,
                                bool *woke)
{
    if (strcmp(channel, CHANNEL_EVENTS) == 0) {
        /* One read catches up on every position: one WAKE per batch is enough. */
        if (!*woke)
            dispatch_queue_push(l->deps.queue, dispatch_msg_wake());
        *woke = true;
    } else if (strcmp(channel, CHANNEL_NOTIFY) == 0) {
        struct notify_payload p;
        const char *why;
        if (notify_payload_parse(payload, strlen(payload), &p, &why) != 0) {
            warn_limited(l, &l->payload_warn, "dropped a notification on %s: %s", CHANNEL_NOTIFY,
                         why);
            return;
        }
        post_ephemeral(l, p.stream, p.event, p.data, p.data_len);
        notify_payload_clear(&p);
    } else if (stream_name_valid(channel, strlen(channel))) {
        post_ephemeral(l, channel, NULL, payload, strlen(payload));
    } else {
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
    bool woke = false;
    while (l->deps.pg->next_notification(l->deps.pg->ctx, l->conn, &channel, &payload) == 1) {
        handle_notification(l, channel, payload, &woke);
        free(channel);
        free(payload);
    }
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
    size_t at = 0;
    for (struct channel *c; (c = hash_table_next(l->channels, &at));)
        c->listened = false;
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

static int run_channel_sql(struct listener *l, const char *verb, const char *name)
{
    /* Plain quoting is safe: no stream name holds a '"' (stream_name.h). */
    assert(strlen(name) <= CHANNEL_MAX && !strchr(name, '"'));
    char sql[CHANNEL_MAX + 16];
    (void)snprintf(sql, sizeof sql, "%s \"%s\"", verb, name); /* fits: asserted above */
    return run_sql(l, sql);
}

/* LISTENs c on the current connection and marks it. */
static int listen_channel(struct listener *l, struct channel *c)
{
    if (run_channel_sql(l, "LISTEN", c->name) != 0)
        return -1;
    PTOK(pthread_mutex_lock(&l->mtx));
    c->listened = true;
    PTOK(pthread_mutex_unlock(&l->mtx));
    return 0;
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
        struct channel **todo = set_collect(l->channels, not_listened, &n);
        if (n == 0) {
            atomic_store(&l->connected, true);
            *count = hash_table_count(l->channels);
        }
        PTOK(pthread_mutex_unlock(&l->mtx));
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = listen_channel(l, todo[i]);
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
    /* Durable events committed while we were away are read now. */
    dispatch_queue_push(l->deps.queue, dispatch_msg_wake());
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

/* Counts the health checks on which a stream channel had no subscriber; after
 * two in a row with no listener_ensure in between, forgets and UNLISTENs it.
 * stream_in_use is asked with mtx released, and the ensure counter tells
 * whether its answer went stale meanwhile. */
static void forget_unused(struct listener *l)
{
    if (!l->deps.stream_in_use)
        return;
    size_t n;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct channel **cs = set_collect(l->channels, is_stream, &n);
    uint64_t *ensured = xcalloc(n, sizeof *ensured);
    for (size_t i = 0; i < n; i++)
        ensured[i] = cs[i]->ensured;
    PTOK(pthread_mutex_unlock(&l->mtx));
    for (size_t i = 0; i < n; i++) {
        struct channel *c = cs[i];
        bool used = l->deps.stream_in_use(l->deps.stream_ctx, c->name);
        PTOK(pthread_mutex_lock(&l->mtx));
        c->idle_checks = used || c->ensured != ensured[i] ? 0 : c->idle_checks + 1;
        bool forget = c->idle_checks >= 2, listened = c->listened;
        if (forget)
            set_remove(l->channels, c);
        PTOK(pthread_mutex_unlock(&l->mtx));
        if (forget && listened && l->conn)
            run_channel_sql(l, "UNLISTEN", c->name); /* a failure drops the connection */
        if (forget)
            channel_free(c);
    }
    free(ensured);
    free(cs);
}

int listener_health_once(struct listener *l)
{
    if (!l->conn)
        schedule_reconnect(l); /* normally pending already */
    else
        run_sql(l, "SELECT 1");
    forget_unused(l);
    /* The periodic poll that backs up every NOTIFY (a lost wake costs a poll interval, never an
     * event), also while disconnected: the dispatcher reads over its own connection. */
    dispatch_queue_push(l->deps.queue, dispatch_msg_wake());
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

/* Mutex held. Wakes the loop only when the inbox goes from empty to
 * non-empty: the loop takes the whole list at once. */
static void push_command(struct listener *l, struct command *cmd)
{
    bool was_empty = !l->inbox_head;
    *l->inbox_tail = cmd;
    l->inbox_tail = &cmd->next;
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(l->inbox_fd, &one, sizeof one);
        assert(n == (ssize_t)sizeof one);
        (void)n;
    }
}

/* Mutex held. Returns the whole inbox and empties it. */
static struct command *take_commands(struct listener *l)
{
    struct command *list = l->inbox_head;
    l->inbox_head = NULL;
    l->inbox_tail = &l->inbox_head;
    return list;
}

static void answer(struct listener *l, struct command *cmd, int result)
{
    PTOK(pthread_mutex_lock(&l->mtx));
    cmd->result = result;
    cmd->done = true;
    bool abandoned = cmd->abandoned;
    PTOK(pthread_cond_broadcast(&l->acked));
    PTOK(pthread_mutex_unlock(&l->mtx));
    if (abandoned) {
        free(cmd->stream);
        free(cmd);
    }
}

/* The inbox's LISTEN: 0 once the stream is LISTENed on the current connection. */
static int listen_stream(struct listener *l, const char *name)
{
    if (!l->conn)
        return -1;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct channel *c = set_find(l->channels, name);
    if (!c) /* forgotten by a health check since it was ensured */
        c = set_add(l->channels, name, false);
    bool done = c->listened;
    PTOK(pthread_mutex_unlock(&l->mtx));
    return done ? 0 : listen_channel(l, c);
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct listener *l = from_arg(arg);
    uint64_t count;
    /* Reset the eventfd before taking the list, so a push after the take
     * (which finds the inbox empty) writes it again. */
    ssize_t n = read(fd, &count, sizeof count);
    assert(n == (ssize_t)sizeof count || errno == EAGAIN);
    (void)n;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct command *cmds = take_commands(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
    while (cmds) {
        struct command *cmd = cmds;
        cmds = cmd->next;
        if (cmd->kind == CMD_STOP) {
            assert(!cmds); /* nothing is queued after STOP */
            free(cmd);
            event_base_loopbreak(l->base);
        } else {
            answer(l, cmd, listen_stream(l, cmd->stream));
        }
    }
}

/* Marks whether the loop takes commands; on the way out answers any left. */
static void set_running(struct listener *l, bool running)
{
    PTOK(pthread_mutex_lock(&l->mtx));
    l->running = running;
    l->loop_thread = pthread_self();
    struct command *left = running ? NULL : take_commands(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
    for (struct command *cmd = left, *next; cmd; cmd = next) {
        next = cmd->next;
        if (cmd->kind == CMD_STOP)
            free(cmd);
        else
            answer(l, cmd, -1);
    }
}

static void *run(void *arg)
{
    struct listener *l = from_arg(arg);
    set_running(l, true);
    if (event_base_dispatch(l->base) < 0)
        log_error("listener", "event loop failed: notifications stop");
    set_running(l, false);
    drop_connection(l);
    return NULL;
}

/* ---- public ---- */

static void *must(void *p, const char *what)
{
    if (!p) {
        log_error("listener", "could not create the %s: out of resources", what);
        abort();
    }
    return p;
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
    l->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->inbox_fd < 0)
        must(NULL, "inbox eventfd");
    l->inbox_ev =
        must(event_new(l->base, l->inbox_fd, EV_READ | EV_PERSIST, inbox_cb, l), "inbox event");
    l->health_ev = must(event_new(l->base, -1, EV_PERSIST, health_cb, l), "health timer");
    l->reconnect_ev = must(evtimer_new(l->base, reconnect_cb, l), "reconnect timer");
    l->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&l->connected, false);
    pthread_condattr_t attr;
    PTOK(pthread_condattr_init(&attr));
    PTOK(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC));
    PTOK(pthread_cond_init(&l->acked, &attr));
    PTOK(pthread_condattr_destroy(&attr));
    PTOK(pthread_mutex_init(&l->mtx, NULL));
    l->inbox_tail = &l->inbox_head;
    l->channels = hash_table_new();
    set_add(l->channels, CHANNEL_EVENTS, true);
    set_add(l->channels, CHANNEL_NOTIFY, true);
    return l;
}

int listener_start(struct listener *l)
{
    PTOK(pthread_mutex_lock(&l->mtx));
    bool stopping = l->stopping;
    PTOK(pthread_mutex_unlock(&l->mtx));
    if (l->started || stopping)
        return -1;
    struct timeval health = ms_to_tv(l->deps.health_check_ms), now = {0, 0};
    event_add(l->inbox_ev, NULL);
    event_add(l->health_ev, &health);
    if (!l->conn)
        evtimer_add(l->reconnect_ev, &now);
    int err = pthread_create(&l->thread, NULL, run, l);
    if (err != 0) {
        char buf[128];
        log_error("listener", "could not start the thread: %s", strerror_r(err, buf, sizeof buf));
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
    bool first = !l->stopping;
    l->stopping = true;
    if (first && l->started) {
        struct command *cmd = xcalloc(1, sizeof *cmd);
        cmd->kind = CMD_STOP;
        push_command(l, cmd);
    }
    PTOK(pthread_mutex_unlock(&l->mtx));
    if (!l->started)
        return;
    PTOK(pthread_join(l->thread, NULL));
    l->started = false;
}

void listener_free(struct listener *l)
{
    if (!l)
        return;
    listener_stop(l);
    drop_connection(l); /* a test may have connected with no thread */
    PTOK(pthread_mutex_lock(&l->mtx));
    struct command *left = take_commands(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
    for (struct command *cmd = left, *next; cmd; cmd = next) {
        next = cmd->next;
        free(cmd->stream);
        free(cmd);
    }
    event_free(l->inbox_ev);
    event_free(l->health_ev);
    event_free(l->reconnect_ev);
    event_base_free(l->base);
    close(l->inbox_fd);
    size_t at = 0;
    for (struct channel *c; (c = hash_table_next(l->channels, &at));)
        channel_free(c); /* the table does not read its values */
    hash_table_free(l->channels);
    PTOK(pthread_cond_destroy(&l->acked));
    PTOK(pthread_mutex_destroy(&l->mtx));
    l->magic = 0;
    free(l);
}

/* Mutex held. Queues a LISTEN for the loop and waits, bounded, for its ack. */
static int wait_for_listen(struct listener *l, const char *stream)
{
    struct command *cmd = xcalloc(1, sizeof *cmd);
    cmd->kind = CMD_LISTEN;
    cmd->stream = xstrdup(stream);
    push_command(l, cmd);
    /* A real clock, not deps.clock: a condvar deadline must pass by itself. */
    struct timespec deadline = clock_monotonic_deadline(ENSURE_TIMEOUT_MS);
    while (!cmd->done) {
        int err = pthread_cond_timedwait(&l->acked, &l->mtx, &deadline);
        if (err == ETIMEDOUT)
            break;
        PTOK(err);
    }
    if (!cmd->done) {
        cmd->abandoned = true; /* answer() frees it */
        log_warn("listener", "LISTEN \"%s\" not acknowledged: no answer within %d ms", stream,
                 ENSURE_TIMEOUT_MS);
        return -1;
    }
    int rc = cmd->result;
    free(cmd->stream);
    free(cmd);
    return rc;
}

int listener_ensure(struct listener *l, const char *stream)
{
    size_t len = strlen(stream);
    if (len > CHANNEL_MAX)
        return 0; /* no channel can carry it; sse.notify() and durable events still do */
    assert(len > 0 && !memchr(stream, '"', len));
    PTOK(pthread_mutex_lock(&l->mtx));
    assert(!l->running || !pthread_equal(l->loop_thread, pthread_self()));
    struct channel *c = set_find(l->channels, stream);
    if (!c)
        c = set_add(l->channels, stream, false);
    c->ensured++;
    c->idle_checks = 0;
    int rc;
    bool connected = atomic_load(&l->connected);
    if (c->listened && connected)
        rc = 0;
    else if (!connected || !l->running || l->stopping)
        rc = -1; /* in the set: the next connect LISTENs it */
    else
        rc = wait_for_listen(l, stream);
    PTOK(pthread_mutex_unlock(&l->mtx));
    return rc;
}

bool listener_connected(struct listener *l)
{
    return atomic_load(&l->connected);
}
