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
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind {
    K_STRING,
    K_LIST,
    K_ADDRESS,
    K_DURATION,
    K_SIZE,
    K_COUNT,
    K_BOOL,
    K_LEVEL,
    K_LOG_FORMAT
};

struct flag {
    const char *name; /* without the leading "--" */
    enum kind kind;
    size_t offset;
    int64_t min, max; /* durations in ms, sizes in bytes, counts: the accepted range */
    const char *help;
};

#define KIB     (INT64_C(1) << 10)
#define MIB     (INT64_C(1) << 20)
#define GIB     (INT64_C(1) << 30)
#define HOUR_MS (INT64_C(3600) * 1000)
#define F(name, kind, field, min, max, help)                                                       \
    {                                                                                              \
        name, kind, offsetof(struct config, field), min, max, help                                 \
    }
#define S(name, field, help) F(name, K_STRING, field, 0, 0, help)
static const struct flag flags[] = {
    F("listen", K_ADDRESS, listen, 0, 0, "host:port to serve on [127.0.0.1:8080]"),
    F("admin-listen", K_ADDRESS, admin_listen, 0, 0,
      "second host:port for health, metrics, publish"),
    S("database-url", database_url, "PostgreSQL connection string [DATABASE_URL]"),
    F("heartbeat", K_DURATION, heartbeat_ms, 100, HOUR_MS,
      "comment to idle connections after [15s]"),
    F("idle-timeout", K_DURATION, idle_timeout_ms, 0, 720 * HOUR_MS,
      "close after no event for [0 = never]"),
    F("retry", K_DURATION, retry_ms, 0, 24 * HOUR_MS, "reconnect delay told to clients [2000ms]"),
    F("max-connections", K_COUNT, max_connections, 0, 10000000,
      "SSE connections [file limit less a margin]"),
    F("max-streams-per-connection", K_COUNT, max_streams_per_connection, 1, 1024, "[32]"),
    F("max-queued-bytes", K_SIZE, max_queued_bytes, 1 * KIB, 1 * GIB,
      "per connection before closing it [1MiB]"),
    F("write-deadline", K_DURATION, write_deadline_ms, 100, HOUR_MS,
      "close a socket that accepts no byte this long [10s]"),
    F("request-timeout", K_DURATION, request_timeout_ms, 100, HOUR_MS,
      "close a client whose request headers take longer [10s]"),
    F("retention", K_DURATION, retention_ms, 1000, 87600 * HOUR_MS,
      "how long events stay replayable [1h]"),
    F("drain-timeout", K_DURATION, drain_timeout_ms, 0, HOUR_MS,
      "exit within this after a signal [10s]"),
    F("drain-spread", K_DURATION, drain_spread_ms, 0, HOUR_MS,
      "spread of clients' reconnects [5s]"),
    F("health-check", K_DURATION, health_check_ms, 100, HOUR_MS,
      "LISTEN connection check interval [5s]"),
    F("lock-timeout", K_DURATION, lock_timeout_ms, 100, HOUR_MS,
      "longest wait for a lock while migrating [5s]"),
    S("jwt-secret", jwt_secret, "HS256 secret [none: open mode]"),
    S("jwt-secret-file", jwt_secret_file, "file holding the secret"),
    F("jwt-key-file", K_LIST, jwt_key_files, 0, 0, "PEM public keys or a JWKS (repeatable)"),
    S("jwt-audience", jwt_audience, "tokens' aud must hold this"),
    S("jwt-issuer", jwt_issuer, "tokens' iss must equal this"),
    S("cors-origin", cors_origin, "allowed origins, comma-separated, or *"),
    S("tls-cert", tls_cert, "PEM certificate chain: serve HTTPS on --listen"),
    S("tls-key", tls_key, "PEM private key of --tls-cert"),
    F("threads", K_COUNT, threads, 0, 1024, "HTTP worker threads [number of cores]"),
    F("demo", K_BOOL, demo, 0, 0, "serve the demo page at /"),
    F("no-migrate", K_BOOL, no_migrate, 0, 0, "do not install the schema at start"),
    F("log-level", K_LEVEL, log_level, 0, 0, "debug, info, warn or error [info]"),
    F("log-format", K_LOG_FORMAT, log_format, 0, 0, "text or json (one object a line) [text]"),
    F("window-events", K_COUNT, window_events, 1, 4 * MIB, "recent events kept in memory [65536]"),
    F("window-bytes", K_SIZE, window_bytes, 64 * KIB, 1024 * GIB,
      "bytes of recent events kept in memory [64MiB]"),
    F("max-listen-channels", K_COUNT, max_listen_channels, 0, 1000000,
      "streams LISTENed for raw NOTIFY [10000]"),
    F("connection-memory", K_SIZE, connection_memory, 2 * KIB, 1 * MIB,
      "buffer per connection [4KiB]"),
};
#undef F
#undef S
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
    cfg->request_timeout_ms = 10000;
    cfg->retention_ms = 3600 * 1000;
    cfg->drain_timeout_ms = 10000;
    cfg->drain_spread_ms = 5000;
    cfg->health_check_ms = 5000;
    cfg->lock_timeout_ms = 5000;
    cfg->log_level = LOG_INFO;
    cfg->window_events = 65536;
    cfg->window_bytes = 64 * 1024 * 1024;
    cfg->max_listen_channels = 10000;
    cfg->connection_memory = 4096;
}

/* "<decimal>[<unit>]": digits, optionally a fraction when units scale it,
 * then one of units (a bare number takes bare_scale). No sign, exponent,
 * hex or spaces: a value means what it reads as. Exact integer arithmetic;
 * -1 on a bad form or a result past INT64_MAX. */
static int parse_decimal(const char *s, const char *const *units, const int64_t *scales,
                         int64_t bare_scale, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    int64_t whole = 0, frac = 0, frac_div = 1;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > (INT64_MAX - 9) / 10)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.' && units) {
        if (!isdigit((unsigned char)p[1]))
            return -1;
        for (p++; isdigit((unsigned char)*p); p++) {
            if (frac_div < INT64_C(1000000000)) { /* digits past 9 cannot matter */
                frac = frac * 10 + (*p - '0');
                frac_div *= 10;
            }
        }
    }
    int64_t scale = bare_scale;
    if (*p) {
        scale = 0;
        for (int i = 0; units && units[i]; i++)
            if (strcmp(p, units[i]) == 0)
                scale = scales[i];
        if (!scale)
            return -1;
    }
    if (whole > INT64_MAX / scale)
        return -1;
    *out = whole * scale + frac * scale / frac_div;
    return 0;
}

int config_parse_duration(const char *s, int64_t *ms)
{
    static const char *const units[] = {"ms", "s", "m", "h", NULL};
    static const int64_t scales[] = {1, 1000, 60000, 3600000};
    return parse_decimal(s, units, scales, 1000, ms);
}

int config_parse_size(const char *s, size_t *bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", NULL};
    static const int64_t scales[] = {1, KIB, MIB, GIB};
    int64_t v;
    if (parse_decimal(s, units, scales, 1, &v) != 0 || (uint64_t)v > SIZE_MAX)
        return -1;
    *bytes = (size_t)v;
    return 0;
}

int config_parse_address(const char *s)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon)
        return -1;
    size_t hostlen = (size_t)(colon - s);
    if (hostlen > 255)
        return -1;
    if (hostlen && s[0] == '[') {
        if (hostlen < 3 || s[hostlen - 1] != ']')
            return -1;
        for (size_t i = 1; i + 1 < hostlen; i++)
            if (!isxdigit((unsigned char)s[i]) && !strchr(":.%", s[i]) &&
                !isalnum((unsigned char)s[i]))
                return -1;
    } else {
        for (size_t i = 0; i < hostlen; i++)
            if (!isalnum((unsigned char)s[i]) && !strchr(".-_", s[i]))
                return -1;
    }
    const char *port = colon + 1;
    long v = 0;
    if (!*port || strlen(port) > 5)
        return -1;
    for (const char *p = port; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535 ? 0 : -1;
}

static int parse_count(const char *s, long *out)
{
    int64_t v;
    if (parse_decimal(s, NULL, NULL, 1, &v) != 0 || v > LONG_MAX)
        return -1;
    *out = (long)v;
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

/* The parsed value of a ranged flag, for the range check. */
static int64_t ranged_value(const struct flag *f, const void *field)
{
    switch (f->kind) {
    case K_DURATION:
        return *(const int64_t *)field;
    case K_SIZE:
        return (int64_t) * (const size_t *)field;
    case K_COUNT:
        return (int64_t) * (const long *)field;
    default:
        return 0;
    }
}

static void list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void list_add(struct config_list *l, const char *value, size_t len)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = xstrndup(value, len);
}

/* A repeatable flag: each command-line use adds one value, and the first
 * replaces what the environment gave; the environment's value is a
 * comma-separated list. */
static int apply_list(struct config_list *l, const char *value, bool from_env)
{
    if (!value || !*value)
        return -1;
    if (!from_env && l->from_env)
        list_clear(l);
    l->from_env = from_env;
    if (!from_env) {
        list_add(l, value, strlen(value));
        return 0;
    }
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ",");
        if (len)
            list_add(l, p, len);
        p += len + (p[len] == ',');
    }
    return l->n ? 0 : -1;
}

/* Stores value into the flag's field; value is NULL for a bare boolean flag. */
static int apply(struct config *cfg, const struct flag *f, const char *value, const char *source)
{
    void *field = (char *)cfg + f->offset;
    int rc = -1;
    switch (f->kind) {
    case K_STRING:
    case K_ADDRESS:
        if (value && (f->kind == K_STRING || config_parse_address(value) == 0)) {
            free(*(char **)field);
            *(char **)field = xstrdup(value);
            rc = 0;
        }
        break;
    case K_LIST:
        rc = apply_list(field, value, strncmp(source, "environment", 11) == 0);
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
    case K_LOG_FORMAT:
        rc = value ? log_parse_format(value, field) : -1;
        break;
    }
    if (rc != 0) {
        fprintf(stderr, "sse-gateway: invalid value for %s%s: %.200s%s\n", source, f->name,
                value ? value : "(missing)",
                f->kind == K_ADDRESS ? " (want host:port, port 1-65535)" : "");
        return rc;
    }
    int64_t v = ranged_value(f, field);
    if (f->min != f->max && (v < f->min || v > f->max)) {
        fprintf(stderr, "sse-gateway: %s%s out of range: %.200s (%" PRId64 " to %" PRId64 "%s)\n",
                source, f->name, value, f->min, f->max,
                f->kind == K_DURATION ? " ms"
                : f->kind == K_SIZE   ? " bytes"
                                      : "");
        return -1;
    }
    return 0;
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
    if (!cfg->tls_cert != !cfg->tls_key) {
        fprintf(stderr, "sse-gateway: give both --tls-cert and --tls-key, or neither\n");
        return 2;
    }
    return 0;
}

void config_clear(struct config *cfg)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        if (flags[i].kind == K_STRING || flags[i].kind == K_ADDRESS) {
            char **field = (char **)((char *)cfg + flags[i].offset);
            free(*field);
            *field = NULL;
        } else if (flags[i].kind == K_LIST) {
            list_clear((struct config_list *)((char *)cfg + flags[i].offset));
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
