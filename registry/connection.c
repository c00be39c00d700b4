/*
 * connection: one subscriber's queue of shared frames and the suspend/resume
 * handshake with its socket. Frames are pushed by the dispatcher and
 * heartbeat threads and read by the HTTP worker that owns the socket; every
 * mutable field is guarded by the connection's own mutex.
 *
 * The handshake: the reader, finding the queue empty, sets `suspended` and
 * parks the socket while holding the mutex; the first pusher after that
 * clears `suspended` and alone owns the duty to resume, which it does after
 * unlocking. A parked libmicrohttpd connection cannot be freed until resumed,
 * so resuming outside the lock is safe; after connection_gone() no io call
 * happens at all.
 *
 * Does not: know about streams' subscribers (registry) or sockets (web).
 */
#include "connection.h"
#include "frame.h"
#include "xalloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CONNECTION_MAGIC 0x53534543u /* "SSEC" */

struct connection {
    unsigned magic;
    _Atomic int refs;
    uint64_t id;                  /* fixed after start */
    char **streams;               /* fixed after start */
    size_t nstreams;              /* fixed after start */
    size_t max_queued_bytes;      /* fixed after start */
    const struct conn_io_ops *io; /* fixed once set */
    void (*io_release)(void *);   /* fixed after start */
    void *io_ctx;                 /* fixed once set */
    void *registry_slot;          /* guarded by the registry mutex */
    pthread_mutex_t mtx;
    struct frame **ring;           /* guarded by mtx: queued frames */
    size_t head, count, cap;       /* guarded by mtx */
    size_t head_offset;            /* guarded by mtx: bytes of ring[head] already written */
    size_t queued_bytes;           /* guarded by mtx */
    bool suspended, closing, gone; /* guarded by mtx */
    _Atomic int64_t last_push_ms;
    _Atomic int64_t last_event_ms;
};

static _Atomic uint64_t next_id = 1;

static void check(const struct connection *c)
{
    assert(c && c->magic == CONNECTION_MAGIC);
    (void)c;
}

struct connection *connection_new(const struct connection_params *p)
{
    struct connection *c = xcalloc(1, sizeof *c);
    c->magic = CONNECTION_MAGIC;
    atomic_init(&c->refs, 1);
    c->id = atomic_fetch_add(&next_id, 1);
    c->nstreams = p->nstreams;
    c->streams = xcalloc(p->nstreams ? p->nstreams : 1, sizeof *c->streams);
    for (size_t i = 0; i < p->nstreams; i++)
        c->streams[i] = xstrdup(p->streams[i]);
    c->max_queued_bytes = p->max_queued_bytes;
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
    PTOK(pthread_mutex_lock(&c->mtx));
    c->io = io;
    c->io_ctx = io_ctx;
    PTOK(pthread_mutex_unlock(&c->mtx));
}

struct connection *connection_ref(struct connection *c)
{
    check(c);
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

/* Drops every queued frame. Mutex held. */
static void drop_queue(struct connection *c)
{
    for (size_t i = 0; i < c->count; i++)
        frame_unref(c->ring[(c->head + i) % c->cap]);
    c->head = c->count = c->head_offset = c->queued_bytes = 0;
}

void connection_unref(struct connection *c)
{
    if (!c)
        return;
    check(c);
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    drop_queue(c);
    free(c->ring);
    for (size_t i = 0; i < c->nstreams; i++)
        free(c->streams[i]);
    free(c->streams);
    PTOK(pthread_mutex_destroy(&c->mtx));
    if (c->io_release)
        c->io_release(c->io_ctx);
    c->magic = 0;
    free(c);
}

uint64_t connection_id(const struct connection *c)
{
    return c->id;
}

size_t connection_stream_count(const struct connection *c)
{
    return c->nstreams;
}

const char *connection_stream(const struct connection *c, size_t i)
{
    assert(i < c->nstreams);
    return c->streams[i];
}

bool connection_has_stream(const struct connection *c, const char *stream)
{
    for (size_t i = 0; i < c->nstreams; i++)
        if (strcmp(c->streams[i], stream) == 0)
            return true;
    return false;
}

/* Appends a reference to f. Mutex held. */
static void enqueue(struct connection *c, struct frame *f)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct frame **ring = xmalloc(cap * sizeof *ring);
        for (size_t i = 0; i < c->count; i++)
            ring[i] = c->ring[(c->head + i) % c->cap];
        free(c->ring);
        c->ring = ring;
        c->cap = cap;
        c->head = 0;
    }
    c->ring[(c->head + c->count) % c->cap] = frame_ref(f);
    c->count++;
    c->queued_bytes += frame_len(f);
}

/* Clears `suspended` and reports whether the caller must resume. Mutex held. */
static bool take_resume_duty(struct connection *c)
{
    bool was = c->suspended;
    c->suspended = false;
    return was && !c->gone;
}

enum conn_push_result connection_push(struct connection *c, struct frame *f, int64_t now_ms,
                                      bool counts_as_event)
{
    check(c);
    enum conn_push_result r;
    PTOK(pthread_mutex_lock(&c->mtx));
    if (c->closing || c->gone) {
        r = CONN_PUSH_CLOSED;
    } else if (c->max_queued_bytes && c->queued_bytes + frame_len(f) > c->max_queued_bytes) {
        /* A slow consumer: dropping it is lossless, it resumes from its cursor. */
        drop_queue(c);
        c->closing = true;
        take_resume_duty(c);
        r = CONN_PUSH_OVERFLOW;
    } else {
        enqueue(c, f);
        r = take_resume_duty(c) ? CONN_PUSH_NEEDS_RESUME : CONN_PUSH_QUEUED;
    }
    PTOK(pthread_mutex_unlock(&c->mtx));
    if (r == CONN_PUSH_QUEUED || r == CONN_PUSH_NEEDS_RESUME) {
        atomic_store_explicit(&c->last_push_ms, now_ms, memory_order_relaxed);
        if (counts_as_event)
            atomic_store_explicit(&c->last_event_ms, now_ms, memory_order_relaxed);
    }
    return r;
}

enum conn_push_result connection_push_replay(struct connection *c, struct frame *f, int64_t now_ms)
{
    check(c);
    enum conn_push_result r = CONN_PUSH_CLOSED;
    PTOK(pthread_mutex_lock(&c->mtx));
    if (!c->closing && !c->gone) {
        enqueue(c, f);
        r = take_resume_duty(c) ? CONN_PUSH_NEEDS_RESUME : CONN_PUSH_QUEUED;
    }
    PTOK(pthread_mutex_unlock(&c->mtx));
    if (r != CONN_PUSH_CLOSED) {
        atomic_store_explicit(&c->last_push_ms, now_ms, memory_order_relaxed);
        atomic_store_explicit(&c->last_event_ms, now_ms, memory_order_relaxed);
    }
    return r;
}

void connection_resume(struct connection *c)
{
    check(c);
    PTOK(pthread_mutex_lock(&c->mtx));
    bool gone = c->gone;
    const struct conn_io_ops *io = c->io;
    void *io_ctx = c->io_ctx;
    PTOK(pthread_mutex_unlock(&c->mtx));
    if (!gone && io)
        io->resume(io_ctx);
}

bool connection_close(struct connection *c, struct frame *final_frame)
{
    check(c);
    PTOK(pthread_mutex_lock(&c->mtx));
    bool resume = false;
    if (!c->closing && !c->gone) {
        if (final_frame)
            enqueue(c, final_frame);
        c->closing = true;
        resume = take_resume_duty(c);
    }
    PTOK(pthread_mutex_unlock(&c->mtx));
    return resume;
}

long connection_read(struct connection *c, char *buf, size_t max, int64_t now_ms,
                     int64_t *oldest_published_us)
{
    check(c);
    (void)now_ms;
    *oldest_published_us = 0;
    size_t n = 0;
    PTOK(pthread_mutex_lock(&c->mtx));
    while (c->count > 0 && n < max) {
        struct frame *f = c->ring[c->head];
        size_t left = frame_len(f) - c->head_offset;
        size_t take = left < max - n ? left : max - n;
        memcpy(buf + n, frame_data(f) + c->head_offset, take);
        if (!*oldest_published_us && c->head_offset == 0)
            *oldest_published_us = frame_published_us(f);
        n += take;
        c->head_offset += take;
        c->queued_bytes -= take;
        if (c->head_offset == frame_len(f)) {
            frame_unref(f);
            c->head = (c->head + 1) % c->cap;
            c->count--;
            c->head_offset = 0;
        }
    }
    long r = (long)n;
    if (n == 0) {
        if (c->closing || c->gone) {
            r = CONN_READ_END;
        } else {
            c->suspended = true;
            if (c->io)
                c->io->suspend(c->io_ctx);
            r = CONN_READ_SUSPENDED;
        }
    }
    PTOK(pthread_mutex_unlock(&c->mtx));
    return r;
}

void connection_gone(struct connection *c)
{
    check(c);
    PTOK(pthread_mutex_lock(&c->mtx));
    c->gone = true;
    c->suspended = false;
    drop_queue(c);
    PTOK(pthread_mutex_unlock(&c->mtx));
}

bool connection_is_closed(struct connection *c)
{
    check(c);
    PTOK(pthread_mutex_lock(&c->mtx));
    bool closed = c->closing || c->gone;
    PTOK(pthread_mutex_unlock(&c->mtx));
    return closed;
}

int64_t connection_last_push_ms(struct connection *c)
{
    return atomic_load_explicit(&c->last_push_ms, memory_order_relaxed);
}

int64_t connection_last_event_ms(struct connection *c)
{
    return atomic_load_explicit(&c->last_event_ms, memory_order_relaxed);
}

size_t connection_queued_bytes(struct connection *c)
{
    PTOK(pthread_mutex_lock(&c->mtx));
    size_t n = c->queued_bytes;
    PTOK(pthread_mutex_unlock(&c->mtx));
    return n;
}

void *connection_registry_slot(const struct connection *c)
{
    return c->registry_slot;
}

void connection_set_registry_slot(struct connection *c, void *slot)
{
    c->registry_slot = slot;
}

void conn_list_push(struct conn_list *l, struct connection *c)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->len++] = c;
}

void conn_list_resume_all(struct conn_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        connection_resume(l->items[i]);
    conn_list_clear(l);
}

void conn_list_clear(struct conn_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        connection_unref(l->items[i]);
    l->len = 0;
}

void conn_list_free(struct conn_list *l)
{
    conn_list_clear(l);
    free(l->items);
    l->items = NULL;
    l->cap = 0;
}
