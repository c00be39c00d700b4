/*
 * Unit tests of struct connection, single-threaded, with a fake socket. Most
 * cases are a table of scripted steps (push, read, close, gone, resume) with
 * the expected outcome of each: backlog copies across frames, partial frames
 * across reads, the suspend/resume handshake, overflow, close with a final
 * frame, gone, replay exemption, latency stamps and the activity clocks;
 * direct writes to a parked socket (coalesced, short, failed) and by the
 * reader before it fills MHD's block; a wake instead of a direct write.
 * ASan checks that queued frames and connections are freed exactly once.
 */
#include "check.h"
#include "common/frame.h"
#include "fakes/fake_io.h"
#include "registry/connection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

enum op {
    OP_END = 0,
    OP_PUSH,   /* push text as an event (a = published_us, b = now_ms); want = result */
    OP_HB,     /* push text as a heartbeat (not an event) at now_ms b; want = result */
    OP_REPLAY, /* connection_push_replay(text) at now_ms b; want = result */
    OP_READ,   /* read at most a bytes; text = bytes expected, else want = CONN_READ_* */
    OP_CLOSE,  /* connection_close(text or NULL); want = resume needed */
    OP_GONE,
    OP_RESUME,
    OP_IO,     /* expect a suspends and b resumes so far */
    OP_QUEUED, /* expect want queued bytes */
    OP_CLOSED, /* expect connection_is_closed() == want */
    OP_PUB,    /* expect the last read's oldest_published_us == want */
    OP_TIMES,  /* expect last_push_ms == a and last_event_ms == b */
};

struct step {
    enum op op;
    const char *text;
    long a, b;
    long want;
};

#define PUSH(t, r)                                                                                 \
    {                                                                                              \
        OP_PUSH, t, 0, 0, r                                                                        \
    }
#define PUSH_AT(t, p, n, r)                                                                        \
    {                                                                                              \
        OP_PUSH, t, p, n, r                                                                        \
    }
#define HB_AT(t, n, r)                                                                             \
    {                                                                                              \
        OP_HB, t, 0, n, r                                                                          \
    }
#define REPLAY(t, r)                                                                               \
    {                                                                                              \
        OP_REPLAY, t, 0, 0, r                                                                      \
    }
#define READ(max, t)                                                                               \
    {                                                                                              \
        OP_READ, t, max, 0, 0                                                                      \
    }
#define READ_PARKED                                                                                \
    {                                                                                              \
        OP_READ, NULL, 64, 0, CONN_READ_SUSPENDED                                                  \
    }
#define READ_END                                                                                   \
    {                                                                                              \
        OP_READ, NULL, 64, 0, CONN_READ_END                                                        \
    }
#define CLOSE(t, r)                                                                                \
    {                                                                                              \
        OP_CLOSE, t, 0, 0, r                                                                       \
    }
#define GONE                                                                                       \
    {                                                                                              \
        OP_GONE, NULL, 0, 0, 0                                                                     \
    }
#define RESUME                                                                                     \
    {                                                                                              \
        OP_RESUME, NULL, 0, 0, 0                                                                   \
    }
#define IO(s, r)                                                                                   \
    {                                                                                              \
        OP_IO, NULL, s, r, 0                                                                       \
    }
#define QUEUED(n)                                                                                  \
    {                                                                                              \
        OP_QUEUED, NULL, 0, 0, n                                                                   \
    }
#define CLOSED(b)                                                                                  \
    {                                                                                              \
        OP_CLOSED, NULL, 0, 0, b                                                                   \
    }
#define PUB(us)                                                                                    \
    {                                                                                              \
        OP_PUB, NULL, 0, 0, us                                                                     \
    }
#define TIMES(p, e)                                                                                \
    {                                                                                              \
        OP_TIMES, NULL, p, e, 0                                                                    \
    }

enum { Q = CONN_PUSH_QUEUED, NR = CONN_PUSH_NEEDS_RESUME, CL = CONN_PUSH_CLOSED };
enum { OV = CONN_PUSH_OVERFLOW };

struct conn_case {
    const char *name;
    size_t max_queued_bytes;
    struct step steps[24];
};

static const struct conn_case cases[] = {
    {"a backlog goes out in one read, across frames",
     0,
     {PUSH("abc", Q), PUSH("de", Q), PUSH("fghij", Q), QUEUED(10), READ(64, "abcdefghij"),
      QUEUED(0), IO(0, 0), READ_PARKED, IO(1, 0)}},
    {"partial frames continue across reads",
     0,
     {PUSH("abcdef", Q), PUSH("gh", Q), READ(4, "abcd"), QUEUED(4), READ(3, "efg"), READ(10, "h"),
      READ_PARKED}},
    {"a read of exactly one frame leaves the next whole",
     0,
     {PUSH("ab", Q), PUSH("cd", Q), READ(2, "ab"), READ(2, "cd"), READ_PARKED}},
    {"an empty queue parks the socket", 0, {READ_PARKED, IO(1, 0), CLOSED(false)}},
    {"the first push after a park owes the resume, exactly once",
     0,
     {READ_PARKED, PUSH("a", NR), PUSH("b", Q), IO(1, 0), RESUME, IO(1, 1), RESUME, IO(1, 1),
      READ(64, "ab"), READ_PARKED, IO(2, 1), PUSH("c", NR), RESUME, IO(2, 2), READ(64, "c")}},
    {"a resume nobody owes makes no io call",
     0,
     {PUSH("a", Q), RESUME, IO(0, 0), READ(64, "a"), READ_PARKED, RESUME, IO(1, 0)}},
    {"overflow drops the queue and ends the stream",
     8,
     {PUSH("12345", Q), PUSH("678", Q), PUSH("9", OV), QUEUED(0), CLOSED(true), PUSH("x", CL),
      READ_END, READ_END, IO(0, 0)}},
    {"overflow of an awake socket does not resume it",
     4,
     {PUSH("123", Q), PUSH("45", OV), RESUME, IO(0, 0), READ_END}},
    {"overflow of a parked socket owes one resume",
     4,
     {READ_PARKED, PUSH("12345", OV), RESUME, IO(1, 1), READ_END, IO(1, 1)}},
    {"the limit counts bytes still queued, not bytes ever pushed",
     4,
     {PUSH("123", Q), READ(2, "12"), PUSH("456", Q), READ(64, "3456"), PUSH("7890", Q)}},
    {"close with a final frame: the queue, the final bytes, then the end",
     0,
     {PUSH("a", Q), CLOSE("bye", false), CLOSED(true), PUSH("x", CL), REPLAY("y", CL),
      READ(64, "abye"), READ_END, READ_END, IO(0, 0)}},
    {"close of a parked socket owes the resume",
     0,
     {READ_PARKED, CLOSE("bye", true), RESUME, IO(1, 1), READ(2, "by"), READ(64, "e"), READ_END}},
    {"close without a final frame",
     0,
     {READ_PARKED, CLOSE(NULL, true), RESUME, READ_END, IO(1, 1)}},
    {"close is idempotent and queues only the first final frame",
     0,
     {CLOSE("one", false), CLOSE("two", false), READ(64, "one"), READ_END}},
    {"the final frame is exempt from the limit",
     4,
     {PUSH("1234", Q), CLOSE("final", false), QUEUED(9), READ(64, "1234final"), READ_END}},
    {"gone: the queue is dropped and no io call follows",
     0,
     {PUSH("a", Q), READ(64, "a"), READ_PARKED, GONE, CLOSED(true), QUEUED(0), PUSH("b", CL),
      RESUME, CLOSE("x", false), READ_END, IO(1, 0)}},
    {"gone while a resume is owed cancels it",
     0,
     {READ_PARKED, PUSH("a", NR), GONE, RESUME, IO(1, 0), READ_END}},
    {"a replay is exempt from the limit; live pushes after it are not",
     8,
     {REPLAY("0123456789", Q), PUSH("abcd", Q), PUSH("efgh", Q), QUEUED(18), PUSH("i", OV)}},
    {"replayed bytes count as written first",
     4,
     {REPLAY("012345", Q), PUSH("ab", Q), READ(6, "012345"), PUSH("cd", Q), PUSH("e", OV)}},
    {"a replay push after a park owes the resume",
     0,
     {READ_PARKED, REPLAY("r", NR), REPLAY("s", Q), RESUME, IO(1, 1), READ(64, "rs")}},
    {"the latency stamp is the first event frame's, heartbeats do not count",
     0,
     {PUSH_AT(":hb", 0, 0, Q), PUSH_AT("e1", 111, 0, Q), PUSH_AT("e2", 222, 0, Q),
      READ(64, ":hbe1e2"), PUB(111)}},
    {"a frame's stamp is reported by the read that starts it",
     0,
     {PUSH_AT("abcd", 5, 0, Q), PUSH_AT("ef", 7, 0, Q), READ(2, "ab"), PUB(5), READ(2, "cd"),
      PUB(0), READ(64, "ef"), PUB(7), READ_PARKED, PUB(0)}},
    {"events move both clocks, heartbeats only the push clock",
     0,
     {TIMES(0, 0), HB_AT(":hb", 10, Q), TIMES(10, 0), PUSH_AT("e", 0, 20, Q), TIMES(20, 20),
      PUSH_AT("late", 0, 15, Q), TIMES(20, 20), REPLAY("r", Q), TIMES(20, 20)}},
    {"a dropped push does not move the clocks",
     0,
     {CLOSE(NULL, false), PUSH_AT("e", 0, 30, CL), TIMES(0, 0)}},
};

static void run_case(const struct conn_case *tc)
{
    struct fake_io io = {0};
    struct connection *c = connection_new(&(struct connection_params){
        .streams = (const char *const[]){"s"},
        .nstreams = 1,
        .max_queued_bytes = tc->max_queued_bytes,
        .io = &fake_io_ops,
        .io_ctx = &io,
        .io_release = fake_io_release,
    });
    char buf[128];
    int64_t pub = -1;
    int failed_before = check_failed;
    for (size_t i = 0; i < sizeof tc->steps / sizeof tc->steps[0]; i++) {
        const struct step *st = &tc->steps[i];
        int failed_at_step = check_failed;
        struct frame *f = st->text ? frame_new(st->text, strlen(st->text), st->a) : NULL;
        switch (st->op) {
        case OP_END:
            break;
        case OP_PUSH:
            CHECK_EQ(connection_push(c, f, st->b, true), st->want);
            break;
        case OP_HB:
            CHECK_EQ(connection_push(c, f, st->b, false), st->want);
            break;
        case OP_REPLAY:
            CHECK_EQ(connection_push_replay(c, f, st->b, 0), st->want);
            break;
        case OP_READ: {
            long want = st->text ? (long)strlen(st->text) : st->want;
            long n = connection_read(c, buf, (size_t)st->a, &pub);
            CHECK_EQ(n, want);
            if (st->text && n == want)
                CHECK(memcmp(buf, st->text, (size_t)n) == 0);
            break;
        }
        case OP_CLOSE:
            CHECK_EQ(connection_close(c, f, CONN_END_SHUTDOWN), st->want);
            break;
        case OP_GONE:
            connection_gone(c);
            break;
        case OP_RESUME:
            connection_resume(c);
            break;
        case OP_IO:
            CHECK_EQ(atomic_load(&io.suspends), st->a);
            CHECK_EQ(atomic_load(&io.resumes), st->b);
            break;
        case OP_QUEUED:
            CHECK_EQ(connection_queued_bytes(c), st->want);
            break;
        case OP_CLOSED:
            CHECK_EQ(connection_is_closed(c), st->want);
            break;
        case OP_PUB:
            CHECK_EQ(pub, st->want);
            break;
        case OP_TIMES:
            CHECK_EQ(connection_last_push_ms(c), st->a);
            CHECK_EQ(connection_last_event_ms(c), st->b);
            break;
        }
        frame_unref(f); /* the connection holds its own references */
        if (check_failed != failed_at_step)
            fprintf(stderr, "  in case \"%s\", step %zu\n", tc->name, i + 1);
        if (st->op == OP_END)
            break;
    }
    CHECK_EQ(atomic_load(&io.releases), 0);
    connection_unref(c); /* frees whatever is still queued */
    CHECK_EQ(atomic_load(&io.releases), 1);
    if (check_failed != failed_before)
        fprintf(stderr, "case failed: %s\n", tc->name);
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

/* Ids are unique, names are copied, lookups work. */
static void test_identity(void)
{
    char a[] = "orders:42", b[] = "chat:room";
    const char *names[] = {a, b};
    struct connection *c1 =
        connection_new(&(struct connection_params){.streams = names, .nstreams = 2});
    struct connection *c2 =
        connection_new(&(struct connection_params){.streams = names, .nstreams = 0});
    a[0] = 'X'; /* the connection kept its own copy */
    CHECK(connection_id(c1) != connection_id(c2));
    CHECK(connection_id(c2) > connection_id(c1));
    CHECK_EQ(connection_stream_count(c1), 2);
    CHECK_EQ(connection_stream_count(c2), 0);
    CHECK_STR(connection_stream(c1, 0), "orders:42");
    CHECK_STR(connection_stream(c1, 1), "chat:room");
    CHECK(connection_has_stream(c1, "chat:room"));
    CHECK(!connection_has_stream(c1, "Xrders:42"));
    CHECK(!connection_has_stream(c2, "chat:room"));
    connection_unref(c1);
    connection_unref(c2);
    connection_unref(NULL);
}

/* The last reference frees, releasing io_ctx once; queued frames outlive
 * the connection for whoever else holds them. */
static void test_refcount(void)
{
    struct fake_io io = {0};
    struct connection *c = connection_new(&(struct connection_params){
        .streams = (const char *const[]){"s"},
        .nstreams = 1,
        .io = &fake_io_ops,
        .io_ctx = &io,
        .io_release = fake_io_release,
        .now_ms = 42,
    });
    CHECK_EQ(connection_last_push_ms(c), 42);
    CHECK_EQ(connection_last_event_ms(c), 42);
    struct frame *f = frame_new("kept", 4, 0);
    CHECK_EQ(connection_push(c, f, 50, true), CONN_PUSH_QUEUED);
    CHECK(connection_ref(c) == c);
    connection_ref(c);
    connection_unref(c);
    connection_unref(c);
    CHECK_EQ(atomic_load(&io.releases), 0);
    connection_unref(c);
    CHECK_EQ(atomic_load(&io.releases), 1);
    CHECK(memcmp(frame_data(f), "kept", 4) == 0); /* still ours: ASan would flag a free */
    frame_unref(f);
}

/* io may be set after creation (the HTTP response comes later). */
static void test_set_io_later(void)
{
    struct fake_io io = {0};
    struct connection *c = connection_new(
        &(struct connection_params){.streams = (const char *const[]){"s"}, .nstreams = 1});
    char buf[8];
    int64_t pub;
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    connection_set_io(c, &fake_io_ops, &io);
    struct frame *f = frame_new("x", 1, 0);
    CHECK_EQ(connection_push(c, f, 0, true), CONN_PUSH_NEEDS_RESUME);
    connection_resume(c);
    CHECK_EQ(atomic_load(&io.resumes), 1);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), 1);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    CHECK_EQ(atomic_load(&io.suspends), 1);
    frame_unref(f);
    connection_unref(c);
}

/* The ring grows, wraps and shrinks: many frames of varied sizes, read in
 * varied chunks, come out as the exact byte stream that went in. */
static void test_ring_stream(void)
{
    struct fake_io io = {0};
    struct connection *c = connection_new(&(struct connection_params){
        .streams = (const char *const[]){"s"}, .nstreams = 1, .io = &fake_io_ops, .io_ctx = &io});
    enum { TOTAL = 200000 };
    char *in = malloc(TOTAL), *out = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        in[i] = (char)('a' + (i * 7 + i / 13) % 26);
    size_t pushed = 0, got = 0;
    unsigned seed = 12345;
    int64_t pub;
    bool sizes_ok = true;
    while (got < TOTAL) {
        /* A burst of up to 300 frames, then a few reads. */
        int burst = rand_r(&seed) % 300;
        for (int k = 0; k < burst && pushed < TOTAL; k++) {
            size_t len = 1 + (size_t)rand_r(&seed) % 40;
            if (len > TOTAL - pushed)
                len = TOTAL - pushed;
            struct frame *f = frame_new(in + pushed, len, 0);
            connection_push(c, f, 0, true);
            frame_unref(f);
            pushed += len;
        }
        int reads = 1 + rand_r(&seed) % 4;
        for (int k = 0; k < reads && got < TOTAL; k++) {
            size_t max = 1 + (size_t)rand_r(&seed) % 5000;
            long n = connection_read(c, out + got, max < TOTAL - got ? max : TOTAL - got, &pub);
            if (n == CONN_READ_SUSPENDED)
                break;
            sizes_ok &= n > 0 && (size_t)n <= max;
            got += n > 0 ? (size_t)n : 0;
            sizes_ok &= connection_queued_bytes(c) == pushed - got;
        }
    }
    CHECK(sizes_ok);
    CHECK_EQ(got, TOTAL);
    CHECK(memcmp(in, out, TOTAL) == 0);
    CHECK_EQ(connection_queued_bytes(c), 0);
    free(in);
    free(out);
    connection_unref(c);
}

/* ---- direct writes: a parked socket that takes up to `room` bytes ---- */

struct direct_sock {
    int suspends, resumes, sends;
    long room; /* bytes the next send takes; -1: the socket failed */
    char wire[256];
    size_t wire_len;
    int64_t published;
};

static void ds_suspend(void *ctx)
{
    ((struct direct_sock *)ctx)->suspends++;
}

static void ds_resume(void *ctx)
{
    ((struct direct_sock *)ctx)->resumes++;
}

static long ds_send(void *ctx, const struct iovec *iov, int iovcnt, int64_t published)
{
    struct direct_sock *d = ctx;
    d->sends++;
    if (d->room < 0)
        return -1;
    long n = 0;
    for (int i = 0; i < iovcnt && n < d->room; i++) {
        size_t take =
            iov[i].iov_len < (size_t)(d->room - n) ? iov[i].iov_len : (size_t)(d->room - n);
        memcpy(d->wire + d->wire_len, iov[i].iov_base, take);
        d->wire_len += take;
        n += (long)take;
    }
    d->wire[d->wire_len] = '\0';
    d->room -= n;
    d->published = published;
    return n;
}

static const struct conn_io_ops direct_ops = {ds_suspend, ds_resume, ds_send};

static struct frame *event(const char *text, int64_t published)
{
    return frame_new(text, strlen(text), published);
}

static enum conn_push_result push_text(struct connection *c, const char *text, int64_t published)
{
    struct frame *f = event(text, published);
    enum conn_push_result r = connection_push(c, f, 0, true);
    frame_unref(f);
    return r;
}

static void test_direct_writes(void)
{
    const char *names[] = {"s"};
    char buf[64];
    int64_t pub;

    /* Parked: pushes coalesce into one write, and the socket stays parked. */
    struct direct_sock d = {.room = 100};
    struct connection *c = connection_new(&(struct connection_params){
        .streams = names, .nstreams = 1, .io = &direct_ops, .io_ctx = &d});
    /* Before MHD has sent anything (the headers may still be in its buffer)
     * nothing is written directly: the preamble goes through MHD's block. */
    CHECK_EQ(push_text(c, "p\n", 0), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), 2);
    CHECK_EQ(d.sends, 0);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    CHECK_EQ(push_text(c, "a1\n", 7), CONN_PUSH_NEEDS_RESUME);
    CHECK_EQ(push_text(c, "b2\n", 8), CONN_PUSH_QUEUED); /* rides along */
    connection_resume(c);
    CHECK_EQ(d.sends, 1);
    CHECK_STR(d.wire, "a1\nb2\n");
    CHECK_EQ(d.published, 7);
    CHECK_EQ(d.resumes, 0);
    CHECK_EQ(connection_queued_bytes(c), 0);
    /* The next push owes a write again. */
    CHECK_EQ(push_text(c, "c3\n", 9), CONN_PUSH_NEEDS_RESUME);
    connection_resume(c);
    CHECK_STR(d.wire, "a1\nb2\nc3\n");

    /* A short write: the socket is un-parked and the reader goes on mid-frame. */
    d.room = 2;
    CHECK_EQ(push_text(c, "dddd\n", 10), CONN_PUSH_NEEDS_RESUME);
    CHECK_EQ(push_text(c, "ee\n", 11), CONN_PUSH_QUEUED);
    connection_resume(c);
    CHECK_EQ(d.resumes, 1);
    CHECK_EQ(connection_queued_bytes(c), 6);
    CHECK_EQ(push_text(c, "ff\n", 12), CONN_PUSH_QUEUED); /* awake: the reader will see it */
    long n = connection_read(c, buf, sizeof buf, &pub);
    CHECK_EQ(n, 9);
    buf[n > 0 ? n : 0] = '\0';
    CHECK_STR(buf, "dd\nee\nff\n");
    CHECK_EQ(pub, 11);    /* the first whole event frame read */
    connection_resume(c); /* nothing owed: no call */
    CHECK_EQ(d.resumes, 1);

    /* A failed socket: un-parked, so the HTTP layer finds out and ends it. */
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    d.room = -1;
    CHECK_EQ(push_text(c, "g\n", 13), CONN_PUSH_NEEDS_RESUME);
    connection_resume(c);
    CHECK_EQ(d.resumes, 2);
    CHECK_EQ(connection_queued_bytes(c), 2);

    /* A close while parked with a write owed wakes the reader instead. */
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), 2);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    d.room = 100;
    int sends = d.sends;
    CHECK_EQ(push_text(c, "h\n", 14), CONN_PUSH_NEEDS_RESUME);
    struct frame *bye = event("bye\n", 0);
    CHECK(connection_close(c, bye, CONN_END_EXPIRED));
    frame_unref(bye);
    connection_resume(c);
    CHECK_EQ(d.sends, sends);
    CHECK_EQ(d.resumes, 3);
    /* The woken reader writes a backlog larger than its block straight to
     * the socket, keeping the last block's worth for MHD (so a busy socket
     * stays awake); a backlog that fits goes through the block alone. */
    n = connection_read(c, buf, 4, &pub);
    CHECK_EQ(n, 4);
    CHECK_EQ(d.sends, sends + 1);
    CHECK(d.wire_len >= 2 && strcmp(d.wire + d.wire_len - 2, "h\n") == 0);
    CHECK(memcmp(buf, "bye\n", 4) == 0);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_END);
    CHECK_EQ(d.sends, sends + 1);

    /* Gone: nothing is written or woken after. */
    connection_gone(c);
    connection_resume(c);
    CHECK_EQ(d.sends, sends + 1);
    CHECK_EQ(d.resumes, 3);
    connection_unref(c);
}

/* connection_wake: a parked socket owed a direct write is un-parked for its
 * reader to write instead; a socket owed nothing gets no call. */
static void test_wake(void)
{
    const char *names[] = {"s"};
    char buf[64];
    int64_t pub;
    struct direct_sock d = {.room = 100};
    struct connection *c = connection_new(&(struct connection_params){
        .streams = names, .nstreams = 1, .io = &direct_ops, .io_ctx = &d});
    CHECK_EQ(push_text(c, "p\n", 0), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), 2);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    connection_wake(c);
    CHECK_EQ(d.resumes, 0);
    CHECK_EQ(push_text(c, "a\n", 5), CONN_PUSH_NEEDS_RESUME);
    connection_wake(c);
    CHECK_EQ(d.sends, 0);
    CHECK_EQ(d.resumes, 1);
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), 2);
    CHECK_EQ(pub, 5);
    connection_wake(c); /* awake: nothing owed */
    CHECK_EQ(d.resumes, 1);
    connection_unref(c);
}

/* ---- the replay handshake ---- */

struct drained_log {
    int calls;
    struct connection *last;
};

static void count_drained(void *ctx, struct connection *c)
{
    struct drained_log *l = ctx;
    l->calls++;
    l->last = c;
}

static enum conn_push_result push_event_text(struct connection *c, const char *text, int64_t pos)
{
    struct frame *f = frame_new(text, strlen(text), 0);
    enum conn_push_result r = connection_push_event(c, f, 0, pos);
    frame_unref(f);
    return r;
}

static enum conn_push_result push_replay_text(struct connection *c, const char *text, int64_t pos)
{
    struct frame *f = frame_new(text, strlen(text), 0);
    enum conn_push_result r = connection_push_replay(c, f, 0, pos);
    frame_unref(f);
    return r;
}

/* Reads everything queued into one string (parks the socket at the end). */
static const char *read_all(struct connection *c)
{
    static char out[4096];
    size_t n = 0;
    int64_t pub;
    long got;
    while ((got = connection_read(c, out + n, sizeof out - 1 - n, &pub)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    return out;
}

static void test_replay_handshake(void)
{
    const char *names[] = {"s"};
    struct fake_io io = {0};
    struct drained_log log = {0};
    /* A limit of 16 bytes: the replayer's room, and half of it the low-water mark. */
    struct connection *c = connection_new(&(struct connection_params){.streams = names,
                                                                      .nstreams = 1,
                                                                      .max_queued_bytes = 16,
                                                                      .io = &fake_io_ops,
                                                                      .io_ctx = &io});
    CHECK_STR(read_all(c), "");
    connection_replay_begin(c, 5, count_drained, &log); /* the dispatcher is at 5 */
    CHECK_EQ(connection_replay_room(c), 16);
    /* Live events and messages are not queued while replaying; events are remembered. */
    CHECK_EQ(push_event_text(c, "L6|", 6), CONN_PUSH_SKIPPED);
    CHECK_EQ(push_text(c, "msg|", 0), CONN_PUSH_SKIPPED);
    CHECK_EQ(connection_queued_bytes(c), 0);
    /* A slice past the limit (replays are exempt): the room is gone. */
    CHECK_EQ(push_replay_text(c, "R1|", 1), CONN_PUSH_NEEDS_RESUME);
    CHECK_EQ(push_replay_text(c, "R2|", 2), CONN_PUSH_QUEUED);
    CHECK_EQ(push_replay_text(c, "R3-long-frame|", 3), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_replay_room(c), 0);
    /* Not done: a live push skipped 6, and the replay has reached 3. */
    CHECK(!connection_replay_end(c, 3));
    CHECK(connection_replay_arm(c));
    CHECK_EQ(log.calls, 0);
    /* The socket takes bytes: the callback comes once the queue is at 8 or below. */
    int64_t pub;
    char buf[32];
    CHECK_EQ(connection_read(c, buf, 6, &pub), 6);
    CHECK_EQ(log.calls, 0); /* 14 left */
    CHECK_EQ(connection_read(c, buf, 8, &pub), 8);
    CHECK_EQ(log.calls, 1); /* 6 left: once, and disarmed */
    CHECK(log.last == c);
    CHECK_EQ(connection_read(c, buf, 1, &pub), 1);
    CHECK_EQ(log.calls, 1);
    CHECK(!connection_replay_arm(c)); /* room enough already: replay on at once */
    CHECK_EQ(push_replay_text(c, "R6|", 6), CONN_PUSH_QUEUED);
    CHECK(connection_replay_end(c, 6)); /* reached everything skipped: live from now on */
    /* A live push the replay already brought is dropped; later ones queue. */
    CHECK_EQ(push_event_text(c, "L6|", 6), CONN_PUSH_SKIPPED);
    CHECK_EQ(push_event_text(c, "L7|", 7), CONN_PUSH_QUEUED);
    CHECK_EQ(push_text(c, "msg|", 0), CONN_PUSH_QUEUED);
    CHECK_STR(read_all(c), "rame|R6|L7|msg|");
    /* Closing or losing the socket while armed calls back, so the replayer lets go. */
    struct connection *d = connection_new(&(struct connection_params){
        .streams = names, .nstreams = 1, .max_queued_bytes = 4, .io = &fake_io_ops, .io_ctx = &io});
    connection_replay_begin(d, 9, count_drained, &log);
    CHECK_EQ(push_replay_text(d, "R1-R2-R3|", 3), CONN_PUSH_QUEUED);
    CHECK(connection_replay_arm(d));
    CHECK(!connection_close(d, NULL, CONN_END_SHUTDOWN)); /* awake: nothing to resume */
    CHECK_EQ(log.calls, 2);
    CHECK(!connection_replay_arm(d)); /* closed: never armed again */
    connection_gone(d);
    CHECK_EQ(log.calls, 2);
    CHECK(connection_replay_end(d, INT64_MAX));
    connection_unref(d);
    connection_unref(c);
}

/* Why it ended and how many events it was given, for the access record:
 * the first close's why stays; an overflow is a slow consumer; events count
 * live, replayed and ephemeral pushes, not heartbeats, replayed sentinels or
 * refused pushes. */
static void test_end_and_events(void)
{
    const char *names[] = {"s"};
    struct connection *c = connection_new(
        &(struct connection_params){.streams = names, .nstreams = 1, .max_queued_bytes = 64});
    CHECK_EQ(connection_end(c), CONN_END_NONE);
    CHECK_STR(connection_end_name(CONN_END_NONE), "none");
    CHECK_EQ(push_text(c, "ab\n", 0), CONN_PUSH_QUEUED); /* ephemeral */
    struct frame *hb = event(": hb\n", 0), *replayed = event("replayed\n", 2),
                 *gap = event("gap\n", 0), *live = event("live\n", 3);
    CHECK_EQ(connection_push(c, hb, 0, false), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_push_replay(c, replayed, 0, 2), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_push_replay(c, gap, 0, 0), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_push_event(c, live, 0, 3), CONN_PUSH_QUEUED);
    CHECK_EQ(connection_events(c), 3);
    CHECK_EQ(push_text(c, "far too long for what is left under the limit of this queue\n", 0),
             CONN_PUSH_OVERFLOW);
    CHECK_EQ(connection_events(c), 3);
    CHECK_EQ(connection_end(c), CONN_END_SLOW_CONSUMER);
    CHECK(!connection_close(c, NULL, CONN_END_SHUTDOWN)); /* already closing: keeps its why */
    CHECK_STR(connection_end_name(connection_end(c)), "slow_consumer");
    for (struct frame **f = (struct frame *[]){hb, replayed, gap, live, NULL}; *f; f++)
        frame_unref(*f);
    connection_unref(c);

    c = connection_new(&(struct connection_params){.streams = names, .nstreams = 1});
    connection_close(c, NULL, CONN_END_EXPIRED);
    connection_close(c, NULL, CONN_END_IDLE);
    CHECK_STR(connection_end_name(connection_end(c)), "expired");
    CHECK_EQ(push_text(c, "late\n", 4), CONN_PUSH_CLOSED);
    CHECK_EQ(connection_events(c), 0);
    connection_unref(c);
}

/* A socket that takes nothing, and remembers being broken. */
struct stuck_sock {
    int aborts;
};

static void stuck_suspend(void *ctx)
{
    (void)ctx;
}

static void stuck_resume(void *ctx)
{
    (void)ctx;
}

static long stuck_send(void *ctx, const struct iovec *iov, int iovcnt, int64_t published)
{
    (void)ctx, (void)iov, (void)iovcnt, (void)published;
    return 0;
}

static void stuck_abort(void *ctx)
{
    ((struct stuck_sock *)ctx)->aborts++;
}

static const struct conn_io_ops stuck_ops = {stuck_suspend, stuck_resume, stuck_send, stuck_abort};

static void test_write_deadline(void)
{
    const char *names[] = {"s"};
    struct stuck_sock sock = {0};
    char buf[8];
    int64_t pub;
    struct connection *c = connection_new(&(struct connection_params){
        .streams = names, .nstreams = 1, .io = &stuck_ops, .io_ctx = &sock});
    /* Parked: nothing to send, never stalled, however long. */
    CHECK_EQ(connection_read(c, buf, sizeof buf, &pub), CONN_READ_SUSPENDED);
    CHECK_EQ(connection_check_stall(c, 1000, 100), CONN_MOVING);
    CHECK_EQ(connection_check_stall(c, 99000, 100), CONN_MOVING);
    /* Awake with bytes the socket does not take: counted from the first look. */
    CHECK_EQ(push_text(c, "abcdefgh", 0), CONN_PUSH_NEEDS_RESUME);
    connection_resume(c);
    CHECK_EQ(connection_check_stall(c, 100000, 100), CONN_MOVING); /* stamped now */
    CHECK_EQ(connection_check_stall(c, 100099, 100), CONN_MOVING);
    /* A read (libmicrohttpd had room) restarts the count. */
    CHECK_EQ(connection_read(c, buf, 2, &pub), 2);
    CHECK_EQ(connection_check_stall(c, 100150, 100), CONN_MOVING);
    CHECK_EQ(connection_check_stall(c, 100249, 100), CONN_MOVING);
    CHECK_EQ(sock.aborts, 0);
    CHECK_EQ(connection_check_stall(c, 100250, 100), CONN_CUT);
    CHECK_EQ(sock.aborts, 1);
    CHECK(connection_is_closed(c));
    CHECK_EQ(connection_end(c), CONN_END_WRITE_DEADLINE);
    CHECK_EQ(connection_queued_bytes(c), 0);
    /* It lingers: broken again a deadline later, counted once. */
    CHECK_EQ(connection_check_stall(c, 100300, 100), CONN_MOVING);
    CHECK_EQ(connection_check_stall(c, 100350, 100), CONN_CUT_CLOSING);
    CHECK_EQ(sock.aborts, 2);
    connection_gone(c);
    CHECK_EQ(connection_check_stall(c, 200000, 100), CONN_MOVING); /* gone: no io call */
    CHECK_EQ(sock.aborts, 2);
    connection_unref(c);
}

int main(void)
{
    test_table();
    test_identity();
    test_refcount();
    test_set_io_later();
    test_ring_stream();
    test_direct_writes();
    test_wake();
    test_replay_handshake();
    test_end_and_events();
    test_write_deadline();
    return CHECK_DONE();
}
