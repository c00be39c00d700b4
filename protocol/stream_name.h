/*
 * stream_name: which byte strings are stream names. Pure, any thread.
 */
#ifndef SSE_STREAM_NAME_H
#define SSE_STREAM_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define STREAM_NAME_MAX 200

/* 1-200 bytes of A-Z a-z 0-9 _ - . : / @ (no NUL, no percent-encoding left). */
bool stream_name_valid(const char *s, size_t len);

#endif
