/*
 * write_pool: the parallel half of a fan-out. One thread writing 10,000
 * sockets one after another takes about 5 µs each; waking the HTTP workers
 * instead costs each socket a resume, which libmicrohttpd pays with a walk
 * over its parked sockets (docs/DESIGN.md, Write paths). So a large round is
 * split by connection id over this pool's threads, each of which writes its
 * share straight to the parked sockets (connection_resume): one wake per
 * thread per round, the sockets written in parallel. A socket that does not
 * take everything is handed to its HTTP worker by connection_resume itself.
 *
 * Threads: the pool's, each with an inbox (a conn_list under its worker's
 * mutex); write_pool_flush from the dispatcher and heartbeat threads. Lock
 * order: a connection's mutex is never taken with an inbox's held.
 */
#include "registry/write_pool.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "registry/conn_list.h"
#include "registry/connection.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct shard {
    struct write_pool *pool;
    struct worker *worker; /* its mutex guards inbox */
    struct conn_list inbox;
    struct conn_list mine; /* owned by the shard's thread */
};

struct write_pool {
    struct shard *shards; /* fixed after new */
    unsigned n;           /* fixed after new */
    bool started;         /* owned by the caller of start/stop */
    _Atomic size_t pending;
};

struct write_pool *write_pool_new(unsigned threads)
{
    struct write_pool *p = xcalloc(1, sizeof *p);
    p->n = threads;
    p->shards = xcalloc(threads ? threads : 1, sizeof *p->shards);
    for (unsigned i = 0; i < threads; i++) {
        p->shards[i].pool = p;
        p->shards[i].worker = worker_new("writer", NULL, NULL);
    }
    atomic_init(&p->pending, 0);
    return p;
}

/* Resumes and releases every entry of l. */
static void write_all(struct conn_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        connection_resume(l->items[i]);
    conn_list_clear(l);
}

static void *run(void *arg)
{
    struct shard *s = arg;
    for (;;) {
        worker_lock(s->worker);
        while (s->inbox.len == 0 && !worker_stopping(s->worker))
            worker_cond_wait(s->worker, NULL);
        /* Swap the lists: the writes happen with the inbox free for the next round. */
        struct conn_list taken = s->inbox;
        s->inbox = s->mine;
        s->mine = taken;
        bool stop = worker_stopping(s->worker);
        worker_unlock(s->worker);
        size_t n = s->mine.len;
        write_all(&s->mine);
        atomic_fetch_sub(&s->pool->pending, n);
        if (stop)
            return NULL;
    }
}

int write_pool_start(struct write_pool *p)
{
    for (unsigned i = 0; i < p->n; i++)
        if (worker_start(p->shards[i].worker, run, &p->shards[i]) != 0)
            return -1;
    p->started = true;
    return 0;
}

void write_pool_stop(struct write_pool *p)
{
    if (!p || !p->started)
        return;
    for (unsigned i = 0; i < p->n; i++)
        worker_stop(p->shards[i].worker);
    p->started = false;
    /* A round handed over after a thread's last look is written here. */
    for (unsigned i = 0; i < p->n; i++) {
        size_t n = p->shards[i].inbox.len;
        write_all(&p->shards[i].inbox);
        atomic_fetch_sub(&p->pending, n);
    }
}

void write_pool_free(struct write_pool *p)
{
    if (!p)
        return;
    write_pool_stop(p);
    for (unsigned i = 0; i < p->n; i++) {
        conn_list_free(&p->shards[i].inbox);
        conn_list_free(&p->shards[i].mine);
        worker_free(p->shards[i].worker);
    }
    free(p->shards);
    free(p);
}

void write_pool_flush(struct write_pool *p, struct conn_list *l)
{
    if (!p || !p->started || l->len <= WRITE_POOL_INLINE_MAX) {
        conn_list_resume_all(l);
        return;
    }
    atomic_fetch_add(&p->pending, l->len);
    /* Split first, with no lock held; then each inbox is locked once. */
    struct conn_list *share = xcalloc(p->n, sizeof *share);
    for (size_t i = 0; i < l->len; i++)
        conn_list_push(&share[connection_id(l->items[i]) % p->n], l->items[i]);
    l->len = 0; /* the references moved */
    for (unsigned k = 0; k < p->n; k++) {
        if (!share[k].len)
            continue;
        struct shard *s = &p->shards[k];
        worker_lock(s->worker);
        if (s->inbox.len == 0) { /* the usual case: hand over the whole array */
            struct conn_list empty = s->inbox;
            s->inbox = share[k];
            share[k] = empty;
        } else {
            for (size_t i = 0; i < share[k].len; i++)
                conn_list_push(&s->inbox, share[k].items[i]);
            share[k].len = 0;
        }
        worker_signal(s->worker);
        worker_unlock(s->worker);
        free(share[k].items);
    }
    free(share);
}

size_t write_pool_pending(struct write_pool *p)
{
    return p ? atomic_load(&p->pending) : 0;
}
