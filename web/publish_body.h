/*
 * publish_body: parsing of a POST /publish body (docs/PROTOCOL.md, Publishing) into events. Pure
 * functions over outside input, any thread; a fuzz target.
 *
 * Accepted: a JSON object {"stream","data","event"?}, a JSON array of such
 * objects, or form fields stream, data, event (one event). A JSON "data" that
 * is not a string is stored as its exact text, minified: numbers keep every
 * digit as sent. Anything after the JSON value is an error, and so are
 * unknown fields, so a typo ("evnet") is not silently dropped.
 */
#ifndef SSE_PUBLISH_BODY_H
#define SSE_PUBLISH_BODY_H

#include <stddef.h>

#include "publisher/publisher.h"

#define PUBLISH_BODY_MAX  (1024 * 1024) /* bytes per request: more is a 413 */
#define PUBLISH_DATA_MAX  (64 * 1024)   /* bytes of data per event */
#define PUBLISH_EVENT_MAX 200           /* bytes of an event type */

/* Parses body (len bytes, need not be NUL-terminated) sent with the given
 * Content-Type (may be NULL). Returns 0 with out filled (at least one
 * event), or -1 with a one-line reason in err ("events[3].stream: invalid
 * stream name") and out empty. */
int publish_body_parse(const char *content_type, const char *body, size_t len,
                       struct publish_list *out, char *err, size_t errlen);

#endif
