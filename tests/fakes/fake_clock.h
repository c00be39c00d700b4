/* fake_clock: a clock_ops whose time the test sets by hand. */
#ifndef SSE_FAKE_CLOCK_H
#define SSE_FAKE_CLOCK_H

#include "clock.h"

struct fake_clock {
    int64_t now_ms;
    struct clock_ops ops; /* pass &fc.ops; ctx points back at the fake */
};

void fake_clock_init(struct fake_clock *fc, int64_t start_ms);

#endif
