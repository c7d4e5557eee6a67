#include "streamrec/framing.h"

sr_err_t sr_framing_parse(const void *buf, size_t len, int32_t *schema_id_out,
                          const uint8_t **payload_out, size_t *payload_len_out,
                          char *errstr, size_t errstr_size) {
    if (!schema_id_out || !payload_out || !payload_len_out || (!buf && len > 0))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "framing: NULL argument");

    const uint8_t *bytes = buf;
    if (len < SR_FRAMING_HEADER_SIZE)
        return sr_seterr(SR_ERR_TRUNCATED, errstr, errstr_size,
                         "truncated: %zu bytes, a Confluent header needs %d",
                         len, SR_FRAMING_HEADER_SIZE);
    if (bytes[0] != 0)
        return sr_seterr(SR_ERR_BAD_MAGIC, errstr, errstr_size,
                         "bad magic byte 0x%02x (Confluent framing starts with 0x00; "
                         "is the topic bare Avro or another format?)",
                         bytes[0]);

    /* Assemble in uint32 and convert once: shifting into the sign bit of an
     * int32 is undefined behaviour. */
    uint32_t id = (uint32_t)bytes[1] << 24 | (uint32_t)bytes[2] << 16 |
                  (uint32_t)bytes[3] << 8 | (uint32_t)bytes[4];
    *schema_id_out = (int32_t)id;
    *payload_out = bytes + SR_FRAMING_HEADER_SIZE;
    *payload_len_out = len - SR_FRAMING_HEADER_SIZE;
    return SR_OK;
}

size_t sr_framing_write_header(uint8_t out[SR_FRAMING_HEADER_SIZE], int32_t schema_id) {
    uint32_t id = (uint32_t)schema_id;
    out[0] = 0;
    out[1] = (uint8_t)(id >> 24);
    out[2] = (uint8_t)(id >> 16);
    out[3] = (uint8_t)(id >> 8);
    out[4] = (uint8_t)id;
    return SR_FRAMING_HEADER_SIZE;
}
