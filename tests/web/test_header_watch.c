/* header_watch: deadlines by a fake clock over real socket pairs (a swept
 * socket's peer reads end of file), the quarter allowance while the daemon
 * is full and for one timeout after, and the thread with the real clock. */
#include "check.h"
#include "common/clock.h"
#include "fakes/fake_clock.h"
#include "web/header_watch.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected pair: [0] for the watch, [1] the client's end. */
static void pair(int fds[2])
{
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

/* Did the watch shut the server's end? The client then reads end of file
 * at once. */
static bool shut(int client)
{
    struct pollfd p = {.fd = client, .events = POLLIN};
    char c;
    return poll(&p, 1, 0) == 1 && recv(client, &c, 1, MSG_DONTWAIT) == 0;
}

static void check_deadlines(void)
{
    struct fake_clock fc;
    fake_clock_init(&fc, 1000);
    struct header_watch *hw = header_watch_new(
        &(struct header_watch_deps){.clock = &fc.ops, .timeout_ms = 1000, .full_at = 0});
    CHECK_EQ(header_watch_sweep(hw), -1);
    int a[2], b[2];
    pair(a);
    pair(b);
    struct watched *sa = header_watch_connected(hw, a[0]);
    fake_clock_advance(&fc, 400);
    struct watched *sb = header_watch_connected(hw, b[0]);
    CHECK_EQ(header_watch_sweep(hw), 600); /* a's deadline first */
    fake_clock_advance(&fc, 599);
    CHECK_EQ(header_watch_sweep(hw), 1);
    CHECK(!shut(a[1]));
    fake_clock_advance(&fc, 1);
    CHECK_EQ(header_watch_sweep(hw), 400); /* a swept; b next */
    CHECK(shut(a[1]));
    CHECK(!shut(b[1]));
    /* b's headers complete: no deadline, however long it stays. */
    header_watch_headers_done(sb);
    fake_clock_advance(&fc, 10000);
    CHECK_EQ(header_watch_sweep(hw), -1);
    CHECK(!shut(b[1]));
    /* Kept alive, it waits for its next request from now. */
    header_watch_waiting(sb);
    header_watch_waiting(sb); /* twice is once */
    CHECK_EQ(header_watch_sweep(hw), 1000);
    fake_clock_advance(&fc, 1000);
    CHECK_EQ(header_watch_sweep(hw), -1);
    CHECK(shut(b[1]));
    CHECK_EQ(header_watch_swept(hw), 2);
    header_watch_closed(sa);
    header_watch_closed(sb);
    header_watch_closed(NULL);
    header_watch_headers_done(NULL);
    header_watch_waiting(NULL);
    header_watch_free(hw);
    for (int i = 0; i < 2; i++)
        close(a[i]), close(b[i]);
}

static void check_full(void)
{
    struct fake_clock fc;
    fake_clock_init(&fc, 0);
    struct header_watch *hw = header_watch_new(
        &(struct header_watch_deps){.clock = &fc.ops, .timeout_ms = 2000, .full_at = 3});
    int s[4][2];
    struct watched *w[4];
    for (int i = 0; i < 3; i++) {
        pair(s[i]);
        w[i] = header_watch_connected(hw, s[i][0]);
    }
    /* Full: a quarter of the timeout. */
    CHECK_EQ(header_watch_sweep(hw), 500);
    fake_clock_advance(&fc, 500);
    CHECK_EQ(header_watch_sweep(hw), -1);
    for (int i = 0; i < 3; i++)
        CHECK(shut(s[i][1]));
    for (int i = 0; i < 3; i++)
        header_watch_closed(w[i]);
    /* No longer full, but within a timeout of it: still a quarter (the
     * backlog behind a full daemon is being accepted now). */
    pair(s[3]);
    w[3] = header_watch_connected(hw, s[3][0]);
    CHECK_EQ(header_watch_sweep(hw), 500);
    fake_clock_advance(&fc, 500);
    CHECK_EQ(header_watch_sweep(hw), -1);
    CHECK(shut(s[3][1]));
    header_watch_closed(w[3]);
    close(s[3][0]);
    close(s[3][1]);
    /* A timeout after it was last full, the whole timeout again. */
    fake_clock_advance(&fc, 1000);
    pair(s[3]);
    w[3] = header_watch_connected(hw, s[3][0]);
    CHECK_EQ(header_watch_sweep(hw), 2000);
    header_watch_closed(w[3]);
    header_watch_free(hw);
    for (int i = 0; i < 4; i++)
        close(s[i][0]), close(s[i][1]);
}

static void check_thread(void)
{
    struct header_watch *hw = header_watch_new(
        &(struct header_watch_deps){.clock = &system_clock, .timeout_ms = 100, .full_at = 0});
    CHECK_EQ(header_watch_start(hw), 0);
    int s[2];
    pair(s);
    struct watched *w = header_watch_connected(hw, s[0]);
    struct pollfd p = {.fd = s[1], .events = POLLIN};
    int64_t start = clock_now_ms(&system_clock);
    CHECK_EQ(poll(&p, 1, 5000), 1); /* woken by the list going non-empty */
    int64_t took = clock_now_ms(&system_clock) - start;
    CHECK(took >= 90 && took < 2000);
    CHECK(shut(s[1]));
    header_watch_closed(w);
    header_watch_stop(hw);
    header_watch_stop(hw);
    header_watch_free(hw);
    close(s[0]);
    close(s[1]);
}

int main(void)
{
    check_deadlines();
    check_full();
    check_thread();
    return CHECK_DONE();
}
