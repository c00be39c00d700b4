/*
 * inbox: how other threads reach the listener thread, which blocks only in
 * its libevent loop. A command (LISTEN a stream, or STOP) goes on a list
 * under mtx, and an eventfd registered in the loop's base wakes the loop
 * when the list goes from empty to non-empty; the loop takes the whole list
 * at once. listener_ensure is the LISTEN's sender: a stream must be LISTENed
 * before its subscriber's first read, so it waits, bounded, for the ack.
 *
 * Threads: listener_ensure and inbox_push_stop on any thread but the
 * listener's; inbox_cb and inbox_set_running on the listener thread. The
 * lock rules are in listener_internal.h: listener_ensure holds mtx while it
 * waits for the ack (pthread_cond_timedwait releases it meanwhile), and the
 * LISTEN itself runs on the listener thread with mtx released.
 *
 * Does not: run SQL (the LISTEN is listener_listen_channel's), or own the
 * loop (listener.c starts and stops it).
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
    char *stream;   /* CMD_LISTEN */
    int result;     /* guarded by mtx */
    bool done;      /* guarded by mtx: answered */
    bool abandoned; /* guarded by mtx: the waiter timed out; the answerer frees */
};

static void command_free(struct command *cmd)
{
    free(cmd->stream);
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

/* The inbox's LISTEN: 0 once the stream is LISTENed on the current connection. */
static int listen_stream(struct listener *l, const char *name)
{
    if (!l->conn)
        return -1;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct channel *c = channels_find(l->channels, name);
    if (!c) /* forgotten by a health check since it was ensured */
        c = channels_add(l->channels, name);
    bool done = c->listened;
    PTOK(pthread_mutex_unlock(&l->mtx));
    return done ? 0 : listener_listen_channel(l, c);
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
    command_free(cmd);
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
    struct channel *c = channels_find(l->channels, stream);
    if (!c)
        c = channels_add(l->channels, stream);
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
