/*
 * fake_pg: an in-memory stand-in for the LISTEN connection (see fake_pg.h).
 * Notifications travel in two FIFOs per connection, as in libpq: "wire"
 * (sent by the server, not read yet: the eventfd is readable) and
 * "buffered" (read by libpq, waiting for PQnotifies). consume moves the wire
 * into the buffer; next_notification pops the buffer. One mutex guards all.
 */
#include "fakes/fake_pg.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct note {
    struct note *next;
    char *channel, *payload;
};

struct note_fifo {
    struct note *head, **tail;
};

struct fake_conn {
    bool open;
    int efd;
    struct note_fifo wire, buffered;
};

struct fake_pg {
    pthread_mutex_t mtx;
    bool fail_connect, fail_consume;
    char *fail_exec_prefix;
    int exec_delay_ms;
    int connects;
    int execs;             /* round trips: exec calls */
    struct fake_conn conn; /* the only connection; the handle is &conn */
    char **log;
    size_t nlog, taken;
};

static void misuse(const char *what)
{
    (void)fprintf(stderr, "fake_pg: misuse: %s\n", what);
    abort();
}

static void fifo_init(struct note_fifo *q)
{
    q->head = NULL;
    q->tail = &q->head;
}

static void fifo_push(struct note_fifo *q, const char *channel, const char *payload)
{
    struct note *n = xcalloc(1, sizeof *n);
    n->channel = xstrdup(channel);
    n->payload = xstrdup(payload);
    *q->tail = n;
    q->tail = &n->next;
}

static void fifo_append(struct note_fifo *q, struct note_fifo *from)
{
    if (!from->head)
        return;
    *q->tail = from->head;
    q->tail = from->tail;
    fifo_init(from);
}

static void fifo_clear(struct note_fifo *q)
{
    while (q->head) {
        struct note *n = q->head;
        q->head = n->next;
        free(n->channel);
        free(n->payload);
        free(n);
    }
    fifo_init(q);
}

/* Makes the open connection's socket readable. Mutex held. */
static void signal_readable(struct fake_pg *f)
{
    uint64_t one = 1;
    if (write(f->conn.efd, &one, sizeof one) != (ssize_t)sizeof one)
        misuse("eventfd write failed");
}

/* Aborts unless conn is the open connection. Mutex held. */
static void check_conn(struct fake_pg *f, void *conn)
{
    if (conn != &f->conn || !f->conn.open)
        misuse("call on a connection that is not open");
}

struct fake_pg *fake_pg_new(void)
{
    struct fake_pg *f = xcalloc(1, sizeof *f);
    PTOK(pthread_mutex_init(&f->mtx, NULL));
    f->conn.efd = -1;
    fifo_init(&f->conn.wire);
    fifo_init(&f->conn.buffered);
    return f;
}

void fake_pg_free(struct fake_pg *f)
{
    if (!f)
        return;
    if (f->conn.open)
        misuse("freed with a connection still open (the listener leaked it)");
    for (size_t i = 0; i < f->nlog; i++)
        free(f->log[i]);
    free(f->log);
    free(f->fail_exec_prefix);
    PTOK(pthread_mutex_destroy(&f->mtx));
    free(f);
}

static void *fconnect(void *ctx, const char *conninfo, char **err)
{
    (void)conninfo;
    struct fake_pg *f = ctx;
    void *conn = NULL;
    PTOK(pthread_mutex_lock(&f->mtx));
    if (f->conn.open)
        misuse("connect while a connection is open");
    if (f->fail_connect) {
        *err = xstrdup("connection refused (fake)");
    } else {
        f->conn.open = true;
        f->conn.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (f->conn.efd < 0)
            misuse("eventfd failed");
        f->connects++;
        conn = &f->conn;
    }
    PTOK(pthread_mutex_unlock(&f->mtx));
    return conn;
}

static void ffinish(void *ctx, void *conn)
{
    struct fake_pg *f = ctx;
    PTOK(pthread_mutex_lock(&f->mtx));
    check_conn(f, conn);
    close(f->conn.efd);
    f->conn.efd = -1;
    f->conn.open = false;
    /* The server forgets a gone session's notifications (at most once). */
    fifo_clear(&f->conn.wire);
    fifo_clear(&f->conn.buffered);
    PTOK(pthread_mutex_unlock(&f->mtx));
}

static int fexec(void *ctx, void *conn, const char *sql, char **err)
{
    struct fake_pg *f = ctx;
    PTOK(pthread_mutex_lock(&f->mtx));
    int delay_ms = f->exec_delay_ms;
    PTOK(pthread_mutex_unlock(&f->mtx));
    if (delay_ms > 0)
        nanosleep(&(struct timespec){delay_ms / 1000, (delay_ms % 1000) * 1000000L}, NULL);
    PTOK(pthread_mutex_lock(&f->mtx));
    check_conn(f, conn);
    f->execs++;
    const char *prefix = f->fail_exec_prefix;
    bool fail = false;
    /* One statement per log entry, as the server runs them; one failing
     * fails the whole call, as PQexec reports it. */
    for (const char *at = sql, *end; at; at = end ? end + 2 : NULL) {
        end = strstr(at, "; ");
        size_t len = end ? (size_t)(end - at) : strlen(at);
        f->log = xrealloc(f->log, (f->nlog + 1) * sizeof *f->log);
        f->log[f->nlog++] = xstrndup(at, len);
        fail = fail || (prefix && strncmp(at, prefix, strlen(prefix)) == 0);
    }
    if (fail)
        *err = xstrdup("server closed the connection unexpectedly (fake)");
    PTOK(pthread_mutex_unlock(&f->mtx));
    return fail ? -1 : 0;
}

static int fsocket(void *ctx, void *conn)
{
    struct fake_pg *f = ctx;
    PTOK(pthread_mutex_lock(&f->mtx));
    check_conn(f, conn);
    int fd = f->conn.efd;
    PTOK(pthread_mutex_unlock(&f->mtx));
    return fd;
}

static int fconsume(void *ctx, void *conn)
{
    struct fake_pg *f = ctx;
    PTOK(pthread_mutex_lock(&f->mtx));
    check_conn(f, conn);
    uint64_t count;
    /* Reading resets the eventfd; EAGAIN (nothing pending) is fine. */
    ssize_t n = read(f->conn.efd, &count, sizeof count);
    (void)n;
    bool fail = f->fail_consume;
    if (!fail)
        fifo_append(&f->conn.buffered, &f->conn.wire);
    PTOK(pthread_mutex_unlock(&f->mtx));
    return fail ? -1 : 0;
}

static int fnext(void *ctx, void *conn, char **channel, char **payload)
{
    struct fake_pg *f = ctx;
    PTOK(pthread_mutex_lock(&f->mtx));
    check_conn(f, conn);
    struct note *n = f->conn.buffered.head;
    if (n) {
        f->conn.buffered.head = n->next;
        if (!n->next)
            f->conn.buffered.tail = &f->conn.buffered.head;
        *channel = n->channel;
        *payload = n->payload;
        free(n);
    }
    PTOK(pthread_mutex_unlock(&f->mtx));
    return n ? 1 : 0;
}

struct pg_ops fake_pg_ops(struct fake_pg *f)
{
    return (struct pg_ops){
        .connect = fconnect,
        .finish = ffinish,
        .exec = fexec,
        .socket = fsocket,
        .consume = fconsume,
        .next_notification = fnext,
        .ctx = f,
    };
}

void fake_pg_fail_connect(struct fake_pg *f, bool fail)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    f->fail_connect = fail;
    PTOK(pthread_mutex_unlock(&f->mtx));
}

void fake_pg_fail_exec(struct fake_pg *f, const char *prefix)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    free(f->fail_exec_prefix);
    f->fail_exec_prefix = prefix ? xstrdup(prefix) : NULL;
    PTOK(pthread_mutex_unlock(&f->mtx));
}

void fake_pg_fail_consume(struct fake_pg *f, bool fail)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    f->fail_consume = fail;
    if (fail && f->conn.open)
        signal_readable(f);
    PTOK(pthread_mutex_unlock(&f->mtx));
}

void fake_pg_exec_delay(struct fake_pg *f, int ms)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    f->exec_delay_ms = ms;
    PTOK(pthread_mutex_unlock(&f->mtx));
}

void fake_pg_notify(struct fake_pg *f, const char *channel, const char *payload)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    if (f->conn.open) {
        fifo_push(&f->conn.wire, channel, payload);
        signal_readable(f);
    }
    PTOK(pthread_mutex_unlock(&f->mtx));
}

void fake_pg_notify_buffered(struct fake_pg *f, const char *channel, const char *payload)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    if (f->conn.open)
        fifo_push(&f->conn.buffered, channel, payload);
    PTOK(pthread_mutex_unlock(&f->mtx));
}

int fake_pg_count(struct fake_pg *f, const char *sql)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    int n = 0;
    for (size_t i = 0; i < f->nlog; i++)
        n += strcmp(f->log[i], sql) == 0;
    PTOK(pthread_mutex_unlock(&f->mtx));
    return n;
}

char *fake_pg_take_log(struct fake_pg *f)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    size_t size = 1;
    for (size_t i = f->taken; i < f->nlog; i++)
        size += strlen(f->log[i]) + 2;
    char *out = xmalloc(size);
    size_t at = 0;
    for (size_t i = f->taken; i < f->nlog; i++) {
        if (i > f->taken) {
            memcpy(out + at, "; ", 2);
            at += 2;
        }
        size_t n = strlen(f->log[i]);
        memcpy(out + at, f->log[i], n);
        at += n;
    }
    out[at] = '\0';
    f->taken = f->nlog;
    PTOK(pthread_mutex_unlock(&f->mtx));
    return out;
}

int fake_pg_connects(struct fake_pg *f)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    int n = f->connects;
    PTOK(pthread_mutex_unlock(&f->mtx));
    return n;
}

bool fake_pg_open(struct fake_pg *f)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    bool open = f->conn.open;
    PTOK(pthread_mutex_unlock(&f->mtx));
    return open;
}

int fake_pg_round_trips(struct fake_pg *f)
{
    PTOK(pthread_mutex_lock(&f->mtx));
    int n = f->execs;
    PTOK(pthread_mutex_unlock(&f->mtx));
    return n;
}
