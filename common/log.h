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

/* A budget of lines per second for messages outsiders can trigger at will
 * (bad requests, stuck sockets, libmicrohttpd's own errors), so a flood of bad
 * input cannot flood the log. Zero-initialise; one per call site. */
struct log_budget {
    _Atomic long long second;
    _Atomic int used;
};
/* True if one more line fits this second's budget (and counts it). Any thread. */
bool log_budget_take(struct log_budget *b, int per_second);

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
