/* Table-driven tests of subscription query parsing. */
#include "check.h"
#include "protocol/stream_name.h"
#include "web/query.h"

#include <string.h>

int main(void)
{
    static const struct {
        const char *query;
        enum query_status status;
        size_t nstreams;
        const char *first, *second;
        int has_cursor;
        int64_t cursor;
    } cases[] = {
        {"stream=a", QUERY_OK, 1, "a", NULL, 0, 0},
        {"stream=a&stream=b&lastEventId=5", QUERY_OK, 2, "a", "b", 1, 5},
        {"stream=a&stream=a", QUERY_OK, 1, "a", NULL, 0, 0},
        {"stream=orders%3A42&x=1&lastEventId=0", QUERY_OK, 1, "orders:42", NULL, 1, 0},
        {"stream=A-z_0.9:/@", QUERY_OK, 1, "A-z_0.9:/@", NULL, 0, 0},
        {"st%72eam=a", QUERY_OK, 1, "a", NULL, 0, 0},
        {"", QUERY_NO_STREAM, 0, NULL, NULL, 0, 0},
        {"lastEventId=3", QUERY_NO_STREAM, 0, NULL, NULL, 0, 0},
        {"stream=", QUERY_BAD_STREAM, 0, NULL, NULL, 0, 0},
        {"stream=a%00b", QUERY_BAD_STREAM, 0, NULL, NULL, 0, 0},
        {"stream=a+b", QUERY_BAD_STREAM, 0, NULL, NULL, 0, 0},
        {"stream=a%20b", QUERY_BAD_STREAM, 0, NULL, NULL, 0, 0},
        {"stream=%e2%82%ac", QUERY_BAD_STREAM, 0, NULL, NULL, 0, 0},
        {"stream=a%zz", QUERY_BAD_ENCODING, 0, NULL, NULL, 0, 0},
        {"stream=a%4", QUERY_BAD_ENCODING, 0, NULL, NULL, 0, 0},
        {"stream=a%", QUERY_BAD_ENCODING, 0, NULL, NULL, 0, 0},
        {"stream=a&lastEventId=abc", QUERY_BAD_CURSOR, 0, NULL, NULL, 0, 0},
        {"stream=a&lastEventId=-1", QUERY_BAD_CURSOR, 0, NULL, NULL, 0, 0},
        {"stream=a&lastEventId=", QUERY_BAD_CURSOR, 0, NULL, NULL, 0, 0},
        {"stream=a&lastEventId=1e3", QUERY_BAD_CURSOR, 0, NULL, NULL, 0, 0},
        {"stream=a&lastEventId=9223372036854775808", QUERY_BAD_CURSOR, 0, NULL, NULL, 0, 0},
        {"stream=a&lastEventId=9223372036854775807", QUERY_OK, 1, "a", NULL, 1, INT64_MAX},
        {"stream=a&stream=b&stream=c&stream=d", QUERY_TOO_MANY_STREAMS, 0, NULL, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sub_request r;
        const char *msg = NULL;
        enum query_status st =
            query_parse_subscription(cases[i].query, strlen(cases[i].query), 3, &r, &msg);
        CHECK_EQ(st, cases[i].status);
        if (st != QUERY_OK) {
            CHECK(msg != NULL && r.nstreams == 0);
            continue;
        }
        CHECK_EQ(r.nstreams, cases[i].nstreams);
        CHECK_STR(r.streams[0], cases[i].first);
        if (cases[i].second)
            CHECK_STR(r.streams[1], cases[i].second);
        CHECK_EQ(r.has_cursor, cases[i].has_cursor);
        CHECK_EQ(r.cursor, cases[i].cursor);
        sub_request_clear(&r);
    }
    char long_name[202];
    memset(long_name, 'x', sizeof long_name);
    CHECK(stream_name_valid(long_name, 200));
    CHECK(!stream_name_valid(long_name, 201));
    CHECK(!stream_name_valid("", 0));
    struct sub_request r;
    const char *msg;
    CHECK_EQ(query_parse_subscription("stream=a&token=abc%2Ed", 22, 3, &r, &msg), QUERY_OK);
    CHECK_STR(r.token, "abc.d");
    sub_request_clear(&r);
    char out[8];
    CHECK_EQ(percent_decode("a+b%41", 6, out), 4);
    CHECK(memcmp(out, "a bA", 4) == 0);
    return CHECK_DONE();
}
