/*
 * conn_list: a growable list of connection references, for snapshots and
 * for the connections a round of pushes left owing a resume, and the policy
 * that resumes such a round. Owned by one thread; a zeroed struct is empty.
 */
#ifndef SSE_CONN_LIST_H
#define SSE_CONN_LIST_H

#include <stddef.h>

struct connection;

/* Public: callers embed it by value and walk items[0..len). */
struct conn_list {
    struct connection **items;
    size_t len, cap;
};

/* Appends c and takes ownership of one reference to it. */
void conn_list_push(struct conn_list *l, struct connection *c);
/* Above this many connections, conn_list_resume_all wakes instead of writing. */
#define CONN_DIRECT_WRITE_MAX 256
/* Calls connection_resume() on every entry (connection_wake() when there are
 * more than CONN_DIRECT_WRITE_MAX), then unrefs all and empties the list.
 * No locks held. */
void conn_list_resume_all(struct conn_list *l);
/* Unrefs all entries and empties the list (keeps the storage). */
void conn_list_clear(struct conn_list *l);
/* Unrefs all entries and frees the storage; the list stays usable.
 * conn_list_free(NULL) does nothing. */
void conn_list_free(struct conn_list *l);

#endif
