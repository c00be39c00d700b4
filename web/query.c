/*
 * query: the subscription request's outside input: the raw query string
 * (parsed here, not by libmicrohttpd, which decodes %00 into a truncated C
 * string), stream names and cursors. Pure functions, any thread, fuzzed.
 */
#include "web/query.h"
#include "common/xalloc.h"
#include "protocol/position.h"
#include "protocol/stream_name.h"

#include <stdlib.h>
#include <string.h>

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long percent_decode(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = in[i] == '+' ? ' ' : in[i];
        }
    }
    return (long)n;
}

void sub_request_clear(struct sub_request *r)
{
    for (size_t i = 0; i < r->nstreams; i++)
        free(r->streams[i]);
    free(r->streams);
    free(r->token);
    memset(r, 0, sizeof *r);
}

static bool key_is(const char *key, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(key, want, len) == 0;
}

static enum query_status fail(struct sub_request *out, const char **message,
                              enum query_status status, const char *why)
{
    sub_request_clear(out);
    *message = why;
    return status;
}

enum query_status query_parse_subscription(const char *query, size_t len, size_t max_streams,
                                           struct sub_request *out, const char **message)
{
    memset(out, 0, sizeof *out);
    *message = NULL;
    char *key = xmalloc(len + 1), *value = xmalloc(len + 1);
    enum query_status st = QUERY_OK;
    size_t i = 0;
    while (query && i < len && st == QUERY_OK) {
        size_t end = i;
        while (end < len && query[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && query[eq] != '=')
            eq++;
        long klen = percent_decode(query + i, eq - i, key);
        long vlen = eq < end ? percent_decode(query + eq + 1, end - eq - 1, value) : 0;
        if (klen < 0 || vlen < 0) {
            st = fail(out, message, QUERY_BAD_ENCODING, "invalid percent-encoding in the query");
            break;
        }
        if (key_is(key, (size_t)klen, "stream")) {
            if (!stream_name_valid(value, (size_t)vlen)) {
                st = fail(out, message, QUERY_BAD_STREAM,
                          "invalid stream name: 1-200 bytes of A-Z a-z 0-9 _ - . : / @");
                break;
            }
            bool dup = false;
            for (size_t k = 0; k < out->nstreams && !dup; k++)
                dup = strlen(out->streams[k]) == (size_t)vlen &&
                      memcmp(out->streams[k], value, (size_t)vlen) == 0;
            if (!dup) {
                if (out->nstreams >= max_streams) {
                    st = fail(out, message, QUERY_TOO_MANY_STREAMS,
                              "too many streams for one connection");
                    break;
                }
                out->streams = xrealloc(out->streams, (out->nstreams + 1) * sizeof *out->streams);
                out->streams[out->nstreams++] = xstrndup(value, (size_t)vlen);
            }
        } else if (key_is(key, (size_t)klen, "lastEventId")) {
            if (position_parse(value, (size_t)vlen, &out->cursor) != 0) {
                st = fail(out, message, QUERY_BAD_CURSOR,
                          "lastEventId must be a non-negative integer");
                break;
            }
            out->has_cursor = true;
        } else if (key_is(key, (size_t)klen, "token")) {
            free(out->token);
            out->token = xstrndup(value, (size_t)vlen);
        }
        i = end + 1;
    }
    if (st == QUERY_OK && out->nstreams == 0)
        st = fail(out, message, QUERY_NO_STREAM, "a subscription needs at least one stream");
    free(key);
    free(value);
    return st;
}

char *query_token(const char *query, size_t len)
{
    char *found = NULL;
    for (size_t i = 0; i < len;) {
        size_t amp = i;
        while (amp < len && query[amp] != '&')
            amp++;
        if (amp - i > 6 && memcmp(query + i, "token=", 6) == 0) {
            free(found);
            found = xmalloc(amp - i - 6 + 1);
            long n = percent_decode(query + i + 6, amp - i - 6, found);
            if (n < 0) {
                free(found);
                return NULL;
            }
            found[n] = '\0';
        }
        i = amp + 1;
    }
    return found;
}
