/*
 * heartbeat: the thread that pings idle subscribers. Every tick it queues a
 * ": hb" comment on each connection silent for the heartbeat interval; the
 * write is also what finds sockets whose client vanished (a suspended socket
 * never notices by itself). It also closes idle connections (--idle-timeout)
 * and those whose token expired (gateway:expired). Waits on a CLOCK_MONOTONIC condvar.
 */
#ifndef SSE_HEARTBEAT_H
#define SSE_HEARTBEAT_H

#include <stdint.h>

struct heartbeat;
struct registry;
struct write_pool;
struct metrics;
struct clock_ops;

struct heartbeat_deps {
    struct registry *registry;
    struct write_pool *writers; /* NULL: every round written by this thread */
    struct metrics *metrics;
    const struct clock_ops *clock;
    int64_t interval_ms;     /* --heartbeat */
    int64_t idle_timeout_ms; /* --idle-timeout, 0 = never */
};

struct heartbeat *heartbeat_new(const struct heartbeat_deps *deps);
int heartbeat_start(struct heartbeat *h);
/* Sets the stop flag under the lock, broadcasts, joins. Safe twice. */
void heartbeat_stop(struct heartbeat *h);
void heartbeat_free(struct heartbeat *h);

/* The step: one pass over all connections at the clock's now. Returns the
 * number of heartbeats queued. Heartbeat thread or tests. */
int heartbeat_tick(struct heartbeat *h);

#endif
