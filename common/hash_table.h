/*
 * hash_table: string keys to borrowed pointers, seeded against names chosen
 * to collide (stream names come from clients). It grows and shrinks with its
 * contents; it owns only its own array: keys and values belong to the caller.
 * No locking: the owner guards it.
 */
#ifndef SSE_HASH_TABLE_H
#define SSE_HASH_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct hash_table;

/* An empty table with a random seed. Free it with hash_table_free(). */
struct hash_table *hash_table_new(void);
/* The same with a given seed, for tests that need a repeatable layout. */
struct hash_table *hash_table_new_seeded(uint64_t seed);
/* Frees the table, not the keys or values. hash_table_free(NULL) does nothing. */
void hash_table_free(struct hash_table *t);

/* The value stored under key, or NULL. */
void *hash_table_find(const struct hash_table *t, const char *key);
/* Stores value (not NULL) under key, which must be absent (asserted). The key
 * is borrowed: it must stay valid and unchanged while stored, so it usually
 * points into value. */
void hash_table_insert(struct hash_table *t, const char *key, void *value);
/* Removes key; returns its value, or NULL if it was absent. */
void *hash_table_remove(struct hash_table *t, const char *key);

/* Entries stored, and slots allocated (for tests of growth and shrinking). */
size_t hash_table_count(const struct hash_table *t);
size_t hash_table_capacity(const struct hash_table *t);

/* Iteration in no particular order, with no insert or remove meanwhile:
 *   size_t at = 0;
 *   for (void *v; (v = hash_table_next(t, &at));) ...
 * Returns the next value, or NULL after the last. */
void *hash_table_next(const struct hash_table *t, size_t *at);

#endif
