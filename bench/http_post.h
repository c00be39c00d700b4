/*
 * http_post: the publisher's HTTP client. One keep-alive connection to
 * 127.0.0.1:port per publisher thread, POSTs answered with a Content-Length
 * or a small chunked body.
 */
#ifndef SSE_BENCH_HTTP_POST_H
#define SSE_BENCH_HTTP_POST_H

#include <stddef.h>
#include <stdint.h>

/* Plain data, owned by one publisher thread: fd is -1 while unconnected. */
struct http_conn {
    int fd, port;
    uint64_t retries, requests;
};

/* POSTs body to path, retrying on 503 and on a lost connection (connecting
 * again as needed). Returns the final status, or 0 when every try failed. */
int http_post(struct http_conn *c, const char *path, const char *type, const char *body,
              size_t body_len);

/* Closes the connection, if any. */
void http_close(struct http_conn *c);

#endif
