/*
 * frame: refcounted immutable bytes. The refcount is atomic because frames are
 * queued by the dispatcher and heartbeat threads and released by the HTTP
 * worker threads that write them.
 */
#include "common/frame.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct frame {
    _Atomic int refs;
    int64_t published_us; /* fixed after creation */
    size_t len;           /* fixed after creation */
    char data[];
};

struct frame *frame_alloc(size_t len, int64_t published_us)
{
    struct frame *f = xmalloc(sizeof *f + len + 1);
    atomic_init(&f->refs, 1);
    f->published_us = published_us;
    f->len = len;
    f->data[len] = '\0';
    return f;
}

struct frame *frame_new(const char *bytes, size_t len, int64_t published_us)
{
    struct frame *f = frame_alloc(len, published_us);
    memcpy(f->data, bytes, len);
    return f;
}

char *frame_mutable_data(struct frame *f)
{
    return f->data;
}

struct frame *frame_ref(struct frame *f)
{
    int old = atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    assert(old > 0);
    (void)old;
    return f;
}

void frame_unref(struct frame *f)
{
    if (!f)
        return;
    int old = atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old == 1)
        free(f);
}

const char *frame_data(const struct frame *f)
{
    return f->data;
}

size_t frame_len(const struct frame *f)
{
    return f->len;
}

int64_t frame_published_us(const struct frame *f)
{
    return f->published_us;
}
