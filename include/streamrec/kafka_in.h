/* streamrec kafka_in: the input edge, a Kafka consumer-group member.
 *
 * One librdkafka high-level consumer subscribed to the input topics, tuned
 * for at-least-once delivery and low latency:
 *
 *   partition.assignment.strategy = cooperative-sticky
 *       a member joining or leaving moves only the partitions that must move;
 *       the others keep being consumed through the rebalance.
 *   enable.auto.offset.store = false
 *       nothing is committed that the app has not stored with
 *       sr_kafka_in_store(), which it does only after every output a record
 *       caused was acknowledged (store-after-ack).
 *   enable.auto.commit = true, auto.commit.interval.ms = 1000
 *       commits what was stored, every second, on revoke and on close.
 *   auto.offset.reset = earliest
 *       a new group reads the topic from its start rather than skipping it.
 *   fetch.wait.max.ms = 5, fetch.error.backoff.ms = 10
 *       librdkafka's 500 ms defaults add up to half a second per fetch, which
 *       alone would break the one-second freshness target.
 *   enable.partition.eof = false
 *
 * The caller's passthrough properties are applied after these, so the user
 * wins (except rebalance and log callbacks, which this module owns).
 *
 * Rebalances: on_assign is called just BEFORE the partitions are
 * (incrementally) assigned, and may set a partition's offset in the list to
 * where it should start (left RD_KAFKA_OFFSET_INVALID, it starts at the
 * committed offset); on_revoke BEFORE they are unassigned; both on the poll thread
 * from inside sr_kafka_in_poll() (or sr_kafka_in_close()). on_revoke is the
 * app's last chance to flush what it has in flight for those partitions and
 * sr_kafka_in_store() their offsets: right after it returns, the stored
 * offsets are committed synchronously, before the partitions are given up,
 * so their next owner starts exactly there. If the assignment was
 * lost (session timeout, fenced) on_revoke is still called, but the
 * partitions may already belong to someone else and the commit fails;
 * rd_kafka_assignment_lost(sr_kafka_in_handle(in)) tells the two apart.
 * Both cooperative (incremental) and eager protocols are handled; which one
 * is in effect follows from the assignment strategy.
 *
 * Backpressure: sr_kafka_in_pause() stops fetching for every assigned
 * partition, and for partitions assigned later until sr_kafka_in_resume().
 * Keep calling sr_kafka_in_poll() while paused: it returns no records (only
 * error records) but keeps the member in the group (max.poll.interval.ms)
 * and serves rebalances. Records fetched before the pause and not yet
 * returned are dropped by librdkafka and fetched again after the resume,
 * from the next offset after the last record poll returned. librdkafka
 * 2.0.2's pause can lose a race with a partition's fetch start right after
 * an assignment; records that still arrive while paused are held inside
 * this module (and the partition paused again) and returned first after
 * the resume, or dropped unreturned if their partition is revoked. Either
 * way nothing is lost or repeated. A partition revoked while paused has its
 * pause cleared, so it fetches normally if it comes back after a resume
 * (librdkafka would otherwise keep it paused for good).
 *
 * Ownership: the config's strings are copied by sr_kafka_in_new(); records
 * returned by poll belong to the caller, who frees each with
 * rd_kafka_message_destroy() (they may be kept across polls, e.g. until
 * their outputs are acknowledged; but destroy them all before
 * sr_kafka_in_destroy()).
 *
 * Threads: one thread -- "the poll thread" -- calls every function below
 * except sr_kafka_in_handle() and the counters. That keeps
 * pause/resume/store and rebalances strictly sequential with the batch
 * consume, which librdkafka 2.0.2 requires (its changelog: the batch API
 * may lose or wrongly return records if pause, resume or a rebalance run in
 * parallel with it). on_assign, on_revoke and errors arrive on the poll
 * thread; plain log lines come from librdkafka's own threads, so on_log must
 * be thread-safe. */
#ifndef STREAMREC_KAFKA_IN_H
#define STREAMREC_KAFKA_IN_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "streamrec/err.h"

#include "streamrec/kafka_common.h"

/* Rebalance listeners: parts is borrowed for the duration of the call. */
typedef void sr_kafka_in_rebalance_fn(void *opaque, const rd_kafka_topic_partition_list_t *parts);
typedef void sr_kafka_in_assign_fn(void *opaque, rd_kafka_topic_partition_list_t *parts);

typedef struct sr_kafka_in_config {
    const char *bootstrap;          /* bootstrap.servers, required */
    const char *group_id;           /* group.id, required */
    char **topics;                  /* subscription, n_topics >= 1; "^regex" allowed */
    size_t n_topics;
    const sr_kafka_kv_t *props;     /* passthrough, applied after our defaults */
    size_t n_props;
    sr_kafka_in_assign_fn *on_assign;    /* optional */
    sr_kafka_in_rebalance_fn *on_revoke; /* optional */
    sr_kafka_log_fn *on_log;        /* optional; NULL = librdkafka's stderr logger */
    sr_kafka_stats_fn *on_stats;    /* optional: statistics.interval.ms defaults to
                                       stats_interval_ms (1000 if 0), the user's wins */
    int stats_interval_ms;
    void *opaque;                   /* passed to every callback */
} sr_kafka_in_config_t;

typedef struct sr_kafka_in sr_kafka_in_t;

/* Creates the consumer and subscribes; joining the group happens in the
 * background and completes during later polls (~3 s on the mock cluster).
 * Returns NULL and fills errstr on a bad property or a missing field. */
sr_kafka_in_t *sr_kafka_in_new(const sr_kafka_in_config_t *cfg, char *errstr, size_t errstr_size);

/* Closes (if sr_kafka_in_close() was not called) and frees. NULL is a no-op.
 * The one exception to freeing is the librdkafka < 2.3.0 abort described at
 * sr_kafka_in_close(). */
void sr_kafka_in_destroy(sr_kafka_in_t *in);

/* Fills msgs with up to max records and returns how many. Returns when max
 * records were collected or timeout_ms elapsed, whichever comes first -- so
 * timeout_ms is the batch window, not just an idle wait; 0 returns what is
 * already buffered. Rebalance and error callbacks run inside this call.
 *
 * Records with ->err set are returned too (e.g. a partition that went
 * away, an offset out of range); they carry no payload to process: the app
 * logs and counts them, then destroys them like any other. Returns 0 after
 * sr_kafka_in_close(). */
size_t sr_kafka_in_poll(sr_kafka_in_t *in, rd_kafka_message_t **msgs, size_t max, int timeout_ms);

/* Marks every record of topic/partition below next_offset (= last processed
 * offset + 1) as done; it is committed by the next auto-commit, revoke,
 * sr_kafka_in_commit_sync() or close.
 *
 * A store for a partition this member no longer owns (revoked since the
 * record was polled) returns SR_OK and is counted in
 * sr_kafka_in_stale_stores(): its new owner re-reads from the last commit,
 * which is the at-least-once contract, not an error. SR_ERR_INVALID for a
 * NULL topic or a negative offset, SR_ERR_IO for anything else. */
sr_err_t sr_kafka_in_store(sr_kafka_in_t *in, const char *topic, int32_t partition,
                           int64_t next_offset);

/* Stores that hit a partition no longer assigned (see sr_kafka_in_store()).
 * Any thread. */
uint64_t sr_kafka_in_stale_stores(const sr_kafka_in_t *in);

/* Offset commits refused by the coordinator so far (auto, revoke, close,
 * commit_sync). librdkafka also logs each one (facility COMMITFAIL). Any
 * thread. */
uint64_t sr_kafka_in_commit_failures(const sr_kafka_in_t *in);

/* Pauses / resumes fetching on every assigned partition and remembers the
 * state for partitions assigned later. Idempotent. SR_ERR_IO if librdkafka
 * refuses (the state is remembered anyway and applied at the next
 * assignment). */
sr_err_t sr_kafka_in_pause(sr_kafka_in_t *in);
sr_err_t sr_kafka_in_resume(sr_kafka_in_t *in);
int sr_kafka_in_is_paused(const sr_kafka_in_t *in);

/* Commits the stored offsets now and waits for the broker's answer.
 * Nothing stored since the last commit is SR_OK. SR_ERR_IO with the reason
 * in errstr otherwise. */
sr_err_t sr_kafka_in_commit_sync(sr_kafka_in_t *in, char *errstr, size_t errstr_size);

/* Leaves the group: runs on_revoke for the whole assignment, commits what
 * is stored (also what on_revoke stored), and leaves so the others
 * rebalance at once instead of after session.timeout.ms. Blocks until done
 * -- about session.timeout.ms when the coordinator is unreachable.
 * Idempotent.
 *
 * SR_ERR_IO if the final commit failed -- nothing is lost, the next owner
 * re-reads from the previous commit (at-least-once), but a clean shutdown
 * should report it. The mock coordinator refuses commits while its group
 * rebalances, so on the mock the second of two members closing at the same
 * moment sees this; a real broker accepts them.
 *
 * librdkafka < 2.3.0 aborts in rd_kafka_destroy() for a cooperative-sticky
 * member that got a JoinGroup answer but no successful SyncGroup yet (issue
 * #4312). Close therefore first serves the group for up to
 * session.timeout.ms until the first assignment arrives (records polled
 * meanwhile are dropped unprocessed and redelivered later); if it never
 * does, sr_kafka_in_destroy() leaves the handle to process exit instead of
 * aborting, and says so through on_log. */
sr_err_t sr_kafka_in_close(sr_kafka_in_t *in, char *errstr, size_t errstr_size);

/* The librdkafka handle, borrowed, for statistics, lag queries
 * (rd_kafka_query_watermark_offsets) and rd_kafka_assignment(). Do not
 * poll, consume or close it directly. Any thread. */
rd_kafka_t *sr_kafka_in_handle(const sr_kafka_in_t *in);

#endif
