/*
 * sweep: the lazy UNLISTEN. Each health check asks the registry, stream by
 * stream, whether a stream channel still has a subscriber; one unused for
 * two checks in a row, with no listener_ensure in between, is forgotten and
 * UNLISTENed (in batches). Ten thousand channels take a while (the
 * registry's lock each), so the sweep goes in slices with the notifications
 * and the inbox served in between: neither live events nor subscribers
 * waiting for a LISTEN wait for the whole sweep.
 *
 * Thread: the listener's (or a test's with no loop). The lock rules are in
 * listener_internal.h; this is the only code that frees channels.
 *
 * Does not: decide when to sweep (the health check does), or build SQL.
 */
#include "listener/listener_internal.h"
#include "common/xalloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define SWEEP_SLICE 256 /* channels looked at between two services */

/* One slice of sweep_unused: cs[0..n) with their ensure counts then. */
static void forget_slice(struct listener *l, struct channel **cs, const uint64_t *ensured, size_t n)
{
    bool used[SWEEP_SLICE];
    assert(n <= SWEEP_SLICE);
    for (size_t i = 0; i < n; i++)
        used[i] = l->deps.stream_in_use(l->deps.stream_ctx, cs[i]->name);
    struct channel *gone[SWEEP_SLICE], *listened[SWEEP_SLICE];
    size_t ngone = 0, nlistened = 0;
    PTOK(pthread_mutex_lock(&l->mtx));
    for (size_t i = 0; i < n; i++) {
        struct channel *c = cs[i];
        c->idle_checks = used[i] || c->ensured != ensured[i] ? 0 : c->idle_checks + 1;
        if (c->idle_checks >= 2) {
            channels_remove(l->channels, c);
            gone[ngone++] = c;
            if (c->listened)
                listened[nlistened++] = c;
        }
    }
    if (ngone)
        channels_counted(l);
    PTOK(pthread_mutex_unlock(&l->mtx));
    /* Now, before the inbox runs again: a subscriber that comes back adds a
     * new channel of the same name, whose LISTEN must follow this UNLISTEN. */
    if (nlistened)
        listener_channels_sql(l, "UNLISTEN", listened, nlistened); /* a failure drops it */
    for (size_t i = 0; i < ngone; i++)
        channel_free(gone[i]);
}

/* stream_in_use is asked with mtx released, and the ensure counter tells
 * whether its answer went stale meanwhile. Channels age only while
 * connected: a new subscriber's connect may wait in the dispatcher until the
 * database is back, and must find its channel then. Only this frees
 * channels, so the snapshot's pointers hold across the slices. */
void sweep_unused(struct listener *l)
{
    if (!l->deps.stream_in_use || !l->conn)
        return;
    size_t n;
    PTOK(pthread_mutex_lock(&l->mtx));
    struct channel **cs = channels_streams(l->channels, &n);
    uint64_t *ensured = xcalloc(n ? n : 1, sizeof *ensured);
    for (size_t i = 0; i < n; i++)
        ensured[i] = cs[i]->ensured;
    PTOK(pthread_mutex_unlock(&l->mtx));
    for (size_t at = 0; at < n && l->conn; at += SWEEP_SLICE) {
        if (at > 0)
            listener_service(l);
        if (l->conn)
            forget_slice(l, cs + at, ensured + at, n - at < SWEEP_SLICE ? n - at : SWEEP_SLICE);
    }
    free(ensured);
    free(cs);
}
