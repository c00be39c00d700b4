/*
 * replayer: one thread serving every replay a slice at a time. A job is a
 * connection in replay mode and the position its replay has reached. Each
 * slice takes the room left under the connection's byte limit, fills it
 * from the event window when the window still covers the job's position and
 * from the database otherwise (after a gateway:gap when retention already
 * removed part of the range), and then either ends the replay (the
 * connection has every event up to what live pushes skipped, and takes live
 * events from then on), parks the job until the socket has drained half of
 * the room (the connection calls back), or queues it again.
 *
 * Ownership: jobs live in `all` from replayer_begin until their replay ends,
 * their connection closes, or the replayer stops; the ready ones are also
 * on the `ready` FIFO. A parked job is armed on its connection, which calls
 * back (on_drained) from whichever thread wrote; a job is freed only once
 * disarmed, so no callback can reach a freed job. Lock order: connection
 * mutex, then the worker's mutex (the callback); the thread never calls into
 * a connection with the worker's mutex held.
 *
 * Collaborators: event window (shared, locked), its own event store,
 * metrics, clock, the dispatcher's position. Does not: register
 * connections or fan anything out (the dispatcher does).
 */
#include "dispatch/replayer.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "dispatch/event_store.h"
#include "dispatch/event_window.h"
#include "protocol/sse_frame.h"
#include "registry/connection.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_MAGIC 0x4a4f4221u /* "JOB!" */
/* Rows per database slice; bytes are bounded by the connection's room. */
#define DB_ROWS 1000

struct job {
    unsigned magic;
    struct replayer *r;
    struct connection *c; /* one reference */
    int64_t next;         /* owned by the replayer thread: replayed up to here */
    bool gap_checked;     /* owned by the replayer thread */
    bool queued;          /* guarded by the worker's mutex: on `ready` */
    struct job *next_ready, *prev_all, *next_all; /* guarded by the worker's mutex */
};

struct replayer {
    struct replayer_deps deps; /* fixed after start */
    struct worker *worker;     /* its mutex guards the lists below */
    struct job *ready_head, *ready_tail;
    struct job *all;
    size_t njobs;
    _Atomic size_t active;     /* shared: njobs, for the gauge */
    struct window_slice slice; /* owned by the replayer thread: scratch */
    bool store_failing;        /* owned by the replayer thread: log a streak once */
};

struct replayer *replayer_new(const struct replayer_deps *deps)
{
    assert(deps->window && deps->store && deps->metrics && deps->clock && deps->position);
    struct replayer *r = xcalloc(1, sizeof *r);
    r->deps = *deps;
    r->worker = worker_new("replayer", NULL, NULL);
    atomic_init(&r->active, 0);
    return r;
}

/* Worker's mutex held. */
static void enqueue(struct replayer *r, struct job *j)
{
    if (j->queued)
        return;
    j->queued = true;
    j->next_ready = NULL;
    if (r->ready_tail)
        r->ready_tail->next_ready = j;
    else
        r->ready_head = j;
    r->ready_tail = j;
    worker_signal(r->worker);
}

/* The connection drained to its low-water mark, or closed, while armed. */
static void on_drained(void *ctx, struct connection *c)
{
    struct job *j = ctx;
    assert(j->magic == JOB_MAGIC && j->c == c);
    (void)c;
    worker_lock(j->r->worker);
    enqueue(j->r, j);
    worker_unlock(j->r->worker);
}

void replayer_begin(struct replayer *r, struct connection *c, int64_t cursor, int64_t through)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->magic = JOB_MAGIC;
    j->r = r;
    j->c = connection_ref(c);
    j->next = cursor;
    connection_replay_begin(c, through, on_drained, j);
    worker_lock(r->worker);
    j->next_all = r->all;
    if (r->all)
        r->all->prev_all = j;
    r->all = j;
    atomic_store(&r->active, ++r->njobs);
    enqueue(r, j);
    worker_unlock(r->worker);
}

/* Ends a job whose replay is over or whose connection is closing: disarms
 * it (no callback can reach it afterwards), unlinks and frees it. */
static void finish(struct replayer *r, struct job *j)
{
    connection_replay_end(j->c, INT64_MAX);
    worker_lock(r->worker);
    assert(!j->queued);
    if (j->prev_all)
        j->prev_all->next_all = j->next_all;
    else
        r->all = j->next_all;
    if (j->next_all)
        j->next_all->prev_all = j->prev_all;
    atomic_store(&r->active, --r->njobs);
    worker_unlock(r->worker);
    connection_unref(j->c);
    j->magic = 0;
    free(j);
}

/* Encodes each stored event into the slice. */
static void add_stored(void *arg, const struct stored_event *ev)
{
    struct window_slice *s = arg;
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->items = xrealloc(s->items, s->cap * sizeof *s->items);
    }
    struct frame *f = sse_encode_event(ev->position, ev->stream, ev->event, ev->data, ev->data_len,
                                       ev->published_us);
    s->items[s->len++] = (struct window_item){ev->position, f};
    s->bytes += frame_len(f);
}

/* Queues the gap sentinel: what came after `after` up to `pruned` is gone. */
static void push_gap(struct replayer *r, struct job *j, int64_t after, int64_t pruned)
{
    char data[96];
    snprintf(data, sizeof data, "{\"last_event_id\":%" PRId64 ",\"oldest_position\":%" PRId64 "}",
             after, pruned + 1);
    struct frame *gap = sse_encode_sentinel(-1, "gateway:gap", data);
    if (connection_push_replay(j->c, gap, clock_now_ms(r->deps.clock), 0) == CONN_PUSH_NEEDS_RESUME)
        connection_resume(j->c);
    frame_unref(gap);
    metrics_add(&r->deps.metrics->gaps, 1);
}

/* Drops the slice's events at or below position (retention took them). */
static void drop_through(struct window_slice *s, int64_t position)
{
    size_t k = 0;
    for (; k < s->len && s->items[k].position <= position; k++) {
        s->bytes -= frame_len(s->items[k].frame);
        frame_unref(s->items[k].frame);
    }
    memmove(s->items, s->items + k, (s->len - k) * sizeof *s->items);
    s->len -= k;
}

/* The database's part of a replay: one slice of rows, and a gap sentinel
 * before them when retention removed events after the job's position. The
 * bound is read after the rows too, not only before the first slice: a
 * prune between two slices of a slow replay, or during a read, would
 * otherwise skip events silently. Rows at or below that bound are dropped,
 * so the client sees the gap, then what follows it. Returns the position
 * the slice covers up to, or -1 when the store failed. */
static int64_t slice_from_store(struct replayer *r, struct job *j, size_t room)
{
    const struct event_store_ops *s = r->deps.store;
    struct metrics *m = r->deps.metrics;
    int64_t head, pruned;
    if (!j->gap_checked) { /* the first slice: the gap comes before any read */
        if (s->bounds(s->ctx, &head, &pruned) != 0)
            return -1;
        j->gap_checked = true;
        if (j->next < pruned) {
            push_gap(r, j, j->next, pruned);
            j->next = pruned;
        }
    }
    int64_t upto = r->deps.position(r->deps.position_ctx);
    bool complete = false;
    long rows = s->read_range(s->ctx, j->next, upto, connection_streams(j->c),
                              connection_stream_count(j->c), DB_ROWS, room, &complete, add_stored,
                              &r->slice);
    metrics_add(&m->replay_queries, 1);
    if (rows < 0 || s->bounds(s->ctx, &head, &pruned) != 0) {
        window_slice_clear(&r->slice);
        return -1;
    }
    int64_t reached = complete           ? upto
                      : r->slice.len > 0 ? r->slice.items[r->slice.len - 1].position
                                         : j->next;
    if (j->next < pruned) {
        push_gap(r, j, j->next, pruned);
        drop_through(&r->slice, pruned);
        if (!complete && reached < pruned)
            reached = pruned;
    }
    metrics_add(&m->replayed_database, (uint64_t)r->slice.len);
    return reached;
}

/* One slice of j. Returns true if the job lives on. */
static bool run_slice(struct replayer *r, struct job *j)
{
    struct connection *c = j->c;
    if (connection_is_closed(c))
        return false;
    size_t room = connection_replay_room(c);
    if (room == 0)
        return true; /* the caller arms, or queues it again */
    window_slice_clear(&r->slice);
    int64_t scanned;
    int n = event_window_collect(r->deps.window, j->next, connection_streams(c),
                                 connection_stream_count(c), room, &r->slice, &scanned);
    if (n >= 0) {
        metrics_add(&r->deps.metrics->replayed_memory, (uint64_t)n);
    } else if ((scanned = slice_from_store(r, j, room)) < 0) {
        /* Lossless: the client reconnects with the Last-Event-ID of what it got. */
        if (!r->store_failing)
            log_warn("replayer", "replay from the database failed: closing connection %" PRIu64,
                     connection_id(c));
        r->store_failing = true;
        if (connection_close(c, NULL, CONN_END_REPLAY_FAILED))
            connection_resume(c);
        return false;
    } else {
        r->store_failing = false;
    }
    int64_t now = clock_now_ms(r->deps.clock);
    bool resume = false;
    for (size_t i = 0; i < r->slice.len; i++)
        if (connection_push_replay(c, r->slice.items[i].frame, now, r->slice.items[i].position) ==
            CONN_PUSH_NEEDS_RESUME)
            resume = true;
    window_slice_clear(&r->slice);
    if (resume)
        connection_resume(c); /* one write for the whole slice */
    j->next = scanned;
    return !connection_replay_end(c, j->next);
}

size_t replayer_run_once(struct replayer *r)
{
    worker_lock(r->worker);
    struct job *batch = r->ready_head;
    r->ready_head = r->ready_tail = NULL;
    for (struct job *j = batch; j; j = j->next_ready)
        j->queued = false;
    worker_unlock(r->worker);
    size_t ran = 0;
    while (batch) {
        struct job *j = batch;
        batch = j->next_ready;
        ran++;
        if (!run_slice(r, j)) {
            finish(r, j);
        } else if (!connection_replay_arm(j->c)) {
            worker_lock(r->worker); /* room already, or closed: again at once */
            enqueue(r, j);
            worker_unlock(r->worker);
        }
    }
    return ran;
}

size_t replayer_active(struct replayer *r)
{
    return atomic_load(&r->active);
}

static void *run(void *arg)
{
    struct replayer *r = arg;
    for (;;) {
        worker_lock(r->worker);
        while (!r->ready_head && !worker_stopping(r->worker))
            worker_cond_wait(r->worker, NULL);
        bool stop = worker_stopping(r->worker);
        worker_unlock(r->worker);
        if (stop)
            return NULL;
        replayer_run_once(r);
    }
}

int replayer_start(struct replayer *r)
{
    return worker_start(r->worker, run, r);
}

void replayer_stop(struct replayer *r)
{
    if (!r)
        return;
    worker_stop(r->worker);
    /* No thread now: the remaining jobs, parked or ready, end here. */
    worker_lock(r->worker);
    for (struct job *j = r->ready_head; j; j = j->next_ready)
        j->queued = false;
    r->ready_head = r->ready_tail = NULL;
    struct job *j = r->all;
    worker_unlock(r->worker);
    while (j) {
        struct job *next = j->next_all;
        finish(r, j);
        j = next;
    }
}

void replayer_free(struct replayer *r)
{
    if (!r)
        return;
    replayer_stop(r);
    worker_free(r->worker);
    window_slice_free(&r->slice);
    free(r);
}
