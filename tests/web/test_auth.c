/* Tests of JWT authorization with tokens made here by libjwt and
 * by hand (alg none, tampering), never copied strings. */
#include "check.h"
#include "web/auth.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SECRET[] = "test-secret-0123456789";
#define NOW 1800000000LL

/* A token over claims (a JSON object) signed with alg and key. */
static char *make(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    CHECK(jwt_new(&jwt) == 0);
    CHECK(jwt_add_grants_json(jwt, claims) == 0);
    CHECK(jwt_set_alg(jwt, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0) == 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    CHECK(t != NULL);
    return t;
}

static char *b64url(const char *s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    char *out = malloc(n * 2 + 4), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        if (i + 1 < n)
            *o++ = tab[(v >> 6) & 63];
        if (i + 2 < n)
            *o++ = tab[v & 63];
    }
    *o = '\0';
    return out;
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

int main(void)
{
    const char *err;
    CHECK(auth_new_hs256((const unsigned char *)"", 0, &err) == NULL && err);
    struct auth *a = auth_new_hs256((const unsigned char *)SECRET, strlen(SECRET), &err);
    CHECK(a && !err);

    const char *claims =
        "{\"sse\":{\"subscribe\":[\"orders:*\",\"chat:7\"],\"publish\":[\"orders:*\"]},"
        "\"exp\":1800000100}";
    char *good = make(JWT_ALG_HS256, SECRET, claims);
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
    char *wrong_key = make(JWT_ALG_HS256, "another-secret", claims);
    CHECK_EQ(check(a, wrong_key, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *hs512 = make(JWT_ALG_HS512, SECRET, claims); /* right secret, other algorithm */
    CHECK_EQ(check(a, hs512, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *hs384 = make(JWT_ALG_HS384, SECRET, claims);
    CHECK_EQ(check(a, hs384, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}"), *p = b64url(claims);
    char none[1024];
    snprintf(none, sizeof none, "%s.%s.", h, p);
    CHECK_EQ(check(a, none, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    snprintf(none, sizeof none, "%s.%s", h, p);
    CHECK_EQ(check(a, none, AUTH_SUBSCRIBE, "orders:1"), AUTH_UNAUTHORIZED);
    char *expired =
        make(JWT_ALG_HS256, SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":1800000000}");
    CHECK_EQ(check(a, expired, AUTH_SUBSCRIBE, "x"), AUTH_UNAUTHORIZED);
    char *early =
        make(JWT_ALG_HS256, SECRET, "{\"sse\":{\"subscribe\":[\"*\"]},\"nbf\":1800000001}");
    CHECK_EQ(check(a, early, AUTH_SUBSCRIBE, "x"), AUTH_UNAUTHORIZED);
    char *forever = make(JWT_ALG_HS256, SECRET, "{\"sse\":{\"subscribe\":[\"*\"]}}");
    CHECK_EQ(check(a, forever, AUTH_SUBSCRIBE, "anything"), AUTH_OK);
    char *no_claims = make(JWT_ALG_HS256, SECRET, "{\"sub\":\"u1\"}");
    CHECK_EQ(check(a, no_claims, AUTH_SUBSCRIBE, "x"), AUTH_FORBIDDEN);
    /* Tampered: the payload of a wider token under the good signature. */
    char *wide = b64url("{\"sse\":{\"subscribe\":[\"*\"]},\"exp\":1800000100}");
    char tampered[2048];
    const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    snprintf(tampered, sizeof tampered, "%.*s.%s%s", (int)(dot1 - good), good, wide, dot2);
    CHECK_EQ(check(a, tampered, AUTH_SUBSCRIBE, "chat:1"), AUTH_UNAUTHORIZED);

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
    struct auth *from_file = auth_new_hs256_file(path, &err);
    CHECK(from_file != NULL);
    CHECK_EQ(check(from_file, good, AUTH_SUBSCRIBE, "orders:1"), AUTH_OK);
    unlink(path);
    CHECK(auth_new_hs256_file(path, &err) == NULL && err);

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
