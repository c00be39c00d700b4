/*
 * fake_io: counts the suspend/resume calls a connection makes on its socket,
 * and lets a test's reader thread wait for a resume the way an HTTP worker
 * waits for its socket to be un-parked.
 */
#include "fakes/fake_io.h"

#include <time.h>

static void suspend(void *ctx)
{
    struct fake_io *io = ctx;
    atomic_fetch_add(&io->suspends, 1);
}

static void resume(void *ctx)
{
    struct fake_io *io = ctx;
    atomic_fetch_add(&io->resumes, 1);
}

const struct conn_io_ops fake_io_ops = {suspend, resume};

void fake_io_release(void *io_ctx)
{
    struct fake_io *io = io_ctx;
    atomic_fetch_add(&io->releases, 1);
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool fake_io_wait_resumes(struct fake_io *io, int seen, long timeout_ms)
{
    long long deadline = now_us() + (long long)timeout_ms * 1000;
    /* Polling, not a condvar, so that a zeroed struct stays a valid fake. */
    while (atomic_load(&io->resumes) <= seen) {
        if (now_us() > deadline)
            return false;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return true;
}
