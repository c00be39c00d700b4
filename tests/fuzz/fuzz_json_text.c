/*
 * libFuzzer target: json_text, the JSON scanner of publish bodies. Beyond
 * memory errors it checks, on every input the scanner accepts: minifying is
 * idempotent and leaves checked JSON with no whitespace outside strings;
 * cJSON, when it parses the text too (it refuses numbers over 63 bytes),
 * finds the same structure in the text and in its minified form; the
 * walkers visit as many members as cJSON sees. A reason and an offset inside
 * the input come with every refusal.
 */
#include "web/json_text.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* abort() rather than assert(): the checks must hold in every build. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* cJSON's compact print of text, or NULL when cJSON refuses it. */
static char *cjson_print(const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return NULL;
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static size_t count_members(struct json_span v)
{
    struct json_iter it;
    struct json_span key, value;
    size_t n = 0;
    json_iter_init(&it, v);
    while (json_iter_next(&it, &key, &value)) {
        REQUIRE(value.len > 0 && value.p >= v.p && value.p + value.len <= v.p + v.len);
        REQUIRE((json_kind(v) == JSON_OBJECT) == (key.p != NULL));
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t at = SIZE_MAX;
    const char *why = NULL;
    if (json_check(text, size, &at, &why) != 0) {
        REQUIRE(why && why[0] && at <= size);
        return 0;
    }
    struct json_span root = json_root(text, size);
    size_t len, len2;
    char *min = json_minify(root, &len);
    REQUIRE(len <= root.len && strlen(min) == len);
    REQUIRE(json_check(min, len, &at, &why) == 0);
    char *again = json_minify(json_root(min, len), &len2);
    REQUIRE(len2 == len && memcmp(again, min, len) == 0);
    free(again);

    char *a = cjson_print(text, size);
    char *b = a ? cjson_print(min, len) : NULL;
    if (a) {
        REQUIRE(b && strcmp(a, b) == 0);
        if (json_kind(root) == JSON_OBJECT || json_kind(root) == JSON_ARRAY) {
            cJSON *parsed = cJSON_ParseWithLength(text, size);
            REQUIRE((size_t)cJSON_GetArraySize(parsed) == count_members(root));
            cJSON_Delete(parsed);
        }
        if (json_kind(root) == JSON_STRING) {
            cJSON *parsed = cJSON_ParseWithLength(text, size);
            char *decoded = json_string_decode(root, &len2);
            /* cJSON's string ends at a decoded NUL; up to there they agree. */
            REQUIRE(strcmp(decoded, parsed->valuestring) == 0);
            free(decoded);
            cJSON_Delete(parsed);
        }
    }
    cJSON_free(a);
    cJSON_free(b);
    free(min);
    return 0;
}
