/*
 * registry: stream name → subscribed connections, plus the set of every
 * registered connection. One mutex guards all of it; any thread may call in.
 *
 * Streams live in a hash table (common/hash_table.h), seeded per table
 * because stream names come from clients; each stream keeps a dense array of
 * (connection, index into that connection's stream list) entries. Each
 * registered connection carries a slot (connection_registry_slot) that records
 * where it sits in each of its streams' arrays and in the all-connections
 * array, so removal is O(1) per stream by swap-remove, fixing up the moved
 * entry's slot directly: a reconnect storm of 20k connections stays linear.
 * A stream is deleted when its last subscriber leaves.
 *
 * Lock order: registry mutex, then connection mutex (fan-out pushes and
 * registry_add's closed check take connection locks inside ours). No socket
 * I/O happens here: connections that need a resume are handed back to the
 * caller, who resumes them after we unlock.
 *
 * Does not: decide what to deliver (the dispatcher does), own connections
 * beyond one reference each, or drop a last reference under its lock.
 */
#include "registry/registry.h"
#include "common/frame.h"
#include "common/hash_table.h"
#include "common/xalloc.h"
#define SSE_REGISTRY_INTERNAL /* this file owns the registry's slot */
#include "registry/registry_slot.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_MAGIC 0x534c4f54u /* "SLOT" */
#define SUBS_MIN   4

/* One subscriber of a stream: k is the stream's index in c's stream list,
 * which is also the index of this entry's link in c's slot. */
struct entry {
    struct connection *c;
    size_t k;
};

struct stream {
    struct entry *subs; /* dense */
    size_t len, cap;
    char name[]; /* the table's key */
};

struct link {
    struct stream *s; /* NULL for a name the connection lists twice */
    size_t index;     /* of the connection's entry in s->subs */
};

/* Per registered connection: where it sits in every array. */
struct slot {
    unsigned magic;
    struct registry *owner; /* a connection is registered in one registry at most */
    size_t all_index;
    size_t nlinks;
    struct link links[]; /* parallel to the connection's stream list */
};

struct registry {
    pthread_mutex_t mtx;
    struct hash_table *streams; /* guarded by mtx: name → struct stream */
    struct connection **all;    /* guarded by mtx: dense, one reference each */
    size_t nall, all_cap;       /* guarded by mtx */
};

/* Lock-held invariant check: trylock fails on a mutex held by anyone. */
static void assert_held(struct registry *r)
{
    assert(pthread_mutex_trylock(&r->mtx) == EBUSY);
    (void)r;
}

struct registry *registry_new(void)
{
    struct registry *r = xcalloc(1, sizeof *r);
    PTOK(pthread_mutex_init(&r->mtx, NULL));
    r->streams = hash_table_new();
    return r;
}

static struct stream *find(const struct registry *r, const char *name)
{
    return hash_table_find(r->streams, name);
}

static struct stream *find_or_add(struct registry *r, const char *name)
{
    struct stream *s = find(r, name);
    if (s)
        return s;
    size_t len = strlen(name);
    s = xcalloc(1, sizeof *s + len + 1);
    memcpy(s->name, name, len + 1);
    hash_table_insert(r->streams, s->name, s);
    return s;
}

static void delete_stream(struct registry *r, struct stream *s)
{
    assert(s->len == 0);
    struct stream *removed = hash_table_remove(r->streams, s->name);
    assert(removed == s);
    (void)removed;
    free(s->subs);
    free(s);
}

static struct slot *slot_of(const struct connection *c)
{
    struct slot *sl = connection_registry_slot(c);
    assert(!sl || sl->magic == SLOT_MAGIC);
    return sl;
}

bool registry_add(struct registry *r, struct connection *c)
{
    PTOK(pthread_mutex_lock(&r->mtx));
    /* The closed check under our lock settles a close racing with this add:
     * the HTTP layer marks the connection gone before calling registry_remove,
     * so either we see it closed here, or its remove comes after this add. */
    bool ok = !connection_registry_slot(c) && !connection_is_closed(c);
    if (!ok)
        goto out;
    size_t n = connection_stream_count(c);
    struct slot *sl = xmalloc(sizeof *sl + n * sizeof sl->links[0]);
    sl->magic = SLOT_MAGIC;
    sl->owner = r;
    sl->nlinks = n;
    for (size_t k = 0; k < n; k++) {
        struct stream *s = find_or_add(r, connection_stream(c, k));
        /* A name listed twice: entries for c were all appended in this call,
         * so an earlier one is the last entry. Deliver once. */
        if (s->len > 0 && s->subs[s->len - 1].c == c) {
            sl->links[k] = (struct link){NULL, 0};
            continue;
        }
        if (s->len == s->cap) {
            s->cap = s->cap ? s->cap * 2 : SUBS_MIN;
            s->subs = xrealloc(s->subs, s->cap * sizeof *s->subs);
        }
        sl->links[k] = (struct link){s, s->len};
        s->subs[s->len++] = (struct entry){c, k};
    }
    if (r->nall == r->all_cap) {
        r->all_cap = r->all_cap ? r->all_cap * 2 : 64;
        r->all = xrealloc(r->all, r->all_cap * sizeof *r->all);
    }
    sl->all_index = r->nall;
    r->all[r->nall++] = connection_ref(c);
    connection_set_registry_slot(c, sl);
out:
    PTOK(pthread_mutex_unlock(&r->mtx));
    return ok;
}

/* Swap-removes entry i of s, fixing the moved entry's link; deletes s once empty. */
static void remove_entry(struct registry *r, struct stream *s, size_t i)
{
    assert(i < s->len);
    s->len--;
    if (i != s->len) {
        struct entry moved = s->subs[s->len];
        s->subs[i] = moved;
        struct slot *msl = slot_of(moved.c);
        assert(msl->links[moved.k].s == s && msl->links[moved.k].index == s->len);
        msl->links[moved.k].index = i;
    }
    if (s->len == 0) {
        delete_stream(r, s);
    } else if (s->cap > SUBS_MIN && s->len * 4 < s->cap) {
        s->cap /= 2;
        s->subs = xrealloc(s->subs, s->cap * sizeof *s->subs);
    }
}

/* Unlinks c from every array. Registry mutex held. Returns the registry's
 * reference to c, for the caller to drop after unlocking; NULL if c was not
 * registered here. */
static struct connection *unlink_locked(struct registry *r, struct connection *c)
{
    assert_held(r);
    struct slot *sl = slot_of(c);
    if (!sl || sl->owner != r)
        return NULL;
    assert(sl->all_index < r->nall && r->all[sl->all_index] == c);
    for (size_t k = 0; k < sl->nlinks; k++) {
        struct stream *s = sl->links[k].s;
        if (!s)
            continue;
        assert(s->subs[sl->links[k].index].c == c && s->subs[sl->links[k].index].k == k);
        remove_entry(r, s, sl->links[k].index);
    }
    r->nall--;
    if (sl->all_index != r->nall) {
        struct connection *moved = r->all[r->nall];
        r->all[sl->all_index] = moved;
        slot_of(moved)->all_index = sl->all_index;
    }
    connection_set_registry_slot(c, NULL);
    sl->magic = 0;
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
                       int64_t position, struct conn_list *resumes, size_t *overflowed)
{
    size_t queued = 0;
    struct conn_list dead = {0};
    PTOK(pthread_mutex_lock(&r->mtx));
    struct stream *s = find(r, stream);
    for (size_t i = 0; s && i < s->len; i++) {
        struct connection *c = s->subs[i].c;
        enum conn_push_result pushed = position > 0 ? connection_push_event(c, f, now_ms, position)
                                                    : connection_push(c, f, now_ms, true);
        switch (pushed) {
        case CONN_PUSH_NEEDS_RESUME:
            conn_list_push(resumes, connection_ref(c));
            queued++;
            break;
        case CONN_PUSH_QUEUED:
            queued++;
            break;
        case CONN_PUSH_OVERFLOW:
            conn_list_push(resumes, connection_ref(c));
            conn_list_push(&dead, c); /* takes over the registry's reference below */
            break;
        case CONN_PUSH_CLOSED:
        case CONN_PUSH_SKIPPED:
            break;
        }
    }
    /* Removed after the loop: removal reorders (and may free) the array being walked. */
    for (size_t i = 0; i < dead.len; i++) {
        struct connection *ref = unlink_locked(r, dead.items[i]);
        assert(ref == dead.items[i]);
        (void)ref;
    }
    PTOK(pthread_mutex_unlock(&r->mtx));
    if (overflowed)
        *overflowed += dead.len;
    /* Drops the registry's references, outside the lock. */
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
    size_t n = hash_table_count(r->streams);
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
    size_t at = 0;
    for (const struct stream *s; (s = hash_table_next(r->streams, &at));)
        fn(arg, s->name, s->len);
    PTOK(pthread_mutex_unlock(&r->mtx));
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    struct conn_list refs = {0};
    PTOK(pthread_mutex_lock(&r->mtx));
    while (r->nall > 0)
        conn_list_push(&refs, unlink_locked(r, r->all[r->nall - 1]));
    assert(hash_table_count(r->streams) == 0);
    PTOK(pthread_mutex_unlock(&r->mtx));
    conn_list_free(&refs);
    free(r->all);
    hash_table_free(r->streams);
    PTOK(pthread_mutex_destroy(&r->mtx));
    free(r);
}
