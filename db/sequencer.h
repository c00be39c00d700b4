/*
 * sequencer: the leader role and the fleet bookkeeping, on a connection of
 * its own. Publishers insert into sse.outbox; the one instance holding the
 * advisory lock moves committed outbox rows into sse.events, whole
 * transactions at a time, with consecutive positions, one batch per
 * transaction, and NOTIFYs "sse#events" when a batch commits (docs/DESIGN.md,
 * The delivery guarantee). While busy it polls back to back; only when idle
 * does it sleep and ask publishers to wake it ("sse#wake"), so concurrent
 * publishers do not serialize on NOTIFY's commit lock. Every instance also
 * upserts its row in sse.gateways; the leader prunes retention and stale
 * fleet rows. Followers watch the leader on their try-lock cadence: a lock
 * held by a session that is not a gateway, or no sequencing for
 * SEQUENCER_STALL_MS while the outbox waits, is logged as an error naming
 * the holder and exported as sse_gateway_sequencer_stalled. The database is
 * behind a leader_store_ops.
 */
#ifndef SSE_SEQUENCER_H
#define SSE_SEQUENCER_H

#include <stdbool.h>
#include <stdint.h>

struct sequencer;
struct metrics;
struct clock_ops;
struct leader_store_ops;
struct dispatch_queue;

/* The step's cadences (ms) and thresholds. */
#define SEQUENCER_IDLE_POLL_MS       100  /* an idle leader's backup poll */
#define SEQUENCER_TRY_LOCK_MS        500  /* a follower's tries for the lock */
#define SEQUENCER_RETENTION_EVERY_MS 5000 /* the leader prunes */
#define SEQUENCER_LAG_EVERY_MS       1000 /* the leader samples the outbox lag */
#define SEQUENCER_BACKOFF_MIN_MS     100  /* reconnect after a loss; doubled per failed connect */
#define SEQUENCER_BACKOFF_MAX_MS     5000
#define SEQUENCER_VACUUM_EVERY_ROWS  2000  /* rows moved between two vacuums of the outbox */
#define SEQUENCER_VACUUM_MIN_MS      250   /* and at least this long */
#define SEQUENCER_STALL_MS           10000 /* no head move with the outbox waiting: stalled */
#define SEQUENCER_STALL_LOG_MS       60000 /* a stall's error line, again while it lasts */
#define SEQUENCER_HANDOFF_BYTES      (1024 * 1024) /* of a batch's data handed to the dispatcher */
#define SEQUENCER_HANDOFF_QUEUED     (4 * SEQUENCER_HANDOFF_BYTES) /* waiting for it, at most */

struct sequencer_deps {
    const struct leader_store_ops *store; /* the database (leader_store_pg) */
    /* This instance's dispatch queue: each committed batch's events (the
     * first SEQUENCER_HANDOFF_BYTES of their data) go there as an EVENTS
     * message, unless SEQUENCER_HANDOFF_QUEUED bytes of them wait already.
     * NULL: none. What is not handed over is read after the NOTIFY. */
    struct dispatch_queue *handoff;
    const char *instance_id;
    struct metrics *metrics;
    const struct clock_ops *clock;
    int64_t retention_ms;
    int64_t fleet_interval_ms; /* how often this instance's sse.gateways row is upserted */
    /* Open connections now, for the fleet row. */
    long (*connections)(void *ctx);
    void *connections_ctx;
};

struct sequencer *sequencer_new(const struct sequencer_deps *deps);
int sequencer_start(struct sequencer *s);
/* Resigns leadership (so another instance takes over at once), removes this
 * instance's fleet row, joins. Safe twice. */
void sequencer_stop(struct sequencer *s);
void sequencer_free(struct sequencer *s);

/* Marks the instance draining in the fleet row and resigns leadership. Any thread. */
void sequencer_set_draining(struct sequencer *s);
/* True while this instance holds the leader lock. Any thread. */
bool sequencer_is_leader(struct sequencer *s);
/* True while the sequencer's database connection is up. Any thread. */
bool sequencer_db_ok(struct sequencer *s);

/* The step: (re)connects, tries or keeps leadership, sequences one batch,
 * does due housekeeping. Returns how long to wait (ms) before the next step.
 * Sequencer thread or tests (with no thread started). */
int64_t sequencer_step(struct sequencer *s);
/* Waits up to ms, ending early on a notification ("sse#wake": a follower
 * then tries the lock at its next step), a drain or a stop. Sequencer
 * thread or tests. */
void sequencer_wait(struct sequencer *s, int64_t ms);

#endif
