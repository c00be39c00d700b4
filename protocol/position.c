/*
 * position: parsing a position from outside text. A strict grammar, so that
 * "12abc", "+12" or " 12" are refused rather than read as 12, and a value
 * past INT64_MAX is refused rather than wrapped.
 */
#include "protocol/position.h"

int position_parse(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19)
        return -1;
    uint64_t v = 0; /* 19 digits stay below UINT64_MAX */
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}
