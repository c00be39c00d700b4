/*
 * Unit tests of conn_list with real connections and fake sockets: a round's
 * resumes reach exactly the connections owed one, every reference is dropped
 * once, and the write-round policy: up to CONN_DIRECT_WRITE_MAX connections
 * are written directly with their sockets left parked, one more and every
 * socket is woken for its HTTP worker to write instead.
 */
#include "check.h"
#include "common/frame.h"
#include "fakes/fake_io.h"
#include "registry/conn_list.h"
#include "registry/connection.h"

#include <stdlib.h>
#include <sys/uio.h>

/* resume_all resumes only what is owed, then drops every reference. */
static void test_resume_owed(void)
{
    struct fake_io io[3] = {{0}};
    struct connection *c[3];
    char buf[8];
    int64_t pub;
    struct frame *f = frame_new("x", 1, 0);
    struct conn_list l = {0};
    for (int i = 0; i < 3; i++) {
        c[i] = connection_new(&(struct connection_params){.streams = (const char *const[]){"s"},
                                                          .nstreams = 1,
                                                          .io = &fake_io_ops,
                                                          .io_ctx = &io[i],
                                                          .io_release = fake_io_release});
        if (i < 2) /* c[2] stays awake */
            CHECK_EQ(connection_read(c[i], buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
        connection_push(c[i], f, 0, true);
        conn_list_push(&l, connection_ref(c[i]));
    }
    CHECK_EQ(l.len, 3);
    conn_list_resume_all(&l);
    CHECK_EQ(l.len, 0);
    CHECK_EQ(atomic_load(&io[0].resumes), 1);
    CHECK_EQ(atomic_load(&io[1].resumes), 1);
    CHECK_EQ(atomic_load(&io[2].resumes), 0);
    for (int i = 0; i < 3; i++)
        conn_list_push(&l, c[i]); /* hand over our own references */
    conn_list_clear(&l);
    CHECK_EQ(l.len, 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(atomic_load(&io[i].releases), 1);
    conn_list_free(&l);
    CHECK(l.items == NULL);
    conn_list_free(&l);
    conn_list_free(NULL);
    frame_unref(f);
}

/* A socket that takes every direct write and counts the calls. */
struct sock {
    int resumes, sends;
    size_t bytes;
};

static void sock_suspend(void *ctx)
{
    (void)ctx;
}

static void sock_resume(void *ctx)
{
    ((struct sock *)ctx)->resumes++;
}

static long sock_send(void *ctx, const struct iovec *iov, int iovcnt, int64_t published)
{
    struct sock *s = ctx;
    (void)published;
    s->sends++;
    long n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += (long)iov[i].iov_len;
    s->bytes += (size_t)n;
    return n;
}

static const struct conn_io_ops sock_ops = {sock_suspend, sock_resume, sock_send};

/* n parked connections, each owed a direct write of one frame, resumed as
 * one round. Returns how many were written directly and how many woken. */
static void round_of(size_t n, size_t *written, size_t *woken)
{
    struct sock *socks = calloc(n, sizeof *socks);
    struct connection **c = calloc(n, sizeof *c);
    struct frame *preamble = frame_new(":\n", 2, 0), *f = frame_new("data: x\n\n", 9, 0);
    struct conn_list l = {0};
    char buf[16];
    int64_t pub;
    bool setup_ok = true;
    for (size_t i = 0; i < n; i++) {
        c[i] = connection_new(&(struct connection_params){.streams = (const char *const[]){"s"},
                                                          .nstreams = 1,
                                                          .io = &sock_ops,
                                                          .io_ctx = &socks[i]});
        /* The reader sends the preamble (the headers are out), then parks. */
        setup_ok &= connection_push(c[i], preamble, 0, false) == CONN_PUSH_QUEUED;
        setup_ok &= connection_read(c[i], buf, sizeof buf, &pub) == 2;
        setup_ok &= connection_read(c[i], buf, sizeof buf, &pub) == CONN_READ_SUSPENDED;
        setup_ok &= connection_push(c[i], f, 0, true) == CONN_PUSH_NEEDS_RESUME;
        conn_list_push(&l, connection_ref(c[i]));
    }
    CHECK(setup_ok);
    conn_list_resume_all(&l);
    CHECK_EQ(l.len, 0);
    *written = *woken = 0;
    bool each_ok = true;
    for (size_t i = 0; i < n; i++) {
        *written += socks[i].sends;
        *woken += (size_t)socks[i].resumes;
        /* Either way the frame goes exactly once: written here, or by the
         * woken reader. */
        if (socks[i].resumes)
            each_ok &= connection_read(c[i], buf, sizeof buf, &pub) == 9;
        else
            each_ok &= socks[i].sends == 1 && socks[i].bytes == 9;
        each_ok &= connection_queued_bytes(c[i]) == 0;
        connection_unref(c[i]);
    }
    CHECK(each_ok);
    conn_list_free(&l);
    frame_unref(preamble);
    frame_unref(f);
    free(c);
    free(socks);
}

static void test_write_round_policy(void)
{
    size_t written, woken;
    round_of(1, &written, &woken);
    CHECK_EQ(written, 1);
    CHECK_EQ(woken, 0);
    round_of(CONN_DIRECT_WRITE_MAX, &written, &woken);
    CHECK_EQ(written, CONN_DIRECT_WRITE_MAX);
    CHECK_EQ(woken, 0);
    round_of(CONN_DIRECT_WRITE_MAX + 1, &written, &woken);
    CHECK_EQ(written, 0);
    CHECK_EQ(woken, CONN_DIRECT_WRITE_MAX + 1);
}

int main(void)
{
    test_resume_owed();
    test_write_round_policy();
    return CHECK_DONE();
}
