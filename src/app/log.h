/* streamrec log: the binary's one logger.
 *
 * One line per event worth logging -- a start, a rebalance, an error, a
 * retry -- never one per record. Each line has a time (UTC, ms), a level, a
 * message and the context fields that apply: component, topic, partition,
 * offset, error, and librdkafka's facility for its own lines. Two formats
 * (log.format):
 *
 *   text  2026-01-01T12:00:00.123Z warn pipeline: Redis write failed, retrying error="..."
 *         (fields as key=value after the message; a value with a space,
 *         quote, '=' or control character is quoted with \" \\ \n escapes)
 *   json  {"time":"2026-01-01T12:00:00.123Z","level":"warn","message":"...",
 *          "component":"pipeline","error":"..."}
 *         one object per line, UTF-8; invalid UTF-8 in a field becomes U+FFFD,
 *         so every line parses.
 *
 * Lines below log.level (error < warn < info < debug) are dropped before
 * they are formatted. The levels are syslog's numbers, which librdkafka uses
 * too, so its lines map straight onto them (sr_log_kafka()).
 *
 * The logger is process-wide, like syslog: librdkafka logs from its own
 * threads, the pipeline from the engine and sink threads. Lines are
 * formatted on the caller's stack and written whole under a mutex, so lines
 * from different threads never interleave. Before sr_log_configure() it
 * writes text at info level to stderr. */
#ifndef STREAMREC_APP_LOG_H
#define STREAMREC_APP_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "streamrec/err.h"

typedef enum sr_log_level {
    SR_LOG_ERROR = 3,
    SR_LOG_WARN = 4,
    SR_LOG_INFO = 6,
    SR_LOG_DEBUG = 7,
} sr_log_level_t;

typedef enum sr_log_format { SR_LOG_TEXT = 0, SR_LOG_JSON } sr_log_format_t;

/* Context of a line; NULL strings and negative partition/offset are left out. */
typedef struct sr_log_ctx {
    const char *component; /* "run", "pipeline", "kafka.consumer", "http", ... */
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *error;     /* the error text, apart from the message */
    const char *facility;  /* librdkafka's facility of its own lines */
} sr_log_ctx_t;

/* Context with only a component (partition and offset absent). */
#define SR_LOG_CTX(comp) ((sr_log_ctx_t){.component = (comp), .partition = -1, .offset = -1})

/* "text"/"json" and "error"/"warn"/"info"/"debug" (log.format, log.level). */
sr_err_t sr_log_format_parse(const char *name, sr_log_format_t *out);
sr_err_t sr_log_level_parse(const char *name, sr_log_level_t *out);
const char *sr_log_level_name(sr_log_level_t level);

/* Where and how to write from now on; out is borrowed until the next call
 * (NULL: stderr). */
void sr_log_configure(sr_log_format_t format, sr_log_level_t level, FILE *out);

bool sr_log_enabled(sr_log_level_t level);

void sr_log(sr_log_level_t level, const sr_log_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A librdkafka line or error event: syslog level 0-3 error, 4 warn, 5-6
 * info, 7 debug; error (NULL for a plain line) becomes the error field. */
void sr_log_kafka(const char *component, int syslog_level, const char *error,
                  const char *facility, const char *message);

/* Rate limit for warnings that one bad record could repeat per record:
 * at most `burst` lines per second; sr_log_allow() returns false for the
 * rest and counts them, and the next allowed line can say how many were
 * held back (*suppressed, then reset). One thread per limiter. */
typedef struct sr_log_limit {
    int burst;
    int64_t window_ms;
    int used;
    uint64_t suppressed;
} sr_log_limit_t;

bool sr_log_allow(sr_log_limit_t *limit, uint64_t *suppressed);

#endif
