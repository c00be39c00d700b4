/*
 * connection: one SSE subscriber. Holds the subscribed streams, a FIFO of
 * shared frames waiting to be written (registry/frame_queue.h), and the
 * suspend/resume handshake with the HTTP layer. Refcounted: the registry
 * holds one reference, every snapshot or in-flight message holds one, the
 * HTTP request holds one; the last unref frees.
 *
 * Threads: frames are pushed by the dispatcher and heartbeat threads and read
 * by an HTTP worker thread; every mutable field is guarded by the
 * connection's own mutex. Lock order: registry mutex, then connection mutex.
 */
#ifndef SSE_CONNECTION_H
#define SSE_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct connection;
struct frame;
struct iovec;

/* How the connection reaches the socket that writes it; provided by web/. */
struct conn_io_ops {
    /* Called with the connection mutex held, from the HTTP worker inside
     * connection_read(), when there is nothing to write: park the socket. */
    void (*suspend)(void *io_ctx);
    /* Called without any lock by whoever queued the first frame after a
     * suspend: un-park the socket. Never called after connection_gone(). */
    void (*resume)(void *io_ctx);
    /* Optional. Called with the connection mutex held while the socket is
     * parked: write what the socket takes now without blocking. Returns the
     * bytes written (0 when it takes nothing), or -1 when the socket failed.
     * oldest_published_us: publish time of the first live event frame, or 0. */
    long (*send)(void *io_ctx, const struct iovec *iov, int iovcnt, int64_t oldest_published_us);
    /* Optional. Called with the connection mutex held, before
     * connection_gone(), when the socket must end although it accepts
     * nothing: break it (shutdown(2)) so its HTTP worker sees it fail. */
    void (*abort)(void *io_ctx);
    /* Optional. Called with the connection mutex held, before
     * connection_gone(): the bytes the socket holds not yet taken by the
     * client (the kernel's send queue), or -1. */
    long (*unsent)(void *io_ctx);
};

struct connection_params {
    const char *const *streams; /* copied */
    size_t nstreams;
    size_t max_queued_bytes;      /* 0 = unlimited */
    const struct conn_io_ops *io; /* borrowed, may be NULL until set */
    void *io_ctx;
    /* Called with io_ctx when the connection is freed, so io_ctx outlives
     * every io call made through a reference (may be NULL). */
    void (*io_release)(void *io_ctx);
    int64_t now_ms;    /* creation time, from the injected clock */
    int64_t expires_s; /* the subscriber's token expires then (wall-clock seconds); 0 = never */
};

enum conn_push_result {
    CONN_PUSH_QUEUED,       /* queued; the socket is awake, or a write is already owed */
    CONN_PUSH_NEEDS_RESUME, /* queued; the caller must call connection_resume(), which
                               writes straight to a parked socket when io->send exists */
    CONN_PUSH_CLOSED,       /* dropped: the connection is closing or gone */
    CONN_PUSH_OVERFLOW,     /* dropped and the connection was closed: over max_queued_bytes;
                               the caller must call connection_resume() so the socket ends */
    CONN_PUSH_SKIPPED,      /* not queued: the connection is replaying (its replay brings
                               the event) or already has this position */
};

/* Called (connection mutex held, from whichever thread wrote) when a
 * replaying connection's queue drained to its low-water mark after
 * connection_replay_arm(), or when it closed while armed. Must not call back
 * into the connection; takes at most a leaf lock of its own. */
typedef void (*conn_drained_fn)(void *ctx, struct connection *c);

enum conn_read_result {
    CONN_READ_SUSPENDED = 0, /* nothing to send; io->suspend was called */
    CONN_READ_END = -1,      /* closing and everything queued was written: end the stream */
};

/* A new connection with refcount 1 (owned by the caller). Any thread. */
struct connection *connection_new(const struct connection_params *p);
/* Sets the io ops once the HTTP response exists; before the first push. */
void connection_set_io(struct connection *c, const struct conn_io_ops *io, void *io_ctx);

struct connection *connection_ref(struct connection *c);
/* Drops one reference; frees on the last (queued frames are released).
 * connection_unref(NULL) does nothing. Any thread. */
void connection_unref(struct connection *c);

uint64_t connection_id(const struct connection *c);
size_t connection_stream_count(const struct connection *c);
/* The subscribed streams, connection_stream_count() of them. */
const char *const *connection_streams(const struct connection *c);
const char *connection_stream(const struct connection *c, size_t i);
/* True if the connection subscribes to stream. */
bool connection_has_stream(const struct connection *c, const char *stream);

/* Queues a reference to a frame that is not a durable event (the caller
 * keeps its own). now_ms is the injected clock's time; counts_as_event says
 * whether it resets the idle-timeout clock (ephemeral messages do,
 * heartbeats do not). Skipped while the connection replays. Any thread. */
enum conn_push_result connection_push(struct connection *c, struct frame *f, int64_t now_ms,
                                      bool counts_as_event);
/* Queues a live durable event at position. While the connection replays it
 * is not queued but remembered (the replay must reach it); a position at or
 * below the last one queued is skipped (the replay already brought it). */
enum conn_push_result connection_push_event(struct connection *c, struct frame *f, int64_t now_ms,
                                            int64_t position);
/* Queues a replayed frame (position 0 for a sentinel), exempt from
 * max_queued_bytes: the replayer paces itself with connection_replay_room()
 * instead, so a large backlog never closes the client. Replayer thread. */
enum conn_push_result connection_push_replay(struct connection *c, struct frame *f, int64_t now_ms,
                                             int64_t position);

/* The replay handshake, driven by dispatch/replayer.c. Before the connection
 * is registered: from now on live events up to and past through are not
 * queued until connection_replay_end() says the replay reached them. */
void connection_replay_begin(struct connection *c, int64_t through, conn_drained_fn drained,
                             void *ctx);
/* Bytes the replayer may queue now: the room under max_queued_bytes (at
 * least one frame's worth when the queue is empty). */
size_t connection_replay_room(struct connection *c);
/* Ends the replay if it covered everything a live push skipped: true when
 * scanned_through (the replay has queued every event of the connection's
 * streams up to it) reaches them; live events are queued from then on. */
bool connection_replay_end(struct connection *c, int64_t scanned_through);
/* Asks for the drained callback once the queue is down to half the room:
 * true when armed; false when there is room already (replay on at once) or
 * the connection closed. */
bool connection_replay_arm(struct connection *c);
/* After a push returned NEEDS_RESUME or OVERFLOW: writes the queue straight
 * to the parked socket (io->send), and un-parks it only if the socket did not
 * take everything or must end. Several pushes before one call coalesce into
 * one write. No locks held. */
void connection_resume(struct connection *c);
/* Like connection_resume, but never writes here: un-parks the socket so its
 * HTTP worker writes. No locks held. */
void connection_wake(struct connection *c);

/* Why the gateway ended a connection, for its access record. */
enum conn_end {
    CONN_END_NONE,           /* not ended by the gateway: the client left, or its socket failed */
    CONN_END_SLOW_CONSUMER,  /* more than max_queued_bytes behind (set by the push) */
    CONN_END_EXPIRED,        /* its token expired */
    CONN_END_IDLE,           /* no event for --idle-timeout */
    CONN_END_SHUTDOWN,       /* the gateway drains or stops */
    CONN_END_OVERLOADED,     /* over --max-connections */
    CONN_END_REPLAY_FAILED,  /* its replay could not be read */
    CONN_END_NOT_SERVED,     /* its connect waited too long to be served */
    CONN_END_WRITE_DEADLINE, /* its socket accepted no byte for --write-deadline */
};
/* "slow_consumer", "expired", …; "none" for CONN_END_NONE. */
const char *connection_end_name(enum conn_end why);

/* Queues the optional final frame, then marks the connection closing for
 * why: the reader ends the stream once everything queued is written. Returns
 * true if the caller must call connection_resume(). Idempotent: the first
 * close's why stays. Any thread. */
bool connection_close(struct connection *c, struct frame *final_frame, enum conn_end why);
/* Why the gateway ended it, or CONN_END_NONE. Any thread. */
enum conn_end connection_end(struct connection *c);
/* Events queued to it so far: live, replayed and ephemeral (not heartbeats,
 * sentinels or the preamble). Any thread. */
uint64_t connection_events(struct connection *c);

/* HTTP worker: copies queued bytes into buf (at most max). Returns the byte
 * count (> 0), CONN_READ_SUSPENDED after parking the socket, or CONN_READ_END.
 * On return *oldest_published_us is the publish time of the first live event frame
 * copied (0 if none), for the latency histogram. */
long connection_read(struct connection *c, char *buf, size_t max, int64_t *oldest_published_us);

/* --write-deadline, checked by the HTTP layer's watch at now_ms: a socket
 * that is awake (it has bytes to send) and whose client took no byte for
 * deadline_ms is broken (io->abort) and the connection ends for
 * CONN_END_WRITE_DEADLINE unless the gateway had ended it already. A parked
 * socket has nothing to send, so never stalls; every write, park and
 * un-park, and every look that finds the kernel's send queue shorter than
 * at the last look, restarts the count. */
enum conn_stall {
    CONN_MOVING,      /* parked, or took bytes within the deadline */
    CONN_CUT,         /* broken now, ended for the write deadline */
    CONN_CUT_CLOSING, /* broken now; the gateway had ended it already (another reason) */
};
enum conn_stall connection_check_stall(struct connection *c, int64_t now_ms, int64_t deadline_ms);

/* HTTP layer: the socket is gone; no io call happens after this returns. */
void connection_gone(struct connection *c);
bool connection_is_closed(struct connection *c); /* closing or gone */
bool connection_is_gone(struct connection *c);

/* Time of the last push of any frame (heartbeat idleness), and of the last
 * event frame (idle timeout), from the injected clock. */
int64_t connection_last_push_ms(struct connection *c);
int64_t connection_last_event_ms(struct connection *c);
size_t connection_queued_bytes(struct connection *c);
/* When the subscriber's authorization ends (wall-clock seconds), or 0. */
int64_t connection_expires_s(const struct connection *c);

#endif
