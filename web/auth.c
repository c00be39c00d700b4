/*
 * auth: a token is split and its header read (web/jws.h), its signature
 * checked against the key its alg and kid select (web/jwk.h), and only then
 * are its claims decoded, once, with cJSON: exp and nbf, then the "sse"
 * claim's streams. Each call works on its own copies: no shared state but
 * the read-only key set.
 */
#include "web/auth.h"
#include "common/xalloc.h"

#include "web/jwk.h"
#include "web/jws.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_FILE_MAX 4096

/* Longer tokens are refused before any decoding. */
#define AUTH_TOKEN_MAX 8192

struct auth {
    struct jwk_set *keys;
};

struct auth *auth_new_hs256(const unsigned char *secret, size_t secret_len, const char **err)
{
    *err = NULL;
    if (!secret || secret_len == 0) {
        *err = "the JWT secret is empty";
        return NULL;
    }
    struct auth *a = xcalloc(1, sizeof *a);
    a->keys = jwk_set_new();
    jwk_set_add_secret(a->keys, secret, secret_len);
    return a;
}

struct auth *auth_new_hs256_file(const char *path, const char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = "cannot read the JWT secret file";
        return NULL;
    }
    unsigned char buf[SECRET_FILE_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n > SECRET_FILE_MAX) {
        *err = "the JWT secret file is larger than 4 KiB";
        return NULL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    return auth_new_hs256(buf, n, err);
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    jwk_set_free(a->keys);
    free(a);
}

bool auth_pattern_covers(const char *pattern, const char *stream)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, stream, n - 1) == 0;
    return strcmp(pattern, stream) == 0;
}

/* Does the claim array cover every stream? */
static bool covers_all(const cJSON *patterns, const char *const *streams, size_t nstreams)
{
    if (!cJSON_IsArray(patterns))
        return false;
    for (size_t i = 0; i < nstreams; i++) {
        bool covered = false;
        for (const cJSON *p = patterns->child; p && !covered; p = p->next)
            covered = cJSON_IsString(p) && auth_pattern_covers(p->valuestring, streams[i]);
        if (!covered)
            return false;
    }
    return true;
}

/* A NumericDate claim: 1 with *out set, 0 when absent, -1 when not a number. */
static int time_claim(const cJSON *claims, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble)
        return -1;
    /* Clamped before the conversion: a double past int64_t would be undefined. */
    double d = v->valuedouble;
    *out = d >= 9.0e18 ? INT64_MAX : d <= -9.0e18 ? INT64_MIN : (int64_t)d;
    return 1;
}

enum auth_result auth_check(const struct auth *a, const char *token, int64_t now_s,
                            enum auth_action action, const char *const *streams, size_t nstreams,
                            int64_t *expires_s, const char **reason)
{
    *expires_s = 0;
    if (!token || !*token) {
        *reason = "a token is required";
        return AUTH_UNAUTHORIZED;
    }
    struct jws j;
    if (jws_parse(token, AUTH_TOKEN_MAX, &j, reason) != 0)
        return AUTH_UNAUTHORIZED;
    enum auth_result r = AUTH_UNAUTHORIZED;
    cJSON *claims = NULL;
    int64_t exp = 0, nbf = 0;
    int has_exp, has_nbf;
    enum jwk_verdict v = jwk_set_verify(a->keys, &j);
    if (v != JWK_OK) {
        *reason = jwk_verdict_reason(v);
        goto done;
    }
    if (!(claims = jws_claims(&j))) {
        *reason = "malformed token claims";
        goto done;
    }
    if ((has_exp = time_claim(claims, "exp", &exp)) < 0 ||
        (has_nbf = time_claim(claims, "nbf", &nbf)) < 0) {
        *reason = "exp and nbf must be numbers";
        goto done;
    }
    if (has_exp && now_s >= exp) {
        *reason = "token expired";
        goto done;
    }
    if (has_nbf && now_s < nbf) {
        *reason = "token not valid yet";
        goto done;
    }
    const cJSON *sse = cJSON_GetObjectItemCaseSensitive(claims, "sse");
    const char *claim = action == AUTH_SUBSCRIBE ? "subscribe" : "publish";
    if (!covers_all(cJSON_GetObjectItemCaseSensitive(sse, claim), streams, nstreams)) {
        *reason = action == AUTH_SUBSCRIBE ? "the token does not allow subscribing to this stream"
                                           : "the token does not allow publishing to this stream";
        r = AUTH_FORBIDDEN;
        goto done;
    }
    *expires_s = has_exp ? exp : 0;
    *reason = "ok";
    r = AUTH_OK;
done:
    cJSON_Delete(claims);
    jws_clear(&j);
    return r;
}

/* The value of cookie name in a Cookie header ("a=1; sse_token=…; b=2"). */
static char *cookie_value(const char *header, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t vlen = len - n - 1;
            while (vlen && v[vlen - 1] == ' ')
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
                v++, vlen -= 2;
            return vlen ? xstrndup(v, vlen) : NULL;
        }
        p = end;
    }
    return NULL;
}

char *auth_token_from(const char *authorization, const char *cookie, const char *query_token)
{
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        size_t len = strlen(t);
        while (len && t[len - 1] == ' ')
            len--;
        if (len)
            return xstrndup(t, len);
    }
    char *c = cookie ? cookie_value(cookie, "sse_token") : NULL;
    if (c)
        return c;
    return query_token && *query_token ? xstrdup(query_token) : NULL;
}
