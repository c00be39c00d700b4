/*
 * routes: what the server answers, once MHD has a request's headers. Its
 * handler, which both daemons share (web_handle), finds the request's route
 * in the table routes[] by path, checks its headers in one place
 * (check_headers: the body's framing, CORS, answering a preflight itself),
 * then its method, and calls the route. The small answers are here, one
 * function per route: health, readiness, metrics, stats, the demo page and
 * the browser client.
 *
 * The long-lived routes have their own files: GET /events sse_response.c,
 * POST /publish publish_endpoint.c. A request's life and the answers every
 * route shares are request.c's; the daemons that call the handler are
 * http_server.c's.
 *
 * Threads: MHD's workers, one request at a time on each; web_routes_prepare
 * on the gateway's thread, from web_new.
 * Does not: parse a query or a body (query.c and publish_body.c do), hold a
 * response open, or see a socket before its headers are complete
 * (http_server.c watches those).
 */
#include "common/log.h"
#include "common/metrics.h"
#include "web/cors.h"
#include "web/escape.h"
#include "web/etag.h"
#include "web/framing.h"
#include "web/query.h"
#include "web/web_internal.h"

#include <assert.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

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

void web_routes_prepare(struct web *w)
{
    etag_of(client_js, client_js_len, w->client_etag);
}

/* Which daemon serves a route. */
enum served_on {
    ON_BOTH = 0, /* the main daemon and the admin daemon */
    ON_MAIN,     /* the main daemon only */
    ON_DEMO,     /* the main daemon, with --demo only */
};

/* Where a request refused before its route ran is counted. */
enum refusal_count { REFUSAL_UNCOUNTED, REFUSAL_SUBSCRIPTION, REFUSAL_PUBLISH };

struct route {
    const char *path;
    unsigned methods; /* METHOD_* bits; any other method gets 405 */
    enum served_on on;
    route_fn serve;
    enum refusal_count refusal;
};

/* Every path served. HEAD is allowed wherever GET is, except on /events;
 * MHD sends a HEAD the GET's headers without the body. */
static const struct route routes[] = {
    {.path = "/events",
     .methods = METHOD_GET,
     .on = ON_MAIN,
     .serve = web_serve_events,
     .refusal = REFUSAL_SUBSCRIPTION},
    {.path = "/publish",
     .methods = METHOD_POST,
     .serve = web_serve_publish,
     .refusal = REFUSAL_PUBLISH},
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

/* Answers any OPTIONS from an allowed origin as a CORS preflight: the
 * methods and headers it may use, whatever the request asked for. */
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

/* A subscription or a publish refused before its route ran (framing,
 * origin, method) is counted with the refusals the route makes itself. */
static void count_refused(struct web *w, const struct route *route)
{
    if (route->refusal == REFUSAL_SUBSCRIPTION)
        metrics_add(&w->deps.metrics->connections_rejected, 1);
    else if (route->refusal == REFUSAL_PUBLISH)
        metrics_add(&w->deps.metrics->publish_rejected, 1);
}

/* The one place where a routed request's headers are checked, before its
 * method: the body's framing (400 unless its length reads one way only),
 * then the Origin against --cors-origin (403 when refused; an allowed
 * origin's preflight is answered here). Returns true to go on to the route;
 * false once the request is answered, with MHD's result in *answer. An
 * answer here comes before the body is read, so MHD discards the body and
 * closes the socket: nothing after these headers is read as a request. */
static bool check_headers(struct web *w, struct request *req, const struct route *route,
                          const char *method, enum MHD_Result *answer)
{
    struct framing framing = {0};
    MHD_get_connection_values_n(req->mhd, MHD_HEADER_KIND, add_field, &framing);
    const char *why = framing_verdict(&framing);
    if (why) {
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "refused a request: %s", why);
        count_refused(w, route);
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
        count_refused(w, route);
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

/* The path (404), the headers, the method (405), then the route. MHD calls
 * it again for the same request while its body arrives and once a parked
 * publish resumes. */
enum MHD_Result web_handle(void *cls, struct MHD_Connection *mc, const char *url,
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
    if (!check_headers(w, req, route, method, &answer))
        return answer;
    if (!(method_bit(method) & route->methods)) {
        count_refused(w, route);
        return web_respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    }
    return route->serve(w, req, upload_data, upload_data_size);
}
