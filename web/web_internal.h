/*
 * web_internal: PRIVATE to web/; nothing outside web/ includes it (the
 * gateway uses web/http_server.h). The state the HTTP adapter's files share:
 * the server (struct web), the daemons' endpoints, one request's state, and
 * the answers every route builds on.
 *
 *   http_server.c      the daemons: set-up, sockets, start and stop
 *   routes.c           MHD's handler: routing by path and method, the small answers
 *   request.c          a request's life (created, answered, ended) and its token
 *   sse_response.c     GET /events, the SSE responses' callbacks, drain
 *   publish_endpoint.c POST /publish
 *
 * Threads: MHD's workers run every function declared here but three:
 * web_routes_prepare (web_new) and web_close_streams (drain and stop) run on
 * the gateway's thread, web_sweep_stalled on the stall watch's.
 */
#ifndef SSE_WEB_INTERNAL_H
#define SSE_WEB_INTERNAL_H

#include "common/log.h"
#include "web/auth.h"
#include "web/etag.h"
#include "web/header_watch.h"
#include "web/http_server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEB_MAGIC 0x57454221u /* "WEB!" */
#define REQ_MAGIC 0x52455121u /* "REQ!" */
#define EP_MAGIC  0x45502121u /* "EP!!" */

/* Lines per second about clients: one per rejected request or stuck socket. */
#define CLIENT_LOG_PER_SECOND 10
/* Access records per second (a subscription ended, a publish answered);
 * past it they are counted in sse_gateway_access_log_dropped_total. */
#define ACCESS_LOG_PER_SECOND 500

struct sub;
struct watched;
struct worker;
struct connection;
struct sockaddr;
struct tls;
struct tls_pair;

/* The two daemons share one handler; each passes its own endpoint. */
struct endpoint {
    unsigned magic;
    struct web *web;
    bool admin;                 /* --admin-listen: health, metrics, stats and publish only */
    struct header_watch *watch; /* fixed after start: its sockets' header deadlines */
    struct tls *tls;            /* fixed after start: serves HTTPS; NULL: plain HTTP */
};

/* Per accepted socket, from MHD's open notification to its close (MHD's
 * socket context). */
struct socket_state {
    struct watched *watched;   /* its header deadline (header_watch.h) */
    struct tls_pair *tls_pair; /* on the TLS daemon: the pair current at its accept */
};

struct web {
    unsigned magic;
    struct web_config cfg; /* fixed after start */
    struct web_deps deps;  /* fixed after start */
    struct MHD_Daemon *daemon, *admin_daemon;
    int admin_port;
    struct endpoint main_ep, admin_ep; /* fixed after start: the daemons' cls */
    struct cors *cors;                 /* fixed after start; NULL: CORS off */
    /* The open SSE responses (sse_response.c). */
    pthread_mutex_t mtx;
    struct sub *subs;              /* guarded by mtx */
    size_t nsubs;                  /* guarded by mtx */
    bool closing;                  /* guarded by mtx: web_drain or web_stop ran */
    _Atomic bool draining;         /* web_drain ran: answers close their sockets */
    _Atomic size_t requests_open;  /* requests begun before web_drain, not yet ended */
    _Atomic uint64_t random_state; /* the sentinels' retry jitter */

    struct log_budget mhd_log;    /* MHD's own error lines */
    struct log_budget client_log; /* lines about bad or stuck clients */
    struct log_budget access_log; /* access records */
    char client_etag[ETAG_SIZE];  /* fixed after start: of the embedded client */
    struct worker *stall_watch;   /* fixed after start: runs web_sweep_stalled */
};

/* Per request, from the URI logger until MHD reports completion. */
struct request {
    unsigned magic;
    char *uri; /* raw, undecoded */
    struct MHD_Connection *mhd;
    struct web *web;
    struct watched *watched; /* the socket's header deadline (header_watch.h) */
    bool headers_seen;       /* the handler ran: header_watch knows */
    bool counted;            /* in web->requests_open */
    /* POST /publish: the body as it arrives, then the publisher's answer. */
    char *body;
    size_t body_len;
    bool body_started, body_too_large, publish_queued;
    char *token;                 /* the publish's token, checked before its body was read */
    _Atomic int publish_outcome; /* -1 until the publisher answers */
    _Atomic size_t publish_accepted;
    struct connection *sub; /* answered with an SSE stream: a reference, until completed */
    const char *cors_allow; /* Access-Control-Allow-Origin to send, or NULL */
    bool cors_credentials;  /* and Access-Control-Allow-Credentials: true */
    bool admin;             /* came in on the admin daemon */
    unsigned status;        /* the status queued, 0 before */
    int64_t started_ms;     /* when the request came in (the injected clock) */
    /* The access records: a publish's events, a subscription's response. */
    bool publish;
    size_t publish_events;
    struct sub *sub_state; /* with sub: the SSE response's state, which sub keeps alive */
};

/* A route: answers one of MHD's calls for a request whose path, headers and
 * method passed (routes.c routes). upload/upload_size: the body's next
 * piece, consumed by setting *upload_size to 0; only POST /publish takes a
 * body, the router discards any other's. */
typedef enum MHD_Result (*route_fn)(struct web *w, struct request *req, const char *upload,
                                    size_t *upload_size);

/* routes.c */

/* Computes once what the routes serve unchanged: the embedded browser
 * client's ETag, into w->client_etag. web_new runs it. */
void web_routes_prepare(struct web *w);
/* MHD's access handler, shared by both daemons (cls: the endpoint): routes
 * the request and answers it, on each of MHD's calls for it. */
enum MHD_Result web_handle(void *cls, struct MHD_Connection *mc, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls);

/* request.c */

/* MHD's URI logger: the first callback of a request, whose result MHD hands
 * to every later one as *req_cls. cls is the struct web. */
void *web_request_new(void *cls, const char *uri, struct MHD_Connection *c);
/* MHD's completion callback (cls: the endpoint): frees the request. */
void web_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                           enum MHD_RequestTerminationCode toe);
/* Queues r with the request's CORS headers and drops our reference to it. */
enum MHD_Result web_queue(struct request *req, unsigned status, struct MHD_Response *r);
/* A body copied from body/len, with no-cache (and Retry-After on a 503). */
enum MHD_Result web_respond(struct request *req, unsigned status, const char *type,
                            const char *body, size_t len);
/* {"error":message} with the given status. */
enum MHD_Result web_respond_error(struct request *req, unsigned status, const char *message);
/* 401 or 403 from an authorization verdict, with a one-line log. */
enum MHD_Result web_respond_auth(struct web *w, struct request *req, enum auth_action action,
                                 enum auth_result r, const char *reason);
/* With a secret set, checks the request's token (Authorization header,
 * cookie or query_token) for action on streams; on AUTH_OK *expires_s is when
 * it ends (0: never). Open mode always allows. */
enum auth_result web_authorize(struct web *w, struct request *req, const char *query_token,
                               enum auth_action action, const char *const *streams, size_t nstreams,
                               int64_t *expires_s, const char **reason);

/* "address:port" ("[v6]:port") of a peer, or "-" for NULL or another family. */
void web_format_peer(const struct sockaddr *sa, char *buf, size_t cap);
/* An access record may be written now: false when the budget is spent this
 * second (the record is counted as dropped) or info is off. */
bool web_access_log_take(struct web *w);

/* sse_response.c */

/* The request of s's response completed with toe: remembered for the
 * subscription's access record, written when the response is freed. */
void web_sub_completed(struct sub *s, enum MHD_RequestTerminationCode toe);

/* GET /events (a route_fn; it takes no body): parses and authorizes the
 * subscription, then answers 200 with an SSE stream, or 400, 401 or 403. */
enum MHD_Result web_serve_events(struct web *w, struct request *req, const char *upload,
                                 size_t *upload_size);
/* Closes every open SSE response, each with its own shutdown sentinel when
 * with_sentinel (one already closing keeps what it has), and marks the
 * server closing: later subscriptions get a sentinel at once. */
void web_close_streams(struct web *w, bool with_sentinel);
/* The write deadline: cuts every SSE socket that is awake and accepted no
 * byte for --write-deadline (connection_check_stall), counts and logs them.
 * The stall watch's thread. */
void web_sweep_stalled(struct web *w);

/* publish_endpoint.c */

/* POST /publish (a route_fn), on each of MHD's calls for the request: the
 * router sends its later calls straight here once body_started is set. */
enum MHD_Result web_serve_publish(struct web *w, struct request *req, const char *upload_data,
                                  size_t *upload_data_size);

#endif
