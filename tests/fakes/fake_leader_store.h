/*
 * fake_leader_store: the database as the sequencer sees it, in memory, for
 * the sequencer's unit tests: an outbox of committed rows, the leader lock,
 * sse.state.leader_sleeping, this instance's fleet row, failure injection
 * per call and call counters. Plain data: the test sets the fields of the
 * first group and reads the rest. A failing call closes the connection,
 * which frees the lock, as a real backend's exit does; any call but connect
 * on a closed connection aborts (the sequencer must reconnect first).
 * Single-threaded: with the sequencer's thread running, read it only after
 * the stop.
 */
#ifndef SSE_FAKE_LEADER_STORE_H
#define SSE_FAKE_LEADER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "db/leader_store.h"

#define FAKE_LEADER_DATA_MAX (2 * 1024 * 1024)

/* The calls, for fail bits (1u << FLS_…) and the counters. */
enum fake_leader_call {
    FLS_CONNECT,
    FLS_TRY_LOCK,
    FLS_WATCH,
    FLS_RESIGN,
    FLS_SEQUENCE_BATCH,
    FLS_SET_SLEEPING,
    FLS_UPSERT_FLEET_ROW,
    FLS_REMOVE_FLEET_ROW,
    FLS_PRUNE,
    FLS_VACUUM,
    FLS_SAMPLE_LAG,
    FLS_SOCKET,
    FLS_NOTIFICATIONS,
    FLS_CALLS
};

struct fake_leader_store {
    /* Set by the test. */
    long outbox;                /* committed rows not sequenced yet */
    long batch_rows;            /* a batch moves at most this many (init: 1000); its events
                                   are stream "s", data "event <position>" */
    size_t data_bytes;          /* pad each event's data to this (< FAKE_LEADER_DATA_MAX) */
    bool other_leader;          /* another session holds the lock */
    struct leader_watch other;  /* who it is (init: a gateway), and how far it sequenced: what
                                   watch reports while other_leader (held: ignored; head is
                                   added to sequenced) */
    bool not_owner;             /* the role does not own sse.outbox: no VACUUM */
    long prunable;              /* events the next prune deletes */
    int64_t lag_us, notify_ppm; /* what sample_lag reports */
    int notifications;          /* received, not yet read */
    int socket_fd;              /* what socket returns (init: -1) */
    unsigned fail;              /* calls that fail while their bit is set */

    /* The database's state, and what the sequencer asked. */
    bool connected, locked, leader_sleeping;
    int64_t sequenced;              /* rows moved out of the outbox so far */
    bool has_row;                   /* the fleet row exists */
    char row_id[64];                /* its id, and the rest as last upserted */
    struct fleet_row row;           /* instance_id not kept: see row_id */
    int64_t retention_ms, stale_ms; /* the last prune's arguments */
    size_t last_max_bytes;          /* the last batch's: events past it come without data */
    int calls[FLS_CALLS];
    struct leader_store_ops ops; /* ctx points back at the fake */
};

/* An empty outbox, no lock holder (another is a gateway's sequencer when
 * there is one), leader_sleeping set (as a fresh schema has it), not
 * connected. */
void fake_leader_store_init(struct fake_leader_store *f);

#endif
