/* Unit tests of the publisher's group commit, with a fake store and clock:
 * batching, order, isolation of a refused request, retry, give-up, bounds,
 * and the threaded lifecycle with drain. */
#include "check.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_publish_store.h"
#include "publisher/publisher.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct answer {
    _Atomic int calls;
    _Atomic int outcome;
    _Atomic size_t accepted;
};

static void done(void *arg, enum publish_outcome outcome, size_t accepted)
{
    struct answer *a = arg;
    atomic_store(&a->outcome, (int)outcome);
    atomic_store(&a->accepted, accepted);
    atomic_fetch_add(&a->calls, 1);
}

/* A request of n events on stream "s" with data "<tag>-<i>" (or "BAD"). */
static struct publish_list request(const char *tag, size_t n)
{
    struct publish_list l = {xcalloc(n, sizeof *l.items), n};
    for (size_t i = 0; i < n; i++) {
        l.items[i].stream = xstrdup("s");
        if (strcmp(tag, "BAD") == 0)
            l.items[i].data = xstrdup("BAD");
        else
            l.items[i].data = xasprintf("%s-%zu", tag, i);
    }
    return l;
}

struct rig {
    struct fake_publish_store store;
    struct fake_clock clock;
    struct metrics metrics;
    struct publisher *p;
};

static void rig_init(struct rig *r, size_t max_events)
{
    fake_publish_store_init(&r->store);
    fake_clock_init(&r->clock, 1000);
    metrics_init(&r->metrics);
    r->p = publisher_new(&(struct publisher_deps){
        .store = &r->store.ops,
        .metrics = &r->metrics,
        .clock = &r->clock.ops,
        .max_queued_events = max_events,
        .give_up_ms = 5000,
    });
}

static void rig_clear(struct rig *r)
{
    publisher_free(r->p);
    fake_publish_store_clear(&r->store);
}

static void submit(struct rig *r, const char *tag, size_t n, struct answer *a)
{
    struct publish_list l = request(tag, n);
    CHECK_EQ(publisher_submit(r->p, &l, done, a), PUBLISH_QUEUED);
    CHECK(l.n == 0 && l.items == NULL);
}

static void test_one_transaction_in_order(void)
{
    struct rig r;
    rig_init(&r, 10000);
    struct answer a[3] = {0};
    submit(&r, "a", 2, &a[0]);
    submit(&r, "b", 3, &a[1]);
    submit(&r, "c", 1, &a[2]);
    CHECK_EQ(publisher_queued_events(r.p), 6);
    CHECK_EQ(publisher_flush_once(r.p), 0);
    CHECK_EQ(r.store.calls, 1);
    CHECK_EQ(r.store.batch_sizes[0], 6);
    const char *want[] = {"a-0", "a-1", "b-0", "b-1", "b-2", "c-0"};
    for (int i = 0; i < 6; i++)
        CHECK_STR(r.store.data[i], want[i]);
    for (int i = 0; i < 3; i++)
        CHECK(a[i].calls == 1 && a[i].outcome == PUBLISH_COMMITTED);
    CHECK_EQ(a[1].accepted, 3);
    CHECK_EQ(publisher_queued_events(r.p), 0);
    CHECK_EQ(r.metrics.publish_ok, 3);
    rig_clear(&r);
}

static void test_batches_keep_requests_whole(void)
{
    struct rig r;
    rig_init(&r, 10000);
    struct answer a[4] = {0};
    submit(&r, "a", 300, &a[0]);
    submit(&r, "b", 150, &a[1]);
    submit(&r, "c", 100, &a[2]); /* 550 > 500: starts the next batch */
    submit(&r, "d", 700, &a[3]); /* larger than a batch: goes alone */
    publisher_flush_once(r.p);
    publisher_flush_once(r.p);
    publisher_flush_once(r.p);
    CHECK_EQ(r.store.calls, 3);
    CHECK_EQ(r.store.batch_sizes[0], 450);
    CHECK_EQ(r.store.batch_sizes[1], 100);
    CHECK_EQ(r.store.batch_sizes[2], 700);
    CHECK_STR(r.store.data[450], "c-0");
    CHECK_STR(r.store.data[550], "d-0");
    for (int i = 0; i < 4; i++)
        CHECK_EQ(a[i].outcome, PUBLISH_COMMITTED);
    rig_clear(&r);
}

static void test_refused_request_fails_alone(void)
{
    struct rig r;
    rig_init(&r, 10000);
    struct answer a[3] = {0};
    submit(&r, "a", 2, &a[0]);
    submit(&r, "BAD", 2, &a[1]);
    submit(&r, "c", 2, &a[2]);
    CHECK_EQ(publisher_flush_once(r.p), 0);
    CHECK_EQ(r.store.calls, 4); /* the batch, then one by one */
    CHECK_EQ(a[0].outcome, PUBLISH_COMMITTED);
    CHECK_EQ(a[1].outcome, PUBLISH_REJECTED);
    CHECK_EQ(a[1].accepted, 0);
    CHECK_EQ(a[2].outcome, PUBLISH_COMMITTED);
    CHECK_EQ(r.store.committed, 4);
    CHECK_STR(r.store.data[2], "c-0");
    CHECK_EQ(r.metrics.publish_rejected, 1);
    rig_clear(&r);
}

static void test_failure_retries_then_gives_up(void)
{
    struct rig r;
    rig_init(&r, 10000);
    struct answer a = {0}, b = {0};
    submit(&r, "a", 1, &a);
    r.store.fail_next = 1;
    int64_t backoff = publisher_flush_once(r.p);
    CHECK(backoff > 0);
    CHECK_EQ(a.calls, 0); /* still queued */
    CHECK_EQ(publisher_queued_events(r.p), 1);
    CHECK_EQ(publisher_flush_once(r.p), 0);
    CHECK(a.calls == 1 && a.outcome == PUBLISH_COMMITTED);

    submit(&r, "b", 1, &b);
    fake_publish_store_set_down(&r.store, true);
    int64_t b1 = publisher_flush_once(r.p), b2 = publisher_flush_once(r.p);
    CHECK(b2 > b1); /* backs off further */
    CHECK_EQ(b.calls, 0);
    fake_clock_advance(&r.clock, 5000);
    publisher_flush_once(r.p);
    CHECK(b.calls == 1 && b.outcome == PUBLISH_UNAVAILABLE);
    CHECK_EQ(publisher_queued_events(r.p), 0);
    CHECK_EQ(r.metrics.publish_failed, 1);
    rig_clear(&r);
}

static void test_bounded_queue(void)
{
    struct rig r;
    rig_init(&r, 10);
    struct answer a = {0}, c = {0};
    submit(&r, "a", 8, &a);
    struct publish_list l = request("b", 5);
    CHECK_EQ(publisher_submit(r.p, &l, done, NULL), PUBLISH_FULL);
    CHECK_EQ(l.n, 5); /* the caller keeps its events */
    publish_list_clear(&l);
    publisher_flush_once(r.p);
    submit(&r, "c", 50, &c); /* an empty queue takes any single request */
    publisher_stop(r.p, 0);
    l = request("d", 1);
    CHECK_EQ(publisher_submit(r.p, &l, done, NULL), PUBLISH_STOPPED);
    publish_list_clear(&l);
    CHECK(c.calls == 1 && c.outcome == PUBLISH_UNAVAILABLE); /* deadline 0: answered, not lost */
    rig_clear(&r);
}

#define THREADS  4
#define REQUESTS 250

struct producer {
    struct rig *r;
    int id;
    struct answer answers[REQUESTS];
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    for (int i = 0; i < REQUESTS; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "t%d.%d", pr->id, i);
        struct publish_list l = request(tag, 3);
        while (publisher_submit(pr->r->p, &l, done, &pr->answers[i]) == PUBLISH_FULL)
            sched_yield();
    }
    return NULL;
}

static void test_threads_and_drain(void)
{
    struct rig r;
    rig_init(&r, 200);
    CHECK_EQ(publisher_start(r.p), 0);
    static struct producer prods[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        prods[i] = (struct producer){.r = &r, .id = i};
        pthread_create(&t[i], NULL, produce, &prods[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    publisher_stop(r.p, clock_now_ms(&r.clock.ops) + 10000); /* drain: everything flushed */
    size_t committed = 0;
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < REQUESTS; k++)
            committed +=
                prods[i].answers[k].calls == 1 && prods[i].answers[k].outcome == PUBLISH_COMMITTED;
    CHECK_EQ(committed, THREADS * REQUESTS);
    CHECK_EQ(r.store.committed, THREADS * REQUESTS * 3);
    /* Each request's three events are consecutive and in order. */
    for (size_t i = 0; i + 2 < r.store.committed; i += 3) {
        size_t len = strlen(r.store.data[i]);
        CHECK(strcmp(r.store.data[i] + len - 2, "-0") == 0);
        CHECK(strncmp(r.store.data[i], r.store.data[i + 2], len - 2) == 0);
        CHECK(strcmp(r.store.data[i + 2] + len - 2, "-2") == 0);
    }
    CHECK(r.store.calls < THREADS * REQUESTS); /* requests were grouped */
    printf("%zu requests in %zu transactions\n", (size_t)THREADS * REQUESTS, r.store.calls);
    publisher_stop(r.p, 0); /* twice is fine */
    rig_clear(&r);
}

static void test_drain_deadline_answers_everything(void)
{
    struct rig r;
    rig_init(&r, 1000);
    fake_publish_store_set_down(&r.store, true);
    CHECK_EQ(publisher_start(r.p), 0);
    struct answer a = {0};
    submit(&r, "a", 1, &a);
    publisher_stop(r.p, clock_now_ms(&r.clock.ops)); /* the deadline is now */
    CHECK(a.calls == 1 && a.outcome == PUBLISH_UNAVAILABLE);
    rig_clear(&r);
}

int main(void)
{
    test_one_transaction_in_order();
    test_batches_keep_requests_whole();
    test_refused_request_fails_alone();
    test_failure_retries_then_gives_up();
    test_bounded_queue();
    test_threads_and_drain();
    test_drain_deadline_answers_everything();
    return CHECK_DONE();
}
