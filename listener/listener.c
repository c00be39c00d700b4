/*
 * listener: owns the dedicated LISTEN connection and the thread that waits on
 * it inside a libevent loop. Events: the connection's socket (notifications),
 * a health-check timer (round trip, lazy UNLISTEN, backup WAKE), a reconnect
 * timer with exponential backoff, and an eventfd command inbox through which
 * other threads ask for a synchronous LISTEN (STYLE 12).
 *
 * Every notification becomes a dispatch message; the dispatcher does the
 * rest. After every (re)connect all channels are LISTENed again and a
 * catch-up WAKE is posted, so durable events committed during an outage are
 * read from the database (ephemeral ones are lost: at most once, SPEC §6.5).
 *
 * Threads: the loop runs on the listener thread; listener_ensure() and
 * listener_connected() are called from others. The channel set and the inbox
 * are guarded by mtx; the connection is owned by the listener thread.
 */
#include "listener.h"
#include "clock.h"
#include "dispatch_queue.h"
#include "log.h"
#include "metrics.h"
#include "notify_payload.h"
#include "pg_ops.h"
#include "query.h"
#include "xalloc.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL_MAX       63 /* PostgreSQL identifiers: NAMEDATALEN - 1 */
#define ENSURE_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS    100
#define BACKOFF_MAX_MS    5000

struct channel {
    char *name;
    bool listened; /* LISTEN done on the current connection */
    int unused;    /* consecutive health checks without subscribers */
};

struct command {
    struct command *next;
    char *stream;
    bool done, abandoned;
    int result;
};

struct listener {
    struct listener_deps deps;                         /* fixed after start */
    struct event_base *base;                           /* fixed after start */
    struct event *health_ev, *reconnect_ev, *inbox_ev; /* fixed after start */
    int inbox_fd;                                      /* fixed after start */
    pthread_t thread;                                  /* fixed after start */
    bool started;                                      /* owned by the caller of start/stop */
    void *conn;                                        /* owned by listener thread */
    struct event *sock_ev;                             /* owned by listener thread */
    int64_t backoff_ms;                                /* owned by listener thread */
    bool ever_connected;                               /* owned by listener thread */
    bool warned; /* owned by listener thread: outage already logged */
    _Atomic bool connected;
    pthread_mutex_t mtx;
    pthread_cond_t acked;
    struct channel *channels; /* guarded by mtx */
    size_t nchannels, channels_cap;
    struct command *inbox; /* guarded by mtx */
    bool stopping;         /* guarded by mtx */
};

static void health_cb(evutil_socket_t fd, short what, void *arg);
static void reconnect_cb(evutil_socket_t fd, short what, void *arg);
static void inbox_cb(evutil_socket_t fd, short what, void *arg);

/* Finds or adds a channel. Mutex held. */
static struct channel *channel_get(struct listener *l, const char *name)
{
    for (size_t i = 0; i < l->nchannels; i++)
        if (strcmp(l->channels[i].name, name) == 0)
            return &l->channels[i];
    if (l->nchannels == l->channels_cap) {
        l->channels_cap = l->channels_cap ? l->channels_cap * 2 : 16;
        l->channels = xrealloc(l->channels, l->channels_cap * sizeof *l->channels);
    }
    l->channels[l->nchannels] = (struct channel){xstrdup(name), false, 0};
    return &l->channels[l->nchannels++];
}

struct listener *listener_new(const struct listener_deps *deps)
{
    struct listener *l = xcalloc(1, sizeof *l);
    l->deps = *deps;
    evthread_use_pthreads();
    l->base = event_base_new();
    if (!l->base)
        abort();
    l->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->inbox_fd < 0)
        abort();
    l->inbox_ev = event_new(l->base, l->inbox_fd, EV_READ | EV_PERSIST, inbox_cb, l);
    l->health_ev = event_new(l->base, -1, EV_PERSIST, health_cb, l);
    l->reconnect_ev = evtimer_new(l->base, reconnect_cb, l);
    l->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&l->connected, false);
    PTOK(pthread_mutex_init(&l->mtx, NULL));
    PTOK(pthread_cond_init(&l->acked, NULL));
    PTOK(pthread_mutex_lock(&l->mtx));
    channel_get(l, CHANNEL_EVENTS);
    channel_get(l, CHANNEL_NOTIFY);
    PTOK(pthread_mutex_unlock(&l->mtx));
    return l;
}

static bool is_fixed(const char *name)
{
    return strcmp(name, CHANNEL_EVENTS) == 0 || strcmp(name, CHANNEL_NOTIFY) == 0;
}

/* LISTEN/UNLISTEN one channel on the current connection. */
static int exec_channel(struct listener *l, const char *verb, const char *name)
{
    /* Stream names cannot contain a double quote (SPEC §4), so quoting is plain. */
    assert(!strchr(name, '"'));
    char sql[CHANNEL_MAX + 32];
    snprintf(sql, sizeof sql, "%s \"%s\"", verb, name);
    char *err = NULL;
    int rc = l->deps.pg->exec(l->deps.pg->ctx, l->conn, sql, &err);
    if (rc != 0) {
        log_warn("listener", "%s %s failed: %s", verb, name, err ? err : "unknown");
        free(err);
    }
    return rc;
}

static void post(struct listener *l, struct dispatch_msg *m)
{
    dispatch_queue_push(l->deps.queue, m);
}

static void schedule_reconnect(struct listener *l)
{
    struct timeval tv = {l->backoff_ms / 1000, (l->backoff_ms % 1000) * 1000};
    evtimer_add(l->reconnect_ev, &tv);
}

static void disconnect(struct listener *l)
{
    if (l->sock_ev) {
        event_free(l->sock_ev);
        l->sock_ev = NULL;
    }
    if (l->conn)
        l->deps.pg->finish(l->deps.pg->ctx, l->conn);
    l->conn = NULL;
    atomic_store(&l->connected, false);
    atomic_store(&l->deps.metrics->listener_connected, 0);
    PTOK(pthread_mutex_lock(&l->mtx));
    for (size_t i = 0; i < l->nchannels; i++)
        l->channels[i].listened = false;
    PTOK(pthread_mutex_unlock(&l->mtx));
}

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = arg;
    if (listener_poll_once(l) != 0) {
        log_warn("listener", "lost the LISTEN connection: reconnecting");
        disconnect(l);
        schedule_reconnect(l);
    }
}

int listener_connect_once(struct listener *l)
{
    char *err = NULL;
    void *conn = l->deps.pg->connect(l->deps.pg->ctx, l->deps.conninfo, &err);
    if (!conn) {
        if (!l->warned)
            log_warn("listener", "could not connect: %s", err ? err : "unknown");
        l->warned = true;
        free(err);
        return -1;
    }
    l->conn = conn;
    PTOK(pthread_mutex_lock(&l->mtx));
    size_t n = l->nchannels;
    char **names = xcalloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = xstrdup(l->channels[i].name);
    PTOK(pthread_mutex_unlock(&l->mtx));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = exec_channel(l, "LISTEN", names[i]);
    if (rc == 0) {
        PTOK(pthread_mutex_lock(&l->mtx));
        for (size_t i = 0; i < n; i++)
            channel_get(l, names[i])->listened = true;
        PTOK(pthread_mutex_unlock(&l->mtx));
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc != 0) {
        disconnect(l);
        return -1;
    }
    int fd = l->deps.pg->socket(l->deps.pg->ctx, l->conn);
    l->sock_ev = event_new(l->base, fd, EV_READ | EV_PERSIST, sock_cb, l);
    event_add(l->sock_ev, NULL);
    atomic_store(&l->connected, true);
    atomic_store(&l->deps.metrics->listener_connected, 1);
    if (l->ever_connected)
        metrics_add(&l->deps.metrics->listener_reconnects, 1);
    log_info("listener", "%s on %zu channels", l->ever_connected ? "reconnected" : "listening", n);
    l->ever_connected = true;
    l->warned = false;
    /* Durable events committed while we were away are read now. */
    post(l, dispatch_msg_wake());
    return 0;
}

static void handle_notification(struct listener *l, const char *channel, const char *payload,
                                bool *woke)
{
    if (strcmp(channel, CHANNEL_EVENTS) == 0) {
        if (!*woke)
            post(l, dispatch_msg_wake());
        *woke = true;
        return;
    }
    if (strcmp(channel, CHANNEL_NOTIFY) == 0) {
        struct notify_payload p;
        const char *reason;
        if (notify_payload_parse(payload, strlen(payload), &p, &reason) != 0) {
            log_warn("listener", "dropped an sse.notify payload: %s", reason);
            return;
        }
        post(l, dispatch_msg_ephemeral(p.stream, p.event, p.data, p.data_len));
        notify_payload_clear(&p);
    } else if (stream_name_valid(channel, strlen(channel))) {
        post(l, dispatch_msg_ephemeral(channel, NULL, payload, strlen(payload)));
    } else {
        return;
    }
    metrics_add(&l->deps.metrics->events_ephemeral, 1);
}

int listener_poll_once(struct listener *l)
{
    if (!l->conn || l->deps.pg->consume(l->deps.pg->ctx, l->conn) != 0)
        return -1;
    char *channel, *payload;
    bool woke = false;
    while (l->deps.pg->next_notification(l->deps.pg->ctx, l->conn, &channel, &payload) == 1) {
        handle_notification(l, channel, payload, &woke);
        free(channel);
        free(payload);
    }
    return 0;
}

/* UNLISTENs stream channels unused on two consecutive checks. */
static void collect_unused(struct listener *l)
{
    PTOK(pthread_mutex_lock(&l->mtx));
    size_t n = l->nchannels;
    char **names = xcalloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = is_fixed(l->channels[i].name) ? NULL : xstrdup(l->channels[i].name);
    PTOK(pthread_mutex_unlock(&l->mtx));
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        /* Asked outside our mutex: the registry has its own lock. */
        bool used = l->deps.stream_in_use(l->deps.stream_ctx, names[i]);
        PTOK(pthread_mutex_lock(&l->mtx));
        struct channel *c = channel_get(l, names[i]);
        c->unused = used ? 0 : c->unused + 1;
        bool drop = c->unused >= 2;
        if (drop) {
            free(c->name);
            *c = l->channels[--l->nchannels];
        }
        PTOK(pthread_mutex_unlock(&l->mtx));
        if (drop && l->conn)
            exec_channel(l, "UNLISTEN", names[i]);
        free(names[i]);
    }
    free(names);
}

int listener_health_once(struct listener *l)
{
    /* The periodic poll that backs up every NOTIFY, even while disconnected:
     * the dispatcher reads over its own connection. */
    post(l, dispatch_msg_wake());
    if (!l->conn)
        return 0;
    char *err = NULL;
    if (l->deps.pg->exec(l->deps.pg->ctx, l->conn, "SELECT 1", &err) != 0) {
        log_warn("listener", "health check failed: %s", err ? err : "unknown");
        free(err);
        return -1;
    }
    if (l->deps.stream_in_use)
        collect_unused(l);
    return 0;
}

static void health_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = arg;
    if (listener_health_once(l) != 0) {
        disconnect(l);
        schedule_reconnect(l);
    }
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = arg;
    if (l->conn)
        return;
    if (listener_connect_once(l) == 0) {
        l->backoff_ms = BACKOFF_MIN_MS;
        return;
    }
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
    schedule_reconnect(l);
}

/* Answers every queued command; breaks the loop once stop was asked. */
static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct listener *l = arg;
    uint64_t count;
    ssize_t ignored = read(fd, &count, sizeof count);
    (void)ignored;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct command *cmds = l->inbox;
    l->inbox = NULL;
    bool stopping = l->stopping;
    PTOK(pthread_mutex_unlock(&l->mtx));
    while (cmds) {
        struct command *cmd = cmds;
        cmds = cmd->next;
        int rc = -1;
        if (l->conn && !stopping)
            rc = exec_channel(l, "LISTEN", cmd->stream);
        PTOK(pthread_mutex_lock(&l->mtx));
        if (rc == 0)
            channel_get(l, cmd->stream)->listened = true;
        cmd->result = rc;
        cmd->done = true;
        bool abandoned = cmd->abandoned;
        PTOK(pthread_cond_broadcast(&l->acked));
        PTOK(pthread_mutex_unlock(&l->mtx));
        if (abandoned) {
            free(cmd->stream);
            free(cmd);
        }
    }
    if (stopping)
        event_base_loopbreak(l->base);
}

int listener_ensure(struct listener *l, const char *stream)
{
    if (strlen(stream) > CHANNEL_MAX)
        return 0;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct channel *c = channel_get(l, stream);
    c->unused = 0;
    if (c->listened || !atomic_load(&l->connected) || l->stopping || !l->started) {
        int rc = c->listened ? 0 : -1;
        PTOK(pthread_mutex_unlock(&l->mtx));
        return rc;
    }
    struct command *cmd = xcalloc(1, sizeof *cmd);
    cmd->stream = xstrdup(stream);
    bool was_empty = !l->inbox;
    cmd->next = l->inbox;
    l->inbox = cmd;
    if (was_empty) {
        uint64_t one = 1;
        ssize_t ignored = write(l->inbox_fd, &one, sizeof one);
        (void)ignored;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ENSURE_TIMEOUT_MS / 1000;
    int wait = 0;
    while (!cmd->done && wait != ETIMEDOUT)
        wait = pthread_cond_timedwait(&l->acked, &l->mtx, &deadline);
    int rc = cmd->done ? cmd->result : -1;
    if (cmd->done) {
        free(cmd->stream);
        free(cmd);
    } else {
        cmd->abandoned = true; /* the listener thread frees it */
    }
    PTOK(pthread_mutex_unlock(&l->mtx));
    return rc;
}

bool listener_connected(struct listener *l)
{
    return atomic_load(&l->connected);
}

static void *run(void *arg)
{
    struct listener *l = arg;
    event_base_dispatch(l->base);
    return NULL;
}

int listener_start(struct listener *l)
{
    struct timeval health = {l->deps.health_check_ms / 1000,
                             (l->deps.health_check_ms % 1000) * 1000};
    event_add(l->inbox_ev, NULL);
    event_add(l->health_ev, &health);
    struct timeval now = {0, 0};
    evtimer_add(l->reconnect_ev, &now);
    PTOK(pthread_mutex_lock(&l->mtx));
    l->started = true;
    PTOK(pthread_mutex_unlock(&l->mtx));
    if (pthread_create(&l->thread, NULL, run, l) != 0) {
        log_error("listener", "could not start thread");
        l->started = false;
        return -1;
    }
    return 0;
}

void listener_stop(struct listener *l)
{
    if (!l)
        return;
    PTOK(pthread_mutex_lock(&l->mtx));
    bool started = l->started;
    l->stopping = true;
    l->started = false;
    PTOK(pthread_mutex_unlock(&l->mtx));
    if (!started)
        return;
    uint64_t one = 1;
    ssize_t ignored = write(l->inbox_fd, &one, sizeof one);
    (void)ignored;
    PTOK(pthread_join(l->thread, NULL));
}

void listener_free(struct listener *l)
{
    if (!l)
        return;
    listener_stop(l);
    disconnect(l);
    while (l->inbox) {
        struct command *cmd = l->inbox;
        l->inbox = cmd->next;
        free(cmd->stream);
        free(cmd);
    }
    event_free(l->inbox_ev);
    event_free(l->health_ev);
    event_free(l->reconnect_ev);
    event_base_free(l->base);
    close(l->inbox_fd);
    for (size_t i = 0; i < l->nchannels; i++)
        free(l->channels[i].name);
    free(l->channels);
    PTOK(pthread_cond_destroy(&l->acked));
    PTOK(pthread_mutex_destroy(&l->mtx));
    free(l);
}
