/*
 * publish_body: JSON (json_text, which keeps a value's exact text) and form
 * parsing of POST /publish, with every rule checked here so that the
 * database never refuses a request for its content: the stream-name rule,
 * event types without CR/LF and outside the reserved "gateway:" family, data
 * within PUBLISH_DATA_MAX and without NUL (PostgreSQL text cannot hold one).
 * Reasons quote input only through escape_printable, so each stays one line.
 * Does not: read the socket or decide the HTTP status (the adapter does, from
 * the return value and the size limits).
 */
#include "web/publish_body.h"
#include "common/xalloc.h"
#include "protocol/stream_name.h"
#include "web/escape.h"
#include "web/json_text.h"
#include "web/query.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void push(struct publish_list *l, char *stream, char *data, char *event)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = (struct publish_item){stream, data, event};
}

/* The checks shared by both formats; where names the event ("events[2]"). */
static int check_event(const char *where, const char *stream, size_t stream_len, const char *event,
                       size_t event_len, size_t data_len, char *err, size_t errlen)
{
    if (!stream_name_valid(stream, stream_len))
        return fail(err, errlen,
                    "%sstream: invalid stream name: 1-200 bytes of A-Z a-z 0-9 _ - . : / @", where);
    if (event) {
        if (event_len == 0 || event_len > PUBLISH_EVENT_MAX || memchr(event, '\r', event_len) ||
            memchr(event, '\n', event_len) || memchr(event, '\0', event_len))
            return fail(err, errlen, "%sevent: 1-%d bytes without CR, LF or NUL", where,
                        PUBLISH_EVENT_MAX);
        if (event_len >= 8 && memcmp(event, "gateway:", 8) == 0)
            return fail(err, errlen, "%sevent: types starting with gateway: are reserved", where);
    }
    if (data_len > PUBLISH_DATA_MAX)
        return fail(err, errlen, "%sdata: more than %d bytes", where, PUBLISH_DATA_MAX);
    return 0;
}

/* A key as the reason shows it: printable, at most 40 bytes. */
static const char *shown_key(struct json_span key, char *buf, size_t buflen)
{
    return escape_printable(buf, buflen, key.p + 1, key.len - 2, 40);
}

static int parse_json_event(struct json_span o, const char *where, struct publish_list *out,
                            char *err, size_t errlen)
{
    if (json_kind(o) != JSON_OBJECT)
        return fail(err, errlen, "%s: expected an object with stream and data",
                    where[0] ? where : "body");
    struct json_span stream = {0}, data = {0}, event = {0}, key, value;
    struct json_iter it;
    json_iter_init(&it, o);
    while (json_iter_next(&it, &key, &value)) {
        struct json_span *slot = json_string_is(key, "stream")  ? &stream
                                 : json_string_is(key, "data")  ? &data
                                 : json_string_is(key, "event") ? &event
                                                                : NULL;
        char shown[200];
        if (!slot)
            return fail(err, errlen, "%s%s: unknown field", where,
                        shown_key(key, shown, sizeof shown));
        if (slot->p)
            return fail(err, errlen, "%s%s: given twice", where,
                        shown_key(key, shown, sizeof shown));
        *slot = value;
    }
    if (!stream.p || json_kind(stream) != JSON_STRING)
        return fail(err, errlen, "%sstream: a string is required", where);
    if (!data.p || json_is_null(data))
        return fail(err, errlen, "%sdata: required", where);
    if (event.p && !json_is_null(event) && json_kind(event) != JSON_STRING)
        return fail(err, errlen, "%sevent: must be a string", where);
    size_t stream_len, event_len = 0, data_len;
    char *name = json_string_decode(stream, &stream_len);
    char *ev = event.p && !json_is_null(event) ? json_string_decode(event, &event_len) : NULL;
    /* A string is stored decoded; any other value as its exact text. */
    bool is_string = json_kind(data) == JSON_STRING;
    char *text = is_string ? json_string_decode(data, &data_len) : json_minify(data, &data_len);
    int rc = 0;
    if (is_string && strlen(text) != data_len)
        rc = fail(err, errlen, "%sdata: \\u0000 cannot be stored", where);
    else
        rc = check_event(where, name, stream_len, ev, event_len, data_len, err, errlen);
    if (rc != 0) {
        free(name);
        free(ev);
        free(text);
        return -1;
    }
    push(out, name, text, ev);
    return 0;
}

static int parse_json(const char *body, size_t len, struct publish_list *out, char *err,
                      size_t errlen)
{
    size_t at;
    const char *why;
    if (json_check(body, len, &at, &why) != 0)
        return fail(err, errlen, "body: invalid JSON at byte %zu: %s", at, why);
    struct json_span root = json_root(body, len);
    if (json_kind(root) != JSON_ARRAY)
        return parse_json_event(root, "", out, err, errlen);
    struct json_iter it;
    struct json_span key, o;
    json_iter_init(&it, root);
    for (size_t i = 0; json_iter_next(&it, &key, &o); i++) {
        char where[32];
        snprintf(where, sizeof where, "events[%zu].", i);
        if (parse_json_event(o, where, out, err, errlen) != 0) {
            publish_list_clear(out);
            return -1;
        }
    }
    if (out->n == 0)
        return fail(err, errlen, "body: an empty array publishes nothing");
    return 0;
}

/* One form field's value, decoded into a fresh string; NULL on a bad escape. */
static char *form_value(const char *v, size_t len, size_t *out_len)
{
    char *s = xmalloc(len + 1);
    long n = percent_decode(v, len, s);
    if (n < 0) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    *out_len = (size_t)n;
    return s;
}

static int parse_form(const char *body, size_t len, struct publish_list *out, char *err,
                      size_t errlen)
{
    char *field[3] = {NULL, NULL, NULL}; /* stream, data, event */
    size_t flen[3] = {0, 0, 0};
    static const char *const names[3] = {"stream", "data", "event"};
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        size_t amp = i;
        while (amp < len && body[amp] != '&')
            amp++;
        const char *eq = memchr(body + i, '=', amp - i);
        size_t klen = eq ? (size_t)(eq - (body + i)) : amp - i;
        int which = -1;
        for (int k = 0; k < 3; k++)
            if (klen == strlen(names[k]) && memcmp(body + i, names[k], klen) == 0)
                which = k;
        char shown[200];
        if (amp > i && which < 0)
            rc = fail(err, errlen, "form: unknown field %s",
                      escape_printable(shown, sizeof shown, body + i, klen, 40));
        else if (which >= 0 && field[which])
            rc = fail(err, errlen, "form: %s given twice (one event per form)", names[which]);
        else if (which >= 0) {
            const char *v = eq ? eq + 1 : body + amp;
            field[which] = form_value(v, (size_t)(body + amp - v), &flen[which]);
            if (!field[which])
                rc = fail(err, errlen, "form: %s: invalid percent-encoding", names[which]);
        }
        i = amp + 1;
    }
    if (rc == 0 && !field[0])
        rc = fail(err, errlen, "stream: required");
    if (rc == 0 && !field[1])
        rc = fail(err, errlen, "data: required");
    if (rc == 0 && memchr(field[1], '\0', flen[1]))
        rc = fail(err, errlen, "data: NUL cannot be stored");
    if (rc == 0)
        rc = check_event("", field[0], flen[0], field[2], flen[2], flen[1], err, errlen);
    if (rc != 0) {
        for (int k = 0; k < 3; k++)
            free(field[k]);
        return -1;
    }
    push(out, field[0], field[1], field[2]);
    return 0;
}

static bool type_is(const char *content_type, const char *want)
{
    size_t n = strlen(want);
    return content_type && strncasecmp(content_type, want, n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

int publish_body_parse(const char *content_type, const char *body, size_t len,
                       struct publish_list *out, char *err, size_t errlen)
{
    out->items = NULL;
    out->n = 0;
    size_t skip = 0;
    while (skip < len &&
           (body[skip] == ' ' || body[skip] == '\t' || body[skip] == '\r' || body[skip] == '\n'))
        skip++;
    bool looks_json = skip < len && (body[skip] == '{' || body[skip] == '[');
    if (type_is(content_type, "application/json") || (!content_type && looks_json))
        return parse_json(body, len, out, err, errlen);
    /* curl -d sends JSON as a form by default: a form whose first byte is {
     * or [ cannot be valid anyway, so it is read as the JSON it is. */
    if (type_is(content_type, "application/x-www-form-urlencoded") || !content_type)
        return looks_json ? parse_json(body, len, out, err, errlen)
                          : parse_form(body, len, out, err, errlen);
    return fail(err, errlen,
                "Content-Type must be application/json or application/x-www-form-urlencoded");
}
