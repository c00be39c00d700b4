/*
 * conn_direct: writes straight to a parked socket. With io->send, a push to
 * a parked socket leaves it parked and sets `flush_owed` (after_enqueue in
 * connection.c); whoever owes the write then calls connection_resume(),
 * which writes the queue under the connection's mutex (libmicrohttpd never
 * touches a parked socket, and parks only once everything before was sent).
 * Only when the socket does not take it all, or fails, is it un-parked so
 * its HTTP worker writes the rest. Waking a parked socket costs a pass over
 * every parked socket of its worker (docs/DESIGN.md, Write paths); a direct
 * write costs one syscall. Threads: any, under the mutex.
 */
#include "registry/connection_internal.h"

#include <sys/uio.h>

bool conn_write_direct(struct connection *c, size_t keep)
{
    enum { MAX_IOV = 64 };
    while (frame_queue_bytes(&c->queue) > keep) {
        struct iovec iov[MAX_IOV];
        size_t bytes;
        int64_t published; /* of the first whole event frame, as the reader reports */
        int n = frame_queue_iov(&c->queue, iov, MAX_IOV, frame_queue_bytes(&c->queue) - keep,
                                &bytes, &published);
        long w = c->io->send(c->io_ctx, iov, n, published);
        if (w > 0) {
            frame_queue_written(&c->queue, (size_t)w);
            conn_after_written(c);
        }
        if (w < 0 || (size_t)w < bytes)
            return false;
    }
    return true;
}

/* Writes the queue to the parked socket. Returns true if the socket must be
 * un-parked: it did not take everything, or failed. Mutex held. */
static bool flush_parked(struct connection *c)
{
    c->flush_owed = false;
    return !conn_write_direct(c, 0) && conn_take_resume_duty(c);
}

void connection_resume(struct connection *c)
{
    check(c);
    lock(c);
    if (c->flush_owed && c->suspended && !c->gone)
        flush_parked(c); /* a short write takes the resume duty */
    bool call = c->resume_owed && !c->gone && c->io;
    c->resume_owed = false;
    const struct conn_io_ops *io = c->io;
    void *io_ctx = c->io_ctx;
    unlock(c);
    /* Outside the lock: the socket stays parked until this call, so it cannot
     * end (and connection_gone cannot run) in between. */
    if (call)
        io->resume(io_ctx);
}

void connection_wake(struct connection *c)
{
    check(c);
    lock(c);
    if (c->flush_owed && c->suspended && !c->gone)
        conn_take_resume_duty(c);
    unlock(c);
    connection_resume(c);
}
