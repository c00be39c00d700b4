/* Unit tests of the event window: coverage, eviction moving the floor, lookup. */
#include "check.h"
#include "event_window.h"
#include "frame.h"

#include <stdio.h>

struct seen {
    int64_t positions[16];
    int n;
};

static void collect(void *arg, int64_t position, const char *stream, struct frame *f)
{
    (void)stream;
    (void)f;
    struct seen *s = arg;
    s->positions[s->n++] = position;
}

int main(void)
{
    struct event_window *w = event_window_new(3, 10);
    CHECK(event_window_covers(w, 10));
    CHECK(!event_window_covers(w, 9));
    for (int64_t p = 11; p <= 15; p++) {
        struct frame *f = frame_new("x", 1, 0);
        event_window_push(w, p, "s", f);
        frame_unref(f);
    }
    /* 11 and 12 were evicted: complete after 12 only. */
    CHECK_EQ(event_window_len(w), 3);
    CHECK(event_window_covers(w, 12));
    CHECK(!event_window_covers(w, 11));
    static const struct {
        int64_t cursor;
        int n;
        int64_t first;
    } cases[] = {{12, 3, 13}, {13, 2, 14}, {14, 1, 15}, {15, 0, 0}, {99, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct seen s = {{0}, 0};
        CHECK_EQ(event_window_each_after(w, cases[i].cursor, collect, &s), cases[i].n);
        CHECK_EQ(s.n, cases[i].n);
        if (s.n)
            CHECK_EQ(s.positions[0], cases[i].first);
    }
    event_window_reset(w, 100);
    CHECK_EQ(event_window_len(w), 0);
    CHECK(event_window_covers(w, 100));
    event_window_free(w);
    return CHECK_DONE();
}
