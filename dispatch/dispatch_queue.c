/*
 * dispatch_queue: a mutex, a condvar and an intrusive FIFO.
 *
 * Producers (any thread): HTTP workers push connects, the listener pushes
 * wakes and ephemeral messages, the gateway pushes the STOP sentinel.
 * Consumer: the dispatcher thread alone. It swaps the whole list out while
 * holding the lock and handles the messages after releasing it, so producers
 * never wait behind a database read, and wakes that piled up during one are
 * coalesced into a single catch-up.
 *
 * The depth counter feeds the dispatch_queue_depth gauge. Only the leader's
 * hand-over of events is bounded here (dispatch_queue_offer): connects are
 * bounded by --max-connections and wakes are tiny. It does not know what a
 * message means.
 */
#include "dispatch/dispatch_queue.h"
#include "common/xalloc.h"
#include "dispatch/event_store.h"
#include "registry/connection.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dispatch_queue {
    pthread_mutex_t mtx;
    pthread_cond_t nonempty;          /* signalled on every push */
    struct dispatch_msg *head, *tail; /* shared: guarded by mtx */
    size_t depth;                     /* shared: guarded by mtx */
    size_t events_bytes;              /* shared: guarded by mtx; of the EVENTS queued */
};

static struct dispatch_msg *msg_new(enum dispatch_kind kind)
{
    struct dispatch_msg *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    return m;
}

struct dispatch_msg *dispatch_msg_connect(struct connection *conn_takes_ref, bool has_cursor,
                                          int64_t cursor)
{
    assert(conn_takes_ref);
    struct dispatch_msg *m = msg_new(DISPATCH_CONNECT);
    m->conn = conn_takes_ref;
    m->has_cursor = has_cursor;
    m->cursor = cursor;
    return m;
}

struct dispatch_msg *dispatch_msg_wake(void)
{
    return msg_new(DISPATCH_WAKE);
}

struct dispatch_msg *dispatch_msg_wake_bounds(void)
{
    struct dispatch_msg *m = dispatch_msg_wake();
    m->recheck_bounds = true;
    return m;
}

struct dispatch_msg *dispatch_msg_events(void)
{
    return msg_new(DISPATCH_EVENTS);
}

void dispatch_msg_add_event(struct dispatch_msg *m, const struct stored_event *ev)
{
    assert(m->kind == DISPATCH_EVENTS && ev->data);
    if (m->nevents == m->events_cap) {
        m->events_cap = m->events_cap ? 2 * m->events_cap : 16;
        m->events = xrealloc(m->events, m->events_cap * sizeof *m->events);
    }
    /* One block per event: stream, data and event type, each NUL-terminated. */
    size_t ls = strlen(ev->stream) + 1, le = ev->event ? strlen(ev->event) + 1 : 0;
    char *text = xmalloc(ls + ev->data_len + 1 + le);
    m->events_bytes += ls + ev->data_len + 1 + le + sizeof *m->events;
    memcpy(text, ev->stream, ls);
    memcpy(text + ls, ev->data, ev->data_len);
    text[ls + ev->data_len] = '\0';
    if (ev->event)
        memcpy(text + ls + ev->data_len + 1, ev->event, le);
    m->events[m->nevents++] = (struct stored_event){
        .position = ev->position,
        .stream = text,
        .event = ev->event ? text + ls + ev->data_len + 1 : NULL,
        .data = text + ls,
        .data_len = ev->data_len,
        .published_us = ev->published_us,
    };
}

struct dispatch_msg *dispatch_msg_ephemeral(const char *stream, const char *event, const char *data,
                                            size_t data_len)
{
    struct dispatch_msg *m = msg_new(DISPATCH_EPHEMERAL);
    m->stream = xstrdup(stream);
    m->event = event ? xstrdup(event) : NULL;
    m->data = xstrndup(data, data_len); /* exactly data_len bytes, NUL-terminated */
    m->data_len = data_len;
    return m;
}

struct dispatch_msg *dispatch_msg_stop(void)
{
    return msg_new(DISPATCH_STOP);
}

void dispatch_msg_free(struct dispatch_msg *m)
{
    if (!m)
        return;
    connection_unref(m->conn);
    for (size_t i = 0; i < m->nevents; i++)
        free((char *)m->events[i].stream); /* the start of its block */
    free(m->events);
    free(m->stream);
    free(m->event);
    free(m->data);
    free(m);
}

struct dispatch_queue *dispatch_queue_new(void)
{
    struct dispatch_queue *q = xcalloc(1, sizeof *q);
    PTOK(pthread_mutex_init(&q->mtx, NULL));
    PTOK(pthread_cond_init(&q->nonempty, NULL));
    return q;
}

void dispatch_queue_free(struct dispatch_queue *q)
{
    if (!q)
        return;
    struct dispatch_msg *m = q->head;
    while (m) {
        struct dispatch_msg *next = m->next;
        dispatch_msg_free(m);
        m = next;
    }
    PTOK(pthread_cond_destroy(&q->nonempty));
    PTOK(pthread_mutex_destroy(&q->mtx));
    free(q);
}

/* Appends m. Mutex held. */
static void append(struct dispatch_queue *q, struct dispatch_msg *m)
{
    m->next = NULL;
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->depth++;
    q->events_bytes += m->events_bytes;
    /* One consumer: signal, not broadcast. */
    PTOK(pthread_cond_signal(&q->nonempty));
}

void dispatch_queue_push(struct dispatch_queue *q, struct dispatch_msg *m)
{
    assert(m);
    PTOK(pthread_mutex_lock(&q->mtx));
    append(q, m);
    PTOK(pthread_mutex_unlock(&q->mtx));
}

bool dispatch_queue_offer(struct dispatch_queue *q, struct dispatch_msg *m, size_t max_bytes)
{
    assert(m && m->kind == DISPATCH_EVENTS);
    PTOK(pthread_mutex_lock(&q->mtx));
    bool fits = q->events_bytes + m->events_bytes <= max_bytes;
    if (fits)
        append(q, m);
    PTOK(pthread_mutex_unlock(&q->mtx));
    return fits;
}

/* Detaches the whole list. Mutex held. */
static struct dispatch_msg *take_all(struct dispatch_queue *q)
{
    struct dispatch_msg *all = q->head;
    q->head = q->tail = NULL;
    q->depth = 0;
    q->events_bytes = 0;
    return all;
}

struct dispatch_msg *dispatch_queue_pop_all(struct dispatch_queue *q)
{
    PTOK(pthread_mutex_lock(&q->mtx));
    while (!q->head) /* spurious wake-ups are allowed: re-check */
        PTOK(pthread_cond_wait(&q->nonempty, &q->mtx));
    struct dispatch_msg *all = take_all(q);
    PTOK(pthread_mutex_unlock(&q->mtx));
    return all;
}

struct dispatch_msg *dispatch_queue_try_pop_all(struct dispatch_queue *q)
{
    PTOK(pthread_mutex_lock(&q->mtx));
    struct dispatch_msg *all = take_all(q);
    PTOK(pthread_mutex_unlock(&q->mtx));
    return all;
}

size_t dispatch_queue_depth(struct dispatch_queue *q)
{
    PTOK(pthread_mutex_lock(&q->mtx));
    size_t n = q->depth;
    PTOK(pthread_mutex_unlock(&q->mtx));
    return n;
}
