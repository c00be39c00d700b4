/*
 * publish_endpoint: POST /publish, on either daemon. Authorizes the sender
 * from the headers alone (a valid token with publish rights) before reading
 * any of the body, collects the body as MHD hands it over, parses it
 * (publish_body.c), checks every event's stream against the token's claims,
 * queues the events with the gateway's publish hook and parks the socket
 * until the publisher has committed them, then answers 201 with the count,
 * or 400, 401, 403, 413 or 503.
 *
 * Threads: an MHD worker runs web_serve_publish(); the publisher runs
 * publish_done() on its thread (or, as it stops, the gateway's), which only
 * records the outcome and resumes the socket. The request's publish fields
 * are the worker's until it has queued the events; then publish_outcome
 * (atomic) hands the answer over. Does not: route or check CORS
 * (routes.c does before the first call), or write to the database (the
 * publisher does).
 */
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "publisher/publisher.h"
#include "web/auth.h"
#include "web/cors.h"
#include "web/publish_body.h"
#include "web/query.h"
#include "web/web_internal.h"

#include <assert.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The publisher's answer, on its thread: record it and wake the request. */
static void publish_done(void *arg, enum publish_outcome outcome, size_t accepted)
{
    struct request *req = arg;
    assert(req->magic == REQ_MAGIC);
    struct MHD_Connection *mc = req->mhd;
    atomic_store(&req->publish_accepted, accepted);
    /* The last touch of req: once the worker sees the outcome it may finish
     * and free the request. The connection itself stays until resumed. */
    atomic_store(&req->publish_outcome, (int)outcome);
    MHD_resume_connection(mc);
}

/* The publish's token (header, cookie or query, in auth_token_from's
 * order), or NULL; *by_cookie: the sse_token cookie is what it is. */
static char *publish_token(struct request *req, bool *by_cookie)
{
    const char *authorization =
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cookie =
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
    const char *q = strchr(req->uri, '?');
    char *from_query = q ? query_token(q + 1, strlen(q + 1)) : NULL;
    char *token = auth_token_from(authorization, cookie, from_query);
    /* The cookie counts when the header holds no token and the cookie does,
     * whatever the query says: it comes before the query. */
    char *from_header = auth_token_from(authorization, NULL, NULL);
    char *from_cookie = from_header ? NULL : auth_token_from(NULL, cookie, NULL);
    *by_cookie = from_cookie != NULL;
    free(from_header);
    free(from_cookie);
    free(from_query);
    return token;
}

/* May a publish that the cookie authorizes come from the page that sent it?
 * A browser attaches the cookie to requests any site makes, so the page's
 * origin must be listed exactly in --cors-origin ("*" lists none): the
 * Origin header, or without one the Referer's origin. "null" (a sandboxed
 * or file: page) and a request with neither header are refused. */
static bool cookie_origin_allowed(struct web *w, struct request *req)
{
    const char *origin = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Origin");
    char from_referer[512];
    if (!origin) {
        const char *referer = MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, "Referer");
        if (!referer || !cors_origin_of(referer, from_referer, sizeof from_referer))
            return false;
        origin = from_referer;
    }
    return cors_listed(w->cors, origin);
}

/* 401 or 403 for a publish, counted and logged once. */
static enum MHD_Result refuse(struct web *w, struct request *req, enum auth_result r,
                              const char *reason)
{
    metrics_add(&w->deps.metrics->publish_rejected, 1);
    return web_respond_auth(w, req, AUTH_PUBLISH, r, reason);
}

/* The headers' step, before any byte of the body is read: the token must be
 * valid and hold publish rights, whatever the body turns out to be, so an
 * unauthenticated client cannot make the gateway read, buffer or parse
 * anything; a cookie's must come from a listed origin. Keeps the token for
 * the streams' check after parsing. */
static bool authorize_sender(struct web *w, struct request *req, enum MHD_Result *answer)
{
    if (!w->deps.auth)
        return true;
    bool by_cookie;
    char *token = publish_token(req, &by_cookie);
    int64_t expires_s;
    const char *reason;
    enum auth_result r = auth_check(w->deps.auth, token, clock_wall_us(w->deps.clock) / 1000000,
                                    AUTH_PUBLISH, NULL, 0, &expires_s, &reason);
    if (r == AUTH_OK && by_cookie && !cookie_origin_allowed(w, req)) {
        r = AUTH_FORBIDDEN;
        reason = "a publish with the sse_token cookie needs an Origin listed in --cors-origin";
    }
    if (r != AUTH_OK) {
        free(token);
        *answer = refuse(w, req, r, reason);
        return false;
    }
    req->token = token;
    return true;
}

/* After parsing: does the token kept by authorize_sender cover every
 * event's stream? */
static enum auth_result authorize_streams(struct web *w, struct request *req,
                                          const struct publish_list *events, const char **reason)
{
    if (!w->deps.auth)
        return AUTH_OK;
    const char **streams = xmalloc(events->n * sizeof *streams);
    for (size_t i = 0; i < events->n; i++)
        streams[i] = events->items[i].stream;
    int64_t expires_s;
    enum auth_result r =
        auth_check(w->deps.auth, req->token, clock_wall_us(w->deps.clock) / 1000000, AUTH_PUBLISH,
                   streams, events->n, &expires_s, reason);
    free(streams);
    return r;
}

/* Outcomes of a request the publisher refused at once (beyond enum
 * publish_outcome), answered like the publisher's own after the resume. */
#define OUTCOME_QUEUE_FULL 100
#define OUTCOME_DRAINING   101

/* The publisher's outcome as the answer. */
static enum MHD_Result answer_outcome(struct request *req, int outcome)
{
    if (outcome == OUTCOME_QUEUE_FULL || outcome == OUTCOME_DRAINING)
        return web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 outcome == OUTCOME_QUEUE_FULL ? "publish queue full" : "draining");
    if (outcome == PUBLISH_COMMITTED) {
        char body[64];
        int n =
            snprintf(body, sizeof body, "{\"accepted\":%zu}", atomic_load(&req->publish_accepted));
        return web_respond(req, MHD_HTTP_CREATED, "application/json", body, (size_t)n);
    }
    return outcome == PUBLISH_REJECTED
               ? web_respond_error(req, MHD_HTTP_BAD_REQUEST, "the database refused the events")
               : web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
}

/* POST /publish (docs/PROTOCOL.md, Publishing), in MHD's three phases:
 * headers (authorize the sender, check the size), body chunks (collect),
 * end of body (parse, check the streams, queue and park the socket until the
 * publisher has committed, then answer). */
enum MHD_Result web_serve_publish(struct web *w, struct request *req, const char *upload_data,
                                  size_t *upload_data_size)
{
    req->publish = true; /* for its access record */
    int outcome = atomic_load(&req->publish_outcome);
    if (outcome >= 0)
        return answer_outcome(req, outcome);
    if (req->publish_queued)
        return MHD_YES; /* a spurious call while parked */
    if (!req->body_started) {
        if (atomic_load(&w->draining)) {
            metrics_add(&w->deps.metrics->publish_failed, 1);
            return web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "draining");
        }
        enum MHD_Result answer;
        if (!authorize_sender(w, req, &answer))
            return answer;
        const char *length =
            MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > PUBLISH_BODY_MAX) {
            metrics_add(&w->deps.metrics->publish_rejected, 1);
            return web_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than 1 MiB");
        }
        req->body_started = true;
        return MHD_YES; /* headers only so far: the body comes in the next calls */
    }
    if (*upload_data_size) {
        /* MHD accepts no answer while a body streams in: an oversized one is
         * read and dropped, and the 413 goes out at its end. */
        if (req->body_len + *upload_data_size > PUBLISH_BODY_MAX) {
            req->body_too_large = true;
        } else if (!req->body_too_large) {
            req->body = xrealloc(req->body, req->body_len + *upload_data_size);
            memcpy(req->body + req->body_len, upload_data, *upload_data_size);
            req->body_len += *upload_data_size;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->body_too_large) {
        metrics_add(&w->deps.metrics->publish_rejected, 1);
        return web_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than 1 MiB");
    }
    const char *type =
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct publish_list events;
    char err[256];
    if (publish_body_parse(type, req->body ? req->body : "", req->body_len, &events, err,
                           sizeof err) != 0) {
        metrics_add(&w->deps.metrics->publish_rejected, 1);
        if (log_budget_take(&w->client_log, CLIENT_LOG_PER_SECOND))
            log_info("http", "rejected a publish: %s", err);
        return web_respond_error(req, MHD_HTTP_BAD_REQUEST, err);
    }
    req->publish_events = events.n;
    const char *reason;
    enum auth_result ar = authorize_streams(w, req, &events, &reason);
    if (ar != AUTH_OK) {
        publish_list_clear(&events);
        return refuse(w, req, ar, reason);
    }
    /* Park the socket before the publisher can answer: it may answer
     * before publish() returns, and MHD drops a resume that comes before its
     * suspend (the suspend then does nothing, and the socket waits with no
     * answer until it times out or the daemon stops). */
    req->publish_queued = true;
    MHD_suspend_connection(req->mhd);
    const struct web_hooks *h = w->deps.hooks;
    enum publish_submit r = h->publish(h->ctx, &events, publish_done, req);
    if (r != PUBLISH_QUEUED) {
        publish_list_clear(&events);
        metrics_add(&w->deps.metrics->publish_failed, 1);
        atomic_store(&req->publish_outcome,
                     r == PUBLISH_FULL ? OUTCOME_QUEUE_FULL : OUTCOME_DRAINING);
        MHD_resume_connection(req->mhd);
    }
    return MHD_YES;
}
