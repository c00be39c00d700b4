/*
 * publish_body: parsing of a POST /publish body (SPEC §5) into events. Pure
 * functions over outside input, any thread; a fuzz target.
 *
 * Accepted: a JSON object {"stream","data","event"?}, a JSON array of such
 * objects, or form fields stream, data, event (one event). A JSON "data" that
 * is not a string is sent as its compact JSON text, as Centrifugo users
 * expect. Unknown fields are an error, so a typo ("evnet") is not silently
 * dropped.
 */
#ifndef SSE_PUBLISH_BODY_H
#define SSE_PUBLISH_BODY_H

#include <stddef.h>

#define PUBLISH_BODY_MAX  (1024 * 1024) /* bytes per request: more is a 413 */
#define PUBLISH_DATA_MAX  (64 * 1024)   /* bytes of data per event */
#define PUBLISH_EVENT_MAX 200           /* bytes of an event type */

/* One event to publish. Plain data, heap strings owned by the list. */
struct publish_item {
    char *stream;
    char *data;
    char *event; /* NULL: no type */
};

struct publish_list {
    struct publish_item *items;
    size_t n;
};

/* What became of a queued publish request (the publisher answers, the HTTP
 * adapter turns it into a status). */
enum publish_outcome {
    PUBLISH_COMMITTED,   /* every event of the request is durable */
    PUBLISH_REJECTED,    /* the database refused the request; nothing written (400) */
    PUBLISH_UNAVAILABLE, /* no database before the deadline, or draining; nothing known written
                            (503) */
};

typedef void (*publish_done_fn)(void *arg, enum publish_outcome outcome, size_t accepted);

enum publish_submit {
    PUBLISH_QUEUED,  /* done will be called exactly once */
    PUBLISH_FULL,    /* the queue is full: answer 503 with Retry-After */
    PUBLISH_STOPPED, /* draining: answer 503 */
};

/* Parses body (len bytes, need not be NUL-terminated) sent with the given
 * Content-Type (may be NULL). Returns 0 with out filled (at least one
 * event), or -1 with a one-line reason in err ("events[3].stream: invalid
 * stream name") and out empty. */
int publish_body_parse(const char *content_type, const char *body, size_t len,
                       struct publish_list *out, char *err, size_t errlen);
/* Frees the strings and the array; leaves an empty list. */
void publish_list_clear(struct publish_list *l);
/* Total bytes of stream, data and event over the list (for queue limits). */
size_t publish_list_bytes(const struct publish_list *l);

#endif
