/*
 * sd_notify: the service manager's notification protocol, as systemd
 * speaks it (Type=notify): one datagram per message of newline-separated
 * KEY=VALUE lines, sent to the unix socket named in $NOTIFY_SOCKET (a path,
 * or an abstract name written with a leading '@'). Nothing but the
 * datagrams: no libsystemd.
 *
 * Threads: a notifier is used by one thread at a time (the gateway's main
 * thread).
 */
#ifndef SSE_SD_NOTIFY_H
#define SSE_SD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sd_notifier;

/* A notifier for the socket address (NOTIFY_SOCKET's value). NULL when addr
 * is NULL or empty (no service manager listens), and NULL with err filled
 * (one line) when it is not an absolute path or '@' name that fits, or no
 * socket could be made. */
struct sd_notifier *sd_notifier_new(const char *addr, char *err, size_t errlen);
/* Sends state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=…", several
 * joined by '\n') in one datagram. 0, or -1 with errno set. n may be NULL:
 * nothing is sent and 0 returned. */
int sd_notifier_send(struct sd_notifier *n, const char *state);
/* NULL does nothing. */
void sd_notifier_free(struct sd_notifier *n);

/* How often to send WATCHDOG=1, in ms: half of usec (WATCHDOG_USEC's value,
 * in microseconds), at least 1; 0 when usec is NULL, not a positive number,
 * or pid (WATCHDOG_PID's value, if set) names another process than self. */
int64_t sd_watchdog_interval_ms(const char *usec, const char *pid, pid_t self);

#endif
