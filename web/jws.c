/*
 * jws: splitting a compact token and reading its JSON parts with cJSON (the
 * process's one JSON parser). Strict on form: exactly three parts, canonical
 * base64url, a header that is a JSON object naming a known alg, no "crit"
 * (no extension is understood, so none may be required). "typ" is not
 * checked: identity providers send "JWT", "at+jwt" or nothing.
 */
#include "web/jws.h"
#include "common/xalloc.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum jws_alg alg;
} algs[] = {{"HS256", JWS_HS256}, {"RS256", JWS_RS256}, {"RS384", JWS_RS384},
            {"RS512", JWS_RS512}, {"ES256", JWS_ES256}, {"ES384", JWS_ES384}};

enum jws_alg jws_alg_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(name, algs[i].name) == 0)
            return algs[i].alg;
    return JWS_ALG_NONE;
}

const char *jws_alg_name(enum jws_alg alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == alg)
            return algs[i].name;
    return "none";
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

unsigned char *jws_base64url_decode(const char *in, size_t len, size_t *out_len)
{
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = xmalloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            goto fail;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero: one encoding per value */
        goto fail;
    out[n] = '\0';
    *out_len = n;
    return out;
fail:
    free(out);
    return NULL;
}

/* Parses len bytes as one JSON object with nothing after it but whitespace. */
static cJSON *parse_object(const unsigned char *text, size_t len)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts((const char *)text, len, &end, 0);
    if (!cJSON_IsObject(v))
        goto fail;
    for (; end && end < (const char *)text + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')
            goto fail;
    return v;
fail:
    cJSON_Delete(v);
    return NULL;
}

int jws_parse(const char *token, size_t max_len, struct jws *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    size_t len = strnlen(token, max_len + 1);
    if (len > max_len) {
        *reason = "token too long";
        return -1;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        *reason = "malformed token";
        return -1;
    }
    size_t hlen;
    unsigned char *head = jws_base64url_decode(token, (size_t)(dot1 - token), &hlen);
    cJSON *h = head ? parse_object(head, hlen) : NULL;
    free(head);
    if (!h) {
        *reason = "malformed token header";
        return -1;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(h, "kid");
    out->alg = jws_alg_from_name(cJSON_GetStringValue(alg));
    if (out->alg == JWS_ALG_NONE) {
        *reason = "unsupported token algorithm";
        goto fail;
    }
    if (cJSON_GetObjectItemCaseSensitive(h, "crit")) {
        *reason = "token header has crit extensions";
        goto fail;
    }
    if (kid && !cJSON_IsString(kid)) {
        *reason = "token kid is not a string";
        goto fail;
    }
    out->kid = kid ? xstrdup(kid->valuestring) : NULL;
    cJSON_Delete(h);
    /* Checked after the header, so "alg":"none" is named as such. */
    out->sig = jws_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &out->sig_len);
    if (!out->sig || out->sig_len == 0) {
        *reason = "malformed token signature";
        jws_clear(out);
        return -1;
    }
    out->signed_part = token;
    out->signed_len = (size_t)(dot2 - token);
    out->payload = dot1 + 1;
    out->payload_len = (size_t)(dot2 - dot1 - 1);
    return 0;
fail:
    cJSON_Delete(h);
    return -1;
}

struct cJSON *jws_claims(const struct jws *j)
{
    size_t n;
    unsigned char *text = jws_base64url_decode(j->payload, j->payload_len, &n);
    cJSON *claims = text ? parse_object(text, n) : NULL;
    free(text);
    return claims;
}

void jws_clear(struct jws *j)
{
    free(j->kid);
    free(j->sig);
    memset(j, 0, sizeof *j);
}
