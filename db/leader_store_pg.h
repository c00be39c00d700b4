/*
 * leader_store_pg: the production leader_store_ops, over a libpq connection
 * of its own (the leader lock lives and dies with it).
 */
#ifndef SSE_LEADER_STORE_PG_H
#define SSE_LEADER_STORE_PG_H

#include "db/leader_store.h"

struct leader_store_pg;
/* A store for conninfo, not connected yet. Used by one thread at a time (the
 * sequencer's, then the caller of its stop). leader_store_pg_free(NULL) does
 * nothing; free closes the connection. */
struct leader_store_pg *leader_store_pg_new(const char *conninfo);
void leader_store_pg_free(struct leader_store_pg *s);
/* The ops over s (ctx = s). */
struct leader_store_ops leader_store_pg_ops(struct leader_store_pg *s);

#endif
