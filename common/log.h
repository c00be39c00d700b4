/*
 * One logger for the whole process: lines go to stderr as
 * "<level> [<module>] <instance> <message>". Thread-safe; no per-message
 * logging at info.
 */
#ifndef SSE_LOG_H
#define SSE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set once at start, before threads run. */
void log_set_level(enum log_level level);
void log_set_instance(const char *instance_id);
/* Parse "debug|info|warn|error"; returns -1 on an unknown name. */
int log_parse_level(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
