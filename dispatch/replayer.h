/*
 * replayer: the thread that serves connects' replays, off the dispatcher's
 * live path and paced by each subscriber's socket. A connection in replay
 * is registered at once but receives no live event until its replay has
 * caught up with every event a live push skipped (registry/connection.h,
 * the replay handshake); meanwhile the replayer queues at most about
 * --max-queued-bytes of its backlog at a time, from the event window or, in
 * byte-bounded slices, from the database, and goes on when the socket has
 * taken half of it. So a client that reads nothing holds that much memory,
 * not its whole backlog, and a replay never delays live delivery to others.
 */
#ifndef SSE_REPLAYER_H
#define SSE_REPLAYER_H

#include <stddef.h>
#include <stdint.h>

struct replayer;
struct connection;
struct event_window;
struct event_store_ops;
struct metrics;
struct clock_ops;

struct replayer_deps {
    struct event_window *window;         /* shared with the dispatcher, which fills it */
    const struct event_store_ops *store; /* its own connection, not the dispatcher's */
    struct metrics *metrics;
    const struct clock_ops *clock;
    /* The dispatcher's position: every event up to it is in the database. */
    int64_t (*position)(void *ctx);
    void *position_ctx;
};

/* Wires the replayer; starts no thread. Borrowed pointers must outlive it. */
struct replayer *replayer_new(const struct replayer_deps *deps);
/* Spawns the thread. 0, or -1 (logged). */
int replayer_start(struct replayer *r);
/* Joins the thread and lets every replay go unfinished (the shutdown closes
 * their connections with the drain sentinel). Safe twice. */
void replayer_stop(struct replayer *r);
void replayer_free(struct replayer *r);

/* Puts c (a reference is taken) into replay mode for the events of its
 * streams after cursor, which must reach at least through (the dispatcher's
 * position now), and queues the replay. Call before registering c, on the
 * thread that fans out, so no live event falls between. Any such thread. */
void replayer_begin(struct replayer *r, struct connection *c, int64_t cursor, int64_t through);

/* The step: runs one slice of every replay that is ready now. Returns how
 * many ran. The replayer's thread, or tests with no thread started. */
size_t replayer_run_once(struct replayer *r);
/* Replays in progress (queued, running or waiting for a socket). Any thread. */
size_t replayer_active(struct replayer *r);

#endif
