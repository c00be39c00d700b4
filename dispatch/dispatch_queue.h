/*
 * dispatch_queue: the mutex + condvar + intrusive FIFO between the producers
 * (HTTP workers, listener) and the dispatcher thread.
 * push() takes ownership and signals; pop_all() blocks and hands over the
 * whole list at once so the dispatcher can coalesce wakes.
 *
 * struct dispatch_msg is public plain data: producers fill it, the dispatcher
 * reads it, nobody else needs an accessor layer in between.
 */
#ifndef SSE_DISPATCH_QUEUE_H
#define SSE_DISPATCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct connection;
struct dispatch_queue;
struct stored_event;

enum dispatch_kind {
    DISPATCH_CONNECT,   /* register conn, replaying after cursor first */
    DISPATCH_WAKE,      /* new durable events may exist: read them */
    DISPATCH_EVENTS,    /* durable events this instance's leader just committed, handed over */
    DISPATCH_EPHEMERAL, /* fan out a NOTIFY payload as-is, no id */
    DISPATCH_STOP,      /* sentinel: the dispatcher loop returns */
};

struct dispatch_msg {
    struct dispatch_msg *next; /* intrusive link, owned by the queue */
    enum dispatch_kind kind;
    struct connection *conn; /* CONNECT: one reference, owned by the message */
    bool recheck_bounds;     /* WAKE: also re-read the retention bound (pruned_through) */
    /* WAKE: the head a notification claimed (0: none). Anyone may NOTIFY,
     * so it only lets the dispatcher skip a read when it already holds
     * every position up to it: a forged number skips nothing real. */
    int64_t head_hint;
    int64_t posted_us; /* WAKE, EVENTS: wall µs when posted, for debug timings (0: unknown) */
    struct stored_event *events; /* EVENTS: in position order, each owning its strings */
    size_t nevents, events_cap;  /* EVENTS */
    size_t events_bytes;         /* EVENTS: what its copies hold */
    bool has_cursor;             /* CONNECT */
    int64_t cursor;              /* CONNECT */
    char *stream;                /* EPHEMERAL, owned */
    char *event;                 /* EPHEMERAL, owned, may be NULL */
    char *data;                  /* EPHEMERAL, owned */
    size_t data_len;             /* EPHEMERAL */
};

/* Constructors; each result is owned by the caller until pushed. */
struct dispatch_msg *dispatch_msg_connect(struct connection *conn_takes_ref, bool has_cursor,
                                          int64_t cursor);
struct dispatch_msg *dispatch_msg_wake(void);
/* A WAKE that also makes the dispatcher re-read pruned_through from the
 * database: after the leader pruned, and periodically as a backup. */
struct dispatch_msg *dispatch_msg_wake_bounds(void);
/* An empty EVENTS message; dispatch_msg_add_event copies one event into it
 * (ev->data must not be NULL). */
struct dispatch_msg *dispatch_msg_events(void);
void dispatch_msg_add_event(struct dispatch_msg *m, const struct stored_event *ev);
struct dispatch_msg *dispatch_msg_ephemeral(const char *stream, const char *event, const char *data,
                                            size_t data_len);
struct dispatch_msg *dispatch_msg_stop(void);
/* Frees one message (unrefs its connection). dispatch_msg_free(NULL) does nothing. */
void dispatch_msg_free(struct dispatch_msg *m);

struct dispatch_queue *dispatch_queue_new(void);
/* Frees the queue and any messages still in it. */
void dispatch_queue_free(struct dispatch_queue *q);
/* Appends m (takes ownership) and wakes the consumer. Any thread. */
void dispatch_queue_push(struct dispatch_queue *q, struct dispatch_msg *m);
/* Pushes an EVENTS message only if the EVENTS bytes waiting in the queue
 * stay within max_bytes with it: true, or false and the caller keeps m.
 * Bounds the hand-over while the dispatcher is busy (a slow read). */
bool dispatch_queue_offer(struct dispatch_queue *q, struct dispatch_msg *m, size_t max_bytes);
/* Blocks until the queue is non-empty, then returns every queued message as a
 * FIFO list linked through ->next (owned by the caller). Consumer thread only. */
struct dispatch_msg *dispatch_queue_pop_all(struct dispatch_queue *q);
/* Like pop_all but returns NULL at once when empty. */
struct dispatch_msg *dispatch_queue_try_pop_all(struct dispatch_queue *q);
/* Messages waiting now. Any thread. */
size_t dispatch_queue_depth(struct dispatch_queue *q);

#endif
