/*
 * cors: which browser origins may use the gateway across origins
 * (--cors-origin). A pure decision over the request's Origin and
 * Host headers; the HTTP adapter turns it into response headers. Any thread.
 */
#ifndef SSE_CORS_H
#define SSE_CORS_H

#include <stdbool.h>
#include <stddef.h>

struct cors;

/* From a comma-separated list of origins ("https://app.example, http://
 * localhost:3000") or "*" (any origin, without credentials). Returns NULL
 * when list is NULL or empty (CORS off: the gateway adds no headers and
 * refuses nothing, so only same-origin pages can read it), or on a malformed
 * entry with *err set to a static one-line reason. */
struct cors *cors_new(const char *list, const char **err);
void cors_free(struct cors *c);

enum cors_verdict {
    CORS_NOT_CROSS, /* no Origin header, or the gateway's own origin: add nothing */
    CORS_ALLOW,     /* add Access-Control-Allow-Origin (and credentials when set) */
    CORS_DENY,      /* an origin not on the list: refuse with 403 */
};

/* Decides for one request. host is the Host header (may be NULL). On
 * CORS_ALLOW, *allow_origin is the value for Access-Control-Allow-Origin
 * (origin itself, or "*") and *credentials says whether to send
 * Access-Control-Allow-Credentials: true. c may be NULL (CORS off). */
enum cors_verdict cors_check(const struct cors *c, const char *origin, const char *host,
                             const char **allow_origin, bool *credentials);

/* Is origin listed in --cors-origin, exactly (scheme, host and port; "*"
 * lists nothing)? The rule for a publish that the sse_token cookie
 * authorizes: a cookie rides along on cross-site requests, so only pages
 * on a listed origin may use it. c may be NULL (nothing listed). */
bool cors_listed(const struct cors *c, const char *origin);

/* The origin of an absolute http(s) URL (a Referer): "scheme://host[:port]",
 * lower-cased, a default port (80, 443) dropped, into out. False when url is
 * not such a URL or its origin does not fit. */
bool cors_origin_of(const char *url, char *out, size_t outlen);

#endif
