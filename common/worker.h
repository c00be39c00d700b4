/*
 * worker: one thread and what stopping it takes. worker_stop sets a flag
 * under a mutex, broadcasts a CLOCK_MONOTONIC condvar, calls an optional
 * wake hook for a thread that blocks elsewhere (a queue, a poll), and joins.
 * The owner may guard its own state with the worker's mutex and wait on its
 * condvar (worker_lock, worker_cond_wait), so one wait ends on work or on a
 * stop alike.
 */
#ifndef SSE_WORKER_H
#define SSE_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct worker;

typedef void *(*worker_fn)(void *arg);
typedef void (*worker_wake_fn)(void *ctx);

/* A worker with no thread yet. module (a literal) names it in the log. wake,
 * unless NULL, is called by worker_stop with the mutex held while the thread
 * runs; it must not take the mutex. worker_free(NULL) does nothing; free
 * stops the thread first. */
struct worker *worker_new(const char *module, worker_wake_fn wake, void *wake_ctx);
void worker_free(struct worker *w);

/* Clears the stop flag and runs fn(arg) on a new thread. 0, or -1 (logged).
 * Caller of start/stop only, and not while the thread runs. */
int worker_start(struct worker *w, worker_fn fn, void *arg);
/* Sets the stop flag, wakes the thread and joins it. True if it joined a
 * thread. Safe twice and before start. Caller of start/stop only. */
bool worker_stop(struct worker *w);
/* True once a stop was requested. Any thread, with or without the mutex. */
bool worker_stopping(struct worker *w);

/* Waits ms, cut short only by a stop; false once a stop was requested.
 * The worker's thread, without the mutex. */
bool worker_wait(struct worker *w, int64_t ms);

/* The mutex, for the owner's state that its thread waits on. */
void worker_lock(struct worker *w);
void worker_unlock(struct worker *w);
/* Mutex held: wakes the thread waiting in worker_cond_wait. */
void worker_signal(struct worker *w);
/* Mutex held: waits for a signal or a stop until deadline (a
 * clock_monotonic_deadline; NULL for none). False once the deadline passed;
 * true may be spurious, so callers loop on their own condition. */
bool worker_cond_wait(struct worker *w, const struct timespec *deadline);

#endif
