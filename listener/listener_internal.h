/*
 * The listener's insides, shared by its files and by nothing outside
 * listener/: listener.c (start, stop, the loop and its steps), channels.c
 * (the channel set and its cap), inbox.c (the command inbox and
 * listener_ensure_many) and sweep.c (the lazy UNLISTEN).
 *
 * Locks: the channel set and the inbox are guarded by mtx, a leaf lock:
 * pg_ops and stream_in_use (the registry's lock) are never called with it
 * held. Channel nodes are freed only by the listener thread (sweep.c), which
 * may keep pointers to them across an unlock; their names never change.
 */
#ifndef SSE_LISTENER_INTERNAL_H
#define SSE_LISTENER_INTERNAL_H

#include "common/log.h"
#include "listener/listener.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define CHANNEL_MAX 63 /* NAMEDATALEN - 1: PostgreSQL's longest identifier */
/* Channels per round trip of LISTENs or UNLISTENs: bounds how long one
 * statement list holds the listener thread, and the HTTP workers waiting on it. */
#define CHANNEL_BATCH  500
#define FIXED_CHANNELS 2 /* CHANNEL_EVENTS and CHANNEL_NOTIFY */
#define LISTENER_MAGIC 0x4c69734eu

struct event_base;
struct event;
struct hash_table;
struct command;

/* One LISTEN channel; every field but name is guarded by mtx. */
struct channel {
    bool fixed;       /* CHANNEL_EVENTS or CHANNEL_NOTIFY: never UNLISTENed */
    bool listened;    /* LISTEN done on the current connection */
    uint64_t ensured; /* bumped by every listener_ensure */
    int idle_checks;  /* consecutive health checks without subscribers */
    bool batched;     /* in the LISTEN batch being built (listener thread) */
    char name[];      /* immutable; the set's key */
};

struct worker;

struct listener {
    unsigned magic;                                    /* fixed after start */
    struct listener_deps deps;                         /* fixed after start */
    struct event_base *base;                           /* fixed after start */
    struct event *inbox_ev, *health_ev, *reconnect_ev; /* fixed after start */
    int inbox_fd;                                      /* fixed after start */
    struct worker *worker;                             /* fixed after new: the thread */
    bool started;                                      /* owned by the caller of start/stop */
    void *conn;                                        /* owned by listener thread */
    struct event *sock_ev;                             /* owned by listener thread */
    int64_t backoff_ms;                                /* owned by listener thread */
    bool ever_connected;                               /* owned by listener thread */
    struct log_budget connect_warn, lost_warn;         /* owned by listener thread */
    struct log_budget payload_warn, forged_warn;       /* owned by listener thread */
    _Atomic bool connected; /* written under mtx by the listener thread */
    pthread_mutex_t mtx;
    pthread_cond_t acked; /* CLOCK_MONOTONIC; a command was answered */
    /* A set, not a list: listener_ensure runs for every stream of every subscription. */
    struct hash_table *channels;              /* guarded by mtx: name → struct channel */
    struct command *inbox_head, **inbox_tail; /* guarded by mtx */
    bool running;                             /* guarded by mtx: the loop takes commands */
    pthread_t loop_thread;                    /* guarded by mtx: valid while running */
    bool stopping;                            /* guarded by mtx: no more commands */
    bool at_cap;                              /* guarded by mtx: refusals since last below it */
    struct log_budget cap_warn, ensure_warn;  /* any thread */
};

/* The listener behind a libevent callback's argument. */
static inline struct listener *from_arg(void *arg)
{
    struct listener *l = arg;
    assert(l && l->magic == LISTENER_MAGIC);
    return l;
}

/* Aborts when the listener cannot get a resource it is built from. */
static inline void *must(void *p, const char *what)
{
    if (!p) {
        log_error("listener", "could not create the %s: out of resources", what);
        abort();
    }
    return p;
}

/* channels.c; all but channels_new and channels_free with mtx held. */
/* A set holding the two fixed channels; channels_free frees it and every channel. */
struct hash_table *channels_new(void);
void channels_free(struct hash_table *set);
struct channel *channels_find(struct hash_table *set, const char *name);
/* Adds a stream channel (absent: asserted), not yet LISTENed. */
struct channel *channels_add(struct hash_table *set, const char *name);
/* Takes c out of the set; the listener thread frees it with channel_free once
 * it no longer needs the name, with mtx released. */
void channels_remove(struct hash_table *set, struct channel *c);
void channel_free(struct channel *c);
size_t channels_count(const struct hash_table *set);
/* The channels not LISTENed on the current connection, or the stream channels
 * (all but the fixed two): an array of *n the caller frees. */
struct channel **channels_unlistened(const struct hash_table *set, size_t *n);
struct channel **channels_streams(const struct hash_table *set, size_t *n);
/* Marks every channel as not LISTENed: the connection is gone. */
void channels_unlisten_all(struct hash_table *set);
/* The channel of stream name, added if absent and deps.max_channels allows;
 * NULL (counted, and logged when the cap is first reached) if it does not. */
struct channel *channels_admit(struct listener *l, const char *name);
/* After channels were removed: updates the gauge and, below the cap again,
 * lets the next refusal be logged. */
void channels_counted(struct listener *l);

/* inbox.c */
/* Creates the eventfd and its event in l->base, and the ack condvar. */
void inbox_init(struct listener *l);
/* Frees what inbox_init made and any command left; the loop has stopped. */
void inbox_free(struct listener *l);
/* The loop thread, around its loop: marks whether the loop takes commands;
 * on the way out answers any left with -1. */
void inbox_set_running(struct listener *l, bool running);
/* Mutex held. Asks the loop to stop; nothing may be queued after it. */
void inbox_push_stop(struct listener *l);
/* Listener thread, mtx released: runs the commands waiting now (the loop
 * does when the eventfd turns readable; a long step may in between). */
void inbox_serve(struct listener *l);

/* listener.c, listener thread, mtx released: runs verb ("LISTEN" or
 * "UNLISTEN") for cs[0..n) on the current connection, CHANNEL_BATCH to a
 * round trip, marking each LISTENed one. 0, or -1 when a statement failed
 * (the connection is dropped). */
int listener_channels_sql(struct listener *l, const char *verb, struct channel **cs, size_t n);
/* listener.c, listener thread: between slices of a long step, hands on the
 * notifications that arrived meanwhile and runs the inbox's commands. The
 * connection may be gone after it (l->conn NULL). */
void listener_service(struct listener *l);

/* sweep.c, listener thread: the health check's lazy UNLISTEN of channels
 * unused for two checks; a no-op while disconnected. */
void sweep_unused(struct listener *l);

#endif
