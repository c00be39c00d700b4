/* libFuzzer: key files (PEM or JWKS) and key selection. The input up to its
 * first NUL byte is a key file; after it, a token. Loading must fail cleanly
 * or yield a set, and checking tokens against that set (the one given, and
 * fixed ones whose signatures are made-up bytes, so no key can verify them)
 * must not crash or leak. */
#include "web/jwk.h"
#include "web/jws.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* {"alg":…,"kid":…} headers over {"sse":{}} with a 64- or 256-byte signature of 'A's. */
static const char *const fixed[] = {
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImEifQ.eyJzc2UiOnt9fQ."
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AA",
    "eyJhbGciOiJFUzI1NiJ9.eyJzc2UiOnt9fQ."
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "eyJhbGciOiJFUzM4NCIsImtpZCI6ImUifQ.eyJzc2UiOnt9fQ."
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "eyJhbGciOiJIUzI1NiJ9.eyJzc2UiOnt9fQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t key_len = nul ? (size_t)(nul - data) : size;
    struct jwk_set *s = jwk_set_new();
    size_t skipped = 0;
    char err[256];
    if (jwk_set_add_text(s, (const char *)data, key_len, "fuzz", &skipped, err, sizeof err) != 0)
        assert(strncmp(err, "fuzz: ", 6) == 0);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct jws j;
        const char *reason;
        int rc = jws_parse(fixed[i], 8192, &j, &reason);
        assert(rc == 0);
        assert(jwk_set_verify(s, &j) != JWK_OK);
        jws_clear(&j);
    }
    if (nul) {
        size_t n = size - key_len - 1;
        char *token = malloc(n + 1);
        memcpy(token, nul + 1, n);
        token[n] = '\0';
        struct jws j;
        const char *reason;
        if (jws_parse(token, 8192, &j, &reason) == 0) {
            (void)jwk_set_verify(s, &j);
            jws_clear(&j);
        }
        free(token);
    }
    jwk_set_free(s);
    return 0;
}
