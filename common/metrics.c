/*
 * metrics: Prometheus text rendering of the counters in struct metrics.
 * Rendering reads each atomic once; figures may be a moment apart from each
 * other, which Prometheus tolerates.
 */
#include "common/metrics.h"
#include "common/build_info.h"
#include "common/proc_stats.h"
#include "common/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof *m);
}

void metrics_observe_latency(struct metrics *m, int64_t latency_us)
{
    if (latency_us < 0)
        latency_us = 0;
    double s = (double)latency_us / 1e6;
    int i = 0;
    while (i < METRICS_LATENCY_BUCKETS && s > metrics_latency_bounds[i])
        i++;
    metrics_add(&m->latency_buckets[i], 1);
    metrics_add(&m->latency_sum_us, (uint64_t)latency_us);
    metrics_add(&m->latency_count, 1);
}

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
        b->p = xrealloc(b->p, b->cap);
    }
}

#define LOAD(x)  ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))
#define LOADS(x) ((long long)atomic_load_explicit(&(x), memory_order_relaxed))

static void counter(struct buf *b, const char *name, const char *help, unsigned long long v)
{
    put(b, "# HELP sse_gateway_%s %s\n# TYPE sse_gateway_%s counter\nsse_gateway_%s %llu\n", name,
        help, name, name, v);
}

static void gauge(struct buf *b, const char *name, const char *help, long long v)
{
    put(b, "# HELP sse_gateway_%s %s\n# TYPE sse_gateway_%s gauge\nsse_gateway_%s %lld\n", name,
        help, name, name, v);
}

/* A label value with backslash, quote and newline escaped, as the exposition format asks. */
static void label_value(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(b, "\\%c", *v);
        else if (*v == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *v);
    }
}

static void build_info(struct buf *b)
{
    put(b, "# HELP sse_gateway_build_info The version and git revision of this build (always 1).\n"
           "# TYPE sse_gateway_build_info gauge\nsse_gateway_build_info{version=\"");
    label_value(b, build_info_version);
    put(b, "\",revision=\"");
    label_value(b, build_info_revision);
    put(b, "\"} 1\n");
}

/* The standard process_* series (no prefix: every exporter names them so). A
 * figure /proc did not give is left out rather than faked. */
static void process(struct buf *b)
{
    struct proc_stats ps;
    proc_stats_read(&ps);
    static const char *const names[] = {"cpu_seconds_total", "resident_memory_bytes", "open_fds",
                                        "max_fds", "start_time_seconds"};
    static const char *const helps[] = {
        "Total user and system CPU time spent in seconds.", "Resident memory size in bytes.",
        "Number of open file descriptors.", "Maximum number of open file descriptors.",
        "Start time of the process since unix epoch in seconds."};
    const double values[] = {ps.cpu_seconds, ps.resident_bytes, ps.open_fds, ps.max_fds,
                             ps.start_time};
    for (int i = 0; i < 5; i++)
        if (values[i] >= 0)
            put(b, "# HELP process_%s %s\n# TYPE process_%s %s\nprocess_%s %.17g\n", names[i],
                helps[i], names[i], i == 0 ? "counter" : "gauge", names[i], values[i]);
}

char *metrics_render(struct metrics *m, const struct metrics_gauges *g)
{
    struct buf b = {xmalloc(4096), 0, 4096};
    gauge(&b, "connections", "Open SSE connections.", LOADS(m->connections));
    put(&b,
        "# HELP sse_gateway_connections_total SSE subscription attempts by result.\n"
        "# TYPE sse_gateway_connections_total counter\n"
        "sse_gateway_connections_total{result=\"accepted\"} %llu\n"
        "sse_gateway_connections_total{result=\"rejected\"} %llu\n"
        "sse_gateway_connections_total{result=\"overloaded\"} %llu\n"
        "sse_gateway_connections_total{result=\"draining\"} %llu\n",
        LOAD(m->connections_accepted), LOAD(m->connections_rejected),
        LOAD(m->connections_overloaded), LOAD(m->connections_draining));
    gauge(&b, "streams", "Streams with at least one subscriber.", g->streams);
    put(&b,
        "# HELP sse_gateway_events_received_total Events received from PostgreSQL by kind.\n"
        "# TYPE sse_gateway_events_received_total counter\n"
        "sse_gateway_events_received_total{kind=\"durable\"} %llu\n"
        "sse_gateway_events_received_total{kind=\"ephemeral\"} %llu\n",
        LOAD(m->events_durable), LOAD(m->events_ephemeral));
    counter(&b, "deliveries_total", "Frames queued to subscribers.", LOAD(m->deliveries));
    counter(&b, "delivered_bytes_total", "Bytes written to subscriber sockets.",
            LOAD(m->delivered_bytes));
    put(&b,
        "# HELP sse_gateway_replayed_events_total Events replayed on connect by source.\n"
        "# TYPE sse_gateway_replayed_events_total counter\n"
        "sse_gateway_replayed_events_total{source=\"memory\"} %llu\n"
        "sse_gateway_replayed_events_total{source=\"database\"} %llu\n",
        LOAD(m->replayed_memory), LOAD(m->replayed_database));
    counter(&b, "replay_queries_total", "Database queries made to serve replays.",
            LOAD(m->replay_queries));
    counter(&b, "slow_consumer_disconnects_total", "Connections closed for falling behind.",
            LOAD(m->slow_consumer_disconnects));
    counter(&b, "heartbeats_total", "Heartbeat comments queued.", LOAD(m->heartbeats));
    gauge(&b, "listener_connected", "1 while the LISTEN connection is up.",
          LOADS(m->listener_connected));
    counter(&b, "listener_reconnects_total", "LISTEN connection re-establishments.",
            LOAD(m->listener_reconnects));
    put(&b,
        "# HELP sse_gateway_notifications_dropped_total Notifications dropped by reason.\n"
        "# TYPE sse_gateway_notifications_dropped_total counter\n"
        "sse_gateway_notifications_dropped_total{reason=\"malformed\"} %llu\n"
        "sse_gateway_notifications_dropped_total{reason=\"reserved_type\"} %llu\n",
        LOAD(m->notifications_malformed), LOAD(m->notifications_reserved));
    gauge(&b, "listen_channels", "Stream channels LISTENed for raw NOTIFY.",
          LOADS(m->listen_channels));
    counter(&b, "listen_channels_refused_total",
            "Streams subscribed to without a LISTEN: --max-listen-channels was reached.",
            LOAD(m->listen_channels_refused));
    gauge(&b, "dispatch_queue_depth", "Messages waiting for the dispatcher.",
          g->dispatch_queue_depth);
    gauge(&b, "window_bytes", "Bytes of encoded events held in memory for replays.",
          g->window_bytes);
    gauge(&b, "replays_in_progress", "Connects whose backlog is still being replayed.",
          g->replays_in_progress);
    gauge(&b, "leader", "1 while this instance sequences the outbox.", LOADS(m->leader));
    gauge(&b, "sequencer_stalled",
          "1 while the leader lock is held by a session that is not a gateway, or nothing was "
          "sequenced for 10 s with events waiting.",
          LOADS(m->sequencer_stalled));
    counter(&b, "sequenced_events_total", "Outbox rows given a position by this instance.",
            LOAD(m->sequenced_events));
    counter(&b, "pruned_events_total", "Events deleted by retention by this instance.",
            LOAD(m->pruned_events));
    put(&b,
        "# HELP sse_gateway_publish_requests_total HTTP publish requests by result.\n"
        "# TYPE sse_gateway_publish_requests_total counter\n"
        "sse_gateway_publish_requests_total{result=\"ok\"} %llu\n"
        "sse_gateway_publish_requests_total{result=\"rejected\"} %llu\n"
        "sse_gateway_publish_requests_total{result=\"failed\"} %llu\n",
        LOAD(m->publish_ok), LOAD(m->publish_rejected), LOAD(m->publish_failed));
    counter(&b, "gaps_total", "gateway:gap sentinels sent.", LOAD(m->gaps));
    counter(&b, "access_log_dropped_total", "Access records not written: over their rate.",
            LOAD(m->access_log_dropped));
    put(&b,
        "# HELP sse_gateway_outbox_lag_seconds Age of the oldest event without a position.\n"
        "# TYPE sse_gateway_outbox_lag_seconds gauge\nsse_gateway_outbox_lag_seconds %.6f\n",
        (double)LOADS(m->outbox_lag_us) / 1e6);
    put(&b,
        "# HELP sse_gateway_pg_notify_queue_usage pg_notification_queue_usage().\n"
        "# TYPE sse_gateway_pg_notify_queue_usage gauge\nsse_gateway_pg_notify_queue_usage "
        "%.6f\n",
        (double)LOADS(m->notify_queue_usage_ppm) / 1e6);
    put(&b, "# HELP sse_gateway_delivery_latency_seconds Publish (the event's insert or NOTIFY) to "
            "socket write.\n"
            "# TYPE sse_gateway_delivery_latency_seconds histogram\n");
    unsigned long long cumulative = 0;
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cumulative += LOAD(m->latency_buckets[i]);
        put(&b, "sse_gateway_delivery_latency_seconds_bucket{le=\"%g\"} %llu\n",
            metrics_latency_bounds[i], cumulative);
    }
    cumulative += LOAD(m->latency_buckets[METRICS_LATENCY_BUCKETS]);
    put(&b,
        "sse_gateway_delivery_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
        "sse_gateway_delivery_latency_seconds_sum %.6f\n"
        "sse_gateway_delivery_latency_seconds_count %llu\n",
        cumulative, (double)LOAD(m->latency_sum_us) / 1e6, LOAD(m->latency_count));
    build_info(&b);
    process(&b);
    return b.p;
}
