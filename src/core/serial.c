#include "streamrec/serial.h"

#include <inttypes.h>

/* ---- writer ------------------------------------------------------------- */

void sr_writer_init(sr_writer_t *w, sr_write_fn *write, void *opaque) {
    XXH3_64bits_reset(&w->hash);
    w->write = write;
    w->opaque = opaque;
    w->err = SR_OK;
    w->bytes = 0;
    w->used = 0;
    w->hashed = 0;
}

static void hash_pending(sr_writer_t *w) {
    if (w->used > w->hashed)
        XXH3_64bits_update(&w->hash, w->buf + w->hashed, w->used - w->hashed);
    w->hashed = w->used;
}

sr_err_t sr_writer_flush(sr_writer_t *w) {
    hash_pending(w);
    if (w->err == SR_OK && w->used > 0)
        w->err = w->write(w->opaque, w->buf, w->used);
    w->used = 0;
    w->hashed = 0;
    return w->err;
}

void sr_writer_spill(sr_writer_t *w, const void *p, size_t len) {
    sr_writer_flush(w);
    w->bytes += len;
    if (len >= SR_SERIAL_BUF_BYTES / 2) {
        /* A factor table or a run of summaries: one callback, no copy. */
        XXH3_64bits_update(&w->hash, p, len);
        if (w->err == SR_OK)
            w->err = w->write(w->opaque, p, len);
        return;
    }
    memcpy(w->buf, p, len);
    w->used = len;
}

uint64_t sr_writer_digest(sr_writer_t *w) {
    hash_pending(w);
    return XXH3_64bits_digest(&w->hash);
}

#if SR_SERIAL_SWAP
void sr_writer_u32s(sr_writer_t *w, const uint32_t *v, size_t n) {
    for (size_t k = 0; k < n; k++) sr_writer_u32(w, v[k]);
}
void sr_writer_u64s(sr_writer_t *w, const uint64_t *v, size_t n) {
    for (size_t k = 0; k < n; k++) sr_writer_u64(w, v[k]);
}
void sr_writer_f32s(sr_writer_t *w, const float *v, size_t n) {
    for (size_t k = 0; k < n; k++) sr_writer_f32(w, v[k]);
}
#else
/* Little-endian host: the memory image is the encoding. */
void sr_writer_u32s(sr_writer_t *w, const uint32_t *v, size_t n) {
    sr_writer_bytes(w, v, n * sizeof *v);
}
void sr_writer_u64s(sr_writer_t *w, const uint64_t *v, size_t n) {
    sr_writer_bytes(w, v, n * sizeof *v);
}
void sr_writer_f32s(sr_writer_t *w, const float *v, size_t n) {
    sr_writer_bytes(w, v, n * sizeof *v);
}
#endif

/* ---- reader ------------------------------------------------------------- */

void sr_reader_init(sr_reader_t *r, sr_read_fn *read, void *opaque) {
    XXH3_64bits_reset(&r->hash);
    r->read = read;
    r->opaque = opaque;
    r->err = SR_OK;
    r->offset = 0;
    r->pos = r->len = r->hashed = 0;
    r->eof = false;
}

static void hash_consumed(sr_reader_t *r) {
    if (r->pos > r->hashed)
        XXH3_64bits_update(&r->hash, r->buf + r->hashed, r->pos - r->hashed);
    r->hashed = r->pos;
}

/* Reads more after what is buffered; false at the end of the input. */
static bool refill(sr_reader_t *r) {
    if (r->err != SR_OK || r->eof)
        return false;
    hash_consumed(r);
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = r->hashed = 0;
    }
    size_t n = 0;
    sr_err_t err = r->read(r->opaque, r->buf + r->len, SR_SERIAL_BUF_BYTES - r->len, &n);
    if (err != SR_OK) {
        r->err = err;
        return false;
    }
    if (n == 0) {
        r->eof = true;
        return false;
    }
    r->len += n;
    return true;
}

bool sr_reader_take(sr_reader_t *r, void *out, size_t len) {
    unsigned char *dst = out;
    if (r->err != SR_OK)
        goto fail;
    while (len > 0) {
        size_t have = r->len - r->pos;
        if (have == 0) {
            if (len >= SR_SERIAL_BUF_BYTES / 2 && !r->eof) {
                /* A large run: straight into place, hashed there. */
                hash_consumed(r);
                r->pos = r->len = r->hashed = 0;
                size_t n = 0;
                sr_err_t err = r->read(r->opaque, dst, len, &n);
                if (err != SR_OK) {
                    r->err = err;
                    goto fail;
                }
                if (n == 0) {
                    r->eof = true;
                    r->err = SR_ERR_TRUNCATED;
                    goto fail;
                }
                XXH3_64bits_update(&r->hash, dst, n);
                dst += n;
                len -= n;
                r->offset += n;
                continue;
            }
            if (!refill(r)) {
                if (r->err == SR_OK)
                    r->err = SR_ERR_TRUNCATED;
                goto fail;
            }
            continue;
        }
        size_t take = have < len ? have : len;
        memcpy(dst, r->buf + r->pos, take);
        r->pos += take;
        r->offset += take;
        dst += take;
        len -= take;
    }
    return true;
fail:
    if (len > 0)
        memset(dst, 0, len); /* a failed get reads as 0, never as stale bytes */
    return false;
}

uint64_t sr_reader_digest(sr_reader_t *r) {
    hash_consumed(r);
    return XXH3_64bits_digest(&r->hash);
}

bool sr_reader_at_end(sr_reader_t *r) {
    if (r->pos < r->len)
        return false;
    return !refill(r) && r->err == SR_OK;
}

sr_err_t sr_reader_error(const sr_reader_t *r, const char *what, char *errstr,
                         size_t errstr_size) {
    if (r->err == SR_ERR_TRUNCATED)
        return sr_seterr(r->err, errstr, errstr_size, "state ends early in %s (byte %" PRIu64 ")",
                         what, r->offset);
    return sr_seterr(r->err, errstr, errstr_size, "reading %s at byte %" PRIu64 ": %s", what,
                     r->offset, sr_err_name(r->err));
}

#if SR_SERIAL_SWAP
bool sr_reader_u32s(sr_reader_t *r, uint32_t *v, size_t n) {
    for (size_t k = 0; k < n; k++) v[k] = sr_reader_u32(r);
    return sr_reader_ok(r);
}
bool sr_reader_u64s(sr_reader_t *r, uint64_t *v, size_t n) {
    for (size_t k = 0; k < n; k++) v[k] = sr_reader_u64(r);
    return sr_reader_ok(r);
}
bool sr_reader_f32s(sr_reader_t *r, float *v, size_t n) {
    for (size_t k = 0; k < n; k++) v[k] = sr_reader_f32(r);
    return sr_reader_ok(r);
}
#else
bool sr_reader_u32s(sr_reader_t *r, uint32_t *v, size_t n) {
    return sr_reader_fast(r, v, n * sizeof *v);
}
bool sr_reader_u64s(sr_reader_t *r, uint64_t *v, size_t n) {
    return sr_reader_fast(r, v, n * sizeof *v);
}
bool sr_reader_f32s(sr_reader_t *r, float *v, size_t n) {
    return sr_reader_fast(r, v, n * sizeof *v);
}
#endif

/* ---- memory source ------------------------------------------------------ */

sr_err_t sr_mem_read(void *opaque, void *buf, size_t cap, size_t *n_read) {
    sr_mem_source_t *m = opaque;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    memcpy(buf, m->bytes + m->pos, n);
    m->pos += n;
    *n_read = n;
    return SR_OK;
}
