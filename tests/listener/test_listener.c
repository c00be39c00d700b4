/*
 * Unit tests of the listener through its step functions and a fake libpq:
 * LISTENs after connect and the catch-up WAKE, notifications turned into
 * messages, bad payloads dropped, reconnects re-LISTEN everything, health
 * failures, lazy UNLISTEN, long stream names; plus one run of the real
 * libevent loop with a synchronous listener_ensure.
 */
#include "check.h"
#include "clock.h"
#include "dispatch_queue.h"
#include "fake_pg.h"
#include "listener.h"
#include "metrics.h"
#include "notify_payload.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool in_use_answer = true;
static bool stream_in_use(void *ctx, const char *stream)
{
    (void)ctx;
    (void)stream;
    return in_use_answer;
}

struct rig {
    struct fake_pg *pg;
    struct pg_ops ops;
    struct dispatch_queue *queue;
    struct metrics metrics;
    struct listener *l;
};

static void rig_init(struct rig *r)
{
    r->pg = fake_pg_new();
    r->ops = fake_pg_ops(r->pg);
    r->queue = dispatch_queue_new();
    metrics_init(&r->metrics);
    r->l = listener_new(&(struct listener_deps){.pg = &r->ops,
                                                .conninfo = "fake",
                                                .queue = r->queue,
                                                .metrics = &r->metrics,
                                                .clock = &system_clock,
                                                .stream_in_use = stream_in_use,
                                                .health_check_ms = 50});
}

static void rig_free(struct rig *r)
{
    listener_free(r->l);
    dispatch_queue_free(r->queue);
    fake_pg_free(r->pg);
}

/* Pops everything queued; returns the count and describes it into out. */
static int take(struct rig *r, char *out, size_t size)
{
    struct dispatch_msg *m = dispatch_queue_try_pop_all(r->queue);
    int n = 0;
    out[0] = '\0';
    while (m) {
        struct dispatch_msg *next = m->next;
        size_t len = strlen(out);
        if (m->kind == DISPATCH_WAKE)
            snprintf(out + len, size - len, "W;");
        else if (m->kind == DISPATCH_EPHEMERAL)
            snprintf(out + len, size - len, "E %s %s %s;", m->stream, m->event ? m->event : "-",
                     m->data);
        dispatch_msg_free(m);
        m = next;
        n++;
    }
    return n;
}

static void test_connect_listen_and_notifications(void)
{
    struct rig r;
    rig_init(&r);
    char got[512];
    CHECK_EQ(listener_ensure(r.l, "room:1"), -1); /* not connected: LISTENed on connect */
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK(listener_connected(r.l));
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"sse#events\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"sse#notify\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"room:1\""), 1);
    take(&r, got, sizeof got);
    CHECK_STR(got, "W;"); /* the catch-up wake */

    fake_pg_notify(r.pg, CHANNEL_EVENTS, "17");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "18"); /* coalesced into one wake per poll */
    fake_pg_notify(r.pg, CHANNEL_NOTIFY,
                   "{\"stream\":\"room:1\",\"event\":\"typing\",\"data\":\"x\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{not json");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"bad name\",\"data\":\"x\"}");
    fake_pg_notify(r.pg, "room:1", "raw");
    fake_pg_notify(r.pg, "has space", "dropped: not a stream name");
    CHECK_EQ(listener_poll_once(r.l), 0);
    take(&r, got, sizeof got);
    CHECK_STR(got, "W;E room:1 typing x;E room:1 - raw;");
    CHECK_EQ(atomic_load(&r.metrics.events_ephemeral), 2);
    rig_free(&r);
}

static void test_reconnect_relistens_and_catches_up(void)
{
    struct rig r;
    rig_init(&r);
    char got[256];
    fake_pg_fail_connect(r.pg, true);
    CHECK_EQ(listener_connect_once(r.l), -1);
    CHECK(!listener_connected(r.l));
    fake_pg_fail_connect(r.pg, false);
    CHECK_EQ(listener_connect_once(r.l), 0);
    listener_ensure(r.l, "s");
    take(&r, got, sizeof got);
    fake_pg_fail_io(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    CHECK_EQ(listener_health_once(r.l), -1);
    fake_pg_fail_io(r.pg, false);
    rig_free(&r);
}

static void test_lazy_unlisten_and_long_names(void)
{
    struct rig r;
    rig_init(&r);
    char got[256], name[80];
    memset(name, 'n', 64);
    name[64] = '\0';
    CHECK_EQ(listener_ensure(r.l, name), 0); /* no channel for > 63 bytes */
    listener_ensure(r.l, "gone");
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"gone\""), 1);
    in_use_answer = false;
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"gone\""), 0); /* one check is not enough */
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"gone\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"sse#events\""), 0);
    in_use_answer = true;
    CHECK(take(&r, got, sizeof got) >= 3); /* catch-up + a backup wake per health check */
    rig_free(&r);
}

static void test_real_loop(void)
{
    struct rig r;
    rig_init(&r);
    CHECK_EQ(listener_start(r.l), 0);
    struct timespec t0, now, nap = {0, 5 * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!listener_connected(r.l)) {
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 5)
            break;
    }
    CHECK(listener_connected(r.l));
    CHECK_EQ(listener_ensure(r.l, "live"), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"live\""), 1); /* done before ensure returned */
    CHECK_EQ(listener_ensure(r.l, "live"), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"live\""), 1); /* a no-op the second time */
    fake_pg_notify(r.pg, "live", "hello");
    bool seen = false;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!seen) {
        struct dispatch_msg *m = dispatch_queue_try_pop_all(r.queue);
        while (m) {
            struct dispatch_msg *next = m->next;
            seen = seen || (m->kind == DISPATCH_EPHEMERAL && strcmp(m->data, "hello") == 0);
            dispatch_msg_free(m);
            m = next;
        }
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 5)
            break;
    }
    CHECK(seen);
    listener_stop(r.l);
    listener_stop(r.l);
    rig_free(&r);
}

static void test_notify_payload_table(void)
{
    static const struct {
        const char *json;
        int rc;
        const char *stream, *event, *data;
    } cases[] = {
        {"{\"stream\":\"a\",\"data\":\"d\"}", 0, "a", NULL, "d"},
        {"{\"stream\":\"a\",\"event\":null,\"data\":\"d\"}", 0, "a", NULL, "d"},
        {"{\"stream\":\"a:b\",\"event\":\"e\",\"data\":\"\"}", 0, "a:b", "e", ""},
        {"{\"stream\":\"a\"}", -1, NULL, NULL, NULL},
        {"{\"data\":\"d\"}", -1, NULL, NULL, NULL},
        {"{\"stream\":5,\"data\":\"d\"}", -1, NULL, NULL, NULL},
        {"{\"stream\":\"a\",\"data\":1}", -1, NULL, NULL, NULL},
        {"{\"stream\":\"a\",\"event\":3,\"data\":\"d\"}", -1, NULL, NULL, NULL},
        {"[1,2]", -1, NULL, NULL, NULL},
        {"", -1, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct notify_payload p;
        const char *why = NULL;
        int rc = notify_payload_parse(cases[i].json, strlen(cases[i].json), &p, &why);
        CHECK_EQ(rc, cases[i].rc);
        if (rc != 0) {
            CHECK(why != NULL);
            continue;
        }
        CHECK_STR(p.stream, cases[i].stream);
        CHECK(cases[i].event ? p.event && strcmp(p.event, cases[i].event) == 0 : !p.event);
        CHECK_STR(p.data, cases[i].data);
        notify_payload_clear(&p);
    }
}

int main(void)
{
    test_connect_listen_and_notifications();
    test_reconnect_relistens_and_catches_up();
    test_lazy_unlisten_and_long_names();
    test_real_loop();
    test_notify_payload_table();
    return CHECK_DONE();
}
