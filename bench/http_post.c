/*
 * http_post: the publisher's HTTP client (http_post.h). Blocking I/O with a
 * 30 s receive timeout; the responses it reads are small.
 */
#include "http_post.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads one response (Content-Length or chunked body); returns the status
 * or 0 when the connection failed. */
static int response(int fd)
{
    char buf[16384];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == sizeof buf - 1)
            return 0;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    size_t head = (size_t)(end + 4 - buf);
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl && cl < end) {
        size_t want = head + strtoul(cl + 17, NULL, 10);
        while (len < want) {
            char sink[16384];
            size_t room = want - len < sizeof sink ? want - len : sizeof sink;
            ssize_t n = read(fd, sink, room);
            if (n <= 0)
                return 0;
            len += (size_t)n;
        }
        return status;
    }
    const char *te = strcasestr(buf, "\r\ntransfer-encoding:");
    if (te && te < end) {
        /* Small chunked bodies only: read until the last chunk. */
        for (;;) {
            buf[len] = '\0';
            if (strstr(buf + head, "0\r\n\r\n"))
                return status;
            if (len == sizeof buf - 1)
                return 0;
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                return 0;
            len += (size_t)n;
        }
    }
    return status;
}

int http_post(struct http_conn *c, const char *path, const char *type, const char *body,
              size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, c->port, type, body_len);
    for (int attempt = 0; attempt < 50; attempt++) {
        if (c->fd < 0 && (c->fd = connect_to(c->port)) < 0) {
            c->retries++;
            usleep(20000);
            continue;
        }
        c->requests++;
        int status = 0;
        if (write_all(c->fd, head, (size_t)n) && write_all(c->fd, body, body_len))
            status = response(c->fd);
        if (status == 503 || status == 0) {
            if (status == 0) {
                close(c->fd);
                c->fd = -1;
            }
            c->retries++;
            usleep(10000);
            continue;
        }
        return status;
    }
    return 0;
}

void http_close(struct http_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
