/*
 * Unit tests of the dispatch queue: FIFO order and message contents, depth,
 * pop_all blocking until another thread pushes (bounded waits, no
 * sleep-and-hope for the positive case), several producers keeping their
 * own order, and freeing what is left. Run under TSan as well.
 */
#include "check.h"
#include "dispatch/dispatch_queue.h"
#include "registry/connection.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Joins t within timeout_ms; false if it is still running. */
static bool join_within(pthread_t t, long timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(t, NULL, &deadline) == 0;
}

static void test_fifo_and_contents(void)
{
    struct dispatch_queue *q = dispatch_queue_new();
    CHECK(dispatch_queue_try_pop_all(q) == NULL);
    CHECK_EQ(dispatch_queue_depth(q), 0);

    const char *streams[] = {"s"};
    struct connection *c =
        connection_new(&(struct connection_params){.streams = streams, .nstreams = 1});
    char data[] = "da\nta";
    dispatch_queue_push(q, dispatch_msg_wake());
    dispatch_queue_push(q, dispatch_msg_ephemeral("s", "e", data, 5));
    memset(data, 'X', sizeof data - 1); /* the message owns a copy */
    dispatch_queue_push(q, dispatch_msg_connect(connection_ref(c), true, 42));
    dispatch_queue_push(q, dispatch_msg_ephemeral("t", NULL, "", 0));
    dispatch_queue_push(q, dispatch_msg_stop());
    CHECK_EQ(dispatch_queue_depth(q), 5);

    struct dispatch_msg *m = dispatch_queue_pop_all(q);
    CHECK_EQ(dispatch_queue_depth(q), 0);
    CHECK(dispatch_queue_try_pop_all(q) == NULL);
    enum dispatch_kind want[] = {DISPATCH_WAKE, DISPATCH_EPHEMERAL, DISPATCH_CONNECT,
                                 DISPATCH_EPHEMERAL, DISPATCH_STOP};
    for (int i = 0; i < 5; i++) {
        CHECK(m != NULL);
        if (!m)
            break;
        CHECK_EQ(m->kind, want[i]);
        if (i == 1) {
            CHECK_STR(m->stream, "s");
            CHECK_STR(m->event, "e");
            CHECK_EQ(m->data_len, 5);
            CHECK(memcmp(m->data, "da\nta", 5) == 0);
        } else if (i == 2) {
            CHECK(m->conn == c && m->has_cursor && m->cursor == 42);
        } else if (i == 3) {
            CHECK(m->event == NULL);
            CHECK_EQ(m->data_len, 0);
        }
        struct dispatch_msg *next = m->next;
        dispatch_msg_free(m);
        m = next;
    }
    CHECK(m == NULL);
    dispatch_msg_free(NULL);

    /* Leftovers, a connection reference included, go with the queue. */
    dispatch_queue_push(q, dispatch_msg_connect(connection_ref(c), false, 0));
    dispatch_queue_push(q, dispatch_msg_wake());
    dispatch_queue_free(q);
    dispatch_queue_free(NULL);
    connection_unref(c);
}

struct consumer {
    struct dispatch_queue *q;
    struct dispatch_msg *got;
    atomic_bool returned;
};

static void *consume_once(void *arg)
{
    struct consumer *co = arg;
    co->got = dispatch_queue_pop_all(co->q);
    atomic_store(&co->returned, true);
    return NULL;
}

static void test_pop_all_blocks_until_push(void)
{
    struct consumer co = {dispatch_queue_new(), NULL, false};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, consume_once, &co), 0);
    /* The negative half needs a pause: pop_all must not return on an empty queue. */
    sleep_ms(50);
    CHECK(!atomic_load(&co.returned));
    dispatch_queue_push(co.q, dispatch_msg_wake());
    bool joined = join_within(t, 5000);
    CHECK(joined);
    if (!joined)
        return; /* the consumer is stuck: report rather than hang */
    CHECK(co.got && co.got->kind == DISPATCH_WAKE && co.got->next == NULL);
    dispatch_msg_free(co.got);
    CHECK_EQ(dispatch_queue_depth(co.q), 0);
    dispatch_queue_free(co.q);
}

#define PRODUCERS    4
#define PER_PRODUCER 5000

struct producer {
    struct dispatch_queue *q;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        /* The stream says who sent it, the data its sequence number. */
        char who[2] = {(char)('a' + p->id), '\0'}, seq[16];
        int n = snprintf(seq, sizeof seq, "%d", i);
        dispatch_queue_push(p->q, dispatch_msg_ephemeral(who, NULL, seq, (size_t)n));
    }
    return NULL;
}

static void test_many_producers_keep_their_order(void)
{
    struct dispatch_queue *q = dispatch_queue_new();
    pthread_t t[PRODUCERS];
    struct producer p[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){q, i};
        CHECK_EQ(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    int next_seq[PRODUCERS] = {0}, total = 0, pops = 0;
    bool in_order = true, empty_pop = false;
    while (total < PRODUCERS * PER_PRODUCER) {
        struct dispatch_msg *m = dispatch_queue_pop_all(q);
        pops++;
        empty_pop = empty_pop || m == NULL;
        while (m) {
            struct dispatch_msg *next = m->next;
            int id = m->stream[0] - 'a';
            if (id < 0 || id >= PRODUCERS || atoi(m->data) != next_seq[id])
                in_order = false;
            else
                next_seq[id]++;
            total++;
            dispatch_msg_free(m);
            m = next;
        }
    }
    for (int i = 0; i < PRODUCERS; i++) {
        CHECK(join_within(t[i], 5000));
        CHECK_EQ(next_seq[i], PER_PRODUCER);
    }
    CHECK(!empty_pop);
    CHECK(in_order);
    CHECK_EQ(total, PRODUCERS * PER_PRODUCER);
    CHECK(pops <= total);
    CHECK_EQ(dispatch_queue_depth(q), 0);
    dispatch_queue_free(q);
}

int main(void)
{
    test_fifo_and_contents();
    test_pop_all_blocks_until_push();
    test_many_producers_keep_their_order();
    return CHECK_DONE();
}
