/*
 * dispatcher: the one thread that decides what each subscriber receives and
 * in which order. It drains the dispatch queue; reads new durable events once
 * per (coalesced) wake for all streams; encodes each event once into a shared
 * frame that goes into the in-memory window and to every subscriber of its
 * stream; and serves connects: replay after the cursor (from the window, else
 * the database) up to the position already fanned out, and only then
 * registration, so no event can fall between replay and live (SPEC §6.3).
 *
 * Collaborators: dispatch queue, registry, event store, listener (ensure a
 * stream's channel is LISTENed before its first subscriber registers),
 * metrics, clock. Does not: touch sockets (connections are resumed, the HTTP
 * workers write), or sequence events (the leader does, in the database).
 */
#include "dispatcher.h"
#include "clock.h"
#include "connection.h"
#include "dispatch_queue.h"
#include "event_store.h"
#include "event_window.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "sse_frame.h"
#include "xalloc.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define READ_BATCH 1000

/* A connect waiting for the position to be known or to reach its cursor. */
struct held {
    struct connection *conn;
    bool has_cursor;
    int64_t cursor;
};

struct dispatcher {
    struct dispatcher_deps deps; /* fixed after start */
    pthread_t thread;            /* fixed after start */
    bool started;                /* owned by the caller of start/stop */
    bool known;                  /* owned by dispatcher thread: position initialised */
    int64_t position;            /* owned by dispatcher thread: highest fanned out */
    bool wake_pending;           /* owned by dispatcher thread */
    struct event_window *window; /* owned by dispatcher thread */
    struct held *held;           /* owned by dispatcher thread */
    size_t nheld, held_cap;
    struct conn_list resumes;  /* owned by dispatcher thread */
    _Atomic int64_t published; /* mirror of position for other threads */
};

struct dispatcher *dispatcher_new(const struct dispatcher_deps *deps)
{
    struct dispatcher *d = xcalloc(1, sizeof *d);
    d->deps = *deps;
    d->window = event_window_new(deps->window_events ? deps->window_events : 1, 0);
    atomic_init(&d->published, 0);
    return d;
}

static int64_t now_ms(struct dispatcher *d)
{
    return clock_now_ms(d->deps.clock);
}

static void set_position(struct dispatcher *d, int64_t position)
{
    d->position = position;
    atomic_store_explicit(&d->published, position, memory_order_relaxed);
}

/* Starts live at the current head: a fresh instance replays nothing to nobody. */
static int learn_position(struct dispatcher *d)
{
    if (d->known)
        return 0;
    int64_t head, pruned;
    if (d->deps.store->bounds(d->deps.store->ctx, &head, &pruned) != 0)
        return -1;
    set_position(d, head);
    event_window_reset(d->window, head);
    d->known = true;
    log_info("dispatcher", "starting at position %" PRId64, head);
    return 0;
}

struct fanout_state {
    struct dispatcher *d;
    uint64_t deliveries, events, overflows;
};

static void fan_out_event(void *arg, const struct stored_event *ev)
{
    struct fanout_state *st = arg;
    struct dispatcher *d = st->d;
    assert(ev->position > d->position);
    struct frame *f =
        sse_encode_event(ev->position, ev->event, ev->data, ev->data_len, ev->published_us);
    event_window_push(d->window, ev->position, ev->stream, f);
    size_t overflowed = 0;
    st->deliveries +=
        registry_fanout(d->deps.registry, ev->stream, f, now_ms(d), true, &d->resumes, &overflowed);
    st->overflows += overflowed;
    frame_unref(f);
    set_position(d, ev->position);
    st->events++;
    /* Resuming per event lets the HTTP workers write while the fan-out goes
     * on; a connection whose worker has not drained it yet is not resumed twice. */
    conn_list_resume_all(&d->resumes);
}

/* Reads and fans out everything after position. 0, or -1 on a store error. */
static int catch_up(struct dispatcher *d)
{
    if (learn_position(d) != 0)
        return -1;
    struct fanout_state st = {d, 0, 0, 0};
    long n;
    do {
        n = d->deps.store->read_after(d->deps.store->ctx, d->position, READ_BATCH, fan_out_event,
                                      &st);
    } while (n == READ_BATCH);
    metrics_add(&d->deps.metrics->events_durable, st.events);
    metrics_add(&d->deps.metrics->deliveries, st.deliveries);
    metrics_add(&d->deps.metrics->slow_consumer_disconnects, st.overflows);
    return n < 0 ? -1 : 0;
}

struct replay_state {
    struct dispatcher *d;
    struct connection *conn;
    bool needs_resume;
    uint64_t count;
};

static void replay_push(struct replay_state *st, struct frame *f)
{
    if (connection_push_replay(st->conn, f, now_ms(st->d)) == CONN_PUSH_NEEDS_RESUME)
        st->needs_resume = true;
    st->count++;
}

static void replay_from_window(void *arg, int64_t position, const char *stream, struct frame *f)
{
    (void)position;
    struct replay_state *st = arg;
    if (connection_has_stream(st->conn, stream))
        replay_push(st, f);
}

static void replay_from_store(void *arg, const struct stored_event *ev)
{
    struct replay_state *st = arg;
    struct frame *f =
        sse_encode_event(ev->position, ev->event, ev->data, ev->data_len, ev->published_us);
    replay_push(st, f);
    frame_unref(f);
}

/* Replays the database's events after cursor; -1 if the store failed. */
static int replay_database(struct dispatcher *d, struct replay_state *st, int64_t cursor)
{
    struct metrics *m = d->deps.metrics;
    int64_t head, pruned;
    if (d->deps.store->bounds(d->deps.store->ctx, &head, &pruned) != 0)
        return -1;
    if (cursor < pruned) {
        char data[96];
        snprintf(data, sizeof data,
                 "{\"last_event_id\":%" PRId64 ",\"oldest_position\":%" PRId64 "}", cursor,
                 pruned + 1);
        struct frame *gap = sse_encode_sentinel(-1, "gateway:gap", data);
        replay_push(st, gap);
        frame_unref(gap);
        st->count--;
        metrics_add(&m->gaps, 1);
    }
    size_t n = connection_stream_count(st->conn);
    const char **streams = xcalloc(n, sizeof *streams);
    for (size_t i = 0; i < n; i++)
        streams[i] = connection_stream(st->conn, i);
    long rows = d->deps.store->read_range(d->deps.store->ctx, cursor, d->position, streams, n,
                                          replay_from_store, st);
    free(streams);
    metrics_add(&m->replay_queries, 1);
    if (rows < 0)
        return -1;
    metrics_add(&m->replayed_database, st->count);
    return 0;
}

/* Replays (cursor, position] and registers the connection, in that order. */
static void serve(struct dispatcher *d, struct connection *c, bool has_cursor, int64_t cursor)
{
    struct replay_state st = {d, c, false, 0};
    if (has_cursor && cursor < d->position) {
        if (event_window_covers(d->window, cursor)) {
            event_window_each_after(d->window, cursor, replay_from_window, &st);
            metrics_add(&d->deps.metrics->replayed_memory, st.count);
        } else if (replay_database(d, &st, cursor) != 0) {
            /* The client reconnects with its cursor later: lossless. */
            log_warn("dispatcher", "replay failed: closing connection %" PRIu64, connection_id(c));
            if (connection_close(c, NULL))
                connection_resume(c);
            return;
        }
    }
    registry_add(d->deps.registry, c);
    if (st.needs_resume)
        connection_resume(c);
}

static void hold(struct dispatcher *d, struct connection *c, bool has_cursor, int64_t cursor)
{
    if (d->nheld == d->held_cap) {
        d->held_cap = d->held_cap ? d->held_cap * 2 : 16;
        d->held = xrealloc(d->held, d->held_cap * sizeof *d->held);
    }
    d->held[d->nheld++] = (struct held){connection_ref(c), has_cursor, cursor};
}

/* Serves held connects that can be served now; keeps the rest in order. */
static void serve_held(struct dispatcher *d)
{
    if (!d->known)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < d->nheld; i++) {
        struct held h = d->held[i];
        if (h.has_cursor && h.cursor > d->position) {
            d->held[kept++] = h;
            continue;
        }
        if (!connection_is_closed(h.conn))
            serve(d, h.conn, h.has_cursor, h.cursor);
        connection_unref(h.conn);
    }
    d->nheld = kept;
}

static void handle_connect(struct dispatcher *d, struct dispatch_msg *m)
{
    struct connection *c = m->conn;
    if (connection_is_closed(c))
        return;
    learn_position(d); /* on failure the connect is held below */
    if (d->deps.ensure_listen)
        for (size_t i = 0; i < connection_stream_count(c); i++)
            d->deps.ensure_listen(d->deps.listen_ctx, connection_stream(c, i));
    /* A cursor ahead of us (the client came from an instance further along):
     * catch up first, else hold it until we get there, so it sees nothing twice. */
    if (m->has_cursor && (!d->known || m->cursor > d->position))
        catch_up(d);
    if (!d->known || (m->has_cursor && m->cursor > d->position)) {
        hold(d, c, m->has_cursor, m->cursor);
        return;
    }
    serve(d, c, m->has_cursor, m->cursor);
}

static void handle_ephemeral(struct dispatcher *d, struct dispatch_msg *m)
{
    struct frame *f = sse_encode_message(m->event, m->data, m->data_len);
    size_t overflowed = 0;
    size_t n =
        registry_fanout(d->deps.registry, m->stream, f, now_ms(d), true, &d->resumes, &overflowed);
    frame_unref(f);
    conn_list_resume_all(&d->resumes);
    metrics_add(&d->deps.metrics->deliveries, n);
    metrics_add(&d->deps.metrics->slow_consumer_disconnects, overflowed);
}

void dispatcher_handle(struct dispatcher *d, struct dispatch_msg *m)
{
    switch (m->kind) {
    case DISPATCH_CONNECT:
        handle_connect(d, m);
        break;
    case DISPATCH_WAKE:
        d->wake_pending = true;
        break;
    case DISPATCH_EPHEMERAL:
        handle_ephemeral(d, m);
        break;
    case DISPATCH_STOP:
        break;
    }
    dispatch_msg_free(m);
}

int dispatcher_flush(struct dispatcher *d)
{
    if (!d->wake_pending && d->known)
        return 0;
    if (catch_up(d) != 0) {
        d->wake_pending = true;
        return -1;
    }
    d->wake_pending = false;
    serve_held(d);
    return 0;
}

int64_t dispatcher_position(struct dispatcher *d)
{
    return atomic_load_explicit(&d->published, memory_order_relaxed);
}

static void *run(void *arg)
{
    struct dispatcher *d = arg;
    bool stop = false;
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
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        log_error("dispatcher", "could not start thread");
        return -1;
    }
    d->started = true;
    return 0;
}

void dispatcher_stop(struct dispatcher *d)
{
    if (!d || !d->started)
        return;
    dispatch_queue_push(d->deps.queue, dispatch_msg_stop());
    PTOK(pthread_join(d->thread, NULL));
    d->started = false;
}

void dispatcher_free(struct dispatcher *d)
{
    if (!d)
        return;
    dispatcher_stop(d);
    for (size_t i = 0; i < d->nheld; i++)
        connection_unref(d->held[i].conn);
    free(d->held);
    conn_list_free(&d->resumes);
    event_window_free(d->window);
    free(d);
}
