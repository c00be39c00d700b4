/*
 * tls: the pairs form a list, oldest first, whose newest is the one served.
 * Each counts the sockets accepted while it was the newest and still open.
 * A socket's handshake may come after a reload, so it may use any pair from
 * the one current at its accept to the newest; GnuTLS keeps pointing at the
 * pair it used until the session is freed. So a retired pair is freed once
 * no socket accepted at or before its time is open: the list is cut from
 * the oldest end while its head is retired and counts no socket.
 *
 * A handshake takes the mutex to read the newest pair; accepting and
 * closing a socket take it to count. Loading a pair (file reads, parsing,
 * the key check) happens outside it.
 *
 * Does not: choose by server name (one pair for every name), staple OCSP,
 * or read encrypted keys.
 */
#include "web/tls.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Certificates in a chain: a leaf and its intermediates fit many times over. */
#define MAX_CHAIN 16
/* Larger files are refused before parsing: a PEM chain is a few KiB. */
#define MAX_FILE (1024 * 1024)

struct tls_pair {
    gnutls_pcert_st chain[MAX_CHAIN]; /* fixed after load: leaf first */
    unsigned nchain;
    gnutls_privkey_t key;   /* fixed after load */
    size_t sockets;         /* guarded by tls->mtx */
    struct tls_pair *newer; /* guarded by tls->mtx */
    char what[320];         /* fixed after load: subject, serial, expiry */
};

struct tls {
    char *cert_file, *key_file; /* fixed after start */
    pthread_mutex_t mtx;
    struct tls_pair *oldest, *newest; /* guarded by mtx; newest is served */
};

/* The struct tls GnuTLS's callback serves (tls_attach). */
static _Atomic(struct tls *) attached;

/* Reads a whole file into a gnutls datum (freed with free()). */
static int read_file(const char *path, gnutls_datum_t *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = xmalloc(MAX_FILE + 1);
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > MAX_FILE || n == 0) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 failed ? "read error"
                 : n    ? "larger than 1 MiB"
                        : "empty file");
        free(buf);
        return -1;
    }
    out->data = buf;
    out->size = (unsigned)n;
    return 0;
}

/* Frees a file's bytes, cleared first: the key file's are a secret. */
static void wipe(gnutls_datum_t *d)
{
    if (d->data)
        explicit_bzero(d->data, d->size);
    free(d->data);
}

static void pair_free(struct tls_pair *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nchain; i++)
        gnutls_pcert_deinit(&p->chain[i]);
    gnutls_privkey_deinit(p->key);
    free(p);
}

/* The SHA-256 key id of a public key, into id (32 bytes); 0 or -1. */
static int key_id(gnutls_pubkey_t pub, unsigned char id[32])
{
    size_t n = 32;
    return gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &n) == 0 && n == 32 ? 0 : -1;
}

/* Whether the private key is the leaf certificate's: their public halves
 * have the same key id. */
static bool key_matches(struct tls_pair *p)
{
    gnutls_pubkey_t pub;
    if (gnutls_pubkey_init(&pub) != 0)
        return false;
    unsigned char a[32], b[32];
    bool same = gnutls_pubkey_import_privkey(pub, p->key, 0, 0) == 0 && key_id(pub, a) == 0 &&
                key_id(p->chain[0].pubkey, b) == 0 && memcmp(a, b, sizeof a) == 0;
    gnutls_pubkey_deinit(pub);
    return same;
}

static void format_time(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    if (t == (time_t)-1 || !gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, cap, "?");
}

/* Fills p->what from the leaf, and warns when it is outside its validity
 * period now: clients will refuse it, but serving it is the operator's
 * call (a clock may be wrong). */
static void describe_leaf(struct tls_pair *p, const char *cert_file)
{
    gnutls_x509_crt_t crt;
    snprintf(p->what, sizeof p->what, "a certificate that could not be described");
    if (gnutls_x509_crt_init(&crt) != 0)
        return;
    if (gnutls_x509_crt_import(crt, &p->chain[0].cert, GNUTLS_X509_FMT_DER) == 0) {
        gnutls_datum_t dn = {0};
        unsigned char serial[64];
        size_t nserial = sizeof serial;
        char hex[2 * sizeof serial + 1] = "?";
        if (gnutls_x509_crt_get_serial(crt, serial, &nserial) == 0)
            for (size_t i = 0; i < nserial; i++)
                snprintf(hex + 2 * i, 3, "%02x", serial[i]);
        time_t from = gnutls_x509_crt_get_activation_time(crt);
        time_t until = gnutls_x509_crt_get_expiration_time(crt);
        char from_s[32], until_s[32];
        format_time(from, from_s, sizeof from_s);
        format_time(until, until_s, sizeof until_s);
        int dn_ok = gnutls_x509_crt_get_dn3(crt, &dn, 0);
        snprintf(p->what, sizeof p->what, "%.160s, serial %.40s, valid until %s, chain of %u",
                 dn_ok == 0 ? (const char *)dn.data : "?", hex, until_s, p->nchain);
        gnutls_free(dn.data);
        time_t now = time(NULL);
        if (now < from || now > until)
            log_warn("tls",
                     "%s: the certificate is valid only from %s until %s: clients will "
                     "refuse it",
                     cert_file, from_s, until_s);
    }
    gnutls_x509_crt_deinit(crt);
}

/* Loads and checks one pair. NULL with err filled. */
static struct tls_pair *pair_load(const char *cert_file, const char *key_file, char *err,
                                  size_t errlen)
{
    struct tls_pair *p = xcalloc(1, sizeof *p);
    gnutls_datum_t cert = {0}, key = {0};
    if (read_file(cert_file, &cert, err, errlen) != 0 ||
        read_file(key_file, &key, err, errlen) != 0)
        goto fail;
    unsigned n = MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(p->chain, &n, &cert, GNUTLS_X509_FMT_PEM,
                                               GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (rc < 0 || n == 0) {
        snprintf(err, errlen, "%s: not a PEM certificate chain, leaf first: %s", cert_file,
                 rc < 0 ? gnutls_strerror(rc) : "no certificate");
        goto fail;
    }
    p->nchain = n;
    if ((rc = gnutls_privkey_init(&p->key)) != 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) != 0) {
        snprintf(err, errlen, "%s: not an unencrypted PEM private key: %s", key_file,
                 gnutls_strerror(rc));
        goto fail;
    }
    if (!key_matches(p)) {
        snprintf(err, errlen, "the key in %s does not belong to the certificate in %s", key_file,
                 cert_file);
        goto fail;
    }
    describe_leaf(p, cert_file);
    free(cert.data);
    wipe(&key);
    return p;
fail:
    free(cert.data);
    wipe(&key);
    pair_free(p);
    return NULL;
}

struct tls *tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct tls_pair *p = pair_load(cert_file, key_file, err, errlen);
    if (!p)
        return NULL;
    struct tls *t = xcalloc(1, sizeof *t);
    t->cert_file = xstrdup(cert_file);
    t->key_file = xstrdup(key_file);
    PTOK(pthread_mutex_init(&t->mtx, NULL));
    t->oldest = t->newest = p;
    return t;
}

/* Unlinks the retired pairs no open socket may use, oldest first, and
 * returns them as a list (by newer) to free outside the lock. Mutex held. */
static struct tls_pair *cut_unused(struct tls *t)
{
    struct tls_pair *cut = NULL, **tail = &cut;
    while (t->oldest != t->newest && t->oldest->sockets == 0) {
        struct tls_pair *p = t->oldest;
        t->oldest = p->newer;
        p->newer = NULL;
        *tail = p;
        tail = &p->newer;
    }
    return cut;
}

static void free_list(struct tls_pair *p)
{
    while (p) {
        struct tls_pair *next = p->newer;
        pair_free(p);
        p = next;
    }
}

int tls_reload(struct tls *t, char *err, size_t errlen)
{
    struct tls_pair *p = pair_load(t->cert_file, t->key_file, err, errlen);
    if (!p)
        return -1;
    PTOK(pthread_mutex_lock(&t->mtx));
    t->newest->newer = p;
    t->newest = p;
    struct tls_pair *cut = cut_unused(t);
    PTOK(pthread_mutex_unlock(&t->mtx));
    free_list(cut);
    return 0;
}

void tls_describe(struct tls *t, char *buf, size_t cap)
{
    PTOK(pthread_mutex_lock(&t->mtx));
    snprintf(buf, cap, "%s", t->newest->what);
    PTOK(pthread_mutex_unlock(&t->mtx));
}

int tls_attach(struct tls *t)
{
    struct tls *none = NULL;
    return atomic_compare_exchange_strong(&attached, &none, t) || none == t ? 0 : -1;
}

void tls_free(struct tls *t)
{
    if (!t)
        return;
    struct tls *self = t;
    atomic_compare_exchange_strong(&attached, &self, NULL);
    free_list(t->oldest);
    PTOK(pthread_mutex_destroy(&t->mtx));
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    struct tls *t = atomic_load(&attached);
    if (!t)
        return -1; /* GnuTLS ends the handshake */
    PTOK(pthread_mutex_lock(&t->mtx));
    struct tls_pair *p = t->newest;
    PTOK(pthread_mutex_unlock(&t->mtx));
    /* Read-only from here on, and kept while this socket is open: its
     * accept counted on this pair or an older one (tls_socket_opened). */
    *pcert = p->chain;
    *pcert_length = p->nchain;
    *privkey = p->key;
    return 0;
}

struct tls_pair *tls_socket_opened(struct tls *t)
{
    PTOK(pthread_mutex_lock(&t->mtx));
    struct tls_pair *p = t->newest;
    p->sockets++;
    PTOK(pthread_mutex_unlock(&t->mtx));
    return p;
}

void tls_socket_closed(struct tls *t, struct tls_pair *p)
{
    if (!p)
        return;
    PTOK(pthread_mutex_lock(&t->mtx));
    assert(p->sockets > 0);
    p->sockets--;
    struct tls_pair *cut = cut_unused(t);
    PTOK(pthread_mutex_unlock(&t->mtx));
    free_list(cut);
}

size_t tls_pairs_held(struct tls *t)
{
    size_t n = 0;
    PTOK(pthread_mutex_lock(&t->mtx));
    for (struct tls_pair *p = t->oldest; p; p = p->newer)
        n++;
    PTOK(pthread_mutex_unlock(&t->mtx));
    return n;
}
