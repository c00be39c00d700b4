/*
 * Unit tests of the listener over tests/fakes/fake_pg. Most call the steps
 * (connect_once, poll_once, health_once) directly on the test's thread: the
 * LISTENs after a connect and the catch-up WAKE, notifications turned into
 * messages ("pruned" into a WAKE that re-reads the retention bound), bad
 * payloads and forged sentinels dropped, consume and health failures followed by a
 * reconnect that LISTENs everything again, lazy UNLISTEN, long stream names.
 * One test runs the real libevent loop on its thread: retries after a failed
 * connect, a synchronous listener_ensure, a notification woken through the
 * fake's eventfd, a reconnect, and a clean double stop.
 */
#include "check.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "dispatch/dispatch_queue.h"
#include "fakes/fake_pg.h"
#include "listener/listener.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 5000

struct rig {
    struct fake_pg *pg;
    struct pg_ops ops;
    struct dispatch_queue *queue;
    struct metrics metrics;
    struct listener *l;
    const char *unused[4]; /* streams stream_in_use says nobody reads */
    const char *racing;    /* ensured while the health check asks about it */
    char seen[4096];       /* messages taken from the queue, described */
};

static bool stream_in_use(void *ctx, const char *stream)
{
    struct rig *r = ctx;
    /* A subscriber arrives between the registry's answer and the count: the
     * listener's lock is not held here, or this would deadlock. */
    if (r->racing && strcmp(r->racing, stream) == 0) {
        CHECK_EQ(listener_ensure(r->l, stream), 0);
        return false;
    }
    for (size_t i = 0; i < sizeof r->unused / sizeof r->unused[0]; i++)
        if (r->unused[i] && strcmp(r->unused[i], stream) == 0)
            return false;
    return true;
}

static void rig_init(struct rig *r, int64_t health_check_ms)
{
    memset(r, 0, sizeof *r);
    r->pg = fake_pg_new();
    r->ops = fake_pg_ops(r->pg);
    r->queue = dispatch_queue_new();
    metrics_init(&r->metrics);
    r->l = listener_new(&(struct listener_deps){
        .pg = &r->ops,
        .conninfo = "fake",
        .queue = r->queue,
        .metrics = &r->metrics,
        .clock = &system_clock,
        .stream_in_use = stream_in_use,
        .stream_ctx = r,
        .health_check_ms = health_check_ms,
        .max_channels = 1000,
    });
}

static void rig_free(struct rig *r)
{
    listener_free(r->l);
    CHECK(!fake_pg_open(r->pg)); /* the listener finished its connection */
    dispatch_queue_free(r->queue);
    fake_pg_free(r->pg);
}

/* Takes every queued message and returns them described, "W" for a WAKE
 * ("W<head>" when it names the head a notification announced), "B" for a
 * WAKE that re-reads the retention bound, and
 * "E <stream> <event|-> <data>" for an EPHEMERAL, joined by "; ". The result
 * lives in r->seen until the next call. */
static const char *take(struct rig *r)
{
    r->seen[0] = '\0';
    for (struct dispatch_msg *m = dispatch_queue_try_pop_all(r->queue), *next; m; m = next) {
        next = m->next;
        size_t len = strlen(r->seen);
        const char *sep = len ? "; " : "";
        if (m->kind == DISPATCH_WAKE && !m->recheck_bounds && m->head_hint)
            snprintf(r->seen + len, sizeof r->seen - len, "%sW%lld", sep, (long long)m->head_hint);
        else if (m->kind == DISPATCH_WAKE)
            snprintf(r->seen + len, sizeof r->seen - len, "%s%s", sep,
                     m->recheck_bounds ? "B" : "W");
        else if (m->kind == DISPATCH_EPHEMERAL)
            snprintf(r->seen + len, sizeof r->seen - len, "%sE %s %s %.*s", sep, m->stream,
                     m->event ? m->event : "-", (int)m->data_len, m->data);
        else
            snprintf(r->seen + len, sizeof r->seen - len, "%s?", sep);
        dispatch_msg_free(m);
    }
    return r->seen;
}

/* How many statements the fake ran since the last call. */
static int statements(struct rig *r)
{
    char *log = fake_pg_take_log(r->pg);
    int n = log[0] ? 1 : 0;
    for (const char *p = log; (p = strstr(p, "; ")); p += 2)
        n++;
    free(log);
    return n;
}

static int64_t now_ms(void)
{
    return clock_now_ms(&system_clock);
}

static void nap(void)
{
    nanosleep(&(struct timespec){0, 1000000L}, NULL);
}

/* Polls cond every millisecond until it holds or WAIT_MS pass. */
#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        int64_t wait_end_ = now_ms() + WAIT_MS;                                                    \
        while (!(cond) && now_ms() < wait_end_)                                                    \
            nap();                                                                                 \
    } while (0)

/* Takes messages until one described as want arrives or WAIT_MS pass. */
static bool wait_for_message(struct rig *r, const char *want)
{
    int64_t end = now_ms() + WAIT_MS;
    do {
        take(r);
        for (const char *p = r->seen; (p = strstr(p, want)); p++) {
            size_t n = strlen(want);
            bool starts = p == r->seen || p[-1] == ' ';
            if (starts && (p[n] == '\0' || p[n] == ';'))
                return true;
        }
        nap();
    } while (now_ms() < end);
    return false;
}

static void test_connect_listens_and_wakes(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK(!listener_connected(r.l));
    CHECK_EQ(listener_ensure(r.l, "room:1"), -1); /* not connected: LISTENed on connect */
    CHECK_EQ(statements(&r), 0);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK(listener_connected(r.l));
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"sse#events\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"sse#notify\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"room:1\""), 1);
    CHECK_EQ(statements(&r), 3);
    CHECK_STR(take(&r), "B"); /* the catch-up WAKE */
    CHECK_EQ(atomic_load(&r.metrics.listener_connected), 1);
    CHECK_EQ(atomic_load(&r.metrics.listener_reconnects), 0); /* the first connect is none */
    CHECK_EQ(listener_ensure(r.l, "room:1"), 0);              /* in the set and up: at once */
    CHECK_EQ(statements(&r), 0);
    rig_free(&r);
}

static void test_notifications_become_messages(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK_EQ(listener_connect_once(r.l), 0);
    take(&r);
    CHECK_EQ(listener_poll_once(r.l), 0); /* nothing to read is no error */
    CHECK_STR(take(&r), "");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "17");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "18"); /* one WAKE per batch, naming the highest */
    fake_pg_notify(r.pg, CHANNEL_NOTIFY,
                   "{\"stream\":\"room:1\",\"event\":\"typing\",\"data\":\"a\\nb\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"x\",\"event\":null,\"data\":\"y\"}");
    fake_pg_notify(r.pg, "room:1", "raw");
    fake_pg_notify(r.pg, "room:2", "");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "E room:1 typing a\nb; E x - y; E room:1 - raw; E room:2 - ; W18");
    CHECK_EQ(atomic_load(&r.metrics.events_ephemeral), 4);
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "19"); /* a later batch wakes again */
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "W19");
    /* Anyone may NOTIFY: a payload that is not a head makes the dispatcher
     * read whatever the others claim. */
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "20");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "x");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "W");
    const char *not_heads[] = {"", "-1", "0", "1e3", " 5", "5 ", "9223372036854775808"};
    for (size_t i = 0; i < sizeof not_heads / sizeof not_heads[0]; i++) {
        fake_pg_notify(r.pg, CHANNEL_EVENTS, not_heads[i]);
        CHECK_EQ(listener_poll_once(r.l), 0);
        CHECK_STR(take(&r), "W");
    }
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "9223372036854775807");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "W9223372036854775807");
    rig_free(&r);
}

static void test_pruned_wakes_bounds(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK_EQ(listener_connect_once(r.l), 0);
    take(&r);
    /* The leader pruned: the dispatcher must re-read pruned_through. */
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "pruned");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "B");
    /* One WAKE per batch; a bounds WAKE also catches up on every position. */
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "pruned");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "20");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "pruned");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "B");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "21");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "pruned");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "22");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "B");
    /* Only the exact word: other payloads are positions or noise. */
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "pruned ");
    fake_pg_notify(r.pg, CHANNEL_EVENTS, "PRUNED");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "W");
    /* Pruned while the notification was buffered behind a statement. */
    fake_pg_notify_buffered(r.pg, CHANNEL_EVENTS, "pruned");
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_STR(take(&r), "B; B");
    rig_free(&r);
}

static void test_bad_payloads_dropped(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK_EQ(listener_connect_once(r.l), 0);
    take(&r);
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{not json");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"bad name\",\"data\":\"x\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"a\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"a\",\"event\":7,\"data\":\"x\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "");
    fake_pg_notify(r.pg, "not a stream", "dropped");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"a\",\"data\":\"good\"}");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "E a - good");
    CHECK_EQ(atomic_load(&r.metrics.events_ephemeral), 1);
    CHECK(listener_connected(r.l)); /* bad input is no connection trouble */
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "[]");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"a\",\"data\":\"next\"}");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "E a - next");
    CHECK_EQ(atomic_load(&r.metrics.notifications_malformed), 7);
    CHECK_EQ(atomic_load(&r.metrics.notifications_reserved), 0);
    /* Anyone with a login may NOTIFY the channel: a forged sentinel is dropped and counted. */
    fake_pg_notify(r.pg, CHANNEL_NOTIFY,
                   "{\"stream\":\"a\",\"event\":\"gateway:shutdown\",\"data\":\"x\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY,
                   "{\"stream\":\"a\",\"event\":\"gateway:gap\",\"data\":\"{}\"}");
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"a\",\"event\":\"ok\",\"data\":\"after\"}");
    CHECK_EQ(listener_poll_once(r.l), 0);
    CHECK_STR(take(&r), "E a ok after");
    CHECK_EQ(atomic_load(&r.metrics.notifications_reserved), 2);
    CHECK_EQ(atomic_load(&r.metrics.notifications_malformed), 7);
    rig_free(&r);
}

static void test_consume_failure_then_reconnect(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK_EQ(listener_ensure(r.l, "a"), -1);
    CHECK_EQ(listener_connect_once(r.l), 0);
    statements(&r);
    take(&r);
    fake_pg_fail_consume(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    CHECK(!listener_connected(r.l));
    CHECK(!fake_pg_open(r.pg));
    CHECK_EQ(atomic_load(&r.metrics.listener_connected), 0);
    CHECK_EQ(listener_poll_once(r.l), -1); /* still down */
    CHECK_EQ(listener_ensure(r.l, "b"), -1);
    fake_pg_fail_consume(r.pg, false);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK(listener_connected(r.l));
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"sse#events\""), 2);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"sse#notify\""), 2);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"a\""), 2);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"b\""), 1);
    CHECK_EQ(statements(&r), 4);
    CHECK_STR(take(&r), "B"); /* catch up on what was committed during the outage */
    CHECK_EQ(atomic_load(&r.metrics.listener_reconnects), 1);
    CHECK_EQ(atomic_load(&r.metrics.listener_connected), 1);
    CHECK_EQ(fake_pg_connects(r.pg), 2);
    rig_free(&r);
}

static void test_connect_failure(void)
{
    struct rig r;
    rig_init(&r, 1000);
    fake_pg_fail_connect(r.pg, true);
    CHECK_EQ(listener_connect_once(r.l), -1);
    CHECK_EQ(listener_connect_once(r.l), -1);
    CHECK(!listener_connected(r.l));
    CHECK_STR(take(&r), ""); /* no catch-up without a connection */
    CHECK_EQ(listener_health_once(r.l), -1);
    CHECK_STR(take(&r), "B"); /* the backup poll goes on while disconnected */
    CHECK_EQ(statements(&r), 0);
    fake_pg_fail_connect(r.pg, false);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(atomic_load(&r.metrics.listener_reconnects), 0); /* still the first connection */
    CHECK_STR(take(&r), "B");
    rig_free(&r);
}

static void test_health_check(void)
{
    struct rig r;
    rig_init(&r, 1000);
    CHECK_EQ(listener_ensure(r.l, "s"), -1);
    CHECK_EQ(listener_connect_once(r.l), 0);
    statements(&r);
    take(&r);
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "SELECT 1"), 1);
    CHECK_STR(take(&r), "B");
    /* A notification libpq read while waiting for SELECT 1 must not wait for
     * the next one: the socket will not turn readable for it. */
    fake_pg_notify_buffered(r.pg, "s", "during");
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_STR(take(&r), "E s - during; B");
    statements(&r);
    fake_pg_fail_exec(r.pg, "SELECT 1");
    CHECK_EQ(listener_health_once(r.l), -1);
    CHECK(!listener_connected(r.l));
    CHECK(!fake_pg_open(r.pg));
    CHECK_STR(take(&r), "B");
    fake_pg_fail_exec(r.pg, NULL);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"s\""), 2);
    CHECK_EQ(statements(&r), 1 + 3);
    CHECK_STR(take(&r), "B");
    CHECK_EQ(atomic_load(&r.metrics.listener_reconnects), 1);
    /* A LISTEN that fails on connect drops that connection too. */
    fake_pg_fail_consume(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    fake_pg_fail_consume(r.pg, false);
    fake_pg_fail_exec(r.pg, "LISTEN");
    CHECK_EQ(listener_connect_once(r.l), -1);
    CHECK(!listener_connected(r.l));
    CHECK(!fake_pg_open(r.pg));
    CHECK_STR(take(&r), "");
    fake_pg_fail_exec(r.pg, NULL);
    rig_free(&r);
}

static void test_lazy_unlisten(void)
{
    struct rig r;
    rig_init(&r, 1000);
    listener_ensure(r.l, "gone");
    listener_ensure(r.l, "kept");
    listener_ensure(r.l, "flaky");
    CHECK_EQ(listener_connect_once(r.l), 0);
    statements(&r);
    r.unused[0] = "gone";
    r.unused[1] = "flaky";
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(statements(&r), 1);                /* SELECT 1 only: one check is not enough */
    CHECK_EQ(listener_ensure(r.l, "flaky"), 0); /* re-ensured: counting starts over */
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"gone\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"flaky\""), 0);
    CHECK_EQ(statements(&r), 2);
    CHECK_EQ(listener_health_once(r.l), 0); /* flaky's second unused check since the ensure */
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"flaky\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"gone\""), 1); /* once only */
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"kept\""), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"sse#events\""), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"sse#notify\""), 0);
    CHECK_EQ(statements(&r), 2 + 1);
    /* Forgotten channels are not LISTENed again after a reconnect. */
    fake_pg_fail_consume(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    fake_pg_fail_consume(r.pg, false);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"kept\""), 2);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"gone\""), 1);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"flaky\""), 1);
    CHECK_EQ(statements(&r), 3);
    /* Unused while disconnected: kept, since a new subscriber's connect may
     * wait in the dispatcher until the database is back; aged once
     * connected again. */
    r.unused[2] = "kept";
    fake_pg_fail_consume(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    fake_pg_fail_consume(r.pg, false);
    CHECK_EQ(listener_health_once(r.l), -1);
    CHECK_EQ(listener_health_once(r.l), -1);
    CHECK_EQ(listener_health_once(r.l), -1);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"kept\""), 3);
    CHECK_EQ(statements(&r), 3);
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"kept\""), 0);
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"kept\""), 1);
    CHECK_EQ(statements(&r), 2 + 1);
    /* A stream that comes back is LISTENed again. */
    r.unused[0] = NULL;
    listener_ensure(r.l, "gone"); /* no thread: LISTENed on the next connect */
    fake_pg_fail_consume(r.pg, true);
    CHECK_EQ(listener_poll_once(r.l), -1);
    fake_pg_fail_consume(r.pg, false);
    CHECK_EQ(listener_connect_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"gone\""), 2);
    rig_free(&r);
}

static void test_ensure_during_health_check(void)
{
    struct rig r;
    rig_init(&r, 1000);
    listener_ensure(r.l, "racy");
    CHECK_EQ(listener_connect_once(r.l), 0);
    r.racing = "racy";
    for (int i = 0; i < 3; i++)
        CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"racy\""), 0); /* every "unused" went stale */
    r.racing = NULL;
    r.unused[0] = "racy";
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"racy\""), 0);
    CHECK_EQ(listener_health_once(r.l), 0);
    CHECK_EQ(fake_pg_count(r.pg, "UNLISTEN \"racy\""), 1);
    rig_free(&r);
}

static void test_long_stream_names(void)
{
    struct rig r;
    rig_init(&r, 1000);
    char n63[64], n64[65], sql[80];
    memset(n63, 'x', 63);
    n63[63] = '\0';
    memset(n64, 'y', 64);
    n64[64] = '\0';
    CHECK_EQ(listener_ensure(r.l, n64), 0); /* no channel can carry it: nothing to wait for */
    CHECK_EQ(listener_ensure(r.l, n63), -1);
    CHECK_EQ(listener_connect_once(r.l), 0);
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", n63);
    CHECK_EQ(fake_pg_count(r.pg, sql), 1);
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", n64);
    CHECK_EQ(fake_pg_count(r.pg, sql), 0);
    CHECK_EQ(statements(&r), 3);
    CHECK_EQ(listener_ensure(r.l, n64), 0);
    CHECK_EQ(statements(&r), 0);
    rig_free(&r);
}

static void test_stop_without_start(void)
{
    struct rig r;
    rig_init(&r, 1000);
    listener_stop(r.l);
    listener_stop(r.l);
    CHECK_EQ(listener_start(r.l), -1); /* stopped for good */
    CHECK_EQ(listener_ensure(r.l, "s"), -1);
    rig_free(&r);
    listener_free(NULL);
    listener_stop(NULL);
}

static void test_real_loop(void)
{
    struct rig r;
    rig_init(&r, 50);
    fake_pg_fail_connect(r.pg, true);
    CHECK_EQ(listener_start(r.l), 0);
    CHECK_EQ(listener_start(r.l), -1); /* already running */
    CHECK(wait_for_message(&r, "B"));  /* health checks run while disconnected */
    CHECK(!listener_connected(r.l));
    fake_pg_fail_connect(r.pg, false); /* the reconnect timer keeps trying */
    WAIT_UNTIL(listener_connected(r.l));
    CHECK(listener_connected(r.l));
    CHECK_EQ(atomic_load(&r.metrics.listener_reconnects), 0);

    /* Slow statements: ensure must wait for the LISTEN, not just queue it. */
    fake_pg_exec_delay(r.pg, 100);
    CHECK_EQ(listener_ensure(r.l, "live"), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"live\""), 1);
    fake_pg_exec_delay(r.pg, 0);
    CHECK_EQ(listener_ensure(r.l, "live"), 0);
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"live\""), 1); /* a no-op the second time */

    fake_pg_notify(r.pg, "live", "hello");
    CHECK(wait_for_message(&r, "E live - hello"));
    fake_pg_notify(r.pg, CHANNEL_NOTIFY, "{\"stream\":\"live\",\"event\":\"e\",\"data\":\"j\"}");
    CHECK(wait_for_message(&r, "E live e j"));

    /* The server goes away: the loop reconnects and LISTENs everything again. */
    fake_pg_fail_consume(r.pg, true);
    /* The count goes up just after connected turns on: wait for both. */
    WAIT_UNTIL(fake_pg_connects(r.pg) == 2 && listener_connected(r.l) &&
               atomic_load(&r.metrics.listener_reconnects) == 1);
    fake_pg_fail_consume(r.pg, false);
    CHECK(listener_connected(r.l));
    CHECK_EQ(fake_pg_count(r.pg, "LISTEN \"live\""), 2);
    CHECK_EQ(atomic_load(&r.metrics.listener_reconnects), 1);
    fake_pg_notify(r.pg, "live", "again");
    CHECK(wait_for_message(&r, "E live - again"));

    listener_stop(r.l);
    listener_stop(r.l);
    CHECK(!fake_pg_open(r.pg)); /* the loop finished its connection on the way out */
    CHECK_EQ(listener_ensure(r.l, "late"), -1);
    rig_free(&r);
}

int main(void)
{
    test_connect_listens_and_wakes();
    test_notifications_become_messages();
    test_pruned_wakes_bounds();
    test_bad_payloads_dropped();
    test_consume_failure_then_reconnect();
    test_connect_failure();
    test_health_check();
    test_lazy_unlisten();
    test_ensure_during_health_check();
    test_long_stream_names();
    test_stop_without_start();
    test_real_loop();
    return CHECK_DONE();
}
