/*
 * auth: JWT authorization (docs/PROTOCOL.md, Authorization). Verifies a token against
 * the configured key and algorithm and answers whether its claims cover a
 * set of streams for subscribing or publishing. Pure (no libmicrohttpd);
 * every function may be called from any thread at once.
 *
 * Without a secret there is no struct auth: the caller runs open.
 */
#ifndef SSE_AUTH_H
#define SSE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth;

/* HS256 over a shared secret (secret_len bytes, at least 1). Returns NULL
 * with *err set to a static reason on a bad secret. */
struct auth *auth_new_hs256(const unsigned char *secret, size_t secret_len, const char **err);
/* Reads the secret from a file (a trailing newline is not part of it). */
struct auth *auth_new_hs256_file(const char *path, const char **err);
void auth_free(struct auth *a);

enum auth_action { AUTH_SUBSCRIBE, AUTH_PUBLISH };

enum auth_result {
    AUTH_OK,
    AUTH_UNAUTHORIZED, /* 401: missing, malformed, badly signed, other algorithm, expired, not yet
                          valid */
    AUTH_FORBIDDEN,    /* 403: a valid token whose claims do not cover every stream */
};

/* Checks token (NULL or "" = missing) at now_s (seconds since the epoch) for
 * action on every one of streams. On AUTH_OK *expires_s is the token's exp
 * (0 if it has none). *reason is a static one-line reason for the answer's
 * body and the log. */
enum auth_result auth_check(const struct auth *a, const char *token, int64_t now_s,
                            enum auth_action action, const char *const *streams, size_t nstreams,
                            int64_t *expires_s, const char **reason);

/* Does one claim entry cover stream? An exact name, or a prefix ending in
 * '*' ("orders:*" covers "orders:1", not "orders-1"; "*" covers all). */
bool auth_pattern_covers(const char *pattern, const char *stream);

/* The token of a request, by precedence: the Authorization header's Bearer
 * value, else the sse_token cookie, else the token query parameter. Any
 * argument may be NULL. Returns a heap copy, or NULL when there is none. */
char *auth_token_from(const char *authorization, const char *cookie, const char *query_token);

#endif
