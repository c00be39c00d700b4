/*
 * frame_queue: one subscriber's FIFO of frame references, kept in a ring that
 * grows by doubling. The queue holds a reference of its own to each frame, so
 * an event encoded once is shared by every subscriber it is queued on.
 *
 * Byte accounting: `bytes` counts everything not yet written, the head frame
 * from head_offset on. The limit bounds the bytes of ordinary pushes; exempt
 * bytes (a connect's replay, which would otherwise close a client with a
 * large backlog on every reconnect) do not count toward it, and are counted
 * as written first, since a replay is queued before the connection is
 * registered for live events.
 *
 * The publish time reported for the latency histogram is a live frame's
 * only: a replayed event may be hours old, and its age says nothing about
 * delivery. Replayed frames are the exempt ones, at the front.
 *
 * Does not: lock (the owning connection holds its mutex around every call),
 * touch sockets, or know which frames are events beyond their publish time.
 */
#include "registry/frame_queue.h"
#include "common/frame.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* A ring grown past this by a burst is freed once drained, so an idle
 * connection does not keep its burst's memory (an idle connection must stay
 * within about 6 KiB). */
#define RING_KEEP 16

void frame_queue_init(struct frame_queue *q, size_t max_bytes)
{
    *q = (struct frame_queue){.max_bytes = max_bytes};
}

void frame_queue_clear(struct frame_queue *q)
{
    for (size_t i = 0; i < q->count; i++)
        frame_unref(q->ring[(q->head + i) % q->cap]);
    q->head = q->count = q->head_offset = 0;
    q->bytes = q->exempt_bytes = 0;
    if (q->cap > RING_KEEP) {
        free(q->ring);
        q->ring = NULL;
        q->cap = 0;
    }
}

void frame_queue_destroy(struct frame_queue *q)
{
    frame_queue_clear(q);
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
}

/* Appends a reference to f (len bytes), growing the ring by doubling. */
static void append(struct frame_queue *q, struct frame *f, size_t len)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        struct frame **ring = xmalloc(cap * sizeof *ring);
        for (size_t i = 0; i < q->count; i++)
            ring[i] = q->ring[(q->head + i) % q->cap];
        free(q->ring);
        q->ring = ring;
        q->cap = cap;
        q->head = 0;
    }
    q->ring[(q->head + q->count) % q->cap] = frame_ref(f);
    q->count++;
    q->bytes += len;
}

bool frame_queue_push(struct frame_queue *q, struct frame *f)
{
    size_t len = frame_len(f);
    if (q->max_bytes && q->bytes - q->exempt_bytes + len > q->max_bytes)
        return false;
    append(q, f, len);
    return true;
}

void frame_queue_push_exempt(struct frame_queue *q, struct frame *f)
{
    size_t len = frame_len(f);
    append(q, f, len);
    q->exempt_bytes += len;
}

size_t frame_queue_bytes(const struct frame_queue *q)
{
    return q->bytes;
}

void frame_queue_written(struct frame_queue *q, size_t n)
{
    assert(n <= q->bytes);
    q->bytes -= n;
    q->exempt_bytes -= n < q->exempt_bytes ? n : q->exempt_bytes;
    while (n > 0) {
        struct frame *f = q->ring[q->head];
        size_t left = frame_len(f) - q->head_offset;
        size_t take = left < n ? left : n;
        q->head_offset += take;
        n -= take;
        if (q->head_offset == frame_len(f)) {
            frame_unref(f);
            q->head = (q->head + 1) % q->cap;
            q->count--;
            q->head_offset = 0;
        }
    }
    if (q->count == 0 && q->cap > RING_KEEP)
        frame_queue_clear(q);
}

size_t frame_queue_read(struct frame_queue *q, char *buf, size_t max, int64_t *published_us)
{
    size_t n = 0;
    *published_us = 0;
    for (size_t i = 0; i < q->count && n < max; i++) {
        struct frame *f = q->ring[(q->head + i) % q->cap];
        size_t skip = i == 0 ? q->head_offset : 0;
        if (!skip && *published_us == 0 && n >= q->exempt_bytes) /* a live frame */
            *published_us = frame_published_us(f);
        size_t take = frame_len(f) - skip < max - n ? frame_len(f) - skip : max - n;
        memcpy(buf + n, frame_data(f) + skip, take);
        n += take;
    }
    /* Also when n is 0: a drained ring grown by a burst is freed here. */
    frame_queue_written(q, n);
    return n;
}

int frame_queue_iov(const struct frame_queue *q, struct iovec *iov, int max_iov, size_t budget,
                    size_t *bytes, int64_t *published_us)
{
    int n = 0;
    *bytes = 0;
    *published_us = 0;
    for (size_t i = 0; i < q->count && n < max_iov && *bytes < budget; i++, n++) {
        struct frame *f = q->ring[(q->head + i) % q->cap];
        size_t skip = i == 0 ? q->head_offset : 0;
        iov[n].iov_base = (char *)frame_data(f) + skip;
        iov[n].iov_len = frame_len(f) - skip;
        if (iov[n].iov_len > budget - *bytes)
            iov[n].iov_len = budget - *bytes;
        if (!*published_us && !skip && *bytes >= q->exempt_bytes) /* a live frame */
            *published_us = frame_published_us(f);
        *bytes += iov[n].iov_len;
    }
    return n;
}
