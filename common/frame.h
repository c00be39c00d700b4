/*
 * frame: an immutable, reference-counted block of encoded SSE bytes. The
 * dispatcher encodes an event once and queues the same frame on every
 * subscriber (no per-subscriber re-encoding); the last unref frees it.
 * Any thread may ref/unref.
 */
#ifndef SSE_FRAME_H
#define SSE_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct frame;

/* A frame holding a copy of bytes[0..len); refcount 1, owned by the caller.
 * published_us is the event's publish time (its outbox insert, wall-clock µs) or 0 when it has none
 * (heartbeats, sentinels, ephemeral messages); it feeds the latency histogram. */
struct frame *frame_new(const char *bytes, size_t len, int64_t published_us);
/* A frame of len uninitialised bytes to fill through frame_mutable_data()
 * before it is shared. */
struct frame *frame_alloc(size_t len, int64_t published_us);
char *frame_mutable_data(struct frame *f);

struct frame *frame_ref(struct frame *f);
/* Drops one reference; frees on the last. frame_unref(NULL) does nothing. */
void frame_unref(struct frame *f);

const char *frame_data(const struct frame *f);
size_t frame_len(const struct frame *f);
int64_t frame_published_us(const struct frame *f);

#endif
