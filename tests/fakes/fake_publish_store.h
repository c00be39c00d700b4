/*
 * fake_publish_store: a publish_store_ops that records what it was asked to
 * publish. It refuses (REJECTED) any batch holding an event whose data is
 * "BAD", fails (FAILED) the next `fail_next` calls, or every call while
 * `down` is set. Thread-safe: the publisher thread calls it, the test reads.
 */
#ifndef SSE_FAKE_PUBLISH_STORE_H
#define SSE_FAKE_PUBLISH_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "publisher/publisher.h"

#define FAKE_PUBLISH_MAX 100000

struct fake_publish_store {
    pthread_mutex_t mtx;
    size_t calls;                 /* every publish call */
    size_t committed;             /* events committed so far */
    char *data[FAKE_PUBLISH_MAX]; /* committed data, in commit order (copies) */
    size_t batch_sizes[1024];     /* events per call, first 1024 calls */
    int fail_next;
    bool down;
    struct publish_store_ops ops; /* ctx points back at the fake */
};

void fake_publish_store_init(struct fake_publish_store *s);
void fake_publish_store_clear(struct fake_publish_store *s);
void fake_publish_store_set_down(struct fake_publish_store *s, bool down);
size_t fake_publish_store_committed(struct fake_publish_store *s);

#endif
