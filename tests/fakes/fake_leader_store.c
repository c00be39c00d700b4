/* fake_leader_store: each call counts itself, fails if told to, then does
 * what its SQL would to the state in memory. */
#include "fakes/fake_leader_store.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Counts the call; true if it is to fail (the connection closes, unless it
 * is the vacuum, which fails softly). */
static bool failing(struct fake_leader_store *f, enum fake_leader_call call)
{
    f->calls[call]++;
    assert(call == FLS_CONNECT || f->connected);
    if (!(f->fail & (1u << call)))
        return false;
    if (call != FLS_VACUUM) {
        f->connected = false;
        f->locked = false;
    }
    return true;
}

static int fls_connect(void *ctx, bool *may_vacuum)
{
    struct fake_leader_store *f = ctx;
    f->connected = false;
    f->locked = false;
    if (failing(f, FLS_CONNECT))
        return -1;
    f->connected = true;
    *may_vacuum = !f->not_owner;
    return 0;
}

static int try_lock(void *ctx)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_TRY_LOCK))
        return -1;
    if (!f->other_leader)
        f->locked = true;
    return f->locked;
}

static int watch(void *ctx, struct leader_watch *w)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_WATCH))
        return -1;
    memset(w, 0, sizeof *w);
    if (f->other_leader) {
        *w = f->other;
    } else if (f->locked) {
        w->holder_gateway = true;
        w->holder_pid = 1;
        snprintf(w->holder_app, sizeof w->holder_app, "sse-gateway-sequencer");
    }
    w->held = f->other_leader || f->locked;
    w->head = f->sequenced + (f->other_leader ? f->other.head : 0);
    w->outbox_pending = f->outbox > 0;
    return 0;
}

static int resign(void *ctx)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_RESIGN))
        return -1;
    f->locked = false;
    return 0;
}

static long sequence_batch(void *ctx, size_t max_bytes, stored_event_fn fn, void *arg)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_SEQUENCE_BATCH))
        return -1;
    long moved = f->outbox < f->batch_rows ? f->outbox : f->batch_rows;
    f->outbox -= moved;
    f->sequenced += moved;
    if (moved > 0)
        f->leader_sleeping = false; /* as sse._sequence_rows() does */
    f->last_max_bytes = max_bytes;
    /* Then, committed, the events: stream "s", data "event <position>"
     * padded with '.' to data_bytes. */
    static char data[FAKE_LEADER_DATA_MAX];
    size_t bytes = 0;
    for (int64_t p = f->sequenced - moved + 1; p <= f->sequenced; p++) {
        int len = snprintf(data, sizeof data, "event %lld", (long long)p);
        assert(f->data_bytes < sizeof data);
        if ((size_t)len < f->data_bytes) {
            memset(data + len, '.', f->data_bytes - (size_t)len);
            len = (int)f->data_bytes;
            data[len] = '\0';
        }
        bytes += (size_t)len;
        struct stored_event ev = {.position = p,
                                  .stream = "s",
                                  .data = bytes <= max_bytes ? data : NULL,
                                  .data_len = bytes <= max_bytes ? (size_t)len : 0,
                                  .published_us = p};
        fn(arg, &ev);
    }
    return moved;
}

static int set_sleeping(void *ctx)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_SET_SLEEPING))
        return -1;
    f->leader_sleeping = true;
    return 0;
}

static int upsert_fleet_row(void *ctx, const struct fleet_row *row)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_UPSERT_FLEET_ROW))
        return -1;
    f->has_row = true;
    snprintf(f->row_id, sizeof f->row_id, "%s", row->instance_id);
    f->row = *row;
    f->row.instance_id = NULL;
    return 0;
}

static int remove_fleet_row(void *ctx, const char *instance_id)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_REMOVE_FLEET_ROW))
        return -1;
    if (f->has_row && strcmp(f->row_id, instance_id) == 0)
        f->has_row = false;
    return 0;
}

static long prune(void *ctx, int64_t retention_ms, int64_t stale_ms)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_PRUNE))
        return -1;
    f->retention_ms = retention_ms;
    f->stale_ms = stale_ms;
    long pruned = f->prunable;
    f->prunable = 0;
    return pruned;
}

static int vacuum(void *ctx)
{
    return failing(ctx, FLS_VACUUM) ? -1 : 0;
}

static int sample_lag(void *ctx, int64_t *lag_us, int64_t *notify_ppm)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_SAMPLE_LAG))
        return -1;
    *lag_us = f->lag_us;
    *notify_ppm = f->notify_ppm;
    return 0;
}

static int fls_socket(void *ctx)
{
    struct fake_leader_store *f = ctx;
    f->calls[FLS_SOCKET]++; /* cannot fail */
    assert(f->connected);
    return f->socket_fd;
}

static int notifications(void *ctx)
{
    struct fake_leader_store *f = ctx;
    if (failing(f, FLS_NOTIFICATIONS))
        return -1;
    int n = f->notifications;
    f->notifications = 0;
    return n;
}

void fake_leader_store_init(struct fake_leader_store *f)
{
    memset(f, 0, sizeof *f);
    f->batch_rows = 1000;
    f->socket_fd = -1;
    f->leader_sleeping = true;
    f->other.holder_gateway = true;
    f->other.holder_pid = 4242;
    snprintf(f->other.holder_user, sizeof f->other.holder_user, "sse");
    snprintf(f->other.holder_app, sizeof f->other.holder_app, "sse-gateway-sequencer");
    f->ops = (struct leader_store_ops){
        .connect = fls_connect,
        .try_lock = try_lock,
        .watch = watch,
        .resign = resign,
        .sequence_batch = sequence_batch,
        .set_sleeping = set_sleeping,
        .upsert_fleet_row = upsert_fleet_row,
        .remove_fleet_row = remove_fleet_row,
        .prune = prune,
        .vacuum = vacuum,
        .sample_lag = sample_lag,
        .socket = fls_socket,
        .notifications = notifications,
        .ctx = f,
    };
}
