/*
 * sse-bench-probe: a listener outside the gateway, for the durable path's
 * breakdown.
 *
 * LISTENs on every --channel over one libpq connection and prints a line per
 * notification as it arrives: "<receipt time> <channel> <payload>" (µs since
 * the epoch). PostgreSQL signals every listening backend at the notifying
 * commit, so this is the earliest moment the gateway's own listener could
 * know of it too. The time is the kernel's receipt of the bytes (a socket
 * timestamp), not when this process got to run, which on a busy core can be
 * much later. Notifications found by one wake-up share the receipt time of
 * the first or the last bytes (TCP merges segments waiting to be read and
 * keeps the newest time), so they can be late by the gap between them, never
 * by this process's scheduling. Prints "listening" once every LISTEN is
 * done; stops on "quit" or the end of standard input, or after --timeout
 * seconds.
 */
#include "bench_util.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CHANNELS 8

const char *bench_tool = "probe";

static struct {
    const char *conninfo;
    const char *channels[MAX_CHANNELS];
    int channel_count, timeout_s;
} opt = {.timeout_s = 120};

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            die("%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--conninfo"))
            opt.conninfo = v;
        else if (!strcmp(a, "--timeout"))
            opt.timeout_s = int_arg(a, v, 1);
        else if (!strcmp(a, "--channel") && opt.channel_count < MAX_CHANNELS)
            opt.channels[opt.channel_count++] = v;
        else
            die("unknown option %s (or more than %d channels)", a, MAX_CHANNELS);
    }
    if (!opt.conninfo || !opt.channel_count)
        die("--conninfo and at least one --channel are required");
}

static void listen_all(PGconn *pg)
{
    for (int i = 0; i < opt.channel_count; i++) {
        char *name = PQescapeIdentifier(pg, opt.channels[i], strlen(opt.channels[i]));
        char sql[256];
        snprintf(sql, sizeof sql, "LISTEN %s", name ? name : "\"\"");
        PQfreemem(name);
        PGresult *r = PQexec(pg, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
}

/* When the kernel received the first len bytes waiting on fd (TCP reports the
 * last segment read), or 0 if it does not say. */
static int64_t arrival_us(int fd, size_t len)
{
    static char buf[65536];
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {.iov_base = buf, .iov_len = len < sizeof buf ? len : sizeof buf};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT) <= 0)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        }
    }
    return 0;
}

/* Returns false when the connection is gone. */
static bool print_notifications(PGconn *pg, int64_t woke_us)
{
    int fd = PQsocket(pg);
    int64_t first = arrival_us(fd, 1), last = arrival_us(fd, SIZE_MAX);
    if (!PQconsumeInput(pg)) {
        fprintf(stderr, "probe: %s", PQerrorMessage(pg));
        return false;
    }
    PGnotify *n;
    for (int i = 0; (n = PQnotifies(pg)); i++) {
        int64_t at = i == 0 ? first : last;
        printf("%lld %s %s\n", (long long)(at ? at : woke_us), n->relname, n->extra);
        PQfreemem(n);
    }
    fflush(stdout);
    return true;
}

/* Returns false on "quit" or the end of input. */
static bool stdin_readable(void)
{
    char buf[256];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf - 1);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    buf[n] = '\0';
    return !strstr(buf, "quit");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    PGconn *pg = PQconnectdb(opt.conninfo);
    if (PQstatus(pg) != CONNECTION_OK)
        die("connecting: %s", PQerrorMessage(pg));
    int one = 1;
    if (setsockopt(PQsocket(pg), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0)
        fprintf(stderr, "probe: no socket timestamps (%s): times are when the probe ran\n",
                strerror(errno));
    listen_all(pg);
    printf("listening\n");
    fflush(stdout);
    int64_t deadline = mono_us() + (int64_t)opt.timeout_s * 1000000;
    struct pollfd fds[2] = {{.fd = PQsocket(pg), .events = POLLIN},
                            {.fd = STDIN_FILENO, .events = POLLIN}};
    bool running = true;
    while (running) {
        if (mono_us() > deadline) {
            fprintf(stderr, "probe: --timeout of %d s reached\n", opt.timeout_s);
            break;
        }
        int n = poll(fds, 2, 100);
        if (n < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        int64_t now = wall_us();
        if (n > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)))
            running = print_notifications(pg, now);
        if (n > 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)))
            running = running && stdin_readable();
    }
    PQfinish(pg);
    return 0;
}
