/*
 * leader_store_pg: the production leader_store_ops, over a libpq connection
 * of its own (the leader lock lives and dies with it).
 */
#ifndef SSE_LEADER_STORE_PG_H
#define SSE_LEADER_STORE_PG_H

#include "db/leader_store.h"

/* The leader lock: a session advisory lock on this bigint key. */
#define LEADER_LOCK_KEY "6004712034128654481"
/* The application_name of the gateway's sequencer connections. */
#define LEADER_APP_NAME "sse-gateway-sequencer"

/* A query of one row about the leader lock's holder: pid, usename,
 * application_name (NULLs while nobody holds it) and gateway, true when
 * that is a gateway's sequencer: LEADER_APP_NAME, or the application_name
 * of the session asking (the gateways' own when the database URL sets one).
 * pg_locks shows a bigint advisory key as its high and low 32 bits in
 * classid and objid, with objsubid 1. */
#define LEADER_HOLDER_SQL                                                                          \
    "SELECT l.pid, a.usename, a.application_name, a.application_name IN ('" LEADER_APP_NAME        \
    "', current_setting('application_name')) AS gateway FROM (SELECT 1) one LEFT JOIN "            \
    "pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = "     \
    "(SELECT oid FROM pg_database WHERE datname = current_database()) AND l.classid::int8 = "      \
    "(" LEADER_LOCK_KEY "::int8 >> 32) AND l.objid::int8 = (" LEADER_LOCK_KEY                      \
    "::int8 & 4294967295) LEFT JOIN pg_stat_activity a ON a.pid = l.pid"

struct leader_store_pg;
/* A store for conninfo, not connected yet. Used by one thread at a time (the
 * sequencer's, then the caller of its stop). leader_store_pg_free(NULL) does
 * nothing; free closes the connection. */
struct leader_store_pg *leader_store_pg_new(const char *conninfo);
void leader_store_pg_free(struct leader_store_pg *s);
/* The ops over s (ctx = s). */
struct leader_store_ops leader_store_pg_ops(struct leader_store_pg *s);

#endif
