/*
 * event_window: a fixed-capacity ring of the last N durable events, each
 * with its position, an owned copy of its stream name and a reference to the
 * frame the dispatcher already encoded for the live fan-out, so a replay from
 * memory costs no encoding and no copy of the event bytes.
 *
 * `floor` is the position after which the window is complete: the
 * dispatcher's starting position at first (nothing before it was ever
 * pushed), then the position of the last evicted entry. A cursor at or above
 * the floor is served entirely from here; below it the dispatcher goes to
 * the database.
 *
 * Thread: the dispatcher's only; no locking. Does not: filter by stream (the
 * callback does), or know about connections.
 */
#include "event_window.h"
#include "frame.h"
#include "xalloc.h"

#include <assert.h>
#include <stdlib.h>

struct entry {
    int64_t position;
    char *stream;        /* owned */
    struct frame *frame; /* one reference */
};

struct event_window {
    struct entry *ring; /* owned by dispatcher thread, as is the rest */
    size_t cap, head, len;
    int64_t floor;
};

struct event_window *event_window_new(size_t capacity, int64_t floor)
{
    struct event_window *w = xcalloc(1, sizeof *w);
    w->cap = capacity ? capacity : 1;
    w->ring = xcalloc(w->cap, sizeof *w->ring);
    w->floor = floor;
    return w;
}

/* The i-th entry from the oldest. */
static struct entry *at(const struct event_window *w, size_t i)
{
    assert(i < w->len);
    return &w->ring[(w->head + i) % w->cap];
}

static void drop_oldest(struct event_window *w)
{
    struct entry *e = at(w, 0);
    w->floor = e->position; /* everything after it is still here */
    free(e->stream);
    frame_unref(e->frame);
    *e = (struct entry){0};
    w->head = (w->head + 1) % w->cap;
    w->len--;
}

void event_window_reset(struct event_window *w, int64_t floor)
{
    while (w->len)
        drop_oldest(w);
    w->head = 0;
    w->floor = floor;
}

void event_window_free(struct event_window *w)
{
    if (!w)
        return;
    event_window_reset(w, 0);
    free(w->ring);
    free(w);
}

void event_window_push(struct event_window *w, int64_t position, const char *stream,
                       struct frame *f)
{
    assert(position > w->floor);
    assert(w->len == 0 || position > at(w, w->len - 1)->position);
    if (w->len == w->cap)
        drop_oldest(w);
    struct entry *e = &w->ring[(w->head + w->len) % w->cap];
    e->position = position;
    e->stream = xstrdup(stream);
    e->frame = frame_ref(f);
    w->len++;
}

bool event_window_covers(const struct event_window *w, int64_t cursor)
{
    return cursor >= w->floor;
}

size_t event_window_each_after(const struct event_window *w, int64_t cursor, window_event_fn fn,
                               void *arg)
{
    assert(event_window_covers(w, cursor));
    /* Binary search for the first entry after cursor: a reconnect storm
     * replays mostly the newest few entries of a large window. */
    size_t lo = 0, hi = w->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(w, mid)->position <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < w->len; i++) {
        const struct entry *e = at(w, i);
        fn(arg, e->position, e->stream, e->frame);
    }
    return w->len - lo;
}

size_t event_window_len(const struct event_window *w)
{
    return w->len;
}

int64_t event_window_floor(const struct event_window *w)
{
    return w->floor;
}
