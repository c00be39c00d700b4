/*
 * write_pool: threads that write a fan-out round to its sockets in
 * parallel. A round is the list of connections that a batch of pushes left
 * owing a write; a small one is written by the caller at once (a hand-over
 * would cost more than the writes), a larger one is split by connection
 * over the pool's threads, each woken once for its share. Whoever writes,
 * a connection's bytes leave in queue order: every writer takes its mutex.
 */
#ifndef SSE_WRITE_POOL_H
#define SSE_WRITE_POOL_H

#include <stddef.h>

struct write_pool;
struct conn_list;

/* Rounds of at most this many connections are written by the caller. */
#define WRITE_POOL_INLINE_MAX 32

/* A pool of threads (none: every round is written by the caller, as
 * conn_list_resume_all does). Starts no thread. */
struct write_pool *write_pool_new(unsigned threads);
/* Spawns the threads. 0, or -1 (logged). */
int write_pool_start(struct write_pool *p);
/* Writes what was handed over, then joins. Safe twice. */
void write_pool_stop(struct write_pool *p);
void write_pool_free(struct write_pool *p);

/* Resumes every connection of l (connection_resume: straight to a parked
 * socket), here or on the pool's threads as above. Takes the list's
 * references and leaves it empty. Any thread, no locks held. */
void write_pool_flush(struct write_pool *p, struct conn_list *l);

/* Connections handed to the threads and not yet written. Any thread. */
size_t write_pool_pending(struct write_pool *p);

#endif
