/*
 * sse-bench-publish: K concurrent publishers, one thread each.
 *
 * Publishes --rounds events to each of --streams streams (named s<base + i>),
 * round by round, so that stream i gets sequence numbers first-seq,
 * first-seq + 1, ... in order: stream i belongs to publisher i % clients.
 * Each event's data is "<seq> <publish time in µs since the epoch>" (padded
 * to --size bytes), which the load generator turns into latencies.
 *
 *   --mode sql     SELECT sse.publish($1, $2) through libpq, autocommit: one
 *                  transaction per event (or --batch events per transaction)
 *   --mode notify  SELECT sse.notify($1, $2): ephemeral, no outbox, no sequencing
 *   --mode outbox  INSERT INTO sse.outbox directly, no function and no gateway
 *                  needed: one statement per transaction, --batch rows each
 *                  (PostgreSQL's own ceiling for the publishing side)
 *   --mode http    POST /publish to the gateway, JSON, keep-alive
 *   --mode nchan   POST /pub/s<i> to nginx + Nchan, keep-alive
 *
 * --rate spreads the events evenly over time (events per second, all
 * publishers together); --shuffle publishes the streams of a round in a
 * random order; --duration stops every publisher after that many seconds
 * whatever --rounds says; --log FILE writes one line per event, "<stream>
 * <seq> <publish time> <acknowledged time>" (µs since the epoch), for the
 * durable path's breakdown. One JSON line on standard output at the end.
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

enum mode { MODE_SQL, MODE_NOTIFY, MODE_OUTBOX, MODE_HTTP, MODE_NCHAN };

/* The modes that talk to PostgreSQL rather than to an HTTP server. */
#define MODE_IS_PG(m) ((m) == MODE_SQL || (m) == MODE_NOTIFY || (m) == MODE_OUTBOX)

static struct {
    enum mode mode;
    const char *conninfo, *log_path;
    int port, clients, streams, stream_base, rounds, size, batch, first_seq, duration_s;
    unsigned seed;
    bool shuffle;
    double rate;
} opt = {.clients = 1, .streams = 1, .rounds = 1, .batch = 1, .first_seq = 1, .seed = 1};

/* One event's times, for --log. */
struct logged {
    int stream, seq;
    int64_t sent_us, ack_us;
};

/* A growable array: runs bounded by --duration need not know their length. */
#define VEC_PUSH(v, n, cap, x)                                                                     \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 1024;                                                      \
            (v) = realloc((v), (cap) * sizeof *(v));                                               \
            if (!(v))                                                                              \
                die("out of memory");                                                              \
        }                                                                                          \
        (v)[(n)++] = (x);                                                                          \
    } while (0)

struct publisher {
    pthread_t thread;
    int index;
    int *streams; /* the streams this publisher owns */
    int stream_count;
    uint64_t events, errors;
    int64_t first_send_us, last_ack_us;
    uint32_t *ack_us; /* one per request */
    size_t acks, acks_cap;
    struct logged *log; /* one per event, with --log */
    size_t logged, logged_cap;
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

/* The data every driver sends: the sequence number and the publish time. */
static int format_data(char *buf, size_t cap, int seq, int64_t sent_us)
{
    int n = snprintf(buf, cap, "%d %lld", seq, (long long)sent_us);
    while (n < opt.size && (size_t)n < cap - 1)
        buf[n++] = '.';
    buf[n] = '\0';
    return n;
}

/* JSON string body for data that is digits, spaces and dots only. */
static bool publish_http(struct publisher *p, const int *streams, const int *seqs, int count,
                         int64_t sent_us)
{
    char body[65536], data[1024];
    size_t len = 0;
    if (opt.mode == MODE_NCHAN) {
        /* Nchan takes one message per request; batches go one by one. */
        for (int i = 0; i < count; i++) {
            int n = format_data(data, sizeof data, seqs[i], sent_us);
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
        format_data(data, sizeof data, seqs[i], sent_us);
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

static bool publish_sql(struct publisher *p, const int *streams, const int *seqs, int count,
                        int64_t sent_us)
{
    if (count > 1 && !pg_ok(PQexec(p->pg, "BEGIN")))
        return false;
    for (int i = 0; i < count; i++) {
        char stream[32], data[1024];
        snprintf(stream, sizeof stream, "s%d", streams[i]);
        format_data(data, sizeof data, seqs[i], sent_us);
        const char *values[2] = {stream, data};
        if (!pg_ok(PQexecPrepared(p->pg, "publish", 2, values, NULL, NULL, 0))) {
            if (count > 1)
                PQclear(PQexec(p->pg, "ROLLBACK"));
            return false;
        }
    }
    return count == 1 || pg_ok(PQexec(p->pg, "COMMIT"));
}

/* Appends s to an array literal being built in buf; the values here are
 * digits, letters, spaces and dots, so quoting them is enough. */
static size_t array_add(char *buf, size_t len, size_t cap, const char *s, bool last)
{
    int n = snprintf(buf + len, cap - len, "%s\"%s\"%s", len ? "" : "{", s, last ? "}" : ",");
    if (n < 0 || (size_t)n >= cap - len)
        die("--batch or --size too large for one statement");
    return len + (size_t)n;
}

/* Bare rows into the outbox, one statement and one round trip per
 * transaction: what PostgreSQL itself allows, with no function around it. */
static bool publish_outbox(struct publisher *p, const int *streams, const int *seqs, int count,
                           int64_t sent_us)
{
    static _Thread_local char stream_list[65536], data_list[262144];
    char stream[32], data[1024];
    if (count == 1) {
        snprintf(stream, sizeof stream, "s%d", streams[0]);
        format_data(data, sizeof data, seqs[0], sent_us);
        const char *values[2] = {stream, data};
        return pg_ok(PQexecPrepared(p->pg, "publish", 2, values, NULL, NULL, 0));
    }
    size_t sl = 0, dl = 0;
    for (int i = 0; i < count; i++) {
        snprintf(stream, sizeof stream, "s%d", streams[i]);
        format_data(data, sizeof data, seqs[i], sent_us);
        sl = array_add(stream_list, sl, sizeof stream_list, stream, i == count - 1);
        dl = array_add(data_list, dl, sizeof data_list, data, i == count - 1);
    }
    const char *values[2] = {stream_list, data_list};
    return pg_ok(PQexecPrepared(p->pg, "publish_many", 2, values, NULL, NULL, 0));
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
    if (MODE_IS_PG(opt.mode)) {
        static const char *const statements[] = {
            [MODE_SQL] = "SELECT sse.publish($1, $2)",
            [MODE_NOTIFY] = "SELECT sse.notify($1, $2)",
            [MODE_OUTBOX] = "INSERT INTO sse.outbox (stream, data) VALUES ($1, $2)",
        };
        static const char many[] = "INSERT INTO sse.outbox (stream, data) "
                                   "SELECT * FROM unnest($1::text[], $2::text[])";
        p->pg = PQconnectdb(opt.conninfo);
        if (PQstatus(p->pg) != CONNECTION_OK)
            die("connecting: %s", PQerrorMessage(p->pg));
        if (!pg_ok(PQprepare(p->pg, "publish", statements[opt.mode], 2, NULL)))
            die("cannot prepare %s", statements[opt.mode]);
        if (opt.mode == MODE_OUTBOX && !pg_ok(PQprepare(p->pg, "publish_many", many, 2, NULL)))
            die("cannot prepare %s", many);
    }
    unsigned seed = opt.seed * 7919u + (unsigned)p->index;
    int *order = malloc((size_t)p->stream_count * sizeof *order);
    int *batch_streams = malloc((size_t)opt.batch * sizeof *batch_streams);
    int *batch_seqs = malloc((size_t)opt.batch * sizeof *batch_seqs);
    if (!order || !batch_streams || !batch_seqs)
        die("out of memory");
    /* Each publisher paces its share of --rate. */
    double interval_us = opt.rate > 0 ? 1e6 * opt.clients / opt.rate : 0;
    int64_t start = mono_us();
    int64_t stop = opt.duration_s ? start + (int64_t)opt.duration_s * 1000000 : INT64_MAX;
    uint64_t sent = 0;
    int pending = 0;
    for (int round = 0; round < opt.rounds && mono_us() < stop; round++) {
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
            if (mono_us() >= stop) {
                pending = 0;
                break;
            }
            if (interval_us > 0)
                sleep_until(start + (int64_t)(interval_us * (double)sent));
            int64_t t0 = wall_us();
            if (!p->first_send_us)
                p->first_send_us = t0;
            bool ok =
                opt.mode == MODE_OUTBOX ? publish_outbox(p, batch_streams, batch_seqs, pending, t0)
                : MODE_IS_PG(opt.mode)  ? publish_sql(p, batch_streams, batch_seqs, pending, t0)
                                        : publish_http(p, batch_streams, batch_seqs, pending, t0);
            int64_t t1 = wall_us();
            p->last_ack_us = t1;
            VEC_PUSH(p->ack_us, p->acks, p->acks_cap, (uint32_t)(t1 - t0));
            for (int k = 0; opt.log_path && k < pending; k++) {
                struct logged l = {batch_streams[k], batch_seqs[k], t0, t1};
                VEC_PUSH(p->log, p->logged, p->logged_cap, l);
            }
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
            else if (!strcmp(v, "notify"))
                opt.mode = MODE_NOTIFY;
            else if (!strcmp(v, "outbox"))
                opt.mode = MODE_OUTBOX;
            else if (!strcmp(v, "http"))
                opt.mode = MODE_HTTP;
            else if (!strcmp(v, "nchan"))
                opt.mode = MODE_NCHAN;
            else
                die("--mode: sql, notify, outbox, http or nchan");
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
        } else if (!strcmp(a, "--duration")) {
            opt.duration_s = int_arg(a, v, 1);
        } else if (!strcmp(a, "--log")) {
            opt.log_path = v;
        } else if (!strcmp(a, "--rate")) {
            opt.rate = strtod(v, NULL);
        } else {
            die("unknown option %s", a);
        }
    }
    if (MODE_IS_PG(opt.mode) && !opt.conninfo)
        die("--mode sql, notify and outbox need --conninfo");
    if (!MODE_IS_PG(opt.mode) && (!opt.port || opt.port > 65535))
        die("--mode http and nchan need --port");
    if (opt.size > 1000)
        die("--size: at most 1000");
    if (opt.clients > opt.streams)
        opt.clients = opt.streams; /* a stream has one publisher, so order holds */
}

/* --log: every publisher's events, one line each; a failure to write is fatal,
 * since the breakdown would be made of a partial file. */
static void write_log(const struct publisher *pubs)
{
    FILE *f = fopen(opt.log_path, "w");
    if (!f)
        die("%s: cannot write", opt.log_path);
    for (int k = 0; k < opt.clients; k++)
        for (size_t i = 0; i < pubs[k].logged; i++) {
            const struct logged *l = &pubs[k].log[i];
            fprintf(f, "s%d %d %lld %lld\n", l->stream, l->seq, (long long)l->sent_us,
                    (long long)l->ack_us);
        }
    if (fclose(f) != 0)
        die("%s: cannot write", opt.log_path);
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
    if (opt.log_path)
        write_log(pubs);

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
        free(p->log);
    }
    qsort(all, acks, sizeof *all, cmp_u32);
    static const char *const names[] = {[MODE_SQL] = "sql",
                                        [MODE_NOTIFY] = "notify",
                                        [MODE_OUTBOX] = "outbox",
                                        [MODE_HTTP] = "http",
                                        [MODE_NCHAN] = "nchan"};
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
