/* streamrec error codes.
 *
 * Every function that can fail returns an sr_err_t: SR_OK (0) on success, one
 * of the codes below otherwise. Where a human needs to know why, the function
 * also fills a caller-provided `char *errstr, size_t errstr_size` buffer (the
 * librdkafka convention); errstr may be NULL when the caller does not care. */
#ifndef STREAMREC_ERR_H
#define STREAMREC_ERR_H

#include <stddef.h>

typedef enum sr_err {
    SR_OK = 0,
    SR_ERR_INVALID,        /* bad argument or value */
    SR_ERR_NOMEM,          /* allocation failed */
    SR_ERR_IO,             /* file or socket error */
    SR_ERR_TRUNCATED,      /* input ended before the record did */
    SR_ERR_BAD_MAGIC,      /* Confluent framing: first byte is not 0 */
    SR_ERR_UNKNOWN_SCHEMA, /* Confluent framing: schema id not known */
    SR_ERR_BAD_FIELD,      /* a field is missing or has a value we reject */
    SR_ERR_CONFIG,         /* configuration key or value rejected */
    SR_ERR_EOF,            /* no more input (not a failure for readers) */
    SR_ERR_CORRUPT,        /* stored data fails its checksum or its own structure */
    SR_ERR__COUNT
} sr_err_t;

/* Short stable name of a code ("truncated", "bad_magic", ...), used as the
 * DLQ reason header and metric label. Never NULL. */
const char *sr_err_name(sr_err_t err);

/* snprintf into errstr if errstr is not NULL; returns err, so callers can
 * write `return sr_seterr(err, errstr, size, "...", ...)`. */
sr_err_t sr_seterr(sr_err_t err, char *errstr, size_t errstr_size,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
