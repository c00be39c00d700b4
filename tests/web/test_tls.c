/* tls: loading and checking a pair (certificates and keys made here with
 * GnuTLS), the faults named in one line, reloads that keep an old pair
 * exactly as long as a socket accepted in its time is open, and threads
 * handshaking and closing while the main thread reloads. */
#include "check.h"
#include "web/tls.h"

#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/sse-tls-XXXXXX";

static char *path_of(const char *name)
{
    static char paths[16][128];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_datum(const char *path, gnutls_datum_t *d)
{
    write_file(path, d->data, d->size);
    gnutls_free(d->data);
}

/* A self-signed P-256 certificate for cn into NAME.crt, its key into
 * NAME.key; valid from `from` to `until` (seconds from now). */
static void make_pair(const char *name, const char *cn, long from, long until)
{
    static unsigned char serial = 1;
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    gnutls_datum_t out;
    time_t now = time(NULL);
    char file[64];
    int ok =
        gnutls_x509_privkey_init(&key) == 0 &&
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) == 0 &&
        gnutls_x509_crt_init(&crt) == 0 && gnutls_x509_crt_set_version(crt, 3) == 0 &&
        gnutls_x509_crt_set_serial(crt, &serial, 1) == 0 &&
        gnutls_x509_crt_set_activation_time(crt, now + from) == 0 &&
        gnutls_x509_crt_set_expiration_time(crt, now + until) == 0 &&
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)) == 0 &&
        gnutls_x509_crt_set_key(crt, key) == 0 &&
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) == 0;
    if (!ok) {
        fprintf(stderr, "could not make a certificate\n");
        exit(1);
    }
    serial++;
    snprintf(file, sizeof file, "%s.crt", name);
    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
    write_datum(path_of(file), &out);
    snprintf(file, sizeof file, "%s.key", name);
    gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out);
    write_datum(path_of(file), &out);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

/* Copies NAME.crt and NAME.key over the served files. */
static void serve(const char *name)
{
    const char *ext[] = {"crt", "key"};
    for (int i = 0; i < 2; i++) {
        char from[64], to[64], buf[8192];
        snprintf(from, sizeof from, "%s.%s", name, ext[i]);
        snprintf(to, sizeof to, "served.%s", ext[i]);
        FILE *f = fopen(path_of(from), "rb");
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        write_file(path_of(to), buf, n);
    }
}

/* The CN of the certificate tls_retrieve hands out now ("" on failure). */
static const char *served_cn(void)
{
    static char cn[64];
    gnutls_pcert_st *chain = NULL;
    unsigned n = 0;
    gnutls_privkey_t key = NULL;
    cn[0] = '\0';
    if (tls_retrieve(NULL, NULL, 0, NULL, 0, &chain, &n, &key) != 0 || n == 0 || !key)
        return cn;
    gnutls_x509_crt_t crt;
    size_t len = sizeof cn;
    gnutls_x509_crt_init(&crt);
    if (gnutls_x509_crt_import(crt, &chain[0].cert, GNUTLS_X509_FMT_DER) != 0 ||
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) != 0)
        cn[0] = '\0';
    gnutls_x509_crt_deinit(crt);
    return cn;
}

static void test_faults(void)
{
    char err[512];
    struct {
        const char *cert, *key, *want;
    } cases[] = {
        {"absent.crt", "a.key", "cannot read"},
        {"garbage", "a.key", "not a PEM certificate chain"},
        {"empty", "a.key", "empty file"},
        {"a.crt", "a.crt", "not an unencrypted PEM private key"},
        {"a.crt", "b.key", "does not belong to the certificate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cert[128], key[128];
        snprintf(cert, sizeof cert, "%s", path_of(cases[i].cert));
        snprintf(key, sizeof key, "%s", path_of(cases[i].key));
        err[0] = '\0';
        CHECK(tls_new(cert, key, err, sizeof err) == NULL);
        CHECK(strstr(err, cases[i].want) != NULL);
        CHECK(strchr(err, '\n') == NULL); /* one line */
        if (!strstr(err, cases[i].want))
            fprintf(stderr, "  case %zu: %s\n", i, err);
    }
}

static void test_load_and_describe(void)
{
    char err[512] = "", what[400];
    struct tls *t = tls_new(path_of("a.crt"), path_of("a.key"), err, sizeof err);
    CHECK(t != NULL);
    tls_describe(t, what, sizeof what);
    CHECK(strstr(what, "CN=pair a") != NULL);
    CHECK(strstr(what, "chain of 1") != NULL);
    CHECK_EQ(tls_pairs_held(t), 1);
    /* An expired certificate still loads (with a warning). */
    struct tls *old = tls_new(path_of("expired.crt"), path_of("expired.key"), err, sizeof err);
    CHECK(old != NULL);
    tls_free(old);
    tls_free(t);
}

static void test_attach(void)
{
    char err[512];
    struct tls *a = tls_new(path_of("a.crt"), path_of("a.key"), err, sizeof err);
    struct tls *b = tls_new(path_of("b.crt"), path_of("b.key"), err, sizeof err);
    gnutls_pcert_st *chain;
    unsigned n;
    gnutls_privkey_t key;
    CHECK_EQ(tls_retrieve(NULL, NULL, 0, NULL, 0, &chain, &n, &key), -1); /* none attached */
    CHECK_EQ(tls_attach(a), 0);
    CHECK_EQ(tls_attach(a), 0);
    CHECK_EQ(tls_attach(b), -1);
    CHECK_STR(served_cn(), "pair a");
    tls_free(a);
    CHECK_EQ(tls_attach(b), 0);
    CHECK_STR(served_cn(), "pair b");
    tls_free(b);
}

/* A pair is kept while a socket accepted at or before its time is open. */
static void test_reload_keeps_pairs_for_open_sockets(void)
{
    char err[512];
    serve("a");
    struct tls *t = tls_new(path_of("served.crt"), path_of("served.key"), err, sizeof err);
    CHECK_EQ(tls_attach(t), 0);
    struct tls_pair *s1 = tls_socket_opened(t); /* accepted under a */
    serve("b");
    CHECK_EQ(tls_reload(t, err, sizeof err), 0);
    CHECK_STR(served_cn(), "pair b"); /* s1's handshake, if it comes now, gets b */
    CHECK_EQ(tls_pairs_held(t), 2);
    struct tls_pair *s2 = tls_socket_opened(t); /* accepted under b */
    serve("c");
    CHECK_EQ(tls_reload(t, err, sizeof err), 0);
    CHECK_STR(served_cn(), "pair c");
    CHECK_EQ(tls_pairs_held(t), 3);
    tls_socket_closed(t, s2); /* s1 may still use a or b */
    CHECK_EQ(tls_pairs_held(t), 3);
    tls_socket_closed(t, s1);
    CHECK_EQ(tls_pairs_held(t), 1);

    /* A failed reload keeps the pair. */
    write_file(path_of("served.crt"), "garbage\n", 8);
    err[0] = '\0';
    CHECK_EQ(tls_reload(t, err, sizeof err), -1);
    CHECK(strstr(err, "served.crt") != NULL);
    CHECK_STR(served_cn(), "pair c");
    CHECK_EQ(tls_pairs_held(t), 1);
    /* With no socket open a reload frees the old pair at once. */
    serve("a");
    CHECK_EQ(tls_reload(t, err, sizeof err), 0);
    CHECK_EQ(tls_pairs_held(t), 1);
    tls_free(t);
}

/* Workers accept, handshake (read the handed-out certificate's bytes) and
 * close while the main thread reloads: a pair freed too early is a
 * use-after-free for the sanitizers to find. */
static _Atomic bool stop;
static struct tls *shared;

static void *worker(void *arg)
{
    unsigned long sum = 0, rounds = 0;
    while (!atomic_load(&stop) || rounds < 100) {
        struct tls_pair *p = tls_socket_opened(shared);
        gnutls_pcert_st *chain;
        unsigned n;
        gnutls_privkey_t key;
        if (tls_retrieve(NULL, NULL, 0, NULL, 0, &chain, &n, &key) == 0)
            for (unsigned i = 0; i < chain[0].cert.size; i++)
                sum += chain[0].cert.data[i];
        tls_socket_closed(shared, p);
        rounds++;
    }
    *(unsigned long *)arg = sum;
    return NULL;
}

static void test_threads(void)
{
    char err[512];
    serve("a");
    shared = tls_new(path_of("served.crt"), path_of("served.key"), err, sizeof err);
    CHECK_EQ(tls_attach(shared), 0);
    pthread_t th[2];
    unsigned long sums[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, &sums[i]);
    int reloads = 0;
    for (int i = 0; i < 40; i++) {
        serve(i % 2 ? "a" : "b");
        reloads += tls_reload(shared, err, sizeof err) == 0;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(reloads, 40);
    CHECK(sums[0] > 0 && sums[1] > 0);
    CHECK_EQ(tls_pairs_held(shared), 1);
    tls_free(shared);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_pair("a", "pair a", -60, 3600);
    make_pair("b", "pair b", -60, 3600);
    make_pair("c", "pair c", -60, 3600);
    make_pair("expired", "expired", -7200, -3600);
    write_file(path_of("garbage"), "-----BEGIN CERTIFICATE-----\nnot base64\n", 40);
    write_file(path_of("empty"), "", 0);

    test_faults();
    test_load_and_describe();
    test_attach();
    test_reload_keeps_pairs_for_open_sockets();
    test_threads();

    const char *files[] = {"a.crt",   "a.key", "b.crt",       "b.key",
                           "c.crt",   "c.key", "expired.crt", "expired.key",
                           "garbage", "empty", "served.crt",  "served.key"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(path_of(files[i]));
    rmdir(dir);
    return CHECK_DONE();
}
