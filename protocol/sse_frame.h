/*
 * sse_frame: the SSE wire format (docs/PROTOCOL.md, The event stream), encoded once into shared
 * frames. Pure functions, any thread. Data is split into "data:" lines on \n, \r\n and \r; CR and
 * LF inside an event type are dropped so a type can never inject a field.
 */
#ifndef SSE_SSE_FRAME_H
#define SSE_SSE_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct frame;

/* "id: <position>\nstream: <stream>\n[event: <event>\n]data: …\n\n". event may be NULL
 * or ""; stream is a valid stream name (CR and LF would be dropped like the type's). */
struct frame *sse_encode_event(int64_t position, const char *stream, const char *event,
                               const char *data, size_t data_len, int64_t published_us);
/* An ephemeral message: like an event but with no id line. */
struct frame *sse_encode_message(const char *stream, const char *event, const char *data,
                                 size_t data_len);
/* A gateway:* sentinel, never with an id line: "[retry: <ms>\n]event: <event>\ndata: <data>\n\n".
 * retry_ms < 0 leaves the retry line out. */
struct frame *sse_encode_sentinel(long retry_ms, const char *event, const char *data);
/* The first bytes of every response: "retry: <ms>\n: ok\n\n". */
struct frame *sse_encode_preamble(long retry_ms);
/* The heartbeat comment ": hb\n\n". */
struct frame *sse_encode_heartbeat(void);

/* Bytes sse_encode_event would produce (for sizing without encoding). */
size_t sse_event_encoded_len(int64_t position, const char *stream, const char *event,
                             const char *data, size_t data_len);

#endif
