/*
 * publish_store_pg: the production publish_store_ops over its own libpq
 * connection ("sse-gateway-publisher"), used by the publisher thread only.
 */
#ifndef SSE_PUBLISH_STORE_PG_H
#define SSE_PUBLISH_STORE_PG_H

#include "publisher/publisher.h"

struct publish_store_pg;

/* Connects lazily on the first publish, and again after an error. */
struct publish_store_pg *publish_store_pg_new(const char *conninfo);
void publish_store_pg_free(struct publish_store_pg *s);
/* The ops over s (ctx = s). */
struct publish_store_ops publish_store_pg_ops(struct publish_store_pg *s);

#endif
