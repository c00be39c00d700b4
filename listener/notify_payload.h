/*
 * notify_payload: parsing of the JSON payload sse.notify() sends on channel
 * "sse#notify": {"stream": "...", "event": "..." | null, "data": "..."}.
 * Outside input (anyone may NOTIFY that channel): a pure function, fuzzed.
 * An event type starting with "gateway:" is refused: such types are the
 * gateway's own sentinels, and a subscriber must be able to trust them.
 */
#ifndef SSE_NOTIFY_PAYLOAD_H
#define SSE_NOTIFY_PAYLOAD_H

#include <stddef.h>

/* Plain data, public so the caller can read the fields; every string is a heap
 * copy owned by the struct and none contains a NUL byte. */
struct notify_payload {
    char *stream; /* a valid stream name (protocol/stream_name.h) */
    char *event;  /* NULL when absent, null or ""; never contains CR or LF nor starts with
                     "gateway:" */
    char *data;
    size_t data_len; /* strlen(data) */
};

/* Parses payload[0..len) (need not be NUL-terminated). 0 with *out filled
 * (free with notify_payload_clear), or -1 with *out empty and *reason set to
 * a static one-line explanation. Any thread. */
int notify_payload_parse(const char *payload, size_t len, struct notify_payload *out,
                         const char **reason);
/* The reason given for an event type starting with "gateway:", so a caller
 * can count forged sentinels apart from malformed payloads (compare the
 * pointers). */
extern const char notify_payload_reserved[];

/* Frees the strings of p and empties it; safe on an empty struct. */
void notify_payload_clear(struct notify_payload *p);

#endif
