/*
 * escape: outside input made safe to show. Error bodies are JSON and reasons
 * are one line, whatever the request held: escape_json() writes a JSON
 * string's content, escape_printable() an excerpt of raw input for a reason
 * or a log line. Pure functions, any thread.
 */
#ifndef SSE_ESCAPE_H
#define SSE_ESCAPE_H

#include <stddef.h>

/* Writes s as the inside of a JSON string (no quotes) into out (outlen >= 1,
 * always NUL-terminated): '"' and '\\' escaped, control characters as
 * \u00XX, a byte above 0x7f as \ufffd (reasons are ASCII; this keeps the
 * body valid UTF-8 whatever reached it). Stops before an escape that would
 * not fit. Returns the bytes written, without the NUL. */
size_t escape_json(char *out, size_t outlen, const char *s);

/* Writes at most max bytes of input (len bytes, may hold NUL) into out
 * (outlen >= 1, always NUL-terminated), each byte outside printable ASCII
 * as \xNN, and "..." after a cut. Returns out. */
char *escape_printable(char *out, size_t outlen, const char *input, size_t len, size_t max);

#endif
