/*
 * conn_list: connection references collected by one thread (a fan-out's
 * resumes, a heartbeat's snapshot) and released together, outside any lock,
 * so that no last reference is dropped under the registry mutex.
 *
 * The write-round policy: one thread writing sockets costs about 10 µs each
 * (the kernel's loopback send and the reader's wake-up), so a large round
 * goes to the HTTP workers, which write in parallel; a small one is cheaper
 * written here than woken (docs/DESIGN.md, Write paths).
 *
 * Does not: lock (the list is its owner's alone) or decide who is owed a
 * resume (connection.c does).
 */
#include "registry/conn_list.h"
#include "common/xalloc.h"
#include "registry/connection.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

void conn_list_push(struct conn_list *l, struct connection *c)
{
    assert(c);
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->len++] = c;
}

void conn_list_resume_all(struct conn_list *l)
{
    bool direct = l->len <= CONN_DIRECT_WRITE_MAX;
    for (size_t i = 0; i < l->len; i++) {
        if (direct)
            connection_resume(l->items[i]);
        else
            connection_wake(l->items[i]);
    }
    conn_list_clear(l);
}

void conn_list_clear(struct conn_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        connection_unref(l->items[i]);
    l->len = 0;
}

void conn_list_free(struct conn_list *l)
{
    if (!l)
        return;
    conn_list_clear(l);
    free(l->items);
    l->items = NULL;
    l->cap = 0;
}
