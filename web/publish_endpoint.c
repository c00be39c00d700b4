/*
 * publish_endpoint: POST /publish, on either daemon. Collects the body as MHD
 * hands it over, parses it (publish_body.c), checks the token's publish
 * rights, queues the events with the gateway's publish hook and parks the
 * socket until the publisher has committed them, then answers 201 with the
 * count, or 400, 401, 403, 413 or 503.
 *
 * Threads: an MHD worker runs web_serve_publish(); the publisher runs
 * publish_done() on its thread (or, as it stops, the gateway's), which only
 * records the outcome and resumes the socket. The request's publish fields are the worker's until
 * it has queued the events; then publish_outcome (atomic) hands the answer over. Does not: route or
 * check the Origin (http_server.c does before the first call), or write to the database (the
 * publisher does).
 */
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "publisher/publisher.h"
#include "web/auth.h"
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

/* POST /publish (docs/PROTOCOL.md, Publishing), in MHD's three phases: headers (check the size),
 * body chunks (collect), end of body (parse, queue and park the socket until
 * the publisher has committed, then answer). */
enum MHD_Result web_serve_publish(struct web *w, struct request *req, const char *upload_data,
                                  size_t *upload_data_size)
{
    int outcome = atomic_load(&req->publish_outcome);
    if (outcome >= 0) {
        char body[64];
        size_t accepted = atomic_load(&req->publish_accepted);
        if (outcome == PUBLISH_COMMITTED) {
            int n = snprintf(body, sizeof body, "{\"accepted\":%zu}", accepted);
            return web_respond(req, MHD_HTTP_CREATED, "application/json", body, (size_t)n);
        }
        return outcome == PUBLISH_REJECTED
                   ? web_respond_error(req, MHD_HTTP_BAD_REQUEST, "the database refused the events")
                   : web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (req->publish_queued)
        return MHD_YES; /* a spurious call while parked */
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
    const char *length =
        MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (req->body_too_large || (length && strtoull(length, NULL, 10) > PUBLISH_BODY_MAX)) {
        metrics_add(&w->deps.metrics->publish_rejected, 1);
        return web_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than 1 MiB");
    }
    if (!req->body_started) {
        req->body_started = true;
        return MHD_YES; /* headers only so far: the body comes in the next calls */
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
    if (w->deps.auth) {
        const char **streams = xmalloc(events.n * sizeof *streams);
        for (size_t i = 0; i < events.n; i++)
            streams[i] = events.items[i].stream;
        int64_t expires_s;
        const char *reason;
        const char *q = strchr(req->uri, '?');
        char *from_query = q ? query_token(q + 1, strlen(q + 1)) : NULL;
        enum auth_result ar =
            web_authorize(w, req, from_query, AUTH_PUBLISH, streams, events.n, &expires_s, &reason);
        free(from_query);
        free(streams);
        if (ar != AUTH_OK) {
            publish_list_clear(&events);
            metrics_add(&w->deps.metrics->publish_rejected, 1);
            return web_respond_auth(w, req, AUTH_PUBLISH, ar, reason);
        }
    }
    const struct web_hooks *h = w->deps.hooks;
    enum publish_submit r = h->publish(h->ctx, &events, publish_done, req);
    if (r != PUBLISH_QUEUED) {
        publish_list_clear(&events);
        metrics_add(&w->deps.metrics->publish_failed, 1);
        return web_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 r == PUBLISH_FULL ? "publish queue full" : "draining");
    }
    req->publish_queued = true;
    MHD_suspend_connection(req->mhd);
    return MHD_YES;
}
