#include "streamrec/err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const err_names[SR_ERR__COUNT] = {
    [SR_OK] = "ok",
    [SR_ERR_INVALID] = "invalid",
    [SR_ERR_NOMEM] = "out_of_memory",
    [SR_ERR_IO] = "io",
    [SR_ERR_TRUNCATED] = "truncated",
    [SR_ERR_BAD_MAGIC] = "bad_magic",
    [SR_ERR_UNKNOWN_SCHEMA] = "unknown_schema",
    [SR_ERR_BAD_FIELD] = "bad_field",
    [SR_ERR_CONFIG] = "config",
    [SR_ERR_EOF] = "eof",
    [SR_ERR_CORRUPT] = "corrupt",
};

const char *sr_err_name(sr_err_t err) {
    if ((unsigned)err >= SR_ERR__COUNT)
        return "unknown_error";
    return err_names[err];
}

sr_err_t sr_seterr(sr_err_t err, char *errstr, size_t errstr_size,
                   const char *fmt, ...) {
    if (errstr && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
