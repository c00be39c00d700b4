/*
 * notify_payload: turns the JSON that sse.notify() sends on "sse#notify" into
 * a stream, an optional event type and data. Anyone with a database login can
 * NOTIFY that channel, so this is outside input: any shape other than the
 * documented one is rejected with a reason, never guessed at.
 *
 * Accepted: one JSON object and nothing after it but whitespace; "stream" a
 * string that is a valid stream name (protocol/stream_name.h);
 * "data" a string; "event" absent, null or a string without CR or LF (""
 * counts as absent, as in the SSE framing) and not starting with "gateway:"
 * (the prefix of the gateway's own sentinels: gateway:shutdown from anyone
 * with a login would close every subscriber's stream); each of these keys at
 * most once.
 * Other keys are ignored so that sse.notify() may grow fields.
 *
 * NUL characters, raw or escaped as \u0000, are rejected: PostgreSQL text
 * cannot hold them, and the C strings handed on would silently cut them short.
 *
 * Pure and stateless, any thread; fuzzed by tests/fuzz/fuzz_notify_payload.c.
 */
#include "listener/notify_payload.h"
#include "common/xalloc.h"
#include "protocol/stream_name.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char notify_payload_reserved[] = "event types starting with gateway: are reserved";

/* True when the JSON text holds a \u0000 escape. An escaped backslash is
 * skipped whole, so the text "\\u0000" (a backslash, then u0000) is data. */
static bool has_escaped_nul(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
            return true;
        i++;
    }
    return false;
}

/* Points *slot at item unless a previous key of the same name got there first. */
static int take_once(const cJSON **slot, const cJSON *item)
{
    if (*slot)
        return -1;
    *slot = item;
    return 0;
}

int notify_payload_parse(const char *payload, size_t len, struct notify_payload *out,
                         const char **reason)
{
    assert(payload || len == 0);
    memset(out, 0, sizeof *out);
    *reason = NULL;
    const cJSON *stream = NULL, *event = NULL, *data = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    if (len == 0) {
        *reason = "empty payload";
        goto fail;
    }
    if (memchr(payload, '\0', len) || has_escaped_nul(payload, len)) {
        *reason = "payload contains a NUL character";
        goto fail;
    }
    /* cJSON is not built with our sanitizers: hand it a terminated copy so an
     * over-read past len cannot happen rather than go unnoticed. */
    text = xmalloc(len + 1);
    memcpy(text, payload, len);
    text[len] = '\0';
    const char *end = NULL;
    root = cJSON_ParseWithOpts(text, &end, false);
    if (!cJSON_IsObject(root)) {
        *reason = "payload is not a JSON object";
        goto fail;
    }
    if (end[strspn(end, " \t\r\n")] != '\0') {
        *reason = "trailing characters after the JSON object";
        goto fail;
    }
    for (const cJSON *item = root->child; item; item = item->next) {
        int rc = 0;
        if (strcmp(item->string, "stream") == 0)
            rc = take_once(&stream, item);
        else if (strcmp(item->string, "event") == 0)
            rc = take_once(&event, item);
        else if (strcmp(item->string, "data") == 0)
            rc = take_once(&data, item);
        if (rc != 0) {
            *reason = "a key appears twice";
            goto fail;
        }
    }
    if (!stream || !cJSON_IsString(stream)) {
        *reason = "stream is missing or not a string";
        goto fail;
    }
    if (!stream_name_valid(stream->valuestring, strlen(stream->valuestring))) {
        *reason = "stream is not a valid stream name";
        goto fail;
    }
    if (!data || !cJSON_IsString(data)) {
        *reason = "data is missing or not a string";
        goto fail;
    }
    const char *type = event && cJSON_IsString(event) ? event->valuestring : NULL;
    if (event && !type && !cJSON_IsNull(event)) {
        *reason = "event is neither a string nor null";
        goto fail;
    }
    if (type && strpbrk(type, "\r\n")) {
        *reason = "event contains CR or LF";
        goto fail;
    }
    if (type && strncmp(type, "gateway:", 8) == 0) {
        *reason = notify_payload_reserved;
        goto fail;
    }
    out->stream = xstrdup(stream->valuestring);
    if (type && type[0] != '\0')
        out->event = xstrdup(type);
    out->data = xstrdup(data->valuestring);
    out->data_len = strlen(out->data);
fail:
    cJSON_Delete(root);
    free(text);
    return *reason ? -1 : 0;
}

void notify_payload_clear(struct notify_payload *p)
{
    free(p->stream);
    free(p->event);
    free(p->data);
    memset(p, 0, sizeof *p);
}
