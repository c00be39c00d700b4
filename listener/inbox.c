/*
 * inbox: how other threads reach the listener thread, which blocks only in
 * its libevent loop. A command (LISTEN some streams, or STOP) goes on a list
 * under mtx, and an eventfd registered in the loop's base wakes the loop
 * when the list goes from empty to non-empty; the loop takes the whole list
 * at once, and LISTENs the new channels of every command in it together, in
 * one round trip (CHANNEL_BATCH at a time), then acks each. So a burst of
 * subscribers costs a few round trips, not one each. listener_ensure_many
 * is the LISTEN's sender: a stream must be LISTENed before its subscriber's
 * first read, so it waits, bounded, for the ack.
 *
 * Threads: listener_ensure_many and inbox_push_stop on any thread but the
 * listener's; inbox_serve and inbox_set_running on the listener thread. The
 * lock rules are in listener_internal.h: listener_ensure_many holds mtx
 * while it waits for the ack (pthread_cond_timedwait releases it
 * meanwhile), and the LISTENs run on the listener thread with mtx released.
 *
 * Does not: build SQL (listener_channels_sql does), or own the loop
 * (listener.c starts and stops it).
 */
#include "listener/listener_internal.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define ENSURE_TIMEOUT_MS 5000

enum command_kind { CMD_LISTEN, CMD_STOP };

struct command {
    struct command *next;
    enum command_kind kind;
    char **streams; /* CMD_LISTEN: n of them, owned */
    size_t n;
    int result;     /* guarded by mtx */
    bool done;      /* guarded by mtx: answered */
    bool abandoned; /* guarded by mtx: the waiter timed out; the answerer frees */
};

static void command_free(struct command *cmd)
{
    for (size_t i = 0; i < cmd->n; i++)
        free(cmd->streams[i]);
    free(cmd->streams);
    free(cmd);
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
    if (abandoned)
        command_free(cmd);
}

/* LISTENs the channels of every command in cmds that are not LISTENed yet,
 * each once, then answers every command: 0 once they are LISTENed on the
 * current connection, -1 if there is none or a statement failed. */
static void listen_commands(struct listener *l, struct command *cmds)
{
    size_t n = 0, cap = 0;
    struct channel **todo = NULL;
    int rc = -1;
    if (l->conn) {
        PTOK(pthread_mutex_lock(&l->mtx));
        for (struct command *cmd = cmds; cmd; cmd = cmd->next) {
            for (size_t i = 0; i < cmd->n; i++) {
                /* Re-added if a health check forgot it since the ensure. */
                struct channel *c = channels_admit(l, cmd->streams[i]);
                if (!c || c->listened || c->batched)
                    continue;
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    todo = xrealloc(todo, cap * sizeof *todo);
                }
                c->batched = true;
                todo[n++] = c;
            }
        }
        PTOK(pthread_mutex_unlock(&l->mtx));
        rc = listener_channels_sql(l, "LISTEN", todo, n);
        PTOK(pthread_mutex_lock(&l->mtx));
        for (size_t i = 0; i < n; i++)
            todo[i]->batched = false;
        PTOK(pthread_mutex_unlock(&l->mtx));
    }
    free(todo);
    for (struct command *cmd = cmds, *next; cmd; cmd = next) {
        next = cmd->next;
        answer(l, cmd, rc);
    }
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    inbox_serve(from_arg(arg));
}

void inbox_serve(struct listener *l)
{
    uint64_t count;
    /* Reset the eventfd before taking the list, so a push after the take
     * (which finds the inbox empty) writes it again. */
    ssize_t n = read(l->inbox_fd, &count, sizeof count);
    assert(n == (ssize_t)sizeof count || errno == EAGAIN);
    (void)n;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct command *cmds = take_commands(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
    struct command *listens = NULL, **tail = &listens;
    bool stop = false;
    while (cmds) {
        struct command *cmd = cmds;
        cmds = cmd->next;
        cmd->next = NULL;
        if (cmd->kind == CMD_STOP) {
            assert(!cmds); /* nothing is queued after STOP */
            free(cmd);
            stop = true;
        } else {
            *tail = cmd;
            tail = &cmd->next;
        }
    }
    if (listens)
        listen_commands(l, listens);
    if (stop)
        event_base_loopbreak(l->base);
}

void inbox_init(struct listener *l)
{
    l->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->inbox_fd < 0)
        must(NULL, "inbox eventfd");
    l->inbox_ev =
        must(event_new(l->base, l->inbox_fd, EV_READ | EV_PERSIST, inbox_cb, l), "inbox event");
    l->inbox_tail = &l->inbox_head;
    pthread_condattr_t attr;
    PTOK(pthread_condattr_init(&attr));
    PTOK(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC));
    PTOK(pthread_cond_init(&l->acked, &attr));
    PTOK(pthread_condattr_destroy(&attr));
}

void inbox_free(struct listener *l)
{
    PTOK(pthread_mutex_lock(&l->mtx));
    struct command *left = take_commands(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
    for (struct command *cmd = left, *next; cmd; cmd = next) {
        next = cmd->next;
        command_free(cmd);
    }
    event_free(l->inbox_ev);
    close(l->inbox_fd);
    PTOK(pthread_cond_destroy(&l->acked));
}

void inbox_set_running(struct listener *l, bool running)
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

void inbox_push_stop(struct listener *l)
{
    struct command *cmd = xcalloc(1, sizeof *cmd);
    cmd->kind = CMD_STOP;
    push_command(l, cmd);
}

/* Mutex held. Queues a LISTEN of streams[0..n) for the loop and waits,
 * bounded, for its ack. */
static int wait_for_listen(struct listener *l, const char *const *streams, size_t n)
{
    struct command *cmd = xcalloc(1, sizeof *cmd);
    cmd->kind = CMD_LISTEN;
    cmd->streams = xcalloc(n, sizeof *cmd->streams);
    for (size_t i = 0; i < n; i++)
        cmd->streams[i] = xstrdup(streams[i]);
    cmd->n = n;
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
        if (log_budget_take(&l->ensure_warn, 1))
            log_warn("listener",
                     "LISTEN \"%s\" (and %zu more) not acknowledged: no answer within %d ms",
                     streams[0], n - 1, ENSURE_TIMEOUT_MS);
        return -1;
    }
    int rc = cmd->result;
    command_free(cmd);
    return rc;
}

int listener_ensure_many(struct listener *l, const char *const *streams, size_t n)
{
    const char **todo = xcalloc(n ? n : 1, sizeof *todo);
    size_t pending = 0;
    PTOK(pthread_mutex_lock(&l->mtx));
    assert(!l->running || !pthread_equal(l->loop_thread, pthread_self()));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(streams[i]);
        /* No channel can carry a longer name, nor one over the cap;
         * sse.notify() and durable events still do. */
        assert(len > 0 && !memchr(streams[i], '"', len));
        struct channel *c = len <= CHANNEL_MAX ? channels_admit(l, streams[i]) : NULL;
        if (!c)
            continue;
        c->ensured++;
        c->idle_checks = 0;
        if (!c->listened)
            todo[pending++] = streams[i];
    }
    int rc;
    if (pending == 0)
        rc = 0; /* LISTENed on the current connection, or no channel at all */
    else if (!atomic_load(&l->connected) || !l->running || l->stopping)
        rc = -1; /* in the set: the next connect LISTENs them */
    else
        rc = wait_for_listen(l, todo, pending);
    PTOK(pthread_mutex_unlock(&l->mtx));
    free(todo);
    return rc;
}

int listener_ensure(struct listener *l, const char *stream)
{
    return listener_ensure_many(l, &stream, 1);
}
