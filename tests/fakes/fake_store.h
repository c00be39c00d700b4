/*
 * fake_store: an in-memory sse.events table behind event_store_ops, for the
 * dispatcher's unit tests: events appended at head+1, a settable head and
 * pruned_through, failure injection per operation, and call counters with
 * the arguments of the last replay query.
 */
#ifndef SSE_FAKE_STORE_H
#define SSE_FAKE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "dispatch/event_store.h"

struct fake_store;

/* Operations, as bits for fake_store_fail(). */
enum {
    FAKE_READ_AFTER = 1,
    FAKE_READ_RANGE = 2,
    FAKE_BOUNDS = 4,
    FAKE_ALL = 7,
};

/* What the store was asked, for the tests to check. */
struct fake_store_stats {
    int read_after_calls, read_range_calls, bounds_calls;
    int64_t last_range_after, last_range_upto;
    char last_range_streams[256]; /* the streams of the last read_range, joined with ',' */
};

/* An empty table with head 0. fake_store_free(NULL) does nothing. */
struct fake_store *fake_store_new(void);
void fake_store_free(struct fake_store *s);
/* Appends an event at head+1, moves the head there and returns the position.
 * event may be NULL. Its published_us is 1000000 * position. */
int64_t fake_store_append(struct fake_store *s, const char *stream, const char *event,
                          const char *data);
/* Moves the head to at least every appended position (no rows in between):
 * for an instance that starts on a table whose history was pruned. */
void fake_store_set_head(struct fake_store *s, int64_t head);
/* Retention: events up to through disappear and bounds reports it. */
void fake_store_prune(struct fake_store *s, int64_t through);
/* Makes the operations in mask (FAKE_* bits) fail with -1 until cleared (mask 0). */
void fake_store_fail(struct fake_store *s, unsigned mask);
/* Shorthand: every operation fails, or none. */
void fake_store_set_failing(struct fake_store *s, bool failing);
const struct fake_store_stats *fake_store_stats(const struct fake_store *s);
/* The ops over s (ctx = s). */
struct event_store_ops fake_store_ops(struct fake_store *s);

#endif
