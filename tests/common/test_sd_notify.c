/* sd_notify: datagrams reach a bound unix socket (a path and an abstract
 * name) whole; bad addresses are refused; the watchdog interval is parsed. */
#include "check.h"
#include "common/sd_notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A bound datagram socket with a receive timeout, so a lost message fails
 * the test instead of hanging it. */
static int bind_socket(const struct sockaddr_un *sa, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || bind(fd, (const struct sockaddr *)sa, len) != 0) {
        perror("bind");
        exit(1);
    }
    return fd;
}

/* One datagram, NUL-terminated, or "" when none came. */
static const char *receive(int fd)
{
    static char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_path(void)
{
    char dir[] = "/tmp/sse-notify-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", dir);
    int fd = bind_socket(&sa, sizeof sa);

    char err[256] = "";
    struct sd_notifier *n = sd_notifier_new(sa.sun_path, err, sizeof err);
    CHECK(n != NULL);
    CHECK_EQ(sd_notifier_send(n, "READY=1\nSTATUS=serving"), 0);
    CHECK_STR(receive(fd), "READY=1\nSTATUS=serving");
    CHECK_EQ(sd_notifier_send(n, "WATCHDOG=1"), 0);
    CHECK_STR(receive(fd), "WATCHDOG=1");
    sd_notifier_free(n);
    close(fd);

    /* Nobody listens any more: the send fails, it does not block or die. */
    n = sd_notifier_new(sa.sun_path, err, sizeof err);
    unlink(sa.sun_path);
    CHECK_EQ(sd_notifier_send(n, "STOPPING=1"), -1);
    sd_notifier_free(n);
    rmdir(dir);
}

static void test_abstract(void)
{
    char name[64];
    snprintf(name, sizeof name, "@sse-notify-test-%d", (int)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path + 1, name + 1, len - 1); /* sun_path[0] stays NUL */
    int fd = bind_socket(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));

    char err[256] = "";
    struct sd_notifier *n = sd_notifier_new(name, err, sizeof err);
    CHECK(n != NULL);
    CHECK_EQ(sd_notifier_send(n, "STOPPING=1"), 0);
    CHECK_STR(receive(fd), "STOPPING=1");
    sd_notifier_free(n);
    close(fd);
}

static void test_bad_addresses(void)
{
    char err[256];
    CHECK(sd_notifier_new(NULL, err, sizeof err) == NULL);
    CHECK(sd_notifier_new("", err, sizeof err) == NULL);
    CHECK_EQ(sd_notifier_send(NULL, "READY=1"), 0); /* no manager: nothing to do */

    err[0] = '\0';
    CHECK(sd_notifier_new("relative/notify", err, sizeof err) == NULL);
    CHECK(strstr(err, "relative/notify") != NULL);
    char long_path[200];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    err[0] = '\0';
    CHECK(sd_notifier_new(long_path, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');
}

static void test_watchdog_interval(void)
{
    pid_t self = 4242;
    CHECK_EQ(sd_watchdog_interval_ms("1000000", NULL, self), 500);
    CHECK_EQ(sd_watchdog_interval_ms("10000000", "", self), 5000);
    CHECK_EQ(sd_watchdog_interval_ms("10000000", "4242", self), 5000);
    CHECK_EQ(sd_watchdog_interval_ms("10000000", "4243", self), 0); /* another process's */
    CHECK_EQ(sd_watchdog_interval_ms("1", NULL, self), 1);
    CHECK_EQ(sd_watchdog_interval_ms(NULL, NULL, self), 0);
    CHECK_EQ(sd_watchdog_interval_ms("0", NULL, self), 0);
    CHECK_EQ(sd_watchdog_interval_ms("-5", NULL, self), 0);
    CHECK_EQ(sd_watchdog_interval_ms("10s", NULL, self), 0);
    CHECK_EQ(sd_watchdog_interval_ms("", NULL, self), 0);
}

int main(void)
{
    test_path();
    test_abstract();
    test_bad_addresses();
    test_watchdog_interval();
    return CHECK_DONE();
}
