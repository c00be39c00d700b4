/*
 * jwk: a set of verification keys and the signature check. A key has a type
 * (an HMAC secret, RSA, EC P-256 or EC P-384), which fixes the algorithms it
 * verifies, and may have a kid. Built on one thread, then read-only: any
 * number of threads may verify against one set at once.
 */
#ifndef SSE_JWK_H
#define SSE_JWK_H

#include <stddef.h>

#include "web/jws.h"

struct jwk_set;

struct jwk_set *jwk_set_new(void);
void jwk_set_free(struct jwk_set *s);

/* Adds the HS256 secret (len >= 1). */
void jwk_set_add_secret(struct jwk_set *s, const unsigned char *secret, size_t len);
/* Keys in the set. */
size_t jwk_set_count(const struct jwk_set *s);

enum jwk_verdict {
    JWK_OK,
    JWK_UNKNOWN_KID,    /* no key has the token's kid */
    JWK_KID_OTHER_TYPE, /* the kid names a key that cannot verify the token's alg */
    JWK_NO_KEY_FOR_ALG, /* no key of the alg's type (HS256 without a secret, say) */
    JWK_BAD_SIGNATURE,  /* no candidate key verifies it */
};

/* Checks j's signature: a token with a kid against the keys with that kid,
 * one without against every key of its alg's type. Any thread. */
enum jwk_verdict jwk_set_verify(const struct jwk_set *s, const struct jws *j);
/* A static line for the log and the 401 body. */
const char *jwk_verdict_reason(enum jwk_verdict v);

#endif
