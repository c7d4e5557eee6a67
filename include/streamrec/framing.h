/* streamrec framing: how an Avro record sits inside a Kafka message value.
 *
 * Confluent wire format (what Schema Registry serializers write):
 *
 *     byte 0      magic, always 0
 *     bytes 1..4  schema id, big-endian int32, as assigned by the registry
 *     bytes 5..   the Avro binary encoding of one record
 *
 * Bare framing is the Avro binary record alone; the reader must know the
 * writer schema from configuration.
 *
 * This module only splits and writes the 5-byte header: it owns nothing,
 * allocates nothing and is safe to call from any thread. */
#ifndef STREAMREC_FRAMING_H
#define STREAMREC_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"

typedef enum sr_framing {
    SR_FRAMING_CONFLUENT, /* magic 0 + 4-byte schema id + Avro record */
    SR_FRAMING_BARE       /* Avro record only */
} sr_framing_t;

/* Size of the Confluent header in bytes. */
#define SR_FRAMING_HEADER_SIZE 5

/* Splits a Confluent-framed message into schema id and payload.
 *
 * On success *payload_out points into buf (borrowed, no copy) and
 * *payload_len_out is len - 5; a zero-length payload is not an error here
 * (the Avro decoder decides whether an empty record is valid).
 * Errors: SR_ERR_TRUNCATED if len < 5, SR_ERR_BAD_MAGIC if buf[0] != 0,
 * SR_ERR_INVALID if an output pointer is NULL. Outputs are untouched on error.
 * O(1). */
sr_err_t sr_framing_parse(const void *buf, size_t len, int32_t *schema_id_out,
                          const uint8_t **payload_out, size_t *payload_len_out,
                          char *errstr, size_t errstr_size);

/* Writes the 5-byte Confluent header for schema_id into out. Returns the
 * number of bytes written (always SR_FRAMING_HEADER_SIZE). */
size_t sr_framing_write_header(uint8_t out[SR_FRAMING_HEADER_SIZE], int32_t schema_id);

#endif
