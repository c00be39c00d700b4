/*
 * json_text: the checker is one loop with an explicit stack of open
 * containers, so hostile nesting costs a byte per level and never the C
 * stack; it stops at JSON_DEPTH_MAX. The walkers trust checked text: they
 * only find where each value ends (strings by their closing quote,
 * containers by counting brackets outside strings).
 *
 * Does not: convert numbers (they stay text, which is the point), or accept
 * the extensions other parsers allow (comments, NaN, single quotes, a BOM).
 */
#include "web/json_text.h"
#include "common/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

/* The code unit of four hex digits at s[i], or -1. */
static long hex4(const char *s, size_t len, size_t i)
{
    if (len < 4 || i > len - 4)
        return -1;
    long u = 0;
    for (size_t k = i; k < i + 4; k++) {
        char c = s[k];
        int d = is_digit(c)              ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        u = u * 16 + d;
    }
    return u;
}

/* The length of the UTF-8 sequence that starts s[0..len) (its first byte
 * above 0x7f), or 0 when it is not a valid one: overlong, a surrogate,
 * above U+10FFFF, or cut short. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        lo = s[0] == 0xe0 ? 0xa0 : lo;
        hi = s[0] == 0xed ? 0x9f : hi;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        lo = s[0] == 0xf0 ? 0x90 : lo;
        hi = s[0] == 0xf4 ? 0x8f : hi;
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    return n;
}

/* The string at s[*i] == '"'; *i ends past its closing quote, or at the
 * bad byte. */
static int scan_string(const char *s, size_t len, size_t *i, const char **why)
{
    size_t j = *i + 1;
    while (j < len) {
        unsigned char c = (unsigned char)s[j];
        if (c == '"') {
            *i = j + 1;
            return 0;
        }
        if (c < 0x20) {
            *why = "a control character inside a string";
            goto fail;
        }
        if (c == '\\') {
            char e = j + 1 < len ? s[j + 1] : '\0';
            if (e != 'u') {
                if (e == '\0' || !strchr("\"\\/bfnrt", e)) {
                    *why = "an unknown escape";
                    goto fail;
                }
                j += 2;
                continue;
            }
            long u = hex4(s, len, j + 2);
            if (u < 0) {
                *why = "a \\u escape needs four hex digits";
                goto fail;
            }
            if (u >= 0xdc00 && u <= 0xdfff) {
                *why = "a lone surrogate escape";
                goto fail;
            }
            if (u >= 0xd800 && u <= 0xdbff) {
                bool pair = j + 7 < len && s[j + 6] == '\\' && s[j + 7] == 'u';
                long low = pair ? hex4(s, len, j + 8) : -1;
                if (low < 0xdc00 || low > 0xdfff) {
                    *why = "a lone surrogate escape";
                    goto fail;
                }
                j += 6;
            }
            j += 6;
            continue;
        }
        if (c < 0x80) {
            j++;
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)s + j, len - j);
        if (!n) {
            *why = "invalid UTF-8 inside a string";
            goto fail;
        }
        j += n;
    }
    *why = "a string without its closing quote";
fail:
    *i = j;
    return -1;
}

static size_t digits(const char *s, size_t len, size_t j)
{
    while (j < len && is_digit(s[j]))
        j++;
    return j;
}

/* The number at s[*i]: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int scan_number(const char *s, size_t len, size_t *i, const char **why)
{
    size_t j = *i;
    if (s[j] == '-')
        j++;
    if (j < len && s[j] == '0') {
        j++;
        if (j < len && is_digit(s[j])) {
            *why = "a number with a leading zero";
            goto fail;
        }
    } else if (j < len && is_digit(s[j])) {
        j = digits(s, len, j);
    } else {
        *why = "a number needs a digit";
        goto fail;
    }
    if (j < len && s[j] == '.') {
        if (j + 1 >= len || !is_digit(s[j + 1])) {
            *why = "a digit must follow the decimal point";
            goto fail;
        }
        j = digits(s, len, j + 1);
    }
    if (j < len && (s[j] == 'e' || s[j] == 'E')) {
        j++;
        if (j < len && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j >= len || !is_digit(s[j])) {
            *why = "an exponent needs a digit";
            goto fail;
        }
        j = digits(s, len, j);
    }
    *i = j;
    return 0;
fail:
    *i = j;
    return -1;
}

/* A string, number or literal at s[*i] (not at the end). */
static int scan_scalar(const char *s, size_t len, size_t *i, const char **why)
{
    if (s[*i] == '"')
        return scan_string(s, len, i, why);
    if (s[*i] == '-' || is_digit(s[*i]))
        return scan_number(s, len, i, why);
    static const char *const literals[] = {"true", "false", "null"};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(literals[k]);
        if (len - *i >= n && memcmp(s + *i, literals[k], n) == 0) {
            *i += n;
            return 0;
        }
    }
    *why = "expected a value";
    return -1;
}

/* An object member's key and colon; *i ends at its value. */
static int scan_key(const char *s, size_t len, size_t *i, const char **why)
{
    if (*i >= len || s[*i] != '"') {
        *why = "expected a string key";
        return -1;
    }
    if (scan_string(s, len, i, why) != 0)
        return -1;
    *i = skip_ws(s, len, *i);
    if (*i >= len || s[*i] != ':') {
        *why = "expected : after a key";
        return -1;
    }
    *i = skip_ws(s, len, *i + 1);
    return 0;
}

int json_check(const char *s, size_t len, size_t *at, const char **why)
{
    char open[JSON_DEPTH_MAX]; /* '{' or '[' for each container still open */
    size_t depth = 0;
    size_t i = skip_ws(s, len, 0);
    for (;;) {
        /* At a value. */
        if (i >= len) {
            *why = "expected a value";
            goto fail;
        }
        if (s[i] == '{' || s[i] == '[') {
            if (depth == JSON_DEPTH_MAX) {
                *why = "nested too deeply";
                goto fail;
            }
            char c = s[i];
            open[depth++] = c;
            i = skip_ws(s, len, i + 1);
            if (i < len && s[i] == (c == '{' ? '}' : ']')) {
                depth--;
                i++;
            } else if (c == '[') {
                continue;
            } else if (scan_key(s, len, &i, why) == 0) {
                continue;
            } else {
                goto fail;
            }
        } else if (scan_scalar(s, len, &i, why) != 0) {
            goto fail;
        }
        /* Past a whole value: close what ends here, then the next member. */
        for (;;) {
            i = skip_ws(s, len, i);
            if (depth == 0)
                goto done;
            bool object = open[depth - 1] == '{';
            if (i < len && s[i] == (object ? '}' : ']')) {
                depth--;
                i++;
                continue;
            }
            if (i < len && s[i] == ',') {
                i = skip_ws(s, len, i + 1);
                if (object && scan_key(s, len, &i, why) != 0)
                    goto fail;
                break;
            }
            *why = object ? "expected , or } after a member" : "expected , or ] after an element";
            goto fail;
        }
    }
done:
    if (i != len) {
        *why = "bytes after the JSON value";
        goto fail;
    }
    return 0;
fail:
    *at = i;
    return -1;
}

/* Past the closing quote of the checked string at s[i]. */
static size_t string_end(const char *s, size_t i)
{
    for (i++; s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* Past the checked value at s[i]. */
static size_t value_end(const char *s, size_t len, size_t i)
{
    if (s[i] == '"')
        return string_end(s, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < len && !is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
            i++;
        return i;
    }
    size_t depth = 0;
    for (; i < len; i++) {
        if (s[i] == '"')
            i = string_end(s, i) - 1;
        else if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
    }
    return len;
}

struct json_span json_root(const char *text, size_t len)
{
    size_t i = skip_ws(text, len, 0);
    return (struct json_span){text + i, value_end(text, len, i) - i};
}

enum json_kind json_kind(struct json_span v)
{
    switch (v.p[0]) {
    case '{':
        return JSON_OBJECT;
    case '[':
        return JSON_ARRAY;
    case '"':
        return JSON_STRING;
    case 't':
    case 'f':
    case 'n':
        return JSON_LITERAL;
    default:
        return JSON_NUMBER;
    }
}

bool json_is_null(struct json_span v)
{
    return v.len == 4 && memcmp(v.p, "null", 4) == 0;
}

void json_iter_init(struct json_iter *it, struct json_span container)
{
    it->in = container;
    it->pos = 1; /* past the opening bracket */
}

bool json_iter_next(struct json_iter *it, struct json_span *key, struct json_span *value)
{
    const char *s = it->in.p;
    size_t len = it->in.len;
    size_t i = skip_ws(s, len, it->pos);
    if (i < len && s[i] == ',')
        i = skip_ws(s, len, i + 1);
    if (i >= len || s[i] == '}' || s[i] == ']')
        return false;
    *key = (struct json_span){NULL, 0};
    if (s[0] == '{') {
        size_t end = string_end(s, i);
        *key = (struct json_span){s + i, end - i};
        i = skip_ws(s, len, skip_ws(s, len, end) + 1); /* past the colon */
    }
    size_t end = value_end(s, len, i);
    *value = (struct json_span){s + i, end - i};
    it->pos = end;
    return true;
}

/* Writes code point u as UTF-8; returns the bytes written. */
static size_t put_utf8(char *out, unsigned long u)
{
    if (u < 0x80) {
        out[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (char)(0xc0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3f));
        return 2;
    }
    if (u < 0x10000) {
        out[0] = (char)(0xe0 | (u >> 12));
        out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
        out[2] = (char)(0x80 | (u & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (u >> 18));
    out[1] = (char)(0x80 | ((u >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((u >> 6) & 0x3f));
    out[3] = (char)(0x80 | (u & 0x3f));
    return 4;
}

char *json_string_decode(struct json_span v, size_t *len)
{
    const char *s = v.p + 1; /* inside the quotes */
    size_t n = v.len - 2;
    /* Decoding never grows the text: an escape of 2, 6 or 12 bytes becomes
     * 1, at most 3, or 4 bytes. */
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned long u = (unsigned long)hex4(s, n, i);
            i += 4;
            if (u >= 0xd800 && u <= 0xdbff) {
                unsigned long low = (unsigned long)hex4(s, n, i + 2);
                i += 6;
                u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
            }
            o += put_utf8(out + o, u);
            break;
        }
        default: /* " \ / */
            out[o++] = e;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

bool json_string_is(struct json_span s, const char *word)
{
    size_t n = strlen(word);
    /* The plain spelling is the usual one; an escaped one decodes. */
    if (s.len == n + 2 && memcmp(s.p + 1, word, n) == 0)
        return true;
    if (!memchr(s.p, '\\', s.len))
        return false;
    size_t len;
    char *d = json_string_decode(s, &len);
    bool same = len == n && memcmp(d, word, n) == 0;
    free(d);
    return same;
}

char *json_minify(struct json_span v, size_t *len)
{
    char *out = xmalloc(v.len + 1);
    size_t o = 0;
    for (size_t i = 0; i < v.len;) {
        if (v.p[i] == '"') {
            size_t end = string_end(v.p, i);
            memcpy(out + o, v.p + i, end - i);
            o += end - i;
            i = end;
        } else if (is_ws(v.p[i])) {
            i++;
        } else {
            out[o++] = v.p[i++];
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}
