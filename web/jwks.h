/*
 * jwks: keys from a JSON Web Key Set document into a key set (web/jwk.h).
 * Runs where the set is built; pure otherwise.
 */
#ifndef SSE_JWKS_H
#define SSE_JWKS_H

#include <stddef.h>

struct jwk_set;

/* Adds the RS256/384/512 and ES256/384 signing keys of the JSON in text to
 * s, counting the keys passed over in *skipped. 0, or -1 with *why set to a
 * static line: not JSON, an invalid key, or no usable key at all. */
int jwks_add(struct jwk_set *s, const char *text, size_t len, size_t *skipped, const char **why);

#endif
