/*
 * Unit tests of the hash table: a table of steps (insert, find, remove,
 * count) over awkward keys; growth and shrinking; iteration that visits each
 * entry once; the seed changing the layout; and a randomized run against a
 * plain array as the reference, on small key sets so that probe runs wrap
 * around the array's end and deletions shift them back.
 */
#include "check.h"
#include "common/hash_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values are addresses in here; value n stands for &values[n], 0 for NULL. */
static int values[64];

static void *val(int n)
{
    return n ? &values[n] : NULL;
}

static void test_steps(void)
{
    static const struct {
        char op; /* i: insert, f: find, r: remove, n: count */
        const char *key;
        int n; /* i: the value; f, r: the value wanted; n: the count wanted */
    } steps[] = {
        {'f', "a", 0},        {'r', "a", 0},
        {'n', NULL, 0},       {'i', "a", 1},
        {'f', "a", 1},        {'f', "b", 0},
        {'f', "", 0},         {'i', "", 2}, /* the empty key is a key like any other */
        {'f', "", 2},         {'i', "ab", 3},
        {'i', "ba", 4}, /* the same bytes in another order */
        {'i', "a\xff", 5},    {'i', "room:1", 6},
        {'i', "room:10", 7}, /* a prefix of another key */
        {'n', NULL, 7},       {'f', "ab", 3},
        {'f', "ba", 4},       {'f', "a\xff", 5},
        {'f', "a\x7f", 0},    {'f', "room:1", 6},
        {'f', "room:10", 7},  {'f', "room:", 0},
        {'f', "room:100", 0}, {'r', "room:1", 6},
        {'f', "room:1", 0},   {'f', "room:10", 7},
        {'r', "room:1", 0}, /* twice */
        {'i', "room:1", 8}, /* back, with another value */
        {'f', "room:1", 8},   {'r', "a", 1},
        {'r', "", 2},         {'f', "ab", 3},
        {'n', NULL, 5},       {'r', "ab", 3},
        {'r', "ba", 4},       {'r', "a\xff", 5},
        {'r', "room:1", 8},   {'r', "room:10", 7},
        {'n', NULL, 0},       {'f', "room:10", 0},
    };
    struct hash_table *t = hash_table_new();
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        bool ok = true;
        switch (steps[k].op) {
        case 'i':
            hash_table_insert(t, steps[k].key, val(steps[k].n));
            break;
        case 'f':
            ok = hash_table_find(t, steps[k].key) == val(steps[k].n);
            break;
        case 'r':
            ok = hash_table_remove(t, steps[k].key) == val(steps[k].n);
            break;
        case 'n':
            ok = hash_table_count(t) == (size_t)steps[k].n;
            break;
        }
        if (!ok)
            fprintf(stderr, "step %zu (%c \"%s\" %d) failed\n", k, steps[k].op,
                    steps[k].key ? steps[k].key : "", steps[k].n);
        CHECK(ok);
    }
    hash_table_free(t);
    hash_table_free(NULL);
}

/* The key borrowed by the table must be the caller's: here each is a copy
 * that lives in its value, as the table's users store them. */
struct item {
    int visits;
    char name[16];
};

static void test_grow_shrink_iterate(void)
{
    enum { N = 5000 };
    struct item *items = calloc(N, sizeof *items);
    struct hash_table *t = hash_table_new();
    CHECK_EQ(hash_table_capacity(t), 0); /* nothing allocated before the first insert */
    size_t at = 0;
    CHECK(hash_table_next(t, &at) == NULL);
    bool load_ok = true;
    for (int i = 0; i < N; i++) {
        snprintf(items[i].name, sizeof items[i].name, "s%d", i);
        hash_table_insert(t, items[i].name, &items[i]);
        load_ok &= hash_table_count(t) * 4 <= hash_table_capacity(t) * 3;
    }
    CHECK(load_ok);
    CHECK_EQ(hash_table_count(t), N);
    CHECK_EQ(hash_table_capacity(t), 8192);
    at = 0;
    size_t visited = 0;
    for (struct item *it; (it = hash_table_next(t, &at));) {
        it->visits++;
        visited++;
    }
    CHECK_EQ(visited, N);
    bool each_once = true, found = true;
    for (int i = 0; i < N; i++) {
        each_once &= items[i].visits == 1;
        char key[16];
        snprintf(key, sizeof key, "s%d", i); /* another copy of the key */
        found &= hash_table_find(t, key) == &items[i];
    }
    CHECK(each_once);
    CHECK(found);
    /* Removing all but a few shrinks the array with the load kept at 1/8 or more. */
    bool shrink_ok = true;
    for (int i = 0; i < N - 3; i++) {
        shrink_ok &= hash_table_remove(t, items[i].name) == &items[i];
        size_t cap = hash_table_capacity(t);
        shrink_ok &= cap == 16 || hash_table_count(t) * 8 >= cap;
    }
    CHECK(shrink_ok);
    CHECK_EQ(hash_table_count(t), 3);
    CHECK_EQ(hash_table_capacity(t), 16);
    for (int i = N - 3; i < N; i++)
        CHECK(hash_table_find(t, items[i].name) == &items[i]);
    for (int i = N - 3; i < N; i++)
        CHECK(hash_table_remove(t, items[i].name) == &items[i]);
    CHECK_EQ(hash_table_count(t), 0);
    at = 0;
    CHECK(hash_table_next(t, &at) == NULL);
    hash_table_free(t);
    free(items);
}

/* The order of iteration follows the slots, so it shows the layout: the
 * same keys under different seeds must not all land in the same places. */
static void first_keys(uint64_t seed, char *out, size_t size)
{
    static char names[12][8];
    struct hash_table *t = hash_table_new_seeded(seed);
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        hash_table_insert(t, names[i], names[i]);
    }
    out[0] = '\0';
    size_t at = 0;
    for (const char *k; (k = hash_table_next(t, &at));)
        snprintf(out + strlen(out), size - strlen(out), "%s ", k);
    hash_table_free(t);
}

static void test_seed_changes_layout(void)
{
    char a[128], b[128], c[128];
    first_keys(1, a, sizeof a);
    first_keys(1, b, sizeof b);
    CHECK_STR(a, b); /* the same seed, the same layout */
    int differ = 0;
    for (uint64_t seed = 2; seed < 10; seed++) {
        first_keys(seed, c, sizeof c);
        differ += strcmp(a, c) != 0;
    }
    CHECK(differ >= 7);
    struct hash_table *t1 = hash_table_new(), *t2 = hash_table_new();
    char k1[] = "x", k2[] = "x";
    hash_table_insert(t1, k1, k1);
    hash_table_insert(t2, k2, k2);
    CHECK(hash_table_find(t1, "x") == k1 && hash_table_find(t2, "x") == k2);
    hash_table_free(t1);
    hash_table_free(t2);
}

/* xorshift64*: a repeatable stream of random numbers. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Random inserts, finds and removes over nkeys keys, checked against a
 * plain array, with a full comparison every so often. The insert share
 * swings between phases, so the table fills, empties and resizes. */
static void random_run(uint64_t seed, int nkeys, int ops)
{
    enum { MAX_KEYS = 400 };
    static char keys[MAX_KEYS][12];
    static bool present[MAX_KEYS];
    static int seen[MAX_KEYS];
    struct hash_table *t = hash_table_new_seeded(seed);
    uint64_t rnd = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int k = 0; k < nkeys; k++) {
        snprintf(keys[k], sizeof keys[k], "%c%d", 'a' + k % 3, k);
        present[k] = false;
    }
    size_t count = 0;
    bool ok = true;
    for (int op = 0; op < ops && ok; op++) {
        int k = (int)(next_random(&rnd) % (uint64_t)nkeys);
        unsigned insert_share = (op / 2000) % 2 ? 30 : 70; /* percent */
        unsigned roll = (unsigned)(next_random(&rnd) % 100);
        if (roll < insert_share) {
            if (!present[k]) {
                hash_table_insert(t, keys[k], keys[k]);
                present[k] = true;
                count++;
            }
            ok &= hash_table_find(t, keys[k]) == keys[k];
        } else if (roll < insert_share + 15) {
            ok &= hash_table_find(t, keys[k]) == (present[k] ? keys[k] : NULL);
        } else {
            ok &= hash_table_remove(t, keys[k]) == (present[k] ? keys[k] : NULL);
            count -= present[k];
            present[k] = false;
            ok &= hash_table_find(t, keys[k]) == NULL;
        }
        ok &= hash_table_count(t) == count;
        if (op % 97 == 0) {
            memset(seen, 0, sizeof seen);
            size_t at = 0, visited = 0;
            for (char *v; (v = hash_table_next(t, &at));) {
                int i = (int)(v - keys[0]) / (int)sizeof keys[0];
                ok &= i >= 0 && i < nkeys && present[i] && ++seen[i] == 1;
                visited++;
            }
            ok &= visited == count;
            for (int i = 0; i < nkeys; i++)
                ok &= hash_table_find(t, keys[i]) == (present[i] ? keys[i] : NULL);
        }
        if (!ok)
            fprintf(stderr, "random run (seed %llu, %d keys) diverged at op %d\n",
                    (unsigned long long)seed, nkeys, op);
    }
    CHECK(ok);
    hash_table_free(t);
}

static void test_random_against_reference(void)
{
    static const struct {
        uint64_t seed;
        int nkeys, ops;
    } runs[] = {
        {1, 3, 2000},    /* at most 3 entries: always the smallest array */
        {2, 13, 20000},  /* around the first growth (12 of 16) */
        {3, 13, 20000},  /* the same with another layout */
        {4, 40, 30000},  /* a few resizes back and forth */
        {5, 400, 60000}, /* many resizes */
        {6, 100, 30000},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        random_run(runs[i].seed, runs[i].nkeys, runs[i].ops);
}

int main(void)
{
    test_steps();
    test_grow_shrink_iterate();
    test_seed_changes_layout();
    test_random_against_reference();
    return CHECK_DONE();
}
