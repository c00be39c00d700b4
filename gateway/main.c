/*
 * main: parses the configuration, runs `migrate` or `status`, or serves.
 * Serving blocks SIGINT/SIGTERM/SIGHUP in every thread and waits for them
 * here with sigwait(), so no thread is interrupted at a random point; SIGHUP
 * reloads (gateway_reload), the first SIGINT/SIGTERM starts the ordered
 * shutdown, a second one exits at once. SIGPIPE is ignored:
 * a vanished client is an ordinary write error, not a reason to die.
 */
#include "common/build_info.h"
#include "common/log.h"
#include "db/schema.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "web/cors.h"

#include <pthread.h>
#include <signal.h>
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
    struct gateway *g = gateway_new(cfg);
    if (gateway_start(g) != 0) {
        gateway_free(g);
        return 1;
    }
    int sig = 0;
    while (sigwait(&waited, &sig) == 0 && sig == SIGHUP)
        gateway_reload(g);
    log_info("gateway", "signal %d: draining", sig);
    watch.limit_ms = cfg->drain_timeout_ms + DRAIN_GRACE_MS;
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, drain_watchdog, &watch) == 0)
        pthread_detach(watcher);
    gateway_free(g);
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
