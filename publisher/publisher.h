/*
 * publisher: the HTTP publish path's group commit. HTTP workers
 * submit requests into a bounded queue; the publisher thread publishes all
 * that are waiting in one transaction over its own database connection and
 * answers each request only after that transaction committed.
 *
 * Threads: publisher_submit from any thread; the done callbacks run on the
 * publisher thread, must be quick and must not call back into the publisher.
 */
#ifndef SSE_PUBLISHER_H
#define SSE_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

struct publisher;
struct metrics;
struct clock_ops;

/* One event to publish. Plain data, heap strings owned by the list. */
struct publish_item {
    char *stream;
    char *data;
    char *event; /* NULL: no type */
};

struct publish_list {
    struct publish_item *items;
    size_t n;
};

/* What became of a queued publish request (the publisher answers, the HTTP
 * adapter turns it into a status). */
enum publish_outcome {
    PUBLISH_COMMITTED,   /* every event of the request is durable */
    PUBLISH_REJECTED,    /* the database refused the request; nothing written (400) */
    PUBLISH_UNAVAILABLE, /* no database before the deadline, or draining; nothing known written
                            (503) */
};

typedef void (*publish_done_fn)(void *arg, enum publish_outcome outcome, size_t accepted);

enum publish_submit {
    PUBLISH_QUEUED,  /* done will be called exactly once */
    PUBLISH_FULL,    /* the queue is full: answer 503 with Retry-After */
    PUBLISH_STOPPED, /* draining: answer 503 */
};

/* Frees the strings and the array; leaves an empty list. */
void publish_list_clear(struct publish_list *l);
/* Total bytes of stream, data and event over the list (for queue limits). */
size_t publish_list_bytes(const struct publish_list *l);

enum publish_store_result {
    PUBLISH_STORE_OK,       /* committed */
    PUBLISH_STORE_REJECTED, /* the database refused the content; nothing written */
    PUBLISH_STORE_FAILED,   /* connection or server trouble; try again later */
};

/* How events reach the database, behind an ops struct so unit tests can fake
 * it. The production store is publish_store_pg. */
struct publish_store_ops {
    /* Publishes items in order in one transaction. Publisher thread only. */
    enum publish_store_result (*publish)(void *ctx, const struct publish_item *const *items,
                                         size_t n);
    void *ctx;
};

struct publisher_deps {
    const struct publish_store_ops *store;
    struct metrics *metrics;
    const struct clock_ops *clock;
    size_t max_queued_events; /* beyond this, submit says FULL */
    int64_t give_up_ms;       /* a request waiting this long for the database gets UNAVAILABLE */
};

/* Borrowed pointers must outlive the publisher. */
struct publisher *publisher_new(const struct publisher_deps *deps);
int publisher_start(struct publisher *p);
/* Queues a request. On PUBLISH_QUEUED it takes ownership of *events (left
 * empty); otherwise the caller keeps them. Any thread. */
enum publish_submit publisher_submit(struct publisher *p, struct publish_list *events,
                                     publish_done_fn done, void *arg);
/* One group commit: publishes what is queued (up to PUBLISHER_BATCH_EVENTS
 * events) and answers it. Returns how long to wait before the next attempt
 * (0: go on; > 0: the database failed, back off). Publisher thread, or tests. */
int64_t publisher_flush_once(struct publisher *p);
/* Refuses new requests, publishes everything queued, retrying until the
 * monotonic deadline_ms (system clock), answers the rest UNAVAILABLE, joins
 * the thread. Safe to call twice. */
void publisher_stop(struct publisher *p, int64_t deadline_ms);
void publisher_free(struct publisher *p);
/* Events waiting now. Any thread. */
size_t publisher_queued_events(struct publisher *p);

#define PUBLISHER_BATCH_EVENTS 500

#endif
