/*
 * stream_name: the one rule for stream names, shared by every door a name
 * comes through (the subscription query, POST /publish bodies, raw NOTIFY
 * channels, sse.notify payloads). The SQL functions of the schema check the
 * same rule on the database side.
 */
#include "protocol/stream_name.h"

bool stream_name_valid(const char *s, size_t len)
{
    if (len < 1 || len > STREAM_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '@';
        if (!ok)
            return false;
    }
    return true;
}
