/*
 * Tests of log records: every JSON record parses (cJSON) and is one line,
 * whatever its message and fields hold (newlines, quotes, control bytes,
 * bytes that are not UTF-8, random bytes); text records are one line with
 * control characters escaped and values quoted when needed; an oversized
 * record is cut to fit and says so; log_msg trims libpq's final newline.
 */
#include "check.h"
#include "common/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS 1800000000123LL

static char line[4096];

/* Renders a JSON record and parses it; checks it is one line. */
static cJSON *json(const char *msg, const struct log_field *f, size_t n)
{
    size_t len = log_render(line, sizeof line, LOG_JSON, MS, LOG_INFO, "http", msg, f, n);
    CHECK(len > 0 && len <= sizeof line && line[len - 1] == '\n');
    CHECK(memchr(line, '\n', len - 1) == NULL);
    cJSON *v = cJSON_ParseWithLength(line, len);
    CHECK(cJSON_IsObject(v));
    if (!v)
        fprintf(stderr, "does not parse: %.*s", (int)len, line);
    return v;
}

static const char *str(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void test_json_fields(void)
{
    const char *streams[] = {"orders:1", "chat:2"};
    cJSON *v = json("subscription ended",
                    (struct log_field[]){LOG_STR("remote", "127.0.0.1:5000"),
                                         LOG_STRS("streams", streams, 2), LOG_INT("bytes", 1234),
                                         LOG_INT("cursor", -1), LOG_STR("absent", NULL)},
                    5);
    CHECK_STR(str(v, "ts"), "2027-01-15T08:00:00.123Z");
    CHECK_STR(str(v, "level"), "info");
    CHECK_STR(str(v, "module"), "http");
    CHECK_STR(str(v, "instance"), "host:1:abc");
    CHECK_STR(str(v, "msg"), "subscription ended");
    CHECK_STR(str(v, "remote"), "127.0.0.1:5000");
    CHECK_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "bytes")), 1234);
    CHECK_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "cursor")), -1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(v, "absent")));
    const cJSON *a = cJSON_GetObjectItem(v, "streams");
    CHECK(cJSON_GetArraySize(a) == 2 &&
          strcmp(cJSON_GetArrayItem(a, 1)->valuestring, "chat:2") == 0);
    CHECK(cJSON_GetObjectItem(v, "truncated") == NULL);
    cJSON_Delete(v);
}

/* What a request may put in a message: each comes back intact (or, for
 * bytes that are not UTF-8, as U+FFFD), on one line. */
static void test_json_escaping(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"unknown field \"a\nb\"", "unknown field \"a\nb\""},
        {"x\r\n{\"ts\":\"forged\"}", "x\r\n{\"ts\":\"forged\"}"},
        {"back\\slash \t tab \x01\x1f\x7f", "back\\slash \t tab \x01\x1f\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"bad \xff \xc3 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 end",
         "bad \xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
         "end"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *v = json(cases[i].in, (struct log_field[]){LOG_STR("value", cases[i].in)}, 1);
        CHECK_STR(str(v, "msg"), cases[i].out);
        CHECK_STR(str(v, "value"), cases[i].out);
        cJSON_Delete(v);
    }
}

static void test_random_bytes(void)
{
    unsigned seed = 7;
    char msg[600], val[300];
    int parsed = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)rand_r(&seed) % (sizeof msg - 1), m = (size_t)rand_r(&seed) % 299;
        for (size_t i = 0; i < n; i++)
            msg[i] = (char)(1 + rand_r(&seed) % 255);
        for (size_t i = 0; i < m; i++)
            val[i] = (char)(1 + rand_r(&seed) % 255);
        msg[n] = val[m] = '\0';
        const char *list[] = {val, msg};
        cJSON *v = json(msg, (struct log_field[]){LOG_STR("v", val), LOG_STRS("l", list, 2)}, 2);
        parsed += v != NULL;
        cJSON_Delete(v);
        size_t len = log_render(line, sizeof line, LOG_TEXT, MS, LOG_WARN, "http", msg,
                                (struct log_field[]){LOG_STR("v", val)}, 1);
        if (memchr(line, '\n', len - 1) || memchr(line, '\r', len) || line[len - 1] != '\n')
            CHECK(!"a text record is one line");
    }
    CHECK_EQ(parsed, 3000);
}

static void test_text(void)
{
    const char *streams[] = {"orders:1", "chat:2"};
    size_t len =
        log_render(line, sizeof line, LOG_TEXT, MS, LOG_WARN, "pg",
                   "query failed: ERROR:  boom\nDETAIL:  x\tz",
                   (struct log_field[]){LOG_STR("reason", "client closed"), LOG_STR("plain", "abc"),
                                        LOG_STR("empty", ""), LOG_STR("quote", "say \"hi\"\n"),
                                        LOG_INT("n", 42), LOG_STRS("streams", streams, 2)},
                   6);
    line[len] = '\0';
    CHECK_STR(line, "2027-01-15T08:00:00.123Z warn [pg] host:1:abc query failed: ERROR:  "
                    "boom\\nDETAIL:  x\\tz reason=\"client closed\" plain=abc empty=\"\" "
                    "quote=\"say \\\"hi\\\"\\n\" n=42 streams=orders:1,chat:2\n");
}

static void test_truncation(void)
{
    char big[6000];
    memset(big, '"', sizeof big - 1); /* doubles when escaped */
    big[sizeof big - 1] = '\0';
    cJSON *v = json(big, (struct log_field[]){LOG_INT("after", 1)}, 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(v, "truncated")));
    const char *m = str(v, "msg");
    CHECK(m && strlen(m) > 1000 && strcmp(m + strlen(m) - 3, "...") == 0);
    CHECK(cJSON_GetObjectItem(v, "after") == NULL);
    cJSON_Delete(v);
    /* A field too big for what is left goes whole; the ones before stay. */
    v = json("ok", (struct log_field[]){LOG_INT("first", 1), LOG_STR("huge", big)}, 2);
    CHECK_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "first")), 1);
    CHECK(cJSON_GetObjectItem(v, "huge") == NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(v, "truncated")));
    cJSON_Delete(v);
    size_t len = log_render(line, sizeof line, LOG_TEXT, MS, LOG_INFO, "x", big, NULL, 0);
    CHECK(len <= sizeof line && memchr(line, '\n', len - 1) == NULL);
    CHECK(memmem(line, len, "... truncated=true\n", 19) != NULL);
}

/* log_msg through stderr: levels filter, libpq's trailing newline goes. */
static void test_log_msg(void)
{
    char path[] = "/tmp/sse-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_set_format(LOG_JSON);
    log_set_level(LOG_INFO);
    log_debug("pg", "not written");
    log_warn("pg", "connection lost: %s", "server closed the connection\n\tunexpectedly\n");
    log_record(LOG_INFO, "http", "published", LOG_INT("status", 201), LOG_INT("events", 2));
    log_set_format(LOG_TEXT);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    char *second = strchr(buf, '\n');
    CHECK(second && strchr(second + 1, '\n') && !strchr(strchr(second + 1, '\n') + 1, '\n'));
    cJSON *a = cJSON_ParseWithLength(buf, (size_t)(second - buf));
    cJSON *b = cJSON_Parse(second + 1);
    CHECK_STR(str(a, "level"), "warn");
    CHECK_STR(str(a, "msg"), "connection lost: server closed the connection\n\tunexpectedly");
    CHECK_STR(str(b, "msg"), "published");
    CHECK_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(b, "status")), 201);
    cJSON_Delete(a);
    cJSON_Delete(b);
    enum log_format f;
    CHECK(log_parse_format("json", &f) == 0 && f == LOG_JSON);
    CHECK(log_parse_format("JSON", &f) == -1);
}

int main(void)
{
    log_set_instance("host:1:abc");
    test_json_fields();
    test_json_escaping();
    test_random_bytes();
    test_text();
    test_truncation();
    test_log_msg();
    return CHECK_DONE();
}
