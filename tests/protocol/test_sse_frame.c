/* Table-driven tests of the SSE wire format. */
#include "check.h"
#include "common/frame.h"
#include "protocol/sse_frame.h"

#include <string.h>

static void check_frame(struct frame *f, const char *want)
{
    CHECK_EQ(frame_len(f), strlen(want));
    CHECK_STR(frame_data(f), want);
    frame_unref(f);
}

int main(void)
{
    static const struct {
        int64_t position;
        const char *stream, *event, *data, *want;
    } events[] = {
        {1, "s", NULL, "hello", "id: 1\nstream: s\ndata: hello\n\n"},
        {42, "orders:42", "kind", "x", "id: 42\nstream: orders:42\nevent: kind\ndata: x\n\n"},
        {3, "s", "", "x", "id: 3\nstream: s\ndata: x\n\n"},
        {4, "s", NULL, "a\nb", "id: 4\nstream: s\ndata: a\ndata: b\n\n"},
        {5, "s", NULL, "a\r\nb", "id: 5\nstream: s\ndata: a\ndata: b\n\n"},
        {6, "s", NULL, "a\rb", "id: 6\nstream: s\ndata: a\ndata: b\n\n"},
        {7, "s", NULL, "a\n", "id: 7\nstream: s\ndata: a\ndata: \n\n"},
        {8, "s", NULL, "", "id: 8\nstream: s\ndata: \n\n"},
        {9, "s", NULL, "\r\n\r\n", "id: 9\nstream: s\ndata: \ndata: \ndata: \n\n"},
        {10, "s", "in\r\nject", "d", "id: 10\nstream: s\nevent: inject\ndata: d\n\n"},
        {11, "in\nject", NULL, "d", "id: 11\nstream: inject\ndata: d\n\n"},
        {12, "a-b_c.d:e/f@g", NULL, "x", "id: 12\nstream: a-b_c.d:e/f@g\ndata: x\n\n"},
        {9223372036854775807, "s", NULL, "max",
         "id: 9223372036854775807\nstream: s\ndata: max\n\n"},
    };
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        size_t len = strlen(events[i].data);
        CHECK_EQ(sse_event_encoded_len(events[i].position, events[i].stream, events[i].event,
                                       events[i].data, len),
                 strlen(events[i].want));
        check_frame(sse_encode_event(events[i].position, events[i].stream, events[i].event,
                                     events[i].data, len, 7),
                    events[i].want);
    }
    struct frame *f = sse_encode_event(1, "s", NULL, "x", 1, 1234);
    CHECK_EQ(frame_published_us(f), 1234);
    frame_unref(f);
    check_frame(sse_encode_message("chat:1", NULL, "eph", 3), "stream: chat:1\ndata: eph\n\n");
    check_frame(sse_encode_message("chat:1", "presence", "a\nb", 3),
                "stream: chat:1\nevent: presence\ndata: a\ndata: b\n\n");
    check_frame(sse_encode_sentinel(1500, "gateway:shutdown", "{\"reason\":\"drain\"}"),
                "retry: 1500\nevent: gateway:shutdown\ndata: {\"reason\":\"drain\"}\n\n");
    check_frame(sse_encode_sentinel(-1, "gateway:gap", "{}"), "event: gateway:gap\ndata: {}\n\n");
    check_frame(sse_encode_preamble(2000), "retry: 2000\n: ok\n\n");
    check_frame(sse_encode_heartbeat(), ": hb\n\n");
    return CHECK_DONE();
}
