/*
 * event_store: how the dispatcher reads durable events, behind an ops struct
 * so unit tests can fake the database. The production store is
 * event_store_pg over its own libpq connection (not the LISTEN one).
 *
 * struct stored_event is public plain data handed to a callback; its strings
 * live only for the duration of the call.
 */
#ifndef SSE_EVENT_STORE_H
#define SSE_EVENT_STORE_H

#include <stddef.h>
#include <stdint.h>

struct stored_event {
    int64_t position;
    const char *stream;
    const char *event; /* NULL when the event has no type */
    const char *data;
    size_t data_len;
    int64_t published_us; /* commit time of the publishing transaction, wall-clock µs */
};

typedef void (*stored_event_fn)(void *arg, const struct stored_event *ev);

struct event_store_ops {
    /* Calls fn for events with position > after, in order, at most limit of
     * them. Returns how many, or -1 on a database error (logged by the store). */
    long (*read_after)(void *ctx, int64_t after, long limit, stored_event_fn fn, void *arg);
    /* Calls fn for events of the given streams with after < position <= upto,
     * in order. Returns how many, or -1 on error. */
    long (*read_range)(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, stored_event_fn fn, void *arg);
    /* The head (highest position) and the highest pruned position (0 if none).
     * Returns 0, or -1 on error. */
    int (*bounds)(void *ctx, int64_t *head, int64_t *pruned_through);
    void *ctx;
};

#endif
