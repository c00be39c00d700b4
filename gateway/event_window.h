/*
 * event_window: the most recent durable events, already encoded, so a
 * reconnecting client is usually replayed from memory instead of the
 * database. A ring of (position, stream, frame) in position order. Owned by
 * the dispatcher thread; no locking.
 */
#ifndef SSE_EVENT_WINDOW_H
#define SSE_EVENT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_window;
struct frame;

typedef void (*window_event_fn)(void *arg, int64_t position, const char *stream, struct frame *f);

/* An empty window of capacity events that is complete after position floor. */
struct event_window *event_window_new(size_t capacity, int64_t floor);
void event_window_free(struct event_window *w);
/* Drops everything; the window is complete after floor again. */
void event_window_reset(struct event_window *w, int64_t floor);
/* Appends (position must exceed every earlier one) and keeps a reference to f.
 * When full, the oldest entry goes and the floor moves up to its position. */
void event_window_push(struct event_window *w, int64_t position, const char *stream,
                       struct frame *f);
/* True if every event after cursor that was pushed is still here. */
bool event_window_covers(const struct event_window *w, int64_t cursor);
/* Calls fn for each entry with position > cursor, in order; returns how many. */
size_t event_window_each_after(const struct event_window *w, int64_t cursor, window_event_fn fn,
                               void *arg);
size_t event_window_len(const struct event_window *w);

#endif
