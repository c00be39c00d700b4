/*
 * pg_text: text that goes to and comes from PostgreSQL. libpq's messages
 * become one log line; string arrays become text[] literals for a parameter
 * ($1::text[]), so a statement takes any number of strings in one round trip.
 */
#ifndef SSE_PG_TEXT_H
#define SSE_PG_TEXT_H

#include <stddef.h>

/* msg as one line: every run of whitespace and control characters (libpq's
 * messages span lines and indent with tabs) becomes one space, with none at
 * either end; "unknown error" for NULL or nothing left. The caller frees it.
 * Any thread. */
char *pg_text_one_line(const char *msg);

/* The text[] literal of items[0..n): {"a","b\"c",NULL}. Every element is
 * quoted, with " and \ escaped, so no string can change the array's shape; a
 * NULL item is the SQL NULL. The caller frees it. Any thread. */
char *pg_text_array(const char *const *items, size_t n);

#endif
