/*
 * auth: JWT authorization (docs/PROTOCOL.md, Authorization). Verifies a token
 * against the configured keys (the HS256 secret, PEM public keys, JWKS
 * documents), checks its times, audience and issuer, and answers whether its
 * claims cover a set of streams for subscribing or publishing. Pure (no
 * libmicrohttpd); auth_check may run on any number of threads at once, also
 * while auth_reload swaps the keys.
 *
 * Without a secret or a key file there is no struct auth: the caller runs open.
 */
#ifndef SSE_AUTH_H
#define SSE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth;

/* What to load. Everything is copied; the files are read again on reload. */
struct auth_config {
    const char *secret;           /* --jwt-secret (HS256), or NULL */
    const char *secret_file;      /* --jwt-secret-file, or NULL */
    const char *const *key_files; /* --jwt-key-file: PEM public keys or JWKS */
    size_t nkey_files;
    const char *audience; /* --jwt-audience: aud must hold it; NULL: unchecked */
    const char *issuer;   /* --jwt-issuer: iss must equal it; NULL: unchecked */
};

/* Loads the keys. NULL with err filled (one line naming the file and the
 * fault) when nothing is configured or a file is unreadable or invalid. */
struct auth *auth_new(const struct auth_config *cfg, char *err, size_t errlen);
/* Reads the secret file and key files again and swaps the new keys in
 * whole: tokens of a key still listed keep working, checks under way finish
 * with the keys they began with. On failure (-1, err filled) the old keys
 * stay. One thread at a time (the gateway's signal thread). */
int auth_reload(struct auth *a, char *err, size_t errlen);
/* Keys in use, and JWKs passed over by the last load (not for signatures,
 * or of a kind not verified here). Any thread. */
void auth_key_count(const struct auth *a, size_t *keys, size_t *skipped);
void auth_free(struct auth *a);

enum auth_action {
    AUTH_SUBSCRIBE,
    AUTH_PUBLISH,
    AUTH_ADMIN, /* /stats and /metrics: the claims hold "sse":{"admin":true}; no streams */
};

enum auth_result {
    AUTH_OK,
    AUTH_UNAUTHORIZED, /* 401: missing, malformed, badly signed, no key for its alg or kid,
                          expired, not yet valid, wrong audience or issuer */
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
