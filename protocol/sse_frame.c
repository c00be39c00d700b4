/*
 * sse_frame: encodes the SSE wire format into shared frames. Each encoder
 * measures the exact size first and writes once into one allocation: the
 * dispatcher encodes every event exactly once for all its subscribers.
 * Pure functions, any thread.
 */
#include "protocol/sse_frame.h"
#include "common/frame.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A writer that only counts when out is NULL, so one routine sizes and fills. */
struct out {
    char *p;
    size_t n;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (o->p)
        memcpy(o->p + o->n, s, len);
    o->n += len;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* "<name>: <value>\n" with CR and LF dropped, so a value cannot inject a field;
 * nothing for a NULL or empty value. */
static void put_field(struct out *o, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    put_str(o, name);
    for (const char *p = value; *p; p++)
        if (*p != '\r' && *p != '\n')
            put(o, p, 1);
    put_str(o, "\n");
}

static void put_event(struct out *o, const char *event)
{
    put_field(o, "event: ", event);
}

/* One "data: " line per line of data; lines end at \n, \r\n or \r. */
static void put_data(struct out *o, const char *data, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r')
            continue;
        put_str(o, "data: ");
        put(o, data + start, i - start);
        put_str(o, "\n");
        if (i < len && data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
}

static void put_id(struct out *o, int64_t position)
{
    char id[32];
    int n = snprintf(id, sizeof id, "id: %" PRId64 "\n", position);
    put(o, id, (size_t)n);
}

/* The stream line sits before the data lines so that a client parsing the
 * frame line by line knows the stream by the time the event is complete. */
static void encode(struct out *o, int64_t position, const char *stream, const char *event,
                   const char *data, size_t len)
{
    if (position > 0)
        put_id(o, position);
    put_field(o, "stream: ", stream);
    put_event(o, event);
    put_data(o, data, len);
    put_str(o, "\n");
}

static struct frame *build(int64_t position, const char *stream, const char *event,
                           const char *data, size_t len, int64_t published_us)
{
    struct out count = {NULL, 0};
    encode(&count, position, stream, event, data, len);
    struct frame *f = frame_alloc(count.n, published_us);
    struct out fill = {frame_mutable_data(f), 0};
    encode(&fill, position, stream, event, data, len);
    return f;
}

size_t sse_event_encoded_len(int64_t position, const char *stream, const char *event,
                             const char *data, size_t data_len)
{
    struct out count = {NULL, 0};
    encode(&count, position, stream, event, data, data_len);
    return count.n;
}

struct frame *sse_encode_event(int64_t position, const char *stream, const char *event,
                               const char *data, size_t data_len, int64_t published_us)
{
    return build(position, stream, event, data, data_len, published_us);
}

struct frame *sse_encode_message(const char *stream, const char *event, const char *data,
                                 size_t data_len)
{
    return build(0, stream, event, data, data_len, 0);
}

struct frame *sse_encode_sentinel(long retry_ms, const char *event, const char *data)
{
    char retry[48] = "";
    if (retry_ms >= 0)
        snprintf(retry, sizeof retry, "retry: %ld\n", retry_ms);
    struct out count = {NULL, 0};
    put_event(&count, event);
    put_data(&count, data, strlen(data));
    size_t rlen = strlen(retry);
    struct frame *f = frame_alloc(rlen + count.n + 1, 0);
    struct out fill = {frame_mutable_data(f), 0};
    put(&fill, retry, rlen);
    put_event(&fill, event);
    put_data(&fill, data, strlen(data));
    put_str(&fill, "\n");
    return f;
}

struct frame *sse_encode_preamble(long retry_ms)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "retry: %ld\n: ok\n\n", retry_ms);
    return frame_new(buf, (size_t)n, 0);
}

struct frame *sse_encode_heartbeat(void)
{
    return frame_new(": hb\n\n", 6, 0);
}
