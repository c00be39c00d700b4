/* fake_pg: an in-memory stand-in for the LISTEN connection. */
#include "fake_pg.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct note {
    char *channel, *payload;
};

struct fake_pg {
    pthread_mutex_t mtx;
    bool fail_connect, fail_io;
    int connects;
    char **log;
    size_t nlog;
    struct note *notes;
    size_t nnotes;
    int efd;
};

struct fake_pg *fake_pg_new(void)
{
    struct fake_pg *f = xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->mtx, NULL);
    f->efd = eventfd(0, EFD_NONBLOCK);
    return f;
}

void fake_pg_free(struct fake_pg *f)
{
    for (size_t i = 0; i < f->nlog; i++)
        free(f->log[i]);
    for (size_t i = 0; i < f->nnotes; i++) {
        free(f->notes[i].channel);
        free(f->notes[i].payload);
    }
    free(f->log);
    free(f->notes);
    close(f->efd);
    pthread_mutex_destroy(&f->mtx);
    free(f);
}

static void *fconnect(void *ctx, const char *conninfo, char **err)
{
    (void)conninfo;
    struct fake_pg *f = ctx;
    pthread_mutex_lock(&f->mtx);
    bool fail = f->fail_connect;
    if (!fail)
        f->connects++;
    pthread_mutex_unlock(&f->mtx);
    if (fail) {
        *err = xstrdup("connection refused (fake)");
        return NULL;
    }
    return f;
}

static void ffinish(void *ctx, void *conn)
{
    (void)ctx;
    (void)conn;
}

static int fexec(void *ctx, void *conn, const char *sql, char **err)
{
    (void)conn;
    struct fake_pg *f = ctx;
    pthread_mutex_lock(&f->mtx);
    bool fail = f->fail_io;
    if (!fail) {
        f->log = xrealloc(f->log, (f->nlog + 1) * sizeof *f->log);
        f->log[f->nlog++] = xstrdup(sql);
    }
    pthread_mutex_unlock(&f->mtx);
    if (fail)
        *err = xstrdup("server closed the connection (fake)");
    return fail ? -1 : 0;
}

static int fsocket(void *ctx, void *conn)
{
    (void)conn;
    return ((struct fake_pg *)ctx)->efd;
}

static int fconsume(void *ctx, void *conn)
{
    (void)conn;
    struct fake_pg *f = ctx;
    uint64_t v;
    ssize_t ignored = read(f->efd, &v, sizeof v);
    (void)ignored;
    pthread_mutex_lock(&f->mtx);
    bool fail = f->fail_io;
    pthread_mutex_unlock(&f->mtx);
    return fail ? -1 : 0;
}

static int fnext(void *ctx, void *conn, char **channel, char **payload)
{
    (void)conn;
    struct fake_pg *f = ctx;
    pthread_mutex_lock(&f->mtx);
    int got = f->nnotes > 0;
    if (got) {
        *channel = f->notes[0].channel;
        *payload = f->notes[0].payload;
        memmove(f->notes, f->notes + 1, (f->nnotes - 1) * sizeof *f->notes);
        f->nnotes--;
    }
    pthread_mutex_unlock(&f->mtx);
    return got;
}

struct pg_ops fake_pg_ops(struct fake_pg *f)
{
    return (struct pg_ops){fconnect, ffinish, fexec, fsocket, fconsume, fnext, f};
}

void fake_pg_fail_connect(struct fake_pg *f, bool fail)
{
    pthread_mutex_lock(&f->mtx);
    f->fail_connect = fail;
    pthread_mutex_unlock(&f->mtx);
}

void fake_pg_fail_io(struct fake_pg *f, bool fail)
{
    pthread_mutex_lock(&f->mtx);
    f->fail_io = fail;
    pthread_mutex_unlock(&f->mtx);
}

void fake_pg_notify(struct fake_pg *f, const char *channel, const char *payload)
{
    pthread_mutex_lock(&f->mtx);
    f->notes = xrealloc(f->notes, (f->nnotes + 1) * sizeof *f->notes);
    f->notes[f->nnotes++] = (struct note){xstrdup(channel), xstrdup(payload)};
    pthread_mutex_unlock(&f->mtx);
    uint64_t one = 1;
    ssize_t ignored = write(f->efd, &one, sizeof one);
    (void)ignored;
}

int fake_pg_count(struct fake_pg *f, const char *sql)
{
    pthread_mutex_lock(&f->mtx);
    int n = 0;
    for (size_t i = 0; i < f->nlog; i++)
        n += strcmp(f->log[i], sql) == 0;
    pthread_mutex_unlock(&f->mtx);
    return n;
}

int fake_pg_connects(struct fake_pg *f)
{
    pthread_mutex_lock(&f->mtx);
    int n = f->connects;
    pthread_mutex_unlock(&f->mtx);
    return n;
}
