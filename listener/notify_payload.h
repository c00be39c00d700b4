/*
 * notify_payload: parsing of the JSON payload sse.notify() sends on channel
 * "sse#notify": {"stream": "...", "event": "..." | null, "data": "..."}.
 * Outside input (anyone may NOTIFY that channel): a pure function, fuzzed.
 */
#ifndef SSE_NOTIFY_PAYLOAD_H
#define SSE_NOTIFY_PAYLOAD_H

#include <stddef.h>

struct notify_payload {
    char *stream; /* valid stream name */
    char *event;  /* NULL when absent or null */
    char *data;
    size_t data_len;
};

/* Parses payload[0..len). 0 with *out filled (free with notify_payload_clear),
 * or -1 with *reason set to a static one-line explanation. */
int notify_payload_parse(const char *payload, size_t len, struct notify_payload *out,
                         const char **reason);
void notify_payload_clear(struct notify_payload *p);

#endif
