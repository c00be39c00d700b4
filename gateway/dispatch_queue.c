/*
 * dispatch_queue: a mutex, a condvar and an intrusive FIFO (STYLE 11).
 * Producers: HTTP workers (connects), the listener (wakes, ephemeral
 * messages), the gateway (stop). Consumer: the dispatcher thread, which takes
 * the whole list at once and handles it after releasing the lock, so wakes
 * that piled up are coalesced into one database read.
 */
#include "dispatch_queue.h"
#include "connection.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dispatch_queue {
    pthread_mutex_t mtx;
    pthread_cond_t nonempty;
    struct dispatch_msg *head, *tail; /* guarded by mtx */
    size_t depth;                     /* guarded by mtx */
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

struct dispatch_msg *dispatch_msg_ephemeral(const char *stream, const char *event, const char *data,
                                            size_t data_len)
{
    struct dispatch_msg *m = msg_new(DISPATCH_EPHEMERAL);
    m->stream = xstrdup(stream);
    m->event = event ? xstrdup(event) : NULL;
    m->data = xstrndup(data, data_len);
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

void dispatch_queue_push(struct dispatch_queue *q, struct dispatch_msg *m)
{
    m->next = NULL;
    PTOK(pthread_mutex_lock(&q->mtx));
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->depth++;
    PTOK(pthread_cond_signal(&q->nonempty));
    PTOK(pthread_mutex_unlock(&q->mtx));
}

/* Detaches the whole list. Mutex held. */
static struct dispatch_msg *take_all(struct dispatch_queue *q)
{
    struct dispatch_msg *all = q->head;
    q->head = q->tail = NULL;
    q->depth = 0;
    return all;
}

struct dispatch_msg *dispatch_queue_pop_all(struct dispatch_queue *q)
{
    PTOK(pthread_mutex_lock(&q->mtx));
    while (!q->head)
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
