/* Table-driven tests of POST /publish body parsing. */
#include "check.h"
#include "web/publish_body.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    static const struct {
        const char *type, *body;
        int rc;
        size_t n;
        const char *stream, *data, *event; /* of the first event */
        const char *err;                   /* a substring of the message */
    } cases[] = {
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\"}", 0, 1, "a", "x", NULL, NULL},
        {"application/json; charset=utf-8", "{\"stream\":\"a\",\"data\":\"x\",\"event\":\"t\"}", 0,
         1, "a", "x", "t", NULL},
        {"application/json",
         "[{\"stream\":\"a\",\"data\":\"1\"},{\"stream\":\"b\",\"data\":\"2\"}]", 0, 2, "a", "1",
         NULL, NULL},
        {"application/json", "{\"stream\":\"a\",\"data\":{\"k\":[1,2]}}", 0, 1, "a",
         "{\"k\":[1,2]}", NULL, NULL},
        {"application/json", "{\"stream\":\"a\",\"data\":42,\"event\":null}", 0, 1, "a", "42", NULL,
         NULL},
        {"application/json", "{\"stream\":\"a\",\"data\":\"l1\\nl2\"}", 0, 1, "a", "l1\nl2", NULL,
         NULL},
        {NULL, " {\"stream\":\"a\",\"data\":\"x\"}", 0, 1, "a", "x", NULL, NULL},
        {"application/x-www-form-urlencoded", "{\"stream\":\"a\",\"data\":\"x\"}", 0, 1, "a", "x",
         NULL, NULL},
        {"application/x-www-form-urlencoded", "stream=orders%3A1&data=hello+world&event=up", 0, 1,
         "orders:1", "hello world", "up", NULL},
        {NULL, "data=&stream=a", 0, 1, "a", "", NULL, NULL},
        {"application/json", "[]", -1, 0, NULL, NULL, NULL, "empty array"},
        {"application/json", "{\"stream\":\"a\"}", -1, 0, NULL, NULL, NULL, "data: required"},
        {"application/json", "{\"stream\":\"a\",\"data\":null}", -1, 0, NULL, NULL, NULL, "data"},
        {"application/json", "{\"data\":\"x\"}", -1, 0, NULL, NULL, NULL, "stream"},
        {"application/json", "{\"stream\":\"a b\",\"data\":\"x\"}", -1, 0, NULL, NULL, NULL,
         "invalid stream name"},
        {"application/json", "[{\"stream\":\"a\",\"data\":\"x\"},{\"stream\":\"\",\"data\":\"x\"}]",
         -1, 0, NULL, NULL, NULL, "events[1].stream"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\",\"evnet\":\"t\"}", -1, 0, NULL, NULL,
         NULL, "evnet: unknown"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\",\"event\":\"gateway:shutdown\"}", -1,
         0, NULL, NULL, NULL, "reserved"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\",\"event\":\"a\\nb\"}", -1, 0, NULL,
         NULL, NULL, "event"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\",\"event\":\"\"}", -1, 0, NULL, NULL,
         NULL, "event"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\",\"event\":3}", -1, 0, NULL, NULL,
         NULL, "event: must be a string"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\\u0000y\"}", -1, 0, NULL, NULL, NULL,
         "u0000"},
        {"application/json", "{\"stream\":\"a\",\"data\":\"x\\\\u0000y\"}", 0, 1, "a", "x\\u0000y",
         NULL, NULL},
        {"application/json", "{\"stream\":\"a\",", -1, 0, NULL, NULL, NULL, "invalid JSON"},
        {"application/json", "\"just a string\"", -1, 0, NULL, NULL, NULL, "expected an object"},
        {"application/json", "[1]", -1, 0, NULL, NULL, NULL, "expected an object"},
        {"text/plain", "stream=a&data=x", -1, 0, NULL, NULL, NULL, "Content-Type"},
        {"application/x-www-form-urlencoded", "stream=a&data=%zz", -1, 0, NULL, NULL, NULL,
         "percent-encoding"},
        {"application/x-www-form-urlencoded", "stream=a&stream=b&data=x", -1, 0, NULL, NULL, NULL,
         "twice"},
        {"application/x-www-form-urlencoded", "stream=a&data=x&other=1", -1, 0, NULL, NULL, NULL,
         "unknown field"},
        {"application/x-www-form-urlencoded", "stream=a&data=x%00y", -1, 0, NULL, NULL, NULL,
         "NUL"},
        {"application/x-www-form-urlencoded", "data=x", -1, 0, NULL, NULL, NULL,
         "stream: required"},
        /* Non-string data keeps its exact text, minified. */
        {"application/json", "{\"stream\":\"a\",\"data\":9007199254740993}", 0, 1, "a",
         "9007199254740993", NULL, NULL},
        {"application/json", "{\"stream\":\"a\",\"data\":1e400}", 0, 1, "a", "1e400", NULL, NULL},
        {"application/json",
         "{\"stream\":\"a\",\"data\":{ \"n\" : [ 0.10 , -2E-0 ] ,\"s\":\" \\u00e9 \"}}", 0, 1, "a",
         "{\"n\":[0.10,-2E-0],\"s\":\" \\u00e9 \"}", NULL, NULL},
        {"application/json", "{\"stream\":\"a\",\"data\":[\"\\u0000\"]}", 0, 1, "a",
         "[\"\\u0000\"]", NULL, NULL},
        {"application/json", "{\"st\\u0072eam\":\"a\",\"data\":true}", 0, 1, "a", "true", NULL,
         NULL},
        /* Nothing after the JSON value but whitespace. */
        {"application/json", "{\"stream\":\"a\",\"data\":1} \r\n", 0, 1, "a", "1", NULL, NULL},
        {"application/json", "{\"stream\":\"a\",\"data\":1}x", -1, 0, NULL, NULL, NULL,
         "at byte 23: bytes after the JSON value"},
        {"application/json", "[{\"stream\":\"a\",\"data\":1}],[]", -1, 0, NULL, NULL, NULL,
         "bytes after"},
        {"application/json", "{\"stream\":\"a\",\"data\":01}", -1, 0, NULL, NULL, NULL,
         "leading zero"},
        /* Reasons quote input printable, on one line. */
        {"application/json", "{\"stream\":\"a\",\"data\":1,\"x\\n\\\"admin\\\":true\":1}", -1, 0,
         NULL, NULL, NULL, "x\\x5cn\\x5c\"admin\\x5c\":true: unknown field"},
        {"application/json", "{\"stream\":\"a\",\"data\":1,\"data\":2}", -1, 0, NULL, NULL, NULL,
         "data: given twice"},
        {"application/x-www-form-urlencoded", "stream=a&data=x&x\n\",\"admin\":true,\"y=1", -1, 0,
         NULL, NULL, NULL, "form: unknown field x\\x0a\",\"admin\":true,\"y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct publish_list l;
        char err[200] = "";
        int rc = publish_body_parse(cases[i].type, cases[i].body, strlen(cases[i].body), &l, err,
                                    sizeof err);
        CHECK_EQ(rc, cases[i].rc);
        CHECK_EQ(l.n, cases[i].n);
        if (rc == 0 && l.n) {
            CHECK_STR(l.items[0].stream, cases[i].stream);
            CHECK_STR(l.items[0].data, cases[i].data);
            if (cases[i].event)
                CHECK_STR(l.items[0].event, cases[i].event);
            else
                CHECK(l.items[0].event == NULL);
        }
        if (cases[i].err)
            CHECK(strstr(err, cases[i].err) != NULL);
        publish_list_clear(&l);
    }

    /* Limits: data of exactly PUBLISH_DATA_MAX bytes passes, one more fails. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = PUBLISH_DATA_MAX + (size_t)extra;
        char *body = malloc(n + 64);
        int len = sprintf(body, "{\"stream\":\"a\",\"data\":\"");
        memset(body + len, 'x', n);
        strcpy(body + len + n, "\"}");
        struct publish_list l;
        char err[200] = "";
        CHECK_EQ(publish_body_parse("application/json", body, strlen(body), &l, err, sizeof err),
                 extra ? -1 : 0);
        CHECK_EQ(publish_list_bytes(&l), extra ? 0 : 1 + n);
        publish_list_clear(&l);
        free(body);
    }
    return CHECK_DONE();
}
