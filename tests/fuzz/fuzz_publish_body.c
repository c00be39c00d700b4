/* libFuzzer: POST /publish bodies, as JSON, as forms and sniffed. Whatever is
 * accepted must satisfy the rules the database would otherwise enforce. */
#include "protocol/stream_name.h"
#include "web/publish_body.h"
#include "web/query.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded",
                                        NULL};
    for (size_t t = 0; t < 3; t++) {
        struct publish_list l;
        char err[200];
        if (publish_body_parse(types[t], (const char *)data, size, &l, err, sizeof err) != 0) {
            assert(l.n == 0 && err[0]);
            continue;
        }
        assert(l.n > 0);
        for (size_t i = 0; i < l.n; i++) {
            assert(stream_name_valid(l.items[i].stream, strlen(l.items[i].stream)));
            assert(strlen(l.items[i].data) <= PUBLISH_DATA_MAX);
            const char *e = l.items[i].event;
            assert(!e || (strlen(e) > 0 && !strpbrk(e, "\r\n") && strncmp(e, "gateway:", 8) != 0));
        }
        publish_list_clear(&l);
    }
    return 0;
}
