/*
 * fake_pg: a scripted pg_ops standing in for libpq in listener tests. It
 * holds at most one open connection (the listener never has two) and aborts
 * on misuse: a second connect before finish, or a call on a finished handle.
 * Each connection's socket is a real eventfd that is readable while
 * notifications wait on the "wire", so a real libevent loop wakes up.
 * Every function is thread-safe.
 */
#ifndef SSE_FAKE_PG_H
#define SSE_FAKE_PG_H

#include <stdbool.h>

#include "common/pg_ops.h"

struct fake_pg;

struct fake_pg *fake_pg_new(void);
void fake_pg_free(struct fake_pg *f);
/* The ops over f (ctx = f); f must outlive every use of them. */
struct pg_ops fake_pg_ops(struct fake_pg *f);

/* Scripting. Connects fail while fail is set. */
void fake_pg_fail_connect(struct fake_pg *f, bool fail);
/* Statements starting with prefix fail, and with one the whole exec that
 * holds it (NULL: none fail, "": all fail). */
void fake_pg_fail_exec(struct fake_pg *f, const char *prefix);
/* consume fails while fail is set; setting it also makes the socket readable,
 * as a connection closed by the server does. */
void fake_pg_fail_consume(struct fake_pg *f, bool fail);
/* Every exec sleeps ms first (outside the fake's lock). */
void fake_pg_exec_delay(struct fake_pg *f, int ms);

/* A notification arrives on the open connection's socket (readable at once,
 * delivered after consume). Dropped when no connection is open, as the server
 * drops it for a session that is gone. */
void fake_pg_notify(struct fake_pg *f, const char *channel, const char *payload);
/* A notification libpq read while it waited for a statement's result: already
 * buffered (next_notification returns it without consume) and the socket
 * stays quiet. */
void fake_pg_notify_buffered(struct fake_pg *f, const char *channel, const char *payload);

/* Observation. How many statements equal sql exactly (failed ones included);
 * an exec of several statements joined by "; " counts each. */
int fake_pg_count(struct fake_pg *f, const char *sql);
/* Round trips: the exec calls so far, however many statements each held. */
int fake_pg_round_trips(struct fake_pg *f);
/* Every statement since the last call, joined by "; "; the caller frees it. */
char *fake_pg_take_log(struct fake_pg *f);
/* Successful connects so far, and whether a connection is open now. */
int fake_pg_connects(struct fake_pg *f);
bool fake_pg_open(struct fake_pg *f);

#endif
