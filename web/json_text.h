/*
 * json_text: a validating JSON scanner (RFC 8259) that never re-encodes. A
 * value keeps its text byte for byte: a number as sent (9007199254740993,
 * 1e400), a string with its escapes; minifying only drops the whitespace
 * between tokens. Pure functions over outside input, any thread; a fuzz
 * target.
 *
 * json_check() validates a whole text once; the walkers (json_root,
 * json_iter_*, json_string_decode, json_minify) then assume checked text and
 * do no checking of their own.
 */
#ifndef SSE_JSON_TEXT_H
#define SSE_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Objects and arrays nest at most this deep. */
#define JSON_DEPTH_MAX 512

/* Checks that text[0..len) is exactly one JSON value with optional
 * whitespace around it: the strict grammar (no leading zeros, no "1.",
 * no comments, no trailing commas), strings of valid UTF-8 without raw
 * control characters and with paired surrogate escapes. Returns 0, or -1
 * with *at the offset of the first bad byte and *why a static one-line
 * reason ("bytes after the JSON value"). */
int json_check(const char *text, size_t len, size_t *at, const char **why);

/* A value's bytes inside checked text. */
struct json_span {
    const char *p;
    size_t len;
};

enum json_kind { JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_NUMBER, JSON_LITERAL };

/* The value of checked text, without the whitespace around it. */
struct json_span json_root(const char *text, size_t len);
/* The kind of a value, from its first byte (true, false and null are
 * JSON_LITERAL; json_is_null tells null apart). */
enum json_kind json_kind(struct json_span v);
bool json_is_null(struct json_span v);

/* The members of an object or the elements of an array, in order. */
struct json_iter {
    struct json_span in; /* the container */
    size_t pos;          /* the next member's offset in it */
};
void json_iter_init(struct json_iter *it, struct json_span container);
/* The next member: for an object *key is its key (a string value, quotes
 * included), for an array key->p is NULL. False after the last. */
bool json_iter_next(struct json_iter *it, struct json_span *key, struct json_span *value);

/* A string value decoded into a fresh NUL-terminated UTF-8 string of *len
 * bytes; it holds a NUL where the text had \u0000 (compare *len with strlen
 * to tell). The caller frees it. */
char *json_string_decode(struct json_span s, size_t *len);
/* True if the string value decodes to exactly word (a plain ASCII word). */
bool json_string_is(struct json_span s, const char *word);

/* The value's text without whitespace between tokens, everything else as
 * sent: a fresh NUL-terminated string of *len bytes. The caller frees it. */
char *json_minify(struct json_span v, size_t *len);

#endif
