/* libFuzzer target: the subscription query parser, cursors and percent-decoding
 * on arbitrary bytes. Invariant: whatever is accepted obeys the rules. */
#include "protocol/position.h"
#include "protocol/stream_name.h"
#include "web/query.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct sub_request r;
    const char *why;
    if (query_parse_subscription(in, size, 32, &r, &why) == QUERY_OK) {
        assert(r.nstreams >= 1 && r.nstreams <= 32);
        for (size_t i = 0; i < r.nstreams; i++)
            assert(stream_name_valid(r.streams[i], strlen(r.streams[i])));
        assert(!r.has_cursor || r.cursor >= 0);
        sub_request_clear(&r);
    } else {
        assert(why != NULL);
    }
    int64_t cursor;
    if (position_parse(in, size, &cursor) == 0)
        assert(cursor >= 0);
    char *out = malloc(size + 1);
    long n = percent_decode(in, size, out);
    assert(n <= (long)size);
    free(out);
    return 0;
}
