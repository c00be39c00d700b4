/*
 * jws: the compact form of a signed JWT ("header.payload.signature", each
 * part base64url without padding). Splits a token, reads its header (alg,
 * kid) and decodes its claims with cJSON; checking the signature is the key
 * set's job (web/jwk.h). Pure functions, any thread; fuzzed through auth.
 */
#ifndef SSE_JWS_H
#define SSE_JWS_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* The algorithms a key can verify; JWS_ALG_NONE is every other name ("none" too). */
enum jws_alg { JWS_ALG_NONE, JWS_HS256, JWS_RS256, JWS_RS384, JWS_RS512, JWS_ES256, JWS_ES384 };

/* A token split and its header read. Plain data: the fields point into
 * buffers the struct owns (jws_clear frees them). */
struct jws {
    enum jws_alg alg;
    char *kid;               /* NULL when the header names none */
    const char *signed_part; /* "header.payload", borrowed from the token */
    size_t signed_len;
    const char *payload; /* base64url, borrowed from the token */
    size_t payload_len;
    unsigned char *sig;
    size_t sig_len;
};

/* Splits token (at most max_len bytes) and reads its header. 0, or -1 with
 * *reason set to a static line (malformed, unsupported alg, crit header).
 * The token must outlive *out. */
int jws_parse(const char *token, size_t max_len, struct jws *out, const char **reason);
/* The claims: a cJSON object the caller deletes, or NULL if the payload is
 * not base64url of a JSON object. */
struct cJSON *jws_claims(const struct jws *j);
void jws_clear(struct jws *j);

/* Strict base64url without padding (no '=', no stray bits). Returns a heap
 * buffer with a NUL after *out_len bytes, or NULL on bad input. */
unsigned char *jws_base64url_decode(const char *in, size_t len, size_t *out_len);

/* "HS256" → JWS_HS256 …; JWS_ALG_NONE for anything else. */
enum jws_alg jws_alg_from_name(const char *name);
const char *jws_alg_name(enum jws_alg alg);

#endif
