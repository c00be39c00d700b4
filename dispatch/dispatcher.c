/*
 * dispatcher: the one thread that decides what each subscriber receives and
 * in which order (docs/DESIGN.md, The delivery guarantee). It drains the
 * dispatch queue; on a (coalesced) wake it reads every new durable event
 * once for all streams, encodes each into one shared frame that goes into
 * the event window and to every subscriber of its stream; and it admits
 * connects. A connect with a cursor behind the position is put into replay
 * mode and handed to the replayer (which serves the backlog off this
 * thread, paced by the subscriber's socket) before it is registered, both
 * on this thread, between two fan-outs: so no event can fall between replay
 * and live, and none comes twice (registry/connection.h, the replay
 * handshake).
 *
 * Everything below is owned by the dispatcher thread, so it takes no lock of
 * its own; the position is mirrored in an atomic for other threads to read.
 * A fresh instance starts live at the database head (it must not replay the
 * whole table to nobody). Connects that cannot be served yet (position not
 * known because the store is down, or a cursor ahead of us) are held and
 * retried after each catch-up. When asked, a catch-up also re-reads the
 * retention bound and trims the window there.
 *
 * Collaborators: dispatch queue, registry, event window, replayer, event
 * store, metrics, clock. Writes: after each batch it resumes the connections
 * it queued on, through the write pool (small rounds here, large ones on
 * the pool's threads in parallel). Does not: give events their
 * positions (the leader does, in the database), or replay.
 */
#include "dispatch/dispatcher.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "dispatch/dispatch_queue.h"
#include "dispatch/event_store.h"
#include "dispatch/event_window.h"
#include "dispatch/replayer.h"
#include "protocol/sse_frame.h"
#include "registry/conn_list.h"
#include "registry/connection.h"
#include "registry/registry.h"
#include "registry/write_pool.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define READ_BATCH  1000
#define READ_BYTES  (16 * 1024 * 1024) /* of data per read, past its first event */
#define WRITE_EVERY 10000              /* deliveries queued between two write rounds at most */
/* A held connect gets no heartbeat (it is not registered), so a client that
 * went away would never be noticed and a bogus cursor far ahead of the
 * database would pin a socket forever. Past this, close it: the client
 * reconnects with the same cursor, which is lossless. */
#define HOLD_MAX_MS 30000

/* A connect waiting for the position to be known or to reach its cursor. */
struct held {
    struct connection *conn; /* one reference */
    bool has_cursor;
    int64_t cursor;
    int64_t since_ms;
};

struct dispatcher {
    struct dispatcher_deps deps; /* fixed after start */
    struct worker *worker;       /* fixed after start */
    int64_t position;            /* owned by dispatcher thread: highest fanned out */
    bool known;                  /* owned by dispatcher thread: position initialised */
    bool wake_pending;           /* owned by dispatcher thread */
    int64_t hinted;              /* owned by dispatcher thread: highest head the WAKEs since the
                                    last catch-up claimed; a read only if beyond the position */
    bool bounds_pending;         /* owned by dispatcher thread: re-read pruned_through */
    bool catch_up_failing;       /* owned by dispatcher thread: log a failure streak once */
    int64_t pruned;              /* owned by dispatcher thread: the window is trimmed here */
    struct held *held;           /* owned by dispatcher thread */
    size_t nheld, held_cap;      /* owned by dispatcher thread */
    struct conn_list resumes;    /* owned by dispatcher thread: scratch for one fan-out */
    /* owned by dispatcher thread, at --log-level debug only: when the first
     * WAKE since the last catch-up was posted and handled (wall µs) */
    int64_t wake_posted_us, wake_handled_us;
    _Atomic int64_t position_mirror; /* shared: written by the dispatcher thread only */
};

/* The worker's wake hook: the thread blocks on the queue, not the worker's
 * condvar, so it stops at a STOP message, after everything queued before it. */
static void push_stop(void *ctx)
{
    struct dispatcher *d = ctx;
    dispatch_queue_push(d->deps.queue, dispatch_msg_stop());
}

struct dispatcher *dispatcher_new(const struct dispatcher_deps *deps)
{
    assert(deps->queue && deps->registry && deps->window && deps->replayer && deps->store &&
           deps->metrics && deps->clock);
    struct dispatcher *d = xcalloc(1, sizeof *d);
    d->deps = *deps;
    atomic_init(&d->position_mirror, 0);
    d->worker = worker_new("dispatcher", push_stop, d);
    return d;
}

static int64_t now_ms(struct dispatcher *d)
{
    return clock_now_ms(d->deps.clock);
}

static void set_position(struct dispatcher *d, int64_t position)
{
    d->position = position;
    atomic_store_explicit(&d->position_mirror, position, memory_order_relaxed);
}

/* Starts live at the current head; the window is complete from there on. */
static int init_position(struct dispatcher *d)
{
    if (d->known)
        return 0;
    int64_t head, pruned;
    if (d->deps.store->bounds(d->deps.store->ctx, &head, &pruned) != 0)
        return -1;
    set_position(d, head);
    event_window_reset(d->deps.window, head);
    d->pruned = pruned;
    d->known = true;
    log_info("dispatcher", "starting live at position %" PRId64, head);
    return 0;
}

/* ---- live fan-out ---- */

struct batch {
    struct dispatcher *d;
    int64_t now_ms;
    uint64_t events, deliveries, unwritten;
    size_t overflows;
    bool timed;      /* --log-level debug: time the batch */
    int64_t first;   /* position of its first event */
    int64_t rows_us; /* wall µs the store handed over its first row */
};

static void fan_out(void *arg, const struct stored_event *ev)
{
    struct batch *b = arg;
    struct dispatcher *d = b->d;
    /* Out of order or repeated would break the position guarantee for all. */
    assert(ev->position > d->position);
    if (b->timed && !b->events) {
        b->rows_us = clock_wall_us(d->deps.clock);
        b->first = ev->position;
    }
    struct frame *f = sse_encode_event(ev->position, ev->stream, ev->event, ev->data, ev->data_len,
                                       ev->published_us);
    event_window_push(d->deps.window, ev->position, ev->stream, f);
    size_t n = registry_fanout(d->deps.registry, ev->stream, f, b->now_ms, ev->position,
                               &d->resumes, &b->overflows);
    frame_unref(f);
    set_position(d, ev->position);
    b->events++;
    b->deliveries += n;
    b->unwritten += n;
    /* Write (connection_resume: straight to parked sockets) once per batch,
     * so a subscriber gets the batch's events in one syscall, but at least
     * every WRITE_EVERY deliveries, so the first subscribers of a big burst
     * do not wait for the whole of it. A connection already
     * in the list is not added again until written. */
    if (b->unwritten >= WRITE_EVERY) {
        write_pool_flush(d->deps.writers, &d->resumes);
        b->unwritten = 0;
    }
}

/* At --log-level debug, one line per batch read with its times (wall µs),
 * which bench/run's breakdown joins with the events: the WAKE posted and
 * handled (0 when none led to this read), the read started, its first row
 * handed over, the writes started (or handed to the pool). */
static void log_batch(struct dispatcher *d, const struct batch *b, int64_t read_us)
{
    log_record(LOG_DEBUG, "dispatcher", "events dispatched", LOG_INT("first", b->first),
               LOG_INT("last", d->position), LOG_INT("deliveries", b->deliveries),
               LOG_INT("wake_us", d->wake_posted_us), LOG_INT("handled_us", d->wake_handled_us),
               LOG_INT("read_us", read_us), LOG_INT("rows_us", b->rows_us),
               LOG_INT("written_us", clock_wall_us(d->deps.clock)));
    d->wake_posted_us = d->wake_handled_us = 0; /* the next batches of this read had none */
}

/* Fans out everything after position, a batch at a time. 0, or -1 on a store error. */
static int read_new(struct dispatcher *d)
{
    const struct event_store_ops *s = d->deps.store;
    struct metrics *m = d->deps.metrics;
    long n;
    bool complete = false;
    do {
        struct batch b = {.d = d, .now_ms = now_ms(d), .timed = log_enabled(LOG_DEBUG)};
        int64_t read_us = b.timed ? clock_wall_us(d->deps.clock) : 0;
        n = s->read_after(s->ctx, d->position, READ_BATCH, READ_BYTES, &complete, fan_out, &b);
        write_pool_flush(d->deps.writers, &d->resumes);
        if (b.timed && b.events)
            log_batch(d, &b, read_us);
        assert(n <= READ_BATCH);
        metrics_add(&m->events_durable, b.events);
        metrics_add(&m->deliveries, b.deliveries);
        metrics_add(&m->slow_consumer_disconnects, b.overflows);
    } while (n > 0 && !complete);
    return n < 0 ? -1 : 0;
}

/* Retention: re-reads pruned_through and trims the window there, so an
 * event the leader pruned is never replayed from memory. 0, or -1. */
static int read_bounds(struct dispatcher *d)
{
    int64_t head, pruned;
    if (d->deps.store->bounds(d->deps.store->ctx, &head, &pruned) != 0)
        return -1;
    if (pruned > d->pruned) {
        event_window_trim(d->deps.window, pruned);
        d->pruned = pruned;
    }
    d->bounds_pending = false;
    return 0;
}

/* ---- connect: replay mode, then register ---- */

/* Registers c; one with a cursor behind the position first goes into replay
 * mode (the replayer brings its backlog), on this thread, between two
 * fan-outs, so every event after the cursor comes exactly once. */
static void serve(struct dispatcher *d, struct connection *c, bool has_cursor, int64_t cursor)
{
    assert(d->known && (!has_cursor || cursor <= d->position));
    if (has_cursor && cursor < d->position)
        replayer_begin(d->deps.replayer, c, cursor, d->position);
    registry_add(d->deps.registry, c); /* false if the client left meanwhile */
}

static void hold(struct dispatcher *d, struct connection *c, bool has_cursor, int64_t cursor)
{
    if (d->nheld == d->held_cap) {
        d->held_cap = d->held_cap ? d->held_cap * 2 : 16;
        d->held = xrealloc(d->held, d->held_cap * sizeof *d->held);
    }
    d->held[d->nheld++] = (struct held){connection_ref(c), has_cursor, cursor, now_ms(d)};
}

/* Serves the held connects that can be served now, closes those held too
 * long, drops those whose client left; keeps the rest in order. */
static void serve_held(struct dispatcher *d)
{
    int64_t now = now_ms(d);
    size_t kept = 0, expired = 0;
    for (size_t i = 0; i < d->nheld; i++) {
        struct held h = d->held[i];
        if (connection_is_closed(h.conn)) {
            connection_unref(h.conn);
            continue;
        }
        if (d->known && (!h.has_cursor || h.cursor <= d->position)) {
            serve(d, h.conn, h.has_cursor, h.cursor);
        } else if (now - h.since_ms >= HOLD_MAX_MS) {
            if (connection_close(h.conn, NULL, CONN_END_NOT_SERVED))
                connection_resume(h.conn);
            expired++;
        } else {
            d->held[kept++] = h;
            continue;
        }
        connection_unref(h.conn);
    }
    d->nheld = kept;
    if (expired)
        log_info("dispatcher", "closed %zu connects held over %d ms (position %" PRId64 ")",
                 expired, HOLD_MAX_MS, d->position);
}

/* Learns the position if needed, fans out everything new, then serves held
 * connects. 0, or -1 on a store error (the wake stays pending). */
static int catch_up(struct dispatcher *d)
{
    int rc =
        init_position(d) == 0 && read_new(d) == 0 && (!d->bounds_pending || read_bounds(d) == 0)
            ? 0
            : -1;
    d->wake_pending = rc != 0;
    d->wake_posted_us = d->wake_handled_us = 0; /* a WAKE that found nothing new */
    if (rc != 0 && !d->catch_up_failing)
        log_warn("dispatcher", "could not read new events: retrying on the next wake");
    else if (rc == 0 && d->catch_up_failing)
        log_info("dispatcher", "reading events again, at position %" PRId64, d->position);
    d->catch_up_failing = rc != 0;
    serve_held(d);
    return rc;
}

static bool must_wait(struct dispatcher *d, bool has_cursor, int64_t cursor)
{
    return !d->known || (has_cursor && cursor > d->position);
}

static void handle_connect(struct dispatcher *d, struct dispatch_msg *m)
{
    struct connection *c = m->conn;
    if (connection_is_closed(c))
        return; /* the client left while queued */
    /* Learn the position now, or catch up first when the cursor is ahead of
     * us (the client came from an instance further along). While the store
     * is failing, leave retries to the end of the batch: one per batch, not
     * one per connect of a reconnect storm. */
    if (must_wait(d, m->has_cursor, m->cursor) && !d->catch_up_failing)
        catch_up(d);
    if (must_wait(d, m->has_cursor, m->cursor))
        hold(d, c, m->has_cursor, m->cursor); /* served after a later catch-up */
    else
        serve(d, c, m->has_cursor, m->cursor);
}

static void handle_ephemeral(struct dispatcher *d, struct dispatch_msg *m)
{
    struct frame *f = sse_encode_message(m->stream, m->event, m->data, m->data_len);
    size_t overflowed = 0;
    size_t n =
        registry_fanout(d->deps.registry, m->stream, f, now_ms(d), 0, &d->resumes, &overflowed);
    frame_unref(f);
    write_pool_flush(d->deps.writers, &d->resumes);
    metrics_add(&d->deps.metrics->deliveries, n);
    metrics_add(&d->deps.metrics->slow_consumer_disconnects, overflowed);
}

/* Events this instance's leader just committed, handed over by the
 * sequencer after its commit: fanned out here without a read, exactly as a
 * read would (the window first, positions one after another), but only
 * while they follow the position; the first that does not (a batch this
 * dispatcher has not seen yet, or the position not known) leaves the rest
 * to a read, as a WAKE does. Those at or below the position were read
 * already. */
static void handle_events(struct dispatcher *d, struct dispatch_msg *m)
{
    if (!d->known) {
        d->wake_pending = true;
        return;
    }
    struct batch b = {.d = d, .now_ms = now_ms(d), .timed = log_enabled(LOG_DEBUG)};
    for (size_t i = 0; i < m->nevents; i++) {
        const struct stored_event *ev = &m->events[i];
        if (ev->position <= d->position)
            continue;
        if (ev->position != d->position + 1) {
            d->wake_pending = true;
            break;
        }
        fan_out(&b, ev);
    }
    write_pool_flush(d->deps.writers, &d->resumes);
    metrics_add(&d->deps.metrics->events_durable, b.events);
    metrics_add(&d->deps.metrics->deliveries, b.deliveries);
    metrics_add(&d->deps.metrics->slow_consumer_disconnects, b.overflows);
    if (b.timed && b.events) {
        d->wake_posted_us = m->posted_us;
        d->wake_handled_us = b.rows_us;
        log_batch(d, &b, 0);
    }
    if (b.events && d->nheld)
        serve_held(d); /* a cursor it was waiting for may have come */
}

void dispatcher_handle(struct dispatcher *d, struct dispatch_msg *m)
{
    switch (m->kind) {
    case DISPATCH_CONNECT:
        handle_connect(d, m);
        break;
    case DISPATCH_WAKE:
        if (!d->wake_handled_us && log_enabled(LOG_DEBUG)) {
            d->wake_posted_us = m->posted_us;
            d->wake_handled_us = clock_wall_us(d->deps.clock);
        }
        /* Coalesced: one catch-up per batch of messages. A WAKE naming the
         * head it announces is decided at the flush, once any hand-over
         * before it was fanned out. */
        if (m->head_hint > 0 && !m->recheck_bounds)
            d->hinted = m->head_hint > d->hinted ? m->head_hint : d->hinted;
        else
            d->wake_pending = true;
        d->bounds_pending = d->bounds_pending || m->recheck_bounds;
        break;
    case DISPATCH_EVENTS:
        handle_events(d, m);
        break;
    case DISPATCH_EPHEMERAL:
        handle_ephemeral(d, m);
        break;
    case DISPATCH_STOP:
        break; /* the loop looks at the kind before handing it over */
    }
    dispatch_msg_free(m);
}

int dispatcher_flush(struct dispatcher *d)
{
    /* A notification's head at or below the position brings nothing new:
     * every position up to it is here already (the hand-over brought it,
     * or an earlier read). One beyond it, or a WAKE without a head, reads. */
    if (d->hinted > d->position)
        d->wake_pending = true;
    d->hinted = 0;
    if (!d->wake_pending && !d->bounds_pending && d->known) {
        d->wake_posted_us = d->wake_handled_us = 0;
        return 0;
    }
    return catch_up(d);
}

int64_t dispatcher_position(struct dispatcher *d)
{
    return atomic_load_explicit(&d->position_mirror, memory_order_relaxed);
}

static void *run(void *arg)
{
    struct dispatcher *d = arg;
    bool stop = false;
    dispatcher_flush(d); /* learn the head at once: a fresh instance starts live */
    while (!stop) {
        struct dispatch_msg *m = dispatch_queue_pop_all(d->deps.queue);
        while (m) {
            struct dispatch_msg *next = m->next;
            stop = stop || m->kind == DISPATCH_STOP;
            dispatcher_handle(d, m);
            m = next;
        }
        dispatcher_flush(d);
    }
    return NULL;
}

int dispatcher_start(struct dispatcher *d)
{
    return worker_start(d->worker, run, d);
}

void dispatcher_stop(struct dispatcher *d)
{
    if (d)
        worker_stop(d->worker);
}

void dispatcher_free(struct dispatcher *d)
{
    if (!d)
        return;
    dispatcher_stop(d);
    /* Held connects are not closed here: the gateway's shutdown closes every
     * open stream with the shutdown sentinel, registered or not. */
    for (size_t i = 0; i < d->nheld; i++)
        connection_unref(d->held[i].conn);
    free(d->held);
    conn_list_free(&d->resumes);
    worker_free(d->worker);
    free(d);
}
