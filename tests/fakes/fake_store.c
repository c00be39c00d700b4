/*
 * fake_store: the durable event table in memory, for dispatcher unit tests.
 * Rows are kept in position order; pruning hides the rows at or below
 * pruned_through, as retention deletes them. Single-threaded like the store
 * it fakes (the dispatcher thread only calls it).
 */
#include "fakes/fake_store.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
    int64_t position;
    char *stream, *event, *data;
};

struct fake_store {
    struct row *rows; /* in position order */
    size_t nrows, cap;
    int64_t head, pruned;
    unsigned failing; /* FAKE_* bits */
    struct fake_store_stats stats;
};

struct fake_store *fake_store_new(void)
{
    return xcalloc(1, sizeof(struct fake_store));
}

void fake_store_free(struct fake_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrows; i++) {
        free(s->rows[i].stream);
        free(s->rows[i].event);
        free(s->rows[i].data);
    }
    free(s->rows);
    free(s);
}

int64_t fake_store_append(struct fake_store *s, const char *stream, const char *event,
                          const char *data)
{
    if (s->nrows == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->rows = xrealloc(s->rows, s->cap * sizeof *s->rows);
    }
    s->rows[s->nrows++] =
        (struct row){++s->head, xstrdup(stream), event ? xstrdup(event) : NULL, xstrdup(data)};
    return s->head;
}

void fake_store_set_head(struct fake_store *s, int64_t head)
{
    assert(s->nrows == 0 || head >= s->rows[s->nrows - 1].position);
    s->head = head;
}

void fake_store_prune(struct fake_store *s, int64_t through)
{
    s->pruned = through;
}

void fake_store_fail(struct fake_store *s, unsigned mask)
{
    s->failing = mask;
}

void fake_store_set_failing(struct fake_store *s, bool failing)
{
    s->failing = failing ? FAKE_ALL : 0;
}

const struct fake_store_stats *fake_store_stats(const struct fake_store *s)
{
    return &s->stats;
}

static void emit(const struct row *r, stored_event_fn fn, void *arg)
{
    struct stored_event ev = {r->position, r->stream,       r->event,
                              r->data,     strlen(r->data), 1000000 * r->position};
    fn(arg, &ev);
}

/* Index of the first visible row after position. */
static size_t first_after(const struct fake_store *s, int64_t position)
{
    int64_t from = position > s->pruned ? position : s->pruned;
    size_t i = 0;
    while (i < s->nrows && s->rows[i].position <= from)
        i++;
    return i;
}

/* The store's bounds: at most max_rows rows, and rows only while the data
 * before them stays under max_bytes (so at least one), like the real one. */
static long read_after(void *ctx, int64_t after, long max_rows, size_t max_bytes, bool *complete,
                       stored_event_fn fn, void *arg)
{
    struct fake_store *s = ctx;
    s->stats.read_after_calls++;
    if (s->failing & FAKE_READ_AFTER)
        return -1;
    long n = 0;
    size_t bytes = 0, i = first_after(s, after);
    for (; i < s->nrows && n < max_rows && (n == 0 || bytes < max_bytes); i++, n++) {
        bytes += strlen(s->rows[i].data);
        emit(&s->rows[i], fn, arg);
    }
    *complete = i == s->nrows;
    return n;
}

static bool listed(const char *stream, const char *const *streams, size_t nstreams)
{
    for (size_t i = 0; i < nstreams; i++)
        if (strcmp(streams[i], stream) == 0)
            return true;
    return false;
}

static long read_range(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, long max_rows, size_t max_bytes, bool *complete,
                       stored_event_fn fn, void *arg)
{
    struct fake_store *s = ctx;
    s->stats.read_range_calls++;
    s->stats.last_range_after = after;
    s->stats.last_range_upto = upto;
    size_t len = 0;
    s->stats.last_range_streams[0] = '\0';
    for (size_t i = 0; i < nstreams && len < sizeof s->stats.last_range_streams; i++)
        len += (size_t)snprintf(s->stats.last_range_streams + len,
                                sizeof s->stats.last_range_streams - len, "%s%s", i ? "," : "",
                                streams[i]);
    if (s->failing & FAKE_READ_RANGE)
        return -1;
    long n = 0;
    size_t bytes = 0, i = first_after(s, after);
    *complete = false;
    for (; i < s->nrows && s->rows[i].position <= upto; i++) {
        if (!listed(s->rows[i].stream, streams, nstreams))
            continue;
        if (n == max_rows || (n > 0 && bytes >= max_bytes))
            return n;
        bytes += strlen(s->rows[i].data);
        emit(&s->rows[i], fn, arg);
        n++;
    }
    *complete = true;
    return n;
}

static int bounds(void *ctx, int64_t *head, int64_t *pruned_through)
{
    struct fake_store *s = ctx;
    s->stats.bounds_calls++;
    if (s->failing & FAKE_BOUNDS)
        return -1;
    *head = s->head;
    *pruned_through = s->pruned;
    return 0;
}

struct event_store_ops fake_store_ops(struct fake_store *s)
{
    return (struct event_store_ops){read_after, read_range, bounds, s};
}
