/*
 * escape: the two ways outside input is shown back (escape.h). Both cut
 * only between whole escapes, so a truncated result is still well formed.
 */
#include "web/escape.h"

#include <stdio.h>
#include <string.h>

size_t escape_json(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        size_t len;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            len = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        } else if (c > 0x7f) {
            memcpy(esc, "\\ufffd", 6), len = 6;
        } else {
            esc[0] = (char)c, len = 1;
        }
        if (n + len >= outlen)
            break;
        memcpy(out + n, esc, len);
        n += len;
    }
    out[n] = '\0';
    return n;
}

char *escape_printable(char *out, size_t outlen, const char *input, size_t len, size_t max)
{
    size_t n = 0, i = 0;
    for (; i < len && i < max; i++) {
        unsigned char c = (unsigned char)input[i];
        char esc[8];
        size_t elen;
        if (c < 0x20 || c > 0x7e || c == '\\')
            elen = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        else
            esc[0] = (char)c, elen = 1;
        if (n + elen >= outlen)
            break;
        memcpy(out + n, esc, elen);
        n += elen;
    }
    if (i < len && n + 3 < outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}
