/*
 * channels: the listener's set of LISTEN channels, name → struct channel
 * over common/hash_table: the two fixed channels (CHANNEL_EVENTS and
 * CHANNEL_NOTIFY) and one per stream that a subscriber asked for through
 * listener_ensure, until a health check finds it unused and forgets it.
 *
 * Threads: any, with the listener's mtx held (listener_ensure on its
 * caller's thread, the steps on the listener thread); the set is made in
 * listener_new and freed in listener_free. The lock rules are in
 * listener_internal.h.
 *
 * The set holds at most deps.max_channels stream channels (--max-listen-
 * channels): PostgreSQL looks a channel up in a list, for every LISTEN and
 * every notification, so each one costs the database and the listener's
 * round trips. A stream refused a channel still gets its durable events and
 * sse.notify(), which travel on the two fixed channels; only raw NOTIFY on
 * its name misses it.
 *
 * Does not: run LISTEN or UNLISTEN, or decide when a channel is forgotten
 * (listener.c does both).
 */
#include "listener/listener_internal.h"
#include "common/clock.h"
#include "common/hash_table.h"
#include "common/metrics.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct channel *add(struct hash_table *set, const char *name, bool fixed)
{
    size_t len = strlen(name);
    struct channel *c = xcalloc(1, sizeof *c + len + 1);
    memcpy(c->name, name, len + 1);
    c->fixed = fixed;
    hash_table_insert(set, c->name, c);
    return c;
}

struct hash_table *channels_new(void)
{
    struct hash_table *set = hash_table_new();
    add(set, CHANNEL_EVENTS, true);
    add(set, CHANNEL_NOTIFY, true);
    return set;
}

void channels_free(struct hash_table *set)
{
    size_t at = 0;
    for (struct channel *c; (c = hash_table_next(set, &at));)
        channel_free(c); /* the table does not read its values */
    hash_table_free(set);
}

struct channel *channels_find(struct hash_table *set, const char *name)
{
    return hash_table_find(set, name);
}

struct channel *channels_add(struct hash_table *set, const char *name)
{
    return add(set, name, false);
}

void channels_remove(struct hash_table *set, struct channel *c)
{
    struct channel *removed = hash_table_remove(set, c->name);
    assert(removed == c && "channel not in its set");
    (void)removed;
}

size_t channels_count(const struct hash_table *set)
{
    return hash_table_count(set);
}

void channel_free(struct channel *c)
{
    free(c);
}

/* The channels that pass want(), as an array the caller frees. */
static struct channel **collect(const struct hash_table *set, bool (*want)(const struct channel *),
                                size_t *n)
{
    struct channel **out = xcalloc(hash_table_count(set), sizeof(struct channel *));
    *n = 0;
    size_t at = 0;
    for (struct channel *c; (c = hash_table_next(set, &at));)
        if (want(c))
            out[(*n)++] = c;
    return out;
}

static bool not_listened(const struct channel *c)
{
    return !c->listened;
}

static bool is_stream(const struct channel *c)
{
    return !c->fixed;
}

struct channel **channels_unlistened(const struct hash_table *set, size_t *n)
{
    return collect(set, not_listened, n);
}

struct channel **channels_streams(const struct hash_table *set, size_t *n)
{
    return collect(set, is_stream, n);
}

void channels_unlisten_all(struct hash_table *set)
{
    size_t at = 0;
    for (struct channel *c; (c = hash_table_next(set, &at));)
        c->listened = false;
}

#define CAP_LOG_EVERY_MS 60000 /* a cap reached again and again: at most a line a minute */

struct channel *channels_admit(struct listener *l, const char *name)
{
    struct channel *c = channels_find(l->channels, name);
    if (c)
        return c;
    size_t streams = channels_count(l->channels) - FIXED_CHANNELS;
    if (streams >= (size_t)l->deps.max_channels) {
        metrics_add(&l->deps.metrics->listen_channels_refused, 1);
        if (!l->at_cap &&
            log_budget_take_at(&l->cap_warn, 1, CAP_LOG_EVERY_MS, clock_now_ms(l->deps.clock)))
            log_warn("listener",
                     "%zu stream channels LISTENed, the --max-listen-channels cap: new streams "
                     "get durable events and sse.notify() but not raw NOTIFY until some are "
                     "unused (counted in sse_gateway_listen_channels_refused_total)",
                     streams);
        l->at_cap = true;
        return NULL;
    }
    c = channels_add(l->channels, name);
    atomic_store(&l->deps.metrics->listen_channels, (int64_t)streams + 1);
    return c;
}

void channels_counted(struct listener *l)
{
    size_t streams = channels_count(l->channels) - FIXED_CHANNELS;
    atomic_store(&l->deps.metrics->listen_channels, (int64_t)streams);
    if (streams < (size_t)l->deps.max_channels)
        l->at_cap = false;
}
