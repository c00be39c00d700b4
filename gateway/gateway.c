/*
 * gateway: builds the parts, injects their collaborators, and runs the start
 * and shutdown orders written in gateway.h. It also answers the HTTP layer's
 * hooks (subscribe, readiness, /stats, /metrics), since those need several
 * parts at once. Runs on the main thread, except the hooks, which run on
 * libmicrohttpd's workers and only touch thread-safe calls.
 */
#include "gateway/gateway.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg_ops.h"
#include "common/xalloc.h"
#include "db/event_store_pg.h"
#include "db/leader_store_pg.h"
#include "db/publish_store_pg.h"
#include "db/sequencer.h"
#include "dispatch/dispatch_queue.h"
#include "dispatch/dispatcher.h"
#include "dispatch/event_window.h"
#include "dispatch/replayer.h"
#include "gateway/config.h"
#include "heartbeat/heartbeat.h"
#include "listener/listener.h"
#include "publisher/publisher.h"
#include "registry/connection.h"
#include "registry/registry.h"
#include "registry/write_pool.h"
#include "web/auth.h"
#include "web/http_server.h"
#include "web/tls.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* HTTP publish: events waiting for a commit before new requests get 503, and
 * how long a request waits for an unreachable database before a 503. */
#define PUBLISH_QUEUE_EVENTS 20000
#define PUBLISH_GIVE_UP_MS   10000

struct gateway {
    const struct config *cfg; /* fixed after start */
    char *instance_id;        /* fixed after start */
    struct metrics metrics;
    struct registry *registry;
    struct dispatch_queue *queue;
    struct event_store_pg *store_pg;
    struct event_store_ops store;
    struct event_window *window;
    struct event_store_pg *replay_pg;
    struct event_store_ops replay_store;
    struct replayer *replayer;
    struct write_pool *writers;
    struct dispatcher *dispatcher;
    struct listener *listener;
    struct heartbeat *heartbeat;
    struct leader_store_pg *leader_pg;
    struct leader_store_ops leader_store;
    struct sequencer *sequencer;
    struct publish_store_pg *publish_pg;
    struct publish_store_ops publish_store;
    struct publisher *publisher;
    struct web *web;
    struct auth *auth; /* NULL: open mode */
    struct tls *tls;   /* NULL: plain HTTP on --listen */
    struct web_hooks hooks;
    _Atomic bool shutting_down;
    bool shut_down; /* main thread only */
};

static int hook_subscribe(void *ctx, struct connection *c, bool has_cursor, int64_t cursor)
{
    struct gateway *g = ctx;
    if (atomic_load(&g->shutting_down))
        return -1;
    /* LISTEN the streams' channels before the connect is queued, so a raw
     * NOTIFY sent once the subscriber is registered reaches it. Here, on
     * this HTTP worker, in one round trip shared with the other subscribers
     * arriving meanwhile: never on the dispatcher's path, where one new
     * stream's round trip delayed every live event. */
    size_t n = connection_stream_count(c);
    const char **streams = xcalloc(n ? n : 1, sizeof *streams);
    for (size_t i = 0; i < n; i++)
        streams[i] = connection_stream(c, i);
    listener_ensure_many(g->listener, streams, n); /* -1: LISTENed when the listener reconnects */
    free(streams);
    dispatch_queue_push(g->queue, dispatch_msg_connect(connection_ref(c), has_cursor, cursor));
    return 0;
}

static void hook_unsubscribe(void *ctx, struct connection *c)
{
    struct gateway *g = ctx;
    registry_remove(g->registry, c);
}

static enum publish_submit hook_publish(void *ctx, struct publish_list *events,
                                        publish_done_fn done, void *arg)
{
    struct gateway *g = ctx;
    return publisher_submit(g->publisher, events, done, arg);
}

static bool hook_ready(void *ctx)
{
    struct gateway *g = ctx;
    return !atomic_load(&g->shutting_down) && listener_connected(g->listener) &&
           sequencer_db_ok(g->sequencer);
}

static void add_stream(void *arg, const char *stream, size_t subscribers)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "stream", stream);
    cJSON_AddNumberToObject(o, "subscribers", (double)subscribers);
    cJSON_AddItemToArray(arg, o);
}

static char *hook_stats_json(void *ctx)
{
    struct gateway *g = ctx;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "instance", g->instance_id);
    cJSON_AddNumberToObject(root, "connections", (double)atomic_load(&g->metrics.connections));
    cJSON_AddNumberToObject(root, "registered", (double)registry_connection_count(g->registry));
    cJSON_AddBoolToObject(root, "listener_connected", listener_connected(g->listener));
    cJSON_AddBoolToObject(root, "leader", sequencer_is_leader(g->sequencer));
    cJSON_AddBoolToObject(root, "draining", atomic_load(&g->shutting_down));
    cJSON_AddNumberToObject(root, "position", (double)dispatcher_position(g->dispatcher));
    /* Bytes waiting in subscribers' queues: what slow consumers cost right now. */
    struct conn_list all = {0};
    registry_snapshot(g->registry, &all);
    size_t queued = 0;
    for (size_t i = 0; i < all.len; i++)
        queued += connection_queued_bytes(all.items[i]);
    conn_list_free(&all);
    cJSON_AddNumberToObject(root, "queued_bytes", (double)queued);
    cJSON *queues = cJSON_AddObjectToObject(root, "queues");
    cJSON_AddNumberToObject(queues, "dispatch", (double)dispatch_queue_depth(g->queue));
    cJSON_AddNumberToObject(queues, "publish", (double)publisher_queued_events(g->publisher));
    cJSON *streams = cJSON_AddArrayToObject(root, "streams");
    registry_each_stream(g->registry, add_stream, streams);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *copy = xstrdup(out);
    cJSON_free(out);
    return copy;
}

static char *hook_metrics_text(void *ctx)
{
    struct gateway *g = ctx;
    struct metrics_gauges gauges = {
        .streams = (int64_t)registry_stream_count(g->registry),
        .dispatch_queue_depth = (int64_t)dispatch_queue_depth(g->queue),
        .window_bytes = (int64_t)event_window_bytes(g->window),
        .replays_in_progress = (int64_t)replayer_active(g->replayer),
    };
    return metrics_render(&g->metrics, &gauges);
}

static int64_t replay_position(void *ctx)
{
    struct gateway *g = ctx;
    return dispatcher_position(g->dispatcher);
}

static bool stream_in_use(void *ctx, const char *stream)
{
    return registry_stream_in_use(ctx, stream);
}

static long open_connections(void *ctx)
{
    struct gateway *g = ctx;
    return (long)atomic_load(&g->metrics.connections);
}

/* --threads, or the number of cores: the HTTP workers and the write pool. */
static unsigned http_threads(const struct config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return (unsigned)(cfg->threads > 0 ? cfg->threads : (cores > 0 ? cores : 1));
}

static char *make_instance_id(void)
{
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)clock();
    return xasprintf("%s:%d:%06x", host, (int)getpid(), (unsigned)rand_r(&seed) & 0xffffff);
}

static bool auth_configured(const struct config *cfg)
{
    return cfg->jwt_secret || cfg->jwt_secret_file || cfg->jwt_key_files.n;
}

static struct auth_config auth_config_of(const struct config *cfg)
{
    return (struct auth_config){
        .secret = cfg->jwt_secret,
        .secret_file = cfg->jwt_secret_file,
        .key_files = (const char *const *)cfg->jwt_key_files.items,
        .nkey_files = cfg->jwt_key_files.n,
        .audience = cfg->jwt_audience,
        .issuer = cfg->jwt_issuer,
    };
}

int gateway_check_auth(const struct config *cfg, char *err, size_t errlen)
{
    if (!auth_configured(cfg))
        return 0;
    struct auth_config ac = auth_config_of(cfg);
    struct auth *a = auth_new(&ac, err, errlen);
    auth_free(a);
    return a ? 0 : -1;
}

int gateway_check_tls(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert)
        return 0;
    struct tls *t = tls_new(cfg->tls_cert, cfg->tls_key, err, errlen);
    tls_free(t);
    return t ? 0 : -1;
}

static void log_auth_keys(const struct auth *a, const char *what)
{
    size_t keys, skipped;
    auth_key_count(a, &keys, &skipped);
    if (skipped)
        log_info("gateway",
                 "%s: %zu keys (%zu JWKs passed over: not for signatures, or of a kind not "
                 "verified here)",
                 what, keys, skipped);
    else
        log_info("gateway", "%s: %zu keys", what, keys);
}

struct gateway *gateway_new(const struct config *cfg)
{
    struct gateway *g = xcalloc(1, sizeof *g);
    g->cfg = cfg;
    g->instance_id = make_instance_id();
    log_set_instance(g->instance_id);
    metrics_init(&g->metrics);
    atomic_init(&g->shutting_down, false);
    g->registry = registry_new();
    g->queue = dispatch_queue_new();
    g->store_pg = event_store_pg_new(cfg->database_url);
    g->store = event_store_pg_ops(g->store_pg);

    g->listener = listener_new(&(struct listener_deps){
        .pg = &pg_ops_libpq,
        .conninfo = cfg->database_url,
        .queue = g->queue,
        .metrics = &g->metrics,
        .clock = &system_clock,
        .stream_in_use = stream_in_use,
        .stream_ctx = g->registry,
        .health_check_ms = cfg->health_check_ms,
        .max_channels = cfg->max_listen_channels,
    });
    g->window = event_window_new((size_t)cfg->window_events, cfg->window_bytes, 0);
    g->replay_pg = event_store_pg_new(cfg->database_url);
    g->replay_store = event_store_pg_ops(g->replay_pg);
    g->replayer = replayer_new(&(struct replayer_deps){
        .window = g->window,
        .store = &g->replay_store,
        .metrics = &g->metrics,
        .clock = &system_clock,
        .position = replay_position,
        .position_ctx = g,
    });
    g->writers = write_pool_new(http_threads(cfg));
    g->dispatcher = dispatcher_new(&(struct dispatcher_deps){
        .queue = g->queue,
        .registry = g->registry,
        .window = g->window,
        .replayer = g->replayer,
        .writers = g->writers,
        .store = &g->store,
        .metrics = &g->metrics,
        .clock = &system_clock,
    });
    g->heartbeat = heartbeat_new(&(struct heartbeat_deps){
        .registry = g->registry,
        .writers = g->writers,
        .metrics = &g->metrics,
        .clock = &system_clock,
        .interval_ms = cfg->heartbeat_ms,
        .idle_timeout_ms = cfg->idle_timeout_ms,
    });
    g->leader_pg = leader_store_pg_new(cfg->database_url);
    g->leader_store = leader_store_pg_ops(g->leader_pg);
    g->sequencer = sequencer_new(&(struct sequencer_deps){
        .store = &g->leader_store,
        .handoff = g->queue, /* its batches go straight to this instance's dispatcher */
        .instance_id = g->instance_id,
        .metrics = &g->metrics,
        .clock = &system_clock,
        .retention_ms = cfg->retention_ms,
        .fleet_interval_ms = cfg->heartbeat_ms,
        .connections = open_connections,
        .connections_ctx = g,
    });
    g->publish_pg = publish_store_pg_new(cfg->database_url);
    g->publish_store = publish_store_pg_ops(g->publish_pg);
    g->publisher = publisher_new(&(struct publisher_deps){
        .store = &g->publish_store,
        .metrics = &g->metrics,
        .clock = &system_clock,
        .max_queued_events = PUBLISH_QUEUE_EVENTS,
        .give_up_ms = PUBLISH_GIVE_UP_MS,
    });
    g->hooks = (struct web_hooks){
        .subscribe = hook_subscribe,
        .publish = hook_publish,
        .unsubscribe = hook_unsubscribe,
        .ready = hook_ready,
        .stats_json = hook_stats_json,
        .metrics_text = hook_metrics_text,
        .ctx = g,
    };
    if (auth_configured(cfg)) {
        char err[512];
        struct auth_config ac = auth_config_of(cfg);
        /* main checked the files (gateway_check_auth); one changed since then */
        if (!(g->auth = auth_new(&ac, err, sizeof err))) {
            log_error("gateway", "bad JWT configuration: %s", err);
            exit(2);
        }
        log_auth_keys(g->auth, "JWT authorization on");
    }
    if (cfg->tls_cert) {
        char err[512], what[400];
        /* main checked the files (gateway_check_tls); one changed since then */
        if (!(g->tls = tls_new(cfg->tls_cert, cfg->tls_key, err, sizeof err))) {
            log_error("gateway", "bad TLS configuration: %s", err);
            exit(2);
        }
        tls_describe(g->tls, what, sizeof what);
        log_info("gateway", "TLS on %s: %s", cfg->listen, what);
    }
    g->web = web_new(
        &(struct web_config){
            .listen = cfg->listen,
            .admin_listen = cfg->admin_listen,
            .cors_origins = cfg->cors_origin,
            .threads = http_threads(cfg),
            .max_connections = (unsigned)cfg->max_connections,
            .max_streams_per_connection = (size_t)cfg->max_streams_per_connection,
            .max_queued_bytes = cfg->max_queued_bytes,
            .connection_memory = cfg->connection_memory,
            .retry_ms = (long)cfg->retry_ms,
            .drain_spread_ms = (long)cfg->drain_spread_ms,
            .write_deadline_ms = (long)cfg->write_deadline_ms,
            .request_timeout_ms = (long)cfg->request_timeout_ms,
            .demo = cfg->demo,
        },
        &(struct web_deps){.hooks = &g->hooks,
                           .auth = g->auth,
                           .tls = g->tls,
                           .metrics = &g->metrics,
                           .clock = &system_clock});
    return g;
}

int gateway_start(struct gateway *g)
{
    if (sequencer_start(g->sequencer) != 0 || publisher_start(g->publisher) != 0 ||
        listener_start(g->listener) != 0 || replayer_start(g->replayer) != 0 ||
        write_pool_start(g->writers) != 0 || dispatcher_start(g->dispatcher) != 0 ||
        heartbeat_start(g->heartbeat) != 0)
        return -1;
    if (web_start(g->web) != 0)
        return -1;
    log_info("gateway", "serving on %s (max %ld connections)", g->cfg->listen,
             g->cfg->max_connections);
    return 0;
}

int gateway_reload(struct gateway *g)
{
    if (!g->auth && !g->tls) {
        log_info("gateway", "reload: no JWT keys or TLS certificate to reload");
        return 0;
    }
    char err[512];
    int rc = 0;
    if (g->auth && auth_reload(g->auth, err, sizeof err) != 0) {
        log_error("gateway", "reload failed, keeping the old JWT keys: %s", err);
        rc = -1;
    } else if (g->auth) {
        log_auth_keys(g->auth, "reload: JWT keys");
    }
    /* New handshakes get the new pair; open connections keep theirs. */
    if (g->tls && tls_reload(g->tls, err, sizeof err) != 0) {
        log_error("gateway", "reload failed, keeping the old TLS certificate and key: %s", err);
        rc = -1;
    } else if (g->tls) {
        char what[400];
        tls_describe(g->tls, what, sizeof what);
        log_info("gateway", "reload: TLS certificate %s", what);
    }
    return rc;
}

/* Waits until every SSE socket has written its queue and ended, and every
 * other request begun before the drain has had its answer written (a
 * publish answered by publisher_stop may still be parked, or resumed and not
 * yet written), or the deadline. */
static void wait_for_flush(struct gateway *g, int64_t deadline_ms)
{
    while ((web_open_streams(g->web) > 0 || web_requests_in_flight(g->web) > 0) &&
           clock_now_ms(&system_clock) < deadline_ms) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void gateway_shutdown(struct gateway *g)
{
    if (g->shut_down)
        return;
    g->shut_down = true;
    int64_t deadline = clock_now_ms(&system_clock) + g->cfg->drain_timeout_ms;
    atomic_store(&g->shutting_down, true); /* /readyz 503, new subscribers refused */
    /* Leave the leader role now, not at exit, so another instance sequences
     * the events published while this one drains. */
    sequencer_set_draining(g->sequencer);
    log_info("gateway", "shutting down: %zu connections", web_open_streams(g->web));
    /* HTTP publishes first: everything acknowledged-to-be is committed (or
     * answered 503) before anything else stops, and no publish request is
     * left parked when the daemon stops. Later ones get 503. */
    publisher_stop(g->publisher, deadline);
    heartbeat_stop(g->heartbeat);
    listener_stop(g->listener);
    dispatcher_stop(g->dispatcher);
    /* After the dispatcher, which may begin replays while it drains its
     * queue; unfinished replays end with the drain sentinel below. */
    replayer_stop(g->replayer);
    write_pool_stop(g->writers); /* after everything that hands it rounds */
    web_drain(g->web);
    wait_for_flush(g, deadline);
    web_stop(g->web);
    sequencer_stop(g->sequencer);
    log_info("gateway", "stopped");
}

void gateway_free(struct gateway *g)
{
    if (!g)
        return;
    gateway_shutdown(g);
    web_free(g->web);
    tls_free(g->tls); /* after the daemon: its sockets held pairs */
    auth_free(g->auth);
    heartbeat_free(g->heartbeat);
    dispatcher_free(g->dispatcher);
    replayer_free(g->replayer);
    write_pool_free(g->writers);
    event_store_pg_free(g->replay_pg);
    event_window_free(g->window);
    listener_free(g->listener);
    sequencer_free(g->sequencer);
    leader_store_pg_free(g->leader_pg);
    publisher_free(g->publisher);
    publish_store_pg_free(g->publish_pg);
    dispatch_queue_free(g->queue);
    event_store_pg_free(g->store_pg);
    registry_free(g->registry);
    free(g->instance_id);
    free(g);
}
