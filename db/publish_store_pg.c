/*
 * publish_store_pg: one batch is one statement, SELECT sse.publish_many(…),
 * with the events as three text[] parameters: a single round trip that is
 * its own transaction, and inside it sse.publish runs per event in array
 * order, so the events keep their order in the outbox. A refusal for the
 * content (SQLSTATE classes 22, 23 and P0, which is what sse.publish's
 * checks raise) is REJECTED; anything else is FAILED and retried.
 */
#include "db/publish_store_pg.h"
#include "common/log.h"
#include "common/pg_ops.h"
#include "common/pg_text.h"
#include "common/xalloc.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct publish_store_pg {
    char *conninfo;
    PGconn *conn; /* owned by the publisher thread */
};

struct publish_store_pg *publish_store_pg_new(const char *conninfo)
{
    struct publish_store_pg *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(conninfo);
    return s;
}

void publish_store_pg_free(struct publish_store_pg *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s->conninfo);
    free(s);
}

static bool connected(struct publish_store_pg *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return true;
    if (s->conn)
        PQfinish(s->conn);
    s->conn = pg_connect_named(s->conninfo, "sse-gateway-publisher");
    if (PQstatus(s->conn) == CONNECTION_OK)
        return true;
    char *msg = pg_text_one_line(PQerrorMessage(s->conn));
    log_warn("publisher", "could not connect: %s", msg);
    free(msg);
    PQfinish(s->conn);
    s->conn = NULL;
    return false;
}

static enum publish_store_result publish(void *ctx, const struct publish_item *const *items,
                                         size_t n)
{
    struct publish_store_pg *s = ctx;
    if (!connected(s))
        return PUBLISH_STORE_FAILED;
    /* One text[] per column, element i of each from event i. */
    char *params[3];
    const char **column = xmalloc((n ? n : 1) * sizeof *column);
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++)
            column[i] = k == 0 ? items[i]->stream : k == 1 ? items[i]->data : items[i]->event;
        params[k] = pg_text_array(column, n);
    }
    free(column);
    PGresult *r =
        PQexecParams(s->conn, "SELECT sse.publish_many($1::text[], $2::text[], $3::text[])", 3,
                     NULL, (const char *const *)params, NULL, NULL, 0);
    for (int k = 0; k < 3; k++)
        free(params[k]);
    enum publish_store_result out = PUBLISH_STORE_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        bool content = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
                                 strncmp(state, "P0", 2) == 0);
        out = content ? PUBLISH_STORE_REJECTED : PUBLISH_STORE_FAILED;
        char *msg = pg_text_one_line(PQresultErrorMessage(r));
        log_warn("publisher", "%s: %s",
                 content ? "the database refused a publish" : "publish failed", msg);
        free(msg);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            PQfinish(s->conn);
            s->conn = NULL;
        }
    }
    PQclear(r);
    return out;
}

struct publish_store_ops publish_store_pg_ops(struct publish_store_pg *s)
{
    return (struct publish_store_ops){.publish = publish, .ctx = s};
}
