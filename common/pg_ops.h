/*
 * pg_ops: the slice of libpq that the listener uses, behind an ops struct so
 * unit tests can pass a fake. Connections are opaque handles.
 * Strings returned through out-parameters are heap strings the caller frees.
 */
#ifndef SSE_PG_OPS_H
#define SSE_PG_OPS_H

struct pg_ops {
    /* Opens a connection; NULL on failure with *err set to a one-line reason. */
    void *(*connect)(void *ctx, const char *conninfo, char **err);
    void (*finish)(void *ctx, void *conn);
    /* Runs one statement synchronously; 0 on success, -1 with *err set. */
    int (*exec)(void *ctx, void *conn, const char *sql, char **err);
    /* The socket to watch for readability, or -1. */
    int (*socket)(void *ctx, void *conn);
    /* Reads what the socket has; 0 on success, -1 when the connection broke. */
    int (*consume)(void *ctx, void *conn);
    /* Pops one received notification: 1 with *channel and *payload set, 0 when none. */
    int (*next_notification)(void *ctx, void *conn, char **channel, char **payload);
    void *ctx;
};

/* Opens a libpq connection (a PGconn *) to conninfo, a URL or key=value
 * string, with application_name defaulting to app_name so operators can tell
 * the gateway's connections apart in pg_stat_activity. Never NULL; check
 * PQstatus. Any thread. */
void *pg_connect_named(const char *conninfo, const char *app_name);

/* The production ops over libpq; connections are named "sse-gateway-listener". */
extern const struct pg_ops pg_ops_libpq;

#endif
