/*
 * schema: the sse schema (db/sql/schema.sql, compiled in) and the
 * `migrate` and `status` commands. Migration is idempotent and safe from
 * concurrent instances (it runs under a transaction-scoped advisory lock).
 */
#ifndef SSE_SCHEMA_H
#define SSE_SCHEMA_H

#include <stdio.h>

/* Installs or upgrades the schema. 0 on success, -1 (logged) on failure. */
int schema_migrate(const char *conninfo);
/* Prints the fleet (sse.gateways) and stream counts to out. 0 or -1. */
int schema_status(const char *conninfo, FILE *out);

#endif
