/*
 * Allocation that never returns NULL: running out of memory aborts, so
 * callers do not check. PTOK checks a pthread call and aborts on failure: a
 * failing mutex or condvar call is a bug, never an environment condition we
 * could handle.
 */
#ifndef SSE_XALLOC_H
#define SSE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void ptok_fail(const char *what, int err, const char *file, int line);
#define PTOK(call)                                                                                 \
    do {                                                                                           \
        int ptok_err_ = (call);                                                                    \
        if (ptok_err_ != 0)                                                                        \
            ptok_fail(#call, ptok_err_, __FILE__, __LINE__);                                       \
    } while (0)

#endif
