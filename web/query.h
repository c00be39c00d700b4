/*
 * query: parsing of outside input on the subscription path (docs/PROTOCOL.md, Subscribing): the raw
 * query string with its percent-encoding, stream names, and cursors. Pure
 * functions, any thread; every one is a fuzz target.
 */
#ifndef SSE_QUERY_H
#define SSE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed GET /events query. Strings are heap copies owned by the struct. */
struct sub_request {
    char **streams; /* de-duplicated, in first-seen order */
    size_t nstreams;
    bool has_cursor; /* lastEventId was given */
    int64_t cursor;
    char *token; /* ?token=, or NULL */
};

enum query_status {
    QUERY_OK = 0,
    QUERY_BAD_ENCODING, /* invalid percent-encoding */
    QUERY_BAD_STREAM,   /* a stream name breaks the rules */
    QUERY_NO_STREAM,    /* no stream parameter */
    QUERY_TOO_MANY_STREAMS,
    QUERY_BAD_CURSOR, /* lastEventId is not a non-negative 64-bit integer */
};

/* Parses the raw query (the part after '?', not decoded; may be empty or NULL).
 * Unknown parameters are ignored. On failure returns the status, fills
 * *message with a static one-line reason, and leaves *out empty. */
enum query_status query_parse_subscription(const char *query, size_t len, size_t max_streams,
                                           struct sub_request *out, const char **message);
void sub_request_clear(struct sub_request *r);

/* The decoded value of the token parameter of a raw query string, as a heap
 * string, or NULL when absent or badly encoded. */
char *query_token(const char *query, size_t len);

/* Decodes %XX and '+' (as space) from in into out (room for len bytes).
 * Returns the decoded length, or -1 on a bad or truncated escape. */
long percent_decode(const char *in, size_t len, char *out);

#endif
