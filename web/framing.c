/*
 * framing: the rules, strictest first. A field name with a space or tab
 * before its colon is one a lenient proxy may trim into Transfer-Encoding
 * or Content-Length while libmicrohttpd keeps it as another name. Only the
 * "chunked" coding exists for requests here; anything else leaves the
 * body's end unknown. Two Content-Lengths are fine only when equal.
 */
#include "web/framing.h"

#include <string.h>
#include <strings.h>

static bool named(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* value without the spaces and tabs around it. */
static const char *trim(const char *value, size_t *len)
{
    while (*len && (value[0] == ' ' || value[0] == '\t'))
        value++, (*len)--;
    while (*len && (value[*len - 1] == ' ' || value[*len - 1] == '\t'))
        (*len)--;
    return value;
}

static void add_length(struct framing *f, const char *value, size_t len)
{
    value = trim(value, &len);
    bool digits = len > 0;
    for (size_t i = 0; i < len; i++)
        digits = digits && value[i] >= '0' && value[i] <= '9';
    while (len > 1 && value[0] == '0')
        value++, len--;
    if (!digits || len >= sizeof f->length) {
        f->length_bad = true;
    } else if (f->content_lengths++ == 0) {
        memcpy(f->length, value, len);
        f->length[len] = '\0';
    } else if (strlen(f->length) != len || memcmp(f->length, value, len) != 0) {
        f->length_bad = true;
    }
}

void framing_add(struct framing *f, const char *name, size_t name_len, const char *value,
                 size_t value_len)
{
    if (memchr(name, ' ', name_len) || memchr(name, '\t', name_len))
        f->name_bad = true;
    if (named(name, name_len, "Content-Length")) {
        add_length(f, value, value_len);
    } else if (named(name, name_len, "Transfer-Encoding")) {
        value = trim(value, &value_len);
        if (f->transfer_encodings++ == 0)
            f->chunked = named(value, value_len, "chunked");
    }
}

const char *framing_verdict(const struct framing *f)
{
    if (f->name_bad)
        return "a header name with a space or a tab";
    if (f->transfer_encodings && (f->content_lengths || f->length_bad))
        return "both Transfer-Encoding and Content-Length";
    if (f->transfer_encodings > 1 || (f->transfer_encodings && !f->chunked))
        return "a Transfer-Encoding other than chunked";
    if (f->length_bad)
        return "two different Content-Lengths, or one that is not a number";
    return NULL;
}
