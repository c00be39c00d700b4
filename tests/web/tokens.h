/*
 * tokens: JWTs and keys made in the tests with OpenSSL (never copied
 * strings): base64url, HMAC and RSA/ECDSA signatures, PEM and JWK text.
 * Static inline so each test takes what it uses.
 */
#ifndef SSE_TEST_TOKENS_H
#define SSE_TEST_TOKENS_H

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *b64url_bytes(const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 2 + 4), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
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

static inline char *b64url(const char *s)
{
    return b64url_bytes((const unsigned char *)s, strlen(s));
}

/* "header.payload" for a header JSON and claims JSON. */
static inline char *signing_input(const char *header, const char *claims)
{
    char *h = b64url(header), *p = b64url(claims);
    size_t n = strlen(h) + strlen(p) + 2;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s", h, p);
    free(h);
    free(p);
    return out;
}

/* input + "." + base64url(sig); frees input. */
static inline char *with_sig(char *input, const unsigned char *sig, size_t sig_len)
{
    char *s = b64url_bytes(sig, sig_len);
    size_t n = strlen(input) + strlen(s) + 2;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s", input, s);
    free(s);
    free(input);
    return out;
}

/* The header {"alg":alg[,"kid":kid],"typ":"JWT"}. */
static inline void header_json(char *out, size_t n, const char *alg, const char *kid)
{
    if (kid)
        snprintf(out, n, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
    else
        snprintf(out, n, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
}

/* An HMAC token: md is the hash, alg the header's alg (they may disagree on purpose). */
static inline char *make_hmac_kid(const char *alg, const EVP_MD *md, const void *key,
                                  size_t key_len, const char *kid, const char *claims)
{
    char header[256];
    header_json(header, sizeof header, alg, kid);
    char *input = signing_input(header, claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key, (int)key_len, (unsigned char *)input, strlen(input), mac, &len);
    return with_sig(input, mac, len);
}

static inline char *make_hmac(const char *alg, const EVP_MD *md, const char *key,
                              const char *claims)
{
    return make_hmac_kid(alg, md, key, strlen(key), NULL, claims);
}

/* An RS* or ES* token signed with the private key k; ECDSA signatures are
 * turned from DER into r || s of coord bytes each (coord 0 for RSA). */
static inline char *make_signed(EVP_PKEY *k, const char *alg, const char *kid, const char *claims)
{
    const EVP_MD *md = strstr(alg, "384")   ? EVP_sha384()
                       : strstr(alg, "512") ? EVP_sha512()
                                            : EVP_sha256();
    size_t coord = alg[0] == 'E' ? (strstr(alg, "384") ? 48 : 32) : 0;
    char header[256];
    header_json(header, sizeof header, alg, kid);
    char *input = signing_input(header, claims);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, NULL, md, NULL, k);
    EVP_DigestSign(ctx, NULL, &len, (unsigned char *)input, strlen(input));
    unsigned char *sig = malloc(len);
    EVP_DigestSign(ctx, sig, &len, (unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(ctx);
    if (coord) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        unsigned char *raw = malloc(2 * coord);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        len = 2 * coord;
    }
    char *t = with_sig(input, sig, len);
    free(sig);
    return t;
}

static inline EVP_PKEY *rsa_key(unsigned bits)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static inline EVP_PKEY *ec_key(const char *curve)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

/* The public half of k as PEM text (heap). */
static inline char *public_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

static inline char *b64url_bn(const BIGNUM *bn, int width)
{
    int n = width ? width : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)n);
    BN_bn2binpad(bn, buf, n);
    char *out = b64url_bytes(buf, (size_t)n);
    free(buf);
    return out;
}

/* The public half of k as one JWK object with kid and extra members
 * (e.g. "\"use\":\"sig\"," or ""), heap text. */
static inline char *public_jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
    char *out = malloc(4096);
    if (EVP_PKEY_is_a(k, "RSA")) {
        BIGNUM *n = NULL, *e = NULL;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
        char *ns = b64url_bn(n, 0), *es = b64url_bn(e, 0);
        snprintf(out, 4096, "{%s\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", extra,
                 kid, ns, es);
        free(ns);
        free(es);
        BN_free(n);
        BN_free(e);
    } else {
        char group[64];
        EVP_PKEY_get_group_name(k, group, sizeof group, NULL);
        int p256 = strcmp(group, "prime256v1") == 0;
        BIGNUM *x = NULL, *y = NULL;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
        char *xs = b64url_bn(x, p256 ? 32 : 48), *ys = b64url_bn(y, p256 ? 32 : 48);
        snprintf(out, 4096,
                 "{%s\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
                 extra, kid, p256 ? "P-256" : "P-384", xs, ys);
        free(xs);
        free(ys);
        BN_free(x);
        BN_free(y);
    }
    return out;
}

/* Writes text to a fresh file under /tmp named after tag; returns its path (heap). */
static inline char *write_temp(const char *tag, const char *text)
{
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/sse-%s-XXXXXX", tag);
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Replaces the file at path with text, atomically (write, then rename). */
static inline void rewrite(const char *path, const char *text)
{
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, path);
}

#endif
