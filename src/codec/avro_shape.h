/* avro_shape: a bounds and range check of Avro binary data, run before
 * Avro-C decodes it. Internal to src/codec.
 *
 * Why it exists: Avro-C 1.11.1's value reader trusts its input more than a
 * Kafka consumer can. A string or bytes length is passed to malloc before it
 * is compared with the bytes left (a corrupt length of a few GB is really
 * allocated; a negative one is reported as "out of memory"); enum indexes
 * are stored without a range check, and the resolved writer passes the
 * writer's index through unchanged; arrays of zero-width items loop on a
 * corrupt count; its errors never say which field or how many bytes were
 * missing; and it does not say how many bytes it consumed, so trailing
 * garbage goes unnoticed. One pass over the
 * bytes with the writer schema's shape, compiled once into a flat node table,
 * rejects all of that with a precise reason (which field, how many bytes
 * were there and how many were needed) before Avro-C sees the data. The pass
 * allocates nothing and costs a small fraction of the decode itself.
 *
 * A shape is immutable after sr_avro_shape_new() and may be shared by
 * threads. It does not keep a reference to the schema it was built from,
 * except for field names, so the schema must outlive the shape. */
#ifndef SR_CODEC_AVRO_SHAPE_H
#define SR_CODEC_AVRO_SHAPE_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"

typedef struct sr_avro_shape sr_avro_shape_t;

/* Compiles the shape of schema. Returns NULL and fills errstr on failure
 * (allocation, or a schema type this checker does not know). */
sr_avro_shape_t *sr_avro_shape_new(avro_schema_t schema, char *errstr, size_t errstr_size);

void sr_avro_shape_destroy(sr_avro_shape_t *shape);

/* Checks that buf[0..len) holds exactly one datum of the shape's schema:
 *   SR_ERR_TRUNCATED  the input ends before the datum does (including a
 *                     string length or array count larger than the bytes left);
 *   SR_ERR_BAD_FIELD  a varint longer than 10 bytes, a negative length, an int
 *                     outside 32 bits, a boolean other than 0/1, a union branch
 *                     or enum index out of range, nesting deeper than 64, or
 *                     bytes left over after the datum (trailing garbage: the
 *                     payload was most likely written with another schema).
 * Messages name the innermost record field being read. O(len). */
sr_err_t sr_avro_shape_check(const sr_avro_shape_t *shape, const uint8_t *buf, size_t len,
                             char *errstr, size_t errstr_size);

#endif
