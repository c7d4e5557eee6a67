/* streamrec embedded: the Kafka and Redis that `streamrec demo` and
 * `streamrec run --embedded` bring along, so the daemon runs on one machine
 * with nothing installed but redis-server.
 *
 * Kafka is librdkafka's mock cluster (sr_kafka_mock): one broker in this
 * process, listening on a loopback port like a real one, so kcat, python
 * clients and our own reach it over TCP. The topics the daemon uses are
 * created up front -- the first of input.topics, the reco topic and the
 * user-state changelog (which must match the input partition for partition)
 * with SR_EMBEDDED_INPUT_PARTITIONS partitions, the churn topic and the DLQ
 * with one -- because the mock has no CreateTopics API and would otherwise
 * auto-create them with its own defaults on first use. Further input topics
 * are left to that auto-creation.
 *
 * Redis is redis.url when it answers PING, otherwise a redis-server child on
 * a free loopback port (sr_redis_spawn), stopped again by destroy.
 *
 * sr_embedded_new() points the configuration at them: it sets
 * kafka.bootstrap.servers always and redis.url when it started its own
 * server. With a `log` stream it says what it did in lines of a stable form
 * that scripts may parse, each the whole line:
 *
 *     streamrec: embedded Kafka at 127.0.0.1:PORT
 *     streamrec: Redis at redis://HOST:PORT[/DB]
 *
 * Ownership: the caller owns the object and destroys it after every client
 * of the cluster (the pipeline) is gone; clients still connected would spend
 * their shutdown reconnecting to a closed port. Strings returned by the
 * accessors live as long as the object.
 *
 * Threads: create and destroy on the thread that lives as long as the
 * process wants Redis (the main thread): the redis-server child is told to
 * stop when the thread that started it exits. */
#ifndef STREAMREC_APP_EMBEDDED_H
#define STREAMREC_APP_EMBEDDED_H

#include <stdio.h>

#include "streamrec/config.h"

/* Partitions of the input (and reco) topic: room for up to four consumers of
 * the group, the same spread of keys a small real topic would have. */
#define SR_EMBEDDED_INPUT_PARTITIONS 4

typedef struct sr_embedded sr_embedded_t;

/* Starts the cluster, creates the topics, finds or starts Redis and updates
 * cfg to match. `source` names the change in config messages ("demo").
 * Returns NULL with a message in errstr when any part fails; nothing is left
 * running then. */
sr_embedded_t *sr_embedded_new(sr_config_t *cfg, const char *source, FILE *log, char *errstr,
                               size_t errstr_size);

/* The same with input_partitions partitions for the input, reco and
 * changelog topics instead of SR_EMBEDDED_INPUT_PARTITIONS: the mock broker
 * keeps only a few MiB per partition, so a backlog of millions of records
 * needs more of them (bench_catchup). */
sr_embedded_t *sr_embedded_new_partitioned(sr_config_t *cfg, const char *source, FILE *log,
                                           int input_partitions, char *errstr,
                                           size_t errstr_size);

/* Stops what new() started (Redis only if it started it). NULL is a no-op. */
void sr_embedded_destroy(sr_embedded_t *e);

/* bootstrap.servers of the cluster, "127.0.0.1:PORT". */
const char *sr_embedded_bootstrap(const sr_embedded_t *e);

/* The first input topic, the one created with SR_EMBEDDED_INPUT_PARTITIONS. */
const char *sr_embedded_input_topic(const sr_embedded_t *e);

#endif
