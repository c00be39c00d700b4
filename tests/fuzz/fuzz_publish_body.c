/* libFuzzer: POST /publish bodies, as JSON, as forms and sniffed. Whatever is
 * accepted must satisfy the rules the database would otherwise enforce, and
 * a JSON body must be strict JSON with nothing after it, each non-string
 * data stored as its exact text, minified. A refusal's reason is one line. */
#include "protocol/stream_name.h"
#include "web/json_text.h"
#include "web/publish_body.h"
#include "web/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* abort() rather than assert(): the checks must hold in every build. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* The data member of a checked object, or a span with p NULL. */
static struct json_span data_of(struct json_span o)
{
    struct json_iter it;
    struct json_span key, value;
    json_iter_init(&it, o);
    while (json_iter_next(&it, &key, &value))
        if (json_string_is(key, "data"))
            return value;
    return (struct json_span){NULL, 0};
}

/* Each non-string data of an accepted JSON body is its value's exact text. */
static void check_exact(const char *body, size_t size, const struct publish_list *l)
{
    size_t at;
    const char *why;
    REQUIRE(json_check(body, size, &at, &why) == 0);
    struct json_span root = json_root(body, size), one[1] = {root}, key;
    struct json_iter it;
    bool array = json_kind(root) == JSON_ARRAY;
    if (array)
        json_iter_init(&it, root);
    for (size_t i = 0; i < l->n; i++) {
        if (array)
            REQUIRE(json_iter_next(&it, &key, &one[0]));
        struct json_span d = data_of(one[0]);
        REQUIRE(d.p);
        if (json_kind(d) == JSON_STRING)
            continue;
        size_t len;
        char *text = json_minify(d, &len);
        REQUIRE(strcmp(text, l->items[i].data) == 0);
        REQUIRE(!strpbrk(text, "\r\n"));
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded",
                                        NULL};
    for (size_t t = 0; t < 3; t++) {
        struct publish_list l;
        char err[200];
        if (publish_body_parse(types[t], (const char *)data, size, &l, err, sizeof err) != 0) {
            REQUIRE(l.n == 0 && err[0]);
            for (const char *c = err; *c; c++)
                REQUIRE((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
            continue;
        }
        REQUIRE(l.n > 0);
        for (size_t i = 0; i < l.n; i++) {
            REQUIRE(stream_name_valid(l.items[i].stream, strlen(l.items[i].stream)));
            REQUIRE(strlen(l.items[i].data) <= PUBLISH_DATA_MAX);
            const char *e = l.items[i].event;
            REQUIRE(!e || (strlen(e) > 0 && !strpbrk(e, "\r\n") && strncmp(e, "gateway:", 8) != 0));
        }
        if (t == 0)
            check_exact((const char *)data, size, &l);
        publish_list_clear(&l);
    }
    return 0;
}
