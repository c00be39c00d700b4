/*
 * auth: libjwt decodes and checks the signature; this file insists on the
 * configured algorithm itself (libjwt 1.10 verifies whatever the token's
 * header names, so an HS512 token signed with our secret, or an "alg":"none"
 * one, would otherwise pass), enforces exp and nbf, and reads the "sse"
 * claim with cJSON. Each call decodes into its own jwt_t: no shared state.
 */
#include "web/auth.h"
#include "common/xalloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_FILE_MAX 4096

struct auth {
    unsigned char *key;
    size_t key_len;
    jwt_alg_t alg;
};

struct auth *auth_new_hs256(const unsigned char *secret, size_t secret_len, const char **err)
{
    *err = NULL;
    if (!secret || secret_len == 0) {
        *err = "the JWT secret is empty";
        return NULL;
    }
    struct auth *a = xcalloc(1, sizeof *a);
    a->key = xmalloc(secret_len);
    memcpy(a->key, secret, secret_len);
    a->key_len = secret_len;
    a->alg = JWT_ALG_HS256;
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
    free(a->key);
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

/* A numeric claim: 1 with *out set, 0 when absent, -1 when not a number. */
static int time_claim(jwt_t *jwt, const char *name, int64_t *out)
{
    errno = 0;
    long v = jwt_get_grant_int(jwt, name);
    if (errno == ENOENT)
        return 0;
    if (errno != 0)
        return -1;
    *out = v;
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
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, a->key, (int)a->key_len) != 0 || !jwt) {
        *reason = "invalid token";
        return AUTH_UNAUTHORIZED;
    }
    enum auth_result r = AUTH_UNAUTHORIZED;
    int64_t exp = 0, nbf = 0;
    int has_exp = 0, has_nbf = 0;
    char *sse_json = NULL;
    cJSON *sse = NULL;
    if (jwt_get_alg(jwt) != a->alg) {
        *reason = "token signed with another algorithm";
        goto done;
    }
    if ((has_exp = time_claim(jwt, "exp", &exp)) < 0 ||
        (has_nbf = time_claim(jwt, "nbf", &nbf)) < 0) {
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
    sse_json = jwt_get_grants_json(jwt, "sse");
    sse = sse_json ? cJSON_Parse(sse_json) : NULL;
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
    cJSON_Delete(sse);
    free(sse_json);
    jwt_free(jwt);
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
