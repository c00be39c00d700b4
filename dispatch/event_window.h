/*
 * event_window: the most recent durable events, already encoded, so a
 * reconnecting client is usually replayed from memory instead of the
 * database. A ring of (position, stream, frame) in position order, bounded
 * by a count and by bytes, plus a floor: the position after which the
 * window holds every event. The dispatcher pushes and trims; the replayer
 * collects; every call takes the window's own read-write lock.
 */
#ifndef SSE_EVENT_WINDOW_H
#define SSE_EVENT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_window;
struct frame;

/* A replay's slice: positions and frame references, in position order.
 * Plain data, owned by the caller; zero-initialise. */
struct window_item {
    int64_t position;
    struct frame *frame; /* one reference */
};
struct window_slice {
    struct window_item *items;
    size_t len, cap;
    size_t bytes; /* of the frames */
};
/* Drops the references and empties the slice (keeps the storage). */
void window_slice_clear(struct window_slice *s);
void window_slice_free(struct window_slice *s);

/* An empty window of at most capacity events (at least 1) and max_bytes of
 * frames, complete after position floor. The caller frees it. */
struct event_window *event_window_new(size_t capacity, size_t max_bytes, int64_t floor);
/* Releases every entry. event_window_free(NULL) does nothing. */
void event_window_free(struct event_window *w);
/* Drops everything; the window is complete after floor again. */
void event_window_reset(struct event_window *w, int64_t floor);
/* Appends an entry (position must exceed the floor and every earlier entry:
 * asserted), copying stream and keeping a reference to f. The oldest entries
 * go, and the floor moves up to theirs, to keep within both caps; a frame
 * larger than max_bytes is not kept (the floor moves past it). */
void event_window_push(struct event_window *w, int64_t position, const char *stream,
                       struct frame *f);
/* Retention: drops every entry at or below through and raises the floor to
 * it, so a pruned event is never served from memory. */
void event_window_trim(struct event_window *w, int64_t through);
/* True if every event after cursor that was pushed is still here (cursor >= floor). */
bool event_window_covers(struct event_window *w, int64_t cursor);
/* Appends to out the entries of the given streams after cursor, oldest
 * first, until their frames reach budget bytes (at least one when there is
 * one). *scanned_through: the position up to which out now holds every such
 * entry (the window's newest when it took them all). Returns how many were
 * added, or -1 when the window does not cover cursor. */
int event_window_collect(struct event_window *w, int64_t cursor, const char *const *streams,
                         size_t nstreams, size_t budget, struct window_slice *out,
                         int64_t *scanned_through);
/* Entries and frame bytes held now, and the floor (see above). */
size_t event_window_len(struct event_window *w);
size_t event_window_bytes(struct event_window *w);
int64_t event_window_floor(struct event_window *w);

#endif
