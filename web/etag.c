/*
 * etag: the ETag of an in-memory file and the If-None-Match test. The hash
 * only has to change when the file does; the file is built into the binary,
 * so its tag is computed once at start.
 */
#include "web/etag.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void etag_of(const char *body, size_t len, char out[ETAG_SIZE])
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a, 64 bits */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)body[i];
        h *= 0x100000001b3u;
    }
    snprintf(out, ETAG_SIZE, "\"%016" PRIx64 "\"", h);
}

bool etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    size_t elen = strlen(etag);
    const char *p = if_none_match;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return false;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = p;
        if (*end == '"') { /* a quoted tag runs to its closing quote */
            end = strchr(end + 1, '"');
            end = end ? end + 1 : p + strlen(p);
        } else {
            end += strcspn(end, ", \t");
        }
        if ((size_t)(end - p) == elen && memcmp(p, etag, elen) == 0)
            return true;
        p = end;
    }
}
