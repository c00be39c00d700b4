/* fake_io: a conn_io_ops that counts suspends and resumes (thread-safe). */
#ifndef SSE_FAKE_IO_H
#define SSE_FAKE_IO_H

#include <stdatomic.h>

#include "connection.h"

struct fake_io {
    _Atomic int suspends, resumes;
};

extern const struct conn_io_ops fake_io_ops;

#endif
