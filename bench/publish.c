/*
 * sse-bench-publish: K concurrent publishers, one thread each.
 *
 * Publishes --rounds events to each of --streams streams (named s<base + i>),
 * round by round, so that stream i gets sequence numbers first-seq,
 * first-seq + 1, ... in order: stream i belongs to publisher i % clients.
 * Each event's data is "<seq> <publish time in µs since the epoch>" (padded
 * to --size bytes), which the load generator turns into latencies.
 *
 *   --mode sql    SELECT sse.publish($1, $2) through libpq, autocommit: one
 *                 transaction per event (or --batch events per transaction)
 *   --mode http   POST /publish to the gateway, JSON, keep-alive
 *   --mode nchan  POST /pub/s<i> to nginx + Nchan, keep-alive
 *
 * --rate spreads the events evenly over time (events per second, all
 * publishers together); --shuffle publishes the streams of a round in a
 * random order. One JSON line on standard output at the end.
 */
#include "bench_util.h"
#include "http_post.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum mode { MODE_SQL, MODE_HTTP, MODE_NCHAN };

static struct {
    enum mode mode;
    const char *conninfo;
    int port, clients, streams, stream_base, rounds, size, batch, first_seq;
    unsigned seed;
    bool shuffle;
    double rate;
} opt = {.clients = 1, .streams = 1, .rounds = 1, .batch = 1, .first_seq = 1, .seed = 1};

struct publisher {
    pthread_t thread;
    int index;
    int *streams; /* the streams this publisher owns */
    int stream_count;
    uint64_t events, errors;
    int64_t first_send_us, last_ack_us;
    uint32_t *ack_us; /* one per request */
    size_t acks;
    struct http_conn http; /* http and nchan */
    PGconn *pg;
};

const char *bench_tool = "publish";

static void sleep_until(int64_t mono)
{
    int64_t left = mono - mono_us();
    if (left > 0) {
        struct timespec ts = {.tv_sec = left / 1000000, .tv_nsec = (left % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

static int format_data(char *buf, size_t cap, int seq)
{
    int n = snprintf(buf, cap, "%d %lld", seq, (long long)wall_us());
    while (n < opt.size && (size_t)n < cap - 1)
        buf[n++] = '.';
    buf[n] = '\0';
    return n;
}

/* JSON string body for data that is digits, spaces and dots only. */
static bool publish_http(struct publisher *p, const int *streams, const int *seqs, int count)
{
    char body[65536], data[1024];
    size_t len = 0;
    if (opt.mode == MODE_NCHAN) {
        /* Nchan takes one message per request; batches go one by one. */
        for (int i = 0; i < count; i++) {
            int n = format_data(data, sizeof data, seqs[i]);
            char path[64];
            snprintf(path, sizeof path, "/pub/s%d", streams[i]);
            int status = http_post(&p->http, path, "text/plain", data, (size_t)n);
            if (status < 200 || status > 299)
                return false;
        }
        return true;
    }
    if (count > 1)
        body[len++] = '[';
    for (int i = 0; i < count; i++) {
        format_data(data, sizeof data, seqs[i]);
        int n = snprintf(body + len, sizeof body - len, "%s{\"stream\":\"s%d\",\"data\":\"%s\"}",
                         i ? "," : "", streams[i], data);
        if (n < 0 || (size_t)n >= sizeof body - len - 2)
            die("--batch or --size too large for one request");
        len += (size_t)n;
    }
    if (count > 1)
        body[len++] = ']';
    int status = http_post(&p->http, "/publish", "application/json", body, len);
    return status == 201;
}

/* ------------------------------------------------------------ SQL */

static bool pg_ok(PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "publish: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static bool publish_sql(struct publisher *p, const int *streams, const int *seqs, int count)
{
    if (count > 1 && !pg_ok(PQexec(p->pg, "BEGIN")))
        return false;
    for (int i = 0; i < count; i++) {
        char stream[32], data[1024];
        snprintf(stream, sizeof stream, "s%d", streams[i]);
        format_data(data, sizeof data, seqs[i]);
        const char *values[2] = {stream, data};
        if (!pg_ok(PQexecPrepared(p->pg, "publish", 2, values, NULL, NULL, 0))) {
            if (count > 1)
                PQclear(PQexec(p->pg, "ROLLBACK"));
            return false;
        }
    }
    return count == 1 || pg_ok(PQexec(p->pg, "COMMIT"));
}

/* ------------------------------------------------------------ publishers */

static void shuffle(int *v, int n, unsigned *seed)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rand_r(seed) % (unsigned)(i + 1));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    p->http = (struct http_conn){.fd = -1, .port = opt.port};
    if (opt.mode == MODE_SQL) {
        p->pg = PQconnectdb(opt.conninfo);
        if (PQstatus(p->pg) != CONNECTION_OK)
            die("connecting: %s", PQerrorMessage(p->pg));
        if (!pg_ok(PQprepare(p->pg, "publish", "SELECT sse.publish($1, $2)", 2, NULL)))
            die("cannot prepare sse.publish");
    }
    unsigned seed = opt.seed * 7919u + (unsigned)p->index;
    uint64_t total = (uint64_t)opt.rounds * (uint64_t)p->stream_count;
    p->ack_us = malloc((total / (uint64_t)opt.batch + 1) * sizeof *p->ack_us);
    int *order = malloc((size_t)p->stream_count * sizeof *order);
    int *batch_streams = malloc((size_t)opt.batch * sizeof *batch_streams);
    int *batch_seqs = malloc((size_t)opt.batch * sizeof *batch_seqs);
    if (!p->ack_us || !order || !batch_streams || !batch_seqs)
        die("out of memory");
    /* Each publisher paces its share of --rate. */
    double interval_us = opt.rate > 0 ? 1e6 * opt.clients / opt.rate : 0;
    int64_t start = mono_us();
    uint64_t sent = 0;
    int pending = 0;
    for (int round = 0; round < opt.rounds; round++) {
        for (int i = 0; i < p->stream_count; i++)
            order[i] = p->streams[i];
        if (opt.shuffle)
            shuffle(order, p->stream_count, &seed);
        for (int i = 0; i < p->stream_count; i++) {
            batch_streams[pending] = order[i];
            batch_seqs[pending] = opt.first_seq + round;
            pending++;
            bool last = round == opt.rounds - 1 && i == p->stream_count - 1;
            if (pending < opt.batch && !last)
                continue;
            if (interval_us > 0)
                sleep_until(start + (int64_t)(interval_us * (double)sent));
            int64_t t0 = wall_us();
            if (!p->first_send_us)
                p->first_send_us = t0;
            bool ok = opt.mode == MODE_SQL ? publish_sql(p, batch_streams, batch_seqs, pending)
                                           : publish_http(p, batch_streams, batch_seqs, pending);
            int64_t t1 = wall_us();
            p->last_ack_us = t1;
            p->ack_us[p->acks++] = (uint32_t)(t1 - t0);
            if (ok)
                p->events += (uint64_t)pending;
            else
                p->errors += (uint64_t)pending;
            sent += (uint64_t)pending;
            pending = 0;
        }
    }
    free(order);
    free(batch_streams);
    free(batch_seqs);
    if (p->pg)
        PQfinish(p->pg);
    http_close(&p->http);
    return NULL;
}

/* ------------------------------------------------------------ main */

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--shuffle")) {
            opt.shuffle = true;
            continue;
        }
        if (i + 1 >= argc)
            die("%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "sql"))
                opt.mode = MODE_SQL;
            else if (!strcmp(v, "http"))
                opt.mode = MODE_HTTP;
            else if (!strcmp(v, "nchan"))
                opt.mode = MODE_NCHAN;
            else
                die("--mode: sql, http or nchan");
        } else if (!strcmp(a, "--conninfo")) {
            opt.conninfo = v;
        } else if (!strcmp(a, "--port")) {
            opt.port = int_arg(a, v, 1);
        } else if (!strcmp(a, "--clients")) {
            opt.clients = int_arg(a, v, 1);
        } else if (!strcmp(a, "--streams")) {
            opt.streams = int_arg(a, v, 1);
        } else if (!strcmp(a, "--stream-base")) {
            opt.stream_base = int_arg(a, v, 0);
        } else if (!strcmp(a, "--rounds")) {
            opt.rounds = int_arg(a, v, 1);
        } else if (!strcmp(a, "--size")) {
            opt.size = int_arg(a, v, 0);
        } else if (!strcmp(a, "--batch")) {
            opt.batch = int_arg(a, v, 1);
        } else if (!strcmp(a, "--first-seq")) {
            opt.first_seq = int_arg(a, v, 1);
        } else if (!strcmp(a, "--seed")) {
            opt.seed = (unsigned)int_arg(a, v, 0);
        } else if (!strcmp(a, "--rate")) {
            opt.rate = strtod(v, NULL);
        } else {
            die("unknown option %s", a);
        }
    }
    if (opt.mode == MODE_SQL && !opt.conninfo)
        die("--mode sql needs --conninfo");
    if (opt.mode != MODE_SQL && (!opt.port || opt.port > 65535))
        die("--mode http and nchan need --port");
    if (opt.size > 1000)
        die("--size: at most 1000");
    if (opt.clients > opt.streams)
        opt.clients = opt.streams; /* a stream has one publisher, so order holds */
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct publisher *pubs = calloc((size_t)opt.clients, sizeof *pubs);
    int *stream_ids = malloc((size_t)opt.streams * sizeof *stream_ids);
    if (!pubs || !stream_ids)
        die("out of memory");
    /* Publisher k owns streams k, k + clients, k + 2 clients, ... */
    int next = 0;
    for (int k = 0; k < opt.clients; k++) {
        pubs[k].index = k;
        pubs[k].streams = stream_ids + next;
        for (int s = k; s < opt.streams; s += opt.clients)
            stream_ids[next++] = opt.stream_base + s;
        pubs[k].stream_count = (int)(stream_ids + next - pubs[k].streams);
    }
    int64_t t0 = mono_us();
    for (int k = 0; k < opt.clients; k++)
        if (pthread_create(&pubs[k].thread, NULL, publisher_main, &pubs[k]))
            die("pthread_create failed");
    for (int k = 0; k < opt.clients; k++)
        pthread_join(pubs[k].thread, NULL);
    double elapsed = (double)(mono_us() - t0) / 1e6;

    uint64_t events = 0, errors = 0, retries = 0, requests = 0;
    int64_t first = 0, last = 0;
    size_t acks = 0;
    for (int k = 0; k < opt.clients; k++)
        acks += pubs[k].acks;
    uint32_t *all = malloc((acks + 1) * sizeof *all);
    if (!all)
        die("out of memory");
    acks = 0;
    for (int k = 0; k < opt.clients; k++) {
        struct publisher *p = &pubs[k];
        events += p->events;
        errors += p->errors;
        retries += p->http.retries;
        requests += p->http.requests;
        if (p->first_send_us && (!first || p->first_send_us < first))
            first = p->first_send_us;
        if (p->last_ack_us > last)
            last = p->last_ack_us;
        memcpy(all + acks, p->ack_us, p->acks * sizeof *all);
        acks += p->acks;
        free(p->ack_us);
    }
    qsort(all, acks, sizeof *all, cmp_u32);
    static const char *names[] = {"sql", "http", "nchan"};
    printf("{\"mode\":\"%s\",\"clients\":%d,\"events\":%llu,\"errors\":%llu,\"retries\":%llu,"
           "\"requests\":%llu,\"elapsed_s\":%.3f,\"events_per_s\":%.1f,\"first_send_us\":%lld,"
           "\"last_ack_us\":%lld,\"p50_ack_us\":%u,\"p99_ack_us\":%u}\n",
           names[opt.mode], opt.clients, (unsigned long long)events, (unsigned long long)errors,
           (unsigned long long)retries, (unsigned long long)requests, elapsed,
           elapsed > 0 ? (double)events / elapsed : 0.0, (long long)first, (long long)last,
           acks ? all[acks / 2] : 0, acks ? all[(size_t)((double)(acks - 1) * 0.99)] : 0);
    free(all);
    free(stream_ids);
    free(pubs);
    return errors ? 1 : 0;
}
