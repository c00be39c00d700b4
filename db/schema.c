/*
 * schema: installs the compiled-in db/sql/schema.sql and prints the fleet, the
 * positions and the leader lock's holder for `sse-gateway status` (a
 * session that is not a gateway holding it stops every delivery). Main
 * thread only.
 *
 * Migration never stalls publishers for long. It first compares the digest
 * recorded in sse.schema_version with the compiled-in file's: when they match
 * (every start but the first after an upgrade) nothing else runs, and no lock
 * is taken that sse.publish could wait behind. Otherwise the whole file runs
 * in one transaction after a transaction-scoped advisory lock (instances
 * starting together migrate one after another), with lock_timeout set to
 * --lock-timeout: a DDL statement queued behind an open publishing
 * transaction would block every publisher queued behind it, so it gives up
 * after that long, rolls back, and tries again after a pause.
 */
#include "db/schema.h"
#include "common/log.h"
#include "common/pg_ops.h"
#include "common/pg_text.h"
#include "db/leader_store_pg.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIGRATE_LOCK_KEY "6004712034128654482"
#define MIGRATE_ATTEMPTS 20
#define RETRY_PAUSE_MS   500

extern const char schema_sql[];

/* Logs "what: why" as an error, with libpq's multi-line why on one line. */
static void log_pg(const char *what, const char *why)
{
    char *line = pg_text_one_line(why);
    log_error("schema", "%s: %s", what, line);
    free(line);
}

/* Server notices (the schema's own warnings, say) as one log line each, not
 * libpq's raw multi-line print to stderr. */
static void log_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    char *line = pg_text_one_line(msg ? msg : "(a notice without a message)");
    log_warn("schema", "%s", line);
    free(line);
}

static PGconn *open_db(const char *conninfo)
{
    PGconn *c = pg_connect_named(conninfo, "sse-gateway-migrate");
    if (PQstatus(c) != CONNECTION_OK) {
        log_pg("could not connect", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeReceiver(c, log_notice, NULL);
    return c;
}

enum outcome { OK, FAILED, LOCK_TIMEOUT };

/* Runs sql (params optional); a lock wait that ran out is told apart. */
static enum outcome run(PGconn *c, const char *sql, int n, const char *const *params,
                        PGresult **out)
{
    /* PQexec for the file: only it runs several statements in one call. */
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    enum outcome o = OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        o = state && strcmp(state, "55P03") == 0 ? LOCK_TIMEOUT : FAILED;
        if (o == FAILED)
            log_pg("migration failed", PQresultErrorMessage(r));
    }
    if (out && o == OK)
        *out = r;
    else
        PQclear(r);
    return o;
}

/* True when sse.schema_version records the digest of the compiled-in file. */
static bool up_to_date(PGconn *c)
{
    PGresult *r = NULL;
    const char *params[] = {schema_sql};
    bool same = false;
    if (run(c,
            "SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sse' AND "
            "c.relname = 'schema_version' AND a.attname = 'digest')",
            0, NULL, &r) != OK)
        return false;
    same = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!same)
        return false;
    if (run(c, "SELECT EXISTS (SELECT 1 FROM sse.schema_version WHERE digest = md5($1))", 1, params,
            &r) != OK)
        return false;
    same = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return same;
}

/* One attempt: the file and its digest in one transaction. */
static enum outcome migrate_once(PGconn *c)
{
    const char *params[] = {schema_sql};
    enum outcome o = run(c, "BEGIN", 0, NULL, NULL);
    if (o == OK)
        o = run(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL);
    if (o == OK && up_to_date(c)) /* another instance migrated while we waited */
        return run(c, "ROLLBACK", 0, NULL, NULL) == OK ? OK : FAILED;
    if (o == OK)
        o = run(c, schema_sql, 0, NULL, NULL);
    if (o == OK)
        o = run(c, "UPDATE sse.schema_version SET digest = md5($1)", 1, params, NULL);
    if (o == OK)
        o = run(c, "COMMIT", 0, NULL, NULL);
    else
        run(c, "ROLLBACK", 0, NULL, NULL);
    return o;
}

int schema_migrate(const char *conninfo, int64_t lock_timeout_ms)
{
    PGconn *c = open_db(conninfo);
    if (!c)
        return -1;
    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET lock_timeout = %" PRId64, lock_timeout_ms);
    /* Quiet the NOTICEs of IF NOT EXISTS; warnings still reach the log. */
    enum outcome o = run(c, "SET client_min_messages = warning", 0, NULL, NULL);
    if (o == OK)
        o = run(c, timeout, 0, NULL, NULL);
    if (o == OK && up_to_date(c)) {
        log_info("schema", "schema sse is up to date");
        PQfinish(c);
        return 0;
    }
    for (int attempt = 1; o == OK || o == LOCK_TIMEOUT; attempt++) {
        o = migrate_once(c);
        if (o != LOCK_TIMEOUT)
            break;
        if (attempt == MIGRATE_ATTEMPTS) {
            log_error("schema",
                      "could not take the migration's locks in %d attempts of %" PRId64
                      " ms: a transaction holds them (see pg_locks)",
                      attempt, lock_timeout_ms);
            o = FAILED;
            break;
        }
        log_info("schema",
                 "a lock is held by another transaction: retrying the migration "
                 "(attempt %d of %d)",
                 attempt + 1, MIGRATE_ATTEMPTS);
        struct timespec ts = {0, RETRY_PAUSE_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (o == OK)
        log_info("schema", "schema sse installed or upgraded");
    PQfinish(c);
    return o == OK ? 0 : -1;
}

/* Writes v with control characters escaped (\n, \t, \xNN) and backslashes
 * doubled, so a stream name or an instance id cannot move the terminal's
 * cursor or fake a line of the report. */
static void print_escaped(FILE *out, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

static void print_rows(PGresult *r, FILE *out)
{
    int cols = PQnfields(r);
    for (int j = 0; j < cols; j++)
        fprintf(out, "%s%s", j ? "\t" : "", PQfname(r, j)); /* our own column names */
    fputc('\n', out);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int j = 0; j < cols; j++) {
            if (j)
                fputc('\t', out);
            print_escaped(out, PQgetvalue(r, i, j));
        }
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
        /* The instances track the head over time; a one-shot look goes by
         * the age of the oldest event waiting instead. */
        {"leader lock",
         "SELECT h.pid AS holder_pid, h.usename AS holder_user, h.application_name AS "
         "holder_application, coalesce(round(extract(epoch FROM now() - o.oldest))::bigint, 0) "
         "AS oldest_unsequenced_s, CASE WHEN h.pid IS NOT NULL AND NOT coalesce(h.gateway, "
         "false) THEN 'STALLED: held by a session that is not a gateway' WHEN o.oldest < now() "
         "- interval '10 seconds' THEN 'STALLED: nothing sequenced for over 10 s' WHEN h.pid IS "
         "NULL THEN 'no leader' ELSE 'ok' END AS sequencer FROM (" LEADER_HOLDER_SQL
         ") h, (SELECT min(published_at) AS oldest FROM sse.outbox) o"},
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
            log_pg("status failed (is the schema installed?)", PQerrorMessage(c));
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
