/* Table-driven tests of the JSON scanner: what it accepts and refuses, where
 * it stops, and that minifying keeps every byte but whitespace. */
#include "check.h"
#include "web/json_text.h"

#include <stdlib.h>
#include <string.h>

static void check_valid(void)
{
    static const struct {
        const char *in, *minified;
    } cases[] = {
        {"0", "0"},
        {" -0.5e-3 ", "-0.5e-3"},
        {"9007199254740993", "9007199254740993"},
        {"1e400", "1e400"},
        {"-1E+2", "-1E+2"},
        {"123456789012345678901234567890123456789012345678901234567890123456789",
         "123456789012345678901234567890123456789012345678901234567890123456789"},
        {"true", "true"},
        {"null", "null"},
        {"\"a b\"", "\"a b\""},
        {"\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"", "\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\""},
        {"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"{ \"a\" : [ 1 , 2.50 , { } , [ ] ] ,\n\t\"b\" : \" x , y \" }",
         "{\"a\":[1,2.50,{},[]],\"b\":\" x , y \"}"},
        {"[\"\\u0000\"]", "[\"\\u0000\"]"},
        {"{\"a\":{\"b\":{\"c\":[[[null]]]}}}", "{\"a\":{\"b\":{\"c\":[[[null]]]}}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 0, len;
        const char *why = NULL;
        int rc = json_check(cases[i].in, strlen(cases[i].in), &at, &why);
        CHECK_EQ(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "  refused %s: %s at %zu\n", cases[i].in, why, at);
            continue;
        }
        char *m = json_minify(json_root(cases[i].in, strlen(cases[i].in)), &len);
        CHECK_STR(m, cases[i].minified);
        CHECK_EQ(len, strlen(cases[i].minified));
        free(m);
    }
}

static void check_invalid(void)
{
    static const struct {
        const char *in;
        size_t at;
        const char *why; /* a substring of the reason */
    } cases[] = {
        {"", 0, "expected a value"},
        {"   ", 3, "expected a value"},
        {"01", 1, "leading zero"},
        {"-", 1, "needs a digit"},
        {"1.", 1, "decimal point"},
        {".5", 0, "expected a value"},
        {"+1", 0, "expected a value"},
        {"1e", 2, "exponent"},
        {"1e+", 3, "exponent"},
        {"NaN", 0, "expected a value"},
        {"tru", 0, "expected a value"},
        {"{\"a\":1} x", 8, "bytes after"},
        {"{\"a\":1}{}", 7, "bytes after"},
        {"1 2", 2, "bytes after"},
        {"[1,]", 3, "expected a value"},
        {"{\"a\":1,}", 7, "string key"},
        {"{a:1}", 1, "string key"},
        {"{\"a\" 1}", 5, "expected :"},
        {"[1 2]", 3, "expected , or ]"},
        {"{\"a\":1 \"b\":2}", 7, "expected , or }"},
        {"[", 1, "expected a value"},
        {"{", 1, "string key"},
        {"\"abc", 4, "closing quote"},
        {"\"a\nb\"", 2, "control character"},
        {"\"\\x\"", 1, "unknown escape"},
        {"\"\\u12\"", 1, "four hex"},
        {"\"\\udc00\"", 1, "lone surrogate"},
        {"\"\\ud800\"", 1, "lone surrogate"},
        {"\"\\ud800\\u0041\"", 1, "lone surrogate"},
        {"\"\xc3\"", 1, "UTF-8"},
        {"\"\xc0\xaf\"", 1, "UTF-8"},
        {"\"\xed\xa0\x80\"", 1, "UTF-8"},
        {"\"\xf4\x90\x80\x80\"", 1, "UTF-8"},
        {"\xef\xbb\xbf{}", 0, "expected a value"},
        {"// c\n{}", 0, "expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 99;
        const char *why = NULL;
        int rc = json_check(cases[i].in, strlen(cases[i].in), &at, &why);
        CHECK_EQ(rc, -1);
        CHECK_EQ(at, cases[i].at);
        CHECK(why && strstr(why, cases[i].why));
        if (rc != -1 || at != cases[i].at || !why || !strstr(why, cases[i].why))
            fprintf(stderr, "  case %zu: at %zu, %s\n", i, at, why ? why : "(none)");
    }
}

static void check_depth(void)
{
    char deep[2 * JSON_DEPTH_MAX + 3];
    size_t n = 0, at;
    const char *why;
    for (size_t i = 0; i < JSON_DEPTH_MAX; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < JSON_DEPTH_MAX; i++)
        deep[n++] = ']';
    CHECK_EQ(json_check(deep, n, &at, &why), 0);
    memmove(deep + 1, deep, n);
    deep[0] = '[';
    deep[++n] = ']';
    n++;
    CHECK_EQ(json_check(deep, n, &at, &why), -1);
    CHECK_EQ(at, JSON_DEPTH_MAX);
    CHECK_STR(why, "nested too deeply");
}

static void check_walk(void)
{
    const char *text = " { \"stream\" : \"a\\/b\" , \"d\\u0061ta\" : [ 1 , { \"x\" : \"]}\" } ] ,"
                       " \"event\" : null } ";
    size_t at, len;
    const char *why;
    CHECK_EQ(json_check(text, strlen(text), &at, &why), 0);
    struct json_span root = json_root(text, strlen(text)), key, value;
    CHECK_EQ(json_kind(root), JSON_OBJECT);
    CHECK_EQ(root.p[root.len - 1], '}');
    struct json_iter it;
    json_iter_init(&it, root);
    CHECK(json_iter_next(&it, &key, &value));
    CHECK(json_string_is(key, "stream"));
    char *s = json_string_decode(value, &len);
    CHECK_STR(s, "a/b");
    free(s);
    CHECK(json_iter_next(&it, &key, &value));
    CHECK(json_string_is(key, "data")); /* an escaped spelling decodes */
    CHECK(!json_string_is(key, "dat"));
    CHECK_EQ(json_kind(value), JSON_ARRAY);
    char *m = json_minify(value, &len);
    CHECK_STR(m, "[1,{\"x\":\"]}\"}]");
    free(m);
    CHECK(json_iter_next(&it, &key, &value));
    CHECK(json_string_is(key, "event"));
    CHECK(json_is_null(value));
    CHECK(!json_iter_next(&it, &key, &value));

    struct json_span empty = json_root("[ ]", 3);
    json_iter_init(&it, empty);
    CHECK(!json_iter_next(&it, &key, &value));
    struct json_span arr = json_root("[\"x\",2]", 7);
    json_iter_init(&it, arr);
    CHECK(json_iter_next(&it, &key, &value));
    CHECK(key.p == NULL);
    CHECK_EQ(json_kind(value), JSON_STRING);
    CHECK(json_iter_next(&it, &key, &value));
    CHECK_EQ(json_kind(value), JSON_NUMBER);
    CHECK(!json_iter_next(&it, &key, &value));
}

static void check_decode(void)
{
    const char *in = "\"\\u00e9\\ud83d\\ude00\\t\\u0000z\"";
    size_t len;
    char *s = json_string_decode((struct json_span){in, strlen(in)}, &len);
    CHECK_EQ(len, 2 + 4 + 1 + 1 + 1);
    CHECK(memcmp(s, "\xc3\xa9\xf0\x9f\x98\x80\t\0z", len) == 0);
    CHECK_EQ(strlen(s), 7); /* the NUL from \u0000 shows */
    free(s);
}

int main(void)
{
    check_valid();
    check_invalid();
    check_depth();
    check_walk();
    check_decode();
    return CHECK_DONE();
}
