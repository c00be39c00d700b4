/* libFuzzer target: sse.notify() payloads (anyone may NOTIFY the channel). */
#include "notify_payload.h"
#include "query.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct notify_payload p;
    const char *why;
    if (notify_payload_parse((const char *)data, size, &p, &why) == 0) {
        assert(stream_name_valid(p.stream, strlen(p.stream)));
        assert(p.data && strlen(p.data) == p.data_len);
        notify_payload_clear(&p);
    } else {
        assert(why != NULL);
    }
    return 0;
}
