/*
 * Unit tests of the event window, table-driven: the floor after pushes and
 * evictions by count and by bytes (wrap-around included), coverage at the
 * floor's edge, collection after each cursor, frame references, reset and
 * trimming at the retention bound; collection by stream against a filtered
 * reference, whole and in budgeted slices, by both of its walks.
 */
#include "check.h"
#include "common/frame.h"
#include "dispatch/event_window.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stream of position p in push_range: "s0", "s1" or "s2". */
static const char *stream_of(int64_t p)
{
    static const char *const names[] = {"s0", "s1", "s2"};
    return names[p % 3];
}

/* Pushes positions first..last, each with a frame holding its position as
 * text (with its NUL, to read back). */
static void push_range(struct event_window *w, int64_t first, int64_t last)
{
    for (int64_t p = first; p <= last; p++) {
        char text[32], stream[16];
        int n = snprintf(text, sizeof text, "%lld", (long long)p);
        snprintf(stream, sizeof stream, "%s", stream_of(p));
        struct frame *f = frame_new(text, (size_t)n + 1, 0);
        event_window_push(w, p, stream, f);
        frame_unref(f);                         /* the window keeps its own reference */
        memset(stream, 'X', sizeof stream - 1); /* and its own copy of the name */
    }
}

static const char *const all3[] = {"s0", "s1", "s2"};

/* Collects every entry after cursor (no budget); checks positions and data. */
static void check_all_after(struct event_window *w, int64_t cursor, int64_t top)
{
    struct window_slice s = {0};
    int64_t scanned = -1;
    int n = event_window_collect(w, cursor, all3, 3, SIZE_MAX, &s, &scanned);
    int want = cursor < top ? (int)(top - cursor) : 0;
    CHECK_EQ(n, want);
    CHECK_EQ(s.len, (size_t)want);
    for (size_t k = 0; k < s.len; k++) {
        int64_t p = cursor + 1 + (int64_t)k;
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)p);
        CHECK_EQ(s.items[k].position, p);
        CHECK_STR(frame_data(s.items[k].frame), text);
    }
    CHECK_EQ(scanned, top > cursor ? top : cursor);
    window_slice_free(&s);
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
        struct event_window *w = event_window_new(cases[i].capacity, SIZE_MAX, cases[i].floor);
        push_range(w, cases[i].first, cases[i].last);
        CHECK_EQ(event_window_floor(w), cases[i].want_floor);
        CHECK_EQ(event_window_len(w), cases[i].want_len);
        CHECK(event_window_covers(w, cases[i].want_floor));
        CHECK(!event_window_covers(w, cases[i].want_floor - 1));
        struct window_slice s = {0};
        int64_t scanned;
        CHECK_EQ(event_window_collect(w, cases[i].want_floor - 1, all3, 3, SIZE_MAX, &s, &scanned),
                 -1);
        int64_t top = cases[i].last > cases[i].floor ? cases[i].last : cases[i].floor;
        for (int64_t c = cases[i].want_floor; c <= top + 1; c++)
            check_all_after(w, c, top);
        event_window_free(w);
    }
}

static void test_bytes_cap(void)
{
    /* Frames of 3 bytes ("11\0" … "99\0"), a cap of 10 bytes: three fit. */
    struct event_window *w = event_window_new(100, 10, 10);
    push_range(w, 11, 15);
    CHECK_EQ(event_window_len(w), 3);
    CHECK_EQ(event_window_bytes(w), 9);
    CHECK_EQ(event_window_floor(w), 12);
    check_all_after(w, 12, 15);
    /* A frame larger than the whole cap is not kept: the floor moves past it. */
    char big[32] = "a frame of twenty bytes";
    struct frame *f = frame_new(big, 20, 0);
    event_window_push(w, 16, "s1", f);
    frame_unref(f);
    CHECK_EQ(event_window_len(w), 0);
    CHECK_EQ(event_window_bytes(w), 0);
    CHECK_EQ(event_window_floor(w), 16);
    push_range(w, 17, 17);
    check_all_after(w, 16, 17);
    event_window_free(w);
}

static void test_trim(void)
{
    struct event_window *w = event_window_new(100, SIZE_MAX, 0);
    push_range(w, 1, 10);
    event_window_trim(w, 4); /* the leader pruned through 4 */
    CHECK_EQ(event_window_floor(w), 4);
    CHECK_EQ(event_window_len(w), 6);
    CHECK(!event_window_covers(w, 3)); /* a replay from 3 must go to the database */
    check_all_after(w, 4, 10);
    event_window_trim(w, 2); /* an older bound changes nothing */
    CHECK_EQ(event_window_floor(w), 4);
    event_window_trim(w, 50); /* past everything held */
    CHECK_EQ(event_window_len(w), 0);
    CHECK_EQ(event_window_floor(w), 50);
    CHECK_EQ(event_window_bytes(w), 0);
    event_window_free(w);
}

static void test_reset(void)
{
    struct event_window *w = event_window_new(3, SIZE_MAX, 0);
    push_range(w, 1, 5);
    event_window_reset(w, 100);
    CHECK_EQ(event_window_len(w), 0);
    CHECK_EQ(event_window_floor(w), 100);
    CHECK(event_window_covers(w, 100));
    CHECK(!event_window_covers(w, 99));
    push_range(w, 101, 102);
    check_all_after(w, 100, 102);
    event_window_free(w);
    event_window_free(NULL);
}

static bool in_set(int64_t p, const char *const *streams, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(streams[i], stream_of(p)) == 0)
            return true;
    return false;
}

/* Collects the set's entries after cursor in slices of budget bytes,
 * resuming each slice from the last one's scanned_through, and checks the
 * union against the truth: every held position of the set after cursor,
 * once, in order. */
static void check_sliced(struct event_window *w, int64_t cursor, int64_t last,
                         const char *const *streams, size_t n, size_t budget)
{
    int64_t want[1024], got[1024];
    size_t nwant = 0, ngot = 0;
    for (int64_t p = cursor + 1; p <= last; p++)
        if (in_set(p, streams, n) && nwant < 1024)
            want[nwant++] = p;
    int64_t at = cursor;
    for (int round = 0; round < 100; round++) {
        struct window_slice s = {0};
        int64_t scanned;
        int k = event_window_collect(w, at, streams, n, budget, &s, &scanned);
        CHECK(k >= 0);
        CHECK(scanned >= at);
        for (size_t i = 0; i < s.len; i++) {
            CHECK(s.items[i].position > at && s.items[i].position <= scanned);
            if (ngot < 1024)
                got[ngot++] = s.items[i].position;
        }
        /* A slice ends at the budget, but holds at least one entry when any is due. */
        CHECK(s.len <= 1 || s.bytes - frame_len(s.items[s.len - 1].frame) < budget);
        window_slice_free(&s);
        bool done = scanned >= last;
        at = scanned;
        if (done)
            break;
    }
    CHECK_EQ(at >= last || nwant == 0, true);
    CHECK_EQ(ngot, nwant);
    for (size_t i = 0; i < ngot && i < nwant; i++)
        CHECK_EQ(got[i], want[i]);
}

static void test_stream_collection(void)
{
    static const char *const s0[] = {"s0"}, *const s12[] = {"s2", "s1"}, *const none[] = {"nope"},
                             *const twice[] = {"s1", "s1"}; /* counts once */
    static const struct {
        const char *const *streams;
        size_t n;
    } sets[] = {{s0, 1}, {s12, 2}, {all3, 3}, {none, 1}, {twice, 2}, {NULL, 0}};
    /* Capacities that wrap, evict whole streams and keep everything; budgets
     * of one entry (3 bytes), a few, and no limit. */
    static const size_t capacities[] = {1, 2, 5, 7, 64};
    static const size_t budgets[] = {1, 3, 7, SIZE_MAX};
    for (size_t c = 0; c < sizeof capacities / sizeof capacities[0]; c++) {
        struct event_window *w = event_window_new(capacities[c], SIZE_MAX, 0);
        for (int64_t last = 1; last <= 40; last++) {
            push_range(w, last, last);
            for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++)
                for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++)
                    for (int64_t cursor = event_window_floor(w); cursor <= last; cursor++)
                        check_sliced(w, cursor, last, sets[k].streams, sets[k].n, budgets[b]);
        }
        event_window_free(w);
    }
    /* A sparse stream in a long window takes the links; a dense one the scan:
     * both give the same answers (check_sliced above covers each shape). */
    struct event_window *w = event_window_new(1000, SIZE_MAX, 0);
    push_range(w, 1, 900);
    check_sliced(w, 10, 900, s0, 1, 30);
    check_sliced(w, 850, 900, all3, 3, 12);
    event_window_free(w);
}

int main(void)
{
    test_windows();
    test_bytes_cap();
    test_trim();
    test_reset();
    test_stream_collection();
    return CHECK_DONE();
}
