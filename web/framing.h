/*
 * framing: is a request's body length unambiguous? A proxy in front may read
 * a request's length from other headers than libmicrohttpd does (it takes
 * Transfer-Encoding over Content-Length, and the first of two
 * Content-Lengths); the bytes one counts as body the other reads as a next
 * request, which smuggles it past the proxy. So a request is refused with
 * 400 unless its framing reads one way only. Pure functions over the
 * request's header fields, any thread; a fuzz target.
 */
#ifndef SSE_FRAMING_H
#define SSE_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

/* What the header fields said so far; zero-initialise. */
struct framing {
    unsigned transfer_encodings; /* Transfer-Encoding fields */
    bool chunked;                /* and the first said exactly "chunked" */
    unsigned content_lengths;    /* Content-Length fields */
    char length[24];             /* the first one's digits, without leading zeros */
    bool length_bad;             /* one was not digits, or differed from the first */
    bool name_bad;               /* a field name held a space or a tab */
};

/* Adds one header field (name and value of the given lengths, as
 * libmicrohttpd split them). */
void framing_add(struct framing *f, const char *name, size_t name_len, const char *value,
                 size_t value_len);

/* NULL when the body's length reads one way only, else a static one-line
 * reason for the 400. */
const char *framing_verdict(const struct framing *f);

#endif
