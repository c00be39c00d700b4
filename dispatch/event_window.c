/*
 * event_window: the most recent durable events, already encoded: a ring of
 * (position, stream, frame) in position order, bounded by a count and by
 * the bytes of its frames, the oldest going first. A replay from memory
 * costs no encoding and no copy of event bytes: it takes references to the
 * frames the dispatcher encoded for the live fan-out.
 *
 * `floor` is the position after which the window is complete: the
 * dispatcher's starting position at first, then the position of the last
 * entry evicted or trimmed. Trimming at the retention bound raises it too,
 * so an event the leader pruned is never served from here.
 *
 * Each entry links to the previous entry of its stream, and a hash of the
 * streams present leads to each one's newest entry: a replay of a few
 * sparse streams walks only their events; one of dense streams walks the
 * ring forward from the cursor, stopping at its byte budget.
 *
 * Threads: the dispatcher pushes and trims, the replayer collects; a
 * read-write lock guards everything below. Does not: know about connections.
 */
#include "dispatch/event_window.h"
#include "common/frame.h"
#include "common/hash_table.h"
#include "common/xalloc.h"

#include <assert.h>
#include <pthread.h>
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
    pthread_rwlock_t lock;
    struct entry *ring; /* guarded by lock, as is the rest */
    size_t cap, head, len;
    size_t bytes, max_bytes; /* of the frames held; the cap */
    uint64_t pushed;
    int64_t floor;
    struct hash_table *streams; /* name → struct stream_node */
};

static void rdlock(struct event_window *w)
{
    PTOK(pthread_rwlock_rdlock(&w->lock));
}

static void wrlock(struct event_window *w)
{
    PTOK(pthread_rwlock_wrlock(&w->lock));
}

static void unlock(struct event_window *w)
{
    PTOK(pthread_rwlock_unlock(&w->lock));
}

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

struct event_window *event_window_new(size_t capacity, size_t max_bytes, int64_t floor)
{
    struct event_window *w = xcalloc(1, sizeof *w);
    PTOK(pthread_rwlock_init(&w->lock, NULL));
    w->cap = capacity ? capacity : 1;
    w->max_bytes = max_bytes;
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
    w->bytes -= frame_len(e->frame);
    stream_release(w, e->stream);
    frame_unref(e->frame);
    *e = (struct entry){0};
    w->head = (w->head + 1) % w->cap;
    w->len--;
}

static void reset_locked(struct event_window *w, int64_t floor)
{
    while (w->len)
        drop_oldest(w);
    assert(hash_table_count(w->streams) == 0 && w->bytes == 0);
    w->head = 0;
    w->pushed = 0;
    w->floor = floor;
}

void event_window_reset(struct event_window *w, int64_t floor)
{
    wrlock(w);
    reset_locked(w, floor);
    unlock(w);
}

void event_window_free(struct event_window *w)
{
    if (!w)
        return;
    reset_locked(w, 0);
    hash_table_free(w->streams);
    PTOK(pthread_rwlock_destroy(&w->lock));
    free(w->ring);
    free(w);
}

void event_window_push(struct event_window *w, int64_t position, const char *stream,
                       struct frame *f)
{
    wrlock(w);
    assert(position > w->floor);
    assert(w->len == 0 || position > at(w, w->len - 1)->position);
    /* A frame larger than the whole cap is not kept at all: the window is
     * then complete only after it, as after any eviction. */
    while (w->len && (w->len == w->cap || w->bytes + frame_len(f) > w->max_bytes))
        drop_oldest(w);
    if (frame_len(f) > w->max_bytes) {
        w->floor = position;
        unlock(w);
        return;
    }
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
    w->bytes += frame_len(f);
    unlock(w);
}

void event_window_trim(struct event_window *w, int64_t through)
{
    wrlock(w);
    while (w->len && at(w, 0)->position <= through)
        drop_oldest(w);
    if (w->floor < through)
        w->floor = through;
    unlock(w);
}

bool event_window_covers(struct event_window *w, int64_t cursor)
{
    rdlock(w);
    bool covered = cursor >= w->floor;
    unlock(w);
    return covered;
}

/* The index (from the oldest) of the first entry after cursor. */
static size_t first_after(const struct event_window *w, int64_t cursor)
{
    size_t lo = 0, hi = w->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(w, mid)->position <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void slice_add(struct window_slice *out, const struct entry *e)
{
    if (out->len == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 64;
        out->items = xrealloc(out->items, out->cap * sizeof *out->items);
    }
    out->items[out->len++] = (struct window_item){e->position, frame_ref(e->frame)};
    out->bytes += frame_len(e->frame);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sparse streams: walk each stream's links back from its newest entry to
 * the cursor (the cost is their events, not the window's size), then take
 * the oldest within the budget. Returns true if all of them fitted. */
static bool collect_by_links(const struct event_window *w, int64_t cursor,
                             const struct stream_node *const *nodes, size_t nnodes, size_t budget,
                             struct window_slice *out)
{
    uint64_t *found = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < nnodes; i++) {
        for (uint64_t a = nodes[i]->newest; held(w, a); a = w->ring[a % w->cap].prev_same) {
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
    size_t i = 0;
    for (; i < n && (out->len == 0 || out->bytes < budget); i++)
        slice_add(out, &w->ring[found[i] % w->cap]);
    free(found);
    return i == n;
}

/* Dense streams: walk the ring forward from the cursor. */
static bool collect_by_scan(const struct event_window *w, size_t from,
                            const struct stream_node *const *nodes, size_t nnodes, size_t budget,
                            struct window_slice *out, int64_t *stopped_at)
{
    for (size_t i = from; i < w->len; i++) {
        const struct entry *e = at(w, i);
        if (out->len && out->bytes >= budget) {
            *stopped_at = at(w, i - 1)->position;
            return false;
        }
        for (size_t k = 0; k < nnodes; k++) {
            if (e->stream == nodes[k]) {
                slice_add(out, e);
                break;
            }
        }
    }
    return true;
}

int event_window_collect(struct event_window *w, int64_t cursor, const char *const *streams,
                         size_t nstreams, size_t budget, struct window_slice *out,
                         int64_t *scanned_through)
{
    rdlock(w);
    if (cursor < w->floor) {
        unlock(w);
        return -1;
    }
    /* The streams present, each once (a name listed twice counts once). */
    const struct stream_node *few[32];
    const struct stream_node **nodes = nstreams <= 32 ? few : xmalloc(nstreams * sizeof *nodes);
    size_t nnodes = 0, mine = 0;
    for (size_t i = 0; i < nstreams; i++) {
        const struct stream_node *s = hash_table_find(w->streams, streams[i]);
        bool listed = false;
        for (size_t k = 0; k < nnodes && !listed; k++)
            listed = nodes[k] == s;
        if (s && !listed) {
            nodes[nnodes++] = s;
            mine += s->entries;
        }
    }
    size_t from = first_after(w, cursor);
    int64_t newest = w->len ? at(w, w->len - 1)->position : w->floor;
    size_t start_len = out->len;
    bool all;
    if (mine * 4 < w->len - from) {
        all = collect_by_links(w, cursor, nodes, nnodes, budget, out);
        *scanned_through = all ? newest : out->items[out->len - 1].position;
    } else {
        int64_t stopped_at = newest;
        all = collect_by_scan(w, from, nodes, nnodes, budget, out, &stopped_at);
        *scanned_through = all ? newest : stopped_at;
    }
    if (*scanned_through < cursor)
        *scanned_through = cursor;
    unlock(w);
    if (nodes != few)
        free(nodes);
    return (int)(out->len - start_len);
}

void window_slice_clear(struct window_slice *s)
{
    for (size_t i = 0; i < s->len; i++)
        frame_unref(s->items[i].frame);
    s->len = 0;
    s->bytes = 0;
}

void window_slice_free(struct window_slice *s)
{
    window_slice_clear(s);
    free(s->items);
    s->items = NULL;
    s->cap = 0;
}

size_t event_window_len(struct event_window *w)
{
    rdlock(w);
    size_t n = w->len;
    unlock(w);
    return n;
}

size_t event_window_bytes(struct event_window *w)
{
    rdlock(w);
    size_t n = w->bytes;
    unlock(w);
    return n;
}

int64_t event_window_floor(struct event_window *w)
{
    rdlock(w);
    int64_t f = w->floor;
    unlock(w);
    return f;
}
