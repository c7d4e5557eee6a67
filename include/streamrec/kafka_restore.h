/* streamrec kafka_restore: reads partitions of a topic from their start to
 * their end, once -- how a new owner of input partitions restores the user
 * state their previous owner wrote to the changelog topic.
 *
 * A plain consumer outside any group (nothing is committed): each partition
 * is read from its low watermark up to the high watermark it had when the
 * read started. Records appended after that are not waited for; in a
 * handoff the previous owner has finished writing before the partition is
 * assigned, so the high watermark is the end.
 *
 * Ownership: the config's strings are copied; records passed to the callback
 * are borrowed for the duration of the call.
 *
 * Threads: one thread calls everything; the callback runs on it. */
#ifndef STREAMREC_KAFKA_RESTORE_H
#define STREAMREC_KAFKA_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "streamrec/err.h"
#include "streamrec/kafka_common.h"

typedef void sr_kafka_restore_fn(void *opaque, const rd_kafka_message_t *m);

typedef struct sr_kafka_restore sr_kafka_restore_t;

/* props: passthrough consumer properties (security and the like); group.*
 * properties are ignored, this reader is in no group. */
sr_kafka_restore_t *sr_kafka_restore_new(const char *bootstrap, const sr_kafka_kv_t *props,
                                         size_t n_props, char *errstr, size_t errstr_size);
void sr_kafka_restore_destroy(sr_kafka_restore_t *r);

/* Reads every record of topic's partitions [0, n) in offset order per
 * partition and calls fn for each; returns how many in *n_read (may be NULL).
 * SR_ERR_IO with the reason when the topic or a partition does not exist,
 * or the end was not reached within timeout_ms. */
sr_err_t sr_kafka_restore_read(sr_kafka_restore_t *r, const char *topic,
                               const int32_t *partitions, size_t n, int timeout_ms,
                               sr_kafka_restore_fn *fn, void *opaque, uint64_t *n_read,
                               char *errstr, size_t errstr_size);

#endif
