/* libFuzzer target: SSE framing of arbitrary data, event types and stream
 * names. The bytes are parsed back as a browser would: the data must
 * round-trip (with \r\n and \r read as \n), exactly one stream line comes
 * before the data lines and carries the name without CR and LF, and no input
 * can inject an id or any other field. */
#include "common/frame.h"
#include "protocol/sse_frame.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A C string of n input bytes, or NULL when a NUL is inside (names are C strings). */
static char *take(const uint8_t *bytes, size_t n)
{
    char *s = strndup((const char *)bytes, n);
    if (strlen(s) != n) {
        free(s);
        return NULL;
    }
    return s;
}

/* s without CR and LF, as the encoder writes it. */
static char *without_crlf(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    size_t n = 0;
    for (; *s; s++)
        if (*s != '\r' && *s != '\n')
            out[n++] = *s;
    out[n] = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (size < 2)
        return 0;
    /* Byte 0: event type length; byte 1: stream length (at least 1); then the
     * type, the stream, and the rest is data. */
    size_t rest = size - 2;
    size_t elen = bytes[0] % 16 < rest ? bytes[0] % 16 : rest;
    size_t slen = 1 + bytes[1] % 16 <= rest - elen ? 1 + (size_t)(bytes[1] % 16) : rest - elen;
    if (slen == 0)
        return 0;
    char *event = take(bytes + 2, elen);
    char *stream = take(bytes + 2 + elen, slen);
    if (!event || !stream) {
        free(event);
        free(stream);
        return 0;
    }
    const char *data = (const char *)bytes + 2 + elen + slen;
    size_t dlen = rest - elen - slen;
    struct frame *f = sse_encode_event(7, stream, event, data, dlen, 0);
    assert(frame_len(f) == sse_event_encoded_len(7, stream, event, data, dlen));
    const char *p = frame_data(f), *end = p + frame_len(f);
    assert(frame_len(f) >= 2 && end[-1] == '\n' && end[-2] == '\n');
    /* Expected data: CRLF and CR normalised to LF. */
    char *want = malloc(dlen + 1);
    size_t wn = 0;
    for (size_t i = 0; i < dlen; i++) {
        if (data[i] == '\r') {
            want[wn++] = '\n';
            if (i + 1 < dlen && data[i + 1] == '\n')
                i++;
        } else {
            want[wn++] = data[i];
        }
    }
    char *want_stream = without_crlf(stream);
    char *got = malloc(frame_len(f) + 1);
    size_t gn = 0;
    int ids = 0, datas = 0, streams = 0;
    const char *line = p;
    for (const char *q = p; q < end; q++) {
        if (*q != '\n')
            continue;
        size_t len = (size_t)(q - line);
        assert(memchr(line, '\r', len) == NULL);
        if (len == 0) {
            assert(q == end - 1); /* one event: the only blank line ends it */
        } else if (len >= 6 && memcmp(line, "data: ", 6) == 0) {
            if (datas++)
                got[gn++] = '\n';
            memcpy(got + gn, line + 6, len - 6);
            gn += len - 6;
        } else if (len >= 4 && memcmp(line, "id: ", 4) == 0) {
            ids++;
        } else if (len >= 8 && memcmp(line, "stream: ", 8) == 0) {
            assert(datas == 0); /* before the data lines */
            assert(len - 8 == strlen(want_stream) && memcmp(line + 8, want_stream, len - 8) == 0);
            streams++;
        } else {
            assert(len >= 7 && memcmp(line, "event: ", 7) == 0);
        }
        line = q + 1;
    }
    assert(ids == 1);
    assert(streams == 1);
    assert(gn == wn && memcmp(got, want, wn) == 0);
    free(got);
    free(want);
    free(want_stream);
    free(event);
    free(stream);
    frame_unref(f);
    return 0;
}
