/*
 * event_store_pg: the production event_store_ops, reading sse.events over a
 * libpq connection of its own (not the LISTEN one).
 */
#ifndef SSE_EVENT_STORE_PG_H
#define SSE_EVENT_STORE_PG_H

#include "dispatch/event_store.h"

struct event_store_pg;
/* A store over its own connection to conninfo; connects lazily, reconnects on
 * the next call after an error. Used by the dispatcher thread only. */
struct event_store_pg *event_store_pg_new(const char *conninfo);
void event_store_pg_free(struct event_store_pg *s);
/* The ops over s (ctx = s). */
struct event_store_ops event_store_pg_ops(struct event_store_pg *s);

#endif
