/*
 * fake_clock: a clock_ops whose time the test sets by hand. Monotonic time
 * is now_ms; wall-clock time is now_ms * 1000 µs. Read from any thread (an
 * atomic), moved by the test.
 */
#ifndef SSE_FAKE_CLOCK_H
#define SSE_FAKE_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/clock.h"

struct fake_clock {
    _Atomic int64_t now_ms;
    struct clock_ops ops; /* pass &fc.ops; ctx points back at the fake */
};

/* Sets the time to start_ms and fills in ops. */
void fake_clock_init(struct fake_clock *fc, int64_t start_ms);
/* Moves the time forward by ms. */
void fake_clock_advance(struct fake_clock *fc, int64_t ms);

#endif
