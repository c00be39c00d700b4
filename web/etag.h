/*
 * etag: strong entity tags for the files the gateway serves from memory
 * (the browser client), and the If-None-Match test that turns a repeat
 * download into a 304. Pure functions, any thread.
 */
#ifndef SSE_ETAG_H
#define SSE_ETAG_H

#include <stdbool.h>
#include <stddef.h>

/* '"' + 16 hex digits + '"' + NUL. */
#define ETAG_SIZE 19

/* Writes the strong ETag of body (a 64-bit FNV-1a hash of its bytes) into out. */
void etag_of(const char *body, size_t len, char out[ETAG_SIZE]);

/* Whether an If-None-Match value names etag: "*", or a comma-separated list
 * of tags where a weak W/"…" matches too (the comparison is weak, as the
 * header requires). NULL never matches. */
bool etag_matches(const char *if_none_match, const char *etag);

#endif
