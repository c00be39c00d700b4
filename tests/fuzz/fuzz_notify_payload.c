/*
 * libFuzzer target: notify_payload_parse, the JSON anyone may NOTIFY on
 * "sse#notify". Beyond memory errors (ASan, UBSan) it checks the contract of
 * notify_payload.h on every input: an accepted payload yields a valid stream,
 * data of the reported length with no NUL, and an event that is NULL or a
 * non-empty line; a rejected one yields a reason and an empty struct.
 */
#include "listener/notify_payload.h"
#include "protocol/stream_name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* abort() rather than assert(): the checks must hold in every build. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct notify_payload p;
    const char *why = NULL;
    if (notify_payload_parse((const char *)data, size, &p, &why) == 0) {
        REQUIRE(why == NULL);
        REQUIRE(p.stream && stream_name_valid(p.stream, strlen(p.stream)));
        REQUIRE(p.data && strlen(p.data) == p.data_len);
        REQUIRE(!p.event || (p.event[0] != '\0' && !strpbrk(p.event, "\r\n")));
        notify_payload_clear(&p);
        REQUIRE(!p.stream && !p.event && !p.data);
    } else {
        REQUIRE(why != NULL);
        REQUIRE(!p.stream && !p.event && !p.data && p.data_len == 0);
    }
    return 0;
}
