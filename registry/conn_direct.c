/*
 * conn_direct: writes straight to a parked socket. With io->send, a push to
 * a parked socket leaves it parked and sets `flush_owed` (after_enqueue in
 * connection.c); whoever owes the write then calls connection_resume(),
 * which writes the queue under the connection's mutex (libmicrohttpd never
 * touches a parked socket, and parks only once everything before was sent).
 * Only when the socket does not take it all, or fails, is it un-parked so
 * its HTTP worker writes the rest. Waking a parked socket costs a pass over
 * every parked socket of its worker (docs/DESIGN.md, Write paths); a direct
 * write costs one syscall.
 *
 * The write deadline lives here too: a socket is stalled when it is awake
 * (it has bytes to send) and took none for --write-deadline. Every write,
 * the reader's every call (libmicrohttpd calls it only once everything
 * before was sent), a park and an un-park clear `stalled_since`; the HTTP
 * layer's watch stamps it when it finds it clear or finds the kernel's send
 * queue shorter than at its last look, and cuts the socket when the stamp
 * is older than the deadline. So a slow but steady reader is never cut,
 * whoever writes to it. Threads: any, under the mutex.
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
            c->stalled_since = 0;
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

enum conn_stall connection_check_stall(struct connection *c, int64_t now_ms, int64_t deadline_ms)
{
    check(c);
    enum conn_stall r = CONN_MOVING;
    lock(c);
    if (c->gone || c->suspended) {
        c->stalled_since = 0;
        unlock(c);
        return r;
    }
    /* The kernel's send queue shrinks while the client reads, even when no
     * write of ours can go through yet (it wakes writers only once a third
     * of its buffer is free): that is progress too. */
    long unsent = c->io && c->io->unsent ? c->io->unsent(c->io_ctx) : -1;
    bool taken = unsent >= 0 && unsent < c->unsent_seen;
    c->unsent_seen = unsent;
    if (c->stalled_since == 0 || taken) {
        c->stalled_since = now_ms; /* moved since the last look: count from now */
    } else if (now_ms - c->stalled_since >= deadline_ms) {
        /* Lossless: the client resumes from the Last-Event-ID of what it got. */
        r = c->closing ? CONN_CUT_CLOSING : CONN_CUT;
        if (!c->closing) {
            c->closing = true;
            c->end = CONN_END_WRITE_DEADLINE;
            frame_queue_clear(&c->queue);
            conn_call_drained(c);
        }
        if (c->io && c->io->abort)
            c->io->abort(c->io_ctx); /* still open: gone has not run */
        c->stalled_since = now_ms;   /* once per deadline at most, if it lingers */
    }
    unlock(c);
    return r;
}
