/* streamrec pipeline, internals: private to src/app/pipeline*.c. Nothing
 * outside those files includes this header; pipeline.h is the contract.
 *
 * The pipeline's files, one job each:
 *   pipeline.c             creation, destruction, the poll loop (batch
 *                          timing, backpressure)
 *   pipeline_batch.c       a batch's life on the engine thread: records in,
 *                          dead letters, the engine flushed, churn alerts
 *                          produced, the hand-over to the sink,
 *                          acknowledged offsets stored
 *   pipeline_decode.c      input decoding and writer schemas (registry)
 *   pipeline_sink.c        the sink thread: RecommendationUpdates encoded
 *                          and produced, Redis writes with backoff, Kafka
 *                          acknowledgements, in-order hand-back
 *   pipeline_handoff.c     input positions, rebalances, the changelog
 *   pipeline_checkpoint.c  checkpoints: drain, fork, writer, commit, restore
 *   pipeline_stats.c       metrics, the lag table, readiness
 *
 * Threads and who owns which field of struct sr_pipeline. Three threads
 * touch it: the engine thread (the caller of sr_pipeline_run, which also
 * runs the rebalance callbacks pl_on_assign/pl_on_revoke, since they are
 * served by its consumer poll and by sr_kafka_in_close), the sink thread
 * (pl_sink_main) and the HTTP thread (the sr_pipeline_* readers used by
 * /metrics, /readyz and the status page).
 *
 * - Set once in sr_pipeline_new, before the sink thread starts, read-only
 *   after: cfg, framing, dlq_topic, handoff, changelog_topic, ckpt_on,
 *   ckpt_cfg, consumer_props, n_consumer_props and the object pointers
 *   (decoder, encoder, sink_encoder, registry, in, out, redis, recall,
 *   churn_auc, status).
 *   The engine and sim_throttle pointers too, except that a lost assignment
 *   replaces both (pl_roll_back) -- on the engine thread, the only one
 *   that uses them.
 * - Engine thread only: the engine, decoder, encoder and registry objects
 *   themselves; stop; open, open_since_ms, record (ChurnAlerts); the
 *   handoff state (restore, user_partition, user_state, positions); the
 *   checkpoint state (ck_positions, ck_first_assignment, ckpt_next_ms,
 *   ckpt_child, ckpt_result_fd, ckpt_file, ckpt_started_ms, sims_flush_all,
 *   the ckpt_/assignments counts, ckpt_covers); sim_throttle, sims_due,
 *   sim_list; recall and recall_items for observing; the log limits. The
 *   consumer `in` is polled, paused and stored here only (the HTTP thread
 *   only reads watermarks through its handle, which librdkafka allows).
 * - Sink thread only: redis, sink_encoder and sink_record (the
 *   RecommendationUpdates). Two threads thus use Avro-C at once, each with
 *   its own schemas and values; its reference counts are atomic, and the
 *   one thing shared is the text avro_strerror() returns, which a failure
 *   on the other thread can overwrite (a garbled error message at worst).
 *   The producer `out` is produced to by both threads and polled by the
 *   sink thread (and by the engine thread while it waits for its own
 *   records: a failed batch close, a handoff), so pl_on_delivery runs on
 *   either; that is why a batch's pending_kafka and kafka_failed are
 *   atomics.
 * - Under `lock` (with `changed` signalled on every change): to_sink,
 *   acked, sink_stop, sink_held. A batch belongs to the engine thread while
 *   open and once back on `acked`, to the sink thread in between.
 * - Under `lag_lock`: lag, n_lag, cap_lag (engine thread writes, HTTP
 *   thread reads).
 * - Atomics, read by any thread: the counters (records_in and most others
 *   written by the engine thread; recos_written, recos_guarded, sims_written,
 *   redis_retries and redis_up by the sink thread), paused, partitions,
 *   queued_max, the checkpoint_* figures, and metrics (most written by the
 *   engine thread; freshness_ms and redis_write_us by the sink thread;
 *   kafka_delivery_* from whichever thread polls the producer). A plain
 *   load-and-store bump is only for a counter with one writing thread.
 *   freshness is recorded by the sink thread (hist.h allows one reader
 *   alongside).
 *   consumer_stats and producer_stats are filled by librdkafka's callbacks
 *   on the thread that polls each client; the slots lock themselves.
 * - failed and failure: any thread may fail the pipeline, once: pl_fail
 *   claims it (failed = 2), writes failure, then publishes it (failed = 1);
 *   readers take failure only after seeing 1.
 *
 * Cross-file functions take a pl_ prefix; everything else stays static in
 * its file. */
#ifndef STREAMREC_APP_PIPELINE_INTERNAL_H
#define STREAMREC_APP_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "input_watermark.h"
#include "pipeline.h"
#include "log.h"
#include "sim_throttle.h"

#include "streamrec/arena.h"
#include "streamrec/avro_codec.h"
#include "streamrec/checkpoint.h"
#include "streamrec/clock.h"
#include "streamrec/engine.h"
#include "streamrec/kafka_in.h"
#include "streamrec/kafka_out.h"
#include "streamrec/kafka_restore.h"
#include "streamrec/kafka_stats.h"
#include "streamrec/redis_sink.h"
#include "streamrec/schema_registry.h"

#define MAX_PARTITIONS 1024     /* input partitions one batch can cover */
#define RECORD_BYTES_MAX 65536  /* one encoded output record */
/* Confluent ids of our output schemas (no registry for outputs yet) */
#define OUTPUT_SCHEMA_ID_RECO 2
#define OUTPUT_SCHEMA_ID_ALERT 3

typedef struct out_list {
    const char *id; /* the batch's copy: an eviction frees the engine's */
    sr_scored_id_t *items;
    size_t n;
    int64_t event_ts_ms, seq;
} out_list_t;

typedef struct out_churn {
    const char *user_id;
    double p;
    const char *level;
    int64_t ts_ms;
    bool firing;
} out_churn_t;

/* Where the state of one input partition stands: the next offset after the
 * last record it covers. The engine thread's own copy, kept across batches. */
typedef struct position {
    char *topic;
    int32_t partition;
    int64_t next;
} position_t;

typedef struct out_offset {
    const char *topic;
    int32_t partition;
    int64_t next;
    int64_t last_ts_ms; /* Kafka timestamp of the last record, -1: none */
    int64_t live_from;  /* pl_live_from when the batch's first record of it came */
} out_offset_t;

/* An assigned input partition as /metrics sees it: where the acknowledged
 * input stands. Written by the engine thread, read by the HTTP thread,
 * under lag_lock. */
typedef struct lag_entry {
    char topic[256];
    int32_t partition;
    int64_t next;       /* -1: nothing acknowledged since the assignment */
    int64_t last_ts_ms; /* -1: unknown */
} lag_entry_t;

/* Everything one batch caused, owned by whoever holds the batch: the engine
 * thread while it is open, the sink thread until acknowledged, the engine
 * thread again to store its offsets. */
typedef struct batch {
    struct batch *next;
    sr_arena_t *arena;
    out_list_t *recos, *sims;
    size_t n_recos, n_sims;
    out_churn_t *churns;
    size_t n_churns;
    out_offset_t offsets[MAX_PARTITIONS];
    size_t n_offsets;
    int64_t *produced_ms; /* Kafka timestamps of the input records, for freshness */
    size_t n_records, cap_records;
    int64_t model_version;
    bool replay; /* holds a record below its partition's live_from: Redis writes guarded */
    uint64_t n_alerts, n_dead_letters, n_events, n_firing;
    atomic_int pending_kafka; /* produced, not yet acknowledged */
    atomic_int kafka_failed;
} batch_t;

typedef struct queue {
    batch_t *head, *tail;
    size_t n;
} queue_t;

struct sr_pipeline {
    const sr_config_t *cfg;
    sr_engine_t *engine;
    sr_click_decoder_t *decoder;
    char *writer_schema; /* input.schema.file contents, NULL: the built-in schema */
    sr_schema_registry_t *registry; /* NULL: no schema.registry.url */
    const volatile sig_atomic_t *stop; /* sr_pipeline_run's, for waits on the engine thread */
    sr_framing_t framing;
    sr_output_encoder_t *encoder;
    sr_kafka_in_t *in;
    sr_kafka_out_t *out;
    sr_redis_sink_t *redis;
    char dlq_topic[256];

    /* partition handoff (state.handoff): users' state moves with their partition */
    bool handoff;
    char changelog_topic[256];
    sr_kafka_restore_t *restore; /* created at the first assignment */
    sr_kafka_kv_t *consumer_props;
    size_t n_consumer_props;
    int32_t *user_partition;     /* input partition of each dense user id, -1: none */
    size_t user_partition_cap;
    uint8_t *user_state;         /* one exported user */
    position_t *positions;       /* next offset to read, per input partition processed */
    size_t n_positions;
    /* Replays: per assigned partition, the first offset no earlier owner can
     * have processed (pl_live_from; position_t's shape, `next` holding that
     * offset). Absent: not known yet. */
    position_t *live;
    size_t n_live;
    bool reco_guard_always;      /* redis.reco.guard=always */
    atomic_int assignment_lost;  /* set while a lost assignment's batches drain */

    /* checkpoints (checkpoint.dir) */
    bool ckpt_on;
    sr_checkpoint_config_t ckpt_cfg;
    position_t *ck_positions;    /* where the loaded checkpoint's partitions start, until assigned */
    size_t n_ck_positions;
    bool ck_first_assignment;    /* loaded from a checkpoint, not yet assigned */
    int64_t ckpt_next_ms;        /* monotonic time of the next periodic checkpoint */
    pid_t ckpt_child;            /* the forked writer, 0 when none runs */
    int ckpt_result_fd;          /* the writer's result pipe (read end), -1 when none */
    sr_checkpoint_file_t ckpt_file;
    int64_t ckpt_started_ms;
    bool sims_flush_all;         /* the next batch takes every held-back neighbour list */
    /* records_in and assignments (of one partition or more) the newest
     * checkpoint in place covers, and those of the one being written */
    uint64_t ckpt_records_in, ckpt_assignments, assignments;
    uint64_t ckpt_pending_records_in, ckpt_pending_assignments;
    position_t *ckpt_covers;     /* the positions of the forked checkpoint, stored once it is in place */
    size_t n_ckpt_covers;
    _Atomic uint64_t checkpoints_written, checkpoint_errors;
    _Atomic int64_t checkpoint_last_wall_ms, checkpoint_last_write_ms, checkpoint_max_pause_ns;

    pthread_t sink;
    bool sink_running;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* any queue changed, or stopping */
    queue_t to_sink, acked;
    bool sink_stop;
    size_t sink_held; /* batches taken off to_sink and not yet handed back */
    _Atomic uint64_t queued_max; /* highest to_sink.n + sink_held seen */

    sr_input_watermark_t *input_watermark; /* holds the engine's watermark at the slowest partition */
    sr_sim_throttle_t *sim_throttle;
    uint32_t *sims_due;          /* items whose deferred list is built with this batch, written if news */
    size_t sims_due_cap;
    sr_neighbour_t *sim_list;    /* one item's current list (sim.neighbours entries) */

    batch_t *open;
    int64_t open_since_ms;
    uint8_t record[RECORD_BYTES_MAX];     /* engine thread: a ChurnAlert */
    sr_output_encoder_t *sink_encoder;    /* sink thread: RecommendationUpdates */
    uint8_t sink_record[RECORD_BYTES_MAX];

    sr_hist_t freshness;
    sr_pipeline_metrics_t metrics;
    sr_kafka_stats_slot_t consumer_stats, producer_stats;
    pthread_mutex_t lag_lock;
    lag_entry_t *lag;
    size_t n_lag, cap_lag;
    sr_recall_t *recall;
    uint32_t *recall_items;    /* one list's dense item ids */
    sr_auc_window_t *churn_auc;
    sr_status_t *status;       /* the status page's alerts and trending items */
    atomic_int redis_up;       /* the last Redis write succeeded */
    sr_log_limit_t dlq_log_limit, consumer_log_limit;
    sr_log_limit_t refused_log_limit; /* sink thread */
    _Atomic uint64_t records_in, events_applied, dead_letters, batches_acked, recos_written,
        recos_guarded, sims_written, alerts, redis_retries, users, items, users_handed_off, users_restored,
        users_evicted, items_evicted;
    _Atomic int64_t watermark_ms; /* the engine's, as of the last batch close or rebalance */
    atomic_int paused;
    atomic_int partitions;
    atomic_int failed;
    char failure[1024]; /* written once, before failed is set */
};

static inline uint64_t pl_elapsed_us(int64_t since_ns) {
    int64_t ns = sr_clock_mono_ns() - since_ns;
    return ns > 0 ? (uint64_t)ns / 1000 : 0;
}

/* pipeline.c: stops the pipeline with a reason; the first one wins. Any
 * thread. */
void pl_fail(sr_pipeline_t *p, const char *fmt, const char *detail);

#define PL_POLL_MAX 4096 /* records per consumer poll */
/* A batch behind the input may stay open for 1/this of its input's age. */
#define PL_BATCH_AGE_SHARE 2

/* pipeline.c: how long the open batch may stay open, from the last poll's
 * record count (> 0) and its newest record's Kafka timestamp (-1: none):
 * half of that record's age, within [batch_ms, backlog_ms]; without a
 * timestamp, backlog_ms after a full poll (more input waits locally) and
 * batch_ms otherwise. Growing with the age rather than on every full poll:
 * grown batches add their own delay, so with "full poll -> backlog_ms"
 * every poll stayed full after any hiccup and every batch grown -- a steady
 * state of 0.6 s old input at 100,000 events/s that the pipeline never
 * left, though it had the capacity to. A share of the age shrinks the
 * batches as the input catches up (a 0.5 s old backlog gets 250 ms
 * batches, 200 ms old input 100 ms ones), and input a batch or two behind
 * (~20 ms) keeps batch_ms. After any poll, not only after full ones: under
 * sustained load the local queue runs dry between fetches, and a partial
 * poll then cut the batch short of what the input's age allowed.
 * Measured at 300,000 events/s offered (one 60 s run each, bench_e2e),
 * freshness p99: an eighth after full polls 1.63 s, after any poll 1.41 s;
 * a quarter after full polls 1.15 s, after any poll 0.99 s. Half after any
 * poll, with the RecommendationUpdates encoded on the sink thread (two
 * interleaved pairs of 60 s runs after 30 s of warm-up): p99 367-439 ms
 * against 543-623 ms for a quarter, at the same batch size (~25,000
 * records): under sustained load the batches grow until the engine keeps
 * up, and a larger share gets them there at half the input age. At
 * 100,000 events/s, p99 54 ms either way. */
int64_t pl_batch_limit_ms(size_t n_polled, int64_t newest_ts_ms, int64_t now_ms,
                          int64_t batch_ms, int64_t backlog_ms);

/* pipeline_batch.c (engine thread, except where said) */
batch_t *pl_batch_new(void);
bool pl_open_batch(sr_pipeline_t *p); /* if none is open; false: out of memory */
void pl_batch_free(batch_t *b);             /* whoever holds the batch */
void pl_queue_push(queue_t *q, batch_t *b); /* either thread; the caller guards q */
batch_t *pl_queue_take_all(queue_t *q);
void pl_on_delivery(void *opaque, void *msg_opaque, rd_kafka_resp_err_t err); /* any thread */
/* Produces one output record of batch b (copied), counted in its
 * pending_kafka; a failure fails the pipeline. Engine or sink thread. */
sr_err_t pl_produce(sr_pipeline_t *p, batch_t *b, const char *topic, const char *key,
                    const uint8_t *record, size_t len);
void pl_handle_record(sr_pipeline_t *p, const rd_kafka_message_t *m);
void pl_close_batch(sr_pipeline_t *p);
void pl_publish_engine_counts(sr_pipeline_t *p);
void pl_store_acked(sr_pipeline_t *p);
void pl_drain(sr_pipeline_t *p);
/* The same for at most timeout_ms (< 0: no limit); false when the sinks
 * still held batches then (or the pipeline failed): what a drain the poll
 * loop can afford says when it could not finish. */
bool pl_drain_within(sr_pipeline_t *p, int64_t timeout_ms);
/* pl_drain_within, with every neighbour list sim.publish.interval.ms holds
 * back built and (if news) written with the last batch: what a checkpoint
 * and a stop leave behind, so no change is lost to the throttle. */
bool pl_drain_held_within(sr_pipeline_t *p, int64_t timeout_ms);

/* pipeline_decode.c (engine thread) */
sr_err_t pl_decode(sr_pipeline_t *p, const rd_kafka_message_t *m, sr_event_t *ev, char *errstr,
                   size_t errstr_size);
void pl_hint_record(sr_pipeline_t *p, const rd_kafka_message_t *m);

/* pipeline_sink.c: the sink thread's body */
void *pl_sink_main(void *arg);

/* pipeline_handoff.c (engine thread) */
position_t *pl_find_position(sr_pipeline_t *p, const char *topic, int32_t partition);
sr_err_t pl_set_position(sr_pipeline_t *p, const char *topic, int32_t partition, int64_t next);
void pl_free_positions(position_t *list, size_t n);
sr_err_t pl_note_user_partition(sr_pipeline_t *p, const sr_event_t *ev, int32_t partition);
void pl_on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts);
/* Replays. A partition's records below its live_from may have been
 * processed before -- by its previous owner, or by this group before a
 * restart -- and their reco writes could be older than what Redis holds, so
 * a batch with such a record writes under the guard (redis_sink.h). From
 * live_from on, the records are new to the group: their lists are the
 * newest there are, and are written without the guard, ~4x cheaper for
 * Redis. live_from is the partition's high watermark as of the first fetch
 * that returned a record after the assignment (librdkafka keeps it from each
 * fetch response, so asking costs no request; taken at the first record
 * rather than at the assignment, it can only be later: on the safe side).
 * INT64_MAX while unknown. A former owner that stalled past its session and
 * still writes is not fenced by this; redis.reco.guard=always is. */
int64_t pl_live_from(sr_pipeline_t *p, const char *topic, int32_t partition);
void pl_on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts);

/* pipeline_checkpoint.c (engine thread) */
sr_err_t pl_load_checkpoint(sr_pipeline_t *p, char *errstr, size_t errstr_size);
void pl_roll_back(sr_pipeline_t *p); /* after a lost assignment; drained first */
void pl_reap_checkpoint(sr_pipeline_t *p, bool wait);
bool pl_take_checkpoint(sr_pipeline_t *p, bool in_process);
void pl_maybe_checkpoint(sr_pipeline_t *p);
void pl_clear_covers(sr_pipeline_t *p);

/* pipeline_stats.c */
void pl_metrics_init(sr_pipeline_metrics_t *m);
/* The caller holds lag_lock. */
lag_entry_t *pl_find_lag(sr_pipeline_t *p, const char *topic, int32_t partition);
lag_entry_t *pl_add_lag(sr_pipeline_t *p, const char *topic, int32_t partition);
void pl_note_acked(sr_pipeline_t *p, const out_offset_t *o); /* takes lag_lock */

#endif
