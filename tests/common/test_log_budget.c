/*
 * Unit tests of the log budget, table-driven: each case is a budget (lines
 * per window, window) and a series of takes at given times, with the answer
 * wanted and, for a line that gets through, how many were refused since the
 * last one. Then the per-second form on the real clock.
 */
#include "check.h"
#include "common/log.h"

#include <stdbool.h>
#include <stdio.h>

#define MAX_TAKES 12

struct take {
    long long now;
    bool ok;
    int refused; /* when ok: log_budget_refused() right after */
};

static void test_windows(void)
{
    static const struct {
        const char *name;
        int per_window;
        long long window;
        struct take takes[MAX_TAKES]; /* up to the first with now < 0 */
    } cases[] = {
        {"one per interval, counting the rest",
         1,
         10000,
         {{0, true, 0},
          {5, false, 0},
          {9999, false, 0},
          {10000, true, 2},
          {10001, false, 0},
          {25000, true, 1},
          {25001, false, 0},
          {-1}}},
        {"the window opens at the first line, not on a boundary",
         1,
         10000,
         {{7, true, 0}, {10006, false, 0}, {10007, true, 1}, {-1}}},
        {"three per window",
         3,
         1,
         {{100, true, 0},
          {100, true, 0},
          {100, true, 0},
          {100, false, 0},
          {100, false, 0},
          {101, true, 2},
          {101, true, 0},
          {-1}}},
        {"a quiet gap longer than many windows",
         2,
         1,
         {{5, true, 0}, {5, true, 0}, {5, false, 0}, {900, true, 1}, {-1}}},
        {"a clock that goes backwards opens a window",
         1,
         10000,
         {{50000, true, 0}, {50001, false, 0}, {100, true, 1}, {101, false, 0}, {-1}}},
        {"no budget at all", 0, 1, {{1, false, 0}, {2, false, 0}, {3, false, 0}, {-1}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct log_budget b = {0};
        bool ok = true;
        for (const struct take *t = cases[i].takes; t->now >= 0; t++) {
            bool got = log_budget_take_at(&b, cases[i].per_window, cases[i].window, t->now);
            ok &= got == t->ok;
            if (got)
                ok &= log_budget_refused(&b) == (unsigned)t->refused;
            if (!ok) {
                fprintf(stderr, "%s: the take at %lld went wrong\n", cases[i].name, t->now);
                break;
            }
        }
        CHECK(ok);
    }
}

static void test_per_second(void)
{
    struct log_budget b = {0};
    int taken = 0;
    for (int i = 0; i < 1000; i++)
        taken += log_budget_take(&b, 5);
    /* Five per second; the loop may straddle one second's end, not two. */
    CHECK(taken >= 5 && taken <= 10);
    CHECK_EQ(log_budget_refused(&b), 1000 - taken);
    CHECK_EQ(log_budget_refused(&b), 0);
}

int main(void)
{
    test_windows();
    test_per_second();
    return CHECK_DONE();
}
