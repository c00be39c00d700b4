/*
 * sse_response: GET /events, one long-lived response per subscriber, and the
 * list of open SSE responses. A subscription goes through three steps: parse
 * and authorize, build (the connection and the response), admit (capacity,
 * draining, the subscribe hook). Then this file translates between MHD's
 * callbacks and struct connection:
 *
 *   reader callback  → connection_read(): copy queued frames, or park the
 *                      socket with MHD_suspend_connection() when empty;
 *   io resume        → MHD_resume_connection(), called by whoever queued;
 *   io send          → a non-blocking write straight to the parked socket
 *                      (plain HTTP only: TLS sockets are written by MHD);
 *   response free    → the "connection gone" signal: unsubscribe, unref.
 *
 * Drain closes every open response, each with its own shutdown sentinel;
 * stop closes them without one, so that none stays parked.
 *
 * Threads: MHD's workers run the request and the callbacks; io resume and
 * io send run on whichever thread queued a frame; drain and stop on the
 * gateway's thread. The list of open responses is guarded by web->mtx.
 * Does not: decide delivery (the dispatcher does), parse the query itself
 * (query.c does, on the raw URI, because MHD's own argument parsing decodes
 * %00 into a truncated C string), or route (routes.c does).
 */
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "protocol/position.h"
#include "protocol/sse_frame.h"
#include "registry/conn_list.h"
#include "registry/connection.h"
#include "web/auth.h"
#include "web/query.h"
#include "web/web_internal.h"

#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SUB_MAGIC 0x53554221u /* "SUB!" */

/* The block MHD allocates inside every callback response, that is per
 * subscriber, and offers the reader per call: 4 KiB here made 13.7 KiB per
 * idle connection, 256 B 5.9 KiB. A backlog does not go through it: the
 * reader writes that straight to the socket (connection_read) and leaves
 * only the last block's worth to MHD. */
#define READER_BLOCK 256
/* On a TLS socket every reader call becomes one TLS record and one write,
 * with no direct write to take a backlog: 1 KiB made a burst of 100 events
 * to 1,000 subscribers cost less than half the CPU of 256 B, for 0.8 KiB
 * more per idle connection (docs/BENCHMARKS.md, TLS). */
#define TLS_READER_BLOCK 1024

/* Per SSE response. */
struct sub {
    unsigned magic;
    struct web *web;
    struct connection *conn; /* the response's reference */
    struct MHD_Connection *mhd;
    int fd;                  /* the socket, written directly while parked (connection.c) */
    struct sub *prev, *next; /* guarded by web->mtx */
    /* For the access record: fixed after build but bytes and toe. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
    int64_t started_ms;
    int64_t cursor; /* -1: none given */
    _Atomic uint64_t bytes;
    _Atomic int toe; /* MHD's termination code, -1 until the request completes */
};

static void io_suspend(void *ctx)
{
    struct sub *s = ctx;
    assert(s->magic == SUB_MAGIC);
    MHD_suspend_connection(s->mhd);
}

static void io_resume(void *ctx)
{
    struct sub *s = ctx;
    assert(s->magic == SUB_MAGIC);
    MHD_resume_connection(s->mhd);
}

/* A write to the parked socket, under the connection's mutex: never blocks,
 * never raises SIGPIPE. The connection un-parks the socket when this falls
 * short, so MHD waits for room (and the write deadline counts). */
static long io_send(void *ctx, const struct iovec *iov, int iovcnt, int64_t oldest_published_us)
{
    struct sub *s = ctx;
    assert(s->magic == SUB_MAGIC);
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n;
    do
        n = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    struct web *w = s->web;
    metrics_add(&w->deps.metrics->delivered_bytes, (uint64_t)n);
    atomic_fetch_add_explicit(&s->bytes, (uint64_t)n, memory_order_relaxed);
    if (n > 0 && oldest_published_us)
        metrics_observe_latency(w->deps.metrics,
                                clock_wall_us(w->deps.clock) - oldest_published_us);
    return (long)n;
}

/* The write deadline: the socket took nothing for too long. Called under the
 * connection's mutex before connection_gone, so the descriptor is still the
 * daemon's (MHD frees the response, which calls gone, before it closes the
 * socket): break it, and its worker sees it fail and ends the request. */
static void io_abort(void *ctx)
{
    struct sub *s = ctx;
    assert(s->magic == SUB_MAGIC);
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
}

/* What the kernel still holds for the client, for the write deadline: under
 * the connection's mutex before connection_gone, like io_abort. */
static long io_unsent(void *ctx)
{
    struct sub *s = ctx;
    assert(s->magic == SUB_MAGIC);
    int n;
    return s->fd >= 0 && ioctl(s->fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

static const struct conn_io_ops mhd_io = {io_suspend, io_resume, io_send, io_abort, io_unsent};
/* On a TLS socket every byte goes through libmicrohttpd's TLS session: a
 * direct write would put plaintext on the wire. Without send, a frame for
 * a parked socket resumes it and the worker encrypts and writes it. The
 * write deadline works the same: the kernel's queue holds the encrypted
 * bytes, and shutdown(2) breaks the socket under the TLS session too. */
static const struct conn_io_ops mhd_tls_io = {io_suspend, io_resume, NULL, io_abort, io_unsent};

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sub *s = cls;
    assert(s->magic == SUB_MAGIC);
    struct web *w = s->web;
    int64_t published_us;
    long n = connection_read(s->conn, buf, max, &published_us);
    if (n > 0) {
        metrics_add(&w->deps.metrics->delivered_bytes, (uint64_t)n);
        atomic_fetch_add_explicit(&s->bytes, (uint64_t)n, memory_order_relaxed);
        if (published_us)
            metrics_observe_latency(w->deps.metrics, clock_wall_us(w->deps.clock) - published_us);
        return n;
    }
    /* 0 only ever after parking the socket: MHD calls a reader that returned
     * 0 without parking again at once, a busy loop. */
    return n == CONN_READ_SUSPENDED ? 0 : MHD_CONTENT_READER_END_OF_STREAM;
}

/* Frees the sub with its connection's last reference: a thread still holding
 * a reference may be inside io_resume() reading it. */
static void sub_release(void *ctx)
{
    struct sub *s = ctx;
    assert(s->magic == SUB_MAGIC);
    s->magic = 0;
    free(s);
}

void web_sub_completed(struct sub *s, enum MHD_RequestTerminationCode toe)
{
    assert(s->magic == SUB_MAGIC);
    atomic_store(&s->toe, (int)toe);
}

/* Why a subscription ended: the gateway's reason when it closed it, else
 * what MHD saw of the socket. */
static const char *end_reason(struct sub *s)
{
    enum conn_end why = connection_end(s->conn);
    if (why != CONN_END_NONE)
        return connection_end_name(why);
    switch (atomic_load(&s->toe)) {
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "write_deadline";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    default:
        return "client_closed"; /* it left, or its socket failed */
    }
}

/* One record per finished subscription, at info. */
static void access_record(struct sub *s)
{
    struct web *w = s->web;
    if (!web_access_log_take(w))
        return;
    char remote[64];
    web_format_peer(s->peer.sa.sa_family ? &s->peer.sa : NULL, remote, sizeof remote);
    struct log_field cursor =
        s->cursor >= 0 ? LOG_INT("cursor", s->cursor) : LOG_STR("cursor", NULL);
    log_record(LOG_INFO, "http", "subscription ended", LOG_STR("remote", remote),
               LOG_STRS("streams", connection_streams(s->conn), connection_stream_count(s->conn)),
               cursor, LOG_INT("events", connection_events(s->conn)),
               LOG_INT("bytes", atomic_load(&s->bytes)),
               LOG_INT("duration_ms", clock_now_ms(w->deps.clock) - s->started_ms),
               LOG_STR("reason", end_reason(s)));
}

/* The response is gone, so is the socket: the one place a subscriber ends. */
static void sse_free(void *cls)
{
    struct sub *s = cls;
    assert(s->magic == SUB_MAGIC);
    struct web *w = s->web;
    access_record(s);
    connection_gone(s->conn);
    w->deps.hooks->unsubscribe(w->deps.hooks->ctx, s->conn);
    PTOK(pthread_mutex_lock(&w->mtx));
    if (s->prev)
        s->prev->next = s->next;
    else
        w->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->nsubs--;
    PTOK(pthread_mutex_unlock(&w->mtx));
    atomic_fetch_sub(&w->deps.metrics->connections, 1);
    connection_unref(s->conn); /* may free s through sub_release */
}

/* A random number in [0, n) for n > 0, else 0; any thread. Retry jitter only
 * needs spread, not quality: one shared xorshift state, stepped atomically. */
static long random_below(struct web *w, long n)
{
    if (n <= 0)
        return 0;
    uint64_t x = atomic_load(&w->random_state), next;
    do {
        next = x;
        next ^= next << 13;
        next ^= next >> 7;
        next ^= next << 17;
    } while (!atomic_compare_exchange_weak(&w->random_state, &x, next));
    return (long)(next % (uint64_t)n);
}

static struct frame *overloaded_sentinel(struct web *w)
{
    long base = w->cfg.retry_ms;
    return sse_encode_sentinel(base / 2 + random_below(w, base), "gateway:overloaded",
                               "{\"reason\":\"capacity\"}");
}

static struct frame *shutdown_sentinel(struct web *w)
{
    return sse_encode_sentinel(random_below(w, w->cfg.drain_spread_ms), "gateway:shutdown",
                               "{\"reason\":\"drain\"}");
}

/* Step 1, parse and authorize: the query (streams, cursor, token), the
 * token's right to subscribe to every stream, then the Last-Event-ID header.
 * Returns true with *sr filled (the caller clears it) and *expires_s set;
 * false once it has answered 400, 401 or 403 in *answer (*sr then empty). */
static bool parse_and_authorize(struct web *w, struct request *req, struct sub_request *sr,
                                int64_t *expires_s, enum MHD_Result *answer)
{
    struct metrics *m = w->deps.metrics;
    const char *q = strchr(req->uri, '?');
    const char *why;
    enum query_status st = query_parse_subscription(q ? q + 1 : "", q ? strlen(q + 1) : 0,
                                                    w->cfg.max_streams_per_connection, sr, &why);
    if (st != QUERY_OK) {
        metrics_add(&m->connections_rejected, 1);
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "rejected a subscription: %s", why);
        *answer = web_respond_error(req, MHD_HTTP_BAD_REQUEST, why);
        return false;
    }
    const char *reason;
    enum auth_result ar =
        web_authorize(w, req, sr->token, AUTH_SUBSCRIBE, (const char *const *)sr->streams,
                      sr->nstreams, expires_s, &reason);
    if (ar != AUTH_OK) {
        sub_request_clear(sr);
        metrics_add(&m->connections_rejected, 1);
        *answer = web_respond_auth(w, req, AUTH_SUBSCRIBE, ar, reason);
        return false;
    }
    /* A valid Last-Event-ID header wins over the query; a malformed one is ignored. */
    const char *header = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Last-Event-ID");
    int64_t from_header;
    if (header && position_parse(header, strlen(header), &from_header) == 0) {
        sr->has_cursor = true;
        sr->cursor = from_header;
    }
    return true;
}

/* Step 2, build: the subscriber's connection with the preamble queued, and
 * the response that streams it. Returns the response and the sub in *out;
 * the response's free callback ends the sub. No other thread sees either
 * yet: the sub is not listed and the connection not registered. */
static struct MHD_Response *build(struct web *w, struct request *req, const struct sub_request *sr,
                                  int64_t expires_s, struct sub **out)
{
    struct sub *s = xcalloc(1, sizeof *s);
    s->magic = SUB_MAGIC;
    s->web = w;
    s->mhd = req->mhd;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    bool tls = MHD_get_connection_info(req->mhd, MHD_CONNECTION_INFO_GNUTLS_SESSION) != NULL;
    ci = MHD_get_connection_info(req->mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr &&
        (ci->client_addr->sa_family == AF_INET || ci->client_addr->sa_family == AF_INET6))
        memcpy(&s->peer, ci->client_addr,
               ci->client_addr->sa_family == AF_INET ? sizeof s->peer.in : sizeof s->peer.in6);
    s->started_ms = req->started_ms;
    s->cursor = sr->has_cursor ? sr->cursor : -1;
    atomic_init(&s->toe, -1);
    s->conn = connection_new(&(struct connection_params){
        .streams = (const char *const *)sr->streams,
        .nstreams = sr->nstreams,
        .max_queued_bytes = w->cfg.max_queued_bytes,
        .io = tls ? &mhd_tls_io : &mhd_io,
        .io_ctx = s,
        .io_release = sub_release,
        .now_ms = clock_now_ms(w->deps.clock),
        .expires_s = expires_s,
    });
    struct frame *preamble = sse_encode_preamble(w->cfg.retry_ms);
    connection_push(s->conn, preamble, clock_now_ms(w->deps.clock), false);
    frame_unref(preamble);

    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, tls ? TLS_READER_BLOCK : READER_BLOCK, sse_reader, s, sse_free);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    /* A close-delimited body, not chunked: bytes written straight to the
     * parked socket (io_send) and bytes MHD writes then follow each other
     * with no framing to keep in step. EventSource reads either. */
    MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    *out = s;
    return r;
}

/* Step 3, admit: lists the sub among the open responses and queues the
 * response (200). Then the subscriber is let in, the subscribe hook queueing
 * its connect from the cursor; or, while draining, over --max-connections,
 * or when the hook refuses, it gets its sentinel and the stream ends. */
static enum MHD_Result admit(struct web *w, struct request *req, struct sub *s,
                             struct MHD_Response *r, bool has_cursor, int64_t cursor)
{
    struct metrics *m = w->deps.metrics;
    PTOK(pthread_mutex_lock(&w->mtx));
    s->next = w->subs;
    if (w->subs)
        w->subs->prev = s;
    w->subs = s;
    w->nsubs++;
    bool closing = w->closing;
    bool over = w->nsubs > w->cfg.max_connections;
    PTOK(pthread_mutex_unlock(&w->mtx));
    atomic_fetch_add(&m->connections, 1);

    /* Our own reference, because queueing may end the sub at once: when the
     * daemon is stopping, MHD answers "yes" without keeping the response, so
     * sse_free runs inside web_queue() and s is gone with it. */
    struct connection *conn = connection_ref(s->conn);
    enum MHD_Result ret = web_queue(req, MHD_HTTP_OK, r);
    if (ret != MHD_YES || connection_is_gone(conn)) {
        connection_unref(conn);
        return ret;
    }
    req->sub = connection_ref(conn);
    req->sub_state = s; /* lives as long as its connection */
    /* No libmicrohttpd timeout on an SSE response: it counts only its own
     * writes, and most of this socket's bytes are written directly. The
     * write deadline is the watch's (web_sweep_stalled). */
    MHD_set_connection_option(req->mhd, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    struct frame *final = NULL;
    enum conn_end why = CONN_END_SHUTDOWN;
    if (closing) {
        final = shutdown_sentinel(w);
        metrics_add(&m->connections_draining, 1);
    } else if (over) {
        /* Over capacity: 200 + a jittered retry + gateway:overloaded, never a
         * 5xx, which a browser's EventSource would treat as final. */
        final = overloaded_sentinel(w);
        why = CONN_END_OVERLOADED;
        metrics_add(&m->connections_overloaded, 1);
    } else if (w->deps.hooks->subscribe(w->deps.hooks->ctx, conn, has_cursor, cursor) != 0) {
        final = shutdown_sentinel(w); /* the gateway began draining */
        metrics_add(&m->connections_draining, 1);
    } else {
        metrics_add(&m->connections_accepted, 1);
        connection_unref(conn);
        return ret;
    }
    connection_close(conn, final, why);
    frame_unref(final);
    connection_unref(conn);
    return ret;
}

enum MHD_Result web_serve_events(struct web *w, struct request *req, const char *upload,
                                 size_t *upload_size)
{
    (void)upload, (void)upload_size;
    struct sub_request sr;
    int64_t expires_s;
    enum MHD_Result refused;
    if (!parse_and_authorize(w, req, &sr, &expires_s, &refused))
        return refused;
    struct sub *s;
    struct MHD_Response *r = build(w, req, &sr, expires_s, &s);
    enum MHD_Result ret = admit(w, req, s, r, sr.has_cursor, sr.cursor);
    sub_request_clear(&sr);
    return ret;
}

/* Closes every open SSE connection, each with its own shutdown sentinel when
 * with_sentinel (a connection already closing keeps what it has). */
void web_close_streams(struct web *w, bool with_sentinel)
{
    struct conn_list open = {0};
    PTOK(pthread_mutex_lock(&w->mtx));
    w->closing = true;
    for (struct sub *s = w->subs; s; s = s->next)
        conn_list_push(&open, connection_ref(s->conn));
    PTOK(pthread_mutex_unlock(&w->mtx));
    for (size_t i = 0; i < open.len; i++) {
        struct frame *final = with_sentinel ? shutdown_sentinel(w) : NULL;
        if (connection_close(open.items[i], final, CONN_END_SHUTDOWN))
            connection_resume(open.items[i]);
        frame_unref(final);
    }
    conn_list_free(&open);
}

void web_drain(struct web *w)
{
    atomic_store(&w->draining, true);
    web_close_streams(w, true);
}

size_t web_requests_in_flight(struct web *w)
{
    return atomic_load(&w->requests_open);
}

size_t web_open_streams(struct web *w)
{
    PTOK(pthread_mutex_lock(&w->mtx));
    size_t n = w->nsubs;
    PTOK(pthread_mutex_unlock(&w->mtx));
    return n;
}

void web_sweep_stalled(struct web *w)
{
    struct conn_list open = {0};
    PTOK(pthread_mutex_lock(&w->mtx));
    for (struct sub *s = w->subs; s; s = s->next)
        conn_list_push(&open, connection_ref(s->conn));
    PTOK(pthread_mutex_unlock(&w->mtx));
    int64_t now = clock_now_ms(w->deps.clock);
    size_t cut = 0;
    for (size_t i = 0; i < open.len; i++)
        if (connection_check_stall(open.items[i], now, w->cfg.write_deadline_ms) == CONN_CUT)
            cut++;
    conn_list_free(&open);
    if (!cut)
        return;
    metrics_add(&w->deps.metrics->slow_consumer_disconnects, cut);
    if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
        log_warn("http", "closed %zu subscriber(s): no byte accepted for %ld ms (write deadline)",
                 cut, w->cfg.write_deadline_ms);
}
