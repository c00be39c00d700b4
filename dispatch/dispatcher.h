/*
 * dispatcher: the thread that owns delivery order. It drains the dispatch
 * queue, reads new durable events once per (coalesced) wake for all streams
 * (or takes those this instance's leader hands over right after its commit),
 * keeps the window of recent encoded events, fans each event out as one
 * shared frame to every subscriber, and admits connects: one whose cursor
 * is behind goes into replay mode (the replayer serves its backlog) before
 * it is registered, so nothing slips between replay and live
 * (docs/DESIGN.md, The delivery guarantee).
 */
#ifndef SSE_DISPATCHER_H
#define SSE_DISPATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dispatcher;
struct dispatch_queue;
struct dispatch_msg;
struct registry;
struct metrics;
struct clock_ops;
struct event_store_ops;
struct event_window;
struct replayer;
struct write_pool;

struct dispatcher_deps {
    struct dispatch_queue *queue;
    struct registry *registry;
    struct event_window *window; /* filled here, read by the replayer too */
    struct replayer *replayer;   /* serves connects' backlogs */
    struct write_pool *writers;  /* writes large rounds in parallel; NULL: all here */
    const struct event_store_ops *store;
    struct metrics *metrics;
    const struct clock_ops *clock;
};

/* Wires the dispatcher; starts no thread. */
struct dispatcher *dispatcher_new(const struct dispatcher_deps *deps);
/* Spawns the thread. 0 on success. */
int dispatcher_start(struct dispatcher *d);
/* Pushes STOP, joins: everything queued before it is handled first. Safe twice. */
void dispatcher_stop(struct dispatcher *d);
void dispatcher_free(struct dispatcher *d);

/* The step the thread's loop calls (tests call it directly): handles one message and frees it
 * (takes ownership). WAKEs only mark a catch-up as pending; EVENTS (the
 * leader's hand-over) fan out at once when they follow the position, else
 * mark a catch-up. Dispatcher thread (or a test). */
void dispatcher_handle(struct dispatcher *d, struct dispatch_msg *m);
/* Runs a pending catch-up: reads every new durable event and fans it out.
 * Returns 0, or -1 when the store failed (it stays pending). */
int dispatcher_flush(struct dispatcher *d);

/* Highest position fanned out so far. Any thread (atomic). */
int64_t dispatcher_position(struct dispatcher *d);

#endif
