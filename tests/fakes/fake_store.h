/*
 * fake_store: an in-memory sse.events table behind event_store_ops, with a
 * settable pruned_through, failure injection and call counters.
 */
#ifndef SSE_FAKE_STORE_H
#define SSE_FAKE_STORE_H

#include <stdbool.h>

#include "event_store.h"

struct fake_store;

struct fake_store *fake_store_new(void);
void fake_store_free(struct fake_store *s);
/* Appends an event at head+1 and returns its position. */
int64_t fake_store_append(struct fake_store *s, const char *stream, const char *event,
                          const char *data);
/* Forgets events up to position (retention). */
void fake_store_prune(struct fake_store *s, int64_t through);
void fake_store_set_failing(struct fake_store *s, bool failing);
int fake_store_range_calls(struct fake_store *s);
int64_t fake_store_last_range_after(struct fake_store *s);
struct event_store_ops fake_store_ops(struct fake_store *s);

#endif
