/* fake_store: the durable event table in memory, for dispatcher unit tests. */
#include "fake_store.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

struct row {
    char *stream, *event, *data;
};

struct fake_store {
    struct row *rows; /* rows[i] has position i + 1 */
    int64_t head, pruned;
    bool failing;
    int range_calls;
    int64_t last_range_after;
};

struct fake_store *fake_store_new(void)
{
    return xcalloc(1, sizeof(struct fake_store));
}

void fake_store_free(struct fake_store *s)
{
    for (int64_t i = 0; i < s->head; i++) {
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
    s->rows = xrealloc(s->rows, (size_t)(s->head + 1) * sizeof *s->rows);
    s->rows[s->head] = (struct row){xstrdup(stream), event ? xstrdup(event) : NULL, xstrdup(data)};
    return ++s->head;
}

void fake_store_prune(struct fake_store *s, int64_t through)
{
    s->pruned = through;
}

void fake_store_set_failing(struct fake_store *s, bool failing)
{
    s->failing = failing;
}

int fake_store_range_calls(struct fake_store *s)
{
    return s->range_calls;
}

int64_t fake_store_last_range_after(struct fake_store *s)
{
    return s->last_range_after;
}

static void emit(struct fake_store *s, int64_t pos, stored_event_fn fn, void *arg)
{
    const struct row *r = &s->rows[pos - 1];
    struct stored_event ev = {pos, r->stream, r->event, r->data, strlen(r->data), 0};
    fn(arg, &ev);
}

static long read_after(void *ctx, int64_t after, long limit, stored_event_fn fn, void *arg)
{
    struct fake_store *s = ctx;
    if (s->failing)
        return -1;
    long n = 0;
    for (int64_t p = (after > s->pruned ? after : s->pruned) + 1; p <= s->head && n < limit;
         p++, n++)
        emit(s, p, fn, arg);
    return n;
}

static long read_range(void *ctx, int64_t after, int64_t upto, const char *const *streams,
                       size_t nstreams, stored_event_fn fn, void *arg)
{
    struct fake_store *s = ctx;
    s->range_calls++;
    s->last_range_after = after;
    if (s->failing)
        return -1;
    long n = 0;
    for (int64_t p = (after > s->pruned ? after : s->pruned) + 1; p <= upto && p <= s->head; p++) {
        for (size_t i = 0; i < nstreams; i++) {
            if (strcmp(streams[i], s->rows[p - 1].stream) == 0) {
                emit(s, p, fn, arg);
                n++;
                break;
            }
        }
    }
    return n;
}

static int bounds(void *ctx, int64_t *head, int64_t *pruned_through)
{
    struct fake_store *s = ctx;
    if (s->failing)
        return -1;
    *head = s->head;
    *pruned_through = s->pruned;
    return 0;
}

struct event_store_ops fake_store_ops(struct fake_store *s)
{
    return (struct event_store_ops){read_after, read_range, bounds, s};
}
