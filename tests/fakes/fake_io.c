/* fake_io: counts the suspend/resume calls a connection makes on its socket. */
#include "fake_io.h"

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
