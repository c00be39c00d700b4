/*
 * connection: one SSE subscriber: its streams, its queue of frames to write
 * (frame_queue.c) and the suspend/resume handshake with its socket. Frames
 * are pushed by the dispatcher and the heartbeat threads (and the HTTP layer
 * for the preamble and final frames) and read by the HTTP worker that owns
 * the socket; every mutable field is guarded by the connection's own mutex.
 * Lock order: registry mutex, then connection mutex.
 *
 * The handshake: the reader, finding the queue empty, sets `suspended` and
 * parks the socket while still holding the mutex, so a concurrent push either
 * lands before the check or sees `suspended`. Exactly one party clears
 * `suspended` (a push or a close) and so owes the resume, recorded in
 * `resume_owed`; connection_resume() calls io->resume outside the lock only
 * for an owed resume. A parked libmicrohttpd connection cannot be freed until
 * it is resumed, so that call never races with the socket's end; a socket
 * that is awake (an overflow while writing) is never resumed at all, and
 * after connection_gone() no io call starts. Direct writes to a parked
 * socket have their own rules, above conn_write_direct().
 *
 * Does not: know which streams have which subscribers (registry.c), touch
 * sockets (web/ through conn_io_ops), or read any clock (callers pass now_ms).
 */
#include "registry/connection.h"
#include "registry/connection_internal.h"
#define SSE_REGISTRY_INTERNAL /* this file stores the registry's slot */
#include "registry/registry_slot.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t next_id = 1;

struct connection *connection_new(const struct connection_params *p)
{
    struct connection *c = xcalloc(1, sizeof *c);
    c->magic = CONNECTION_MAGIC;
    atomic_init(&c->refs, 1);
    c->id = atomic_fetch_add(&next_id, 1);

    /* The names live right after the pointer array: one allocation, one free. */
    size_t bytes = p->nstreams * sizeof(char *);
    for (size_t i = 0; i < p->nstreams; i++)
        bytes += strlen(p->streams[i]) + 1;
    c->streams = xmalloc(bytes);
    char *name = (char *)(c->streams + p->nstreams);
    for (size_t i = 0; i < p->nstreams; i++) {
        size_t len = strlen(p->streams[i]) + 1;
        memcpy(name, p->streams[i], len);
        c->streams[i] = name;
        name += len;
    }
    c->nstreams = p->nstreams;

    frame_queue_init(&c->queue, p->max_queued_bytes);
    c->max_queued_bytes = p->max_queued_bytes;
    c->expires_s = p->expires_s;
    c->io = p->io;
    c->io_ctx = p->io_ctx;
    c->io_release = p->io_release;
    atomic_init(&c->last_push_ms, p->now_ms);
    atomic_init(&c->last_event_ms, p->now_ms);
    PTOK(pthread_mutex_init(&c->mtx, NULL));
    return c;
}

void connection_set_io(struct connection *c, const struct conn_io_ops *io, void *io_ctx)
{
    check(c);
    lock(c);
    c->io = io;
    c->io_ctx = io_ctx;
    unlock(c);
}

struct connection *connection_ref(struct connection *c)
{
    check(c);
    int old = atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    assert(old > 0);
    (void)old;
    return c;
}

void connection_unref(struct connection *c)
{
    if (!c)
        return;
    check(c);
    int old = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old != 1)
        return;
    assert(!c->registry_slot); /* the registry holds a reference while registered */
    frame_queue_destroy(&c->queue);
    free(c->streams);
    PTOK(pthread_mutex_destroy(&c->mtx));
    /* Last: io_ctx must outlive every io call made through a reference. */
    if (c->io_release)
        c->io_release(c->io_ctx);
    c->magic = 0;
    free(c);
}

uint64_t connection_id(const struct connection *c)
{
    check(c);
    return c->id;
}

size_t connection_stream_count(const struct connection *c)
{
    check(c);
    return c->nstreams;
}

const char *connection_stream(const struct connection *c, size_t i)
{
    check(c);
    assert(i < c->nstreams);
    return c->streams[i];
}

const char *const *connection_streams(const struct connection *c)
{
    check(c);
    return (const char *const *)c->streams;
}

bool connection_has_stream(const struct connection *c, const char *stream)
{
    check(c);
    for (size_t i = 0; i < c->nstreams; i++)
        if (strcmp(c->streams[i], stream) == 0)
            return true;
    return false;
}

bool conn_take_resume_duty(struct connection *c)
{
    assert_held(c);
    if (!c->suspended)
        return false;
    c->suspended = false;
    c->flush_owed = false;
    c->resume_owed = true;
    c->stalled_since = 0; /* awake from now: the write deadline counts again */
    return true;
}

/* After a frame was queued: who must act for the socket to see it. A parked
 * socket that takes direct writes stays parked; the first such push since the
 * last write owes the flush, later ones ride along. Mutex held. */
static enum conn_push_result after_enqueue(struct connection *c)
{
    if (c->suspended && c->io && c->io->send && c->reader_wrote) {
        if (c->flush_owed)
            return CONN_PUSH_QUEUED;
        c->flush_owed = true;
        return CONN_PUSH_NEEDS_RESUME;
    }
    return conn_take_resume_duty(c) ? CONN_PUSH_NEEDS_RESUME : CONN_PUSH_QUEUED;
}

/* Monotonic updates: pushes from two threads may carry clock readings out of order. */
static void touch(struct connection *c, int64_t now_ms, bool counts_as_event)
{
    assert_held(c);
    if (now_ms > atomic_load_explicit(&c->last_push_ms, memory_order_relaxed))
        atomic_store_explicit(&c->last_push_ms, now_ms, memory_order_relaxed);
    if (counts_as_event && now_ms > atomic_load_explicit(&c->last_event_ms, memory_order_relaxed))
        atomic_store_explicit(&c->last_event_ms, now_ms, memory_order_relaxed);
}

/* Queues f under the byte limit; an overflow closes the connection. Mutex held. */
static enum conn_push_result push_limited(struct connection *c, struct frame *f, int64_t now_ms,
                                          bool counts_as_event)
{
    if (!frame_queue_push(&c->queue, f)) {
        /* A slow consumer. Closing it is lossless: it reconnects with its cursor. */
        frame_queue_clear(&c->queue);
        c->closing = true;
        c->end = CONN_END_SLOW_CONSUMER;
        conn_take_resume_duty(c); /* a parked socket must wake to see the end */
        return CONN_PUSH_OVERFLOW;
    }
    touch(c, now_ms, counts_as_event);
    c->events += counts_as_event;
    return after_enqueue(c);
}

enum conn_push_result connection_push(struct connection *c, struct frame *f, int64_t now_ms,
                                      bool counts_as_event)
{
    check(c);
    enum conn_push_result r;
    lock(c);
    if (c->closing || c->gone)
        r = CONN_PUSH_CLOSED;
    else if (c->replaying) /* a message amid replayed events would read out of order */
        r = CONN_PUSH_SKIPPED;
    else
        r = push_limited(c, f, now_ms, counts_as_event);
    unlock(c);
    return r;
}

enum conn_push_result connection_push_event(struct connection *c, struct frame *f, int64_t now_ms,
                                            int64_t position)
{
    check(c);
    assert(position > 0);
    enum conn_push_result r;
    lock(c);
    if (c->closing || c->gone) {
        r = CONN_PUSH_CLOSED;
    } else if (c->replaying) {
        if (position > c->skipped_through)
            c->skipped_through = position;
        r = CONN_PUSH_SKIPPED;
    } else if (position <= c->last_position) {
        r = CONN_PUSH_SKIPPED; /* the replay queued it just before it ended */
    } else {
        r = push_limited(c, f, now_ms, true);
        c->last_position = position;
    }
    unlock(c);
    return r;
}

enum conn_push_result connection_push_replay(struct connection *c, struct frame *f, int64_t now_ms,
                                             int64_t position)
{
    check(c);
    enum conn_push_result r = CONN_PUSH_CLOSED;
    lock(c);
    if (!c->closing && !c->gone) {
        assert(position == 0 || position > c->last_position);
        frame_queue_push_exempt(&c->queue, f);
        if (position > 0)
            c->last_position = position;
        c->events += position > 0; /* not a gap sentinel */
        touch(c, now_ms, true);
        r = after_enqueue(c);
    }
    unlock(c);
    return r;
}

bool connection_close(struct connection *c, struct frame *final_frame, enum conn_end why)
{
    check(c);
    bool resume = false;
    lock(c);
    if (!c->closing && !c->gone) {
        /* Exempt from the limit: the reader must see it. Nothing is queued
         * after it, so the limit is never checked against its bytes. */
        if (final_frame)
            frame_queue_push_exempt(&c->queue, final_frame);
        c->closing = true;
        c->end = why;
        resume = conn_take_resume_duty(c);
        conn_call_drained(c); /* a waiting replayer lets go */
    }
    unlock(c);
    return resume;
}

const char *connection_end_name(enum conn_end why)
{
    static const char *const names[] = {
        [CONN_END_NONE] = "none",
        [CONN_END_SLOW_CONSUMER] = "slow_consumer",
        [CONN_END_EXPIRED] = "expired",
        [CONN_END_IDLE] = "idle_timeout",
        [CONN_END_SHUTDOWN] = "shutdown",
        [CONN_END_OVERLOADED] = "overloaded",
        [CONN_END_REPLAY_FAILED] = "replay_failed",
        [CONN_END_NOT_SERVED] = "not_served",
        [CONN_END_WRITE_DEADLINE] = "write_deadline",
    };
    return (size_t)why < sizeof names / sizeof names[0] ? names[why] : "unknown";
}

enum conn_end connection_end(struct connection *c)
{
    check(c);
    lock(c);
    enum conn_end why = c->end;
    unlock(c);
    return why;
}

uint64_t connection_events(struct connection *c)
{
    check(c);
    lock(c);
    uint64_t n = c->events;
    unlock(c);
    return n;
}

long connection_read(struct connection *c, char *buf, size_t max, int64_t *oldest_published_us)
{
    check(c);
    assert(max > 0); /* 0 would look like "parked" */
    lock(c);
    /* MHD calls only once everything before was sent: the socket moves. */
    c->stalled_since = 0;
    /* MHD offers only the response's small block (READER_BLOCK) per call: a
     * backlog goes out straight to the socket in one large write first, and
     * the last block's worth (or what the socket did not take) is handed to
     * MHD, which sends it once there is room and calls again. Keeping that
     * last part for MHD keeps a busy socket awake: parking it after every
     * write would cost a wake-up, a pass over every parked socket, per
     * round. MHD calls only with everything before sent, so the two writers
     * never interleave; but the first call may come before the response's
     * headers went out, so it never writes. */
    if (c->io && c->io->send && c->reader_wrote && frame_queue_bytes(&c->queue) > max)
        conn_write_direct(c, max);
    /* Copy across frames into MHD's block. */
    size_t n = frame_queue_read(&c->queue, buf, max, oldest_published_us);
    if (n > 0) {
        c->reader_wrote = true;
        conn_after_written(c);
    }
    long r = (long)n;
    if (n == 0) {
        if (c->closing || c->gone) {
            r = CONN_READ_END;
        } else {
            /* Park under the lock: a push now either came before (and was
             * copied) or will find `suspended` set and owe the resume. */
            c->suspended = true;
            c->stalled_since = 0;
            c->resume_owed = false;
            c->flush_owed = false;
            if (c->io)
                c->io->suspend(c->io_ctx);
            r = CONN_READ_SUSPENDED;
        }
    }
    unlock(c);
    return r;
}

void connection_gone(struct connection *c)
{
    check(c);
    lock(c);
    c->gone = true;
    c->suspended = false;
    c->resume_owed = false;
    c->flush_owed = false;
    frame_queue_clear(&c->queue);
    conn_call_drained(c); /* a waiting replayer lets go */
    unlock(c);
}

bool connection_is_closed(struct connection *c)
{
    check(c);
    lock(c);
    bool closed = c->closing || c->gone;
    unlock(c);
    return closed;
}

bool connection_is_gone(struct connection *c)
{
    check(c);
    lock(c);
    bool gone = c->gone;
    unlock(c);
    return gone;
}

int64_t connection_last_push_ms(struct connection *c)
{
    check(c);
    return atomic_load_explicit(&c->last_push_ms, memory_order_relaxed);
}

int64_t connection_last_event_ms(struct connection *c)
{
    check(c);
    return atomic_load_explicit(&c->last_event_ms, memory_order_relaxed);
}

size_t connection_queued_bytes(struct connection *c)
{
    check(c);
    lock(c);
    size_t n = frame_queue_bytes(&c->queue);
    unlock(c);
    return n;
}

void *connection_registry_slot(const struct connection *c)
{
    check(c);
    return c->registry_slot;
}

void connection_set_registry_slot(struct connection *c, void *slot)
{
    check(c);
    c->registry_slot = slot;
}

int64_t connection_expires_s(const struct connection *c)
{
    check(c);
    return c->expires_s;
}
