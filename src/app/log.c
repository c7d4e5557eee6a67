#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "streamrec/clock.h"

#define MESSAGE_MAX_BYTES 2048
/* Room for the message escaped in the worst case (6 bytes a byte) and some
 * fields; a field that does not fit is left out whole, and the line says
 * it was cut, so a JSON line stays one valid object. */
#define LINE_MAX_BYTES (6 * MESSAGE_MAX_BYTES + 4096)

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int current_format = SR_LOG_TEXT;
static atomic_int current_level = SR_LOG_INFO;
static FILE *_Atomic current_out;

static const char *const level_names[8] = {"error", "error", "error", "error",
                                           "warn",  "info",  "info",  "debug"};

sr_err_t sr_log_format_parse(const char *name, sr_log_format_t *out) {
    if (strcmp(name, "text") == 0)
        *out = SR_LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = SR_LOG_JSON;
    else
        return SR_ERR_CONFIG;
    return SR_OK;
}

sr_err_t sr_log_level_parse(const char *name, sr_log_level_t *out) {
    static const struct {
        const char *name;
        sr_log_level_t level;
    } names[] = {{"error", SR_LOG_ERROR}, {"warn", SR_LOG_WARN}, {"info", SR_LOG_INFO},
                 {"debug", SR_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return SR_OK;
        }
    return SR_ERR_CONFIG;
}

const char *sr_log_level_name(sr_log_level_t level) {
    return level_names[(unsigned)level <= 7 ? (unsigned)level : 7];
}

void sr_log_configure(sr_log_format_t format, sr_log_level_t level, FILE *out) {
    pthread_mutex_lock(&write_lock);
    atomic_store(&current_format, (int)format);
    atomic_store(&current_level, (int)level);
    atomic_store(&current_out, out);
    pthread_mutex_unlock(&write_lock);
}

bool sr_log_enabled(sr_log_level_t level) { return (int)level <= atomic_load(&current_level); }

/* ---- one line, built on the stack ---------------------------------------- */

typedef struct line {
    char text[LINE_MAX_BYTES];
    size_t len;
    bool overflow; /* something did not fit since the field began */
    bool cut;      /* a field was left out */
} line_t;

#define TAIL_ROOM 16 /* the cut marker, '}' and the newline always fit */

static void add(line_t *l, const char *s, size_t n) {
    if (n > sizeof l->text - TAIL_ROOM - l->len) {
        l->overflow = true;
        return;
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void add_tail(line_t *l, const char *s) {
    size_t n = strlen(s);
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void adds(line_t *l, const char *s) { add(l, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (1-4), 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s) {
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || s[0] >= 0xf8)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

static void add_json_string(line_t *l, const char *value) {
    const unsigned char *s = (const unsigned char *)value;
    adds(l, "\"");
    while (*s) {
        char esc[8];
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*s;
            add(l, esc, 2);
            s++;
        } else if (*s < 0x20) {
            const char *named = *s == '\n' ? "\\n" : *s == '\t' ? "\\t" : *s == '\r' ? "\\r" : NULL;
            if (named)
                adds(l, named);
            else {
                snprintf(esc, sizeof esc, "\\u%04x", *s);
                adds(l, esc);
            }
            s++;
        } else {
            size_t n = utf8_sequence(s);
            if (n == 0) {
                adds(l, "\\ufffd");
                s++;
            } else {
                add(l, (const char *)s, n);
                s += n;
            }
        }
    }
    adds(l, "\"");
}

static bool needs_quotes(const char *s) {
    if (!*s)
        return true;
    for (; *s; s++)
        if (*s == ' ' || *s == '"' || *s == '=' || (unsigned char)*s < 0x20)
            return true;
    return false;
}

static void add_text_value(line_t *l, const char *value) {
    if (!needs_quotes(value)) {
        adds(l, value);
        return;
    }
    adds(l, "\"");
    for (const char *s = value; *s; s++) {
        if (*s == '"' || *s == '\\') {
            char esc[2] = {'\\', *s};
            add(l, esc, 2);
        } else if (*s == '\n') {
            adds(l, "\\n");
        } else if ((unsigned char)*s < 0x20) {
            adds(l, " ");
        } else {
            add(l, s, 1);
        }
    }
    adds(l, "\"");
}

static void add_field(line_t *l, bool json, const char *key, const char *value, bool number) {
    size_t start = l->len;
    l->overflow = false;
    if (json) {
        adds(l, ",\"");
        adds(l, key);
        adds(l, "\":");
        if (number)
            adds(l, value);
        else
            add_json_string(l, value);
    } else {
        adds(l, " ");
        adds(l, key);
        adds(l, "=");
        add_text_value(l, value);
    }
    if (l->overflow) {
        l->len = start;
        l->cut = true;
    }
}

static void format_time(char *out, size_t size) {
    int64_t ms = sr_clock_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void emit(sr_log_level_t level, const sr_log_ctx_t *ctx, const char *message) {
    bool json = atomic_load(&current_format) == SR_LOG_JSON;
    const char *component = ctx && ctx->component ? ctx->component : "streamrec";
    char when[64];
    format_time(when, sizeof when);
    static _Thread_local line_t l; /* too big for librdkafka threads' stacks to waste */
    l.len = 0;
    l.overflow = l.cut = false;
    if (json) {
        adds(&l, "{\"time\":\"");
        adds(&l, when);
        adds(&l, "\",\"level\":\"");
        adds(&l, sr_log_level_name(level));
        adds(&l, "\",\"message\":");
        add_json_string(&l, message);
        add_field(&l, true, "component", component, false);
    } else {
        adds(&l, when);
        adds(&l, " ");
        adds(&l, sr_log_level_name(level));
        adds(&l, " ");
        adds(&l, component);
        adds(&l, ": ");
        for (const char *s = message; *s; s++) add(&l, *s == '\n' ? " " : s, 1);
    }
    if (ctx) {
        char num[24];
        if (ctx->facility)
            add_field(&l, json, "facility", ctx->facility, false);
        if (ctx->topic)
            add_field(&l, json, "topic", ctx->topic, false);
        if (ctx->partition >= 0) {
            snprintf(num, sizeof num, "%d", (int)ctx->partition);
            add_field(&l, json, "partition", num, true);
        }
        if (ctx->offset >= 0) {
            snprintf(num, sizeof num, "%lld", (long long)ctx->offset);
            add_field(&l, json, "offset", num, true);
        }
        if (ctx->error)
            add_field(&l, json, "error", ctx->error, false);
    }
    if (l.cut)
        add_tail(&l, json ? ",\"cut\":true" : " [cut]");
    add_tail(&l, json ? "}\n" : "\n");
    pthread_mutex_lock(&write_lock);
    FILE *out = atomic_load(&current_out);
    if (!out)
        out = stderr;
    fwrite(l.text, 1, l.len, out);
    fflush(out);
    pthread_mutex_unlock(&write_lock);
}

void sr_log(sr_log_level_t level, const sr_log_ctx_t *ctx, const char *fmt, ...) {
    if (!sr_log_enabled(level))
        return;
    char message[MESSAGE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    emit(level, ctx, message);
}

void sr_log_kafka(const char *component, int syslog_level, const char *error,
                  const char *facility, const char *message) {
    sr_log_level_t level = syslog_level <= 3   ? SR_LOG_ERROR
                           : syslog_level == 4 ? SR_LOG_WARN
                           : syslog_level <= 6 ? SR_LOG_INFO
                                               : SR_LOG_DEBUG;
    if (!sr_log_enabled(level))
        return;
    sr_log_ctx_t ctx = SR_LOG_CTX(component);
    ctx.facility = facility;
    ctx.error = error;
    char bounded[MESSAGE_MAX_BYTES];
    snprintf(bounded, sizeof bounded, "%s", message ? message : "");
    emit(level, &ctx, bounded);
}

bool sr_log_allow(sr_log_limit_t *limit, uint64_t *suppressed) {
    int64_t now = sr_clock_mono_ms();
    if (now - limit->window_ms >= 1000) {
        limit->window_ms = now;
        limit->used = 0;
    }
    if (limit->used >= (limit->burst > 0 ? limit->burst : 1)) {
        limit->suppressed++;
        return false;
    }
    limit->used++;
    *suppressed = limit->suppressed;
    limit->suppressed = 0;
    return true;
}
