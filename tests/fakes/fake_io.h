/*
 * fake_io: a conn_io_ops that counts the suspend, resume and release calls a
 * connection makes on its socket. Thread-safe: counters are atomic, so a
 * zeroed struct fake_io is ready to use and any thread may read them.
 */
#ifndef SSE_FAKE_IO_H
#define SSE_FAKE_IO_H

#include <stdatomic.h>
#include <stdbool.h>

#include "registry/connection.h"

struct fake_io {
    _Atomic int suspends, resumes;
    _Atomic int releases; /* io_release calls, when fake_io_release is passed */
};

/* Pass with io_ctx = &a_fake_io. */
extern const struct conn_io_ops fake_io_ops;
/* For connection_params.io_release: counts the release of io_ctx. */
void fake_io_release(void *io_ctx);

/* Waits until io->resumes exceeds seen, polling; returns false after
 * timeout_ms. Any thread. */
bool fake_io_wait_resumes(struct fake_io *io, int seen, long timeout_ms);

#endif
