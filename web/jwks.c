/*
 * jwks: JSON Web Key Set documents (a "keys" array, or one JWK on its own)
 * read with cJSON: RSA keys from n and e, EC keys from crv, x and y, built
 * with EVP_PKEY_fromdata (which refuses a point off its curve). A key's
 * "alg", when given, binds it to that algorithm alone. Keys that are not
 * for signatures ("use", "key_ops") or of a kind this gateway does not
 * verify are passed over: an identity provider's set may well hold them.
 */
#include "web/jwks.h"
#include "web/jwk.h"

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A base64url member of a JWK as a heap buffer, or NULL. */
static unsigned char *member_bytes(const cJSON *jwk, const char *name, size_t *len)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, name));
    return v ? jws_base64url_decode(v, strlen(v), len) : NULL;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *p = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &p, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(p);
        p = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return p;
}

static EVP_PKEY *rsa_from_jwk(const cJSON *jwk, const char **why)
{
    size_t nlen = 0, elen = 0;
    unsigned char *n = member_bytes(jwk, "n", &nlen), *e = member_bytes(jwk, "e", &elen);
    BIGNUM *bn = n && nlen ? BN_bin2bn(n, (int)nlen, NULL) : NULL;
    BIGNUM *be = e && elen && elen <= 8 ? BN_bin2bn(e, (int)elen, NULL) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *p = NULL;
    if (bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        p = from_params("RSA", bld);
    if (!p)
        *why = "RSA JWK without valid base64url n and e";
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return p;
}

static EVP_PKEY *ec_from_jwk(const cJSON *jwk, const char *crv, const char **why)
{
    bool p256 = strcmp(crv, "P-256") == 0;
    size_t coord = p256 ? 32 : 48, xlen = 0, ylen = 0;
    unsigned char *x = member_bytes(jwk, "x", &xlen), *y = member_bytes(jwk, "y", &ylen);
    unsigned char point[1 + 2 * 48];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *p = NULL;
    if (x && y && xlen == coord && ylen == coord) {
        /* Uncompressed SEC 1 point; the import refuses one off the curve. */
        point[0] = 0x04;
        memcpy(point + 1, x, coord);
        memcpy(point + 1 + coord, y, coord);
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            p256 ? "prime256v1" : "secp384r1", 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord) ==
                1)
            p = from_params("EC", bld);
    }
    if (!p)
        *why = "EC JWK without a valid point x, y on its curve";
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return p;
}

/* Does the JWK's "use"/"key_ops" allow verifying signatures? */
static bool for_signatures(const cJSON *jwk)
{
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");
    if (use && !(cJSON_IsString(use) && strcmp(use->valuestring, "sig") == 0))
        return false;
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(jwk, "key_ops");
    if (!ops)
        return true;
    const cJSON *op;
    cJSON_ArrayForEach(op, ops)
    {
        if (cJSON_IsString(op) && strcmp(op->valuestring, "verify") == 0)
            return true;
    }
    return false;
}

/* One JWK: 1 added, 0 skipped (not ours to use), -1 invalid. */
static int add_jwk(struct jwk_set *s, const cJSON *jwk, const char **why)
{
    const char *kty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kty"));
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
    const char *crv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "crv"));
    if (!cJSON_IsObject(jwk) || !kty || (kid && !cJSON_IsString(kid)) ||
        (alg && !cJSON_IsString(alg))) {
        *why = "a JWK needs a string kty; kid and alg must be strings";
        return -1;
    }
    /* Encryption keys, symmetric keys (HS256 only with the secret), other
     * curves and algorithms: an identity provider's set may hold them. */
    bool rsa = strcmp(kty, "RSA") == 0, ec = strcmp(kty, "EC") == 0;
    if (!for_signatures(jwk) || !(rsa || ec))
        return 0;
    if (ec && (!crv || (strcmp(crv, "P-256") != 0 && strcmp(crv, "P-384") != 0)))
        return 0;
    enum jws_alg only = alg ? jws_alg_from_name(alg->valuestring) : JWS_ALG_NONE;
    if (alg && only == JWS_ALG_NONE)
        return 0;
    bool fits =
        rsa ? (only == JWS_ALG_NONE || only == JWS_RS256 || only == JWS_RS384 || only == JWS_RS512)
            : (only == JWS_ALG_NONE || only == (strcmp(crv, "P-256") == 0 ? JWS_ES256 : JWS_ES384));
    if (!fits) {
        *why = "a JWK whose alg does not fit its kty or crv";
        return -1;
    }
    EVP_PKEY *p = rsa ? rsa_from_jwk(jwk, why) : ec_from_jwk(jwk, crv, why);
    ERR_clear_error();
    if (!p || jwk_set_add_pkey(s, p, kid ? kid->valuestring : NULL, only, why) != 0)
        return -1;
    return 1;
}

int jwks_add(struct jwk_set *s, const char *text, size_t len, size_t *skipped, const char **why)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    int added = 0, rc = -1;
    if (!cJSON_IsObject(root)) {
        *why = "not valid JSON";
        goto done;
    }
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
    if (!keys && cJSON_GetObjectItemCaseSensitive(root, "kty")) {
        rc = add_jwk(s, root, why); /* one JWK on its own */
        added = rc > 0;
        *skipped += rc == 0;
    } else if (cJSON_IsArray(keys)) {
        const cJSON *k;
        cJSON_ArrayForEach(k, keys)
        {
            if ((rc = add_jwk(s, k, why)) < 0)
                goto done;
            added += rc;
            *skipped += rc == 0;
        }
    } else {
        *why = "a JWKS document needs a \"keys\" array";
        goto done;
    }
    rc = -1;
    if (added)
        rc = 0;
    else if (!*why)
        *why = "no RS256/384/512 or ES256/384 signing key in the JWKS document";
done:
    cJSON_Delete(root);
    return rc;
}
