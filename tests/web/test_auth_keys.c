/*
 * Tests of JWT keys: RSA and EC public keys from PEM and JWKS files, the kid
 * selecting the key, alg bound to the key's type (alg confusion, none), JWKs
 * passed over or refused, reload (rotation, a failed reload keeping the old
 * keys) and checks racing reloads on several threads. Keys are generated
 * here with OpenSSL (tests/web/tokens.h).
 */
#include "check.h"
#include "web/auth.h"
#include "web/tokens.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <unistd.h>

#define NOW    1800000000LL
#define CLAIMS "{\"sse\":{\"subscribe\":[\"orders:*\"]},\"exp\":1800000100}"

static const char *last_reason;

static enum auth_result check(const struct auth *a, const char *token)
{
    const char *streams[] = {"orders:1"};
    int64_t exp;
    enum auth_result r = auth_check(a, token, NOW, AUTH_SUBSCRIBE, streams, 1, &exp, &last_reason);
    return r;
}

static struct auth *from_files(const char *const *files, size_t n, const char *secret, char *err)
{
    return auth_new(&(struct auth_config){.key_files = files, .nkey_files = n, .secret = secret},
                    err, 256);
}

/* "{"keys":[a,b,…]}" from JWK texts; NULL ends the list. */
static char *jwks(const char *first, ...)
{
    char *out = malloc(65536);
    size_t n = (size_t)snprintf(out, 65536, "{\"keys\":[");
    va_list ap;
    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *))
        n += (size_t)snprintf(out + n, 65536 - n, "%s%s", k == first ? "" : ",", k);
    va_end(ap);
    snprintf(out + n, 65536 - n, "]}");
    return out;
}

static EVP_PKEY *rsa1, *rsa2, *p256, *p256b, *p384;

static void test_pem(void)
{
    char err[256];
    char *rsa_pem = public_pem(rsa1), *ec_pem = public_pem(p256), *ec384_pem = public_pem(p384);
    /* One file with two keys, one with one. */
    size_t both_len = strlen(rsa_pem) + strlen(ec_pem) + 1;
    char *both = malloc(both_len);
    snprintf(both, both_len, "%s%s", rsa_pem, ec_pem);
    char *f1 = write_temp("pem", both), *f2 = write_temp("pem", ec384_pem);
    const char *files[] = {f1, f2};
    struct auth *a = from_files(files, 2, NULL, err);
    CHECK(a != NULL);
    size_t keys, skipped;
    auth_key_count(a, &keys, &skipped);
    CHECK_EQ(keys, 3);

    const char *ok[][2] = {
        {"RS256", "r"}, {"RS384", "r"}, {"RS512", "r"}, {"ES256", "p"}, {"ES384", "q"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        EVP_PKEY *k = ok[i][1][0] == 'r' ? rsa1 : ok[i][1][0] == 'p' ? p256 : p384;
        char *t = make_signed(k, ok[i][0], NULL, CLAIMS);
        CHECK_EQ(check(a, t), AUTH_OK);
        free(t);
    }
    /* Another key of the right type, and alg against the key's curve. */
    char *other = make_signed(rsa2, "RS256", NULL, CLAIMS);
    CHECK_EQ(check(a, other), AUTH_UNAUTHORIZED);
    CHECK_STR(last_reason, "invalid token signature");
    char *es384_on_p256 = make_signed(p256, "ES384", NULL, CLAIMS); /* 64-byte signature */
    CHECK_EQ(check(a, es384_on_p256), AUTH_UNAUTHORIZED);
    /* Alg confusion: HS256 keyed with the RSA public key's PEM text. */
    char *confused = make_hmac_kid("HS256", EVP_sha256(), rsa_pem, strlen(rsa_pem), NULL, CLAIMS);
    CHECK_EQ(check(a, confused), AUTH_UNAUTHORIZED);
    CHECK_STR(last_reason, "no key for the token's algorithm");
    /* The same with a secret configured too: the secret is the only HS256 key. */
    struct auth *with_secret = from_files(files, 2, "a-secret", err);
    CHECK_EQ(check(with_secret, confused), AUTH_UNAUTHORIZED);
    CHECK_STR(last_reason, "invalid token signature");
    char *hs = make_hmac("HS256", EVP_sha256(), "a-secret", CLAIMS);
    CHECK_EQ(check(with_secret, hs), AUTH_OK);
    CHECK_EQ(check(a, hs), AUTH_UNAUTHORIZED); /* no secret: no HS256 */
    /* alg none, signed or not. */
    char *none = signing_input("{\"alg\":\"none\"}", CLAIMS);
    size_t nlen = strlen(none) + 2;
    char *none_dot = malloc(nlen);
    snprintf(none_dot, nlen, "%s.", none);
    CHECK_EQ(check(a, none_dot), AUTH_UNAUTHORIZED);
    CHECK_STR(last_reason, "unsupported token algorithm");
    char *none_signed = make_signed(rsa1, "RS256", NULL, CLAIMS);
    memcpy(none_signed, none, strchr(none, '.') - none); /* header swapped: no longer verifies */
    CHECK_EQ(check(a, none_signed), AUTH_UNAUTHORIZED);
    /* A PEM key has no kid: a token naming one is refused. */
    char *with_kid = make_signed(rsa1, "RS256", "r1", CLAIMS);
    CHECK_EQ(check(a, with_kid), AUTH_UNAUTHORIZED);
    CHECK_STR(last_reason, "unknown token kid");

    for (char **s = (char *[]){rsa_pem, ec_pem, ec384_pem, both, other, es384_on_p256, confused, hs,
                               none, none_dot, none_signed, with_kid, NULL};
         *s; s++)
        free(*s);
    auth_free(a);
    auth_free(with_secret);
    unlink(f1);
    unlink(f2);
    free(f1);
    free(f2);
}

static void test_jwks(void)
{
    char err[256];
    char *jr = public_jwk(rsa1, "r1", "\"use\":\"sig\",\"alg\":\"RS256\",");
    char *je = public_jwk(p256, "e1", "");
    char *jq = public_jwk(p384, "q1", "\"key_ops\":[\"verify\"],");
    char *enc = public_jwk(rsa2, "enc1", "\"use\":\"enc\",");
    char *ps = public_jwk(rsa2, "ps1", "\"alg\":\"PS256\",");
    char *doc = jwks(jr, je, jq, enc, ps, "{\"kty\":\"oct\",\"kid\":\"o1\",\"k\":\"c2VjcmV0\"}",
                     "{\"kty\":\"EC\",\"crv\":\"P-521\",\"kid\":\"big\",\"x\":\"AA\",\"y\":\"AA\"}",
                     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}", NULL);
    char *path = write_temp("jwks", doc);
    const char *files[] = {path};
    struct auth *a = from_files(files, 1, NULL, err);
    CHECK(a != NULL);
    size_t keys = 0, skipped = 0;
    if (a)
        auth_key_count(a, &keys, &skipped);
    CHECK_EQ(keys, 3);
    CHECK_EQ(skipped, 5);

    static const struct {
        const char *alg, *kid;
        char key;
        enum auth_result want;
        const char *reason;
    } cases[] = {
        {"RS256", "r1", 'r', AUTH_OK, "ok"},
        {"ES256", "e1", 'e', AUTH_OK, "ok"},
        {"ES384", "q1", 'q', AUTH_OK, "ok"},
        {"RS256", NULL, 'r', AUTH_OK, "ok"}, /* no kid: every RSA key is tried */
        {"ES256", NULL, 'e', AUTH_OK, "ok"},
        {"RS384", "r1", 'r', AUTH_UNAUTHORIZED, "token kid names a key of another type"},
        {"RS256", "e1", 'r', AUTH_UNAUTHORIZED, "token kid names a key of another type"},
        {"ES256", "q1", 'e', AUTH_UNAUTHORIZED, "token kid names a key of another type"},
        {"RS256", "nope", 'r', AUTH_UNAUTHORIZED, "unknown token kid"},
        {"RS256", "enc1", 'R', AUTH_UNAUTHORIZED, "unknown token kid"}, /* passed over */
        {"RS256", "r1", 'R', AUTH_UNAUTHORIZED, "invalid token signature"},
        {"ES256", "e1", 'E', AUTH_UNAUTHORIZED, "invalid token signature"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        EVP_PKEY *k = cases[i].key == 'r'   ? rsa1
                      : cases[i].key == 'R' ? rsa2
                      : cases[i].key == 'e' ? p256
                      : cases[i].key == 'E' ? p256b
                                            : p384;
        char *t = make_signed(k, cases[i].alg, cases[i].kid, CLAIMS);
        CHECK_EQ(check(a, t), cases[i].want);
        CHECK_STR(last_reason, cases[i].reason);
        free(t);
    }
    auth_free(a);
    for (char **s = (char *[]){jr, je, jq, enc, ps, doc, NULL}; *s; s++)
        free(*s);
    unlink(path);
    free(path);
}

/* Files that must not load, each with the start of its error. */
static void test_bad_files(void)
{
    EVP_PKEY *small = rsa_key(1024);
    char *small_pem = public_pem(small);
    char *jr = public_jwk(rsa1, "r1", "");
    char *je = public_jwk(p256, "e1", "");
    /* A point off the curve: y + 1. */
    char *off = strdup(je);
    char *y = strstr(off, "\"y\":\"") + 5;
    y[0] = y[0] == 'A' ? 'B' : 'A';
    char *off_doc = jwks(off, NULL);
    char *only_enc = public_jwk(rsa1, "x", "\"use\":\"enc\",");
    char *only_enc_doc = jwks(only_enc, NULL);
    char *wrong_alg = public_jwk(rsa1, "x", "\"alg\":\"ES256\",");
    char *wrong_alg_doc = jwks(wrong_alg, NULL);
    char *even_e = strdup(jr);
    char *e = strstr(even_e, "\"e\":\"") + 5; /* AQAB (65537) → AQAC (65538) */
    e[3] = 'C';
    char *even_doc = jwks(even_e, NULL);
    char *bad_n = jwks("{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}", NULL);
    char *priv = NULL;
    {
        BIO *b = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(b, rsa1, NULL, NULL, 0, NULL, NULL);
        char *data;
        long n = BIO_get_mem_data(b, &data);
        priv = strndup(data, (size_t)n);
        BIO_free(b);
    }
    char *ec_pem = public_pem(p256);
    char *truncated = strdup(ec_pem);
    truncated[strlen(truncated) / 2] = '\0';
    size_t tl = strlen(ec_pem) * 2 + 2;
    char *good_then_bad = malloc(tl);
    snprintf(good_then_bad, tl, "%s%s\n", ec_pem, truncated);
    const struct {
        const char *text, *why;
    } cases[] = {
        {small_pem, "RSA key shorter than 2048 bits"},
        {off_doc, "EC JWK without a valid point"},
        {only_enc_doc, "no RS256/384/512 or ES256/384 signing key"},
        {wrong_alg_doc, "a JWK whose alg does not fit"},
        {even_doc, "RSA key with an exponent that is even or 1"},
        {bad_n, "RSA JWK without valid base64url n and e"},
        {"{\"keys\":{}}", "a JWKS document needs a \"keys\" array"},
        {"{\"keys\":[1]}", "a JWK needs a string kty"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":5,\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
         "a JWK needs a string kty"},
        {"{\"keys\":[", "not valid JSON"},
        {priv, "no PEM public key"},
        {"", "no PEM public key"},
        {truncated, "malformed PEM public key"},
        {good_then_bad, "malformed PEM public key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        char *path = write_temp("bad", cases[i].text);
        const char *files[] = {path};
        struct auth *a = from_files(files, 1, NULL, err);
        CHECK(a == NULL);
        const char *colon = strstr(err, ": ");
        CHECK(strncmp(err, path, strlen(path)) == 0 && colon &&
              strncmp(colon + 2, cases[i].why, strlen(cases[i].why)) == 0);
        if (!colon || strncmp(colon + 2, cases[i].why, strlen(cases[i].why)) != 0)
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, err, cases[i].why);
        auth_free(a);
        unlink(path);
        free(path);
    }
    char err[256];
    const char *missing[] = {"/nonexistent/keys.pem"};
    CHECK(from_files(missing, 1, NULL, err) == NULL);
    CHECK_STR(err, "/nonexistent/keys.pem: cannot open the key file");
    EVP_PKEY_free(small);
    for (char **s = (char *[]){small_pem, jr, je, off, off_doc, only_enc, only_enc_doc, wrong_alg,
                               wrong_alg_doc, even_e, even_doc, bad_n, priv, ec_pem, truncated,
                               good_then_bad, NULL};
         *s; s++)
        free(*s);
}

/* Rotation: the JWKS file rewritten, then reloaded. */
static void test_reload(void)
{
    char err[256];
    char *ja = public_jwk(rsa1, "a", ""), *jb = public_jwk(rsa2, "b", "");
    char *only_a = jwks(ja, NULL), *a_b = jwks(ja, jb, NULL), *only_b = jwks(jb, NULL);
    char *path = write_temp("rot", only_a);
    const char *files[] = {path};
    struct auth *a = from_files(files, 1, NULL, err);
    char *ta = make_signed(rsa1, "RS256", "a", CLAIMS),
         *tb = make_signed(rsa2, "RS256", "b", CLAIMS);
    CHECK_EQ(check(a, ta), AUTH_OK);
    CHECK_EQ(check(a, tb), AUTH_UNAUTHORIZED);
    rewrite(path, a_b); /* the new key published beside the old one */
    CHECK_EQ(auth_reload(a, err, sizeof err), 0);
    CHECK_EQ(check(a, ta), AUTH_OK);
    CHECK_EQ(check(a, tb), AUTH_OK);
    rewrite(path, only_b); /* the old one withdrawn */
    CHECK_EQ(auth_reload(a, err, sizeof err), 0);
    CHECK_EQ(check(a, ta), AUTH_UNAUTHORIZED);
    CHECK_STR(last_reason, "unknown token kid");
    CHECK_EQ(check(a, tb), AUTH_OK);
    /* A broken file or a missing one: the reload fails, the keys stay. */
    rewrite(path, "{\"keys\":[{\"kty\":");
    CHECK_EQ(auth_reload(a, err, sizeof err), -1);
    CHECK(strstr(err, "not valid JSON") != NULL);
    CHECK_EQ(check(a, tb), AUTH_OK);
    unlink(path);
    CHECK_EQ(auth_reload(a, err, sizeof err), -1);
    CHECK(strstr(err, "cannot open") != NULL);
    CHECK_EQ(check(a, tb), AUTH_OK);
    auth_free(a);
    for (char **s = (char *[]){ja, jb, only_a, a_b, only_b, path, ta, tb, NULL}; *s; s++)
        free(*s);
}

/* Checks on four threads while the main thread reloads between two files
 * that both list key b: a b token must pass every time. Meant for TSan/ASan. */
struct racer {
    const struct auth *a;
    const char *token;
    _Atomic bool *stop;
    long checks, failures;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    const char *streams[] = {"orders:1"};
    while (!atomic_load(r->stop) || r->checks < 50) {
        int64_t exp;
        const char *reason;
        if (auth_check(r->a, r->token, NOW, AUTH_SUBSCRIBE, streams, 1, &exp, &reason) != AUTH_OK)
            r->failures++;
        r->checks++;
    }
    return NULL;
}

static void test_reload_race(void)
{
    char err[256];
    char *ja = public_jwk(rsa1, "a", ""), *jb = public_jwk(rsa2, "b", ""),
         *je = public_jwk(p256, "e", "");
    char *one = jwks(ja, jb, NULL), *two = jwks(jb, je, NULL);
    char *path = write_temp("race", one);
    const char *files[] = {path};
    struct auth *a = from_files(files, 1, NULL, err);
    char *tb = make_signed(rsa2, "RS256", "b", CLAIMS);
    _Atomic bool stop = false;
    struct racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){.a = a, .token = tb, .stop = &stop};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    int reloads = 0;
    for (int i = 0; i < 40; i++) {
        rewrite(path, i % 2 ? one : two);
        reloads += auth_reload(a, err, sizeof err) == 0;
    }
    atomic_store(&stop, true);
    long checks = 0, failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        checks += r[i].checks;
        failures += r[i].failures;
    }
    CHECK_EQ(reloads, 40);
    CHECK_EQ(failures, 0);
    CHECK(checks >= 200);
    printf("reload race: %d reloads, %ld checks, %ld failures\n", reloads, checks, failures);
    auth_free(a);
    unlink(path);
    for (char **s = (char *[]){ja, jb, je, one, two, path, tb, NULL}; *s; s++)
        free(*s);
}

int main(void)
{
    rsa1 = rsa_key(2048);
    rsa2 = rsa_key(2048);
    p256 = ec_key("P-256");
    p256b = ec_key("P-256");
    p384 = ec_key("P-384");
    CHECK(rsa1 && rsa2 && p256 && p256b && p384);
    test_pem();
    test_jwks();
    test_bad_files();
    test_reload();
    test_reload_race();
    EVP_PKEY_free(rsa1);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p256b);
    EVP_PKEY_free(p384);
    return CHECK_DONE();
}
