/*
 * position: the text form of an event's position, the one number every door
 * speaks (the lastEventId query parameter, the Last-Event-ID header, the
 * head the leader NOTIFYs after each batch). Pure, any thread, fuzzed.
 */
#ifndef SSE_POSITION_H
#define SSE_POSITION_H

#include <stddef.h>
#include <stdint.h>

/* A strict decimal in [0, INT64_MAX]: digits only, no sign, no spaces, at
 * most 19 of them. 0 and *out set on success, -1 (and *out untouched) otherwise. */
int position_parse(const char *s, size_t len, int64_t *out);

#endif
