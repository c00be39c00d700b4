/*
 * http_server: the HTTP adapter over libmicrohttpd (only web/ includes
 * <microhttpd.h>), and its routing. Owns the daemons (an internal thread pool
 * with epoll and suspend/resume, plus the small admin daemon of
 * --admin-listen) and the one handler both share: it finds the request's
 * route in the table routes[] by path, checks its headers in one place
 * (check_headers: the body's framing, CORS, answering a preflight itself),
 * then its method, and calls the route. The small answers are here, one
 * function per route: health, readiness, metrics, stats and the demo page.
 *
 * The long-lived routes have their own files: GET /events sse_response.c,
 * POST /publish publish_endpoint.c. A request's life and the answers every
 * route shares are request.c's.
 *
 * Threads: MHD's threads run the handler and the logger; the web_*
 * functions here run on the gateway's main thread.
 * Does not: parse a query or a body (query.c and publish_body.c do) or hold
 * a response open.
 */
#include "web/http_server.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "web/cors.h"
#include "web/escape.h"
#include "web/etag.h"
#include "web/framing.h"
#include "web/query.h"
#include "web/tls.h"
#include "web/web_internal.h"

#include <assert.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Requests not yet answered are cut after this long without a byte moving.
 * MHD's timeout counts inactivity only: request headers have their own
 * deadline however slowly they trickle (--request-timeout, header_watch.c),
 * and an SSE response gets --write-deadline (sse_response.c). */
#define REQUEST_TIMEOUT_S 30
/* No per-IP connection limit (MHD_OPTION_PER_IP_CONNECTION_LIMIT): behind a
 * load balancer every client shares the balancer's address, and browsers on
 * one NAT share theirs, so a per-IP cap would refuse legitimate users; the
 * global --max-connections shedding (sse_response.c) protects the process
 * instead. */
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
/* GnuTLS's defaults less TLS 1.0 and 1.1, which browsers no longer speak. */
#define TLS_PRIORITIES "NORMAL:-VERS-TLS1.1:-VERS-TLS1.0"

/* What libmicrohttpd says when a client closes its socket, which a closed
 * browser tab does every time: "Failed to send the response body …: The
 * socket is no longer available for sending", a reset, a read that finds
 * the connection gone. */
static bool client_closed(const char *line)
{
    static const char *const normal[] = {
        "socket is no longer available", "forcibly closed by remote peer",
        "socket is not connected",       "closed by remote side",
        "Connection socket is closed",
    };
    for (size_t i = 0; i < sizeof normal / sizeof normal[0]; i++)
        if (strstr(line, normal[i]))
            return true;
    return false;
}

/* What libmicrohttpd 0.9.75 says of any failed TLS handshake, whatever
 * GnuTLS's reason: plain HTTP sent to the HTTPS port, a client that refused
 * the certificate, no protocol version or cipher in common. */
#define TLS_HANDSHAKE_FAILED "received handshake message out of context"

/* libmicrohttpd's own lines: a client closing is not a warning (debug), a
 * failed TLS handshake is the client's trouble (info, in our words); the
 * rest stays warn. Formatted only when its level is on and the budget
 * allows. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct web *w = cls;
    if (!log_enabled(LOG_DEBUG) && !log_enabled(LOG_WARN))
        return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    if (strstr(line, TLS_HANDSHAKE_FAILED)) {
        if (log_enabled(LOG_INFO) && log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "a TLS handshake failed: plain HTTP to the HTTPS port, a client "
                             "that refused the certificate, or nothing in common");
        return;
    }
    enum log_level level = client_closed(line) ? LOG_DEBUG : LOG_WARN;
    if (!log_enabled(level) || !log_budget_take(&w->mhd_log, MHD_LOG_PER_SECOND))
        return;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    log_msg(level, "http", "libmicrohttpd: %s", line);
}

/* Methods a route takes, as bits. */
enum { METHOD_GET = 1, METHOD_HEAD = 2, METHOD_POST = 4 };

static unsigned method_bit(const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return METHOD_GET;
    if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return METHOD_HEAD;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return METHOD_POST;
    return 0;
}

/* The small answers: one function per route. */

static enum MHD_Result serve_healthz(struct web *w, struct request *req, const char *upload,
                                     size_t *upload_size)
{
    (void)w, (void)upload, (void)upload_size;
    return web_respond(req, MHD_HTTP_OK, "application/json", "{\"status\":\"ok\"}", 15);
}

static enum MHD_Result serve_readyz(struct web *w, struct request *req, const char *upload,
                                    size_t *upload_size)
{
    (void)upload, (void)upload_size;
    const struct web_hooks *h = w->deps.hooks;
    return h->ready(h->ctx)
               ? web_respond(req, MHD_HTTP_OK, "application/json", "{\"status\":\"ready\"}", 18)
               : web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready");
}

/* A 200 with a body the hook allocated; frees it. */
static enum MHD_Result respond_owned(struct request *req, const char *type, char *body)
{
    enum MHD_Result r = web_respond(req, MHD_HTTP_OK, type, body, strlen(body));
    free(body);
    return r;
}

/* /metrics and /stats name the streams in use and the fleet's state. With
 * authorization on, the main daemon hides them (404) when the admin daemon
 * serves them, and otherwise asks for a token with "sse":{"admin":true}
 * (401 without a token, 403 with another). The admin daemon, and an open
 * gateway, serve them as they are. Returns true to serve; false once the
 * request is answered in *answer. */
static bool admin_data_allowed(struct web *w, struct request *req, enum MHD_Result *answer)
{
    if (req->admin || !w->deps.auth)
        return true;
    if (w->cfg.admin_listen) {
        *answer = web_respond_error(req, MHD_HTTP_NOT_FOUND, "not found");
        return false;
    }
    const char *q = strchr(req->uri, '?');
    char *from_query = q ? query_token(q + 1, strlen(q + 1)) : NULL;
    int64_t expires_s;
    const char *reason;
    enum auth_result r =
        web_authorize(w, req, from_query, AUTH_ADMIN, NULL, 0, &expires_s, &reason);
    free(from_query);
    if (r == AUTH_OK)
        return true;
    *answer = web_respond_auth(w, req, AUTH_ADMIN, r, reason);
    return false;
}

static enum MHD_Result serve_metrics(struct web *w, struct request *req, const char *upload,
                                     size_t *upload_size)
{
    (void)upload, (void)upload_size;
    enum MHD_Result answer;
    if (!admin_data_allowed(w, req, &answer))
        return answer;
    const struct web_hooks *h = w->deps.hooks;
    return respond_owned(req, "text/plain; version=0.0.4", h->metrics_text(h->ctx));
}

static enum MHD_Result serve_stats(struct web *w, struct request *req, const char *upload,
                                   size_t *upload_size)
{
    (void)upload, (void)upload_size;
    enum MHD_Result answer;
    if (!admin_data_allowed(w, req, &answer))
        return answer;
    const struct web_hooks *h = w->deps.hooks;
    return respond_owned(req, "application/json", h->stats_json(h->ctx));
}

/* web/demo.html and clients/js/sse-gateway.js, embedded at build time. */
extern const char demo_page_html[], client_js[];
extern const size_t demo_page_html_len, client_js_len;

static enum MHD_Result serve_demo(struct web *w, struct request *req, const char *upload,
                                  size_t *upload_size)
{
    (void)w, (void)upload, (void)upload_size;
    return web_respond(req, MHD_HTTP_OK, "text/html; charset=utf-8", demo_page_html,
                       demo_page_html_len);
}

/* The browser client. Public code, so any origin may load it (a module
 * script is fetched with CORS); browsers keep it a few minutes, then
 * revalidate with its ETag. The 304 goes out with "Content-Length: 0":
 * libmicrohttpd 0.9.75 adds it to every response and a second one would be
 * worse; browsers ignore it there. */
static enum MHD_Result serve_client(struct web *w, struct request *req, const char *upload,
                                    size_t *upload_size)
{
    (void)upload, (void)upload_size;
    const char *inm =
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = etag_matches(inm, w->client_etag);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        fresh ? 0 : client_js_len, fresh ? NULL : (void *)client_js, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/javascript; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=300");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, w->client_etag);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    return web_queue(req, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}

/* Which daemon serves a route. */
enum served_on {
    ON_BOTH = 0, /* the main daemon and the admin daemon */
    ON_MAIN,     /* the main daemon only */
    ON_DEMO,     /* the main daemon, with --demo only */
};

struct route {
    const char *path;
    unsigned methods; /* METHOD_* bits; any other method gets 405 */
    enum served_on on;
    route_fn serve;
};

/* Every path served. HEAD is allowed wherever GET is, except on /events;
 * MHD sends a HEAD the GET's headers without the body. */
static const struct route routes[] = {
    {.path = "/events", .methods = METHOD_GET, .on = ON_MAIN, .serve = web_serve_events},
    {.path = "/publish", .methods = METHOD_POST, .serve = web_serve_publish},
    {.path = "/healthz", .methods = METHOD_GET | METHOD_HEAD, .serve = serve_healthz},
    {.path = "/readyz", .methods = METHOD_GET | METHOD_HEAD, .serve = serve_readyz},
    {.path = "/metrics", .methods = METHOD_GET | METHOD_HEAD, .serve = serve_metrics},
    {.path = "/stats", .methods = METHOD_GET | METHOD_HEAD, .serve = serve_stats},
    {.path = "/sse-gateway.js",
     .methods = METHOD_GET | METHOD_HEAD,
     .on = ON_MAIN,
     .serve = serve_client},
    {.path = "/", .methods = METHOD_GET | METHOD_HEAD, .on = ON_DEMO, .serve = serve_demo},
};

/* The route for url on this daemon, or NULL. */
static const struct route *find_route(const struct endpoint *ep, const char *url)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        if (strcmp(url, r->path) != 0)
            continue;
        if ((r->on != ON_BOTH && ep->admin) || (r->on == ON_DEMO && !ep->web->cfg.demo))
            return NULL;
        return r;
    }
    return NULL;
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

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *name,
                                 size_t name_len, const char *value, size_t value_len)
{
    (void)kind;
    framing_add(cls, name, name_len, value ? value : "", value ? value_len : 0);
    return MHD_YES;
}

/* The one place where a routed request's headers are checked, before its
 * method: the body's framing (400 unless its length reads one way only),
 * then the Origin against --cors-origin (403 when refused; an allowed
 * origin's preflight is answered here). Returns true to go on to the route;
 * false once the request is answered, with MHD's result in *answer. An
 * answer here comes before the body is read, so MHD discards the body and
 * closes the socket: nothing after these headers is read as a request. */
static bool check_headers(struct web *w, struct request *req, const char *method,
                          enum MHD_Result *answer)
{
    struct framing framing = {0};
    MHD_get_connection_values_n(req->mhd, MHD_HEADER_KIND, add_field, &framing);
    const char *why = framing_verdict(&framing);
    if (why) {
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "refused a request: %s", why);
        *answer = web_respond_error(req, MHD_HTTP_BAD_REQUEST, why);
        return false;
    }
    const char *origin = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Host");
    switch (cors_check(w->cors, origin, host, &req->cors_allow, &req->cors_credentials)) {
    case CORS_DENY:
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND)) {
            char shown[420];
            log_info("http", "refused a request from origin %s: not in --cors-origin",
                     escape_printable(shown, sizeof shown, origin, strlen(origin), 100));
        }
        *answer = web_respond_error(req, MHD_HTTP_FORBIDDEN, "origin not allowed");
        return false;
    case CORS_ALLOW:
        if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0) {
            *answer = preflight(req);
            return false;
        }
        break;
    case CORS_NOT_CROSS:
        break;
    }
    return true;
}

/* MHD's handler, shared by both daemons (cls: the endpoint): the path (404),
 * the headers, the method (405), then the route. MHD calls it again for the
 * same request while its body arrives and once a parked publish resumes. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *mc, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)mc, (void)version;
    struct endpoint *ep = cls;
    assert(ep->magic == EP_MAGIC);
    struct web *w = ep->web;
    struct request *req = *req_cls;
    assert(req && req->magic == REQ_MAGIC);
    if (!req->headers_seen) {
        req->headers_seen = true; /* the first call: the headers are complete */
        header_watch_headers_done(req->watched);
    }
    /* A publish's later calls (its body, then its answer) go straight back
     * to it: its path, headers and method passed on its first call. */
    if (req->body_started || req->publish_queued)
        return web_serve_publish(w, req, upload_data, upload_data_size);
    *upload_data_size = 0; /* other routes take no body: discard it */
    req->admin = ep->admin;

    const struct route *route = find_route(ep, url);
    if (!route)
        return web_respond_error(req, MHD_HTTP_NOT_FOUND, "not found");
    enum MHD_Result answer;
    if (!check_headers(w, req, method, &answer))
        return answer;
    if (!(method_bit(method) & route->methods))
        return web_respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    return route->serve(w, req, upload_data, upload_data_size);
}

struct web *web_new(const struct web_config *cfg, const struct web_deps *deps)
{
    struct web *w = xcalloc(1, sizeof *w);
    w->magic = WEB_MAGIC;
    w->stall_watch = worker_new("http", NULL, NULL);
    w->cfg = *cfg;
    w->cfg.listen = xstrdup(cfg->listen);
    w->deps = *deps;
    w->admin_port = -1;
    w->cfg.admin_listen = cfg->admin_listen ? xstrdup(cfg->admin_listen) : NULL;
    w->main_ep = (struct endpoint){EP_MAGIC, w, false};
    w->admin_ep = (struct endpoint){EP_MAGIC, w, true};
    const char *err;
    etag_of(client_js, client_js_len, w->client_etag);
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

/* MHD's connection notifications (cls: the endpoint): every accepted socket
 * is watched until its headers are complete, and forgotten as MHD closes
 * it (before it closes the descriptor). On the TLS daemon a socket also
 * holds on to the certificate pairs its handshake may use; MHD reports the
 * close after it freed the socket's TLS session, or, when it drops a socket
 * it never read from, before. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct endpoint *ep = cls;
    assert(ep->magic == EP_MAGIC);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct socket_state *st = xmalloc(sizeof *st);
        st->watched = header_watch_connected(ep->watch, fd->connect_fd);
        st->tls_pair = ep->tls ? tls_socket_opened(ep->tls) : NULL;
        *socket_context = st;
    } else {
        struct socket_state *st = *socket_context;
        header_watch_closed(st->watched);
        if (ep->tls)
            tls_socket_closed(ep->tls, st->tls_pair);
        free(st);
        *socket_context = NULL;
    }
}

/* Starts ep's header watch: full at the daemon's limit less one socket per
 * worker (each worker has its share of the limit and stops accepting at it,
 * so the last few sockets may land unevenly). */
static int start_watch(struct web *w, struct endpoint *ep, unsigned threads, unsigned limit)
{
    ep->watch = header_watch_new(&(struct header_watch_deps){
        .clock = w->deps.clock,
        .timeout_ms = w->cfg.request_timeout_ms > 0 ? w->cfg.request_timeout_ms : 10000,
        .full_at = limit > threads ? limit - threads : 1,
    });
    return header_watch_start(ep->watch);
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
                     MHD_USE_TURBO | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
                     (ep->tls ? MHD_USE_TLS : 0);
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
        MHD_OPTION_NOTIFY_COMPLETED, web_request_completed, ep, MHD_OPTION_NOTIFY_CONNECTION,
        notify_connection, ep, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        /* Last, so that a plain daemon's list ends before them: the TLS
         * daemon's certificate, handed out per handshake (web/tls.c), and
         * its protocol versions. */
        ep->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, tls_retrieve,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_END);
    if (!d) {
        log_error("http", "could not listen on %s", listen);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (port)
        *port = info ? (int)info->port : -1;
    return d;
}

/* The stall watch: looks at every SSE socket a few times per write
 * deadline, so a stalled one is cut within about a quarter of it late. */
static void *watch_stalls(void *arg)
{
    struct web *w = arg;
    long tick = w->cfg.write_deadline_ms / 4;
    tick = tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
    while (worker_wait(w->stall_watch, tick))
        web_sweep_stalled(w);
    return NULL;
}

/* HTTPS on --listen: libmicrohttpd built with GnuTLS, and the pair attached
 * to the certificate callback. 0, or -1 (logged). */
static int start_tls(struct web *w)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
        MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
        log_error("http", "--tls-cert: this libmicrohttpd was built without TLS or its "
                          "certificate callback");
        return -1;
    }
    if (tls_attach(w->deps.tls) != 0) {
        log_error("http", "--tls-cert: another server of this process serves TLS");
        return -1;
    }
    w->main_ep.tls = w->deps.tls;
    return 0;
}

int web_start(struct web *w)
{
    unsigned threads = w->cfg.threads ? w->cfg.threads : 1;
    unsigned limit = w->cfg.max_connections + CONTROL_MARGIN;
    if (w->deps.tls && start_tls(w) != 0)
        return -1;
    if (start_watch(w, &w->main_ep, threads, limit) != 0)
        return -1;
    w->daemon = start_daemon(w, w->cfg.listen, &w->main_ep, threads, limit, NULL);
    if (!w->daemon || worker_start(w->stall_watch, watch_stalls, w) != 0)
        return -1;
    if (w->cfg.admin_listen) {
        if (start_watch(w, &w->admin_ep, 1, ADMIN_CONNECTIONS) != 0)
            return -1;
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

void web_stop(struct web *w)
{
    if (!w)
        return;
    if (w->daemon) {
        /* MHD forbids stopping with parked sockets: closing resumes every one. */
        web_close_streams(w, false);
        MHD_stop_daemon(w->daemon);
        w->daemon = NULL;
    }
    if (w->admin_daemon)
        MHD_stop_daemon(w->admin_daemon);
    w->admin_daemon = NULL;
    /* After the daemons: their last closes still tell the watches. */
    worker_stop(w->stall_watch);
    header_watch_stop(w->main_ep.watch);
    header_watch_stop(w->admin_ep.watch);
}

void web_free(struct web *w)
{
    if (!w)
        return;
    web_stop(w);
    free((char *)w->cfg.listen);
    free((char *)w->cfg.admin_listen);
    header_watch_free(w->main_ep.watch);
    header_watch_free(w->admin_ep.watch);
    worker_free(w->stall_watch);
    cors_free(w->cors);
    PTOK(pthread_mutex_destroy(&w->mtx));
    w->magic = 0;
    free(w);
}
