/*
 * metrics: the process's counters (README, Metrics). A plain struct of relaxed atomics,
 * public on purpose: a hot-path increment is one uncontended atomic add with no
 * call and no lock. Hot loops count locally and add once per round.
 * Gauges that belong to other modules (streams, queue depth) are passed to the
 * renderer in struct metrics_gauges.
 */
#ifndef SSE_METRICS_H
#define SSE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Upper bounds (seconds) of the delivery latency histogram buckets. */
#define METRICS_LATENCY_BUCKETS 12
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

struct metrics {
    _Atomic int64_t connections; /* gauge: open SSE responses */
    _Atomic uint64_t connections_accepted;
    _Atomic uint64_t connections_rejected; /* 4xx answers to /events */
    _Atomic uint64_t connections_overloaded;
    _Atomic uint64_t connections_draining;
    _Atomic uint64_t events_durable;
    _Atomic uint64_t events_ephemeral;
    _Atomic uint64_t deliveries;
    _Atomic uint64_t delivered_bytes;
    _Atomic uint64_t replayed_memory;
    _Atomic uint64_t replayed_database;
    _Atomic uint64_t replay_queries;
    _Atomic uint64_t slow_consumer_disconnects;
    _Atomic uint64_t heartbeats;
    _Atomic int64_t listener_connected; /* gauge 0/1 */
    _Atomic uint64_t listener_reconnects;
    _Atomic uint64_t notifications_malformed; /* dropped: not the documented shape */
    _Atomic uint64_t notifications_reserved;  /* dropped: a gateway:* type, a forged sentinel */
    _Atomic int64_t listen_channels;          /* gauge: stream channels LISTENed or pending */
    _Atomic uint64_t listen_channels_refused; /* subscribes to a stream over the channel cap */
    _Atomic int64_t leader;                   /* gauge 0/1 */
    _Atomic int64_t sequencer_stalled;        /* gauge 0/1: the lock foreign, or no sequencing */
    _Atomic uint64_t sequenced_events;
    _Atomic uint64_t pruned_events;
    _Atomic uint64_t publish_ok;
    _Atomic uint64_t publish_rejected;
    _Atomic uint64_t publish_failed;
    _Atomic uint64_t gaps;
    _Atomic uint64_t access_log_dropped;    /* access records over their rate */
    _Atomic int64_t outbox_lag_us;          /* gauge, set by the sequencer */
    _Atomic int64_t notify_queue_usage_ppm; /* gauge, set by the sequencer */
    _Atomic uint64_t latency_buckets[METRICS_LATENCY_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t latency_count;
};

/* Gauges owned by other modules, sampled by the caller at render time. The
 * LISTEN channels and a stalled sequencer belong here too, once their
 * modules report them. */
struct metrics_gauges {
    int64_t streams;
    int64_t dispatch_queue_depth;
    int64_t window_bytes;        /* frames held by the event window */
    int64_t replays_in_progress; /* connects whose backlog is still being replayed */
};

/* Zeroes every counter. Call before any thread uses it. */
void metrics_init(struct metrics *m);

/* Records one publish-to-socket latency. Any thread. */
void metrics_observe_latency(struct metrics *m, int64_t latency_us);

static inline void metrics_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* Renders the Prometheus text exposition, with sse_gateway_build_info and
 * the process_* series; the caller frees the result. Any thread. */
char *metrics_render(struct metrics *m, const struct metrics_gauges *g);

#endif
