/*
 * hash_table: open addressing over one array of (hash, key, value) slots,
 * with linear probing and backward-shift deletion (no tombstones, so a table
 * that churns never fills up with dead slots). Storing the hash in the slot
 * means a probe past another key costs no pointer chase and no strcmp.
 *
 * The load stays between 1/8 and 3/4: an insert that would pass 3/4 doubles
 * the array, a remove that leaves less than 1/8 halves it (down to MIN_CAP),
 * so the table follows a reconnect storm up and back down without
 * thrashing between the two.
 *
 * The hash is FNV-1a started from a per-table secret basis, then a 64-bit
 * finalizer so that the low bits (the index) depend on every byte: without
 * the seed, names that all land in one probe run could be prepared in
 * advance.
 *
 * Thread: none of its own and no locking; the owner guards it. Does not:
 * copy or free keys and values.
 */
#include "common/hash_table.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MIN_CAP 16

struct slot {
    uint64_t hash;
    const char *key;
    void *value; /* NULL: the slot is empty */
};

struct hash_table {
    struct slot *slots; /* cap of them, a power of two; NULL until the first insert */
    size_t cap, count;
    uint64_t seed; /* fixed after creation */
};

static uint64_t hash_key(uint64_t seed, const char *key)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

struct hash_table *hash_table_new_seeded(uint64_t seed)
{
    struct hash_table *t = xcalloc(1, sizeof *t);
    t->seed = seed;
    return t;
}

struct hash_table *hash_table_new(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        /* No entropy yet (early boot): a guess that still differs per run. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&seed;
    }
    return hash_table_new_seeded(seed);
}

void hash_table_free(struct hash_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

/* The index of key's slot, or of the empty slot where it would go. */
static inline size_t probe(const struct hash_table *t, const char *key, uint64_t h)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)h & mask;
    while (t->slots[i].value && (t->slots[i].hash != h || strcmp(t->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

void *hash_table_find(const struct hash_table *t, const char *key)
{
    if (t->count == 0)
        return NULL;
    return t->slots[probe(t, key, hash_key(t->seed, key))].value;
}

/* Moves every entry into a fresh array of cap slots. Keys are distinct, so
 * each one goes to the first empty slot from its home without a compare. */
static void resize(struct hash_table *t, size_t cap)
{
    struct slot *old = t->slots;
    size_t old_cap = t->cap;
    t->slots = xcalloc(cap, sizeof *t->slots);
    t->cap = cap;
    for (size_t k = 0; k < old_cap; k++) {
        if (!old[k].value)
            continue;
        size_t i = (size_t)old[k].hash & (cap - 1);
        while (t->slots[i].value)
            i = (i + 1) & (cap - 1);
        t->slots[i] = old[k];
    }
    free(old);
}

void hash_table_insert(struct hash_table *t, const char *key, void *value)
{
    assert(key && value);
    if ((t->count + 1) * 4 > t->cap * 3)
        resize(t, t->cap ? t->cap * 2 : MIN_CAP);
    uint64_t h = hash_key(t->seed, key);
    size_t i = probe(t, key, h);
    assert(!t->slots[i].value); /* the key is absent */
    t->slots[i] = (struct slot){h, key, value};
    t->count++;
}

void *hash_table_remove(struct hash_table *t, const char *key)
{
    if (t->count == 0)
        return NULL;
    size_t mask = t->cap - 1;
    size_t hole = probe(t, key, hash_key(t->seed, key));
    void *value = t->slots[hole].value;
    if (!value)
        return NULL;
    /* Backward shift: each later entry of the probe run moves into the hole
     * unless its home lies cyclically in (hole, j], where it must stay for a
     * probe from its home to reach it. */
    for (size_t j = (hole + 1) & mask; t->slots[j].value; j = (j + 1) & mask) {
        size_t home = (size_t)t->slots[j].hash & mask;
        bool stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole] = (struct slot){0};
    t->count--;
    if (t->cap > MIN_CAP && t->count * 8 < t->cap)
        resize(t, t->cap / 2);
    return value;
}

size_t hash_table_count(const struct hash_table *t)
{
    return t->count;
}

size_t hash_table_capacity(const struct hash_table *t)
{
    return t->cap;
}

void *hash_table_next(const struct hash_table *t, size_t *at)
{
    while (*at < t->cap) {
        void *value = t->slots[(*at)++].value;
        if (value)
            return value;
    }
    return NULL;
}
