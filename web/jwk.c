/*
 * jwk: verification keys and signatures over OpenSSL 3. HMAC tags are
 * compared in constant time. Keys are never modified after the set is built,
 * so verifying needs no lock.
 */
#include "web/jwk.h"
#include "common/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum key_type { KEY_HMAC, KEY_RSA, KEY_EC256, KEY_EC384 };

struct key {
    enum key_type type;
    char *kid;             /* NULL: none */
    unsigned char *secret; /* KEY_HMAC */
    size_t secret_len;
};

struct jwk_set {
    struct key *keys;
    size_t n, cap;
};

struct jwk_set *jwk_set_new(void)
{
    return xcalloc(1, sizeof(struct jwk_set));
}

void jwk_set_free(struct jwk_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->keys[i].kid);
        if (s->keys[i].secret)
            OPENSSL_cleanse(s->keys[i].secret, s->keys[i].secret_len);
        free(s->keys[i].secret);
    }
    free(s->keys);
    free(s);
}

static struct key *add_key(struct jwk_set *s, enum key_type type)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->keys = xrealloc(s->keys, s->cap * sizeof *s->keys);
    }
    struct key *k = &s->keys[s->n++];
    memset(k, 0, sizeof *k);
    k->type = type;
    return k;
}

void jwk_set_add_secret(struct jwk_set *s, const unsigned char *secret, size_t len)
{
    struct key *k = add_key(s, KEY_HMAC);
    k->secret = xmalloc(len);
    memcpy(k->secret, secret, len);
    k->secret_len = len;
}

size_t jwk_set_count(const struct jwk_set *s)
{
    return s->n;
}

static enum key_type type_of(enum jws_alg alg)
{
    switch (alg) {
    case JWS_RS256:
    case JWS_RS384:
    case JWS_RS512:
        return KEY_RSA;
    case JWS_ES256:
        return KEY_EC256;
    case JWS_ES384:
        return KEY_EC384;
    default:
        return KEY_HMAC;
    }
}

static bool verify_hmac(const struct key *k, const struct jws *j)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)j->signed_part,
              j->signed_len, mac, &mac_len))
        return false;
    return j->sig_len == mac_len && CRYPTO_memcmp(mac, j->sig, mac_len) == 0;
}

enum jwk_verdict jwk_set_verify(const struct jwk_set *s, const struct jws *j)
{
    enum key_type want = type_of(j->alg);
    bool kid_seen = false, typed = false;
    for (size_t i = 0; i < s->n; i++) {
        const struct key *k = &s->keys[i];
        if (j->kid) {
            if (!k->kid || strcmp(k->kid, j->kid) != 0)
                continue;
            kid_seen = true;
        }
        if (k->type != want)
            continue;
        typed = true;
        if (verify_hmac(k, j))
            return JWK_OK;
    }
    if (j->kid && !kid_seen)
        return JWK_UNKNOWN_KID;
    if (!typed)
        return j->kid ? JWK_KID_OTHER_TYPE : JWK_NO_KEY_FOR_ALG;
    return JWK_BAD_SIGNATURE;
}

const char *jwk_verdict_reason(enum jwk_verdict v)
{
    switch (v) {
    case JWK_OK:
        return "ok";
    case JWK_UNKNOWN_KID:
        return "unknown token kid";
    case JWK_KID_OTHER_TYPE:
        return "token kid names a key of another type";
    case JWK_NO_KEY_FOR_ALG:
        return "no key for the token's algorithm";
    case JWK_BAD_SIGNATURE:
        break;
    }
    return "invalid token signature";
}
