/*
 * gateway: the composition root. It builds every part with its collaborators
 * injected, starts them in order and stops them in order. No other module
 * calls another module's *_new.
 *
 * DESIGN (docs/DESIGN.md tells the whole story)
 *
 *   publishers ── sse.publish() ──▶ sse.outbox ──(leader: sequencer thread)──▶ sse.events
 *                                                    │ NOTIFY "sse#events"
 *   PostgreSQL ──LISTEN conn──▶ listener thread ─────┴──▶ dispatch queue ──▶ dispatcher thread
 *       ▲  ▲                      (health check,            ▲        │ (window, fan-out of
 *       │  └── read conn ◀─────── reconnect)                │        │  shared frames)
 *       └───── replay conn ◀── replayer thread ◀── replays ─┼────────┤
 *                                 (paced slices)            │        ▼
 *   browsers ◀── SSE ── web (MHD worker pool) ── connect ───┘    registry ◀── heartbeat thread
 *                        ▲                                       │           (": hb", idle)
 *                        └─── parked sockets ◀── write pool ◀────┘  (large rounds in parallel)
 *   backends ── POST /publish ──▶ web ──▶ publisher thread ── a txn per group ──▶ sse.outbox
 *                  (parked until its commit; admin daemon too with --admin-listen)
 *
 * A subscription's connect is queued by the HTTP worker after the listener
 * acknowledged its streams' LISTEN (the subscribe hook, batched and bounded),
 * so the dispatcher never waits for one.
 *
 * Threads: sequencer (leader role, fleet row), publisher (group commit of
 * HTTP publishes on its own connection), listener (libevent loop on the
 * LISTEN connection), replayer (connects' backlogs, paced by each socket),
 * dispatcher (the only thread that reads new events and decides delivery
 * order), the write pool's writers, heartbeat, and libmicrohttpd's workers.
 *
 * Start order: sequencer, publisher, listener, replayer, write pool,
 * dispatcher, heartbeat, then the HTTP daemons accept. Shutdown order:
 * /readyz 503 and new subscriptions refused, leadership resigned, the
 * publisher flushed (every pending HTTP publish committed and answered),
 * heartbeat, listener, drain the dispatcher (every queued connect and wake is
 * handled), replayer, write pool, then a gateway:shutdown sentinel to every
 * socket, wait (bounded by --drain-timeout) for the sockets to flush, stop
 * the HTTP daemons, and last the sequencer (removing the fleet row).
 *
 * Writes: a parked socket (one MHD has nothing to send on) is written by
 * whoever owes it the write, with one non-blocking sendmsg under the
 * connection's mutex: the dispatcher or heartbeat for a round of at most 32
 * sockets, the write pool's threads for a larger one; the rest of a write the
 * socket did not take goes to the socket's MHD worker, whose reader writes a
 * backlog straight to the socket too. SSE bodies are close-delimited so all
 * writers share them.
 *
 * Reload: SIGHUP reaches the main thread, which calls gateway_reload(); the
 * JWT keys are swapped in whole while HTTP workers keep checking tokens (a
 * check finishes with the key set it began with), the TLS pair is swapped
 * for handshakes to come (an old pair is freed once no socket that may use
 * it is open), and open connections are left alone.
 *
 * Lock order: registry mutex, then connection mutex, then the leaf locks
 * (the replayer's and a writer's inbox, the window's, the JWT keys' holder,
 * the TLS pairs' list).
 * Nothing holds the registry mutex across socket I/O; libmicrohttpd's resume
 * is called with no lock of ours held.
 */
#ifndef SSE_GATEWAY_H
#define SSE_GATEWAY_H

#include <stddef.h>

struct gateway;
struct config;

/* Loads the JWT keys cfg names, to check them before serving: 0 (also when
 * none are configured), or -1 with err filled. Main thread. */
int gateway_check_auth(const struct config *cfg, char *err, size_t errlen);
/* Loads --tls-cert and --tls-key, to check them before serving: 0 (also
 * when TLS is off), or -1 with err filled. Main thread. */
int gateway_check_tls(const struct config *cfg, char *err, size_t errlen);
/* Builds and wires every part; starts no thread. cfg must outlive it. */
struct gateway *gateway_new(const struct config *cfg);
/* Starts the threads and the HTTP daemon. 0, or -1 (logged) on failure. */
int gateway_start(struct gateway *g);
/* The one reload entry point (SIGHUP): reads again what may change without
 * a restart: the JWT secret file and key files, the TLS certificate and
 * key. Open connections are untouched. A part that fails keeps its old
 * state and logs one error line; returns -1 then, else 0. Main thread,
 * while serving. */
int gateway_reload(struct gateway *g);
/* The ordered shutdown above. Safe to call twice. Main thread. */
void gateway_shutdown(struct gateway *g);
void gateway_free(struct gateway *g);

#endif
