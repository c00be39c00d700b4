/* libFuzzer target: SSE framing of arbitrary data and event types. The bytes
 * are parsed back as a browser would: the data must round-trip (with \r\n and
 * \r read as \n), and no input can inject an id or any other field. */
#include "common/frame.h"
#include "protocol/sse_frame.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (size < 1)
        return 0;
    /* First byte: event type length; then the type; the rest is data. */
    size_t elen = bytes[0] % 16 < size - 1 ? bytes[0] % 16 : size - 1;
    char *event = strndup((const char *)bytes + 1, elen);
    if (strlen(event) != elen) { /* NUL inside: types are C strings */
        free(event);
        return 0;
    }
    const char *data = (const char *)bytes + 1 + elen;
    size_t dlen = size - 1 - elen;
    struct frame *f = sse_encode_event(7, event, data, dlen, 0);
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
    char *got = malloc(frame_len(f) + 1);
    size_t gn = 0;
    int ids = 0, datas = 0;
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
        } else {
            assert(len >= 7 && memcmp(line, "event: ", 7) == 0);
        }
        line = q + 1;
    }
    assert(ids == 1);
    assert(gn == wn && memcmp(got, want, wn) == 0);
    free(got);
    free(want);
    free(event);
    frame_unref(f);
    return 0;
}
