/*
 * sse-bench-loadgen: many SSE subscribers in one thread.
 *
 * One epoll loop holds --conns connections spread over --streams streams
 * (connection i subscribes to stream base + i % streams) and over --sources
 * loopback source addresses (127.0.0.2, 127.0.0.3, ...), so the 4-tuples do
 * not run out. Each body is de-chunked and parsed as SSE; an event's data is
 * "<seq> <publish time in µs since the epoch>", so every delivery gives a
 * latency and marks a bit in its connection's bitmap of expected sequence
 * numbers 1..--expect: losses and duplicates are counted per connection.
 *
 * Standard output: "connected <ok> failed <n> ms <ms>" when every connection
 * of a (re)connect round has its response headers or has failed; "complete"
 * once every connection has all --expect events, followed by a report; one
 * JSON line per report.
 * Standard input: "drop" closes every connection, "reconnect" opens them
 * again with Last-Event-ID, "report" prints the figures, "quit" prints them
 * and exits. The run ends by itself after --timeout seconds.
 *
 * --events-out FILE: at exit, one line per event (stream and sequence number)
 * that arrived: "<stream> <seq> <publish time> <receipts> <first> <last>
 * <mean receipt time>", times in µs since the epoch, for the durable path's
 * breakdown.
 */
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum conn_state { IDLE, CONNECTING, AWAITING_HEADERS, STREAMING, CLOSED, FAILED };
enum body_mode { BODY_IDENTITY, CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_DONE };

#define LINE_MAX_BYTES 256
#define ID_MAX_BYTES   64
#define HEADER_MAX     4096
#define PER_SEQ_MAX    64

struct conn {
    int fd;
    int stream;
    enum conn_state state;
    enum body_mode body;
    uint64_t chunk_left;
    char *headers; /* only while AWAITING_HEADERS */
    size_t headers_len;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    bool line_overflow;
    /* The event being parsed. */
    char data[LINE_MAX_BYTES];
    size_t data_len;
    bool has_data;
    bool gateway_event;
    char last_id[ID_MAX_BYTES];
    uint32_t distinct;
    uint8_t *seen; /* bitmap of sequence numbers 1..expect */
};

/* Latencies in a log-linear histogram: 128 buckets per power of two, so a
 * percentile is within 1 % and a report costs the same at any sample count. */
#define SUB_BITS 7
#define BUCKETS  ((32 - SUB_BITS + 1) << SUB_BITS)

struct histogram {
    uint64_t count;
    uint32_t max;
    uint32_t bucket[BUCKETS];
};

/* One event's receipts over every connection, for --events-out. */
struct event_cell {
    int64_t sent_us, first_us, last_us;
    uint64_t latency_sum_us;
    uint32_t count;
};

static struct {
    int port;
    const char *path_format, *events_out;
    int conns, streams, stream_base, sources, inflight, expect, timeout_s;
} opt = {.path_format = "/events?stream=s%d",
         .conns = 1,
         .streams = 1,
         .sources = 1,
         .inflight = 256,
         .timeout_s = 120};

static struct {
    uint64_t connected, failed, http_errors, closed_by_server, deliveries, distinct, dup,
        unexpected, sentinels, comments, errors, bytes;
    int64_t first_rx_us, last_rx_us;
    int64_t connect_ms, catchup_ms;
} stat = {.connect_ms = -1, .catchup_ms = -1};

static struct conn *conns;
static int epfd;
static struct histogram latency;
static struct histogram *per_seq; /* [1..expect] when expect <= PER_SEQ_MAX */
static struct event_cell *cells;  /* [stream * expect + seq - 1], with --events-out */
static int next_to_open;          /* connections below this index have been started this round */
static int in_flight;             /* connecting or awaiting headers */
static int64_t round_start_us;
static bool round_reported = true;
static int64_t reconnect_at_us = -1;
static bool complete_printed;

const char *bench_tool = "loadgen";

static unsigned bucket_of(uint32_t v)
{
    if (v < (1u << SUB_BITS))
        return v;
    int e = 31 - __builtin_clz(v);
    return ((unsigned)(e - SUB_BITS + 1) << SUB_BITS) +
           ((v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1));
}

static uint32_t bucket_middle(unsigned b)
{
    if (b < (1u << SUB_BITS))
        return b;
    int e = (int)(b >> SUB_BITS) + SUB_BITS - 1;
    uint64_t low = (uint64_t)((1u << SUB_BITS) + (b & ((1u << SUB_BITS) - 1))) << (e - SUB_BITS);
    uint64_t width = (uint64_t)1 << (e - SUB_BITS);
    return (uint32_t)(low + width / 2);
}

static void sample_add(struct histogram *h, uint32_t v)
{
    h->count++;
    h->bucket[bucket_of(v)]++;
    if (v > h->max)
        h->max = v;
}

/* p in [0, 1]; the largest sample exactly for p = 1. */
static uint32_t percentile(const struct histogram *h, double p)
{
    if (!h->count)
        return 0;
    if (p >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)(p * (double)(h->count - 1)) + 1, seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen >= rank) {
            uint32_t mid = bucket_middle(b);
            return mid < h->max ? mid : h->max;
        }
    }
    return h->max;
}

static uint64_t expected_total(void)
{
    return (uint64_t)opt.conns * (uint64_t)opt.expect;
}

/* ------------------------------------------------------------ SSE events */

static void cell_add(struct event_cell *e, int64_t sent_us, int64_t now, uint32_t lat)
{
    if (!e->count++) {
        e->sent_us = sent_us;
        e->first_us = now;
    }
    e->last_us = now;
    e->latency_sum_us += lat;
}

static void write_events(void)
{
    FILE *f = fopen(opt.events_out, "w");
    if (!f)
        die("%s: cannot write", opt.events_out);
    for (int st = 0; st < opt.streams; st++)
        for (int seq = 1; seq <= opt.expect; seq++) {
            const struct event_cell *e = &cells[(size_t)st * (size_t)opt.expect + (size_t)seq - 1];
            if (e->count)
                fprintf(f, "s%d %d %lld %u %lld %lld %lld\n", opt.stream_base + st, seq,
                        (long long)e->sent_us, e->count, (long long)e->first_us,
                        (long long)e->last_us,
                        (long long)(e->sent_us + (int64_t)(e->latency_sum_us / e->count)));
        }
    if (fclose(f) != 0)
        die("%s: cannot write", opt.events_out);
}

static void dispatch_event(struct conn *c)
{
    if (c->gateway_event) {
        stat.sentinels++;
    } else if (c->has_data) {
        c->data[c->data_len] = '\0';
        char *end;
        unsigned long long seq = strtoull(c->data, &end, 10);
        long long sent_us = strtoll(end, NULL, 10);
        int64_t now = wall_us();
        stat.deliveries++;
        if (!stat.first_rx_us)
            stat.first_rx_us = now;
        stat.last_rx_us = now;
        uint32_t lat = sent_us > 0 && now > sent_us ? (uint32_t)(now - sent_us) : 0;
        sample_add(&latency, lat);
        if (seq >= 1 && seq <= (unsigned long long)opt.expect) {
            uint8_t bit = (uint8_t)(1u << ((seq - 1) & 7));
            if (c->seen[(seq - 1) >> 3] & bit) {
                stat.dup++;
            } else {
                c->seen[(seq - 1) >> 3] |= bit;
                c->distinct++;
                stat.distinct++;
                if (opt.expect <= PER_SEQ_MAX)
                    sample_add(&per_seq[seq], lat);
                if (cells)
                    cell_add(&cells[(size_t)c->stream * (size_t)opt.expect + seq - 1], sent_us, now,
                             lat);
            }
        } else {
            stat.unexpected++;
        }
    }
    c->has_data = false;
    c->gateway_event = false;
    c->data_len = 0;
}

static void field(struct conn *c, const char *name, size_t name_len, const char *value,
                  size_t value_len)
{
    if (name_len == 4 && !memcmp(name, "data", 4)) {
        if (c->has_data && c->data_len < sizeof c->data - 1)
            c->data[c->data_len++] = '\n';
        size_t n = value_len;
        if (n > sizeof c->data - 1 - c->data_len)
            n = sizeof c->data - 1 - c->data_len;
        memcpy(c->data + c->data_len, value, n);
        c->data_len += n;
        c->has_data = true;
    } else if (name_len == 5 && !memcmp(name, "event", 5)) {
        c->gateway_event = value_len >= 8 && !memcmp(value, "gateway:", 8);
    } else if (name_len == 2 && !memcmp(name, "id", 2)) {
        if (value_len < sizeof c->last_id && !memchr(value, '\0', value_len)) {
            memcpy(c->last_id, value, value_len);
            c->last_id[value_len] = '\0';
        }
    }
}

static void sse_line(struct conn *c, const char *line, size_t len)
{
    if (len == 0) {
        dispatch_event(c);
        return;
    }
    if (line[0] == ':') {
        stat.comments++;
        return;
    }
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = colon ? len - name_len - 1 : 0;
    if (value_len && *value == ' ') {
        value++;
        value_len--;
    }
    field(c, line, name_len, value, value_len);
}

/* Body bytes after de-chunking. Lines end with LF, CRLF or CR (CRLF is what
 * both servers send; a CR at a buffer's end is taken as a line end and a
 * following LF as an empty line would be wrong, so only LF and CRLF count). */
static void sse_bytes(struct conn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\n') {
            size_t len = c->line_len;
            if (len && c->line[len - 1] == '\r')
                len--;
            if (!c->line_overflow)
                sse_line(c, c->line, len);
            c->line_len = 0;
            c->line_overflow = false;
        } else if (c->line_len < sizeof c->line) {
            c->line[c->line_len++] = ch;
        } else {
            c->line_overflow = true;
        }
    }
}

/* Returns false on a framing error. */
static bool body_bytes(struct conn *c, const char *p, size_t n)
{
    while (n) {
        switch (c->body) {
        case BODY_IDENTITY:
            sse_bytes(c, p, n);
            return true;
        case CHUNK_SIZE: {
            /* The size line: hex digits, optional extension, CRLF. */
            char ch = *p++;
            n--;
            if (ch == '\n') {
                c->body = c->chunk_left ? CHUNK_DATA : CHUNK_DONE;
            } else if (ch >= '0' && ch <= '9') {
                c->chunk_left = c->chunk_left * 16 + (uint64_t)(ch - '0');
            } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
                c->chunk_left = c->chunk_left * 16 + (uint64_t)((ch | 0x20) - 'a' + 10);
            } else if (ch != '\r' && ch != ';' && ch != ' ') {
                return false;
            }
            if (c->chunk_left > ((uint64_t)1 << 40))
                return false;
            break;
        }
        case CHUNK_DATA: {
            size_t take = n < c->chunk_left ? n : (size_t)c->chunk_left;
            sse_bytes(c, p, take);
            p += take;
            n -= take;
            c->chunk_left -= take;
            if (!c->chunk_left)
                c->body = CHUNK_DATA_END;
            break;
        }
        case CHUNK_DATA_END:
            if (*p == '\n')
                c->body = CHUNK_SIZE;
            else if (*p != '\r')
                return false;
            p++;
            n--;
            break;
        case CHUNK_DONE:
            return true;
        }
    }
    return true;
}

/* ------------------------------------------------------------ connections */

static void print_connected_if_done(void);
static void report(void);

static void conn_close(struct conn *c, enum conn_state to)
{
    if (c->fd >= 0) {
        close(c->fd); /* closing removes it from the epoll set */
        c->fd = -1;
    }
    if (c->state == CONNECTING || c->state == AWAITING_HEADERS)
        in_flight--;
    if (to == CLOSED && c->state == STREAMING)
        stat.connected--;
    free(c->headers);
    c->headers = NULL;
    c->state = to;
}

static void conn_start(int i)
{
    struct conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (c->fd < 0) {
        stat.failed++;
        c->state = FAILED;
        return;
    }
    int one = 1;
    setsockopt(c->fd, SOL_TCP, TCP_NODELAY, &one, sizeof one);
    /* Let connect() pick the source port per 4-tuple, not per source address. */
    setsockopt(c->fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % opt.sources))};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)opt.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->state = CONNECTING;
    in_flight++;
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        stat.failed++;
        conn_close(c, FAILED);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void open_more(void)
{
    while (next_to_open < opt.conns && in_flight < opt.inflight) {
        struct conn *c = &conns[next_to_open];
        if (c->fd < 0)
            conn_start(next_to_open); /* a failed connection gets another try too */
        next_to_open++;
    }
    print_connected_if_done();
}

static void print_connected_if_done(void)
{
    if (round_reported || next_to_open < opt.conns || in_flight > 0)
        return;
    round_reported = true;
    stat.connect_ms = (mono_us() - round_start_us) / 1000;
    printf("connected %llu failed %llu ms %lld\n", (unsigned long long)stat.connected,
           (unsigned long long)(stat.failed + stat.http_errors), (long long)stat.connect_ms);
    fflush(stdout);
}

static void send_request(int i)
{
    struct conn *c = &conns[i];
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        stat.failed++;
        conn_close(c, FAILED);
        return;
    }
    char path[512], req[1024];
    snprintf(path, sizeof path, opt.path_format, opt.stream_base + c->stream);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
                     "%s%s%s\r\n",
                     path, opt.port, c->last_id[0] ? "Last-Event-ID: " : "", c->last_id,
                     c->last_id[0] ? "\r\n" : "");
    /* A fresh socket's send buffer takes a request this small whole. */
    if (write(c->fd, req, (size_t)n) != n) {
        stat.failed++;
        conn_close(c, FAILED);
        return;
    }
    c->state = AWAITING_HEADERS;
    c->headers = malloc(HEADER_MAX);
    c->headers_len = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (!c->headers || epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

/* Gathers response headers. Returns false for anything but a 200; sets *done
 * once the headers are whole and *body_off to where the body starts in buf. */
static bool parse_headers(struct conn *c, const char *buf, size_t n, size_t *body_off, bool *done)
{
    size_t room = HEADER_MAX - 1 - c->headers_len;
    size_t take = n < room ? n : room;
    memcpy(c->headers + c->headers_len, buf, take);
    size_t before = c->headers_len;
    c->headers_len += take;
    c->headers[c->headers_len] = '\0';
    char *end = strstr(c->headers, "\r\n\r\n");
    if (!end) {
        *done = false;
        return c->headers_len < HEADER_MAX - 1;
    }
    *done = true;
    *body_off = (size_t)(end + 4 - c->headers) - before;
    int status = 0;
    if (sscanf(c->headers, "HTTP/1.%*d %d", &status) != 1 || status != 200)
        return false;
    c->body = BODY_IDENTITY;
    for (char *h = strstr(c->headers, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
        if (!strncasecmp(h + 2, "transfer-encoding:", 18) && strcasestr(h + 2, "chunked") &&
            strcasestr(h + 2, "chunked") < strstr(h + 2, "\r\n"))
            c->body = CHUNK_SIZE;
    }
    c->chunk_left = 0;
    c->line_len = 0;
    c->line_overflow = false;
    c->has_data = false;
    c->gateway_event = false;
    c->data_len = 0;
    return true;
}

static void print_complete_if_done(void)
{
    if (complete_printed || !opt.expect || stat.distinct < expected_total())
        return;
    complete_printed = true;
    if (reconnect_at_us >= 0)
        stat.catchup_ms = (mono_us() - reconnect_at_us) / 1000;
    printf("complete\n");
    report();
}

static void conn_readable(int i)
{
    static char buf[65536];
    struct conn *c = &conns[i];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (n < 0)
            stat.errors++;
        if (c->state == AWAITING_HEADERS) {
            stat.http_errors++;
            conn_close(c, FAILED);
        } else {
            stat.closed_by_server++;
            conn_close(c, CLOSED);
        }
        return;
    }
    stat.bytes += (uint64_t)n;
    size_t off = 0;
    if (c->state == AWAITING_HEADERS) {
        bool done;
        if (!parse_headers(c, buf, (size_t)n, &off, &done)) {
            stat.http_errors++;
            conn_close(c, FAILED);
            return;
        }
        if (!done)
            return;
        free(c->headers);
        c->headers = NULL;
        c->state = STREAMING;
        in_flight--;
        stat.connected++;
    }
    if (!body_bytes(c, buf + off, (size_t)n - off)) {
        stat.errors++;
        conn_close(c, CLOSED);
    }
}

/* ------------------------------------------------------------ reports */

static void report(void)
{
    uint64_t exp = expected_total();
    uint32_t p50 = percentile(&latency, 0.50), p99 = percentile(&latency, 0.99), max = latency.max;
    printf("{\"conns\":%d,\"connected\":%llu,\"failed\":%llu,\"http_errors\":%llu,"
           "\"closed_by_server\":%llu,\"deliveries\":%llu,\"distinct\":%llu,\"lost\":%llu,"
           "\"dup\":%llu,\"unexpected\":%llu,\"sentinels\":%llu,\"comments\":%llu,"
           "\"errors\":%llu,\"bytes\":%llu,\"p50_us\":%u,\"p99_us\":%u,\"max_us\":%u,"
           "\"first_rx_us\":%lld,\"last_rx_us\":%lld,\"connect_ms\":%lld,\"catchup_ms\":%lld,"
           "\"seq_max_us\":[",
           opt.conns, (unsigned long long)stat.connected, (unsigned long long)stat.failed,
           (unsigned long long)stat.http_errors, (unsigned long long)stat.closed_by_server,
           (unsigned long long)stat.deliveries, (unsigned long long)stat.distinct,
           (unsigned long long)(exp > stat.distinct ? exp - stat.distinct : 0),
           (unsigned long long)stat.dup, (unsigned long long)stat.unexpected,
           (unsigned long long)stat.sentinels, (unsigned long long)stat.comments,
           (unsigned long long)stat.errors, (unsigned long long)stat.bytes, p50, p99, max,
           (long long)stat.first_rx_us, (long long)stat.last_rx_us, (long long)stat.connect_ms,
           (long long)stat.catchup_ms);
    int per_seq_count = opt.expect <= PER_SEQ_MAX ? opt.expect : 0;
    for (int s = 1; s <= per_seq_count; s++)
        printf("%s%u", s > 1 ? "," : "", percentile(&per_seq[s], 1.0));
    printf("],\"seq_p50_us\":[");
    for (int s = 1; s <= per_seq_count; s++)
        printf("%s%u", s > 1 ? "," : "", percentile(&per_seq[s], 0.5));
    printf("]}\n");
    fflush(stdout);
}

static void drop_all(void)
{
    int dropped = 0;
    for (int i = 0; i < opt.conns; i++) {
        if (conns[i].fd >= 0) {
            dropped++;
            conn_close(&conns[i], CLOSED);
        }
    }
    next_to_open = opt.conns;
    printf("dropped %d\n", dropped);
    fflush(stdout);
}

static void reconnect_all(void)
{
    stat.failed = 0;
    stat.http_errors = 0;
    next_to_open = 0;
    round_start_us = mono_us();
    reconnect_at_us = round_start_us;
    round_reported = false;
    open_more();
}

static bool command(const char *line)
{
    if (!strcmp(line, "drop"))
        drop_all();
    else if (!strcmp(line, "reconnect"))
        reconnect_all();
    else if (!strcmp(line, "report"))
        report();
    else if (!strcmp(line, "quit"))
        return false;
    else
        fprintf(stderr, "loadgen: unknown command '%s'\n", line);
    return true;
}

/* Returns false on "quit" or end of input. */
static bool stdin_readable(void)
{
    static char buf[256];
    static size_t len;
    ssize_t n = read(STDIN_FILENO, buf + len, sizeof buf - 1 - len);
    if (n <= 0)
        return n < 0 && errno == EINTR;
    len += (size_t)n;
    char *nl;
    while ((nl = memchr(buf, '\n', len))) {
        *nl = '\0';
        bool go_on = command(buf);
        len -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, len);
        if (!go_on)
            return false;
    }
    if (len == sizeof buf - 1)
        len = 0; /* a line this long is no command */
    return true;
}

/* ------------------------------------------------------------ main */

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            die("%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            opt.port = int_arg(a, v, 1);
        else if (!strcmp(a, "--path"))
            opt.path_format = v;
        else if (!strcmp(a, "--conns"))
            opt.conns = int_arg(a, v, 1);
        else if (!strcmp(a, "--streams"))
            opt.streams = int_arg(a, v, 1);
        else if (!strcmp(a, "--stream-base"))
            opt.stream_base = int_arg(a, v, 0);
        else if (!strcmp(a, "--sources"))
            opt.sources = int_arg(a, v, 1);
        else if (!strcmp(a, "--inflight"))
            opt.inflight = int_arg(a, v, 1);
        else if (!strcmp(a, "--expect"))
            opt.expect = int_arg(a, v, 0);
        else if (!strcmp(a, "--timeout"))
            opt.timeout_s = int_arg(a, v, 1);
        else if (!strcmp(a, "--events-out"))
            opt.events_out = v;
        else
            die("unknown option %s", a);
    }
    if (!opt.port || opt.port > 65535)
        die("--port is required");
    if (opt.sources > 250)
        die("--sources: at most 250");
    const char *pct = strchr(opt.path_format, '%');
    if (!pct || pct[1] != 'd' || strchr(pct + 1, '%'))
        die("--path needs exactly one %%d");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.conns + 16)
        die("%d connections need more than the %llu files allowed", opt.conns,
            (unsigned long long)rl.rlim_cur);

    conns = calloc((size_t)opt.conns, sizeof *conns);
    size_t bitmap_bytes = ((size_t)opt.expect + 7) / 8;
    uint8_t *bitmaps = calloc((size_t)opt.conns, bitmap_bytes ? bitmap_bytes : 1);
    if (opt.expect <= PER_SEQ_MAX)
        per_seq = calloc((size_t)opt.expect + 1, sizeof *per_seq);
    if (opt.events_out) {
        if ((uint64_t)opt.streams * (uint64_t)opt.expect > 10000000)
            die("--events-out: at most 10 million events (streams x expect)");
        cells = calloc((size_t)opt.streams * (size_t)opt.expect + 1, sizeof *cells);
    }
    if (!conns || !bitmaps || (opt.expect <= PER_SEQ_MAX && !per_seq) || (opt.events_out && !cells))
        die("out of memory");
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].stream = i % opt.streams;
        conns[i].seen = bitmaps + (size_t)i * bitmap_bytes;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &in) < 0)
        die("epoll: %s", strerror(errno));

    int64_t deadline = mono_us() + (int64_t)opt.timeout_s * 1000000;
    round_start_us = mono_us();
    round_reported = false;
    open_more();
    bool running = true;
    struct epoll_event events[512];
    while (running) {
        if (mono_us() > deadline) {
            fprintf(stderr, "loadgen: --timeout of %d s reached\n", opt.timeout_s);
            break;
        }
        int n = epoll_wait(epfd, events, 512, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int k = 0; k < n && running; k++) {
            uint32_t i = events[k].data.u32;
            if (i == UINT32_MAX) {
                running = stdin_readable();
                continue;
            }
            struct conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            if (c->state == CONNECTING)
                send_request((int)i);
            else
                conn_readable((int)i);
        }
        open_more();
        print_complete_if_done();
    }
    report();
    if (cells)
        write_events();
    for (int i = 0; i < opt.conns; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i], CLOSED);
    free(cells);
    free(bitmaps);
    free(conns);
    free(per_seq);
    close(epfd);
    return 0;
}
