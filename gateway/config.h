/*
 * config: the command line and environment (README, Configuration). Every flag --foo-bar
 * also reads SSE_GATEWAY_FOO_BAR (--database-url reads DATABASE_URL); a flag
 * on the command line wins over the environment. Durations accept ms, s, m, h
 * (a bare number is seconds); sizes accept bytes, KiB, MiB, GiB.
 */
#ifndef SSE_CONFIG_H
#define SSE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

enum command { CMD_SERVE, CMD_MIGRATE, CMD_STATUS, CMD_HELP, CMD_VERSION };

/* A repeatable flag's values, in order. */
struct config_list {
    char **items;
    size_t n;
    bool from_env; /* the first command-line value replaces these */
};

/* Plain data on purpose: main fills it once and every part reads it. */
struct config {
    enum command command;
    char *listen;
    char *admin_listen; /* NULL: none */
    char *database_url;
    int64_t heartbeat_ms;
    int64_t idle_timeout_ms; /* 0 = never */
    int64_t retry_ms;
    long max_connections; /* 0 = derive from the file limit */
    long max_streams_per_connection;
    size_t max_queued_bytes;
    size_t connection_memory; /* MHD's per-connection pool */
    int64_t write_deadline_ms;
    int64_t request_timeout_ms; /* complete request headers within this of connecting */
    int64_t retention_ms;
    int64_t drain_timeout_ms;
    int64_t drain_spread_ms;
    int64_t health_check_ms;
    int64_t lock_timeout_ms; /* migrate: the longest wait for one lock */
    char *jwt_secret;
    char *jwt_secret_file;
    struct config_list jwt_key_files; /* PEM public keys or JWKS documents */
    char *jwt_audience;
    char *jwt_issuer;
    char *cors_origin;
    char *tls_cert; /* both or neither */
    char *tls_key;
    long threads; /* 0 = number of cores */
    bool demo;
    bool no_migrate;
    enum log_level log_level;
    enum log_format log_format;
    long window_events;
    size_t window_bytes;
    long max_listen_channels;
};

/* Fills cfg from argv and the environment. Returns 0, or 2 after printing one
 * line naming the bad flag or value to stderr (the exit status for main). */
int config_parse(struct config *cfg, int argc, char **argv);
/* Frees the strings config_parse allocated. */
void config_clear(struct config *cfg);
/* Prints the usage text to out. */
void config_usage(void *out);

/* Value parsers, exposed for tests: 0 on success, -1 on a bad value. */
int config_parse_duration(const char *s, int64_t *ms);
int config_parse_size(const char *s, size_t *bytes);
/* host:port with a port 1-65535 ("[v6]:port" too; an empty host means all). */
int config_parse_address(const char *s);

#endif
