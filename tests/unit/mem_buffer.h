/* mem_buffer.h: a growing in-memory sink for the tests that save engine or
 * dictionary state (sr_engine_save, sr_writer_init); read it back with
 * serial.h's sr_mem_read. Header only, for tests; zero-initialise a
 * buffer_t and free(b.bytes) when done. */
#ifndef STREAMREC_TEST_MEM_BUFFER_H
#define STREAMREC_TEST_MEM_BUFFER_H

#include <stdlib.h>
#include <string.h>

#include "streamrec/err.h"

typedef struct buffer {
    unsigned char *bytes;
    size_t len, cap;
} buffer_t;

static inline sr_err_t buffer_write(void *opaque, const void *p, size_t len) {
    buffer_t *b = opaque;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        unsigned char *bytes = realloc(b->bytes, cap);
        if (!bytes)
            return SR_ERR_NOMEM;
        b->bytes = bytes;
        b->cap = cap;
    }
    memcpy(b->bytes + b->len, p, len);
    b->len += len;
    return SR_OK;
}

#endif
