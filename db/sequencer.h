/*
 * sequencer: the leader role and the fleet bookkeeping, on a connection of
 * its own. Publishers insert into sse.outbox; the one instance holding the
 * advisory lock moves committed outbox rows into sse.events, whole
 * transactions at a time, with consecutive positions, one batch per
 * transaction, and NOTIFYs "sse#events" when a batch commits (docs/DESIGN.md, The delivery
 * guarantee). While busy it polls back to back; only when idle does it sleep and ask publishers to
 * wake it ("sse#wake"), so concurrent publishers do not serialize on NOTIFY's commit lock. Every
 * instance also upserts its row in sse.gateways; the leader prunes retention and stale fleet rows.
 */
#ifndef SSE_SEQUENCER_H
#define SSE_SEQUENCER_H

#include <stdbool.h>
#include <stdint.h>

struct sequencer;
struct metrics;
struct clock_ops;

struct sequencer_deps {
    const char *conninfo;
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
 * does due housekeeping. Returns how long to wait (ms) before the next step;
 * the wait ends early on a "sse#wake" notification. Sequencer thread or tests. */
int64_t sequencer_step(struct sequencer *s);

#endif
