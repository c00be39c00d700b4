/* libFuzzer: arbitrary bytes as a token, an Authorization header and a
 * Cookie header. Nothing may crash or leak, and no arbitrary input is ever
 * a valid token for the fixed secret. */
#include "web/auth.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth *a;
    if (!a) {
        char err[256];
        a = auth_new(&(struct auth_config){.secret = "fuzz-secret", .audience = "api"}, err,
                     sizeof err);
        assert(a);
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char *t = auth_token_from(s, s, s);
    const char *streams[] = {"orders:1"};
    int64_t exp;
    const char *reason;
    enum auth_result r =
        auth_check(a, t ? t : s, 1800000000, AUTH_SUBSCRIBE, streams, 1, &exp, &reason);
    assert(r != AUTH_OK);
    r = auth_check(a, t ? t : s, 1800000000, AUTH_ADMIN, NULL, 0, &exp, &reason);
    assert(r != AUTH_OK);
    free(t);
    free(s);
    return 0;
}
