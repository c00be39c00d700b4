/*
 * fake_pg: a scripted pg_ops for listener tests. Records every statement,
 * fails on demand, and delivers injected notifications through an eventfd
 * that becomes readable, so a real libevent loop wakes up. Thread-safe.
 */
#ifndef SSE_FAKE_PG_H
#define SSE_FAKE_PG_H

#include <stdbool.h>

#include "pg_ops.h"

struct fake_pg;

struct fake_pg *fake_pg_new(void);
void fake_pg_free(struct fake_pg *f);
/* The ops over f (ctx = f). */
struct pg_ops fake_pg_ops(struct fake_pg *f);
void fake_pg_fail_connect(struct fake_pg *f, bool fail);
void fake_pg_fail_io(struct fake_pg *f, bool fail); /* consume and exec fail */
void fake_pg_notify(struct fake_pg *f, const char *channel, const char *payload);
/* How many executed statements equal sql exactly. */
int fake_pg_count(struct fake_pg *f, const char *sql);
int fake_pg_connects(struct fake_pg *f);

#endif
