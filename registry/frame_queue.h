/*
 * frame_queue: a FIFO of references to shared frames, the bytes of them not
 * yet written (the head frame may be partly written) and a limit on those
 * bytes. No locking of its own: its owner serialises every call (a
 * connection holds its mutex). Any thread, one at a time.
 */
#ifndef SSE_FRAME_QUEUE_H
#define SSE_FRAME_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame;
struct iovec;

/* Public only so that a connection embeds it (one allocation per subscriber,
 * no pointer to chase on every push); the fields belong to frame_queue.c. */
struct frame_queue {
    struct frame **ring;
    size_t head, count, cap;
    size_t head_offset;  /* bytes of ring[head] already written */
    size_t bytes;        /* every unwritten byte */
    size_t exempt_bytes; /* of which exempt from the limit */
    size_t max_bytes;    /* the limit; 0 = none */
};

/* An empty queue whose limited bytes may not exceed max_bytes (0: no limit). */
void frame_queue_init(struct frame_queue *q, size_t max_bytes);
/* Releases every queued frame and the storage. */
void frame_queue_destroy(struct frame_queue *q);
/* Releases every queued frame; the queue stays usable. */
void frame_queue_clear(struct frame_queue *q);

/* Queues a reference to f (the caller keeps its own) unless that would take
 * the bytes counted toward the limit past it; then queues nothing and
 * returns false. */
bool frame_queue_push(struct frame_queue *q, struct frame *f);
/* Queues a reference to f whatever the limit; its bytes never count toward
 * it, and are counted as written before any limited byte. */
void frame_queue_push_exempt(struct frame_queue *q, struct frame *f);

/* Every unwritten byte, exempt or not. */
size_t frame_queue_bytes(const struct frame_queue *q);

/* Copies up to max of the first unwritten bytes into buf and drops them as
 * written; returns the count. *published_us: the publish time of the first
 * live event frame (not an exempt, replayed one) that starts in the copy,
 * or 0. */
size_t frame_queue_read(struct frame_queue *q, char *buf, size_t max, int64_t *published_us);
/* Points iov (at most max_iov entries) at up to budget of the first unwritten
 * bytes, without dropping them; returns the entry count and their total in
 * *bytes, and *published_us as frame_queue_read does. */
int frame_queue_iov(const struct frame_queue *q, struct iovec *iov, int max_iov, size_t budget,
                    size_t *bytes, int64_t *published_us);
/* Drops the first n unwritten bytes (n <= frame_queue_bytes()), releasing
 * the frames that are then fully written. */
void frame_queue_written(struct frame_queue *q, size_t n);

#endif
