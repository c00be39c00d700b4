/*
 * request: one HTTP request's life in the adapter, and the answers every route
 * builds on. MHD's URI logger creates the struct request, its completion
 * callback frees it; in between a route answers through web_queue(), the one
 * place where the headers every response carries (CORS) are added.
 * web_authorize() reads the request's token and asks auth whether it covers
 * the streams.
 *
 * Threads: MHD's workers, one request at a time on each.
 * Does not: route, or hold a response open (the SSE and publish endpoints
 * do).
 */
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "registry/connection.h"
#include "web/auth.h"
#include "web/escape.h"
#include "web/web_internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An error body's bytes: room for a reason of 256 bytes, escaped. */
#define ERROR_BODY_MAX 1024

void *web_request_new(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *req = xcalloc(1, sizeof *req);
    req->magic = REQ_MAGIC;
    req->mhd = c;
    req->web = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct socket_state *st = ci ? ci->socket_context : NULL;
    req->watched = st ? st->watched : NULL;
    /* Counted until it ends, unless it began after web_drain: count first,
     * then look, while web_drain sets the flag first, then reads the count
     * (both sequentially consistent), so a drain never misses a request it
     * should wait for. */
    struct web *w = cls;
    atomic_fetch_add(&w->requests_open, 1);
    if (atomic_load(&w->draining))
        atomic_fetch_sub(&w->requests_open, 1);
    else
        req->counted = true;
    req->started_ms = clock_now_ms(req->web->deps.clock);
    atomic_init(&req->publish_outcome, -1);
    req->uri = xstrdup(uri ? uri : "");
    return req;
}

void web_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct endpoint *ep = cls;
    assert(ep->magic == EP_MAGIC);
    struct web *w = ep->web;
    struct request *req = *req_cls;
    if (!req)
        return;
    assert(req->magic == REQ_MAGIC);
    if (req->sub) {
        /* MHD calls this before it frees the response, whose free callback
         * writes the record; the reference keeps the sub alive either way. */
        web_sub_completed(req->sub_state, toe);
        connection_unref(req->sub);
    }
    /* A kept-alive socket now waits for its next request's headers. One
     * being closed is forgotten in a moment (notify_connection). */
    header_watch_waiting(req->watched);
    if (req->counted)
        atomic_fetch_sub(&w->requests_open, 1);
    if (req->publish && web_access_log_take(w)) {
        const union MHD_ConnectionInfo *ci =
            c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
        char remote[64];
        web_format_peer(ci ? ci->client_addr : NULL, remote, sizeof remote);
        log_record(LOG_INFO, "http", "publish", LOG_STR("remote", remote),
                   LOG_INT("status", req->status ? req->status : 0),
                   LOG_INT("events", req->publish_events),
                   LOG_INT("ms", clock_now_ms(w->deps.clock) - req->started_ms));
    }
    free(req->uri);
    free(req->body);
    free(req->token);
    req->magic = 0;
    free(req);
    *req_cls = NULL;
}

void web_format_peer(const struct sockaddr *sa, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN], port[8];
    socklen_t len = !sa                         ? 0
                    : sa->sa_family == AF_INET  ? sizeof(struct sockaddr_in)
                    : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : 0;
    if (!len || getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                            NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

bool web_access_log_take(struct web *w)
{
    if (!log_enabled(LOG_INFO))
        return false;
    if (log_budget_take(&w->access_log, ACCESS_LOG_PER_SECOND))
        return true;
    metrics_add(&w->deps.metrics->access_log_dropped, 1);
    return false;
}

enum MHD_Result web_queue(struct request *req, unsigned status, struct MHD_Response *r)
{
    req->status = status;
    /* Draining: a kept-alive client sends its next request elsewhere. */
    if (atomic_load(&req->web->draining))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (req->cors_allow) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", req->cors_allow);
        if (req->cors_credentials)
            MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(r, "Vary", "Origin");
    }
    enum MHD_Result ret = MHD_queue_response(req->mhd, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result web_respond(struct request *req, unsigned status, const char *type,
                            const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    return web_queue(req, status, r);
}

/* {"error":message} into body, valid JSON whatever message holds. */
static size_t error_body(char *body, size_t size, const char *message)
{
    static const char head[] = "{\"error\":\"", tail[] = "\"}";
    size_t n = sizeof head - 1;
    memcpy(body, head, n);
    n += escape_json(body + n, size - n - (sizeof tail - 1), message);
    memcpy(body + n, tail, sizeof tail);
    return n + sizeof tail - 1;
}

enum MHD_Result web_respond_error(struct request *req, unsigned status, const char *message)
{
    char body[ERROR_BODY_MAX];
    return web_respond(req, status, "application/json", body,
                       error_body(body, sizeof body, message));
}

enum MHD_Result web_respond_auth(struct web *w, struct request *req, enum auth_action action,
                                 enum auth_result r, const char *reason)
{
    if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
        log_info("http", "refused %s: %s",
                 action == AUTH_PUBLISH     ? "a publish"
                 : action == AUTH_SUBSCRIBE ? "a subscription"
                                            : "admin data",
                 reason);
    char body[ERROR_BODY_MAX];
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        error_body(body, sizeof body, reason), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (r == AUTH_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"sse\"");
    return web_queue(req, r == AUTH_UNAUTHORIZED ? MHD_HTTP_UNAUTHORIZED : MHD_HTTP_FORBIDDEN,
                     resp);
}

enum auth_result web_authorize(struct web *w, struct request *req, const char *query_token,
                               enum auth_action action, const char *const *streams, size_t nstreams,
                               int64_t *expires_s, const char **reason)
{
    *expires_s = 0;
    if (!w->deps.auth)
        return AUTH_OK;
    char *token = auth_token_from(
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE),
        query_token);
    enum auth_result r = auth_check(w->deps.auth, token, clock_wall_us(w->deps.clock) / 1000000,
                                    action, streams, nstreams, expires_s, reason);
    free(token);
    return r;
}
