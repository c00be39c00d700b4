/* Unit tests of the dispatch queue: FIFO order, blocking pop, depth, free. */
#include "check.h"
#include "dispatch_queue.h"

#include <pthread.h>
#include <time.h>

static void *late_push(void *arg)
{
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL); /* the consumer must block meanwhile, not spin or return */
    dispatch_queue_push(arg, dispatch_msg_wake());
    return NULL;
}

int main(void)
{
    struct dispatch_queue *q = dispatch_queue_new();
    CHECK(dispatch_queue_try_pop_all(q) == NULL);
    dispatch_queue_push(q, dispatch_msg_wake());
    dispatch_queue_push(q, dispatch_msg_ephemeral("s", "e", "data", 4));
    dispatch_queue_push(q, dispatch_msg_stop());
    CHECK_EQ(dispatch_queue_depth(q), 3);
    struct dispatch_msg *m = dispatch_queue_pop_all(q);
    CHECK_EQ(dispatch_queue_depth(q), 0);
    enum dispatch_kind want[] = {DISPATCH_WAKE, DISPATCH_EPHEMERAL, DISPATCH_STOP};
    for (int i = 0; i < 3; i++) {
        CHECK(m != NULL);
        if (!m)
            break;
        CHECK_EQ(m->kind, want[i]);
        if (m->kind == DISPATCH_EPHEMERAL)
            CHECK_STR(m->data, "data");
        struct dispatch_msg *next = m->next;
        dispatch_msg_free(m);
        m = next;
    }
    CHECK(m == NULL);

    pthread_t t;
    pthread_create(&t, NULL, late_push, q);
    m = dispatch_queue_pop_all(q);
    CHECK(m && m->kind == DISPATCH_WAKE && m->next == NULL);
    dispatch_msg_free(m);
    pthread_join(t, NULL);

    dispatch_queue_push(q, dispatch_msg_wake()); /* freed with the queue */
    dispatch_queue_free(q);
    return CHECK_DONE();
}
