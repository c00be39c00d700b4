/*
 * notify_payload: turns an sse.notify() JSON payload into a stream, an
 * optional event type and data, rejecting anything that is not exactly that
 * shape. The stream rule is the subscription path's (web/query.h).
 */
#include "notify_payload.h"
#include "query.h"
#include "xalloc.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int notify_payload_parse(const char *payload, size_t len, struct notify_payload *out,
                         const char **reason)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(payload, len);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        *reason = "payload is not a JSON object";
        goto fail;
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    const cJSON *event = cJSON_GetObjectItemCaseSensitive(root, "event");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsString(stream) ||
        !stream_name_valid(stream->valuestring, strlen(stream->valuestring))) {
        *reason = "missing or invalid stream";
        goto fail;
    }
    if (!cJSON_IsString(data)) {
        *reason = "missing or non-string data";
        goto fail;
    }
    if (event && !cJSON_IsNull(event) && !cJSON_IsString(event)) {
        *reason = "event is neither a string nor null";
        goto fail;
    }
    out->stream = xstrdup(stream->valuestring);
    out->event = cJSON_IsString(event) && *event->valuestring ? xstrdup(event->valuestring) : NULL;
    out->data_len = strlen(data->valuestring);
    out->data = xstrndup(data->valuestring, out->data_len);
    rc = 0;
fail:
    cJSON_Delete(root);
    return rc;
}

void notify_payload_clear(struct notify_payload *p)
{
    free(p->stream);
    free(p->event);
    free(p->data);
    memset(p, 0, sizeof *p);
}
