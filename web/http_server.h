/*
 * http_server: the HTTP adapter over libmicrohttpd (only web/ includes
 * <microhttpd.h>). Serves GET /events as SSE, POST /publish, /healthz,
 * /readyz, /metrics, /stats and the demo page. Each SSE response is a
 * content-reader callback over a struct connection that suspends the socket
 * when its queue is empty and is resumed by whoever queues the next frame.
 *
 * Threads: libmicrohttpd's internal pool (config threads). The gateway reaches
 * it through web_hooks; web_* functions are called by the gateway's thread.
 */
#ifndef SSE_HTTP_SERVER_H
#define SSE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "web/publish_body.h"

struct web;
struct connection;
struct frame;
struct metrics;
struct clock_ops;
struct auth;
struct tls;

/* What the HTTP layer asks of the rest of the gateway. */
struct web_hooks {
    /* A new subscriber with its cursor: queue its connect. Takes one
     * reference on success. Returns 0, or -1 once shutdown began (the client
     * then gets the shutdown sentinel and is closed). Any HTTP worker. */
    int (*subscribe)(void *ctx, struct connection *c, bool has_cursor, int64_t cursor);
    /* The subscriber's socket is gone: drop it from the registry. */
    void (*unsubscribe)(void *ctx, struct connection *c);
    /* /readyz: database reachable and not draining. */
    bool (*ready)(void *ctx);
    /* POST /publish: queues events for the publisher (taking them on
     * PUBLISH_QUEUED); done runs later on another thread. Any HTTP worker. */
    enum publish_submit (*publish)(void *ctx, struct publish_list *events, publish_done_fn done,
                                   void *arg);
    /* /stats and /metrics bodies; the caller frees them. */
    char *(*stats_json)(void *ctx);
    char *(*metrics_text)(void *ctx);
    void *ctx;
};

struct web_config {
    const char *listen;       /* "host:port" */
    const char *admin_listen; /* NULL: no admin daemon */
    const char *cors_origins; /* --cors-origin, validated; NULL: CORS off */
    unsigned threads;
    unsigned max_connections;
    size_t max_streams_per_connection;
    size_t max_queued_bytes;
    size_t connection_memory; /* per-connection pool: request headers, then writes */
    long retry_ms;
    long drain_spread_ms;    /* a drained socket's retry: is random in [0, this) */
    long write_deadline_ms;  /* an SSE socket that accepts nothing this long is closed */
    long request_timeout_ms; /* a socket's request headers complete within this */
    bool demo;
};

struct web_deps {
    const struct web_hooks *hooks;
    const struct auth *auth; /* NULL: open mode, no token needed */
    struct tls *tls;         /* HTTPS on listen with its pair (web/tls.h); NULL: plain HTTP */
    struct metrics *metrics;
    const struct clock_ops *clock;
};

/* Builds the server; binds nothing yet. Borrowed pointers must outlive it. */
struct web *web_new(const struct web_config *cfg, const struct web_deps *deps);
/* Binds and starts serving. 0 on success, -1 (logged) if the address is
 * unusable or TLS is asked of a libmicrohttpd without it. */
int web_start(struct web *w);
/* The admin daemon's port, or -1 without --admin-listen. */
int web_admin_port(struct web *w);
/* Drain: queues on every open SSE connection its own gateway:shutdown
 * sentinel, with a retry: drawn at random from [0, drain_spread_ms) so the
 * clients come back spread out, and closes it; each stream ends once its queue
 * is written. Later subscriptions get the same treatment, later publishes a
 * 503 before their body is read, and every answer from now on closes its
 * socket. Gateway thread. */
void web_drain(struct web *w);
/* Open SSE responses right now. Any thread. */
size_t web_open_streams(struct web *w);
/* Requests begun before web_drain and not yet answered to the end (open SSE
 * responses among them): the daemon must not stop before they are. Any
 * thread. */
size_t web_requests_in_flight(struct web *w);
/* Stops the daemon; resumes anything still parked first (MHD forbids stopping
 * with suspended connections). Safe to call twice. */
void web_stop(struct web *w);
void web_free(struct web *w);

#endif
