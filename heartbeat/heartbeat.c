/*
 * heartbeat: owns the thread that keeps idle subscribers alive and finds dead
 * ones. Each tick takes a snapshot of the registry (references, so no
 * connection is freed under us), then, without the registry lock, queues one
 * shared ": hb" frame on every connection silent for the interval and closes
 * connections that had no event for --idle-timeout. A write to a vanished
 * client is what lets the HTTP layer notice it (a parked socket never does).
 *
 * Collaborators: registry (snapshot), clock (all idle times), metrics. The
 * frames go out like the dispatcher's: a small round is written straight to
 * the parked sockets by this thread, a large one is split among the write
 * pool's threads (write_pool_flush). Does not: decide anything about delivery order.
 */
#include "heartbeat/heartbeat.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "protocol/sse_frame.h"
#include "registry/conn_list.h"
#include "registry/connection.h"
#include "registry/registry.h"
#include "registry/write_pool.h"

#include <stdbool.h>
#include <stdlib.h>

struct heartbeat {
    struct heartbeat_deps deps; /* fixed after start */
    struct frame *hb_frame;     /* fixed after start */
    struct frame *expired;      /* fixed after start: gateway:expired */
    int64_t tick_ms;            /* fixed after start */
    struct worker *worker;      /* fixed after start */
    struct conn_list snapshot;  /* owned by heartbeat thread */
    struct conn_list resumes;   /* owned by heartbeat thread */
};

struct heartbeat *heartbeat_new(const struct heartbeat_deps *deps)
{
    struct heartbeat *h = xcalloc(1, sizeof *h);
    h->deps = *deps;
    h->hb_frame = sse_encode_heartbeat();
    h->expired = sse_encode_sentinel(-1, "gateway:expired", "{\"reason\":\"token expired\"}");
    /* Ticking at half the interval bounds a heartbeat's lateness to half an
     * interval; a second is fine-grained enough for idle timeouts. */
    h->tick_ms = deps->interval_ms / 2;
    if (h->tick_ms > 1000)
        h->tick_ms = 1000;
    if (h->tick_ms < 10)
        h->tick_ms = 10;
    h->worker = worker_new("heartbeat", NULL, NULL);
    return h;
}

int heartbeat_tick(struct heartbeat *h)
{
    int64_t now = clock_now_ms(h->deps.clock);
    int64_t wall_s = clock_wall_us(h->deps.clock) / 1000000;
    int sent = 0;
    registry_snapshot(h->deps.registry, &h->snapshot);
    for (size_t i = 0; i < h->snapshot.len; i++) {
        struct connection *c = h->snapshot.items[i];
        int64_t expires = connection_expires_s(c);
        if (expires && wall_s >= expires) {
            if (connection_close(c, h->expired, CONN_END_EXPIRED))
                conn_list_push(&h->resumes, connection_ref(c));
            continue;
        }
        if (h->deps.idle_timeout_ms > 0 &&
            now - connection_last_event_ms(c) >= h->deps.idle_timeout_ms) {
            if (connection_close(c, NULL, CONN_END_IDLE))
                conn_list_push(&h->resumes, connection_ref(c));
            continue;
        }
        if (now - connection_last_push_ms(c) < h->deps.interval_ms)
            continue;
        enum conn_push_result r = connection_push(c, h->hb_frame, now, false);
        if (r == CONN_PUSH_NEEDS_RESUME || r == CONN_PUSH_OVERFLOW)
            conn_list_push(&h->resumes, connection_ref(c));
        if (r == CONN_PUSH_QUEUED || r == CONN_PUSH_NEEDS_RESUME)
            sent++;
    }
    conn_list_clear(&h->snapshot);
    write_pool_flush(h->deps.writers, &h->resumes);
    metrics_add(&h->deps.metrics->heartbeats, (uint64_t)sent);
    return sent;
}

static void *run(void *arg)
{
    struct heartbeat *h = arg;
    while (worker_wait(h->worker, h->tick_ms))
        heartbeat_tick(h);
    return NULL;
}

int heartbeat_start(struct heartbeat *h)
{
    return worker_start(h->worker, run, h);
}

void heartbeat_stop(struct heartbeat *h)
{
    if (h)
        worker_stop(h->worker);
}

void heartbeat_free(struct heartbeat *h)
{
    if (!h)
        return;
    heartbeat_stop(h);
    conn_list_free(&h->snapshot);
    conn_list_free(&h->resumes);
    frame_unref(h->hb_frame);
    frame_unref(h->expired);
    worker_free(h->worker);
    free(h);
}
