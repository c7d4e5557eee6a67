/* streamrec tail: output records as JSON lines, for operators.
 *
 * RecommendationUpdate and ChurnAlert records (Confluent-framed Avro) are
 * decoded with this build's schemas and printed one JSON object per line
 * (jansson does the JSON). */
#ifndef STREAMREC_APP_TAIL_H
#define STREAMREC_APP_TAIL_H

#include <stddef.h>

#include "streamrec/avro_codec.h"

typedef enum sr_tail_kind { SR_TAIL_RECO, SR_TAIL_ALERT } sr_tail_kind_t;

/* The JSON line (no newline) of one record; malloc'd, the caller frees it.
 * NULL with errstr filled if the record does not decode as `kind`. */
char *sr_tail_json(sr_output_decoder_t *dec, sr_tail_kind_t kind, const void *payload, size_t len,
                   char *errstr, size_t errstr_size);

#endif
