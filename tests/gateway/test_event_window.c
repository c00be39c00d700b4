/*
 * Unit tests of the event window, table-driven: the floor after pushes and
 * evictions (wrap-around included), coverage at the floor's edge, lookups
 * after each cursor, owned stream copies, frame references and reset.
 */
#include "check.h"
#include "event_window.h"
#include "frame.h"

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

int main(void)
{
    test_windows();
    test_sparse_positions();
    test_reset();
    return CHECK_DONE();
}
