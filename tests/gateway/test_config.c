/*
 * Unit tests of config: value parsers, flag forms, environment fallback,
 * command-line precedence, and exit status 2 on bad input.
 */
#include "check.h"
#include "gateway/config.h"

#include <stdio.h>
#include <stdlib.h>

static int parse(struct config *cfg, int argc, const char **argv)
{
    return config_parse(cfg, argc, (char **)argv);
}

static void test_durations_and_sizes(void)
{
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } durations[] = {{"15s", 0, 15000},
                     {"250ms", 0, 250},
                     {"2m", 0, 120000},
                     {"1h", 0, 3600000},
                     {"3", 0, 3000},
                     {"1.5s", 0, 1500},
                     {"", -1, 0},
                     {"s", -1, 0},
                     {"-1s", -1, 0},
                     {"5x", -1, 0},
                     {"5 s", -1, 0},
                     {"0x10", -1, 0},
                     {"1e3ms", -1, 0},
                     {"+5s", -1, 0},
                     {"1.s", -1, 0},
                     {"0.25s", 0, 250},
                     {"9223372036854775807h", -1, 0}};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        int64_t ms = -7;
        CHECK_EQ(config_parse_duration(durations[i].in, &ms), durations[i].rc);
        if (durations[i].rc == 0)
            CHECK_EQ(ms, durations[i].ms);
    }
    static const struct {
        const char *in;
        int rc;
        size_t bytes;
    } sizes[] = {{"64KiB", 0, 65536}, {"1MiB", 0, 1048576},
                 {"100", 0, 100},     {"2GiB", 0, 2147483648u},
                 {"1KB", -1, 0},      {"", -1, 0},
                 {"-5", -1, 0},       {"0x10", -1, 0},
                 {"1e3KiB", -1, 0},   {"1.5KiB", 0, 1536},
                 {" 5", -1, 0},       {"18446744073709551616", -1, 0}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t b = 7;
        CHECK_EQ(config_parse_size(sizes[i].in, &b), sizes[i].rc);
        if (sizes[i].rc == 0)
            CHECK_EQ(b, sizes[i].bytes);
    }
}

static void test_addresses(void)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {{"127.0.0.1:8080", 0}, {"[::1]:80", 0},       {":8080", 0},
                 {"localhost:1", 0},    {"host:65535", 0},     {"127.0.0.1:99999", -1},
                 {"127.0.0.1:0", -1},   {"nonsense", -1},      {"127.0.0.1:", -1},
                 {"127.0.0.1:80x", -1}, {"127.0.0.1:+80", -1}, {"a b:80", -1},
                 {"[::1:80", -1},       {"127.0.0.1:080", 0},  {"h\n:80", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = config_parse_address(cases[i].in);
        if (rc != cases[i].rc)
            fprintf(stderr, "address %s\n", cases[i].in);
        CHECK_EQ(rc, cases[i].rc);
    }
}

static void test_flags_env_and_precedence(void)
{
    struct config cfg;
    setenv("DATABASE_URL", "postgresql://env/db", 1);
    setenv("SSE_GATEWAY_HEARTBEAT", "3s", 1);
    setenv("SSE_GATEWAY_LISTEN", "127.0.0.1:9000", 1);
    const char *argv[] = {
        "sse-gateway", "serve", "--listen=127.0.0.1:9100", "--demo", "--max-queued-bytes", "64KiB",
        "--log-level", "debug", "--log-format=json"};
    CHECK_EQ(parse(&cfg, 9, argv), 0);
    CHECK_EQ(cfg.log_format, LOG_JSON);
    CHECK_EQ(cfg.command, CMD_SERVE);
    CHECK_STR(cfg.database_url, "postgresql://env/db");
    CHECK_STR(cfg.listen, "127.0.0.1:9100"); /* the command line wins */
    CHECK_EQ(cfg.heartbeat_ms, 3000);
    CHECK_EQ(cfg.max_queued_bytes, 65536);
    CHECK(cfg.demo);
    CHECK_EQ(cfg.log_level, LOG_DEBUG);
    CHECK_EQ(cfg.retry_ms, 2000); /* default */
    config_clear(&cfg);
    unsetenv("DATABASE_URL");
    unsetenv("SSE_GATEWAY_HEARTBEAT");
    unsetenv("SSE_GATEWAY_LISTEN");

    const char *migrate[] = {"sse-gateway", "migrate", "--database-url", "x"};
    CHECK_EQ(parse(&cfg, 4, migrate), 0);
    CHECK_EQ(cfg.command, CMD_MIGRATE);
    config_clear(&cfg);
}

/* --jwt-key-file repeats; the environment's comma list yields to the command line. */
static void test_key_files(void)
{
    struct config cfg;
    const char *two[] = {"sse-gateway",           "--jwt-key-file", "a.pem",
                         "--jwt-key-file=b.json", "--jwt-audience", "api"};
    CHECK_EQ(parse(&cfg, 6, two), 0);
    CHECK_EQ(cfg.jwt_key_files.n, 2);
    CHECK_STR(cfg.jwt_key_files.items[0], "a.pem");
    CHECK_STR(cfg.jwt_key_files.items[1], "b.json");
    CHECK_STR(cfg.jwt_audience, "api");
    CHECK(cfg.jwt_issuer == NULL);
    config_clear(&cfg);
    CHECK_EQ(cfg.jwt_key_files.n, 0);

    setenv("SSE_GATEWAY_JWT_KEY_FILE", "x.pem,,y.pem", 1);
    const char *none[] = {"sse-gateway"};
    CHECK_EQ(parse(&cfg, 1, none), 0);
    CHECK_EQ(cfg.jwt_key_files.n, 2);
    CHECK_STR(cfg.jwt_key_files.items[1], "y.pem");
    config_clear(&cfg);
    const char *one[] = {"sse-gateway", "--jwt-key-file", "c.pem"};
    CHECK_EQ(parse(&cfg, 3, one), 0);
    CHECK_EQ(cfg.jwt_key_files.n, 1);
    CHECK_STR(cfg.jwt_key_files.items[0], "c.pem");
    config_clear(&cfg);
    setenv("SSE_GATEWAY_JWT_KEY_FILE", ",", 1);
    CHECK_EQ(parse(&cfg, 1, none), 2);
    config_clear(&cfg);
    unsetenv("SSE_GATEWAY_JWT_KEY_FILE");
    const char *empty[] = {"sse-gateway", "--jwt-key-file", ""};
    CHECK_EQ(parse(&cfg, 3, empty), 2);
    config_clear(&cfg);
}

static void test_bad_input_exits_2(void)
{
    struct config cfg;
    const char *bad[][3] = {
        {"sse-gateway", "--heartbeat", "soon"},
        {"sse-gateway", "--no-such-flag", "1"},
        {"sse-gateway", "frobnicate", ""},
        {"sse-gateway", "--threads", "-2"},
        {"sse-gateway", "--log-level", "loud"},
        {"sse-gateway", "--log-format", "xml"},
        {"sse-gateway", "--heartbeat", "0"},
        {"sse-gateway", "--threads", "4294967297"},
        {"sse-gateway", "--window-events", "9223372036854775807"},
        {"sse-gateway", "--max-queued-bytes", "0x10"},
        {"sse-gateway", "--max-queued-bytes", "1e3KiB"},
        {"sse-gateway", "--listen", "127.0.0.1:99999"},
        {"sse-gateway", "--listen", "nonsense"},
        {"sse-gateway", "--tls-cert", "cert.pem"},
        {"sse-gateway", "--window-bytes", "1KiB"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(parse(&cfg, 3, bad[i]), 2);
        config_clear(&cfg);
    }
    const char *missing[] = {"sse-gateway", "--retry"};
    CHECK_EQ(parse(&cfg, 2, missing), 2);
    config_clear(&cfg);
    setenv("SSE_GATEWAY_RETENTION", "forever", 1);
    const char *plain[] = {"sse-gateway"};
    CHECK_EQ(parse(&cfg, 1, plain), 2);
    config_clear(&cfg);
    unsetenv("SSE_GATEWAY_RETENTION");
}

int main(void)
{
    test_durations_and_sizes();
    test_addresses();
    test_flags_env_and_precedence();
    test_key_files();
    test_bad_input_exits_2();
    return CHECK_DONE();
}
