/*
 * Injected time: every deadline and idle time in the gateway
 * comes from a clock_ops, so unit tests can drive time by hand.
 */
#ifndef SSE_CLOCK_H
#define SSE_CLOCK_H

#include <stdint.h>
#include <time.h>

struct clock_ops {
    /* Monotonic milliseconds, for deadlines and idle times. */
    int64_t (*now_ms)(void *ctx);
    /* Wall-clock microseconds since the epoch, for latency against commit times. */
    int64_t (*wall_us)(void *ctx);
    void *ctx;
};

/* The production clock: CLOCK_MONOTONIC and CLOCK_REALTIME. */
extern const struct clock_ops system_clock;

/* The CLOCK_MONOTONIC time ms from now, as a pthread_cond_timedwait deadline
 * (for condvars set to CLOCK_MONOTONIC). Real time, not a clock_ops: a
 * condvar deadline must pass by itself. Any thread. */
struct timespec clock_monotonic_deadline(int64_t ms);
struct timespec clock_monotonic_deadline_us(int64_t us); /* the same, us from now */

static inline int64_t clock_now_ms(const struct clock_ops *c)
{
    return c->now_ms(c->ctx);
}

static inline int64_t clock_wall_us(const struct clock_ops *c)
{
    return c->wall_us(c->ctx);
}

#endif
