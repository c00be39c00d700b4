/*
 * log: renders one record into a stack buffer and writes it with a single
 * write(2), so records from different threads never interleave: a record is
 * at most PIPE_BUF bytes, which a pipe writes whole. Level, format and
 * instance id are set at start-up before any thread exists and only read
 * afterwards.
 *
 * Escaping keeps every record on one line. JSON strings escape quotes,
 * backslashes and control characters and replace bytes that are not UTF-8
 * with U+FFFD, so a strict parser reads every line. Text escapes control
 * characters (\n, \t, \xHH) and quotes a field value holding a space, a
 * quote or '='. A record too long for the buffer ends its message with "...",
 * drops the fields that no longer fit and says truncated.
 */
#include "common/log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_MAX PIPE_BUF
#define MSG_MAX    2048
/* Room kept at the end of a record for a closing quote, the truncation
 * mark, the closing brace and the newline. */
#define RESERVE 32

static _Atomic int current_level = LOG_INFO;
static enum log_format current_format = LOG_TEXT;
static char instance[96] = "-";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

void log_set_format(enum log_format format)
{
    current_format = format;
}

void log_set_instance(const char *instance_id)
{
    snprintf(instance, sizeof instance, "%s", instance_id);
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_parse_format(const char *name, enum log_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = LOG_JSON;
    else
        return -1;
    return 0;
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load_explicit(&current_level, memory_order_relaxed);
}

struct out {
    char *p;
    size_t len, limit; /* limit: the capacity less RESERVE */
    bool full;         /* something did not fit */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n > o->limit) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) || /* overlong, surrogate */
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))   /* overlong, > U+10FFFF */
        return 0;
    return len;
}

/* One escaped unit of s at *i into unit (at most 8 bytes); advances *i. */
static size_t escape_unit(const unsigned char *s, size_t n, size_t *i, bool json, bool quoted,
                          char *unit)
{
    unsigned char c = s[*i];
    const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
    if (named || (json && (c == '"' || c == '\\')) || (quoted && (c == '"' || c == '\\'))) {
        (*i)++;
        if (named)
            return (size_t)snprintf(unit, 8, "%s", named);
        unit[0] = '\\', unit[1] = (char)c;
        return 2;
    }
    if (c < 0x20 || c == 0x7f) {
        (*i)++;
        return (size_t)snprintf(unit, 8, json ? "\\u%04x" : "\\x%02x", c);
    }
    if (c >= 0x80 && json) {
        size_t len = utf8_len(s + *i, n - *i);
        if (!len) {
            (*i)++;
            memcpy(unit, "\\ufffd", 6);
            return 6;
        }
        memcpy(unit, s + *i, len);
        *i += len;
        return len;
    }
    unit[0] = (char)c;
    (*i)++;
    return 1;
}

/* Escapes s; when it does not fit, writes as much as fits and "..." and
 * marks the record full. */
static void put_escaped(struct out *o, const char *s, bool json, bool quoted)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n && !o->full;) {
        char unit[8];
        size_t len = escape_unit(u, n, &i, json, quoted, unit);
        if (o->len + len + 3 > o->limit) {
            memcpy(o->p + o->len, "...", 3); /* the limit kept room for it */
            o->len += 3;
            o->full = true;
            return;
        }
        memcpy(o->p + o->len, unit, len);
        o->len += len;
    }
}

/* A text field value needs quotes when it is empty or holds a space, a quote or '='. */
static bool needs_quotes(const char *s)
{
    return !*s || strpbrk(s, " \"=") != NULL;
}

static void put_json_str(struct out *o, const char *s)
{
    if (!s) {
        put_str(o, "null");
        return;
    }
    put(o, "\"", 1);
    if (o->full)
        return;
    put_escaped(o, s, true, false);
    o->p[o->len++] = '"'; /* even after "...": RESERVE holds it */
}

static void put_text_value(struct out *o, const char *s)
{
    if (!s) {
        put(o, "-", 1);
        return;
    }
    bool q = needs_quotes(s);
    if (q)
        put(o, "\"", 1);
    if (o->full)
        return;
    put_escaped(o, s, false, q);
    if (q)
        o->p[o->len++] = '"'; /* even after "...": RESERVE holds it */
}

static void put_field(struct out *o, enum log_format format, const struct log_field *f)
{
    char num[32];
    put_str(o, format == LOG_JSON ? ",\"" : " ");
    put_str(o, f->key);
    put_str(o, format == LOG_JSON ? "\":" : "=");
    switch (f->kind) {
    case LOG_FIELD_STR:
        if (format == LOG_JSON)
            put_json_str(o, f->s);
        else
            put_text_value(o, f->s);
        break;
    case LOG_FIELD_INT:
        put(o, num, (size_t)snprintf(num, sizeof num, "%lld", f->i));
        break;
    case LOG_FIELD_STRS:
        if (format == LOG_JSON) {
            put(o, "[", 1);
            for (size_t i = 0; i < f->n; i++) {
                if (i)
                    put(o, ",", 1);
                put_json_str(o, f->ss[i]);
            }
            put(o, "]", 1);
        } else {
            /* a,b,c, each name quoted if it needs it */
            for (size_t i = 0; i < f->n; i++) {
                if (i)
                    put(o, ",", 1);
                put_text_value(o, f->ss[i]);
            }
            if (!f->n)
                put(o, "-", 1);
        }
        break;
    }
}

size_t log_render(char *buf, size_t cap, enum log_format format, long long unix_ms,
                  enum log_level level, const char *module, const char *msg,
                  const struct log_field *fields, size_t n)
{
    struct out o = {buf, 0, cap - RESERVE, false};
    char ts[96]; /* room for any int the format may meet */
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
    if (format == LOG_JSON) {
        put_str(&o, "{\"ts\":\"");
        put_str(&o, ts);
        put_str(&o, "\",\"level\":\"");
        put_str(&o, level_names[level]);
        put_str(&o, "\",\"module\":");
        put_json_str(&o, module);
        put_str(&o, ",\"instance\":");
        put_json_str(&o, instance);
        put_str(&o, ",\"msg\":");
        put_json_str(&o, msg);
    } else {
        char head[192];
        int h =
            snprintf(head, sizeof head, "%s %s [%s] %s ", ts, level_names[level], module, instance);
        put(&o, head, h > 0 && (size_t)h < sizeof head ? (size_t)h : 0);
        put_escaped(&o, msg, false, false);
    }
    bool truncated = o.full;
    for (size_t i = 0; i < n && !o.full; i++) {
        size_t mark = o.len;
        put_field(&o, format, &fields[i]);
        if (o.full) { /* a field goes whole or not at all */
            o.len = mark;
            truncated = true;
        }
    }
    const char *end = format == LOG_JSON ? (truncated ? ",\"truncated\":true}\n" : "}\n")
                                         : (truncated ? " truncated=true\n" : "\n");
    size_t elen = strlen(end);
    memcpy(buf + o.len, end, elen); /* RESERVE holds it */
    return o.len + elen;
}

void log_fields(enum log_level level, const char *module, const char *msg,
                const struct log_field *fields, size_t n)
{
    if (!log_enabled(level))
        return;
    char line[RECORD_MAX];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    size_t len = log_render(line, sizeof line, current_format, ms, level, module, msg, fields, n);
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    /* libpq's messages end in a newline: no trailing "\n" in the record */
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    log_fields(level, module, msg, NULL, 0);
}

bool log_budget_take_at(struct log_budget *b, int per_window, long long window, long long now)
{
    long long end = atomic_load(&b->end);
    /* Of the threads that find the window closed, one opens the next. Lines
     * that other threads take while it turns may be refused or go uncounted:
     * a budget, not an exact quota. */
    if ((now >= end || now < end - window) &&
        atomic_compare_exchange_strong(&b->end, &end, now + window))
        atomic_store(&b->used, 0);
    if (atomic_fetch_add(&b->used, 1) < per_window)
        return true;
    atomic_fetch_add(&b->refused, 1);
    return false;
}

bool log_budget_take(struct log_budget *b, int per_second)
{
    /* Monotonic: a wall clock set back would hold the window shut. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return log_budget_take_at(b, per_second, 1, (long long)ts.tv_sec);
}

unsigned log_budget_refused(struct log_budget *b)
{
    return atomic_exchange(&b->refused, 0);
}
