/*
 * main: parses the configuration, runs `migrate` or `status`, or serves.
 * Serving blocks SIGINT/SIGTERM/SIGHUP in every thread and waits for them
 * here with sigtimedwait(), so no thread is interrupted at a random point;
 * SIGHUP reloads (gateway_reload), the first SIGINT/SIGTERM starts the
 * ordered shutdown, a second one exits at once. SIGPIPE is ignored:
 * a vanished client is an ordinary write error, not a reason to die.
 *
 * Under a service manager ($NOTIFY_SOCKET, systemd's Type=notify) it also
 * says READY=1 once the gateway serves, RELOADING=1 then READY=1 around a
 * reload, STOPPING=1 when the drain starts, and WATCHDOG=1 at half of
 * $WATCHDOG_USEC from the same wait: the pings prove that this loop runs.
 */
#include "common/build_info.h"
#include "common/log.h"
#include "common/sd_notify.h"
#include "db/schema.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "web/cors.h"

#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* File descriptors kept free for the database connections, the listening
 * sockets, libevent, logs and the odd accept() racing the limit. */
#define FD_MARGIN 96

/* Raises the soft file limit to the hard one, so the process can hold as many
 * sockets as it is allowed, and returns it. */
static long raise_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1048576 : (long)rl.rlim_cur;
}

/* Past --drain-timeout, this much more for the last database round trips
 * (resigning, the fleet row) before the watchdog gives up on the drain. */
#define DRAIN_GRACE_MS 2000

struct drain_watch {
    sigset_t set;
    int64_t limit_ms;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs during the drain: a second signal, or a drain that overran its limit
 * (a database that hangs instead of refusing, say), ends the process at once. */
static void *drain_watchdog(void *arg)
{
    struct drain_watch *dw = arg;
    int64_t deadline = monotonic_ms() + dw->limit_ms;
    int sig = -1;
    for (int64_t left; sig < 0 && (left = deadline - monotonic_ms()) > 0;) {
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        siginfo_t info;
        sig = sigtimedwait(&dw->set, &info, &ts); /* -1 on EINTR (a sanitizer's stop) or timeout */
    }
    if (sig > 0)
        log_warn("gateway", "second signal %d: exiting at once", sig);
    else
        log_error("gateway", "drain still running after %lld ms: exiting at once",
                  (long long)dw->limit_ms);
    _exit(1);
    return NULL;
}

/* Values that need more than parsing: the JWT keys, the TLS certificate and
 * key, and the CORS list. */
static int check_security_flags(const struct config *cfg)
{
    const char *err = NULL;
    if (cfg->jwt_secret && cfg->jwt_secret_file) {
        log_error("gateway", "give --jwt-secret or --jwt-secret-file, not both");
        return 1;
    }
    char why[512];
    if (gateway_check_auth(cfg, why, sizeof why) != 0) {
        log_error("gateway", "bad JWT configuration: %s", why);
        return 1;
    }
    if (gateway_check_tls(cfg, why, sizeof why) != 0) {
        log_error("gateway", "bad TLS configuration: %s", why);
        return 1;
    }
    if ((cfg->jwt_audience || cfg->jwt_issuer) && !cfg->jwt_secret && !cfg->jwt_secret_file &&
        !cfg->jwt_key_files.n) {
        log_error("gateway", "--jwt-audience and --jwt-issuer need a secret or a key");
        return 1;
    }
    cors_free(cors_new(cfg->cors_origin, &err));
    if (err)
        log_error("gateway", "bad --cors-origin: %s", err);
    return err != NULL;
}

/* The service manager's notifier from $NOTIFY_SOCKET, or NULL (none, or
 * an address that cannot work: logged, and the gateway serves anyway). */
static struct sd_notifier *notifier_from_env(void)
{
    char err[256];
    const char *addr = getenv("NOTIFY_SOCKET");
    struct sd_notifier *n = sd_notifier_new(addr, err, sizeof err);
    if (!n && addr && *addr)
        log_error("gateway", "no readiness notifications: %s", err);
    return n;
}

/* Reloads between RELOADING=1 and READY=1, as a service manager expects
 * when it is told. */
static void reload(struct gateway *g, struct sd_notifier *n)
{
    char msg[96];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%" PRId64,
             (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    sd_notifier_send(n, msg);
    bool ok = gateway_reload(g) == 0;
    sd_notifier_send(n, ok ? "READY=1\nSTATUS=serving, reloaded"
                           : "READY=1\nSTATUS=serving, the last reload failed (see the log)");
}

/* Serves until SIGINT or SIGTERM, which it returns: reloads on SIGHUP and,
 * with ping_ms > 0, sends WATCHDOG=1 every ping_ms meanwhile. */
static int wait_for_stop(const sigset_t *set, struct gateway *g, struct sd_notifier *n,
                         int64_t ping_ms)
{
    int64_t next_ping = monotonic_ms() + ping_ms;
    for (;;) {
        int64_t left = ping_ms > 0 ? next_ping - monotonic_ms() : INT64_MAX / 2;
        if (left <= 0) {
            sd_notifier_send(n, "WATCHDOG=1");
            next_ping = monotonic_ms() + ping_ms;
            continue;
        }
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts); /* -1: timeout, or EINTR (a sanitizer's stop) */
        if (sig == SIGHUP)
            reload(g, n);
        else if (sig > 0)
            return sig;
    }
}

static int serve(struct config *cfg)
{
    if (check_security_flags(cfg))
        return 2;
    long files = raise_file_limit();
    long capacity = files > 2 * FD_MARGIN ? files - FD_MARGIN : files / 2;
    if (cfg->max_connections == 0 || cfg->max_connections > capacity)
        cfg->max_connections = capacity;
    log_info("gateway", "file limit %ld: capacity %ld connections", files, cfg->max_connections);
    if (!cfg->jwt_secret && !cfg->jwt_secret_file && !cfg->jwt_key_files.n)
        log_warn("gateway", "no --jwt-secret or --jwt-key-file: running open, anyone may subscribe "
                            "and publish");

    /* static: the watchdog keeps waiting on it while serve() returns */
    static struct drain_watch watch;
    sigset_t *set = &watch.set, waited;
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    /* SIGHUP stays blocked for good: before the gateway runs and during
     * the drain it waits unheard rather than killing the process. */
    waited = *set;
    sigaddset(&waited, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &waited, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!cfg->no_migrate && schema_migrate(cfg->database_url, cfg->lock_timeout_ms) != 0)
        return 1;
    struct sd_notifier *notifier = notifier_from_env();
    int64_t ping_ms =
        sd_watchdog_interval_ms(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid());
    struct gateway *g = gateway_new(cfg);
    if (gateway_start(g) != 0) {
        gateway_free(g);
        sd_notifier_free(notifier);
        return 1;
    }
    /* Ready: the HTTP daemons accept and every thread runs. The database
     * may still be out of reach: /readyz says that, per request. */
    char status[300];
    snprintf(status, sizeof status, "READY=1\nSTATUS=serving on %s", cfg->listen);
    sd_notifier_send(notifier, status);
    int sig = wait_for_stop(&waited, g, notifier, ping_ms);
    sd_notifier_send(notifier, "STOPPING=1\nSTATUS=draining");
    log_info("gateway", "signal %d: draining", sig);
    watch.limit_ms = cfg->drain_timeout_ms + DRAIN_GRACE_MS;
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, drain_watchdog, &watch) == 0)
        pthread_detach(watcher);
    gateway_free(g);
    sd_notifier_free(notifier);
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    int rc = config_parse(&cfg, argc, argv);
    if (rc != 0) {
        config_clear(&cfg); /* the defaults are heap strings too */
        return rc;
    }
    log_set_level(cfg.log_level);
    log_set_format(cfg.log_format);
    if (cfg.command == CMD_HELP) {
        config_usage(stdout);
        config_clear(&cfg);
        return 0;
    }
    if (cfg.command == CMD_VERSION) {
        printf("sse-gateway %s (%s)\n", build_info_version, build_info_revision);
        config_clear(&cfg);
        return 0;
    }
    if (!cfg.database_url) {
        log_error("gateway", "no database: set --database-url or DATABASE_URL");
        config_clear(&cfg);
        return 2;
    }
    if (cfg.command == CMD_MIGRATE)
        rc = schema_migrate(cfg.database_url, cfg.lock_timeout_ms) == 0 ? 0 : 1;
    else if (cfg.command == CMD_STATUS)
        rc = schema_status(cfg.database_url, stdout) == 0 ? 0 : 1;
    else
        rc = serve(&cfg);
    config_clear(&cfg);
    return rc;
}
