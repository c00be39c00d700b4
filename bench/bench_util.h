/*
 * bench_util: the few helpers the benchmark's drivers share: clocks in µs,
 * a fatal error with the tool's name, and a bounded integer option.
 */
#ifndef SSE_BENCH_UTIL_H
#define SSE_BENCH_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Set by main: the prefix of every fatal message. */
extern const char *bench_tool;

static inline int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wall clock: comparable across processes (publish time → receipt). */
static inline int64_t wall_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

static inline int64_t mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_tool);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* The option's value as an int in [min, 100000000], or a fatal error. */
static inline int int_arg(const char *name, const char *v, int min)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < min || x > 100000000)
        die("%s: bad value '%s'", name, v);
    return (int)x;
}

#endif
