/*
 * http_server: the HTTP adapter over libmicrohttpd (only web/ includes
 * <microhttpd.h>): the server's life. Owns the daemons (an internal thread
 * pool with epoll and suspend/resume, plus the small admin daemon of
 * --admin-listen), what they are configured with (limits, timeouts, TLS,
 * MHD's own log lines), each accepted socket's state from open to close,
 * and the stall watch's thread. Both daemons hand every request to the one
 * handler of routes.c, which finds its route and answers it.
 *
 * Threads: MHD's threads run the logger and the socket notifications; the
 * web_* functions here run on the gateway's main thread.
 * Does not: route or answer a request (routes.c and the files of each route
 * do), or hold a response open (sse_response.c does).
 */
#include "web/http_server.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "web/cors.h"
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
    web_routes_prepare(w);
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
        flags, 0, NULL, NULL, web_handle, ep,
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
