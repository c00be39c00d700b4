/*
 * leader_store: what the sequencer asks of the database, behind an ops
 * struct so unit tests can fake it. The production store is
 * leader_store_pg, over one libpq connection of its own.
 *
 * Every call but connect needs the connection up. A call that returns -1
 * has logged why and closed the connection (which frees the leader lock);
 * the next call must be connect. vacuum alone fails softly.
 */
#ifndef SSE_LEADER_STORE_H
#define SSE_LEADER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch/event_store.h"

/* This instance's row in sse.gateways. Plain data, borrowed for the call. */
struct fleet_row {
    const char *instance_id;
    int64_t started_us; /* wall-clock µs */
    long connections;
    bool draining;
    bool leader;
};

/* What a follower sees of the leader (for the stall check): the session
 * holding the leader lock, and whether sequencing moves. Plain data. */
struct leader_watch {
    bool held;            /* a session holds the lock */
    bool holder_gateway;  /* it is a gateway's sequencer (by application_name) */
    int holder_pid;       /* its backend's pid */
    char holder_user[64]; /* its role and application_name, cut to fit */
    char holder_app[64];
    int64_t head;        /* sse.state.head: the last position given out */
    bool outbox_pending; /* sse.outbox holds a committed row */
};

struct leader_store_ops {
    /* Connects and LISTENs "sse#wake". 0, with *may_vacuum true if this
     * role owns sse.outbox (VACUUM is the owner's), or -1. */
    int (*connect)(void *ctx, bool *may_vacuum);
    /* Tries the leader lock without waiting: 1 if this connection holds it
     * now, 0 if another does, -1 on error. */
    int (*try_lock)(void *ctx);
    /* Fills *w: who holds the leader lock, the head, whether the outbox
     * holds rows. 0, or -1. */
    int (*watch)(void *ctx, struct leader_watch *w);
    /* Releases the lock and sends "sse#wake", so another instance takes over
     * at once. 0, or -1. */
    int (*resign)(void *ctx);
    /* Moves the outbox rows of whole committed transactions into sse.events
     * with the next positions (one batch). Once that committed, calls fn
     * for each event moved, in position order, with its data for the first
     * max_bytes of the batch's data and NULL data past them. Rows moved, or
     * -1 (then fn was not called). */
    long (*sequence_batch)(void *ctx, size_t max_bytes, stored_event_fn fn, void *arg);
    /* Sets sse.state.leader_sleeping: publishers send "sse#wake" at commit
     * until the next batch that moves rows clears it. 0, or -1. */
    int (*set_sleeping)(void *ctx);
    /* Inserts or refreshes the row (last_seen = now). 0, or -1. */
    int (*upsert_fleet_row)(void *ctx, const struct fleet_row *row);
    /* Deletes the row of instance_id. 0, or -1. */
    int (*remove_fleet_row)(void *ctx, const char *instance_id);
    /* Deletes events sequenced over retention_ms ago, raising pruned_through
     * and, when any were deleted, NOTIFYing "sse#events" with "pruned" in the
     * same transaction; and fleet rows unseen for stale_ms. Events deleted,
     * or -1. */
    long (*prune)(void *ctx, int64_t retention_ms, int64_t stale_ms);
    /* VACUUMs the outbox and sse.state. 0, or -1 when refused (logged; the
     * connection stays up). */
    int (*vacuum)(void *ctx);
    /* The age of the oldest outbox row (µs, 0 if none) and the NOTIFY
     * queue's usage (parts per million). 0, or -1. */
    int (*sample_lag)(void *ctx, int64_t *lag_us, int64_t *notify_ppm);
    /* The socket that turns readable when a notification arrives, or -1. */
    int (*socket)(void *ctx);
    /* Reads what the socket has and drops the notifications received:
     * how many, or -1 when the connection broke. */
    int (*notifications)(void *ctx);
    void *ctx;
};

#endif
