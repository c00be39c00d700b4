/*
 * tls: the certificate chain and private key that --listen serves HTTPS
 * with (--tls-cert, --tls-key, PEM), reloadable while serving. GnuTLS asks
 * for them once per handshake (tls_retrieve); a reload swaps in a new pair
 * for the handshakes to come and frees an old one only once no socket that
 * could still be using it is open. Pure GnuTLS: libmicrohttpd is web/
 * http_server.c's business.
 *
 * Threads: tls_new, tls_reload and tls_free on the gateway's main thread;
 * tls_retrieve and the socket notifications on libmicrohttpd's workers.
 */
#ifndef SSE_TLS_H
#define SSE_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stddef.h>

struct tls;
struct tls_pair; /* one loaded certificate chain with its key */

/* Reads and checks the pair: both files readable, the certificate file a
 * PEM chain (leaf first), the key file an unencrypted PEM private key that
 * belongs to the leaf. NULL with err filled (one line naming the file and
 * the fault). An expired or not yet valid certificate loads, with a warning
 * logged. */
struct tls *tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen);
/* Reads both files again and serves the new pair to every handshake from
 * now on; open connections keep theirs. On failure (-1, err filled) the old
 * pair stays. Main thread. */
int tls_reload(struct tls *t, char *err, size_t errlen);
/* The pair served now, in a line for the log: subject, serial, expiry. */
void tls_describe(struct tls *t, char *buf, size_t cap);
/* Frees everything; every socket must have been closed. NULL does nothing. */
void tls_free(struct tls *t);

/* Makes t the pair tls_retrieve hands out: GnuTLS's callback carries no
 * argument of ours, so one struct tls per process serves. Returns -1 if
 * another is attached. Main thread, before the daemon starts. */
int tls_attach(struct tls *t);

/* GnuTLS's certificate callback (gnutls_certificate_retrieve_function2):
 * the attached struct tls's current pair, which stays valid while any
 * socket opened before the next reload is open. Any worker. */
int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey);

/* A socket was accepted: returns the pair current now, which (with every
 * newer one) is kept until tls_socket_closed. Any worker. */
struct tls_pair *tls_socket_opened(struct tls *t);
/* That socket is closed and its TLS session freed. Any worker. */
void tls_socket_closed(struct tls *t, struct tls_pair *p);
/* Pairs held right now (the current one and those kept for open sockets):
 * for tests. Any thread. */
size_t tls_pairs_held(struct tls *t);

#endif
