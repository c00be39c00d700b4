/*
 * event_window: the most recent durable events, already encoded, so a
 * reconnecting client is usually replayed from memory instead of the
 * database. A ring of (position, stream, frame) in position order, plus a
 * floor: the position after which the window holds every event (the
 * dispatcher's starting position at first, then the position of the last
 * evicted entry). Owned by the dispatcher thread; no locking.
 */
#ifndef SSE_EVENT_WINDOW_H
#define SSE_EVENT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_window;
struct frame;

/* Called once per entry by event_window_each_after; stream and f are borrowed
 * for the duration of the call (take a frame_ref to keep f). */
typedef void (*window_event_fn)(void *arg, int64_t position, const char *stream, struct frame *f);

/* An empty window of capacity events (at least 1) that is complete after
 * position floor. The caller frees it with event_window_free(). */
struct event_window *event_window_new(size_t capacity, int64_t floor);
/* Releases every entry. event_window_free(NULL) does nothing. */
void event_window_free(struct event_window *w);
/* Drops everything; the window is complete after floor again. */
void event_window_reset(struct event_window *w, int64_t floor);
/* Appends an entry (position must exceed the floor and every earlier entry:
 * asserted), copying stream and keeping a reference to f. When full, the
 * oldest entry goes and the floor moves up to its position. */
void event_window_push(struct event_window *w, int64_t position, const char *stream,
                       struct frame *f);
/* True if every event after cursor that was pushed is still here (cursor >= floor). */
bool event_window_covers(const struct event_window *w, int64_t cursor);
/* Calls fn for each entry with position > cursor, in position order; returns
 * how many. cursor must be covered (asserted): below the floor the answer
 * would silently miss evicted events. */
size_t event_window_each_after(const struct event_window *w, int64_t cursor, window_event_fn fn,
                               void *arg);
/* The same restricted to entries of the given streams (a name listed twice
 * counts once), at a cost proportional to the entries returned. */
size_t event_window_each_after_in(const struct event_window *w, int64_t cursor,
                                  const char *const *streams, size_t nstreams, window_event_fn fn,
                                  void *arg);
/* Entries held now, and the floor (see above). */
size_t event_window_len(const struct event_window *w);
int64_t event_window_floor(const struct event_window *w);

#endif
