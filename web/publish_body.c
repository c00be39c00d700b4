/*
 * publish_body: JSON (cJSON) and form parsing of POST /publish, with every
 * rule checked here so that the database never refuses a request for its
 * content: the stream-name rule, event types without CR/LF and outside the
 * reserved "gateway:" family, data within PUBLISH_DATA_MAX and without NUL
 * (PostgreSQL text cannot hold one). Reasons quote input only through
 * escape_printable, so each stays one line. Does not: read the socket or
 * decide the HTTP status (the adapter does, from the return value and the
 * size limits).
 */
#include "web/publish_body.h"
#include "common/xalloc.h"
#include "protocol/stream_name.h"
#include "web/escape.h"
#include "web/query.h"

#include <cjson/cJSON.h>
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

/* cJSON decodes \u0000 into a NUL that silently ends its C string: find a
 * real escape (an odd run of backslashes before "u0000") in the raw text. */
static bool has_escaped_nul(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\' || strncasecmp(s + i + 1, "u0000", 5) != 0)
            continue;
        size_t run = 0;
        while (run < i && s[i - 1 - run] == '\\')
            run++;
        if (run % 2 == 0)
            return true;
    }
    return false;
}

static int parse_json_event(const cJSON *o, const char *where, struct publish_list *out, char *err,
                            size_t errlen)
{
    if (!cJSON_IsObject(o))
        return fail(err, errlen, "%s: expected an object with stream and data",
                    where[0] ? where : "body");
    const cJSON *stream = NULL, *data = NULL, *event = NULL;
    char shown[200];
    for (const cJSON *f = o->child; f; f = f->next) {
        if (strcmp(f->string, "stream") == 0 && !stream)
            stream = f;
        else if (strcmp(f->string, "data") == 0 && !data)
            data = f;
        else if (strcmp(f->string, "event") == 0 && !event)
            event = f;
        else
            return fail(err, errlen, "%s%s: unknown or repeated field", where,
                        escape_printable(shown, sizeof shown, f->string, strlen(f->string), 40));
    }
    if (!cJSON_IsString(stream))
        return fail(err, errlen, "%sstream: a string is required", where);
    if (!data || cJSON_IsNull(data))
        return fail(err, errlen, "%sdata: required", where);
    if (event && !cJSON_IsNull(event) && !cJSON_IsString(event))
        return fail(err, errlen, "%sevent: must be a string", where);
    const char *ev = event && cJSON_IsString(event) ? event->valuestring : NULL;
    char *text = cJSON_IsString(data) ? xstrdup(data->valuestring) : NULL;
    if (!text) {
        char *printed = cJSON_PrintUnformatted(data);
        text = xstrdup(printed);
        cJSON_free(printed);
    }
    if (check_event(where, stream->valuestring, strlen(stream->valuestring), ev,
                    ev ? strlen(ev) : 0, strlen(text), err, errlen) != 0) {
        free(text);
        return -1;
    }
    push(out, xstrdup(stream->valuestring), text, ev ? xstrdup(ev) : NULL);
    return 0;
}

static int parse_json(const char *body, size_t len, struct publish_list *out, char *err,
                      size_t errlen)
{
    if (has_escaped_nul(body, len))
        return fail(err, errlen, "body: \\u0000 cannot be stored");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root)
        return fail(err, errlen, "body: invalid JSON near byte %ld", end ? (long)(end - body) : 0L);
    int rc = 0;
    if (cJSON_IsArray(root)) {
        int i = 0;
        for (const cJSON *o = root->child; o && rc == 0; o = o->next, i++) {
            char where[32];
            snprintf(where, sizeof where, "events[%d].", i);
            rc = parse_json_event(o, where, out, err, errlen);
        }
        if (rc == 0 && i == 0)
            rc = fail(err, errlen, "body: an empty array publishes nothing");
    } else {
        rc = parse_json_event(root, "", out, err, errlen);
    }
    cJSON_Delete(root);
    if (rc != 0)
        publish_list_clear(out);
    return rc;
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
