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
struct evp_pkey_st; /* OpenSSL's EVP_PKEY */

struct jwk_set *jwk_set_new(void);
void jwk_set_free(struct jwk_set *s);

/* Adds the HS256 secret (len >= 1). */
void jwk_set_add_secret(struct jwk_set *s, const unsigned char *secret, size_t len);
/* Adds every key of a file: PEM public keys (RSA of 2048 bits or more, EC
 * P-256 or P-384) or a JWKS document (or a single JWK). JWKs that are not for
 * signatures or of another kind (oct, OKP, P-521, PS256 …) are passed over
 * and counted in *skipped. 0, or -1 with err naming the file and the fault;
 * keys added before a fault stay in the set (the caller drops it). */
int jwk_set_add_file(struct jwk_set *s, const char *path, size_t *skipped, char *err,
                     size_t errlen);
/* The same over len bytes of text; origin names them in err. */
int jwk_set_add_text(struct jwk_set *s, const char *text, size_t len, const char *origin,
                     size_t *skipped, char *err, size_t errlen);
/* Adds a public key, with its kid (or NULL) and the one alg it may verify
 * (JWS_ALG_NONE: any alg of its type). Takes ownership of p, freeing it on
 * failure: -1 with *why set when p is not RSA (2048 bits or more, an odd
 * exponent) or EC P-256/P-384, or the set is full. */
int jwk_set_add_pkey(struct jwk_set *s, struct evp_pkey_st *p, const char *kid, enum jws_alg only,
                     const char **why);
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
