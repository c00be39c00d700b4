/*
 * connection_internal: struct connection and the calls its files share
 * (connection.c: life, pushes, reads, the socket handshake; conn_replay.c:
 * the replay handshake; conn_direct.c: writes straight to a parked socket
 * and the stall watch). Private to registry/: no other part includes it.
 */
#ifndef SSE_CONNECTION_INTERNAL_H
#define SSE_CONNECTION_INTERNAL_H

#include "common/xalloc.h"
#include "registry/connection.h"
#include "registry/frame_queue.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define CONNECTION_MAGIC 0x53534543u /* "SSEC" */
/* A replay's slice when the connection has no byte limit. */
#define REPLAY_SLICE (256 * 1024)

struct connection {
    unsigned magic;
    _Atomic int refs;
    uint64_t id;                /* fixed after creation */
    char **streams;             /* fixed after creation: one block, names follow */
    size_t nstreams;            /* fixed after creation */
    int64_t expires_s;          /* fixed after creation */
    size_t max_queued_bytes;    /* fixed after creation; 0 = unlimited */
    void (*io_release)(void *); /* fixed after creation */
    void *registry_slot;        /* guarded by the registry mutex; registry_slot.h */

    pthread_mutex_t mtx;
    const struct conn_io_ops *io; /* shared: guarded by mtx (set once) */
    void *io_ctx;                 /* shared: guarded by mtx (set once) */
    struct frame_queue queue;     /* shared: guarded by mtx; replay and final frame exempt */
    bool suspended;               /* shared: guarded by mtx; the socket is parked */
    bool resume_owed;             /* shared: guarded by mtx; someone cleared `suspended` */
    bool flush_owed;              /* shared: guarded by mtx; parked with frames to send */
    bool reader_wrote;            /* shared: guarded by mtx; MHD has sent the headers */
    bool closing, gone;           /* shared: guarded by mtx */
    int64_t stalled_since;        /* shared: guarded by mtx; 0: moving (conn_direct.c) */
    long unsent_seen;             /* shared: guarded by mtx; the send queue at the last look */
    enum conn_end end;            /* shared: guarded by mtx; set with closing */
    uint64_t events;              /* shared: guarded by mtx */
    /* The replay handshake (see connection_replay_begin); shared: guarded by mtx. */
    bool replaying;          /* live events are remembered in skipped_through, not queued */
    bool refill_armed;       /* the replayer waits for the queue to drain */
    int64_t skipped_through; /* the highest position the replay must reach */
    int64_t last_position;   /* the highest durable position queued */
    conn_drained_fn drained; /* with drained_ctx: the replayer's wake-up */
    void *drained_ctx;
    _Atomic int64_t last_push_ms;  /* written under mtx, read without it */
    _Atomic int64_t last_event_ms; /* written under mtx, read without it */
};

/* A connection travels through void * (MHD cls, dispatch messages). */
static inline void check(const struct connection *c)
{
    assert(c && c->magic == CONNECTION_MAGIC);
    (void)c;
}

/* Lock-held invariant check: trylock fails on a mutex held by anyone. */
static inline void assert_held(struct connection *c)
{
    assert(pthread_mutex_trylock(&c->mtx) == EBUSY);
    (void)c;
}

static inline void lock(struct connection *c)
{
    PTOK(pthread_mutex_lock(&c->mtx));
}

static inline void unlock(struct connection *c)
{
    PTOK(pthread_mutex_unlock(&c->mtx));
}

/* Clears `suspended`; whoever clears it owes the resume. Returns whether the
 * caller now owes one. Mutex held. */
bool conn_take_resume_duty(struct connection *c);
/* After bytes left the queue: wakes an armed replayer at its mark. Mutex held. */
void conn_after_written(struct connection *c);
/* Calls the replayer back once if it is armed. Mutex held. */
void conn_call_drained(struct connection *c);
/* Writes queued frames to the parked socket until at most keep bytes are
 * left or it takes no more; true if everything meant went. Mutex held. */
bool conn_write_direct(struct connection *c, size_t keep);

#endif
