/*
 * registry: streams → subscribed connections, plus the set of every
 * registered connection. One mutex guards all of it. Each stream keeps a
 * dense array of its subscribers; each registered connection carries a slot
 * (connection_registry_slot) with its index in each of its streams' arrays
 * and in the all-connections array, so removal is O(1) per stream by
 * swap-remove, even during a reconnect storm of thousands.
 *
 * Lock order: registry mutex, then connection mutex (fan-out pushes under the
 * registry lock). No socket I/O here: resumes are handed back to the caller.
 */
#include "registry.h"
#include "frame.h"
#include "xalloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct stream {
    char *name;
    uint64_t hash;
    struct connection **subs; /* dense */
    size_t len, cap;
};

/* Per registered connection: where it sits in each array. */
struct slot {
    size_t all_index;
    struct stream **streams; /* parallel to the connection's stream list */
    size_t *index;
};

struct registry {
    pthread_mutex_t mtx;
    struct stream **table; /* guarded by mtx: open addressing, linear probing */
    size_t table_cap, nstreams;
    struct connection **all; /* guarded by mtx */
    size_t nall, all_cap;
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct registry *registry_new(void)
{
    struct registry *r = xcalloc(1, sizeof *r);
    PTOK(pthread_mutex_init(&r->mtx, NULL));
    r->table_cap = 64;
    r->table = xcalloc(r->table_cap, sizeof *r->table);
    return r;
}

/* The table index holding name, or the empty index where it would go. */
static size_t probe(const struct registry *r, const char *name, uint64_t h)
{
    size_t i = h & (r->table_cap - 1);
    while (r->table[i] && (r->table[i]->hash != h || strcmp(r->table[i]->name, name) != 0))
        i = (i + 1) & (r->table_cap - 1);
    return i;
}

static struct stream *find(const struct registry *r, const char *name)
{
    return r->table[probe(r, name, hash_name(name))];
}

static void grow_table(struct registry *r)
{
    struct stream **old = r->table;
    size_t old_cap = r->table_cap;
    r->table_cap *= 2;
    r->table = xcalloc(r->table_cap, sizeof *r->table);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            r->table[probe(r, old[i]->name, old[i]->hash)] = old[i];
    free(old);
}

static struct stream *find_or_add(struct registry *r, const char *name)
{
    uint64_t h = hash_name(name);
    size_t i = probe(r, name, h);
    if (r->table[i])
        return r->table[i];
    if ((r->nstreams + 1) * 4 > r->table_cap * 3) {
        grow_table(r);
        i = probe(r, name, h);
    }
    struct stream *s = xcalloc(1, sizeof *s);
    s->name = xstrdup(name);
    s->hash = h;
    r->table[i] = s;
    r->nstreams++;
    return s;
}

/* Deletes s from the table, re-inserting the rest of its probe cluster. */
static void delete_stream(struct registry *r, struct stream *s)
{
    size_t i = probe(r, s->name, s->hash);
    assert(r->table[i] == s);
    r->table[i] = NULL;
    r->nstreams--;
    for (size_t j = (i + 1) & (r->table_cap - 1); r->table[j]; j = (j + 1) & (r->table_cap - 1)) {
        struct stream *moved = r->table[j];
        r->table[j] = NULL;
        r->table[probe(r, moved->name, moved->hash)] = moved;
    }
    free(s->subs);
    free(s->name);
    free(s);
}

/* Index of stream s in c's slot arrays. */
static size_t slot_pos(struct connection *c, struct slot *sl, struct stream *s)
{
    for (size_t k = 0; k < connection_stream_count(c); k++)
        if (sl->streams[k] == s)
            return k;
    assert(!"stream not in slot");
    return 0;
}

bool registry_add(struct registry *r, struct connection *c)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    bool ok = !connection_registry_slot(c) && !connection_is_closed(c);
    if (ok) {
        size_t n = connection_stream_count(c);
        struct slot *sl = xcalloc(1, sizeof *sl);
        sl->streams = xcalloc(n ? n : 1, sizeof *sl->streams);
        sl->index = xcalloc(n ? n : 1, sizeof *sl->index);
        for (size_t k = 0; k < n; k++) {
            struct stream *s = find_or_add(r, connection_stream(c, k));
            if (s->len == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4;
                s->subs = xrealloc(s->subs, s->cap * sizeof *s->subs);
            }
            sl->streams[k] = s;
            sl->index[k] = s->len;
            s->subs[s->len++] = c;
        }
        if (r->nall == r->all_cap) {
            r->all_cap = r->all_cap ? r->all_cap * 2 : 64;
            r->all = xrealloc(r->all, r->all_cap * sizeof *r->all);
        }
        sl->all_index = r->nall;
        r->all[r->nall++] = connection_ref(c);
        connection_set_registry_slot(c, sl);
    }
    PTOK(pthread_mutex_unlock(&r->mtx));
    return ok;
}

/* Unlinks c from every array. Registry mutex held; returns the registry's reference. */
static struct connection *unlink_locked(struct registry *r, struct connection *c)
{
    struct slot *sl = connection_registry_slot(c);
    if (!sl)
        return NULL;
    for (size_t k = 0; k < connection_stream_count(c); k++) {
        struct stream *s = sl->streams[k];
        size_t i = sl->index[k];
        struct connection *last = s->subs[--s->len];
        if (i != s->len) {
            s->subs[i] = last;
            struct slot *lsl = connection_registry_slot(last);
            lsl->index[slot_pos(last, lsl, s)] = i;
        }
        if (s->len == 0)
            delete_stream(r, s);
    }
    struct connection *last = r->all[--r->nall];
    if (sl->all_index != r->nall) {
        r->all[sl->all_index] = last;
        ((struct slot *)connection_registry_slot(last))->all_index = sl->all_index;
    }
    connection_set_registry_slot(c, NULL);
    free(sl->streams);
    free(sl->index);
    free(sl);
    return c;
}

bool registry_remove(struct registry *r, struct connection *c)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    struct connection *ref = unlink_locked(r, c);
    PTOK(pthread_mutex_unlock(&r->mtx));
    connection_unref(ref);
    return ref != NULL;
}

size_t registry_fanout(struct registry *r, const char *stream, struct frame *f, int64_t now_ms,
                       bool counts_as_event, struct conn_list *resumes, size_t *overflowed)
{
    size_t queued = 0;
    struct conn_list dead = {0};
    PTOK(pthread_mutex_lock(&r->mtx));
    struct stream *s = find(r, stream);
    for (size_t i = 0; s && i < s->len; i++) {
        struct connection *c = s->subs[i];
        switch (connection_push(c, f, now_ms, counts_as_event)) {
        case CONN_PUSH_NEEDS_RESUME:
            conn_list_push(resumes, connection_ref(c));
            /* fall through */
        case CONN_PUSH_QUEUED:
            queued++;
            break;
        case CONN_PUSH_OVERFLOW:
            conn_list_push(resumes, connection_ref(c));
            conn_list_push(&dead, connection_ref(c));
            break;
        case CONN_PUSH_CLOSED:
            break;
        }
    }
    /* Removed after the loop: removal reorders the array being walked. */
    for (size_t i = 0; i < dead.len; i++)
        connection_unref(unlink_locked(r, dead.items[i]));
    PTOK(pthread_mutex_unlock(&r->mtx));
    if (overflowed)
        *overflowed += dead.len;
    conn_list_free(&dead);
    return queued;
}

void registry_snapshot(struct registry *r, struct conn_list *out)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    for (size_t i = 0; i < r->nall; i++)
        conn_list_push(out, connection_ref(r->all[i]));
    PTOK(pthread_mutex_unlock(&r->mtx));
}

size_t registry_connection_count(struct registry *r)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    size_t n = r->nall;
    PTOK(pthread_mutex_unlock(&r->mtx));
    return n;
}

size_t registry_stream_count(struct registry *r)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    size_t n = r->nstreams;
    PTOK(pthread_mutex_unlock(&r->mtx));
    return n;
}

bool registry_stream_in_use(struct registry *r, const char *stream)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    bool used = find(r, stream) != NULL;
    PTOK(pthread_mutex_unlock(&r->mtx));
    return used;
}

void registry_each_stream(struct registry *r,
                          void (*fn)(void *arg, const char *stream, size_t subscribers), void *arg)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    for (size_t i = 0; i < r->table_cap; i++)
        if (r->table[i])
            fn(arg, r->table[i]->name, r->table[i]->len);
    PTOK(pthread_mutex_unlock(&r->mtx));
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    while (r->nall > 0)
        connection_unref(unlink_locked(r, r->all[r->nall - 1]));
    free(r->all);
    free(r->table);
    PTOK(pthread_mutex_destroy(&r->mtx));
    free(r);
}
