/*
 * schema: installs the compiled-in db/sql/schema.sql and prints the
 * fleet for `sse-gateway status`. Migration runs in one transaction after a
 * transaction-scoped advisory lock, so instances starting together migrate
 * one after another and each sees a complete schema. Main thread only.
 */
#include "db/schema.h"
#include "common/log.h"
#include "common/pg_ops.h"

#include <libpq-fe.h>
#include <stdlib.h>

#define MIGRATE_LOCK_KEY "6004712034128654482"

extern const char schema_sql[];

static PGconn *open_db(const char *conninfo)
{
    PGconn *c = pg_connect_named(conninfo, "sse-gateway-migrate");
    if (PQstatus(c) != CONNECTION_OK) {
        log_error("schema", "could not connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int run(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        log_error("schema", "migration failed: %s", PQerrorMessage(c));
    PQclear(r);
    return rc;
}

int schema_migrate(const char *conninfo)
{
    PGconn *c = open_db(conninfo);
    if (!c)
        return -1;
    /* Quiet the NOTICEs of IF NOT EXISTS on every start. */
    int rc = run(c, "SET client_min_messages = warning");
    if (rc == 0)
        rc = run(c, "BEGIN");
    if (rc == 0)
        rc = run(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")");
    if (rc == 0)
        rc = run(c, schema_sql);
    rc = run(c, rc == 0 ? "COMMIT" : "ROLLBACK") == 0 ? rc : -1;
    if (rc == 0)
        log_info("schema", "schema sse is up to date");
    PQfinish(c);
    return rc;
}

static void print_rows(PGresult *r, FILE *out)
{
    int cols = PQnfields(r);
    for (int j = 0; j < cols; j++)
        fprintf(out, "%s%s", j ? "\t" : "", PQfname(r, j));
    fputc('\n', out);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int j = 0; j < cols; j++)
            fprintf(out, "%s%s", j ? "\t" : "", PQgetvalue(r, i, j));
        fputc('\n', out);
    }
}

int schema_status(const char *conninfo, FILE *out)
{
    static const struct {
        const char *title, *sql;
    } sections[] = {
        {"fleet", "SELECT id, leader, draining, connections, date_trunc('second', last_seen) "
                  "AS last_seen FROM sse.gateways ORDER BY id"},
        {"positions", "SELECT head, pruned_through, (SELECT count(*) FROM sse.outbox) AS "
                      "unsequenced FROM sse.state"},
        {"streams (top 20 by retained events)",
         "SELECT stream, count(*) AS events, max(position) AS last_position FROM sse.events "
         "GROUP BY stream ORDER BY count(*) DESC, stream LIMIT 20"},
    };
    PGconn *c = open_db(conninfo);
    if (!c)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && rc == 0; i++) {
        PGresult *r = PQexec(c, sections[i].sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            log_error("schema", "status failed (is the schema installed?): %s", PQerrorMessage(c));
            rc = -1;
        } else {
            fprintf(out, "%s%s:\n", i ? "\n" : "", sections[i].title);
            print_rows(r, out);
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}
