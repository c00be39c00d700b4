/* pg_text: one-line messages and text[] literals, in one pass each over exact-size buffers. */
#include "common/pg_text.h"
#include "common/xalloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Spaces and control characters alike: a log line must not carry a newline,
 * a carriage return or an escape sequence. */
static bool blank(unsigned char c)
{
    return c <= ' ' || c == 0x7f;
}

char *pg_text_one_line(const char *msg)
{
    char *out = xstrdup(msg ? msg : ""), *w = out;
    for (const char *r = out; *r; r++) {
        if (!blank((unsigned char)*r))
            *w++ = *r;
        else if (w > out && w[-1] != ' ')
            *w++ = ' ';
    }
    while (w > out && w[-1] == ' ')
        w--;
    *w = '\0';
    if (w == out) {
        free(out);
        return xstrdup("unknown error");
    }
    return out;
}

static bool escaped(char c)
{
    return c == '"' || c == '\\';
}

char *pg_text_array(const char *const *items, size_t n)
{
    size_t len = 2; /* the braces */
    for (size_t i = 0; i < n; i++) {
        len += i > 0; /* the comma */
        if (!items[i]) {
            len += 4;
            continue;
        }
        len += 2; /* the quotes */
        for (const char *c = items[i]; *c; c++)
            len += 1 + escaped(*c);
    }
    char *out = xmalloc(len + 1), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        if (!items[i]) {
            memcpy(p, "NULL", 4);
            p += 4;
            continue;
        }
        *p++ = '"';
        for (const char *c = items[i]; *c; c++) {
            if (escaped(*c))
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    assert((size_t)(p - out) == len);
    return out;
}
