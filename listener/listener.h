/*
 * listener: the thread on the dedicated LISTEN connection. A libevent loop
 * watches the connection's socket, a health-check timer, a reconnect timer
 * with backoff, and an eventfd command inbox. Notifications become
 * dispatch messages: "sse#events" → WAKE (a bounds WAKE, which re-reads
 * the retention bound, for the leader's "pruned"), "sse#notify" (JSON from
 * sse.notify()) → EPHEMERAL, any other channel → EPHEMERAL on the stream of
 * that name (raw NOTIFY "<stream>"). After every (re)connect it re-LISTENs
 * and posts a catch-up bounds WAKE; every health check also posts one, the
 * periodic poll that backs up every NOTIFY.
 */
#ifndef SSE_LISTENER_H
#define SSE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct listener;
struct pg_ops;
struct dispatch_queue;
struct metrics;
struct clock_ops;

/* Channels the gateway itself uses; '#' cannot appear in a stream name. */
#define CHANNEL_EVENTS "sse#events"
#define CHANNEL_NOTIFY "sse#notify"
#define CHANNEL_WAKE   "sse#wake"

struct listener_deps {
    const struct pg_ops *pg;
    const char *conninfo;
    struct dispatch_queue *queue;
    struct metrics *metrics;
    const struct clock_ops *clock;
    /* True while stream has subscribers; lets the listener UNLISTEN lazily. */
    bool (*stream_in_use)(void *ctx, const char *stream);
    void *stream_ctx;
    int64_t health_check_ms;
    /* Stream channels LISTENed at most (--max-listen-channels); 0: none. */
    long max_channels;
};

/* Wires the listener; connects to nothing and starts no thread. */
struct listener *listener_new(const struct listener_deps *deps);
/* Spawns the thread, which connects (retrying with backoff). 0 on success. */
int listener_start(struct listener *l);
/* Stops the loop and joins. Safe twice. */
void listener_stop(struct listener *l);
void listener_free(struct listener *l);

/* Adds streams[0..n) to the LISTEN set and, when connected, waits (bounded)
 * for the listener thread's ack that their LISTENs completed: one round trip
 * for all of them, shared with the other callers waiting meanwhile. Returns 0
 * when listening, -1 when not connected (the channels are LISTENed on
 * reconnect). A stream with no channel returns 0 at once: a name over 63
 * bytes, or a new stream beyond max_channels (counted; logged when the cap
 * is first reached). Any thread but the listener's. */
int listener_ensure_many(struct listener *l, const char *const *streams, size_t n);
/* listener_ensure_many for one stream. */
int listener_ensure(struct listener *l, const char *stream);
/* True while the LISTEN connection is up. Any thread. */
bool listener_connected(struct listener *l);

/* Steps the loop calls (unit tests call them directly), listener thread or tests: */
/* Connects, LISTENs every channel, posts a catch-up bounds WAKE. 0 or -1. */
int listener_connect_once(struct listener *l);
/* Reads the socket and posts one message per notification. -1 if the
 * connection broke (the caller reconnects). */
int listener_poll_once(struct listener *l);
/* Health check: a round trip on the connection, UNLISTEN of channels unused
 * for two checks, and the backup bounds WAKE. -1 if the connection broke. */
int listener_health_once(struct listener *l);

#endif
