/*
 * publisher: owns the queue of HTTP publish requests and the thread that
 * commits them. Group commit without a timer: while one transaction is in
 * flight, new requests pile up in the queue, and the next transaction takes
 * everything waiting (up to PUBLISHER_BATCH_EVENTS events). An idle publisher
 * therefore commits a lone request at once, and a busy one batches as many
 * as arrive during a commit, which keeps a request's wait under one commit
 * past the previous commit, with no batching delay of its own. Requests stay
 * whole and in arrival order, so the events of one request are consecutive
 * and in array order.
 *
 * Failure handling: a batch the database refuses for its content is retried
 * one request per transaction, so one bad request fails alone; a batch that
 * fails for any other reason stays queued and is retried with backoff, and a
 * request that waited longer than give_up_ms is answered UNAVAILABLE. A
 * retried transaction whose commit was lost with the connection may have
 * committed: that case can publish twice (at-least-once), never lose an
 * acknowledged event. Does not: parse bodies (publish_body) or speak HTTP.
 */
#include "publisher/publisher.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 50
/* How long a busy publisher waits for the clients its last commit answered
 * to come back: far under a commit, so a lone request never waits long. */
#define LINGER_US      300
#define BACKOFF_MAX_MS 2000

struct request {
    struct request *next;
    struct publish_list list;
    publish_done_fn done;
    void *arg;
    int64_t queued_ms;
};

struct publisher {
    struct publisher_deps deps;  /* fixed after start */
    struct worker *worker;       /* fixed after start: its mutex guards the queue */
    struct request *head, *tail; /* guarded by the worker's mutex */
    size_t queued_events;        /* guarded by the worker's mutex */
    int64_t deadline_ms;         /* guarded by the worker's mutex: drain deadline once stopping */
    int64_t backoff_ms;          /* owned by publisher thread */
    size_t last_batch_events;    /* owned by publisher thread: the last commit's size */
};

struct publisher *publisher_new(const struct publisher_deps *deps)
{
    struct publisher *p = xcalloc(1, sizeof *p);
    p->deps = *deps;
    p->worker = worker_new("publisher", NULL, NULL);
    return p;
}

enum publish_submit publisher_submit(struct publisher *p, struct publish_list *events,
                                     publish_done_fn done, void *arg)
{
    enum publish_submit r = PUBLISH_QUEUED;
    worker_lock(p->worker);
    if (worker_stopping(p->worker)) {
        r = PUBLISH_STOPPED;
    } else if (p->queued_events && p->queued_events + events->n > p->deps.max_queued_events) {
        r = PUBLISH_FULL; /* an empty queue takes any one request: bodies are bounded */
    } else {
        struct request *q = xcalloc(1, sizeof *q);
        q->list = *events;
        *events = (struct publish_list){0};
        q->done = done;
        q->arg = arg;
        q->queued_ms = clock_now_ms(p->deps.clock);
        if (p->tail)
            p->tail->next = q;
        else
            p->head = q;
        p->tail = q;
        p->queued_events += q->list.n;
        worker_signal(p->worker);
    }
    worker_unlock(p->worker);
    return r;
}

/* Takes whole requests from the head, up to the batch size (at least one). */
static struct request *take_batch(struct publisher *p)
{
    worker_lock(p->worker);
    struct request *first = p->head, *last = NULL;
    size_t events = 0;
    for (struct request *q = p->head; q; q = q->next) {
        if (last && events + q->list.n > PUBLISHER_BATCH_EVENTS)
            break;
        events += q->list.n;
        last = q;
    }
    if (last) {
        p->head = last->next;
        if (!p->head)
            p->tail = NULL;
        last->next = NULL;
        p->queued_events -= events;
    }
    worker_unlock(p->worker);
    return last ? first : NULL;
}

/* Puts a batch back at the head, in order, for a retry. */
static void put_back(struct publisher *p, struct request *batch)
{
    if (!batch)
        return;
    struct request *last = batch;
    size_t events = batch->list.n;
    while (last->next) {
        last = last->next;
        events += last->list.n;
    }
    worker_lock(p->worker);
    last->next = p->head;
    p->head = batch;
    if (!p->tail)
        p->tail = last;
    p->queued_events += events;
    worker_unlock(p->worker);
}

static void answer(struct publisher *p, struct request *q, enum publish_outcome outcome)
{
    struct metrics *m = p->deps.metrics;
    metrics_add(outcome == PUBLISH_COMMITTED  ? &m->publish_ok
                : outcome == PUBLISH_REJECTED ? &m->publish_rejected
                                              : &m->publish_failed,
                1);
    q->done(q->arg, outcome, outcome == PUBLISH_COMMITTED ? q->list.n : 0);
    publish_list_clear(&q->list);
    free(q);
}

static void answer_all(struct publisher *p, struct request *batch, enum publish_outcome outcome)
{
    while (batch) {
        struct request *next = batch->next;
        answer(p, batch, outcome);
        batch = next;
    }
}

/* Publishes every event of the requests linked from batch, in order, in one
 * transaction. */
static enum publish_store_result publish(struct publisher *p, struct request *batch)
{
    size_t total = 0, n = 0;
    for (struct request *q = batch; q; q = q->next)
        total += q->list.n;
    const struct publish_item **all = xmalloc(total * sizeof *all);
    for (struct request *q = batch; q; q = q->next)
        for (size_t i = 0; i < q->list.n; i++)
            all[n++] = &q->list.items[i];
    enum publish_store_result r = p->deps.store->publish(p->deps.store->ctx, all, n);
    free(all);
    return r;
}

/* After a refused batch: each request in its own transaction, in order. A
 * failure of the database itself puts the rest back for a retry. */
static int64_t publish_one_by_one(struct publisher *p, struct request *batch)
{
    while (batch) {
        struct request *next = batch->next;
        batch->next = NULL;
        enum publish_store_result r = publish(p, batch);
        if (r == PUBLISH_STORE_FAILED) {
            batch->next = next;
            put_back(p, batch);
            return p->backoff_ms;
        }
        answer(p, batch, r == PUBLISH_STORE_OK ? PUBLISH_COMMITTED : PUBLISH_REJECTED);
        batch = next;
    }
    return 0;
}

/* Answers UNAVAILABLE every request at the head that waited past give_up_ms. */
static void give_up_stale(struct publisher *p, int64_t now)
{
    for (;;) {
        worker_lock(p->worker);
        struct request *q = p->head;
        if (q && now - q->queued_ms >= p->deps.give_up_ms) {
            p->head = q->next;
            if (!p->head)
                p->tail = NULL;
            p->queued_events -= q->list.n;
            q->next = NULL;
        } else {
            q = NULL;
        }
        worker_unlock(p->worker);
        if (!q)
            return;
        answer(p, q, PUBLISH_UNAVAILABLE);
    }
}

int64_t publisher_flush_once(struct publisher *p)
{
    struct request *batch = take_batch(p);
    if (!batch)
        return 0;
    p->last_batch_events = 0;
    for (struct request *q = batch; q; q = q->next)
        p->last_batch_events += q->list.n;
    switch (publish(p, batch)) {
    case PUBLISH_STORE_OK:
        p->backoff_ms = 0;
        answer_all(p, batch, PUBLISH_COMMITTED);
        return 0;
    case PUBLISH_STORE_REJECTED:
        p->backoff_ms = 0;
        if (!batch->next) {
            answer(p, batch, PUBLISH_REJECTED);
            return 0;
        }
        return publish_one_by_one(p, batch);
    case PUBLISH_STORE_FAILED:
        break;
    }
    put_back(p, batch);
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (p->backoff_ms > BACKOFF_MAX_MS)
        p->backoff_ms = BACKOFF_MAX_MS;
    give_up_stale(p, clock_now_ms(p->deps.clock));
    return p->backoff_ms;
}

/* Waits for work, or for wait_ms after a failure; false once stopped and
 * either drained or past the drain deadline. */
static bool wait_for_work(struct publisher *p, int64_t wait_ms)
{
    worker_lock(p->worker);
    bool stopping = worker_stopping(p->worker);
    if (stopping && wait_ms > p->deadline_ms - clock_now_ms(p->deps.clock))
        wait_ms = p->deadline_ms - clock_now_ms(p->deps.clock);
    if (wait_ms > 0) {
        /* A backoff: new requests do not cut it short (they would hammer a
         * database that is down), the start of a drain does. */
        struct timespec ts = clock_monotonic_deadline(wait_ms);
        while (worker_stopping(p->worker) == stopping && worker_cond_wait(p->worker, &ts))
            ;
    }
    while (!p->head && !worker_stopping(p->worker))
        worker_cond_wait(p->worker, NULL);
    /* The clients a commit answered send their next requests at about the
     * same time, but not at the same instant: taking only what is queued the
     * moment the commit returns ran batches of ~2 events with 16 clients. So
     * wait up to LINGER_US for as many events as the last batch had. A lone
     * client (a last batch of one event) never waits. */
    if (wait_ms <= 0 && p->last_batch_events > 1 && p->queued_events < p->last_batch_events) {
        struct timespec ts = clock_monotonic_deadline_us(LINGER_US);
        while (!worker_stopping(p->worker) && p->queued_events < p->last_batch_events &&
               worker_cond_wait(p->worker, &ts))
            ;
    }
    bool go_on =
        p->head && (!worker_stopping(p->worker) || clock_now_ms(p->deps.clock) < p->deadline_ms);
    worker_unlock(p->worker);
    return go_on;
}

static void *run(void *arg)
{
    struct publisher *p = arg;
    int64_t wait_ms = 0;
    while (wait_for_work(p, wait_ms))
        wait_ms = publisher_flush_once(p);
    return NULL;
}

int publisher_start(struct publisher *p)
{
    return worker_start(p->worker, run, p);
}

void publisher_stop(struct publisher *p, int64_t deadline_ms)
{
    if (!p)
        return;
    /* Set before the flag, so the thread never sees a stop without its
     * deadline; a second stop keeps the first one's. */
    worker_lock(p->worker);
    if (!worker_stopping(p->worker))
        p->deadline_ms = deadline_ms;
    worker_unlock(p->worker);
    worker_stop(p->worker);
    /* Whatever the deadline left behind is answered, never dropped. */
    worker_lock(p->worker);
    struct request *rest = p->head;
    p->head = p->tail = NULL;
    p->queued_events = 0;
    worker_unlock(p->worker);
    if (rest)
        log_warn("publisher", "drain deadline passed with publish requests unanswered");
    answer_all(p, rest, PUBLISH_UNAVAILABLE);
}

void publisher_free(struct publisher *p)
{
    if (!p)
        return;
    publisher_stop(p, 0);
    worker_free(p->worker);
    free(p);
}

size_t publisher_queued_events(struct publisher *p)
{
    worker_lock(p->worker);
    size_t n = p->queued_events;
    worker_unlock(p->worker);
    return n;
}

void publish_list_clear(struct publish_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].stream);
        free(l->items[i].data);
        free(l->items[i].event);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

size_t publish_list_bytes(const struct publish_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strlen(l->items[i].stream) + strlen(l->items[i].data) +
             (l->items[i].event ? strlen(l->items[i].event) : 0);
    return n;
}
