/*
 * conn_replay: a connection's side of the replay handshake (driven by
 * dispatch/replayer.c). While replaying, live events are not queued but
 * remembered in skipped_through; the replayer queues slices of the backlog
 * up to the room under the byte limit, arms, and is called back (drained)
 * once the socket took half of it, or the connection closed. The callback
 * runs under the connection's mutex, on the thread that wrote; the replayer
 * frees its job only once disarmed. Threads: any, under the mutex.
 */
#include "registry/connection_internal.h"

/* The bytes a slice may take. Mutex held. */
static size_t room_limit(const struct connection *c)
{
    return c->max_queued_bytes ? c->max_queued_bytes : REPLAY_SLICE;
}

void conn_call_drained(struct connection *c)
{
    if (!c->refill_armed)
        return;
    c->refill_armed = false;
    c->drained(c->drained_ctx, c);
}

/* After bytes left the queue: wakes an armed replayer at the low-water mark. */
void conn_after_written(struct connection *c)
{
    if (c->refill_armed && frame_queue_bytes(&c->queue) <= room_limit(c) / 2)
        conn_call_drained(c);
}

void connection_replay_begin(struct connection *c, int64_t through, conn_drained_fn drained,
                             void *ctx)
{
    check(c);
    lock(c);
    c->replaying = true;
    c->refill_armed = false;
    c->skipped_through = through;
    c->drained = drained;
    c->drained_ctx = ctx;
    unlock(c);
}

size_t connection_replay_room(struct connection *c)
{
    check(c);
    lock(c);
    size_t limit = room_limit(c), queued = frame_queue_bytes(&c->queue);
    unlock(c);
    return queued < limit ? limit - queued : 0;
}

bool connection_replay_end(struct connection *c, int64_t scanned_through)
{
    check(c);
    lock(c);
    bool done = !c->replaying || c->skipped_through <= scanned_through;
    if (done) {
        c->replaying = false;
        c->refill_armed = false;
    }
    unlock(c);
    return done;
}

bool connection_replay_arm(struct connection *c)
{
    check(c);
    lock(c);
    bool armed = !c->closing && !c->gone && frame_queue_bytes(&c->queue) > room_limit(c) / 2;
    c->refill_armed = armed;
    unlock(c);
    return armed;
}
