/*
 * One logger for the whole process: one record per line on stderr, as text
 * ("<ts> <level> [<module>] <instance> <message> key=value …") or as JSON
 * ({"ts","level","module","instance","msg", fields…}). Whatever a message
 * or field holds (a request's bytes, libpq's multi-line errors), a record
 * stays one line: control characters are escaped. Thread-safe; no
 * per-message logging at info.
 */
#ifndef SSE_LOG_H
#define SSE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

/* Set once at start, before threads run. */
void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
void log_set_instance(const char *instance_id);
/* Parse "debug|info|warn|error"; returns -1 on an unknown name. */
int log_parse_level(const char *name, enum log_level *out);
/* Parse "text|json"; returns -1 on an unknown name. */
int log_parse_format(const char *name, enum log_format *out);
/* Would a record at level be written? Any thread. */
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A field of a structured record: key=value in text, a top-level member in
 * JSON. Keys are the caller's constants; values may hold anything. */
enum log_field_kind { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_STRS };
struct log_field {
    const char *key;
    enum log_field_kind kind;
    const char *s;         /* LOG_FIELD_STR; NULL logs as null / "-" */
    long long i;           /* LOG_FIELD_INT */
    const char *const *ss; /* LOG_FIELD_STRS: a list (a JSON array; commas in text) */
    size_t n;
};
#define LOG_STR(k, v) ((struct log_field){.key = (k), .kind = LOG_FIELD_STR, .s = (v)})
#define LOG_INT(k, v) ((struct log_field){.key = (k), .kind = LOG_FIELD_INT, .i = (long long)(v)})
#define LOG_STRS(k, v, c)                                                                          \
    ((struct log_field){.key = (k), .kind = LOG_FIELD_STRS, .ss = (v), .n = (c)})

/* One record with a fixed message and n fields. Any thread. */
void log_fields(enum log_level level, const char *module, const char *msg,
                const struct log_field *fields, size_t n);
/* log_record(LOG_INFO, "http", "subscription ended", LOG_STR("reason", r), LOG_INT("bytes", b)) */
#define log_record(level, module, msg, ...)                                                        \
    log_fields(level, module, msg, (const struct log_field[]){__VA_ARGS__},                        \
               sizeof((const struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field))

/* Renders one record into buf (at most cap bytes, cap >= 256), ending in a
 * newline, and returns its length: what log_fields writes, for tests. */
size_t log_render(char *buf, size_t cap, enum log_format format, long long unix_ms,
                  enum log_level level, const char *module, const char *msg,
                  const struct log_field *fields, size_t n);

/* A budget of log lines for messages that can come in floods: those that
 * outsiders trigger at will (bad requests, stuck sockets, libmicrohttpd's own
 * errors) and trouble that repeats while it lasts (a database that is down).
 * A window opens with the first line after the previous window closed and
 * lets a given number of lines through. Zero-initialise; one per call site or
 * per kind of trouble. */
struct log_budget {
    _Atomic long long end;    /* when the current window closes */
    _Atomic int used;         /* lines taken in it */
    _Atomic unsigned refused; /* lines refused since the last log_budget_refused */
};
/* True if one more line fits this second's budget (and counts it). Any thread. */
bool log_budget_take(struct log_budget *b, int per_second);
/* The same for per_window lines per window, now and window in one unit of the
 * caller's (a clock that goes backwards opens a new window). Any thread. */
bool log_budget_take_at(struct log_budget *b, int per_window, long long window, long long now);
/* The lines refused since the last call, to mention in a line that got
 * through (as "N more like it suppressed"). Any thread. */
unsigned log_budget_refused(struct log_budget *b);

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
