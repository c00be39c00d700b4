/*
 * http_server: the HTTP adapter over libmicrohttpd (only web/ includes
 * <microhttpd.h>). Owns the daemon (an internal thread pool with epoll and
 * suspend/resume), the list of open SSE responses, and the translation
 * between MHD callbacks and struct connection (a request's life and the
 * answers every route shares are request.c's):
 *
 *   reader callback  → connection_read(): copy queued frames, or park the
 *                      socket with MHD_suspend_connection() when empty;
 *   io resume        → MHD_resume_connection(), called by whoever queued;
 *   response free    → the "connection gone" signal: unsubscribe, unref.
 *
 * Threads: MHD's workers run every callback here; web_* functions are called
 * by the gateway's main thread. The list of open responses is guarded by mtx.
 * Does not: decide delivery (the dispatcher does) or parse anything itself
 * (query.c does, on the raw URI, because MHD's own argument parsing decodes
 * %00 into a truncated C string).
 */
#include "web/http_server.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "protocol/sse_frame.h"
#include "registry/conn_list.h"
#include "registry/connection.h"
#include "web/auth.h"
#include "web/cors.h"
#include "web/query.h"
#include "web/web_internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define SUB_MAGIC 0x53554221u /* "SUB!" */

/* The block MHD allocates inside every callback response, that is per
 * subscriber, and offers the reader per call: 4 KiB here made 13.7 KiB per
 * idle connection, 256 B 5.9 KiB. A backlog does not go through it: the
 * reader writes that straight to the socket (connection_read) and leaves
 * only the last block's worth to MHD. */
#define READER_BLOCK 256
/* Requests not yet answered and idle keep-alive sockets are cut after this
 * long without a byte moving. MHD's timeout counts inactivity, so a slowloris
 * client trickling a byte a second keeps its own socket; with epoll it holds
 * nobody else up, and the connection's pool (--connection-memory) ends its
 * headers at about half its size (431). An SSE
 * response gets --write-deadline instead (serve_events). */
#define REQUEST_TIMEOUT_S 30
/* No per-IP connection limit (MHD_OPTION_PER_IP_CONNECTION_LIMIT): behind a
 * load balancer every client shares the balancer's address, and browsers on
 * one NAT share theirs, so a per-IP cap would refuse legitimate users; the
 * global --max-connections shedding below protects the process instead. */
/* Extra sockets beyond --max-connections for health, metrics and the
 * over-capacity answers themselves: MHD stops accepting at its limit instead
 * of refusing (docs/DESIGN.md, libmicrohttpd under load), so we shed load
 * ourselves below it. */
#define CONTROL_MARGIN 32
/* MHD's own error lines per second: it logs a line for every socket that died
 * while parked, which under churn is thousands a second. */
#define MHD_LOG_PER_SECOND 5
/* Connections the admin daemon takes: probes, scrapers and publishers. */
#define ADMIN_CONNECTIONS 256

/* Per SSE response. */
struct sub {
    unsigned magic;
    struct web *web;
    struct connection *conn; /* the response's reference */
    struct MHD_Connection *mhd;
    int fd;                  /* the socket, written directly while parked (connection.c) */
    _Atomic bool timed_out;  /* set by request_completed: MHD cut a stuck socket */
    struct sub *prev, *next; /* guarded by web->mtx */
};

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct web *w = cls;
    if (!log_budget_take(&w->mhd_log, MHD_LOG_PER_SECOND))
        return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    log_warn("http", "libmicrohttpd: %s", line);
}

static enum MHD_Result respond_owned(struct request *req, const char *type, char *body)
{
    enum MHD_Result r = web_respond(req, MHD_HTTP_OK, type, body, strlen(body));
    free(body);
    return r;
}

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
 * short, so MHD waits for room and applies --write-deadline. */
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
    if (n > 0 && oldest_published_us)
        metrics_observe_latency(w->deps.metrics,
                                clock_wall_us(w->deps.clock) - oldest_published_us);
    return (long)n;
}

static const struct conn_io_ops mhd_io = {io_suspend, io_resume, io_send};

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
        if (published_us)
            metrics_observe_latency(w->deps.metrics, clock_wall_us(w->deps.clock) - published_us);
        return n;
    }
    /* 0 only ever after parking the socket: MHD calls a reader that returns 0
     * unparked again at once, a busy loop. */
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

/* The response is gone, so is the socket: the one place a subscriber ends. */
static void sse_free(void *cls)
{
    struct sub *s = cls;
    assert(s->magic == SUB_MAGIC);
    struct web *w = s->web;
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

/* --write-deadline in MHD's whole seconds, rounded up, at least 1. */
static unsigned deadline_seconds(const struct web *w)
{
    long ms = w->cfg.write_deadline_ms > 0 ? w->cfg.write_deadline_ms : 1;
    return (unsigned)((ms + 999) / 1000);
}

static enum MHD_Result serve_events(struct web *w, struct MHD_Connection *mc, struct request *req)
{
    struct metrics *m = w->deps.metrics;
    const char *q = strchr(req->uri, '?');
    struct sub_request sr;
    const char *why;
    enum query_status st = query_parse_subscription(q ? q + 1 : "", q ? strlen(q + 1) : 0,
                                                    w->cfg.max_streams_per_connection, &sr, &why);
    if (st != QUERY_OK) {
        metrics_add(&m->connections_rejected, 1);
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "rejected a subscription: %s", why);
        return web_respond_error(req, MHD_HTTP_BAD_REQUEST, why);
    }
    int64_t expires_s;
    const char *reason;
    enum auth_result ar =
        web_authorize(w, req, sr.token, AUTH_SUBSCRIBE, (const char *const *)sr.streams,
                      sr.nstreams, &expires_s, &reason);
    if (ar != AUTH_OK) {
        sub_request_clear(&sr);
        metrics_add(&m->connections_rejected, 1);
        return web_respond_auth(w, req, AUTH_SUBSCRIBE, ar, reason);
    }
    /* A valid Last-Event-ID header wins over the query; a malformed one is ignored. */
    const char *header = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Last-Event-ID");
    int64_t from_header;
    if (header && cursor_parse(header, strlen(header), &from_header) == 0) {
        sr.has_cursor = true;
        sr.cursor = from_header;
    }

    struct sub *s = xcalloc(1, sizeof *s);
    s->magic = SUB_MAGIC;
    s->web = w;
    s->mhd = mc;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    s->conn = connection_new(&(struct connection_params){
        .streams = (const char *const *)sr.streams,
        .nstreams = sr.nstreams,
        .max_queued_bytes = w->cfg.max_queued_bytes,
        .io = &mhd_io,
        .io_ctx = s,
        .io_release = sub_release,
        .now_ms = clock_now_ms(w->deps.clock),
        .expires_s = expires_s,
    });
    bool has_cursor = sr.has_cursor;
    int64_t cursor = sr.cursor;
    sub_request_clear(&sr);
    struct frame *preamble = sse_encode_preamble(w->cfg.retry_ms);
    connection_push(s->conn, preamble, clock_now_ms(w->deps.clock), false);
    frame_unref(preamble);

    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READER_BLOCK, sse_reader, s, sse_free);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    /* A close-delimited body, not chunked: bytes written straight to the
     * parked socket (io_send) and bytes MHD writes then follow each other
     * with no framing to keep in step. EventSource reads either. */
    MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);

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
     * sse_free runs inside queue() and s is gone with it. */
    struct connection *conn = connection_ref(s->conn);
    enum MHD_Result ret = web_queue(req, MHD_HTTP_OK, r);
    if (ret != MHD_YES || connection_is_gone(conn)) {
        connection_unref(conn);
        return ret;
    }
    req->sub = true;
    /* MHD's timeout counts time without a byte moving, and MHD neither times
     * out a parked socket nor calls the reader of one it cannot write: so on
     * an SSE response it is exactly "the socket accepted nothing for
     * --write-deadline". Resuming restarts the count. */
    MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT, deadline_seconds(w));
    struct frame *final = NULL;
    if (closing) {
        final = shutdown_sentinel(w);
        metrics_add(&m->connections_draining, 1);
    } else if (over) {
        /* Over capacity: 200 + a jittered retry + gateway:overloaded, never a
         * 5xx, which a browser's EventSource would treat as final. */
        final = overloaded_sentinel(w);
        metrics_add(&m->connections_overloaded, 1);
    } else if (w->deps.hooks->subscribe(w->deps.hooks->ctx, conn, has_cursor, cursor) != 0) {
        final = shutdown_sentinel(w); /* the gateway began draining */
        metrics_add(&m->connections_draining, 1);
    } else {
        metrics_add(&m->connections_accepted, 1);
        connection_unref(conn);
        return ret;
    }
    connection_close(conn, final);
    frame_unref(final);
    connection_unref(conn);
    return ret;
}

/* Answers a CORS preflight (OPTIONS with Access-Control-Request-Method). */
static enum MHD_Result preflight(struct request *req)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, Last-Event-ID");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    return web_queue(req, MHD_HTTP_NO_CONTENT, r);
}

static bool is_path(const char *url, const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(url, paths[i]) == 0)
            return true;
    return false;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mc, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    struct endpoint *ep = cls;
    assert(ep->magic == EP_MAGIC);
    struct web *w = ep->web;
    struct request *req = *req_cls;
    assert(req && req->magic == REQ_MAGIC);
    bool is_publish = strcmp(url, "/publish") == 0;
    if (is_publish && strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
        (req->body_started || req->publish_queued))
        return web_serve_publish(w, req, upload_data, upload_data_size); /* past the checks below */
    *upload_data_size = 0; /* other endpoints take no body: discard it */

    static const char *const control[] = {"/healthz", "/readyz", "/metrics", "/stats"};
    bool is_events = !ep->admin && strcmp(url, "/events") == 0;
    bool is_demo = !ep->admin && w->cfg.demo && strcmp(url, "/") == 0;
    if (!is_events && !is_demo && !is_publish &&
        !is_path(url, control, sizeof control / sizeof control[0]))
        return web_respond_error(req, MHD_HTTP_NOT_FOUND, "not found");

    const char *origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
    switch (cors_check(w->cors, origin, host, &req->cors_allow, &req->cors_credentials)) {
    case CORS_DENY:
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "refused a request from origin %.100s: not in --cors-origin", origin);
        return web_respond_error(req, MHD_HTTP_FORBIDDEN, "origin not allowed");
    case CORS_ALLOW:
        if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
            return preflight(req);
        break;
    case CORS_NOT_CROSS:
        break;
    }

    if (is_publish)
        return strcmp(method, MHD_HTTP_METHOD_POST) == 0
                   ? web_serve_publish(w, req, upload_data, upload_data_size)
                   : web_respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get && !(head && !is_events))
        return web_respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    if (is_events)
        return serve_events(w, mc, req);
    const struct web_hooks *h = w->deps.hooks;
    if (strcmp(url, "/healthz") == 0)
        return web_respond(req, MHD_HTTP_OK, "application/json", "{\"status\":\"ok\"}", 15);
    if (strcmp(url, "/readyz") == 0)
        return h->ready(h->ctx)
                   ? web_respond(req, MHD_HTTP_OK, "application/json", "{\"status\":\"ready\"}", 18)
                   : web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready");
    if (strcmp(url, "/metrics") == 0)
        return respond_owned(req, "text/plain; version=0.0.4", h->metrics_text(h->ctx));
    if (strcmp(url, "/stats") == 0)
        return respond_owned(req, "application/json", h->stats_json(h->ctx));
    extern const char demo_page_html[];
    extern const size_t demo_page_html_len;
    return web_respond(req, MHD_HTTP_OK, "text/html; charset=utf-8", demo_page_html,
                       demo_page_html_len);
}

struct web *web_new(const struct web_config *cfg, const struct web_deps *deps)
{
    struct web *w = xcalloc(1, sizeof *w);
    w->magic = WEB_MAGIC;
    w->cfg = *cfg;
    w->cfg.listen = xstrdup(cfg->listen);
    w->deps = *deps;
    w->admin_port = -1;
    w->cfg.admin_listen = cfg->admin_listen ? xstrdup(cfg->admin_listen) : NULL;
    w->main_ep = (struct endpoint){EP_MAGIC, w, false};
    w->admin_ep = (struct endpoint){EP_MAGIC, w, true};
    const char *err;
    w->cors = cors_new(cfg->cors_origins, &err);
    assert(!err); /* main validated --cors-origin */
    atomic_init(&w->random_state, (((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)w) | 1);
    PTOK(pthread_mutex_init(&w->mtx, NULL));
    return w;
}

/* "host:port" or "[v6]:port" → a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *out, bool *v6)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *h = host;
    if (h[0] == '[') {
        h++;
        size_t n = strlen(h);
        if (!n || h[n - 1] != ']')
            return -1;
        h[n - 1] = '\0';
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai) != 0)
        return -1;
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

/* One daemon on listen. The admin daemon is small and separate so that
 * health checks and metrics still answer when the SSE daemon is at its
 * connection limit, where MHD stops accepting. */
static struct MHD_Daemon *start_daemon(struct web *w, const char *listen, struct endpoint *ep,
                                       unsigned threads, unsigned limit, int *port)
{
    struct sockaddr_storage addr;
    bool v6 = false;
    if (parse_listen(listen, &addr, &v6) != 0) {
        log_error("http", "cannot use listen address %s", listen);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_TURBO | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, ep,
        /* First, so that MHD routes even its option-parsing messages here. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, limit,
        /* The pool holds the request's headers (about half of it: larger
         * ones get 431), then the response's headers; MHD zeroes what it
         * frees, so all of it stays resident for the socket's life. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, w->cfg.connection_memory, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)REQUEST_TIMEOUT_S, MHD_OPTION_URI_LOG_CALLBACK, web_request_new, w,
        MHD_OPTION_NOTIFY_COMPLETED, web_request_completed, ep, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_END);
    if (!d) {
        log_error("http", "could not listen on %s", listen);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (port)
        *port = info ? (int)info->port : -1;
    return d;
}

int web_start(struct web *w)
{
    unsigned threads = w->cfg.threads ? w->cfg.threads : 1;
    w->daemon = start_daemon(w, w->cfg.listen, &w->main_ep, threads,
                             w->cfg.max_connections + CONTROL_MARGIN, NULL);
    if (!w->daemon)
        return -1;
    if (w->cfg.admin_listen) {
        w->admin_daemon = start_daemon(w, w->cfg.admin_listen, &w->admin_ep, 1, ADMIN_CONNECTIONS,
                                       &w->admin_port);
        if (!w->admin_daemon)
            return -1;
        log_info("http", "admin endpoints on %s", w->cfg.admin_listen);
    }
    return 0;
}

int web_admin_port(struct web *w)
{
    return w->admin_port;
}

/* Closes every open SSE connection, each with its own shutdown sentinel when
 * with_sentinel (a connection already closing keeps what it has). */
static void close_all(struct web *w, bool with_sentinel)
{
    struct conn_list open = {0};
    PTOK(pthread_mutex_lock(&w->mtx));
    w->closing = true;
    for (struct sub *s = w->subs; s; s = s->next)
        conn_list_push(&open, connection_ref(s->conn));
    PTOK(pthread_mutex_unlock(&w->mtx));
    for (size_t i = 0; i < open.len; i++) {
        struct frame *final = with_sentinel ? shutdown_sentinel(w) : NULL;
        if (connection_close(open.items[i], final))
            connection_resume(open.items[i]);
        frame_unref(final);
    }
    conn_list_free(&open);
}

void web_drain(struct web *w)
{
    close_all(w, true);
}

size_t web_open_streams(struct web *w)
{
    PTOK(pthread_mutex_lock(&w->mtx));
    size_t n = w->nsubs;
    PTOK(pthread_mutex_unlock(&w->mtx));
    return n;
}

void web_stop(struct web *w)
{
    if (!w || !w->daemon)
        return;
    /* MHD forbids stopping with parked sockets: closing resumes every one. */
    close_all(w, false);
    MHD_stop_daemon(w->daemon);
    w->daemon = NULL;
    if (w->admin_daemon)
        MHD_stop_daemon(w->admin_daemon);
    w->admin_daemon = NULL;
}

void web_free(struct web *w)
{
    if (!w)
        return;
    web_stop(w);
    free((char *)w->cfg.listen);
    free((char *)w->cfg.admin_listen);
    cors_free(w->cors);
    PTOK(pthread_mutex_destroy(&w->mtx));
    w->magic = 0;
    free(w);
}
