/*
 * Table-driven tests of notify_payload_parse: the shapes sse.notify() sends,
 * and the outside input anyone may NOTIFY on "sse#notify" instead.
 */
#include "check.h"
#include "listener/notify_payload.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define OK  0
#define BAD (-1)

struct payload_case {
    const char *json;
    long len; /* -1: strlen(json) */
    int rc;
    const char *stream, *event, *data; /* expected on OK; event NULL = none */
};

static char long_stream_json[300], max_stream_json[300], max_stream[201];

static void build_long_cases(void)
{
    memset(max_stream, 'a', 200);
    max_stream[200] = '\0';
    snprintf(max_stream_json, sizeof max_stream_json, "{\"stream\":\"%s\",\"data\":\"d\"}",
             max_stream);
    snprintf(long_stream_json, sizeof long_stream_json, "{\"stream\":\"%sa\",\"data\":\"d\"}",
             max_stream);
}

static void run_case(size_t i, const struct payload_case *c)
{
    size_t len = c->len < 0 ? strlen(c->json) : (size_t)c->len;
    struct notify_payload p;
    const char *why = "untouched";
    int rc = notify_payload_parse(c->json, len, &p, &why);
    if (rc != c->rc)
        fprintf(stderr, "case %zu (%s): rc %d, reason %s\n", i, c->json, rc, why ? why : "-");
    CHECK_EQ(rc, c->rc);
    if (rc != OK) {
        CHECK(why != NULL && strcmp(why, "untouched") != 0);
        CHECK(!p.stream && !p.event && !p.data && p.data_len == 0);
        return;
    }
    CHECK(why == NULL);
    CHECK_STR(p.stream, c->stream);
    if (c->event)
        CHECK_STR(p.event, c->event);
    else
        CHECK(p.event == NULL);
    CHECK_STR(p.data, c->data);
    CHECK_EQ(p.data_len, strlen(c->data));
    notify_payload_clear(&p);
    CHECK(!p.stream && !p.event && !p.data && p.data_len == 0);
}

int main(void)
{
    build_long_cases();
    const struct payload_case cases[] = {
        /* What sse.notify() sends (json_build_object). */
        {"{\"stream\" : \"room:1\", \"event\" : \"typing\", \"data\" : \"x\"}", -1, OK, "room:1",
         "typing", "x"},
        {"{\"stream\" : \"a\", \"event\" : null, \"data\" : \"\"}", -1, OK, "a", NULL, ""},
        {"{\"stream\":\"a\",\"data\":\"multi\\nline\"}", -1, OK, "a", NULL, "multi\nline"},
        {"{\"stream\":\"u@x.y/z_-9\",\"data\":\"\\u00e9\\\"q\\\"\"}", -1, OK, "u@x.y/z_-9", NULL,
         "\xc3\xa9\"q\""},
        {" \t\n{\"data\":\"d\",\"stream\":\"a\"}\r\n ", -1, OK, "a", NULL, "d"},
        {"{\"stream\":\"a\",\"event\":\"\",\"data\":\"d\"}", -1, OK, "a", NULL, "d"},
        {"{\"stream\":\"a\",\"data\":\"d\",\"extra\":[1,{\"x\":null}]}", -1, OK, "a", NULL, "d"},
        {"{\"stream\":\"a\",\"data\":\"\\\\u0000\"}", -1, OK, "a", NULL, "\\u0000"},
        {max_stream_json, -1, OK, max_stream, NULL, "d"},
        /* Only len bytes count: the rest of the buffer is not looked at. */
        {"{\"stream\":\"a\",\"data\":\"d\"}garbage", 25, OK, "a", NULL, "d"},
        /* Not an object, or not only one. */
        {"", -1, BAD},
        {"   ", -1, BAD},
        {"[1,2]", -1, BAD},
        {"\"stream\"", -1, BAD},
        {"null", -1, BAD},
        {"{not json", -1, BAD},
        {"{\"stream\":\"a\",\"data\":\"d\"", -1, BAD},
        {"{\"stream\":\"a\",\"data\":\"d\"} {}", -1, BAD},
        {"{\"stream\":\"a\",\"data\":\"d\"}x", -1, BAD},
        {"{\"stream\":\"a\",\"data\":\"d\"}garbage", 24, BAD},
        /* stream */
        {"{\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":5,\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":null,\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"bad name\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a#b\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\\\"b\",\"data\":\"d\"}", -1, BAD},
        {"{\"Stream\":\"a\",\"data\":\"d\"}", -1, BAD},
        {long_stream_json, -1, BAD},
        {"{\"stream\":\"a\",\"stream\":\"b\",\"data\":\"d\"}", -1, BAD},
        /* data */
        {"{\"stream\":\"a\"}", -1, BAD},
        {"{\"stream\":\"a\",\"data\":1}", -1, BAD},
        {"{\"stream\":\"a\",\"data\":null}", -1, BAD},
        {"{\"stream\":\"a\",\"data\":{\"x\":1}}", -1, BAD},
        {"{\"stream\":\"a\",\"data\":\"d\",\"data\":\"e\"}", -1, BAD},
        /* event */
        {"{\"stream\":\"a\",\"event\":3,\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":true,\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":[\"e\"],\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":\"e\\ndata: x\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":\"e\\r\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":\"e\",\"event\":null,\"data\":\"d\"}", -1, BAD},
        /* The gateway's sentinels' prefix, as sse.notify() refuses it (case-sensitive). */
        {"{\"stream\":\"a\",\"event\":\"gateway:shutdown\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":\"gateway:\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":\"gateway\\u003agap\",\"data\":\"d\"}", -1, BAD},
        {"{\"stream\":\"a\",\"event\":\"Gateway:x\",\"data\":\"d\"}", -1, OK, "a", "Gateway:x",
         "d"},
        {"{\"stream\":\"a\",\"event\":\"gateway\",\"data\":\"d\"}", -1, OK, "a", "gateway", "d"},
        {"{\"stream\":\"a\",\"event\":\"my-gateway:x\",\"data\":\"d\"}", -1, OK, "a",
         "my-gateway:x", "d"},
        /* NUL, raw or escaped: C strings would cut it short. */
        {"{\"stream\":\"a\",\"data\":\"b\0c\"}", 27, BAD},
        {"{\"stream\":\"a\",\"data\":\"b\\u0000c\"}", -1, BAD},
        {"{\"stream\":\"a\\u0000b\",\"data\":\"d\"}", -1, BAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(i, &cases[i]);
    struct notify_payload p;
    const char *why = NULL;
    const char *forged = "{\"stream\":\"a\",\"event\":\"gateway:gap\",\"data\":\"d\"}";
    CHECK_EQ(notify_payload_parse(forged, strlen(forged), &p, &why), BAD);
    CHECK(why == notify_payload_reserved);             /* told apart from malformed payloads */
    notify_payload_clear(&(struct notify_payload){0}); /* safe on an empty struct */
    return CHECK_DONE();
}
