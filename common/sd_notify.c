/*
 * sd_notify: one unix datagram socket, connected to nothing, and sendto()
 * per message. A service manager reads each datagram whole, so a message is
 * never split; a full socket buffer drops it (MSG_DONTWAIT): a lost
 * WATCHDOG=1 is followed by another, and the gateway must never block on
 * its supervisor.
 *
 * Does not: pass file descriptors or credentials, or read $NOTIFY_SOCKET
 * itself (the caller does, so tests choose the address).
 */
#include "common/sd_notify.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct sd_notifier {
    int fd;
    struct sockaddr_un addr;
    socklen_t addrlen;
};

struct sd_notifier *sd_notifier_new(const char *addr, char *err, size_t errlen)
{
    if (!addr || !*addr)
        return NULL;
    struct sd_notifier *n = xcalloc(1, sizeof *n);
    n->addr.sun_family = AF_UNIX;
    size_t len = strlen(addr);
    if ((addr[0] != '/' && addr[0] != '@') || len >= sizeof n->addr.sun_path) {
        snprintf(err, errlen, "NOTIFY_SOCKET=%.120s: not an absolute path or @name under %zu bytes",
                 addr, sizeof n->addr.sun_path);
        goto fail;
    }
    memcpy(n->addr.sun_path, addr, len);
    /* An abstract name starts with a NUL byte and is exactly as long as
     * given: no terminator counts in its length. */
    if (addr[0] == '@')
        n->addr.sun_path[0] = '\0';
    n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '/'));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: no socket: %s", strerror(errno));
        goto fail;
    }
    return n;
fail:
    free(n);
    return NULL;
}

int sd_notifier_send(struct sd_notifier *n, const char *state)
{
    if (!n)
        return 0;
    ssize_t r;
    do
        r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                   (const struct sockaddr *)&n->addr, n->addrlen);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -1 : 0;
}

void sd_notifier_free(struct sd_notifier *n)
{
    if (!n)
        return;
    close(n->fd);
    free(n);
}

/* A whole decimal number in s, or -1. */
static long long parse_whole(const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || *end ? -1 : v;
}

int64_t sd_watchdog_interval_ms(const char *usec, const char *pid, pid_t self)
{
    long long us = parse_whole(usec);
    if (us <= 0)
        return 0;
    if (pid && *pid && parse_whole(pid) != (long long)self)
        return 0;
    int64_t ms = us / 2000;
    return ms > 0 ? ms : 1;
}
