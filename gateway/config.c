/*
 * config: flags and environment (README, Configuration). One table lists every flag with
 * its kind and target field; the environment is read first, then argv, so a
 * command-line flag wins. Bad input is startup configuration failure: one
 * line naming the flag and exit status 2. Runs on the main thread, before any
 * other thread exists.
 */
#include "gateway/config.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STRING, K_DURATION, K_SIZE, K_COUNT, K_BOOL, K_LEVEL };

struct flag {
    const char *name; /* without the leading "--" */
    enum kind kind;
    size_t offset;
    const char *help;
};

#define F(name, kind, field, help)                                                                 \
    {                                                                                              \
        name, kind, offsetof(struct config, field), help                                           \
    }
static const struct flag flags[] = {
    F("listen", K_STRING, listen, "address:port to serve on [127.0.0.1:8080]"),
    F("admin-listen", K_STRING, admin_listen, "second address for health, metrics, publish"),
    F("database-url", K_STRING, database_url, "PostgreSQL connection string [DATABASE_URL]"),
    F("heartbeat", K_DURATION, heartbeat_ms, "comment to idle connections after [15s]"),
    F("idle-timeout", K_DURATION, idle_timeout_ms, "close after no event for [0 = never]"),
    F("retry", K_DURATION, retry_ms, "reconnect delay told to clients [2000ms]"),
    F("max-connections", K_COUNT, max_connections, "SSE connections [file limit less a margin]"),
    F("max-streams-per-connection", K_COUNT, max_streams_per_connection, "[32]"),
    F("max-queued-bytes", K_SIZE, max_queued_bytes, "per connection before closing it [1MiB]"),
    F("write-deadline", K_DURATION, write_deadline_ms, "close a socket stuck this long [10s]"),
    F("retention", K_DURATION, retention_ms, "how long events stay replayable [1h]"),
    F("drain-timeout", K_DURATION, drain_timeout_ms, "exit within this after a signal [10s]"),
    F("drain-spread", K_DURATION, drain_spread_ms, "spread of clients' reconnects [5s]"),
    F("health-check", K_DURATION, health_check_ms, "LISTEN connection check interval [5s]"),
    F("jwt-secret", K_STRING, jwt_secret, "HS256 secret [none: open mode]"),
    F("jwt-secret-file", K_STRING, jwt_secret_file, "file holding the secret"),
    F("cors-origin", K_STRING, cors_origin, "allowed origins, comma-separated, or *"),
    F("threads", K_COUNT, threads, "HTTP worker threads [number of cores]"),
    F("demo", K_BOOL, demo, "serve the demo page at /"),
    F("no-migrate", K_BOOL, no_migrate, "do not install the schema at start"),
    F("log-level", K_LEVEL, log_level, "debug, info, warn or error [info]"),
    F("window-events", K_COUNT, window_events, "recent events kept in memory [65536]"),
    F("connection-memory", K_SIZE, connection_memory, "buffer per connection [4KiB]"),
};
#undef F
#define NFLAGS (sizeof flags / sizeof flags[0])

static void set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->command = CMD_SERVE;
    cfg->listen = xstrdup("127.0.0.1:8080");
    cfg->heartbeat_ms = 15000;
    cfg->retry_ms = 2000;
    cfg->max_streams_per_connection = 32;
    cfg->max_queued_bytes = 1024 * 1024;
    cfg->write_deadline_ms = 10000;
    cfg->retention_ms = 3600 * 1000;
    cfg->drain_timeout_ms = 10000;
    cfg->drain_spread_ms = 5000;
    cfg->health_check_ms = 5000;
    cfg->log_level = LOG_INFO;
    cfg->window_events = 65536;
    cfg->connection_memory = 4096;
}

/* Parses "<number><unit>" where unit scales the number; a bare number takes bare_scale. */
static int parse_scaled(const char *s, const char *const *units, const int64_t *scales,
                        int64_t bare_scale, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s)
        return -1;
    int64_t scale = bare_scale;
    if (*end) {
        scale = 0;
        for (int i = 0; units[i]; i++)
            if (strcmp(end, units[i]) == 0)
                scale = scales[i];
        if (!scale)
            return -1;
    }
    double r = v * (double)scale;
    if (r < 0 || r > 9.0e18)
        return -1;
    *out = (int64_t)r;
    return 0;
}

int config_parse_duration(const char *s, int64_t *ms)
{
    static const char *const units[] = {"ms", "s", "m", "h", NULL};
    static const int64_t scales[] = {1, 1000, 60000, 3600000};
    return parse_scaled(s, units, scales, 1000, ms);
}

int config_parse_size(const char *s, size_t *bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", NULL};
    static const int64_t scales[] = {1, 1024, 1024 * 1024, 1024 * 1024 * 1024};
    int64_t v;
    if (parse_scaled(s, units, scales, 1, &v) != 0)
        return -1;
    *bytes = (size_t)v;
    return 0;
}

static int parse_count(const char *s, long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!s || !strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "yes"))
        *out = true;
    else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "no"))
        *out = false;
    else
        return -1;
    return 0;
}

/* Stores value into the flag's field; value is NULL for a bare boolean flag. */
static int apply(struct config *cfg, const struct flag *f, const char *value, const char *source)
{
    void *field = (char *)cfg + f->offset;
    int rc = -1;
    switch (f->kind) {
    case K_STRING:
        if (value) {
            free(*(char **)field);
            *(char **)field = xstrdup(value);
            rc = 0;
        }
        break;
    case K_DURATION:
        rc = config_parse_duration(value, field);
        break;
    case K_SIZE:
        rc = config_parse_size(value, field);
        break;
    case K_COUNT:
        rc = parse_count(value, field);
        break;
    case K_BOOL:
        rc = parse_bool(value, field);
        break;
    case K_LEVEL:
        rc = value ? log_parse_level(value, field) : -1;
        break;
    }
    if (rc != 0)
        fprintf(stderr, "sse-gateway: invalid value for %s%s: %s\n", source, f->name,
                value ? value : "(missing)");
    return rc;
}

static const struct flag *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

static int read_environment(struct config *cfg)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        char env[96] = "SSE_GATEWAY_";
        size_t n = strlen(env);
        for (const char *p = flags[i].name; *p && n < sizeof env - 1; p++)
            env[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[n] = '\0';
        const char *v = getenv(env);
        if (!v && strcmp(flags[i].name, "database-url") == 0)
            v = getenv("DATABASE_URL");
        if (v && apply(cfg, &flags[i], v, "environment --") != 0)
            return 2;
    }
    return 0;
}

int config_parse(struct config *cfg, int argc, char **argv)
{
    set_defaults(cfg);
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        static const struct {
            const char *name;
            enum command cmd;
        } cmds[] = {{"serve", CMD_SERVE},
                    {"migrate", CMD_MIGRATE},
                    {"status", CMD_STATUS},
                    {"help", CMD_HELP}};
        bool found = false;
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            if (strcmp(argv[1], cmds[i].name) == 0) {
                cfg->command = cmds[i].cmd;
                found = true;
            }
        }
        if (!found) {
            fprintf(stderr, "sse-gateway: unknown command: %s\n", argv[1]);
            return 2;
        }
        first = 2;
    }
    if (read_environment(cfg) != 0)
        return 2;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            cfg->command = CMD_HELP;
            continue;
        }
        if (!strcmp(arg, "--version")) {
            cfg->command = CMD_VERSION;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "sse-gateway: unexpected argument: %s\n", arg);
            return 2;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag *f = find_flag(name, len);
        if (!f) {
            fprintf(stderr, "sse-gateway: unknown flag: --%.*s\n", (int)len, name);
            return 2;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && f->kind != K_BOOL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sse-gateway: flag --%s needs a value\n", f->name);
                return 2;
            }
            value = argv[++i];
        }
        if (apply(cfg, f, value, "--") != 0)
            return 2;
    }
    if (cfg->heartbeat_ms <= 0 || cfg->health_check_ms <= 0) {
        fprintf(stderr, "sse-gateway: --heartbeat and --health-check must be positive\n");
        return 2;
    }
    if (cfg->max_streams_per_connection < 1) {
        fprintf(stderr, "sse-gateway: --max-streams-per-connection must be at least 1\n");
        return 2;
    }
    if (cfg->connection_memory < 2048 || cfg->connection_memory > 1024 * 1024) {
        fprintf(stderr, "sse-gateway: --connection-memory must be between 2KiB and 1MiB\n");
        return 2;
    }
    if (cfg->window_events < 1) {
        fprintf(stderr, "sse-gateway: --window-events must be at least 1\n");
        return 2;
    }
    return 0;
}

void config_clear(struct config *cfg)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        if (flags[i].kind == K_STRING) {
            char **field = (char **)((char *)cfg + flags[i].offset);
            free(*field);
            *field = NULL;
        }
    }
}

void config_usage(void *out)
{
    FILE *f = out;
    fprintf(f, "usage: sse-gateway [serve|migrate|status] [flags]\n\nflags (each also from "
               "SSE_GATEWAY_<FLAG>; --database-url from DATABASE_URL):\n");
    for (size_t i = 0; i < NFLAGS; i++)
        fprintf(f, "  --%-28s %s\n", flags[i].name, flags[i].help);
}
