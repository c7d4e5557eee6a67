/* serial: values come back bit for bit through any chunking; digests agree;
 * errors stick. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/serial.h"

typedef struct sink {
    unsigned char *bytes;
    size_t len, cap, calls;
} sink_t;

static sr_err_t sink_write(void *opaque, const void *p, size_t len) {
    sink_t *s = opaque;
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->bytes = realloc(s->bytes, s->cap);
    }
    memcpy(s->bytes + s->len, p, len);
    s->len += len;
    s->calls++;
    return SR_OK;
}

/* Hands out at most `chunk` bytes a call, to cross every buffer boundary. */
typedef struct trickle {
    const unsigned char *bytes;
    size_t len, pos, chunk;
} trickle_t;

static sr_err_t trickle_read(void *opaque, void *buf, size_t cap, size_t *n_read) {
    trickle_t *t = opaque;
    size_t n = t->len - t->pos;
    if (n > cap)
        n = cap;
    if (n > t->chunk)
        n = t->chunk;
    memcpy(buf, t->bytes + t->pos, n);
    t->pos += n;
    *n_read = n;
    return SR_OK;
}

enum { N_FLOATS = 100000 };

/* A stream mixing small values and a run larger than the buffer. */
static void write_sample(sr_writer_t *w, const float *run) {
    sr_writer_tag(w, "TEST");
    sr_writer_u8(w, 0xab);
    sr_writer_u16(w, 0xbeef);
    sr_writer_i32(w, -5);
    sr_writer_i64(w, INT64_MIN);
    sr_writer_f32(w, -0.0f);
    sr_writer_f64(w, NAN);
    sr_writer_f32s(w, run, N_FLOATS);
    for (uint32_t k = 0; k < 20000; k++) sr_writer_u32(w, k * 2654435761u);
    sr_writer_u64(w, UINT64_MAX - 1);
}

static void test_serial_values_round_trip_through_any_chunking(void **state) {
    (void)state;
    float *run = malloc(N_FLOATS * sizeof *run);
    for (size_t k = 0; k < N_FLOATS; k++) run[k] = (float)k * 0.37f - 1000.0f;
    sink_t s = {0};
    sr_writer_t *w = malloc(sizeof *w);
    sr_writer_init(w, sink_write, &s);
    write_sample(w, run);
    uint64_t wdigest = sr_writer_digest(w);
    assert_int_equal(sr_writer_flush(w), SR_OK);
    assert_int_equal(w->bytes, s.len);
    /* little-endian on every host */
    assert_memory_equal(s.bytes, "TEST\xab\xef\xbe", 7);

    size_t chunks[] = {1, 3, 4096, SR_SERIAL_BUF_BYTES, 1 << 22};
    float *back = malloc(N_FLOATS * sizeof *back);
    sr_reader_t *r = malloc(sizeof *r);
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        trickle_t t = {s.bytes, s.len, 0, chunks[c]};
        sr_reader_init(r, trickle_read, &t);
        assert_true(sr_reader_tag(r, "TEST"));
        assert_int_equal(sr_reader_u8(r), 0xab);
        assert_int_equal(sr_reader_u16(r), 0xbeef);
        assert_int_equal(sr_reader_i32(r), -5);
        assert_true(sr_reader_i64(r) == INT64_MIN);
        float z = sr_reader_f32(r);
        assert_true(z == 0.0f && signbit(z));
        assert_true(isnan(sr_reader_f64(r)));
        assert_true(sr_reader_f32s(r, back, N_FLOATS));
        assert_memory_equal(back, run, N_FLOATS * sizeof *run);
        for (uint32_t k = 0; k < 20000; k++) assert_int_equal(sr_reader_u32(r), k * 2654435761u);
        assert_true(sr_reader_u64(r) == UINT64_MAX - 1);
        assert_true(sr_reader_ok(r));
        assert_int_equal(sr_reader_digest(r), wdigest);
        assert_true(sr_reader_at_end(r));
        assert_int_equal(r->offset, s.len);
    }
    free(r);
    free(w);
    free(back);
    free(run);
    free(s.bytes);
}

static void test_serial_reader_past_the_end_is_truncated_and_sticks(void **state) {
    (void)state;
    unsigned char bytes[6] = {1, 0, 0, 0, 2, 0};
    sr_mem_source_t src = {bytes, sizeof bytes, 0};
    sr_reader_t *r = malloc(sizeof *r);
    sr_reader_init(r, sr_mem_read, &src);
    assert_int_equal(sr_reader_u32(r), 1);
    assert_int_equal(sr_reader_u32(r), 0); /* only two bytes left: the input ends at byte 6 */
    assert_int_equal(r->err, SR_ERR_TRUNCATED);
    assert_int_equal(sr_reader_u8(r), 0);
    assert_false(sr_reader_ok(r));
    char errstr[128];
    assert_int_equal(sr_reader_error(r, "the sample", errstr, sizeof errstr), SR_ERR_TRUNCATED);
    assert_string_equal(errstr, "state ends early in the sample (byte 6)");
    free(r);
}

static sr_err_t broken_write(void *opaque, const void *p, size_t len) {
    (void)p;
    (void)len;
    (*(int *)opaque)++;
    return SR_ERR_IO;
}

static void test_serial_writer_error_sticks_and_stops_writing(void **state) {
    (void)state;
    int calls = 0;
    sr_writer_t *w = malloc(sizeof *w);
    sr_writer_init(w, broken_write, &calls);
    static uint32_t big[SR_SERIAL_BUF_BYTES];
    sr_writer_u32s(w, big, SR_SERIAL_BUF_BYTES); /* spills: the first call fails */
    sr_writer_u32s(w, big, SR_SERIAL_BUF_BYTES);
    assert_int_equal(sr_writer_flush(w), SR_ERR_IO);
    assert_int_equal(calls, 1);
    free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_values_round_trip_through_any_chunking),
        cmocka_unit_test(test_serial_reader_past_the_end_is_truncated_and_sticks),
        cmocka_unit_test(test_serial_writer_error_sticks_and_stops_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
