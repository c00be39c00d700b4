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
 * Each entry also links to the previous entry of its stream, and a hash
 * table of the streams present leads to each one's newest entry, so a replay
 * for a few streams walks only their events (a reconnect storm of 10,000
 * clients over a 65,536-event window would otherwise scan the whole window
 * per client).
 *
 * Thread: the dispatcher's only; no locking. Does not: know about
 * connections.
 */
#include "dispatch/event_window.h"
#include "common/frame.h"
#include "common/hash_table.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT64_MAX

/* One per stream with entries in the window: the name every entry of the
 * stream shares, and the newest entry, whose prev_same links lead to the
 * older ones. Gone with the stream's last entry. */
struct stream_node {
    uint64_t newest; /* absolute index */
    size_t entries;
    char name[]; /* the table's key */
};

struct entry {
    int64_t position;
    struct stream_node *stream; /* shared, counted in stream->entries */
    struct frame *frame;        /* one reference */
    uint64_t prev_same;         /* absolute index of the stream's previous entry, or NONE */
};

/* Entries are numbered by absolute index, the count of pushes before them;
 * entry a lives in ring[a % cap] while pushed - len <= a < pushed. */
struct event_window {
    struct entry *ring; /* owned by dispatcher thread, as is the rest */
    size_t cap, head, len;
    uint64_t pushed;
    int64_t floor;
    struct hash_table *streams; /* name → struct stream_node */
};

static struct stream_node *stream_get(struct event_window *w, const char *name)
{
    struct stream_node *s = hash_table_find(w->streams, name);
    if (s)
        return s;
    size_t len = strlen(name);
    s = xmalloc(sizeof *s + len + 1);
    s->newest = NONE;
    s->entries = 0;
    memcpy(s->name, name, len + 1);
    hash_table_insert(w->streams, s->name, s);
    return s;
}

static void stream_release(struct event_window *w, struct stream_node *s)
{
    if (--s->entries)
        return;
    struct stream_node *removed = hash_table_remove(w->streams, s->name);
    assert(removed == s);
    (void)removed;
    free(s);
}

struct event_window *event_window_new(size_t capacity, int64_t floor)
{
    struct event_window *w = xcalloc(1, sizeof *w);
    w->cap = capacity ? capacity : 1;
    w->ring = xcalloc(w->cap, sizeof *w->ring);
    w->floor = floor;
    w->streams = hash_table_new();
    return w;
}

/* The i-th entry from the oldest. */
static struct entry *at(const struct event_window *w, size_t i)
{
    assert(i < w->len);
    return &w->ring[(w->head + i) % w->cap];
}

static bool held(const struct event_window *w, uint64_t a)
{
    return a != NONE && a < w->pushed && a >= w->pushed - w->len;
}

static void drop_oldest(struct event_window *w)
{
    struct entry *e = at(w, 0);
    w->floor = e->position; /* everything after it is still here */
    stream_release(w, e->stream);
    frame_unref(e->frame);
    *e = (struct entry){0};
    w->head = (w->head + 1) % w->cap;
    w->len--;
}

void event_window_reset(struct event_window *w, int64_t floor)
{
    while (w->len)
        drop_oldest(w);
    assert(hash_table_count(w->streams) == 0);
    w->head = 0;
    w->pushed = 0;
    w->floor = floor;
}

void event_window_free(struct event_window *w)
{
    if (!w)
        return;
    event_window_reset(w, 0);
    hash_table_free(w->streams);
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
    struct stream_node *s = stream_get(w, stream);
    e->position = position;
    e->stream = s;
    e->frame = frame_ref(f);
    e->prev_same = s->entries ? s->newest : NONE;
    s->newest = w->pushed;
    s->entries++;
    w->len++;
    w->pushed++;
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
        fn(arg, e->position, e->stream->name, e->frame);
    }
    return w->len - lo;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

size_t event_window_each_after_in(const struct event_window *w, int64_t cursor,
                                  const char *const *streams, size_t nstreams, window_event_fn fn,
                                  void *arg)
{
    assert(event_window_covers(w, cursor));
    /* Walk each stream's links back from its newest entry to the cursor:
     * the cost is the events replayed, not the window's size. */
    uint64_t *found = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < nstreams; i++) {
        bool listed_before = false;
        for (size_t k = 0; k < i && !listed_before; k++)
            listed_before = strcmp(streams[k], streams[i]) == 0;
        if (listed_before)
            continue; /* a name listed twice counts once */
        const struct stream_node *s = hash_table_find(w->streams, streams[i]);
        for (uint64_t a = s ? s->newest : NONE; held(w, a); a = w->ring[a % w->cap].prev_same) {
            if (w->ring[a % w->cap].position <= cursor)
                break;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                found = xrealloc(found, cap * sizeof *found);
            }
            found[n++] = a;
        }
    }
    /* Absolute indices grow with positions: ascending order is event order. */
    if (n > 1)
        qsort(found, n, sizeof *found, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &w->ring[found[i] % w->cap];
        fn(arg, e->position, e->stream->name, e->frame);
    }
    free(found);
    return n;
}

size_t event_window_len(const struct event_window *w)
{
    return w->len;
}

int64_t event_window_floor(const struct event_window *w)
{
    return w->floor;
}
