/* Tests of JWT authorization with the HS256 secret: signatures, token form,
 * times, audience, issuer, rights, and where the token comes from. Tokens
 * are made and signed here (tests/web/tokens.h). Keys: test_auth_keys.c. */
#include "check.h"
#include "web/auth.h"
#include "web/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SECRET[] = "test-secret-0123456789";
#define NOW 1800000000LL

static char *make(const char *key, const char *claims)
{
    return make_hmac("HS256", EVP_sha256(), key, claims);
}

static enum auth_result check(const struct auth *a, const char *token, enum auth_action action,
                              const char *stream)
{
    const char *streams[] = {stream};
    int64_t exp;
    const char *reason;
    enum auth_result r = auth_check(a, token, NOW, action, streams, 1, &exp, &reason);
    CHECK(reason && *reason);
    return r;
}

static enum auth_result check_reason(const struct auth *a, const char *token,
                                     enum auth_action action, const char *want_reason)
{
    const char *streams[] = {"orders:1"};
    int64_t exp;
    const char *reason = NULL;
    enum auth_result r = auth_check(a, token, NOW, action, streams, 1, &exp, &reason);
    if (want_reason)
        CHECK_STR(reason, want_reason);
    return r;
}

/* --jwt-audience, --jwt-issuer and the admin claim. */
static void test_audience_issuer_admin(void)
{
    char err[256];
    struct auth *a = auth_new(
        &(struct auth_config){.secret = SECRET, .audience = "api", .issuer = "https://idp.test/"},
        err, sizeof err);
    CHECK(a != NULL);
    static const struct {
        const char *claims;
        enum auth_result want;
        const char *reason;
    } cases[] = {
        {"{\"aud\":\"api\",\"iss\":\"https://idp.test/\",\"sse\":{\"subscribe\":[\"*\"]}}", AUTH_OK,
         "ok"},
        {"{\"aud\":[\"web\",\"api\"],\"iss\":\"https://idp.test/"
         "\",\"sse\":{\"subscribe\":[\"*\"]}}",
         AUTH_OK, "ok"},
        {"{\"iss\":\"https://idp.test/\",\"sse\":{\"subscribe\":[\"*\"]}}", AUTH_UNAUTHORIZED,
         "token audience does not match"},
        {"{\"aud\":\"web\",\"iss\":\"https://idp.test/\",\"sse\":{\"subscribe\":[\"*\"]}}",
         AUTH_UNAUTHORIZED, "token audience does not match"},
        {"{\"aud\":[\"web\"],\"iss\":\"https://idp.test/\"}", AUTH_UNAUTHORIZED,
         "token audience does not match"},
        {"{\"aud\":[],\"iss\":\"https://idp.test/\"}", AUTH_UNAUTHORIZED,
         "token audience does not match"},
        {"{\"aud\":7,\"iss\":\"https://idp.test/\"}", AUTH_UNAUTHORIZED,
         "token audience does not match"},
        {"{\"aud\":\"apix\",\"iss\":\"https://idp.test/\"}", AUTH_UNAUTHORIZED,
         "token audience does not match"},
        {"{\"aud\":\"api\",\"sse\":{\"subscribe\":[\"*\"]}}", AUTH_UNAUTHORIZED,
         "token issuer does not match"},
        {"{\"aud\":\"api\",\"iss\":\"https://idp.test\"}", AUTH_UNAUTHORIZED,
         "token issuer does not match"},
        {"{\"aud\":\"api\",\"iss\":[\"https://idp.test/\"]}", AUTH_UNAUTHORIZED,
         "token issuer does not match"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = make(SECRET, cases[i].claims);
        CHECK_EQ(check_reason(a, t, AUTH_SUBSCRIBE, cases[i].reason), cases[i].want);
        free(t);
    }
    auth_free(a);

    /* Without --jwt-audience/--jwt-issuer, aud and iss are not looked at. */
    a = auth_new(&(struct auth_config){.secret = SECRET}, err, sizeof err);
    char *t = make(SECRET, "{\"aud\":\"other\",\"iss\":\"x\",\"sse\":{\"subscribe\":[\"*\"]}}");
    CHECK_EQ(check_reason(a, t, AUTH_SUBSCRIBE, "ok"), AUTH_OK);
    free(t);

    /* The admin claim: exactly true; stream rights do not count. */
    static const struct {
        const char *claims;
        enum auth_result want;
    } admin[] = {
        {"{\"sse\":{\"admin\":true}}", AUTH_OK},
        {"{\"sse\":{\"admin\":false}}", AUTH_FORBIDDEN},
        {"{\"sse\":{\"admin\":\"true\"}}", AUTH_FORBIDDEN},
        {"{\"sse\":{\"admin\":1}}", AUTH_FORBIDDEN},
        {"{\"admin\":true}", AUTH_FORBIDDEN},
        {"{\"sse\":{\"subscribe\":[\"*\"],\"publish\":[\"*\"]}}", AUTH_FORBIDDEN},
        {"{\"sse\":{\"admin\":true},\"exp\":1}", AUTH_UNAUTHORIZED},
    };
    for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++) {
        t = make(SECRET, admin[i].claims);
        int64_t exp;
        const char *reason;
        CHECK_EQ(auth_check(a, t, NOW, AUTH_ADMIN, NULL, 0, &exp, &reason), admin[i].want);
        free(t);
    }
    CHECK_EQ(check_reason(a, NULL, AUTH_ADMIN, "a token is required"), AUTH_UNAUTHORIZED);
    auth_free(a);
}

int main(void)
{
    char err[256] = "";
    CHECK(auth_new(&(struct auth_config){.secret = ""}, err, sizeof err) == NULL && *err);
    CHECK(auth_new(&(struct auth_config){0}, err, sizeof err) == NULL);
    struct auth *a = auth_new(&(struct auth_config){.secret = SECRET}, err, sizeof err);
    CHECK(a != NULL);

    const char *claims =
        "{\"sse\":{\"subscribe\":[\"orders:*\",\"chat:7\"],\"publish\":[\"orders:*\"]},"
        "\"exp\":1800000100}";
    char *good = make(SECRET, claims);
    CHECK_EQ(check(a, good, AUTH_SUBSCRIBE, "orders:1"), AUTH_OK);
    CHECK_EQ(check(a, good, AUTH_SUBSCRIBE, "chat:7"), AUTH_OK);
    CHECK_EQ(check(a, good, AUTH_SUBSCRIBE, "chat:1"), AUTH_FORBIDDEN);
    CHECK_EQ(check(a, good, AUTH_SUBSCRIBE, "orders-1"), AUTH_FORBIDDEN);
    CHECK_EQ(check(a, good, AUTH_PUBLISH, "orders:9"), AUTH_OK);
    CHECK_EQ(check(a, good, AUTH_PUBLISH, "chat:7"), AUTH_FORBIDDEN);
    {
        const char *both[] = {"orders:1", "chat:1"};
        int64_t exp;
        const char *reason;
        CHECK_EQ(auth_check(a, good, NOW, AUTH_SUBSCRIBE, both, 2, &exp, &reason), AUTH_FORBIDDEN);
        const char *ok[] = {"orders:1", "chat:7"};
        CHECK_EQ(auth_check(a, good, NOW, AUTH_SUBSCRIBE, ok, 2, &exp, &reason), AUTH_OK);
        CHECK_EQ(exp, 1800000100);
    }

    /* 401s: missing, garbage, wrong key, another algorithm, none, expired,
     * not yet valid, tampered payload. */
    CHECK_EQ(check(a, NULL, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    CHECK_EQ(check(a, "", AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    CHECK_EQ(check(a, "not.a.token", AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    CHECK_EQ(check(a, "garbage", AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *wrong_key = make("another-secret", claims);
    CHECK_EQ(check(a, wrong_key, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *hs512 =
        make_hmac("HS512", EVP_sha512(), SECRET, claims); /* right secret, other algorithm */
    CHECK_EQ(check(a, hs512, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *hs384 = make_hmac("HS384", EVP_sha384(), SECRET, claims);
    CHECK_EQ(check(a, hs384, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}"), *p = b64url(claims);
    char none[1024];
    snprintf(none, sizeof none, "%s.%s.", h, p);
    CHECK_EQ(check(a, none, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    snprintf(none, sizeof none, "%s.%s", h, p);
    CHECK_EQ(check(a, none, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *expired = make(SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":1800000000}");
    CHECK_EQ(check(a, expired, AUTH_SUBSCRIBE, "x"), AUTH_UNAUTHORIZED);
    char *early = make(SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"nbf\":1800000001}");
    CHECK_EQ(check(a, early, AUTH_SUBSCRIBE, "x"), AUTH_UNAUTHORIZED);
    char *forever = make(SECRET, "{\"sse\":{\"subscribe\":[\"*\"]}}");
    CHECK_EQ(check(a, forever, AUTH_SUBSCRIBE, "anything"), AUTH_OK);
    char *no_claims = make(SECRET, "{\"sub\":\"u1\"}");
    CHECK_EQ(check(a, no_claims, AUTH_SUBSCRIBE, "x"), AUTH_FORBIDDEN);
    /* Tampered: the payload of a wider token under the good signature. */
    char *wide = b64url("{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":1800000100}");
    char tampered[2048];
    const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    snprintf(tampered, sizeof tampered, "%.*s.%s%s", (int)(dot1 - good), good, wide, dot2);
    CHECK_EQ(check(a, tampered, AUTH_SUBSCRIBE, "chat:1"), AUTH_UNAUTHORIZED);
    /* Form: padding, stray bits, a fourth part, crit, a header that is not
     * an object, a kid no key has, an oversized token. */
    char *padded = malloc(strlen(good) + 2);
    snprintf(padded, strlen(good) + 2, "%s=", good);
    CHECK_EQ(check(a, padded, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *stray = strdup(good);
    {
        /* A 32-byte tag is 43 characters; the last one's two low bits are spare. */
        static const char tab[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        char *last = stray + strlen(stray) - 1;
        *last = tab[(strchr(tab, *last) - tab) | 1];
    }
    CHECK_EQ(check(a, stray, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char four[2048];
    snprintf(four, sizeof four, "%s.x", good);
    CHECK_EQ(check(a, four, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *crit = make_hmac("HS256\",\"crit\":[\"exp\"],\"x\":\"", EVP_sha256(), SECRET, claims);
    CHECK_EQ(check(a, crit, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *kid = make_hmac("HS256\",\"kid\":\"k1", EVP_sha256(), SECRET, claims);
    CHECK_EQ(check(a, kid, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *arr = with_sig(signing_input("[\"HS256\"]", claims), (const unsigned char *)"x", 1);
    CHECK_EQ(check(a, arr, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *huge_claims = malloc(9000);
    snprintf(huge_claims, 9000, "{\"sse\":{\"subscribe\":[\"*\"]},\"pad\":\"%08000d\"}", 0);
    char *huge = make(SECRET, huge_claims);
    {
        const char *streams[] = {"x"};
        int64_t exp;
        const char *reason;
        CHECK_EQ(auth_check(a, huge, NOW, AUTH_SUBSCRIBE, streams, 1, &exp, &reason),
                 AUTH_UNAUTHORIZED);
        CHECK_STR(reason, "token too long");
    }
    /* Huge and fractional NumericDates. */
    char *far = make(SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":1e300,\"nbf\":-1e300}");
    CHECK_EQ(check(a, far, AUTH_SUBSCRIBE, "x"), AUTH_OK);
    char *frac = make(SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":1800000000.5}");
    CHECK_EQ(check(a, frac, AUTH_SUBSCRIBE, "x"), AUTH_UNAUTHORIZED);
    char *strexp = make(SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":\"1900000000\"}");
    CHECK_EQ(check(a, strexp, AUTH_SUBSCRIBE, "x"), AUTH_UNAUTHORIZED);
    for (char **s =
             (char *[]){padded, stray, crit, kid, arr, huge_claims, huge, far, frac, strexp, NULL};
         *s; s++)
        free(*s);

    /* Patterns. */
    CHECK(auth_pattern_covers("*", "x"));
    CHECK(auth_pattern_covers("orders:*", "orders:"));
    CHECK(!auth_pattern_covers("orders:*", "orders"));
    CHECK(auth_pattern_covers("a", "a") && !auth_pattern_covers("a", "ab"));

    /* Where the token comes from: header, then cookie, then query. */
    char *t = auth_token_from("Bearer abc", "sse_token=def", "ghi");
    CHECK_STR(t, "abc");
    free(t);
    t = auth_token_from("bearer  abc ", NULL, NULL);
    CHECK_STR(t, "abc");
    free(t);
    t = auth_token_from("Basic xyz", "a=1; sse_token=def; b=2", "ghi");
    CHECK_STR(t, "def");
    free(t);
    t = auth_token_from(NULL, "sse_token_x=1; other=2", "ghi");
    CHECK_STR(t, "ghi");
    free(t);
    t = auth_token_from(NULL, "sse_token=\"q\"", NULL);
    CHECK_STR(t, "q");
    free(t);
    CHECK(auth_token_from(NULL, NULL, NULL) == NULL);
    CHECK(auth_token_from("Bearer ", "sse_token=", "") == NULL);

    /* A secret file: the trailing newline is not part of the secret. */
    char path[] = "/tmp/sse-auth-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s\n", SECRET);
    fclose(f);
    struct auth *from_file = auth_new(&(struct auth_config){.secret_file = path}, err, sizeof err);
    CHECK(from_file != NULL);
    CHECK_EQ(check(from_file, good, AUTH_SUBSCRIBE, "orders:1"), AUTH_OK);
    unlink(path);
    CHECK(auth_new(&(struct auth_config){.secret_file = path}, err, sizeof err) == NULL);
    CHECK(strstr(err, path) != NULL); /* the error names the file */

    test_audience_issuer_admin();

    for (char **s =
             (char *[]){good, wrong_key, hs512, hs384, expired, early, forever, no_claims, NULL};
         *s; s++)
        free(*s);
    free(h);
    free(p);
    free(wide);
    auth_free(from_file);
    auth_free(a);
    return CHECK_DONE();
}
