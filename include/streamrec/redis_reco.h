/* streamrec redis_reco: reads one user's recommendations back from Redis,
 * as a feed service would (the keys are redis_sink.h's).
 *
 *   format zset: ZREVRANGE reco:{USER} 0 -1 WITHSCORES
 *   format json: GET reco:{USER}, the document's "items" array
 *
 * Each call opens its own short-lived connection (connect and command
 * timeouts from cfg), so any thread may call it at any time without sharing
 * a connection with the sink; it is meant for occasional lookups (the status
 * page), not for a hot path.
 *
 * Ownership: sr_redis_reco_read() fills a list the caller releases with
 * sr_redis_reco_list_clear(); the list owns its item ids. */
#ifndef STREAMREC_REDIS_RECO_H
#define STREAMREC_REDIS_RECO_H

#include <stdbool.h>
#include <stddef.h>

#include "streamrec/err.h"
#include "streamrec/redis_sink.h"

typedef struct sr_redis_reco_item {
    char *item_id;
    double score;
} sr_redis_reco_item_t;

typedef struct sr_redis_reco_list {
    sr_redis_reco_item_t *items; /* best first */
    size_t n;
    bool found;                  /* the key exists */
} sr_redis_reco_list_t;

/* Reads reco:{user_id} with cfg's host, port, db, reco_format and
 * timeouts (key_ttl_s is not used). A missing key is SR_OK with found
 * false and no items. SR_ERR_IO with the reason when Redis cannot be
 * reached or answers an error; SR_ERR_INVALID when the stored value is not
 * of the format's shape (e.g. a JSON document without an items array). */
sr_err_t sr_redis_reco_read(const sr_redis_sink_config_t *cfg, const char *user_id,
                            sr_redis_reco_list_t *out, char *errstr, size_t errstr_size);

/* Frees the items; the list is empty after. */
void sr_redis_reco_list_clear(sr_redis_reco_list_t *l);

#endif
