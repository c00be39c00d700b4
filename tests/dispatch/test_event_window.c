/*
 * Unit tests of the event window, table-driven: the floor after pushes and
 * evictions (wrap-around included), coverage at the floor's edge, lookups
 * after each cursor, owned stream copies, frame references and reset; the
 * per-stream lookup against a filtered full scan.
 */
#include "check.h"
#include "common/frame.h"
#include "dispatch/event_window.h"

#include <stdio.h>
#include <string.h>

struct seen {
    int64_t positions[64];
    char streams[64][16];
    const char *data[64];
    size_t n;
};

static void collect(void *arg, int64_t position, const char *stream, struct frame *f)
{
    struct seen *s = arg;
    if (s->n < 64) {
        s->positions[s->n] = position;
        snprintf(s->streams[s->n], sizeof s->streams[0], "%s", stream);
        s->data[s->n] = frame_data(f);
    }
    s->n++;
}

/* Pushes positions first..last, each with a frame holding its position as text. */
static void push_range(struct event_window *w, int64_t first, int64_t last)
{
    for (int64_t p = first; p <= last; p++) {
        char text[32], stream[16];
        int n = snprintf(text, sizeof text, "%lld", (long long)p);
        snprintf(stream, sizeof stream, "s%lld", (long long)(p % 3));
        struct frame *f = frame_new(text, (size_t)n + 1, 0); /* with its NUL, to read back */
        event_window_push(w, p, stream, f);
        frame_unref(f);                         /* the window keeps its own reference */
        memset(stream, 'X', sizeof stream - 1); /* and its own copy of the name */
    }
}

static void test_windows(void)
{
    static const struct {
        const char *name;
        size_t capacity;
        int64_t floor, first, last; /* pushes first..last (none when last < first) */
        int64_t want_floor;
        size_t want_len;
    } cases[] = {
        {"empty", 4, 10, 11, 10, 10, 0},
        {"partly full", 4, 10, 11, 12, 10, 2},
        {"exactly full", 4, 10, 11, 14, 10, 4},
        {"one eviction", 4, 10, 11, 15, 11, 4},
        {"wrapped many times", 4, 10, 11, 33, 29, 4},
        {"capacity 1", 1, 0, 1, 3, 2, 1},
        {"capacity 0 acts as 1", 0, 0, 1, 5, 4, 1},
        {"starts at a high head", 8, 1000000, 1000001, 1000003, 1000000, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "window case: %s\n", cases[i].name);
        struct event_window *w = event_window_new(cases[i].capacity, cases[i].floor);
        push_range(w, cases[i].first, cases[i].last);
        CHECK_EQ(event_window_floor(w), cases[i].want_floor);
        CHECK_EQ(event_window_len(w), cases[i].want_len);
        CHECK(event_window_covers(w, cases[i].want_floor));
        CHECK(!event_window_covers(w, cases[i].want_floor - 1));
        int64_t top = cases[i].last > cases[i].floor ? cases[i].last : cases[i].floor;
        /* Every covered cursor gets exactly the positions after it, in order. */
        for (int64_t c = cases[i].want_floor; c <= top + 1; c++) {
            struct seen s = {0};
            size_t n = event_window_each_after(w, c, collect, &s);
            size_t want = c < top ? (size_t)(top - c) : 0;
            CHECK_EQ(n, want);
            CHECK_EQ(s.n, want);
            for (size_t k = 0; k < s.n && k < 64; k++) {
                int64_t p = c + 1 + (int64_t)k;
                char text[32], stream[16];
                snprintf(text, sizeof text, "%lld", (long long)p);
                snprintf(stream, sizeof stream, "s%lld", (long long)(p % 3));
                CHECK_EQ(s.positions[k], p);
                CHECK_STR(s.data[k], text);
                CHECK_STR(s.streams[k], stream);
            }
        }
        event_window_free(w);
    }
}

static void test_sparse_positions(void)
{
    /* Positions need only increase: lookups land between entries too. */
    struct event_window *w = event_window_new(8, 0);
    static const int64_t pushed[] = {3, 7, 8, 20};
    for (size_t i = 0; i < 4; i++) {
        struct frame *f = frame_new("x", 1, 0);
        event_window_push(w, pushed[i], "s", f);
        frame_unref(f);
    }
    static const struct {
        int64_t cursor;
        size_t n;
        int64_t first;
    } lookups[] = {{0, 4, 3},  {2, 4, 3},   {3, 3, 7},  {5, 3, 7}, {7, 2, 8},
                   {8, 1, 20}, {19, 1, 20}, {20, 0, 0}, {99, 0, 0}};
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        struct seen s = {0};
        CHECK_EQ(event_window_each_after(w, lookups[i].cursor, collect, &s), lookups[i].n);
        if (s.n)
            CHECK_EQ(s.positions[0], lookups[i].first);
    }
    event_window_free(w);
}

static void test_reset(void)
{
    struct event_window *w = event_window_new(3, 0);
    push_range(w, 1, 5);
    event_window_reset(w, 100);
    CHECK_EQ(event_window_len(w), 0);
    CHECK_EQ(event_window_floor(w), 100);
    CHECK(event_window_covers(w, 100));
    CHECK(!event_window_covers(w, 99));
    push_range(w, 101, 102);
    struct seen s = {0};
    CHECK_EQ(event_window_each_after(w, 100, collect, &s), 2);
    CHECK_EQ(s.positions[0], 101);
    event_window_free(w);
    event_window_free(NULL);
}

/* What each_after gives, filtered to the streams: the indexed lookup's truth. */
struct filtered {
    const char *const *streams;
    size_t nstreams;
    struct seen seen;
};

static void collect_filtered(void *arg, int64_t position, const char *stream, struct frame *f)
{
    struct filtered *fl = arg;
    for (size_t i = 0; i < fl->nstreams; i++)
        if (strcmp(fl->streams[i], stream) == 0) {
            collect(&fl->seen, position, stream, f);
            return;
        }
}

static void test_stream_lookup(void)
{
    static const char *const s0[] = {"s0"}, *const s12[] = {"s2", "s1"},
                             *const all[] = {"s1", "s0", "s2"}, *const none[] = {"nope"},
                             *const twice[] = {"s1", "s1"}; /* counts once */
    static const struct {
        const char *const *streams;
        size_t n;
    } sets[] = {{s0, 1}, {s12, 2}, {all, 3}, {none, 1}, {twice, 2}, {NULL, 0}};
    /* Capacities that wrap, evict whole streams and keep everything. */
    static const size_t capacities[] = {1, 2, 5, 7, 64};
    for (size_t c = 0; c < sizeof capacities / sizeof capacities[0]; c++) {
        struct event_window *w = event_window_new(capacities[c], 0);
        for (int64_t last = 1; last <= 40; last++) {
            push_range(w, last, last);
            for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
                for (int64_t cursor = event_window_floor(w); cursor <= last; cursor++) {
                    struct filtered want = {.streams = sets[k].streams, .nstreams = sets[k].n};
                    event_window_each_after(w, cursor, collect_filtered, &want);
                    struct seen got = {0};
                    size_t n = event_window_each_after_in(w, cursor, sets[k].streams, sets[k].n,
                                                          collect, &got);
                    CHECK_EQ(n, want.seen.n);
                    CHECK_EQ(got.n, want.seen.n);
                    for (size_t i = 0; i < got.n && i < 64; i++) {
                        CHECK_EQ(got.positions[i], want.seen.positions[i]);
                        CHECK_STR(got.streams[i], want.seen.streams[i]);
                        CHECK_STR(got.data[i], want.seen.data[i]);
                    }
                }
            }
        }
        /* After a reset the index starts afresh. */
        event_window_reset(w, 1000);
        push_range(w, 1001, 1003);
        int64_t floor = event_window_floor(w);
        struct seen got = {0};
        CHECK_EQ(event_window_each_after_in(w, floor, all, 3, collect, &got),
                 (size_t)(1003 - floor));
        CHECK_EQ(got.positions[0], floor + 1);
        event_window_free(w);
    }
}

int main(void)
{
    test_windows();
    test_sparse_positions();
    test_reset();
    test_stream_lookup();
    return CHECK_DONE();
}
