/* streamrec serialisation: the byte stream model state is saved as.
 *
 * Model modules write their state through an sr_writer_t and read it back
 * through an sr_reader_t. The bytes leave and arrive through a caller's
 * callback, so the model itself does no I/O: a file, a pipe or a memory
 * buffer is the caller's choice.
 *
 * Encoding: fixed-width little-endian integers; floats and doubles as their
 * IEEE-754 bit patterns, so a value read back is bit for bit the value
 * written; no padding and no pointers. The same state therefore gives the
 * same bytes on every run and machine, which is what makes a hash of them a
 * state digest.
 *
 * Writer: buffers SR_SERIAL_BUF_BYTES inside the sr_writer_t (callers keep
 * it on the stack) and never allocates, so a forked child can save state
 * without touching malloc's locks. Errors are sticky: the first failing
 * callback's code is kept and later puts write nothing; one check at the end
 * (sr_writer_flush) is enough.
 *
 * Reader: the same buffer; a read past the end of the input sets
 * SR_ERR_TRUNCATED, sticky like the writer's, and every later get returns 0.
 * Loaders check sr_reader_ok() before they use a value to size or index
 * anything.
 *
 * Both keep a running XXH3-64 of the bytes through them (sr_writer_digest,
 * sr_reader_digest): the engine ends its state with that digest and checks
 * it on load.
 *
 * Thread rules: one owner per writer or reader. */
#ifndef STREAMREC_SERIAL_H
#define STREAMREC_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "streamrec/err.h"

/* XXH3_state_t by value: no allocation for the running hash. */
#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY
#endif
#include <xxhash.h>

/* 64 KiB: large enough that the callback's cost (a write(2)) is amortised
 * over thousands of fields, small enough for any thread's stack. */
#define SR_SERIAL_BUF_BYTES (64 * 1024)

/* Takes all len bytes or fails. Must not allocate if the save is to run in a
 * forked child. */
typedef sr_err_t sr_write_fn(void *opaque, const void *buf, size_t len);

/* Reads up to cap bytes into buf and sets *n_read; 0 means the input ended. */
typedef sr_err_t sr_read_fn(void *opaque, void *buf, size_t cap, size_t *n_read);

typedef struct sr_writer {
    XXH3_state_t hash;
    sr_write_fn *write;
    void *opaque;
    sr_err_t err;
    uint64_t bytes;  /* put so far, buffered or written */
    size_t used;     /* bytes in buf */
    size_t hashed;   /* buf[0, hashed) is already in hash */
    unsigned char buf[SR_SERIAL_BUF_BYTES];
} sr_writer_t;

typedef struct sr_reader {
    XXH3_state_t hash;
    sr_read_fn *read;
    void *opaque;
    sr_err_t err;
    uint64_t offset; /* bytes consumed so far */
    size_t pos, len; /* buf[pos, len) read but not consumed */
    size_t hashed;   /* buf[0, hashed) is already in hash */
    bool eof;
    unsigned char buf[SR_SERIAL_BUF_BYTES];
} sr_reader_t;

void sr_writer_init(sr_writer_t *w, sr_write_fn *write, void *opaque);
/* Hands every buffered byte to the callback. Returns the sticky error. */
sr_err_t sr_writer_flush(sr_writer_t *w);
/* XXH3-64 of every byte put since sr_writer_init. */
uint64_t sr_writer_digest(sr_writer_t *w);
/* Slow path of sr_writer_bytes(): flushes, or hands a large run straight to
 * the callback without copying it. */
void sr_writer_spill(sr_writer_t *w, const void *p, size_t len);

void sr_reader_init(sr_reader_t *r, sr_read_fn *read, void *opaque);
/* Copies len bytes out; false (and r->err set) if the input ends first. */
bool sr_reader_take(sr_reader_t *r, void *out, size_t len);
/* XXH3-64 of every byte consumed since sr_reader_init. */
uint64_t sr_reader_digest(sr_reader_t *r);
/* True if no byte is left (reads ahead to find out). */
bool sr_reader_at_end(sr_reader_t *r);
static inline bool sr_reader_ok(const sr_reader_t *r) { return r->err == SR_OK; }

/* Fills errstr for a reader that failed inside `what` ("mf", "profiles"):
 * "state ends early in mf (byte 1234)". Returns r->err. */
sr_err_t sr_reader_error(const sr_reader_t *r, const char *what, char *errstr,
                         size_t errstr_size);

/* A read callback over memory: opaque is an sr_mem_source_t. */
typedef struct sr_mem_source {
    const unsigned char *bytes;
    size_t len, pos;
} sr_mem_source_t;
sr_err_t sr_mem_read(void *opaque, void *buf, size_t cap, size_t *n_read);

/* ---- values ------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SR_SERIAL_SWAP 1
static inline uint16_t sr_le16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t sr_le32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t sr_le64(uint64_t v) { return __builtin_bswap64(v); }
#else
#define SR_SERIAL_SWAP 0
static inline uint16_t sr_le16(uint16_t v) { return v; }
static inline uint32_t sr_le32(uint32_t v) { return v; }
static inline uint64_t sr_le64(uint64_t v) { return v; }
#endif

static inline void sr_writer_bytes(sr_writer_t *w, const void *p, size_t len) {
    if (len == 0)
        return; /* p may be NULL then (an empty table) */
    if (len <= SR_SERIAL_BUF_BYTES - w->used) {
        memcpy(w->buf + w->used, p, len);
        w->used += len;
        w->bytes += len;
    } else {
        sr_writer_spill(w, p, len);
    }
}

static inline void sr_writer_u8(sr_writer_t *w, uint8_t v) { sr_writer_bytes(w, &v, 1); }
static inline void sr_writer_u16(sr_writer_t *w, uint16_t v) {
    v = sr_le16(v);
    sr_writer_bytes(w, &v, 2);
}
static inline void sr_writer_u32(sr_writer_t *w, uint32_t v) {
    v = sr_le32(v);
    sr_writer_bytes(w, &v, 4);
}
static inline void sr_writer_u64(sr_writer_t *w, uint64_t v) {
    v = sr_le64(v);
    sr_writer_bytes(w, &v, 8);
}
static inline void sr_writer_i16(sr_writer_t *w, int16_t v) { sr_writer_u16(w, (uint16_t)v); }
static inline void sr_writer_i32(sr_writer_t *w, int32_t v) { sr_writer_u32(w, (uint32_t)v); }
static inline void sr_writer_i64(sr_writer_t *w, int64_t v) { sr_writer_u64(w, (uint64_t)v); }
static inline void sr_writer_f32(sr_writer_t *w, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    sr_writer_u32(w, bits);
}
static inline void sr_writer_f64(sr_writer_t *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    sr_writer_u64(w, bits);
}
/* A section tag: four ASCII characters ("MF  "), so a misaligned or foreign
 * stream is caught where it starts going wrong. */
static inline void sr_writer_tag(sr_writer_t *w, const char tag[4]) { sr_writer_bytes(w, tag, 4); }

/* Arrays of 4- and 8-byte values. */
void sr_writer_u32s(sr_writer_t *w, const uint32_t *v, size_t n);
void sr_writer_u64s(sr_writer_t *w, const uint64_t *v, size_t n);
void sr_writer_f32s(sr_writer_t *w, const float *v, size_t n);

static inline uint8_t sr_reader_u8(sr_reader_t *r) {
    uint8_t v = 0;
    if (r->pos < r->len) {
        v = r->buf[r->pos++];
        r->offset++;
    } else {
        sr_reader_take(r, &v, 1);
    }
    return v;
}
static inline bool sr_reader_fast(sr_reader_t *r, void *out, size_t len) {
    if (len == 0)
        return sr_reader_ok(r); /* out may be NULL then */
    if (len <= r->len - r->pos) {
        memcpy(out, r->buf + r->pos, len);
        r->pos += len;
        r->offset += len;
        return true;
    }
    return sr_reader_take(r, out, len);
}
static inline uint16_t sr_reader_u16(sr_reader_t *r) {
    uint16_t v = 0;
    return sr_reader_fast(r, &v, 2) ? sr_le16(v) : 0;
}
static inline uint32_t sr_reader_u32(sr_reader_t *r) {
    uint32_t v = 0;
    return sr_reader_fast(r, &v, 4) ? sr_le32(v) : 0;
}
static inline uint64_t sr_reader_u64(sr_reader_t *r) {
    uint64_t v = 0;
    return sr_reader_fast(r, &v, 8) ? sr_le64(v) : 0;
}
static inline int16_t sr_reader_i16(sr_reader_t *r) { return (int16_t)sr_reader_u16(r); }
static inline int32_t sr_reader_i32(sr_reader_t *r) { return (int32_t)sr_reader_u32(r); }
static inline int64_t sr_reader_i64(sr_reader_t *r) { return (int64_t)sr_reader_u64(r); }
static inline float sr_reader_f32(sr_reader_t *r) {
    uint32_t bits = sr_reader_u32(r);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}
static inline double sr_reader_f64(sr_reader_t *r) {
    uint64_t bits = sr_reader_u64(r);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}
/* True if the next four bytes are tag (consumed either way). */
static inline bool sr_reader_tag(sr_reader_t *r, const char tag[4]) {
    char got[4];
    return sr_reader_fast(r, got, 4) && memcmp(got, tag, 4) == 0;
}

bool sr_reader_u32s(sr_reader_t *r, uint32_t *v, size_t n);
bool sr_reader_u64s(sr_reader_t *r, uint64_t *v, size_t n);
bool sr_reader_f32s(sr_reader_t *r, float *v, size_t n);

#endif
