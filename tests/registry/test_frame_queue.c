/*
 * Unit tests of the frame queue alone, no connection and no socket: reads
 * across frames and from the middle of one, the limit (exact fit, refusal,
 * room freed by writes) and its exemption (exempt bytes do not count and are
 * counted as written first), iovecs that describe without consuming, the
 * commit-time stamp of the first event frame, clear, and a long randomised
 * run against a model of the byte counts through growth, wrap and shrink.
 * ASan checks that every frame reference is released exactly once.
 */
#include "check.h"
#include "common/frame.h"
#include "registry/frame_queue.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* Pushes text (stamped published_us) and drops the test's own reference. */
static bool push(struct frame_queue *q, const char *text, int64_t published_us)
{
    struct frame *f = frame_new(text, strlen(text), published_us);
    bool ok = frame_queue_push(q, f);
    frame_unref(f);
    return ok;
}

static void push_exempt(struct frame_queue *q, const char *text)
{
    struct frame *f = frame_new(text, strlen(text), 0);
    frame_queue_push_exempt(q, f);
    frame_unref(f);
}

/* Reads up to max bytes; returns them as a string (static buffer). */
static const char *read_str(struct frame_queue *q, size_t max, int64_t *published_us)
{
    static char buf[256];
    size_t n = frame_queue_read(q, buf, max, published_us);
    buf[n] = '\0';
    return buf;
}

static void test_read(void)
{
    struct frame_queue q;
    frame_queue_init(&q, 0);
    int64_t pub = -1;
    CHECK_EQ(frame_queue_bytes(&q), 0);
    CHECK_STR(read_str(&q, 64, &pub), "");
    CHECK_EQ(pub, 0);

    CHECK(push(&q, "abc", 0));
    CHECK(push(&q, "defg", 0));
    CHECK(push(&q, "h", 0));
    CHECK_EQ(frame_queue_bytes(&q), 8);
    CHECK_STR(read_str(&q, 5, &pub), "abcde"); /* across frames, ending mid-frame */
    CHECK_EQ(frame_queue_bytes(&q), 3);
    CHECK_STR(read_str(&q, 1, &pub), "f"); /* from the middle of one */
    CHECK_STR(read_str(&q, 64, &pub), "gh");
    CHECK_EQ(frame_queue_bytes(&q), 0);
    CHECK_STR(read_str(&q, 64, &pub), "");
    frame_queue_destroy(&q);
}

/* The stamp is the first event frame's (heartbeats carry 0) that starts in
 * the bytes read; a frame continued from an earlier read does not count. */
static void test_published(void)
{
    struct frame_queue q;
    frame_queue_init(&q, 0);
    int64_t pub = -1;
    CHECK(push(&q, ":hb", 0));
    CHECK(push(&q, "e1", 111));
    CHECK(push(&q, "e2", 222));
    CHECK_STR(read_str(&q, 4, &pub), ":hbe");
    CHECK_EQ(pub, 111);
    CHECK_STR(read_str(&q, 1, &pub), "1");
    CHECK_EQ(pub, 0);
    CHECK_STR(read_str(&q, 64, &pub), "e2");
    CHECK_EQ(pub, 222);
    frame_queue_destroy(&q);
}

/* Replayed (exempt) frames carry no stamp for the latency histogram: an
 * old event's age says nothing about delivery. The first live one does. */
static void test_published_live_only(void)
{
    struct frame_queue q;
    frame_queue_init(&q, 0);
    int64_t pub = -1;
    struct frame *old = frame_new("r1", 2, 111);
    frame_queue_push_exempt(&q, old);
    frame_queue_push_exempt(&q, old);
    frame_unref(old);
    CHECK(push(&q, "e1", 333));
    struct iovec iov[4];
    size_t bytes;
    CHECK_EQ(frame_queue_iov(&q, iov, 4, 64, &bytes, &pub), 3);
    CHECK_EQ(pub, 333);
    CHECK_STR(read_str(&q, 3, &pub), "r1r"); /* only replayed frames start here */
    CHECK_EQ(pub, 0);
    CHECK_STR(read_str(&q, 64, &pub), "1e1");
    CHECK_EQ(pub, 333);
    frame_queue_destroy(&q);
}

static void test_limit(void)
{
    struct frame_queue q;
    frame_queue_init(&q, 8);
    int64_t pub;
    CHECK(push(&q, "12345", 0));
    CHECK(push(&q, "678", 0)); /* exactly at the limit */
    CHECK(!push(&q, "9", 0));  /* refused, and nothing queued */
    CHECK_EQ(frame_queue_bytes(&q), 8);
    CHECK_STR(read_str(&q, 2, &pub), "12");
    CHECK(push(&q, "ab", 0)); /* written bytes make room */
    CHECK(!push(&q, "c", 0));
    CHECK_STR(read_str(&q, 64, &pub), "345678ab");

    /* Exempt bytes: over the limit, not counted toward it, written first. */
    push_exempt(&q, "0123456789");
    CHECK_EQ(frame_queue_bytes(&q), 10);
    CHECK(push(&q, "abcd", 0));
    CHECK(push(&q, "efgh", 0));
    CHECK(!push(&q, "i", 0));
    CHECK_EQ(frame_queue_bytes(&q), 18);
    CHECK_STR(read_str(&q, 10, &pub), "0123456789");
    CHECK(!push(&q, "i", 0)); /* the exempt bytes went first: still 8 limited */
    CHECK_STR(read_str(&q, 1, &pub), "a");
    CHECK(push(&q, "i", 0));
    frame_queue_destroy(&q);

    /* No limit. */
    frame_queue_init(&q, 0);
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 8; i++)
        CHECK(push(&q, big, 0));
    CHECK_EQ(frame_queue_bytes(&q), 8 * (sizeof big - 1));
    frame_queue_destroy(&q);
}

/* iovecs describe the head from its written offset, within the budget and
 * the entry count, and consume nothing; written() then drops bytes. */
static void test_iov(void)
{
    struct frame_queue q;
    frame_queue_init(&q, 0);
    struct iovec iov[4];
    size_t bytes;
    int64_t pub;
    CHECK_EQ(frame_queue_iov(&q, iov, 4, 100, &bytes, &pub), 0);
    CHECK_EQ(bytes, 0);
    CHECK(push(&q, "abcd", 5));
    CHECK(push(&q, "ef", 0));
    CHECK(push(&q, "ghi", 9));
    frame_queue_written(&q, 1); /* "a" went */
    CHECK_EQ(frame_queue_iov(&q, iov, 4, 100, &bytes, &pub), 3);
    CHECK_EQ(bytes, 8);
    CHECK_EQ(pub, 9); /* "abcd" started in an earlier write */
    CHECK(iov[0].iov_len == 3 && memcmp(iov[0].iov_base, "bcd", 3) == 0);
    CHECK(iov[2].iov_len == 3 && memcmp(iov[2].iov_base, "ghi", 3) == 0);
    CHECK_EQ(frame_queue_bytes(&q), 8);
    /* The budget cuts the last entry short; the entry count stops early. */
    CHECK_EQ(frame_queue_iov(&q, iov, 4, 4, &bytes, &pub), 2);
    CHECK_EQ(bytes, 4);
    CHECK_EQ(iov[1].iov_len, 1);
    CHECK_EQ(frame_queue_iov(&q, iov, 1, 100, &bytes, &pub), 1);
    CHECK_EQ(bytes, 3);
    frame_queue_written(&q, 4); /* "bcd" and "e" */
    CHECK_EQ(frame_queue_iov(&q, iov, 4, 100, &bytes, &pub), 2);
    CHECK(iov[0].iov_len == 1 && memcmp(iov[0].iov_base, "f", 1) == 0);
    CHECK_EQ(pub, 9);
    frame_queue_written(&q, 4);
    CHECK_EQ(frame_queue_bytes(&q), 0);
    CHECK_EQ(frame_queue_iov(&q, iov, 4, 100, &bytes, &pub), 0);
    frame_queue_destroy(&q);
}

/* clear drops everything, exempt bytes included; the queue and its limit
 * stay in force. */
static void test_clear(void)
{
    struct frame_queue q;
    frame_queue_init(&q, 4);
    int64_t pub;
    push_exempt(&q, "replay");
    CHECK(push(&q, "1234", 0));
    frame_queue_written(&q, 2);
    frame_queue_clear(&q);
    CHECK_EQ(frame_queue_bytes(&q), 0);
    CHECK_STR(read_str(&q, 64, &pub), "");
    CHECK(!push(&q, "12345", 0));
    CHECK(push(&q, "1234", 0));
    CHECK_STR(read_str(&q, 64, &pub), "1234");
    frame_queue_clear(&q);
    frame_queue_clear(&q);
    frame_queue_destroy(&q);
}

/* Bursts of frames of varied sizes, some exempt, read or written in varied
 * chunks: the bytes come out as they went in, and the counts and the limit's
 * verdicts match a model, while the ring grows, wraps and shrinks. */
static void test_model(void)
{
    enum { TOTAL = 200000, LIMIT = 3000 };
    struct frame_queue q;
    frame_queue_init(&q, LIMIT);
    char *in = malloc(TOTAL), *out = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        in[i] = (char)('a' + (i * 7 + i / 13) % 26);
    size_t pushed = 0, got = 0, exempt = 0; /* the model */
    unsigned seed = 4242;
    bool counts_ok = true, verdicts_ok = true;
    int refused = 0;
    while (got < TOTAL) {
        int burst = rand_r(&seed) % 300;
        for (int k = 0; k < burst && pushed < TOTAL; k++) {
            size_t len = 1 + (size_t)rand_r(&seed) % 40;
            if (len > TOTAL - pushed)
                len = TOTAL - pushed;
            struct frame *f = frame_new(in + pushed, len, 0);
            if (rand_r(&seed) % 8 == 0) {
                frame_queue_push_exempt(&q, f);
                exempt += len;
                pushed += len;
            } else {
                bool fits = pushed - got - exempt + len <= LIMIT;
                bool ok = frame_queue_push(&q, f);
                verdicts_ok &= ok == fits;
                if (ok)
                    pushed += len;
                else
                    refused++;
            }
            frame_unref(f);
        }
        int reads = 1 + rand_r(&seed) % 4;
        for (int k = 0; k < reads && got < pushed; k++) {
            size_t max = 1 + (size_t)rand_r(&seed) % 5000;
            if (max > pushed - got)
                max = pushed - got;
            size_t n;
            if (rand_r(&seed) % 2) {
                int64_t pub;
                n = frame_queue_read(&q, out + got, max, &pub);
            } else { /* as a direct write would: describe, copy, then drop */
                struct iovec iov[8];
                int64_t pub;
                int cnt = frame_queue_iov(&q, iov, 8, max, &n, &pub);
                size_t at = got;
                for (int e = 0; e < cnt; e++) {
                    memcpy(out + at, iov[e].iov_base, iov[e].iov_len);
                    at += iov[e].iov_len;
                }
                frame_queue_written(&q, n);
            }
            counts_ok &= n > 0 && n <= max;
            got += n;
            exempt -= n < exempt ? n : exempt;
            counts_ok &= frame_queue_bytes(&q) == pushed - got;
        }
    }
    CHECK(counts_ok);
    CHECK(verdicts_ok);
    CHECK(refused > 0); /* the limit was exercised */
    CHECK_EQ(got, TOTAL);
    CHECK(memcmp(in, out, TOTAL) == 0);
    CHECK_EQ(frame_queue_bytes(&q), 0);
    free(in);
    free(out);
    frame_queue_destroy(&q);
}

/* A frame outlives the queue for whoever else holds it; destroy releases
 * what is still queued (ASan reports a leak or a double free otherwise). */
static void test_shared_frames(void)
{
    struct frame_queue a, b;
    frame_queue_init(&a, 0);
    frame_queue_init(&b, 0);
    struct frame *f = frame_new("shared", 6, 0);
    CHECK(frame_queue_push(&a, f));
    CHECK(frame_queue_push(&b, f));
    frame_queue_push_exempt(&a, f);
    frame_queue_destroy(&a);
    int64_t pub;
    CHECK_STR(read_str(&b, 64, &pub), "shared");
    frame_queue_destroy(&b);
    CHECK(memcmp(frame_data(f), "shared", 6) == 0);
    frame_unref(f);
}

int main(void)
{
    test_read();
    test_published();
    test_published_live_only();
    test_limit();
    test_iov();
    test_clear();
    test_model();
    test_shared_frames();
    return CHECK_DONE();
}
