/*
 * registry: streams → subscribed connections, and the set of all open
 * connections. One mutex guards it; lock order is registry mutex, then
 * connection mutex; no socket I/O happens under the registry mutex (resumes
 * are collected and done by the caller after unlocking).
 *
 * Writers: the dispatcher adds (after replay), the HTTP layer removes on
 * close. Readers: dispatcher fan-out, heartbeat snapshots, /stats.
 */
#ifndef SSE_REGISTRY_H
#define SSE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/conn_list.h"
#include "registry/connection.h"

struct registry;
struct frame;

/* An empty registry; the caller frees it with registry_free(). */
struct registry *registry_new(void);
/* Releases every reference the registry holds. registry_free(NULL) does nothing. */
void registry_free(struct registry *r);

/* Subscribes c to each of its streams and takes one reference. Returns false
 * (and takes nothing) if c is already closed or already registered. Any thread. */
bool registry_add(struct registry *r, struct connection *c);
/* Unsubscribes c and drops the registry's reference. Returns false if it was
 * not registered. Idempotent; any thread. */
bool registry_remove(struct registry *r, struct connection *c);

/* Queues f on every subscriber of stream. Connections that need a resume are
 * appended (with a reference) to resumes; the caller resumes them after
 * unlocking, once per batch. Connections that overflowed are closed, removed
 * from the registry, counted in *overflowed and also appended to resumes.
 * Returns the number of frames queued. position > 0: a durable event
 * (connection_push_event); 0: an ephemeral message (connection_push). */
size_t registry_fanout(struct registry *r, const char *stream, struct frame *f, int64_t now_ms,
                       int64_t position, struct conn_list *resumes, size_t *overflowed);

/* Appends a reference to every registered connection to out. */
void registry_snapshot(struct registry *r, struct conn_list *out);

size_t registry_connection_count(struct registry *r);
size_t registry_stream_count(struct registry *r);
/* True if stream has at least one subscriber. */
bool registry_stream_in_use(struct registry *r, const char *stream);
/* Calls fn for each stream with its subscriber count, under the lock: fn must
 * not call back into the registry. */
void registry_each_stream(struct registry *r,
                          void (*fn)(void *arg, const char *stream, size_t subscribers), void *arg);

#endif
