/*
 * libFuzzer target: framing, the check that a request's body length reads
 * one way only. The input is header lines ("name: value\n"). Beyond memory
 * errors it checks the promise on every input: an accepted set has at most
 * one way to find the body's end (no Transfer-Encoding with a
 * Content-Length, one coding and it chunked, all Content-Lengths equal
 * decimals), counted here independently of framing.c.
 */
#include "web/framing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* abort() rather than assert(): the checks must hold in every build. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static bool is(const char *s, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(s, want, len) == 0;
}

/* A digit string (spaces and tabs around it allowed) without its leading
 * zeros, into out; false if it is not one or longer than out. */
static bool decimal(const char *v, size_t len, char *out, size_t outlen)
{
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    while (len > 1 && v[0] == '0')
        v++, len--;
    if (len >= outlen)
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct framing f = {0};
    unsigned te = 0, cl = 0, spaced = 0;
    char first[64] = "", n[64];
    bool lengths_agree = true;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - s) : size;
        const char *colon = memchr(s + i, ':', end - i);
        if (colon) {
            size_t nlen = (size_t)(colon - (s + i));
            const char *v = colon + 1;
            size_t vlen = (size_t)(s + end - v);
            framing_add(&f, s + i, nlen, v, vlen);
            spaced += memchr(s + i, ' ', nlen) || memchr(s + i, '\t', nlen);
            if (is(s + i, nlen, "Transfer-Encoding"))
                te++;
            if (is(s + i, nlen, "Content-Length")) {
                bool ok = decimal(v, vlen, n, sizeof n);
                lengths_agree = lengths_agree && ok && (cl == 0 || strcmp(n, first) == 0);
                if (ok && cl == 0)
                    strcpy(first, n);
                cl++;
            }
        }
        i = end + 1;
    }
    const char *why = framing_verdict(&f);
    if (!why) {
        REQUIRE(!spaced);
        REQUIRE(!(te && cl));
        REQUIRE(te <= 1);
        REQUIRE(te ? f.chunked : true);
        REQUIRE(lengths_agree);
    } else {
        REQUIRE(why[0]);
    }
    return 0;
}
