/* streamrec kafka_mock: an embedded Kafka cluster for the demo and the tests.
 *
 * Wraps librdkafka's in-process mock cluster (rdkafka_mock.h): brokers with
 * ids 1..N listening on 127.0.0.1 ephemeral ports, speaking the Kafka protocol
 * over TCP, so our own clients, kcat, python confluent-kafka and any other
 * client can produce to it and consume from it. It supports produce (also
 * idempotent), fetch, metadata, consumer groups and offset commits; it does
 * NOT support the CreateTopics admin API -- create topics with
 * sr_kafka_mock_create_topic(). Clients auto-create unknown topics on
 * metadata requests with the mock's defaults (4 partitions).
 *
 * Limits of librdkafka 2.0.2's mock, measured on the development machine
 * (it is an experimental API with no stability guarantee):
 *   - a partition keeps only ~5 MiB of recent records (older segments are
 *     dropped; a consumer that falls behind sees offsets jump forward);
 *   - a group's first join waits 3 s (group.initial.rebalance.delay);
 *   - after any later membership change (a member joins, leaves, or
 *     rejoins to finish a cooperative rebalance) the coordinator waits
 *     session.timeout.ms - 1 s before it assigns (44 s with the 45 s
 *     default), then goes ahead with whoever rejoined. Lower
 *     session.timeout.ms (tests use 4000) to keep rebalances short;
 *   - while its group rebalances it refuses every OffsetCommit with
 *     REBALANCE_IN_PROGRESS (a real broker accepts commits of the current
 *     generation then), so a commit made on revoke or close can fail on
 *     the mock where it would succeed on Kafka.
 *
 * Ownership: sr_kafka_mock_new() owns a private producer handle (the mock
 * needs one for its bookkeeping) and the cluster; sr_kafka_mock_destroy()
 * tears both down. Clients connected to it must be destroyed first, or they
 * will spend their shutdown reconnecting to a closed port.
 *
 * Threads: the cluster runs on librdkafka's own threads; every function here
 * may be called from any thread, but not concurrently with _destroy. */
#ifndef STREAMREC_KAFKA_MOCK_H
#define STREAMREC_KAFKA_MOCK_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "streamrec/err.h"

typedef struct sr_kafka_mock sr_kafka_mock_t;

/* Starts a cluster of `brokers` brokers (1..16). Returns NULL and fills
 * errstr on failure. */
sr_kafka_mock_t *sr_kafka_mock_new(int brokers, char *errstr, size_t errstr_size);

/* Tears down the cluster and its handle. NULL is a no-op. */
void sr_kafka_mock_destroy(sr_kafka_mock_t *m);

/* "127.0.0.1:PORT,127.0.0.1:PORT,..." -- the bootstrap.servers value for any
 * client. Borrowed, valid until sr_kafka_mock_destroy(). */
const char *sr_kafka_mock_bootstrap(const sr_kafka_mock_t *m);

/* Number of brokers; their ids are 1..count. */
int sr_kafka_mock_broker_count(const sr_kafka_mock_t *m);

/* Creates `topic` with `partitions` partitions (1..10000), replicated on
 * min(3, brokers) brokers. SR_ERR_INVALID for a bad name or count,
 * SR_ERR_IO if the mock refuses (e.g. the topic exists). */
sr_err_t sr_kafka_mock_create_topic(sr_kafka_mock_t *m, const char *topic, int partitions,
                                    char *errstr, size_t errstr_size);

/* Fault injection: closes broker_id's connections and refuses new ones /
 * accepts them again. Leadership does not move, so partitions led by a down
 * broker are unavailable until it is up again -- what a client sees when a
 * broker restarts. SR_ERR_INVALID for an id outside 1..count. */
sr_err_t sr_kafka_mock_broker_down(sr_kafka_mock_t *m, int32_t broker_id);
sr_err_t sr_kafka_mock_broker_up(sr_kafka_mock_t *m, int32_t broker_id);

/* The underlying librdkafka mock cluster, borrowed, for the fault
 * injections rdkafka_mock.h offers beyond broker down/up (request errors,
 * RTT, partition leaders). Valid until sr_kafka_mock_destroy(). */
rd_kafka_mock_cluster_t *sr_kafka_mock_cluster(const sr_kafka_mock_t *m);

#endif
