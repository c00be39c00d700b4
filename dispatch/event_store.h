/*
 * event_store: how the dispatcher and the replayer read durable events,
 * behind an ops struct so unit tests can fake the database. The production
 * store is event_store_pg, one per reading thread, each over its own libpq
 * connection (not the LISTEN one). Every read is bounded in rows and bytes,
 * so a table of huge events cannot make one answer huge.
 *
 * struct stored_event is public plain data handed to a callback; its strings
 * live only for the duration of the call.
 */
#ifndef SSE_EVENT_STORE_H
#define SSE_EVENT_STORE_H

#include <stdbool.h>
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
    /* Calls fn for events with position > after, in order: at most max_rows
     * of them and, past the first, about max_bytes of data at most. Returns
     * how many, or -1 on a database error (logged by the store); *complete
     * says whether those were all the events after `after`. */
    long (*read_after)(void *ctx, int64_t after, long max_rows, size_t max_bytes, bool *complete,
                       stored_event_fn fn, void *arg);
    /* The same for events of the given streams with after < position <= upto. */
    long (*read_range)(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, long max_rows, size_t max_bytes, bool *complete,
                       stored_event_fn fn, void *arg);
    /* The head (highest position) and the highest pruned position (0 if none).
     * Returns 0, or -1 on error. */
    int (*bounds)(void *ctx, int64_t *head, int64_t *pruned_through);
    void *ctx;
};

#endif
