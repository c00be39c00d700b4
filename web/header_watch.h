/*
 * header_watch: closes a socket that has not sent its complete request
 * headers within --request-timeout of connecting (or, on a kept-alive
 * socket, of its previous answer), however slowly it trickles bytes:
 * libmicrohttpd's own timeout counts only inactivity. A socket is watched
 * only while it waits for headers, so 20,000 open SSE streams cost nothing
 * here. One watch per daemon; its thread sleeps until the oldest deadline.
 *
 * When the daemon is full it stops accepting, and the clients behind it
 * wait in the kernel's backlog, unseen. So while it is full, and for one
 * timeout after, a socket still in its headers gets a quarter of the
 * timeout: trickling sockets make room for the waiting ones in a few
 * rounds, instead of one full timeout per round.
 *
 * Closing is shutdown(2), never close(2): the daemon owns the descriptor,
 * sees the socket end and cleans up. Threads: the notifications from any
 * thread; the sweep on the watch's own thread (or a test's).
 */
#ifndef SSE_HEADER_WATCH_H
#define SSE_HEADER_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct header_watch;
struct watched; /* one socket, from connected until closed */
struct clock_ops;

struct header_watch_deps {
    const struct clock_ops *clock;
    int64_t timeout_ms; /* --request-timeout */
    size_t full_at;     /* open sockets at which the daemon stops accepting; 0: never */
};

/* Borrowed pointers must outlive the watch. */
struct header_watch *header_watch_new(const struct header_watch_deps *deps);
/* Starts the thread that sweeps. 0, or -1 (logged). */
int header_watch_start(struct header_watch *hw);
/* Stops and joins it; safe twice. */
void header_watch_stop(struct header_watch *hw);
/* Stops the thread; every socket must have been closed. NULL does nothing. */
void header_watch_free(struct header_watch *hw);

/* A socket was accepted: its wait for headers begins now. The watch owns
 * the result until header_watch_closed. Any thread. */
struct watched *header_watch_connected(struct header_watch *hw, int fd);
/* Its request headers are complete: no deadline until it waits again. */
void header_watch_headers_done(struct watched *s);
/* A kept-alive socket waits for its next request's headers, from now. */
void header_watch_waiting(struct watched *s);
/* The daemon is closing the socket (its descriptor still open): forget and
 * free it. Each of these three takes NULL and does nothing. */
void header_watch_closed(struct watched *s);

/* The step: shuts down every socket past its deadline. Returns the ms until
 * the next deadline, or -1 when no socket waits for headers. */
int64_t header_watch_sweep(struct header_watch *hw);
/* Sockets shut down so far. Any thread. */
uint64_t header_watch_swept(struct header_watch *hw);

#endif
