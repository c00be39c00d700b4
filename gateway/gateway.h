/*
 * gateway: the composition root. It builds every part with its collaborators
 * injected, starts them in order and stops them in order. No other module
 * calls another module's *_new.
 *
 * DESIGN
 *
 *   publishers ── sse.publish() ──▶ sse.outbox ──(leader: sequencer thread)──▶ sse.events
 *                                                    │ NOTIFY "sse#events"
 *   PostgreSQL ──LISTEN conn──▶ listener thread ─────┴──▶ dispatch queue ──▶ dispatcher thread
 *       ▲                         (health check,            ▲        │ (window, replay,
 *       └──── read conn ◀─────────  reconnect)               │        │  fan-out of shared frames)
 *                                                            │        ▼
 *   browsers ◀── SSE ── web (MHD worker pool) ── connect ────┘    registry ◀── heartbeat thread
 *                        suspend ◀── connection queues ◀── push + resume ──┘   (": hb", idle)
 *   backends ── POST /publish ──▶ web ──▶ publisher thread ── a txn per group ──▶ sse.outbox
 *                  (parked until its commit; admin daemon too with --admin-listen)
 *
 * Threads: sequencer (leader role, fleet row), publisher (group commit of
 * HTTP publishes on its own connection), listener (libevent loop on the
 * LISTEN connection), dispatcher (the only thread that reads events and
 * decides delivery order), heartbeat, and libmicrohttpd's worker pools.
 *
 * Start order: sequencer, publisher, listener, dispatcher, heartbeat, then
 * the HTTP daemons accept. Shutdown order: /readyz 503 and new subscriptions
 * refused, leadership resigned, the publisher flushed (every pending HTTP
 * publish committed and answered), heartbeat, listener, drain the dispatcher
 * (every queued connect and wake is handled), then a gateway:shutdown
 * sentinel to every socket, wait (bounded by --drain-timeout) for the
 * sockets to flush, stop the HTTP daemons, and last the sequencer (removing
 * the fleet row).
 *
 * Writes: a parked socket (one MHD has nothing to send on) is written by
 * whoever pushed to it, with one non-blocking sendmsg under the connection's
 * mutex, when the round is small (up to 256 sockets); larger rounds, and the
 * rest of a write the socket did not take, go to the socket's MHD worker,
 * whose reader writes a backlog straight to the socket too (registry/
 * connection.c). SSE bodies are close-delimited so both writers share them.
 *
 * Lock order: registry mutex, then connection mutex. Nothing holds the
 * registry mutex across socket I/O; libmicrohttpd's resume is called with no
 * lock of ours held.
 */
#ifndef SSE_GATEWAY_H
#define SSE_GATEWAY_H

struct gateway;
struct config;

/* Builds and wires every part; starts no thread. cfg must outlive it. */
struct gateway *gateway_new(const struct config *cfg);
/* Starts the threads and the HTTP daemon. 0, or -1 (logged) on failure. */
int gateway_start(struct gateway *g);
/* The ordered shutdown above. Safe to call twice. Main thread. */
void gateway_shutdown(struct gateway *g);
void gateway_free(struct gateway *g);

#endif
