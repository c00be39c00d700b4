/*
 * log: formats one line and writes it with a single write(2), so lines from
 * different threads never interleave. The level and instance id are set at
 * start-up before any thread exists and only read afterwards.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;
static char instance[96] = "-";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

void log_set_instance(const char *instance_id)
{
    snprintf(instance, sizeof instance, "%s", instance_id);
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&current_level, memory_order_relaxed))
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], module, instance);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
    (void)ignored;
}

bool log_budget_take_at(struct log_budget *b, int per_window, long long window, long long now)
{
    long long end = atomic_load(&b->end);
    /* Of the threads that find the window closed, one opens the next. Lines
     * that other threads take while it turns may be refused or go uncounted:
     * a budget, not an exact quota. */
    if ((now >= end || now < end - window) &&
        atomic_compare_exchange_strong(&b->end, &end, now + window))
        atomic_store(&b->used, 0);
    if (atomic_fetch_add(&b->used, 1) < per_window)
        return true;
    atomic_fetch_add(&b->refused, 1);
    return false;
}

bool log_budget_take(struct log_budget *b, int per_second)
{
    /* Monotonic: a wall clock set back would hold the window shut. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return log_budget_take_at(b, per_second, 1, (long long)ts.tv_sec);
}

unsigned log_budget_refused(struct log_budget *b)
{
    return atomic_exchange(&b->refused, 0);
}
