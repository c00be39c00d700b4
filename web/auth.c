/*
 * auth: a token is split and its header read (web/jws.h), its signature
 * checked against the key its alg and kid select (web/jwk.h), and only then
 * are its claims decoded, once, with cJSON: exp and nbf, aud and iss, then
 * the "sse" claim.
 *
 * Reload: the keys live in an immutable, reference-counted key set. A check
 * takes a reference under a mutex held for two instructions, verifies with
 * no lock, and drops it; a reload builds a whole new set first, swaps the
 * pointer under the mutex and drops the old set's reference, so the old set
 * is freed by whichever check finishes with it last. A reload never waits
 * for a check, and a check never sees half a set.
 */
#include "web/auth.h"
#include "common/xalloc.h"
#include "web/jwk.h"
#include "web/jws.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_FILE_MAX 4096

/* Longer tokens are refused before any decoding. */
#define AUTH_TOKEN_MAX 8192

struct keys {
    _Atomic long refs;
    struct jwk_set *set; /* read-only once published */
    size_t skipped;
};

struct auth {
    char *secret, *secret_file, **key_files; /* fixed after start */
    size_t nkey_files;                       /* fixed after start */
    char *audience, *issuer;                 /* fixed after start */
    /* The mutex guards the pointer only. Kept behind a pointer so that
     * auth_check's const struct auth may still take it. */
    struct live {
        pthread_mutex_t mu;
        struct keys *keys; /* shared: guarded by mu */
    } * live;
};

static void keys_unref(struct keys *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
        jwk_set_free(k->set);
        free(k);
    }
}

static struct keys *keys_acquire(const struct auth *a)
{
    pthread_mutex_lock(&a->live->mu);
    struct keys *k = a->live->keys;
    atomic_fetch_add(&k->refs, 1);
    pthread_mutex_unlock(&a->live->mu);
    return k;
}

/* The secret file's bytes less a trailing newline, into the set. */
static int add_secret_file(struct jwk_set *set, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the JWT secret file", path);
        return -1;
    }
    unsigned char buf[SECRET_FILE_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n && n <= SECRET_FILE_MAX && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    int rc = -1;
    if (n > SECRET_FILE_MAX)
        snprintf(err, errlen, "%s: the JWT secret file is larger than 4 KiB", path);
    else if (n == 0)
        snprintf(err, errlen, "%s: the JWT secret file is empty", path);
    else
        rc = 0, jwk_set_add_secret(set, buf, n);
    memset(buf, 0, sizeof buf);
    return rc;
}

/* Builds a key set from the configuration's sources, or NULL with err. */
static struct keys *load(const struct auth *a, char *err, size_t errlen)
{
    struct keys *k = xcalloc(1, sizeof *k);
    atomic_init(&k->refs, 1);
    k->set = jwk_set_new();
    if (a->secret)
        jwk_set_add_secret(k->set, (const unsigned char *)a->secret, strlen(a->secret));
    if (a->secret_file && add_secret_file(k->set, a->secret_file, err, errlen) != 0)
        goto fail;
    for (size_t i = 0; i < a->nkey_files; i++)
        if (jwk_set_add_file(k->set, a->key_files[i], &k->skipped, err, errlen) != 0)
            goto fail;
    return k;
fail:
    keys_unref(k);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct auth *auth_new(const struct auth_config *cfg, char *err, size_t errlen)
{
    if ((!cfg->secret || !*cfg->secret) && !cfg->secret_file && cfg->nkey_files == 0) {
        snprintf(err, errlen, "%s",
                 cfg->secret ? "the JWT secret is empty" : "no JWT secret and no key file");
        return NULL;
    }
    struct auth *a = xcalloc(1, sizeof *a);
    a->secret = cfg->secret && *cfg->secret ? xstrdup(cfg->secret) : NULL;
    a->secret_file = dup_or_null(cfg->secret_file);
    a->nkey_files = cfg->nkey_files;
    a->key_files = xcalloc(cfg->nkey_files + 1, sizeof *a->key_files);
    for (size_t i = 0; i < cfg->nkey_files; i++)
        a->key_files[i] = xstrdup(cfg->key_files[i]);
    a->audience = dup_or_null(cfg->audience);
    a->issuer = dup_or_null(cfg->issuer);
    a->live = xcalloc(1, sizeof *a->live);
    pthread_mutex_init(&a->live->mu, NULL);
    if (!(a->live->keys = load(a, err, errlen))) {
        auth_free(a);
        return NULL;
    }
    return a;
}

int auth_reload(struct auth *a, char *err, size_t errlen)
{
    struct keys *fresh = load(a, err, errlen);
    if (!fresh)
        return -1;
    pthread_mutex_lock(&a->live->mu);
    struct keys *old = a->live->keys;
    a->live->keys = fresh;
    pthread_mutex_unlock(&a->live->mu);
    keys_unref(old); /* freed now, or by the last check still using it */
    return 0;
}

void auth_key_count(const struct auth *a, size_t *keys, size_t *skipped)
{
    struct keys *k = keys_acquire(a);
    *keys = jwk_set_count(k->set);
    *skipped = k->skipped;
    keys_unref(k);
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    if (a->live) {
        keys_unref(a->live->keys);
        pthread_mutex_destroy(&a->live->mu);
        free(a->live);
    }
    if (a->secret)
        memset(a->secret, 0, strlen(a->secret));
    free(a->secret);
    free(a->secret_file);
    for (size_t i = 0; i < a->nkey_files; i++)
        free(a->key_files[i]);
    free(a->key_files);
    free(a->audience);
    free(a->issuer);
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

/* Does aud (a string, or an array of strings) hold audience? */
static bool audience_ok(const cJSON *aud, const char *audience)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, audience) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    const cJSON *v;
    cJSON_ArrayForEach(v, aud)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, audience) == 0)
            return true;
    }
    return false;
}

/* The claims' verdict after the signature: times, audience, issuer, rights. */
static enum auth_result check_claims(const struct auth *a, const cJSON *claims, int64_t now_s,
                                     enum auth_action action, const char *const *streams,
                                     size_t nstreams, int64_t *expires_s, const char **reason)
{
    int64_t exp = 0, nbf = 0;
    int has_exp = time_claim(claims, "exp", &exp), has_nbf = time_claim(claims, "nbf", &nbf);
    if (has_exp < 0 || has_nbf < 0) {
        *reason = "exp and nbf must be numbers";
        return AUTH_UNAUTHORIZED;
    }
    if (has_exp && now_s >= exp) {
        *reason = "token expired";
        return AUTH_UNAUTHORIZED;
    }
    if (has_nbf && now_s < nbf) {
        *reason = "token not valid yet";
        return AUTH_UNAUTHORIZED;
    }
    if (a->audience && !audience_ok(cJSON_GetObjectItemCaseSensitive(claims, "aud"), a->audience)) {
        *reason = "token audience does not match";
        return AUTH_UNAUTHORIZED;
    }
    const char *iss = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "iss"));
    if (a->issuer && !(iss && strcmp(iss, a->issuer) == 0)) {
        *reason = "token issuer does not match";
        return AUTH_UNAUTHORIZED;
    }
    const cJSON *sse = cJSON_GetObjectItemCaseSensitive(claims, "sse");
    if (action == AUTH_ADMIN) {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sse, "admin"))) {
            *reason = "the token does not allow reading admin data";
            return AUTH_FORBIDDEN;
        }
    } else {
        const char *claim = action == AUTH_SUBSCRIBE ? "subscribe" : "publish";
        if (!covers_all(cJSON_GetObjectItemCaseSensitive(sse, claim), streams, nstreams)) {
            *reason = action == AUTH_SUBSCRIBE
                          ? "the token does not allow subscribing to this stream"
                          : "the token does not allow publishing to this stream";
            return AUTH_FORBIDDEN;
        }
    }
    *expires_s = has_exp ? exp : 0;
    *reason = "ok";
    return AUTH_OK;
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
    struct keys *k = keys_acquire(a);
    enum jwk_verdict v = jwk_set_verify(k->set, &j);
    keys_unref(k);
    if (v != JWK_OK)
        *reason = jwk_verdict_reason(v);
    else if (!(claims = jws_claims(&j)))
        *reason = "malformed token claims";
    else
        r = check_claims(a, claims, now_s, action, streams, nstreams, expires_s, reason);
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
