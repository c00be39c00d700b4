/*
 * jwk: verification keys and signatures over OpenSSL 3. Keys come from the
 * HS256 secret, PEM public keys (SubjectPublicKeyInfo) and JWKS documents
 * (web/jwks.c). Each key's type
 * binds the algorithms it verifies, so an HS256 token never meets an RSA key
 * (no alg confusion). HMAC tags are compared in constant time. Keys are
 * never modified once added, so verifying needs no lock; OpenSSL 3 allows
 * one EVP_PKEY to be used by several threads at once.
 */
#include "web/jwk.h"
#include "web/jwks.h"
#include "common/xalloc.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS     64
#define MAX_FILE     (1024 * 1024)
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 16384

enum key_type { KEY_HMAC, KEY_RSA, KEY_EC256, KEY_EC384 };

struct key {
    enum key_type type;
    char *kid;             /* NULL: none (the secret, PEM keys) */
    enum jws_alg only;     /* a JWK's "alg"; JWS_ALG_NONE: any alg of the type */
    unsigned char *secret; /* KEY_HMAC */
    size_t secret_len;
    EVP_PKEY *pkey; /* the others */
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
        EVP_PKEY_free(s->keys[i].pkey);
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

/* The type of a public key; false with *why set when it is not one we verify. */
static bool classify(EVP_PKEY *p, enum key_type *type, const char **why)
{
    if (EVP_PKEY_is_a(p, "RSA")) {
        int bits = EVP_PKEY_get_bits(p);
        BIGNUM *e = NULL;
        bool odd = EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
                   !BN_is_one(e);
        BN_free(e);
        *type = KEY_RSA;
        *why = bits < MIN_RSA_BITS   ? "RSA key shorter than 2048 bits"
               : bits > MAX_RSA_BITS ? "RSA key longer than 16384 bits"
               : !odd                ? "RSA key with an exponent that is even or 1"
                                     : NULL;
        return !*why;
    }
    char group[64] = "";
    if (EVP_PKEY_is_a(p, "EC") && EVP_PKEY_get_group_name(p, group, sizeof group, NULL) == 1) {
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *type = KEY_EC256;
            return true;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *type = KEY_EC384;
            return true;
        }
        *why = "EC key on a curve other than P-256 or P-384";
        return false;
    }
    *why = "not an RSA or EC public key";
    return false;
}

int jwk_set_add_pkey(struct jwk_set *s, EVP_PKEY *p, const char *kid, enum jws_alg only,
                     const char **why)
{
    enum key_type type;
    if (!classify(p, &type, why))
        goto fail;
    if (s->n >= MAX_KEYS) {
        *why = "more than 64 keys";
        goto fail;
    }
    struct key *k = add_key(s, type);
    k->pkey = p;
    k->kid = kid ? xstrdup(kid) : NULL;
    k->only = only;
    return 0;
fail:
    EVP_PKEY_free(p);
    return -1;
}

/* Every "PUBLIC KEY" block of text (SubjectPublicKeyInfo); other blocks,
 * such as a private key or a certificate, are passed over unread. */
static int add_pem(struct jwk_set *s, const char *text, size_t len, const char **why)
{
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len;
    int added = 0, rc = -1;
    ERR_clear_error();
    while (PEM_read_bio(bio, &name, &header, &der, &der_len) == 1) {
        if (strcmp(name, PEM_STRING_PUBLIC) == 0) {
            const unsigned char *p = der;
            EVP_PKEY *k = d2i_PUBKEY(NULL, &p, der_len);
            if (!k || p != der + der_len) {
                EVP_PKEY_free(k);
                *why = "malformed PEM public key";
                goto done;
            }
            if (jwk_set_add_pkey(s, k, NULL, JWS_ALG_NONE, why) != 0)
                goto done;
            added++;
        }
        OPENSSL_free(name), OPENSSL_free(header), OPENSSL_free(der);
        name = header = NULL, der = NULL;
    }
    /* The loop ends at the end of the text, or at a block it cannot read. */
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
        *why = "malformed PEM public key";
    else if (!added)
        *why = "no PEM public key (BEGIN PUBLIC KEY) and not a JWKS document";
    else
        rc = 0;
done:
    OPENSSL_free(name), OPENSSL_free(header), OPENSSL_free(der);
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

int jwk_set_add_text(struct jwk_set *s, const char *text, size_t len, const char *origin,
                     size_t *skipped, char *err, size_t errlen)
{
    const char *why = NULL;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    int rc = i < len && text[i] == '{' ? jwks_add(s, text, len, skipped, &why)
                                       : add_pem(s, text, len, &why);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", origin, why ? why : "invalid key");
    return rc;
}

int jwk_set_add_file(struct jwk_set *s, const char *path, size_t *skipped, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open the key file", path);
        return -1;
    }
    char *text = xmalloc(MAX_FILE + 1);
    size_t n = fread(text, 1, MAX_FILE + 1, f);
    bool failed = ferror(f);
    fclose(f);
    int rc = -1;
    if (failed)
        snprintf(err, errlen, "%s: cannot read the key file", path);
    else if (n > MAX_FILE)
        snprintf(err, errlen, "%s: key file larger than 1 MiB", path);
    else
        rc = jwk_set_add_text(s, text, n, path, skipped, err, errlen);
    free(text);
    return rc;
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

static const EVP_MD *digest_of(enum jws_alg alg)
{
    switch (alg) {
    case JWS_RS384:
    case JWS_ES384:
        return EVP_sha384();
    case JWS_RS512:
        return EVP_sha512();
    default:
        return EVP_sha256();
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

/* A JWS ECDSA signature is r || s, each as wide as the curve's order;
 * OpenSSL wants the DER SEQUENCE. Returns its length, 0 if malformed. */
static int ecdsa_der(const struct jws *j, size_t coord, unsigned char **der)
{
    if (j->sig_len != 2 * coord)
        return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(j->sig, (int)coord, NULL);
    BIGNUM *s = BN_bin2bn(j->sig + coord, (int)coord, NULL);
    int n = 0;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* the signature owns them now */
        n = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return n > 0 ? n : 0;
}

static bool verify_pkey(const struct key *k, const struct jws *j)
{
    const unsigned char *sig = j->sig;
    size_t sig_len = j->sig_len;
    unsigned char *der = NULL;
    if (k->type == KEY_EC256 || k->type == KEY_EC384) {
        int n = ecdsa_der(j, k->type == KEY_EC256 ? 32 : 48, &der);
        if (!n)
            return false;
        sig = der, sig_len = (size_t)n;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, digest_of(j->alg), NULL, k->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)j->signed_part,
                               j->signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error(); /* a failed check leaves entries in this thread's queue */
    return ok;
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
        if (k->type != want || (k->only != JWS_ALG_NONE && k->only != j->alg))
            continue;
        typed = true;
        if (k->type == KEY_HMAC ? verify_hmac(k, j) : verify_pkey(k, j))
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
