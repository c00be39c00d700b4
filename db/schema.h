/*
 * schema: the sse schema (db/sql/schema.sql, compiled in) and the
 * `migrate` and `status` commands. Migration is idempotent and safe from
 * concurrent instances (it runs under a transaction-scoped advisory lock).
 */
#ifndef SSE_SCHEMA_H
#define SSE_SCHEMA_H

#include <stdint.h>
#include <stdio.h>

/* Installs or upgrades the schema unless it is up to date, waiting at most
 * lock_timeout_ms for each lock and retrying. 0 on success, -1 (logged). */
int schema_migrate(const char *conninfo, int64_t lock_timeout_ms);
/* Prints the fleet (sse.gateways), the positions, the leader lock's holder
 * (STALLED when it is not a gateway, or when events have waited over 10 s)
 * and stream counts to out, one line per row whatever the values hold.
 * 0 or -1. */
int schema_status(const char *conninfo, FILE *out);

#endif
