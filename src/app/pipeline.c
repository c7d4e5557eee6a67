#include "pipeline.h"
#include "log.h"
#include "sim_throttle.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "streamrec/arena.h"
#include "streamrec/avro_codec.h"
#include "streamrec/checkpoint.h"
#include "streamrec/clock.h"
#include "streamrec/engine.h"
#include "streamrec/intern.h"
#include "streamrec/kafka_in.h"
#include "streamrec/kafka_out.h"
#include "streamrec/kafka_restore.h"
#include "streamrec/kafka_stats.h"
#include "streamrec/redis_sink.h"
#include "streamrec/schema_registry.h"

#define POLL_MAX 4096           /* records per consumer poll */
#define POLL_WAIT_MS 5          /* longest a consumer poll waits */
#define MAX_QUEUED_BATCHES 4    /* waiting for the sink: beyond this the consumer pauses */
#define MAX_PARTITIONS 1024     /* input partitions one batch can cover */
#define RECORD_BYTES_MAX 65536  /* one encoded output record */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define OUTPUT_SCHEMA_ID_RECO 2 /* Confluent ids of our output schemas (no registry yet) */
#define OUTPUT_SCHEMA_ID_ALERT 3
#define RESTORE_TIMEOUT_MS 120000 /* reading a changelog partition to its end */
#define STATS_INTERVAL_MS 1000    /* librdkafka statistics: lag and broker state */
#define STATS_MAX_AGE_MS 10000    /* older statistics say nothing about now */
#define LOG_BURST 5               /* per-record warnings per second */
#define REGISTRY_REQUEST_MAX_MS 10000 /* one request; retries: schema.registry.timeout.ms */
#define REGISTRY_RETRY_MIN_MS 200
#define REGISTRY_RETRY_MAX_MS 5000

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

    sr_sim_throttle_t *sim_throttle;
    uint32_t *sims_due;          /* items whose deferred list is written with this batch */
    size_t sims_due_cap;
    sr_neighbour_t *sim_list;    /* one item's current list (sim.neighbours entries) */

    batch_t *open;
    int64_t open_since_ms;
    uint8_t record[RECORD_BYTES_MAX];

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
    _Atomic uint64_t records_in, events_applied, dead_letters, batches_acked, recos_written,
        sims_written, alerts, redis_retries, users, items, users_handed_off, users_restored,
        users_evicted, items_evicted;
    atomic_int paused;
    atomic_int partitions;
    atomic_int failed;
    char failure[1024]; /* written once, before failed is set */
};

static void fail(sr_pipeline_t *p, const char *fmt, const char *detail) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&p->failed, &expected, 2)) {
        snprintf(p->failure, sizeof p->failure, fmt, detail);
        atomic_store(&p->failed, 1);
    }
}

/* A counter with one writing thread: a plain load and store, no locked add. */
static void bump(_Atomic uint64_t *c, uint64_t by) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static uint64_t elapsed_us(int64_t since_ns) {
    int64_t ns = sr_clock_mono_ns() - since_ns;
    return ns > 0 ? (uint64_t)ns / 1000 : 0;
}

/* ---- batches ------------------------------------------------------------ */

static void batch_free(batch_t *b) {
    if (!b)
        return;
    sr_arena_destroy(b->arena);
    free(b->produced_ms);
    free(b);
}

static batch_t *batch_new(void) {
    batch_t *b = calloc(1, sizeof *b);
    if (!b || !(b->arena = sr_arena_new(256 * 1024))) {
        batch_free(b);
        return NULL;
    }
    atomic_init(&b->pending_kafka, 0);
    atomic_init(&b->kafka_failed, 0);
    return b;
}

static sr_err_t note_record(batch_t *b, const rd_kafka_message_t *m) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    out_offset_t *o = NULL;
    for (size_t k = 0; k < b->n_offsets; k++)
        if (b->offsets[k].partition == m->partition && strcmp(b->offsets[k].topic, topic) == 0) {
            o = &b->offsets[k];
            break;
        }
    if (!o) {
        if (b->n_offsets == MAX_PARTITIONS)
            return SR_ERR_INVALID;
        o = &b->offsets[b->n_offsets++];
        if (!(o->topic = sr_arena_strndup(b->arena, topic, strlen(topic))))
            return SR_ERR_NOMEM;
        o->partition = m->partition;
    }
    o->next = m->offset + 1;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    o->last_ts_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
    if (b->n_records == b->cap_records) {
        size_t cap = b->cap_records ? b->cap_records * 2 : 4096;
        int64_t *t = realloc(b->produced_ms, cap * sizeof *t);
        if (!t)
            return SR_ERR_NOMEM;
        b->produced_ms = t;
        b->cap_records = cap;
    }
    b->produced_ms[b->n_records++] = o->last_ts_ms;
    return SR_OK;
}

static void queue_push(queue_t *q, batch_t *b) {
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->n++;
}

static batch_t *queue_take_all(queue_t *q) {
    batch_t *all = q->head;
    q->head = q->tail = NULL;
    q->n = 0;
    return all;
}

/* ---- Kafka output ------------------------------------------------------- */

static void on_delivery(void *opaque, void *msg_opaque, rd_kafka_resp_err_t err) {
    sr_pipeline_t *p = opaque;
    batch_t *b = msg_opaque;
    if (err) {
        atomic_fetch_add(&p->metrics.kafka_delivery_errors, 1);
        atomic_store(&b->kafka_failed, 1);
        fail(p, "a Kafka output record was not delivered: %s", rd_kafka_err2str(err));
    }
    atomic_fetch_sub(&b->pending_kafka, 1);
}

static sr_err_t produce(sr_pipeline_t *p, batch_t *b, const char *topic, const char *key,
                        size_t len) {
    char errstr[256];
    atomic_fetch_add(&b->pending_kafka, 1);
    if (sr_kafka_out_produce(p->out, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), p->record,
                             len, NULL, b, errstr, sizeof errstr) != SR_OK) {
        atomic_fetch_sub(&b->pending_kafka, 1);
        fail(p, "cannot produce an output record: %s", errstr);
        return SR_ERR_IO;
    }
    return SR_OK;
}

static void dead_letter(sr_pipeline_t *p, batch_t *b, const rd_kafka_message_t *m, sr_err_t why,
                        const char *message) {
    char errstr[256];
    atomic_fetch_add(&b->pending_kafka, 1);
    if (sr_kafka_out_dead_letter(p->out, p->dlq_topic, m, sr_err_name(why), message, b, errstr,
                                 sizeof errstr) != SR_OK) {
        atomic_fetch_sub(&b->pending_kafka, 1);
        fail(p, "cannot write to the dead-letter topic: %s", errstr);
        return;
    }
    b->n_dead_letters++;
    bump(&p->metrics.dead_letters_by_reason[(unsigned)why < SR_ERR__COUNT ? why : SR_ERR_INVALID],
         1);
    uint64_t held_back;
    if (sr_log_allow(&p->dlq_log_limit, &held_back)) {
        sr_log_ctx_t ctx = {.component = "pipeline", .topic = rd_kafka_topic_name(m->rkt),
                            .partition = m->partition, .offset = m->offset, .error = message};
        sr_log(SR_LOG_WARN, &ctx, "record sent to %s (%s)%s", p->dlq_topic, sr_err_name(why),
               held_back ? "; more were, not logged" : "");
    }
}

/* ---- the engine thread's side ------------------------------------------ */

/* Which input partition a user's events come from: the partition whose
 * handoff carries the user's state (see "partition handoff" below). */
static sr_err_t note_user_partition(sr_pipeline_t *p, const sr_event_t *ev, int32_t partition) {
    uint32_t u = sr_engine_find_user(p->engine, ev->user_id.ptr, ev->user_id.len);
    if (u == SR_INTERN_NONE)
        return SR_OK;
    if (u >= p->user_partition_cap) {
        size_t cap = p->user_partition_cap ? p->user_partition_cap : 4096;
        while (cap <= u) cap *= 2;
        int32_t *up = realloc(p->user_partition, cap * sizeof *up);
        if (!up)
            return SR_ERR_NOMEM;
        for (size_t k = p->user_partition_cap; k < cap; k++) up[k] = -1;
        p->user_partition = up;
        p->user_partition_cap = cap;
    }
    p->user_partition[u] = partition;
    return SR_OK;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The writer schema of a Confluent id from the registry (engine thread).
 *
 * The registry does not know the id: it is the authority on ids, so the
 * record cannot be read by anyone and goes to the DLQ as unknown_schema.
 *
 * The registry cannot be asked (refused, timed out, 5xx): the record is most
 * likely fine and the registry restarting or failing over. Dead-lettering
 * would throw good records away for an outage of ours, so we retry with
 * backoff for up to schema.registry.timeout.ms (Confluent's clients retry
 * too: max.retries, retries.wait.ms), then fail the pipeline -- what Kafka
 * Streams does by default (LogAndFailExceptionHandler): the daemon exits
 * non-zero naming the registry, nothing from the open batch on is committed,
 * and once restarted (systemd, Kubernetes) it reads this record again. We do
 * not wait forever as for Redis: the wait blocks the engine thread, which
 * does not poll the consumer meanwhile, and after max.poll.interval.ms the
 * group would take the partitions away; a registry that stays down is an
 * outage to surface, not to hide in a stall. A stop signal ends the wait.
 *
 * An answer that is not a schema (401/403, no registry at the URL) is a
 * configuration problem: fail at once. */
static sr_err_t registry_schema(sr_pipeline_t *p, int32_t schema_id, const char **writer,
                                char *errstr, size_t errstr_size) {
    const int budget_ms = p->cfg->io.schema_registry_timeout_ms;
    const int64_t deadline_ms = sr_clock_mono_ms() + budget_ms;
    int64_t delay_ms = REGISTRY_RETRY_MIN_MS;
    char why[256], failure[512];
    sr_err_t err;
    for (;;) {
        err = sr_schema_registry_get(p->registry, schema_id, writer, why, sizeof why);
        if (err == SR_OK || err == SR_ERR_UNKNOWN_SCHEMA || err == SR_ERR_NOMEM)
            return err == SR_OK ? SR_OK : sr_seterr(err, errstr, errstr_size, "%s", why);
        if (err != SR_ERR_IO) {
            snprintf(failure, sizeof failure, "%s; check schema.registry.url", why);
            break;
        }
        int64_t left_ms = deadline_ms - sr_clock_mono_ms();
        if (p->stop && *p->stop) {
            snprintf(failure, sizeof failure, "stopped while waiting for the schema registry: %s",
                     why);
            break;
        }
        if (left_ms <= 0) {
            snprintf(failure, sizeof failure,
                     "%s; still failing after %d ms (schema.registry.timeout.ms): start the "
                     "schema registry or fix schema.registry.url, then run again from the last "
                     "committed offset",
                     why, budget_ms);
            break;
        }
        if (delay_ms == REGISTRY_RETRY_MIN_MS) {
            sr_log_ctx_t ctx = SR_LOG_CTX("pipeline");
            ctx.error = why;
            sr_log(SR_LOG_WARN, &ctx, "schema registry request failed; retrying for up to %d ms",
                   budget_ms);
        }
        sleep_ms(delay_ms < left_ms ? delay_ms : left_ms);
        delay_ms = delay_ms * 2 > REGISTRY_RETRY_MAX_MS ? REGISTRY_RETRY_MAX_MS : delay_ms * 2;
    }
    fail(p, "%s", failure);
    return sr_seterr(err, errstr, errstr_size, "%s", failure);
}

static sr_err_t decode(sr_pipeline_t *p, const rd_kafka_message_t *m, sr_event_t *ev,
                       char *errstr, size_t errstr_size) {
    int32_t schema_id = -1;
    sr_err_t err = sr_click_decode(p->decoder, m->payload, m->len, p->framing, ev, &schema_id,
                                   errstr, errstr_size);
    if (err != SR_ERR_UNKNOWN_SCHEMA || schema_id < 0)
        return err;
    /* No registry: input.schema.file (or the built-in ClickEvent schema) is
     * the writer schema of every id; register it the first time an id shows.
     * With one, each id's own writer schema, fetched once: the decoder keeps
     * it, so later records of the id never come back here. */
    const char *writer = p->writer_schema ? p->writer_schema
                                          : sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT);
    if (p->registry && (err = registry_schema(p, schema_id, &writer, errstr, errstr_size)) != SR_OK)
        return err;
    /* A registry schema that does not resolve against ClickEvent fails here
     * (invalid, dead-lettered) for each of its records; the registry client
     * caches the text, so that costs a schema parse per record, no request. */
    if ((err = sr_click_decoder_add_schema(p->decoder, schema_id, writer, errstr, errstr_size)) !=
        SR_OK)
        return err;
    return sr_click_decode(p->decoder, m->payload, m->len, p->framing, ev, NULL, errstr,
                           errstr_size);
}

/* Test-then-train on what a sampled user was shown (quality.h): before the
 * engine sees the event. */
static void check_recall(sr_pipeline_t *p, const sr_event_t *ev) {
    uint32_t u = sr_engine_find_user(p->engine, ev->user_id.ptr, ev->user_id.len);
    if (u == SR_INTERN_NONE)
        return;
    uint32_t item = sr_engine_find_item(p->engine, ev->item_id.ptr, ev->item_id.len);
    const sr_profile_t *profile = sr_engine_profile(p->engine, u);
    bool discovery = item == SR_INTERN_NONE || !profile ||
                     !(sr_profile_seen_recently(profile, item) ||
                       sr_profile_purchased(profile, item));
    sr_recall_check(p->recall, u, item, discovery);
}

/* The engine starts loading an event's state (profile, rows, summaries)
 * while it applies the events before it: each record of a poll is hinted
 * SR_ENGINE_PREFETCH_AHEAD records ahead of its turn. Decoding it twice is
 * cheaper than keeping decoded events alive; a record that does not decode
 * here (an id not registered yet, bad bytes) is simply not hinted. */
static void hint_record(sr_pipeline_t *p, const rd_kafka_message_t *m) {
    sr_event_t ev;
    if (!m->err && sr_click_decode(p->decoder, m->payload, m->len, p->framing, &ev, NULL, NULL,
                                   0) == SR_OK)
        sr_engine_prefetch(p->engine, &ev);
}

static void handle_record(sr_pipeline_t *p, const rd_kafka_message_t *m) {
    /* A failed pipeline applies, dead-letters and commits nothing more: the
     * records from here on are read again after a restart. */
    if (atomic_load(&p->failed))
        return;
    if (!p->open) {
        if (!(p->open = batch_new())) {
            fail(p, "%s", "out of memory opening a batch");
            return;
        }
        p->open_since_ms = sr_clock_mono_ms();
    }
    batch_t *b = p->open;
    if (note_record(b, m) != SR_OK) {
        fail(p, "%s", "cannot track an input offset (out of memory or too many partitions)");
        return;
    }
    atomic_fetch_add_explicit(&p->records_in, 1, memory_order_relaxed);
    sr_event_t ev;
    char why[256];
    sr_err_t err = decode(p, m, &ev, why, sizeof why);
    if (atomic_load(&p->failed))
        return; /* the registry (or a sink) failed, not the record */
    bool known_type = (unsigned)ev.type < SR_EVENT__COUNT;
    if (err == SR_OK && ev.item_id.len > 0 && known_type && ev.type != SR_EVENT_UNKNOWN &&
        sr_recall_sampled(p->recall, ev.user_id.ptr, ev.user_id.len))
        check_recall(p, &ev);
    if (err == SR_OK)
        err = sr_engine_apply(p->engine, &ev, why, sizeof why);
    if (err == SR_OK) {
        b->n_events++;
        bump(&p->metrics.events_by_type[known_type ? ev.type : SR_EVENT_UNKNOWN], 1);
        if (p->handoff && note_user_partition(p, &ev, m->partition) != SR_OK)
            fail(p, "%s", "out of memory tracking users' partitions");
    } else {
        dead_letter(p, b, m, err, why);
    }
}

static sr_scored_id_t *copy_items(sr_pipeline_t *p, batch_t *b, const sr_neighbour_t *items,
                                  size_t n) {
    sr_scored_id_t *out = sr_arena_alloc(b->arena, (n ? n : 1) * sizeof *out);
    if (!out)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        /* copied: the sinks write the batch after the engine has moved on,
         * and an item eviction hands the engine's string to the next item */
        const char *id = sr_engine_item_id(p->engine, items[k].item);
        if (!(out[k].item_id = sr_arena_strndup(b->arena, id, strlen(id))))
            return NULL;
        out[k].score = items[k].score;
    }
    return out;
}

static sr_err_t add_sim(sr_pipeline_t *p, batch_t *b, uint32_t item, const sr_neighbour_t *list,
                        size_t n) {
    const char *id = sr_engine_item_id(p->engine, item);
    if (!id)
        return SR_OK; /* evicted while its list was held back: nothing to publish */
    out_list_t *o = &b->sims[b->n_sims++];
    if (!(o->id = sr_arena_strndup(b->arena, id, strlen(id))))
        return SR_ERR_NOMEM;
    o->n = n;
    return (o->items = copy_items(p, b, list, n)) ? SR_OK : SR_ERR_NOMEM;
}

/* Items whose deferred neighbour list is due (sim.publish.interval.ms). */
static sr_err_t take_due_sims(sr_pipeline_t *p, size_t *n_due) {
    int64_t mono = sr_clock_mono_ms();
    uint32_t item;
    *n_due = 0;
    while (p->sims_flush_all ? sr_sim_throttle_next_held(p->sim_throttle, mono, &item)
                             : sr_sim_throttle_next_due(p->sim_throttle, mono, &item)) {
        if (*n_due == p->sims_due_cap) {
            size_t cap = p->sims_due_cap ? p->sims_due_cap * 2 : 1024;
            uint32_t *due = realloc(p->sims_due, cap * sizeof *due);
            if (!due)
                return SR_ERR_NOMEM;
            p->sims_due = due;
            p->sims_due_cap = cap;
        }
        p->sims_due[(*n_due)++] = item;
    }
    return SR_OK;
}

static const sr_alert_level_t alert_levels[] = {
    [SR_CHURN_LOW] = SR_ALERT_LOW, [SR_CHURN_MEDIUM] = SR_ALERT_MEDIUM, [SR_CHURN_HIGH] = SR_ALERT_HIGH};

/* The status page's trending list, from the engine's, once per batch: the
 * HTTP thread reads the copy, never the engine. */
static void publish_trending(sr_pipeline_t *p) {
    sr_neighbour_t top[SR_STATUS_TRENDING];
    const char *ids[SR_STATUS_TRENDING];
    double scores[SR_STATUS_TRENDING];
    size_t n = sr_trending_top(sr_engine_trending(p->engine), top, SR_STATUS_TRENDING);
    for (size_t k = 0; k < n; k++) {
        ids[k] = sr_engine_item_id(p->engine, top[k].item);
        scores[k] = top[k].score;
    }
    sr_status_set_trending(p->status, ids, scores, n);
}

/* Flushes the engine into the open batch, produces its Kafka records and
 * hands it to the sink thread. */
static void close_batch(sr_pipeline_t *p) {
    batch_t *b = p->open;
    /* A failed pipeline hands no more batches to the sinks: the open one may
     * hold the record that failed (its offset is noted before it is decoded),
     * and acknowledging it would store an offset past that record, which the
     * consumer's close then commits. It is freed unacknowledged instead. */
    if (!b || atomic_load(&p->failed))
        return;
    p->open = NULL;
    int64_t close_start_ns = sr_clock_mono_ns();
    sr_prom_hist_observe(&p->metrics.batch_open_us,
                         (uint64_t)(sr_clock_mono_ms() - p->open_since_ms) * 1000);
    sr_prom_hist_observe(&p->metrics.batch_records, b->n_records);
    const sr_outbox_t *ob;
    if (sr_engine_flush(p->engine, &ob) != SR_OK) {
        fail(p, "%s", "out of memory flushing the engine");
        batch_free(b);
        return;
    }
    char errstr[256];
    int64_t now = sr_clock_wall_ms();
    size_t n_due = 0;
    if (take_due_sims(p, &n_due) != SR_OK)
        goto nomem;
    b->model_version = (int64_t)ob->model_version;
    b->recos = sr_arena_alloc(b->arena, (ob->n_recos + 1) * sizeof *b->recos);
    b->sims = sr_arena_alloc(b->arena, (ob->n_sims + n_due + 1) * sizeof *b->sims);
    b->churns = sr_arena_alloc(b->arena, (ob->n_alerts + 1) * sizeof *b->churns);
    if (!b->recos || !b->sims || !b->churns)
        goto nomem;
    for (size_t r = 0; r < ob->n_recos; r++) {
        const sr_reco_update_t *u = &ob->recos[r];
        out_list_t *o = &b->recos[b->n_recos++];
        if (!(o->id = sr_arena_strndup(b->arena, u->user_id, strlen(u->user_id))))
            goto nomem;
        o->n = u->n_items;
        o->event_ts_ms = u->event_ts_ms;
        o->seq = (int64_t)u->seq;
        if (!(o->items = copy_items(p, b, u->items, u->n_items)))
            goto nomem;
        if (sr_recall_sampled(p->recall, u->user_id, strlen(u->user_id))) {
            size_t n = u->n_items < (size_t)p->cfg->engine.reco.k ? u->n_items
                                                                  : (size_t)p->cfg->engine.reco.k;
            for (size_t i = 0; i < n; i++) p->recall_items[i] = u->items[i].item;
            sr_recall_published(p->recall, u->user, p->recall_items, n);
        }
        sr_reco_record_t rec = {.user_id = o->id, .items = o->items, .n_items = o->n,
                                .model_version = b->model_version, .event_ts_ms = o->event_ts_ms,
                                .produced_ts_ms = now, .seq = o->seq};
        size_t len;
        if (sr_encode_reco(p->encoder, &rec, OUTPUT_SCHEMA_ID_RECO, p->record, sizeof p->record,
                           &len, errstr, sizeof errstr) != SR_OK) {
            fail(p, "cannot encode a RecommendationUpdate: %s", errstr);
            goto fail;
        }
        if (produce(p, b, p->cfg->io.output_reco_topic, o->id, len) != SR_OK)
            goto fail;
    }
    int64_t mono = sr_clock_mono_ms();
    for (size_t s = 0; s < ob->n_sims; s++) {
        const sr_sim_update_t *u = &ob->sims[s];
        bool write_now;
        if (sr_sim_throttle_offer(p->sim_throttle, u->item, mono, &write_now) != SR_OK)
            goto nomem;
        if (write_now && add_sim(p, b, u->item, u->neighbours, u->n_neighbours) != SR_OK)
            goto nomem;
    }
    for (size_t d = 0; d < n_due; d++) {
        size_t n = sr_sim_neighbours(sr_engine_sim(p->engine), p->sims_due[d], p->sim_list,
                                     (size_t)p->cfg->engine.sim_neighbours);
        if (add_sim(p, b, p->sims_due[d], p->sim_list, n) != SR_OK)
            goto nomem;
    }
    for (size_t a = 0; a < ob->n_alerts; a++) {
        const sr_alert_update_t *u = &ob->alerts[a];
        sr_feature_weight_t features[SR_CHURN_TOP_FEATURES];
        size_t n_features = 0;
        for (int t = 0; t < SR_CHURN_TOP_FEATURES && u->alert.top_feature[t] >= 0; t++) {
            features[n_features].feature = sr_churn_feature_name(u->alert.top_feature[t]);
            features[n_features++].weight = u->alert.top_weight[t];
        }
        sr_alert_record_t rec = {
            .alert_id = u->alert_id, .user_id = u->user_id, .probability = u->alert.probability,
            .level = alert_levels[u->alert.level],
            .state = u->alert.state == SR_CHURN_FIRING ? SR_ALERT_FIRING : SR_ALERT_RESOLVED,
            .last_seen_ms = u->alert.last_seen_ms, .features = features, .n_features = n_features,
            .event_ts_ms = u->alert.event_ts_ms};
        size_t len;
        if (sr_encode_alert(p->encoder, &rec, OUTPUT_SCHEMA_ID_ALERT, p->record, sizeof p->record,
                            &len, errstr, sizeof errstr) != SR_OK) {
            fail(p, "cannot encode a ChurnAlert: %s", errstr);
            goto fail;
        }
        if (produce(p, b, p->cfg->io.output_churn_topic, u->user_id, len) != SR_OK)
            goto fail;
        const char *churn_user = sr_arena_strndup(b->arena, u->user_id, strlen(u->user_id));
        if (!churn_user)
            goto nomem;
        out_churn_t *c = &b->churns[b->n_churns++];
        c->user_id = churn_user;
        c->p = u->alert.probability;
        c->level = sr_churn_level_name(u->alert.level);
        c->ts_ms = u->alert.event_ts_ms;
        c->firing = u->alert.state == SR_CHURN_FIRING;
        b->n_alerts++;
        b->n_firing += u->alert.state == SR_CHURN_FIRING;
    }
    sr_auc_window_add(p->churn_auc, ob->labels, ob->n_labels);
    publish_trending(p);
    sr_engine_stats_t st;
    sr_engine_stats(p->engine, &st);
    atomic_store_explicit(&p->users, st.users, memory_order_relaxed);
    atomic_store_explicit(&p->items, st.items, memory_order_relaxed);
    atomic_store_explicit(&p->users_evicted, st.users_evicted, memory_order_relaxed);
    atomic_store_explicit(&p->items_evicted, st.items_evicted, memory_order_relaxed);
    sr_prom_hist_observe(&p->metrics.batch_close_us, elapsed_us(close_start_ns));
    pthread_mutex_lock(&p->lock);
    queue_push(&p->to_sink, b);
    if (p->to_sink.n + p->sink_held > atomic_load_explicit(&p->queued_max, memory_order_relaxed))
        atomic_store_explicit(&p->queued_max, p->to_sink.n + p->sink_held, memory_order_relaxed);
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return;
nomem:
    fail(p, "%s", "out of memory closing a batch");
fail:
    /* records already produced reference b: it must outlive their reports */
    while (atomic_load(&b->pending_kafka) > 0) sr_kafka_out_poll(p->out, 10);
    batch_free(b);
}

static position_t *find_in(position_t *list, size_t n, const char *topic, size_t topic_len,
                           int32_t partition) {
    for (size_t k = 0; k < n; k++)
        if (list[k].partition == partition && strlen(list[k].topic) == topic_len &&
            memcmp(list[k].topic, topic, topic_len) == 0)
            return &list[k];
    return NULL;
}

static position_t *find_position(sr_pipeline_t *p, const char *topic, int32_t partition) {
    return find_in(p->positions, p->n_positions, topic, strlen(topic), partition);
}

static sr_err_t set_position(sr_pipeline_t *p, const char *topic, int32_t partition,
                             int64_t next) {
    position_t *pos = find_position(p, topic, partition);
    if (!pos) {
        position_t *grown = realloc(p->positions, (p->n_positions + 1) * sizeof *grown);
        if (!grown)
            return SR_ERR_NOMEM;
        p->positions = grown;
        pos = &p->positions[p->n_positions];
        if (!(pos->topic = strdup(topic)))
            return SR_ERR_NOMEM;
        pos->partition = partition;
        p->n_positions++;
    }
    pos->next = next;
    return SR_OK;
}

static void drop_position(sr_pipeline_t *p, const char *topic, int32_t partition) {
    position_t *pos = find_position(p, topic, partition);
    if (!pos)
        return;
    free(pos->topic);
    *pos = p->positions[--p->n_positions];
}

/* ---- the lag table ------------------------------------------------------ */

static lag_entry_t *find_lag(sr_pipeline_t *p, const char *topic, int32_t partition) {
    for (size_t k = 0; k < p->n_lag; k++)
        if (p->lag[k].partition == partition && strcmp(p->lag[k].topic, topic) == 0)
            return &p->lag[k];
    return NULL;
}

/* Caller holds lag_lock. NULL: out of memory (the partition's lag goes unreported). */
static lag_entry_t *add_lag(sr_pipeline_t *p, const char *topic, int32_t partition) {
    lag_entry_t *e = find_lag(p, topic, partition);
    if (e)
        return e;
    if (p->n_lag == p->cap_lag) {
        size_t cap = p->cap_lag ? p->cap_lag * 2 : 16;
        lag_entry_t *grown = realloc(p->lag, cap * sizeof *grown);
        if (!grown)
            return NULL;
        p->lag = grown;
        p->cap_lag = cap;
    }
    e = &p->lag[p->n_lag++];
    snprintf(e->topic, sizeof e->topic, "%s", topic);
    e->partition = partition;
    e->next = e->last_ts_ms = -1;
    return e;
}

static void note_acked(sr_pipeline_t *p, const out_offset_t *o) {
    pthread_mutex_lock(&p->lag_lock);
    lag_entry_t *e = add_lag(p, o->topic, o->partition);
    if (e) {
        e->next = o->next;
        if (o->last_ts_ms >= 0)
            e->last_ts_ms = o->last_ts_ms;
    }
    pthread_mutex_unlock(&p->lag_lock);
}

/* Stores the offsets of acknowledged batches, oldest first. */
static void store_acked(sr_pipeline_t *p) {
    pthread_mutex_lock(&p->lock);
    batch_t *b = queue_take_all(&p->acked);
    pthread_mutex_unlock(&p->lock);
    /* After a failure (a lost Kafka record among them) no later batch's
     * offsets may be stored: the close would commit past the lost one. */
    bool failed = atomic_load(&p->failed);
    while (b) {
        batch_t *next = b->next;
        for (size_t k = 0; k < b->n_offsets && !failed; k++) {
            if (!p->ckpt_on) /* with checkpoints, a checkpoint stores them (see there) */
                sr_kafka_in_store(p->in, b->offsets[k].topic, b->offsets[k].partition,
                                  b->offsets[k].next);
            if (set_position(p, b->offsets[k].topic, b->offsets[k].partition,
                             b->offsets[k].next) != SR_OK)
                fail(p, "%s", "out of memory tracking input positions");
            note_acked(p, &b->offsets[k]);
        }
        /* the page's recent alerts are the acknowledged ones, as the counters */
        for (size_t c = 0; c < b->n_churns; c++)
            sr_status_add_alert(p->status, b->churns[c].user_id, b->churns[c].p,
                                b->churns[c].level, b->churns[c].firing, b->churns[c].ts_ms);
        bump(&p->metrics.alerts_firing, b->n_firing);
        bump(&p->metrics.alerts_resolved, b->n_alerts - b->n_firing);
        atomic_fetch_add_explicit(&p->events_applied, b->n_events, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->dead_letters, b->n_dead_letters, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->alerts, b->n_alerts, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->batches_acked, 1, memory_order_relaxed);
        batch_free(b);
        b = next;
    }
}

/* Closes the open batch and waits until the sinks acknowledged everything. */
static void drain(sr_pipeline_t *p) {
    close_batch(p);
    pthread_mutex_lock(&p->lock);
    while ((p->to_sink.n > 0 || p->sink_held > 0) && p->sink_running && !atomic_load(&p->failed))
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    store_acked(p);
}

/* ---- checkpoints ----------------------------------------------------------
 *
 * Every checkpoint.interval.s (and on a graceful stop) the engine's whole
 * state goes to checkpoint.dir with the input positions it covers. First
 * the pipeline drains -- the open batch is closed and every batch is
 * acknowledged by Redis and Kafka -- so the state covers exactly the
 * offsets stored, and a restart that starts at those positions neither
 * loses an output nor applies an event twice. Neighbour lists held back by
 * sim.publish.interval.ms are written with that last batch for the same
 * reason. Then the process forks: the child writes the frozen copy of the
 * state (checkpoint.h: no allocation, write(2) only) while the engine goes
 * on; the engine pauses for the drain and the fork only. The app data of a
 * checkpoint is the input partition of each user (int32 per dense user id),
 * which the partition handoff needs.
 *
 * With checkpoints, the offsets committed to Kafka are the positions of the
 * newest checkpoint in place, stored once its file is renamed -- not those
 * of every acknowledged batch. A start that finds no checkpoint position
 * for a partition reads it from the committed offset, and that must be
 * where the loaded state's knowledge of the partition ends: committing past
 * the newest checkpoint (as auto-commit after each batch did) made a daemon
 * killed before its first checkpoint restart with an empty state at an
 * offset past the events it had applied, which were then lost to the
 * model. The committed lag now trails by up to checkpoint.interval.s. For
 * the same reason a checkpoint follows every assignment even when no
 * record was read: restored users and positions change what the state
 * covers, and the restored positions get committed. */

static void clear_covers(sr_pipeline_t *p) {
    for (size_t k = 0; k < p->n_ckpt_covers; k++) free(p->ckpt_covers[k].topic);
    free(p->ckpt_covers);
    p->ckpt_covers = NULL;
    p->n_ckpt_covers = 0;
}

/* Keeps a copy of a forked checkpoint's positions: by the time the file is
 * in place, partitions may have moved on or been given up. */
static sr_err_t remember_covers(sr_pipeline_t *p, const sr_checkpoint_meta_t *meta) {
    clear_covers(p);
    if (meta->n_positions == 0)
        return SR_OK;
    if (!(p->ckpt_covers = calloc(meta->n_positions, sizeof *p->ckpt_covers)))
        return SR_ERR_NOMEM;
    for (size_t k = 0; k < meta->n_positions; k++, p->n_ckpt_covers++) {
        position_t *c = &p->ckpt_covers[k];
        if (!(c->topic = strdup(meta->positions[k].topic)))
            return SR_ERR_NOMEM;
        c->partition = meta->positions[k].partition;
        c->next = meta->positions[k].next_offset;
    }
    return SR_OK;
}

/* A checkpoint is in place: its positions become the next commit. A
 * partition given up meanwhile is skipped by kafka_in (a stale store). */
static void store_covered(sr_pipeline_t *p, const char *topic, int32_t partition, int64_t next) {
    if (p->in && sr_kafka_in_store(p->in, topic, partition, next) != SR_OK) {
        sr_log_ctx_t ctx = {.component = "checkpoint", .topic = topic, .partition = partition,
                            .offset = next};
        sr_log(SR_LOG_WARN, &ctx, "cannot store the checkpoint's offset for the next commit");
    }
}

static void log_skipped_checkpoint(void *opaque, const char *path, sr_err_t err,
                                   const char *reason) {
    (void)opaque;
    sr_log_ctx_t ctx = {.component = "checkpoint", .error = reason};
    sr_log(SR_LOG_WARN, &ctx, "checkpoint %s is %s, trying the one before it", path,
           sr_err_name(err));
}

/* Loads the newest valid checkpoint, if any: the engine, the positions
 * the partitions start from, and each user's partition. */
static sr_err_t load_checkpoint(sr_pipeline_t *p, char *errstr, size_t errstr_size) {
    sr_checkpoint_t *ck = NULL;
    sr_err_t err = sr_checkpoint_load_latest(&p->ckpt_cfg, &p->cfg->engine, log_skipped_checkpoint,
                                             p, &ck, errstr, errstr_size);
    if (err != SR_OK || !ck)
        return err;
    const sr_checkpoint_info_t *info = sr_checkpoint_info(ck);
    for (size_t k = 0; k < info->n_positions && err == SR_OK; k++) {
        position_t *grown = realloc(p->ck_positions, (p->n_ck_positions + 1) * sizeof *grown);
        if (!grown) {
            err = SR_ERR_NOMEM;
            break;
        }
        p->ck_positions = grown;
        position_t *pos = &p->ck_positions[p->n_ck_positions];
        if (!(pos->topic = strdup(info->positions[k].topic))) {
            err = SR_ERR_NOMEM;
            break;
        }
        pos->partition = info->positions[k].partition;
        pos->next = info->positions[k].next_offset;
        p->n_ck_positions++;
    }
    size_t n_users = info->app_len / sizeof(int32_t);
    if (err == SR_OK && n_users > 0) {
        if (!(p->user_partition = malloc(n_users * sizeof *p->user_partition)))
            err = SR_ERR_NOMEM;
        else {
            memcpy(p->user_partition, info->app, n_users * sizeof *p->user_partition);
            p->user_partition_cap = n_users;
        }
    }
    if (err == SR_OK) {
        p->engine = sr_checkpoint_take_engine(ck);
        p->ck_first_assignment = true;
        sr_engine_stats_t st;
        sr_engine_stats(p->engine, &st);
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("checkpoint"),
               "restored %s: %zu users, %zu items, %llu events, %zu partition positions",
               info->path, st.users, st.items, (unsigned long long)st.events,
               p->n_ck_positions);
    } else {
        sr_seterr(err, errstr, errstr_size, "out of memory restoring a checkpoint");
    }
    sr_checkpoint_destroy(ck);
    return err;
}

/* Collects a finished writer (waiting for it if `wait`) and puts its file
 * in place, or reports why there is none. */
static void reap_checkpoint(sr_pipeline_t *p, bool wait) {
    if (!p->ckpt_child)
        return;
    int status;
    pid_t r = waitpid(p->ckpt_child, &status, wait ? 0 : WNOHANG);
    if (r == 0)
        return;
    p->ckpt_child = 0;
    /* The writer's own report, not its exit status, says whether the file is
     * complete: a tool around the process may change the status (valgrind's
     * leak check at the child's exit sees the parent's other threads' memory
     * as lost, and exits 99 after a good write). The child has exited, so
     * the byte is there or the pipe is at its end. */
    uint8_t result = 1;
    bool reported = r > 0 && read(p->ckpt_result_fd, &result, 1) == 1 && result == 0;
    close(p->ckpt_result_fd);
    p->ckpt_result_fd = -1;
    char errstr[512];
    sr_log_ctx_t ctx = SR_LOG_CTX("checkpoint");
    if (!reported) {
        sr_checkpoint_abort(&p->ckpt_file);
        clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not written: the writer %s (the previous one stays)",
               r < 0 ? "could not be waited for" : !WIFEXITED(status) ? "was killed" : "failed");
        return;
    }
    if (sr_checkpoint_commit(&p->ckpt_cfg, &p->ckpt_file, errstr, sizeof errstr) != SR_OK &&
        !p->ckpt_file.committed) {
        sr_checkpoint_abort(&p->ckpt_file);
        clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        ctx.error = errstr;
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not written (the previous one stays)");
        return;
    }
    for (size_t k = 0; k < p->n_ckpt_covers; k++)
        store_covered(p, p->ckpt_covers[k].topic, p->ckpt_covers[k].partition,
                      p->ckpt_covers[k].next);
    clear_covers(p);
    p->ckpt_records_in = p->ckpt_pending_records_in;
    p->ckpt_assignments = p->ckpt_pending_assignments;
    int64_t took = sr_clock_mono_ms() - p->ckpt_started_ms;
    atomic_fetch_add(&p->checkpoints_written, 1);
    atomic_store(&p->checkpoint_last_wall_ms, sr_clock_wall_ms());
    atomic_store(&p->checkpoint_last_write_ms, took);
    sr_log(SR_LOG_INFO, &ctx, "checkpoint %s written in %lld ms", p->ckpt_file.path,
           (long long)took);
}

/* The positions the engine state covers and each user's partition, in the
 * checkpoint's terms; *pos_out is the caller's to free (its topics and the
 * app array are borrowed). The state covers the partitions processed here
 * and, until their first assignment, those of the checkpoint it was loaded
 * from: a checkpoint written before then (the first periodic one, or the
 * final one of a daemon stopped while it waits for its group) must still
 * say where they stand, or the next start would read them from the
 * committed offset and apply what the state already holds a second time. */
static sr_err_t checkpoint_meta(sr_pipeline_t *p, sr_checkpoint_meta_t *meta,
                                sr_checkpoint_position_t **pos_out) {
    sr_checkpoint_position_t *pos = calloc(p->n_positions + p->n_ck_positions + 1, sizeof *pos);
    if (!pos)
        return SR_ERR_NOMEM;
    size_t n = 0;
    for (size_t k = 0; k < p->n_positions; k++, n++) {
        pos[n].topic = p->positions[k].topic;
        pos[n].partition = p->positions[k].partition;
        pos[n].next_offset = p->positions[k].next;
    }
    for (size_t k = 0; k < p->n_ck_positions; k++) {
        const position_t *ck = &p->ck_positions[k];
        if (find_position(p, ck->topic, ck->partition))
            continue;
        pos[n].topic = ck->topic;
        pos[n].partition = ck->partition;
        pos[n++].next_offset = ck->next;
    }
    size_t users = sr_engine_user_slots(p->engine);
    if (users > p->user_partition_cap)
        users = p->user_partition_cap;
    *pos_out = pos;
    *meta = (sr_checkpoint_meta_t){.positions = pos, .n_positions = n,
                                   .app = p->user_partition,
                                   .app_len = users * sizeof *p->user_partition};
    return SR_OK;
}

/* Drains, then writes a checkpoint: in a forked child (the engine goes on at
 * once), or in this process when `in_process` (the final one on a stop). */
static void take_checkpoint(sr_pipeline_t *p, bool in_process) {
    reap_checkpoint(p, true); /* one at a time */
    int64_t start_ns = sr_clock_mono_ns();
    p->ckpt_pending_records_in = atomic_load(&p->records_in);
    p->ckpt_pending_assignments = p->assignments;
    p->sims_flush_all = true; /* held-back neighbour lists go with this batch */
    if (!p->open && sr_sim_throttle_pending(p->sim_throttle) > 0 && (p->open = batch_new()))
        p->open_since_ms = sr_clock_mono_ms();
    drain(p);
    p->sims_flush_all = false;
    if (atomic_load(&p->failed))
        return;
    char errstr[512];
    sr_log_ctx_t ctx = {.component = "checkpoint", .error = errstr};
    sr_checkpoint_meta_t meta;
    sr_checkpoint_position_t *pos = NULL;
    if (checkpoint_meta(p, &meta, &pos) != SR_OK) {
        fail(p, "%s", "out of memory writing a checkpoint");
        return;
    }
    p->ckpt_started_ms = sr_clock_mono_ms();
    if (in_process) {
        char path[SR_CHECKPOINT_PATH_MAX];
        if (sr_checkpoint_save(&p->ckpt_cfg, &meta, p->engine, path, errstr, sizeof errstr) !=
            SR_OK) {
            atomic_fetch_add(&p->checkpoint_errors, 1);
            sr_log(SR_LOG_ERROR, &ctx, "checkpoint not written (the previous one stays)");
        } else {
            for (size_t k = 0; k < meta.n_positions; k++)
                store_covered(p, meta.positions[k].topic, meta.positions[k].partition,
                              meta.positions[k].next_offset);
            p->ckpt_records_in = p->ckpt_pending_records_in;
            p->ckpt_assignments = p->ckpt_pending_assignments;
            atomic_fetch_add(&p->checkpoints_written, 1);
            atomic_store(&p->checkpoint_last_wall_ms, sr_clock_wall_ms());
            sr_log(SR_LOG_INFO, &SR_LOG_CTX("checkpoint"), "checkpoint %s written in %lld ms",
                   path, (long long)(sr_clock_mono_ms() - p->ckpt_started_ms));
        }
        free(pos);
        return;
    }
    if (remember_covers(p, &meta) != SR_OK) {
        clear_covers(p);
        free(pos);
        fail(p, "%s", "out of memory writing a checkpoint");
        return;
    }
    if (sr_checkpoint_begin(&p->ckpt_cfg, &p->ckpt_file, errstr, sizeof errstr) != SR_OK) {
        clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not started (the previous one stays)");
        free(pos);
        return;
    }
    int result_pipe[2];
    if (pipe2(result_pipe, O_CLOEXEC) != 0) {
        snprintf(errstr, sizeof errstr, "pipe: %s", strerror(errno));
        sr_checkpoint_abort(&p->ckpt_file);
        clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not started (the previous one stays)");
        free(pos);
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        /* The child of a threaded process: write(2) and _exit only. */
        sr_err_t err = sr_checkpoint_write_file(&p->ckpt_file, &meta, p->engine, errstr,
                                                sizeof errstr);
        if (err != SR_OK) {
            static const char prefix[] = "streamrec: checkpoint writer: ";
            ssize_t ignored = write(2, prefix, sizeof prefix - 1);
            ignored = write(2, errstr, strlen(errstr));
            ignored = write(2, "\n", 1);
            (void)ignored;
        }
        uint8_t result = err == SR_OK ? 0 : 1;
        ssize_t ignored = write(result_pipe[1], &result, 1);
        (void)ignored;
        _exit(result);
    }
    free(pos);
    close(result_pipe[1]);
    if (child < 0) {
        close(result_pipe[0]);
        sr_checkpoint_abort(&p->ckpt_file);
        clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        snprintf(errstr, sizeof errstr, "fork: %s", strerror(errno));
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not started (the previous one stays)");
        return;
    }
    p->ckpt_result_fd = result_pipe[0];
    p->ckpt_child = child;
    int64_t pause_ns = sr_clock_mono_ns() - start_ns;
    if (pause_ns > atomic_load(&p->checkpoint_max_pause_ns))
        atomic_store(&p->checkpoint_max_pause_ns, pause_ns);
}

static void maybe_checkpoint(sr_pipeline_t *p) {
    if (!p->ckpt_on)
        return;
    reap_checkpoint(p, false);
    /* The drain before a checkpoint waits for the sinks: with Redis away
     * or the outbox full it held the poll loop for the whole outage, and a
     * consumer that does not poll for max.poll.interval.ms leaves its
     * group. A due checkpoint waits until the sinks keep up again. */
    if (atomic_load(&p->paused) || !atomic_load(&p->redis_up))
        return;
    int64_t now = sr_clock_mono_ms();
    if (!p->ckpt_child && now >= p->ckpt_next_ms) {
        /* Nothing read and nothing assigned since the newest checkpoint in
         * place: another would say the same. A failed one is tried again at
         * the next interval, idle input or not. */
        if (atomic_load(&p->records_in) != p->ckpt_records_in ||
            p->assignments != p->ckpt_assignments || atomic_load(&p->checkpoints_written) == 0)
            take_checkpoint(p, false);
        p->ckpt_next_ms = now + (int64_t)p->cfg->io.checkpoint_interval_s * 1000;
    }
}

/* ---- partition handoff ---------------------------------------------------
 *
 * User state is keyed by user and so by input partition (producers key the
 * input by user id; input topics must be co-partitioned, as for a Kafka
 * Streams join). When a partition is revoked, the state of its users is
 * written to the same-numbered partition of the changelog topic, keyed by
 * user id, followed by a position record: the input offset that state
 * covers. Once Kafka has all of it, those users are forgotten here. The
 * partition's next owner reads the changelog partition to its end before
 * it reads any input of the partition (later records of a key replace
 * earlier ones, so a compacted topic is enough) and starts the input at the
 * last position record -- not at the committed offset, which a commit that
 * failed during the rebalance may have left behind, and which could then
 * make the new owner count some events twice. So a rebalance neither loses
 * nor duplicates any user's state. Item state (factors, neighbour lists)
 * is not moved: every instance keeps its own replica. */

/* Position records are keyed by a NUL byte and the input topic: no user id
 * contains a NUL byte (the engine refuses such ids), so no user can collide. */
static const char position_key[] = "\0position:";
#define POSITION_KEY_LEN (sizeof position_key - 1)

static bool in_list(const rd_kafka_topic_partition_list_t *parts, int32_t partition) {
    for (int k = 0; k < parts->cnt; k++)
        if (parts->elems[k].partition == partition)
            return true;
    return false;
}

/* Queues the revoked partitions' users and positions; false on a produce error. */
static bool write_handoff(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts,
                          size_t slots, batch_t *h, uint64_t *n_users) {
    char errstr[256];
    for (uint32_t u = 0; u < slots; u++) {
        int32_t part = p->user_partition[u];
        if (part < 0 || !in_list(parts, part))
            continue;
        size_t len = sr_engine_export_user(p->engine, u, p->user_state,
                                           sr_engine_user_state_max(p->engine));
        if (len == 0)
            continue;
        const char *id = sr_engine_user_id(p->engine, u);
        atomic_fetch_add(&h->pending_kafka, 1);
        if (sr_kafka_out_produce(p->out, p->changelog_topic, part, id, strlen(id), p->user_state,
                                 len, NULL, h, errstr, sizeof errstr) != SR_OK)
            goto fail;
        (*n_users)++;
    }
    for (int k = 0; k < parts->cnt; k++) {
        const position_t *pos = find_position(p, parts->elems[k].topic, parts->elems[k].partition);
        if (!pos)
            continue; /* nothing read here: the last position record still holds */
        char key[POSITION_KEY_LEN + 256], value[24];
        size_t topic_len = strlen(pos->topic);
        if (topic_len >= 256)
            continue;
        memcpy(key, position_key, POSITION_KEY_LEN);
        memcpy(key + POSITION_KEY_LEN, pos->topic, topic_len);
        int n = snprintf(value, sizeof value, "%lld", (long long)pos->next);
        atomic_fetch_add(&h->pending_kafka, 1);
        if (sr_kafka_out_produce(p->out, p->changelog_topic, pos->partition, key,
                                 POSITION_KEY_LEN + topic_len, value, (size_t)n, NULL, h, errstr,
                                 sizeof errstr) != SR_OK)
            goto fail;
    }
    return true;
fail:
    atomic_fetch_sub(&h->pending_kafka, 1);
    fail(p, "handing users over: cannot write to state.changelog.topic: %s", errstr);
    return false;
}

static void hand_off(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts) {
    size_t slots = sr_engine_user_slots(p->engine);
    if (slots > p->user_partition_cap)
        slots = p->user_partition_cap;
    uint64_t n = 0;
    if (rd_kafka_assignment_lost(sr_kafka_in_handle(p->in))) {
        sr_log(SR_LOG_WARN, &SR_LOG_CTX("pipeline"),
               "partition assignment lost: the state of its users is dropped here; their new "
               "owner restores it from the changelog");
    } else {
        batch_t *h = batch_new();
        if (!h) {
            fail(p, "%s", "out of memory handing users over");
            return;
        }
        write_handoff(p, parts, slots, h, &n);
        while (atomic_load(&h->pending_kafka) > 0) sr_kafka_out_poll(p->out, 10);
        bool written = !atomic_load(&h->kafka_failed) && !atomic_load(&p->failed);
        batch_free(h);
        if (!written)
            return; /* keep the users: the pipeline stops with the reason */
    }
    for (uint32_t u = 0; u < slots; u++)
        if (p->user_partition[u] >= 0 && in_list(parts, p->user_partition[u])) {
            sr_engine_forget_user(p->engine, u);
            sr_recall_forget(p->recall, u);
            p->user_partition[u] = -1;
        }
    for (int k = 0; k < parts->cnt; k++)
        drop_position(p, parts->elems[k].topic, parts->elems[k].partition);
    atomic_fetch_add(&p->users_handed_off, n);
}

/* Restoring reads the changelog partitions twice: first only their position
 * records, to decide for each partition whether the changelog or this
 * instance's own checkpoint has the newer state, then -- for the partitions
 * the changelog wins -- its user records. */
typedef struct restoring {
    sr_pipeline_t *p;
    bool importing;
    position_t *found; /* pass 1: the last position record per input partition */
    size_t n_found;
} restoring_t;


static void note_position_record(restoring_t *r, const rd_kafka_message_t *m) {
    char value[24];
    size_t topic_len = m->key_len - POSITION_KEY_LEN;
    const char *topic = (const char *)m->key + POSITION_KEY_LEN;
    if (!m->payload || m->len == 0 || m->len >= sizeof value)
        return;
    memcpy(value, m->payload, m->len);
    value[m->len] = '\0';
    char *end;
    long long next = strtoll(value, &end, 10);
    if (*end != '\0' || next < 0)
        return;
    position_t *pos = find_in(r->found, r->n_found, topic, topic_len, m->partition);
    if (!pos) {
        position_t *grown = realloc(r->found, (r->n_found + 1) * sizeof *grown);
        char *name = strndup(topic, topic_len);
        if (!grown || !name) {
            free(name);
            if (grown)
                r->found = grown;
            fail(r->p, "%s", "out of memory restoring users");
            return;
        }
        r->found = grown;
        pos = &r->found[r->n_found++];
        pos->topic = name;
        pos->partition = m->partition;
    }
    pos->next = next;
}

static void on_changelog_record(void *opaque, const rd_kafka_message_t *m) {
    restoring_t *r = opaque;
    sr_pipeline_t *p = r->p;
    char errstr[256];
    if (!m->key || m->key_len == 0)
        return;
    if (m->key_len >= POSITION_KEY_LEN && memcmp(m->key, position_key, POSITION_KEY_LEN) == 0) {
        if (!r->importing)
            note_position_record(r, m);
        return;
    }
    if (!r->importing)
        return;
    uint32_t u;
    if (!m->payload) { /* a tombstone: the user has no state any more */
        if ((u = sr_engine_find_user(p->engine, m->key, m->key_len)) != SR_INTERN_NONE)
            sr_engine_forget_user(p->engine, u);
        return;
    }
    if (sr_engine_import_user(p->engine, m->key, m->key_len, m->payload, m->len, errstr,
                              sizeof errstr) != SR_OK) {
        sr_log_ctx_t ctx = {.component = "pipeline", .topic = p->changelog_topic,
                            .partition = m->partition, .offset = m->offset, .error = errstr};
        sr_log(SR_LOG_WARN, &ctx, "user state skipped");
        return;
    }
    sr_event_t who = {.user_id = {m->key, m->key_len}};
    if (note_user_partition(p, &who, m->partition) != SR_OK)
        fail(p, "%s", "out of memory restoring users");
    atomic_fetch_add(&p->users_restored, 1);
}

static void free_positions(position_t *list, size_t n) {
    for (size_t k = 0; k < n; k++) free(list[k].topic);
    free(list);
}

/* Forgets the users whose events came from input partition `partition`. */
static void forget_partition(sr_pipeline_t *p, int32_t partition) {
    size_t slots = sr_engine_user_slots(p->engine);
    for (uint32_t u = 0; u < slots && u < p->user_partition_cap; u++)
        if (p->user_partition[u] == partition) {
            sr_engine_forget_user(p->engine, u);
            p->user_partition[u] = -1;
        }
}

static bool read_changelog(sr_pipeline_t *p, restoring_t *r, const int32_t *partitions,
                           size_t n) {
    char errstr[384];
    const char *bootstrap = sr_config_kafka_value(p->cfg, "bootstrap.servers");
    if (!p->restore &&
        !(p->restore = sr_kafka_restore_new(bootstrap, p->consumer_props, p->n_consumer_props,
                                            errstr, sizeof errstr))) {
        fail(p, "restoring users: %s", errstr);
        return false;
    }
    if (sr_kafka_restore_read(p->restore, p->changelog_topic, partitions, n, RESTORE_TIMEOUT_MS,
                              on_changelog_record, r, NULL, errstr, sizeof errstr) != SR_OK) {
        char why[900];
        snprintf(why, sizeof why,
                 "%s: create state.changelog.topic with as many partitions as the input topics "
                 "(cleanup.policy=compact), or set state.handoff=false",
                 errstr);
        fail(p, "restoring users from %s", why);
        return false;
    }
    return true;
}

/* Sets where each assigned partition starts and restores the users the
 * changelog has newer state for: a partition starts at the newer of its
 * last position record in the changelog (its users then come from there)
 * and the position in this instance's checkpoint (its users are already
 * here); with neither, at the committed offset. */
static void restore_users(sr_pipeline_t *p, rd_kafka_topic_partition_list_t *parts) {
    int32_t *wanted = calloc((size_t)parts->cnt + 1, sizeof *wanted);
    int32_t *take = calloc((size_t)parts->cnt + 1, sizeof *take);
    size_t n_wanted = 0, n_take = 0;
    restoring_t r = {.p = p};
    if (!wanted || !take) {
        fail(p, "%s", "out of memory restoring users");
        goto done;
    }
    for (int k = 0; k < parts->cnt; k++) {
        bool seen = false;
        for (size_t j = 0; j < n_wanted; j++) seen |= wanted[j] == parts->elems[k].partition;
        if (!seen)
            wanted[n_wanted++] = parts->elems[k].partition;
    }
    if (p->handoff && !read_changelog(p, &r, wanted, n_wanted))
        goto done;
    for (int k = 0; k < parts->cnt; k++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[k];
        size_t topic_len = strlen(tp->topic);
        position_t *cl = find_in(r.found, r.n_found, tp->topic, topic_len, tp->partition);
        position_t *ck = find_in(p->ck_positions, p->n_ck_positions, tp->topic, topic_len,
                                 tp->partition);
        if (cl && (!ck || cl->next > ck->next)) {
            tp->offset = cl->next;
            bool listed = false;
            for (size_t j = 0; j < n_take; j++) listed |= take[j] == tp->partition;
            if (!listed)
                take[n_take++] = tp->partition;
        } else if (ck) {
            tp->offset = ck->next;
        }
        if (ck) { /* used up: a later assignment of it is a handoff */
            free(ck->topic);
            *ck = p->ck_positions[--p->n_ck_positions];
        }
        /* a handoff of it before any batch must say where its state stands */
        if (tp->offset >= 0 && set_position(p, tp->topic, tp->partition, tp->offset) != SR_OK) {
            fail(p, "%s", "out of memory tracking input positions");
            goto done;
        }
    }
    for (size_t j = 0; j < n_take; j++) forget_partition(p, take[j]);
    r.importing = true;
    if (n_take > 0)
        read_changelog(p, &r, take, n_take);
done:
    free_positions(r.found, r.n_found);
    free(wanted);
    free(take);
}

/* After a restart from a checkpoint, the first assignment says which
 * partitions are still this instance's: the users of the others moved on
 * with their partitions, and are forgotten here. */
static void forget_unassigned(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts) {
    p->ck_first_assignment = false;
    size_t slots = sr_engine_user_slots(p->engine);
    for (uint32_t u = 0; u < slots && u < p->user_partition_cap; u++)
        if (p->user_partition[u] >= 0 && !in_list(parts, p->user_partition[u])) {
            sr_engine_forget_user(p->engine, u);
            p->user_partition[u] = -1;
        }
    for (size_t k = 0; k < p->n_ck_positions;)
        if (!in_list(parts, p->ck_positions[k].partition)) {
            free(p->ck_positions[k].topic);
            p->ck_positions[k] = p->ck_positions[--p->n_ck_positions];
        } else {
            k++;
        }
}

/* "clicks [0,1,3]"-style list of a rebalance's partitions, for its log line. */
static void describe_parts(const rd_kafka_topic_partition_list_t *parts, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < parts->cnt && len + 1 < size; k++) {
        bool new_topic = k == 0 || strcmp(parts->elems[k].topic, parts->elems[k - 1].topic) != 0;
        int n = snprintf(out + len, size - len, "%s%s%s%d", k == 0 ? "" : new_topic ? "] " : ",",
                         new_topic ? parts->elems[k].topic : "", new_topic ? " [" : "",
                         (int)parts->elems[k].partition);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    if (parts->cnt > 0 && len + 1 < size)
        snprintf(out + len, size - len, "]");
}

static void on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    sr_pipeline_t *p = opaque;
    char which[512];
    describe_parts(parts, which, sizeof which);
    if (parts->cnt > 0)
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "partitions revoked: %s", which);
    atomic_fetch_add(&p->metrics.revokes, 1);
    drain(p); /* the revoked partitions' offsets must be stored before they go */
    if (p->handoff && !atomic_load(&p->failed))
        hand_off(p, parts);
    atomic_fetch_sub(&p->partitions, parts->cnt);
    pthread_mutex_lock(&p->lag_lock);
    for (int k = 0; k < parts->cnt; k++) {
        lag_entry_t *e = find_lag(p, parts->elems[k].topic, parts->elems[k].partition);
        if (e)
            *e = p->lag[--p->n_lag];
    }
    pthread_mutex_unlock(&p->lag_lock);
}

/* Before the partitions are assigned: their users are restored, and each
 * starts where its restored state ends. */
static void on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts) {
    sr_pipeline_t *p = opaque;
    char which[512];
    describe_parts(parts, which, sizeof which);
    if (parts->cnt > 0)
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "partitions assigned: %s", which);
    atomic_fetch_add(&p->metrics.assigns, 1);
    uint64_t restored = atomic_load(&p->users_restored);
    if (p->ck_first_assignment)
        forget_unassigned(p, parts);
    if ((p->handoff || p->n_ck_positions > 0) && !atomic_load(&p->failed))
        restore_users(p, parts);
    if (parts->cnt > 0)
        p->assignments++;
    if (atomic_load(&p->users_restored) > restored)
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "restored %llu users from %s",
               (unsigned long long)(atomic_load(&p->users_restored) - restored),
               p->changelog_topic);
    pthread_mutex_lock(&p->lag_lock);
    for (int k = 0; k < parts->cnt; k++)
        add_lag(p, parts->elems[k].topic, parts->elems[k].partition);
    pthread_mutex_unlock(&p->lag_lock);
    atomic_fetch_add(&p->partitions, parts->cnt);
}

/* ---- the sink thread ---------------------------------------------------- */

static sr_err_t write_redis(sr_pipeline_t *p, const batch_t *b, char *errstr, size_t errstr_size) {
    int64_t now = sr_clock_wall_ms();
    sr_redis_batch_begin(p->redis);
    for (size_t r = 0; r < b->n_recos; r++) {
        const out_list_t *o = &b->recos[r];
        sr_err_t err = sr_redis_put_reco(p->redis, o->id, o->items, o->n, b->model_version,
                                         o->event_ts_ms, now, o->seq);
        if (err != SR_OK)
            return sr_seterr(err, errstr, errstr_size, "reco:{%s}: %s", o->id, sr_err_name(err));
    }
    for (size_t s = 0; s < b->n_sims; s++)
        sr_redis_put_sim(p->redis, b->sims[s].id, b->sims[s].items, b->sims[s].n);
    for (size_t c = 0; c < b->n_churns; c++) {
        const out_churn_t *o = &b->churns[c];
        sr_redis_put_churn(p->redis, o->user_id, o->p, o->level, o->ts_ms);
    }
    return sr_redis_batch_commit(p->redis, errstr, errstr_size);
}

/* Writes a batch to Redis, retrying with backoff while Redis is away or
 * refusing: the batch (and its offsets) is kept, and the consumer pauses
 * meanwhile as batches pile up. */
static void write_redis_retrying(sr_pipeline_t *p, const batch_t *b) {
    char errstr[512];
    int delay_ms = RETRY_MIN_MS;
    for (;;) {
        int64_t start_ns = sr_clock_mono_ns();
        if (write_redis(p, b, errstr, sizeof errstr) == SR_OK) {
            sr_prom_hist_observe(&p->metrics.redis_write_us, elapsed_us(start_ns));
            if (!atomic_exchange(&p->redis_up, 1))
                sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "Redis writes succeed again");
            return;
        }
        atomic_store(&p->redis_up, 0);
        atomic_fetch_add_explicit(&p->redis_retries, 1, memory_order_relaxed);
        if (delay_ms == RETRY_MIN_MS) {
            sr_log_ctx_t ctx = SR_LOG_CTX("pipeline");
            ctx.error = errstr;
            sr_log(SR_LOG_WARN, &ctx, "Redis write failed, retrying with backoff");
        }
        struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay_ms = delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay_ms * 2;
        pthread_mutex_lock(&p->lock);
        bool give_up = p->sink_stop && atomic_load(&p->failed);
        pthread_mutex_unlock(&p->lock);
        if (give_up)
            return;
    }
}

/* Hands back, oldest first, the batches whose Kafka records are all
 * acknowledged; a batch with a lost record is dropped, never acknowledged. */
static void release_acknowledged(sr_pipeline_t *p, queue_t *waiting) {
    while (waiting->head && atomic_load(&waiting->head->pending_kafka) == 0) {
        batch_t *b = waiting->head;
        waiting->head = b->next;
        if (!waiting->head)
            waiting->tail = NULL;
        waiting->n--;
        pthread_mutex_lock(&p->lock);
        p->sink_held--;
        if (atomic_load(&b->kafka_failed))
            batch_free(b);
        else
            queue_push(&p->acked, b);
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
}

/* The sink writes each batch to Redis as soon as it arrives and only then
 * waits for the batch's Kafka acknowledgements -- while writing the next
 * batches: one Redis round trip and one broker acknowledgement in series
 * per batch halved the pipeline's throughput. */
static void *sink_main(void *arg) {
    sr_pipeline_t *p = arg;
    pthread_setname_np(pthread_self(), "sr-sink"); /* for top -H and the benchmark */
    queue_t waiting = {0}; /* written to Redis, Kafka acknowledgements outstanding */
    for (;;) {
        pthread_mutex_lock(&p->lock);
        /* Idle, it still wakes now and then to poll the producer: its
         * statistics (broker state for /readyz) arrive through poll. */
        struct timespec idle_until;
        clock_gettime(CLOCK_REALTIME, &idle_until);
        idle_until.tv_sec += 1;
        while (!p->to_sink.head && !p->sink_stop && !waiting.head)
            if (pthread_cond_timedwait(&p->changed, &p->lock, &idle_until) == ETIMEDOUT)
                break;
        batch_t *b = p->to_sink.head;
        if (b) {
            p->to_sink.head = b->next;
            if (!p->to_sink.head)
                p->to_sink.tail = NULL;
            p->to_sink.n--;
            p->sink_held++;
        }
        bool stop = p->sink_stop;
        pthread_mutex_unlock(&p->lock);
        if (!b && stop && !waiting.head)
            break;
        if (b) {
            write_redis_retrying(p, b);
            int64_t now = sr_clock_wall_ms();
            for (size_t r = 0; r < b->n_records; r++)
                if (b->produced_ms[r] >= 0) {
                    uint64_t ms = (uint64_t)(now > b->produced_ms[r] ? now - b->produced_ms[r] : 0);
                    sr_hist_record(&p->freshness, ms);
                    sr_prom_hist_observe(&p->metrics.freshness_ms, ms);
                }
            atomic_fetch_add_explicit(&p->recos_written, b->n_recos, memory_order_relaxed);
            atomic_fetch_add_explicit(&p->sims_written, b->n_sims, memory_order_relaxed);
            queue_push(&waiting, b);
        }
        sr_kafka_out_poll(p->out, b ? 0 : 5);
        release_acknowledged(p, &waiting);
    }
    return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static void consumer_log(void *opaque, int level, rd_kafka_resp_err_t err, const char *facility,
                         const char *message) {
    (void)opaque;
    sr_log_kafka("kafka.consumer", level, err ? rd_kafka_err2name(err) : NULL, facility, message);
}

static void producer_log(void *opaque, int level, rd_kafka_resp_err_t err, const char *facility,
                         const char *message) {
    (void)opaque;
    sr_log_kafka("kafka.producer", level, err ? rd_kafka_err2name(err) : NULL, facility, message);
}

static void consumer_stats(void *opaque, const char *json, size_t len) {
    sr_kafka_stats_slot_put(&((sr_pipeline_t *)opaque)->consumer_stats, json, len);
}

static void producer_stats(void *opaque, const char *json, size_t len) {
    sr_kafka_stats_slot_put(&((sr_pipeline_t *)opaque)->producer_stats, json, len);
}

/* Histogram bounds, in each histogram's base unit. Freshness has a one
 * second target; batches live batch.max.ms (20 ms) to batch.backlog.max.ms
 * (250 ms); a Redis batch write takes ~1-50 ms; Kafka acknowledgements take
 * a few ms with linger.ms=2 and up to message.timeout.ms (30 s) when a
 * broker is away. */
static const uint64_t freshness_ms_bounds[] = {5, 10, 25, 50, 100, 250, 500,
                                               1000, 2500, 5000, 10000, 30000};
static const uint64_t batch_records_bounds[] = {1, 10, 100, 1000, 5000, 10000,
                                                25000, 50000, 100000, 250000, 1000000};
static const uint64_t batch_open_us_bounds[] = {1000, 5000, 10000, 20000, 50000, 100000,
                                                250000, 500000, 1000000, 2500000};
static const uint64_t batch_close_us_bounds[] = {100, 500, 1000, 5000, 10000, 25000,
                                                 50000, 100000, 250000, 500000, 1000000};
static const uint64_t redis_write_us_bounds[] = {100, 500, 1000, 2500, 5000, 10000,
                                                 25000, 50000, 100000, 250000, 1000000};
static const uint64_t kafka_delivery_us_bounds[] = {1000, 2500, 5000, 10000, 25000, 50000,
                                                    100000, 250000, 500000, 1000000,
                                                    5000000, 30000000};
#define BOUNDS(a) (a), sizeof(a) / sizeof *(a)

static void metrics_init(sr_pipeline_metrics_t *m) {
    memset(m, 0, sizeof *m);
    for (int t = 0; t < SR_EVENT__COUNT; t++) atomic_init(&m->events_by_type[t], 0);
    for (int e = 0; e < SR_ERR__COUNT; e++) atomic_init(&m->dead_letters_by_reason[e], 0);
    sr_prom_hist_init(&m->freshness_ms, BOUNDS(freshness_ms_bounds), 1e3);
    sr_prom_hist_init(&m->batch_records, BOUNDS(batch_records_bounds), 1);
    sr_prom_hist_init(&m->batch_open_us, BOUNDS(batch_open_us_bounds), 1e6);
    sr_prom_hist_init(&m->batch_close_us, BOUNDS(batch_close_us_bounds), 1e6);
    sr_prom_hist_init(&m->redis_write_us, BOUNDS(redis_write_us_bounds), 1e6);
    sr_prom_hist_init(&m->kafka_delivery_us, BOUNDS(kafka_delivery_us_bounds), 1e6);
}

static char *read_file(const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "input.schema.file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory reading %s", path);
                return NULL;
            }
            text = t;
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!text && (text = malloc(1)))
        len = 0;
    if (text)
        text[len] = '\0';
    return text;
}

sr_pipeline_t *sr_pipeline_new(const sr_config_t *cfg, char *errstr, size_t errstr_size) {
    sr_pipeline_t *p = calloc(1, sizeof *p);
    char **topics = NULL;
    sr_kafka_kv_t *props = NULL;
    if (!p) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->cfg = cfg;
    p->ckpt_result_fd = -1;
    sr_hist_init(&p->freshness);
    metrics_init(&p->metrics);
    sr_kafka_stats_slot_init(&p->consumer_stats);
    sr_kafka_stats_slot_init(&p->producer_stats);
    pthread_mutex_init(&p->lag_lock, NULL);
    atomic_init(&p->redis_up, 1);
    p->dlq_log_limit.burst = p->consumer_log_limit.burst = LOG_BURST;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    p->framing = strcmp(cfg->io.input_format, "avro") == 0 ? SR_FRAMING_BARE : SR_FRAMING_CONFLUENT;

    const char *bootstrap = sr_config_kafka_value(cfg, "bootstrap.servers");
    if (!bootstrap) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                  "kafka.bootstrap.servers is not set: point it at a Kafka cluster, "
                  "or run `streamrec demo` for an embedded one");
        goto fail;
    }
    if (!sr_config_dlq_topic(cfg, p->dlq_topic, sizeof p->dlq_topic)) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "dlq.topic: cannot derive a topic name");
        goto fail;
    }
    p->handoff = cfg->io.state_handoff;
    if (!sr_config_changelog_topic(cfg, p->changelog_topic, sizeof p->changelog_topic)) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                  "state.changelog.topic: cannot derive a topic name");
        goto fail;
    }
    if (cfg->io.checkpoint_dir[0]) {
        p->ckpt_on = true;
        sr_checkpoint_config_defaults(&p->ckpt_cfg);
        p->ckpt_cfg.dir = cfg->io.checkpoint_dir;
        p->ckpt_cfg.keep = cfg->io.checkpoint_keep;
        p->ckpt_next_ms = sr_clock_mono_ms() + (int64_t)cfg->io.checkpoint_interval_s * 1000;
        if (load_checkpoint(p, errstr, errstr_size) != SR_OK)
            goto fail;
    }
    if ((!p->engine && !(p->engine = sr_engine_new(&cfg->engine, errstr, errstr_size))) ||
        !(p->decoder = sr_click_decoder_new(errstr, errstr_size)) ||
        !(p->encoder = sr_output_encoder_new(errstr, errstr_size)))
        goto fail;
    if (!(p->user_state = malloc(sr_engine_user_state_max(p->engine))) ||
        !(p->sim_throttle = sr_sim_throttle_new(cfg->io.sim_publish_interval_ms)) ||
        !(p->sim_list = calloc((size_t)cfg->engine.sim_neighbours, sizeof *p->sim_list)) ||
        !(p->recall = sr_recall_new(cfg->io.metrics_recall_sample, (size_t)cfg->engine.reco.k,
                                    (size_t)cfg->io.metrics_quality_window)) ||
        !(p->recall_items = calloc((size_t)cfg->engine.reco.k, sizeof *p->recall_items)) ||
        !(p->churn_auc = sr_auc_window_new((size_t)cfg->io.metrics_quality_window)) ||
        !(p->status = sr_status_new()))
        goto nomem;
    if (cfg->io.schema_registry_url[0]) {
        sr_schema_registry_config_t scfg;
        sr_schema_registry_config_init(&scfg);
        scfg.url = cfg->io.schema_registry_url;
        scfg.request_timeout_ms = cfg->io.schema_registry_timeout_ms < REGISTRY_REQUEST_MAX_MS
                                      ? cfg->io.schema_registry_timeout_ms
                                      : REGISTRY_REQUEST_MAX_MS;
        if (!(p->registry = sr_schema_registry_new(&scfg, errstr, errstr_size)))
            goto fail;
    }
    if (cfg->io.input_schema_file[0]) {
        if (!(p->writer_schema = read_file(cfg->io.input_schema_file, errstr, errstr_size)) ||
            sr_click_decoder_set_bare_schema(p->decoder, p->writer_schema, errstr, errstr_size) !=
                SR_OK)
            goto fail;
    }

    /* Redis first: without it nothing can be acknowledged. */
    sr_redis_sink_config_t rcfg;
    sr_redis_sink_config_init(&rcfg);
    char host[256];
    if (sr_redis_parse_url(cfg->io.redis_url, host, sizeof host, &rcfg.port, &rcfg.db, errstr,
                           errstr_size) != SR_OK ||
        sr_redis_reco_format_parse(cfg->io.redis_reco_format, &rcfg.reco_format, errstr,
                                   errstr_size) != SR_OK)
        goto fail;
    rcfg.host = host;
    rcfg.key_ttl_s = cfg->io.redis_key_ttl_s;
    if (!(p->redis = sr_redis_sink_new(&rcfg, errstr, errstr_size)))
        goto fail;

    props = calloc(cfg->n_kafka + 1, sizeof *props);
    if (!props)
        goto nomem;
    sr_kafka_out_config_t ocfg = {.bootstrap = bootstrap, .props = props,
                                  .n_props = sr_config_kafka_props(cfg, SR_KAFKA_PRODUCER, props),
                                  .on_delivery = on_delivery, .on_log = producer_log,
                                  .on_stats = producer_stats,
                                  .stats_interval_ms = STATS_INTERVAL_MS,
                                  .delivery_latency_us = &p->metrics.kafka_delivery_us,
                                  .opaque = p};
    if (!(p->out = sr_kafka_out_new(&ocfg, errstr, errstr_size)))
        goto fail;

    /* input.topics: a comma list */
    size_t n_topics = 0;
    topics = calloc(strlen(cfg->io.input_topics) / 2 + 2, sizeof *topics);
    if (!topics)
        goto nomem;
    char *copy = strdup(cfg->io.input_topics), *save = NULL;
    if (!copy)
        goto nomem;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        topics[n_topics++] = t;
    sr_kafka_in_config_t icfg = {.bootstrap = bootstrap, .group_id = cfg->io.input_group_id,
                                 .topics = topics, .n_topics = n_topics, .props = props,
                                 .n_props = sr_config_kafka_props(cfg, SR_KAFKA_CONSUMER, props),
                                 .on_assign = on_assign, .on_revoke = on_revoke,
                                 .on_log = consumer_log, .on_stats = consumer_stats,
                                 .stats_interval_ms = STATS_INTERVAL_MS, .opaque = p};
    p->consumer_props = props; /* kept for the restore consumer; strings are cfg's */
    p->n_consumer_props = icfg.n_props;
    props = NULL;
    p->in = sr_kafka_in_new(&icfg, errstr, errstr_size);
    free(copy);
    free(topics);
    topics = NULL;
    if (!p->in)
        goto fail;

    if (pthread_create(&p->sink, NULL, sink_main, p) != 0)
        goto nomem;
    p->sink_running = true;
    return p;
nomem:
    sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory starting the pipeline");
fail:
    free(topics);
    free(props);
    sr_pipeline_destroy(p);
    return NULL;
}

/* An error record from the consumer (a partition gone, an offset out of
 * range): logged, rate-limited, and otherwise skipped. */
static void log_consumer_error(sr_pipeline_t *p, const rd_kafka_message_t *m) {
    uint64_t held_back;
    if (!sr_log_allow(&p->consumer_log_limit, &held_back))
        return;
    sr_log_ctx_t ctx = {.component = "kafka.consumer",
                        .topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL,
                        .partition = m->rkt ? m->partition : -1,
                        .offset = m->rkt ? m->offset : -1,
                        .error = rd_kafka_err2name(m->err)};
    sr_log(SR_LOG_WARN, &ctx, "consumer: %s%s", rd_kafka_message_errstr(m),
           held_back ? "; more errors were not logged" : "");
}

sr_err_t sr_pipeline_run(sr_pipeline_t *p, const volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    rd_kafka_message_t *msgs[POLL_MAX];
    const int batch_ms = p->cfg->io.batch_max_ms;
    const int backlog_ms = p->cfg->io.batch_backlog_max_ms;
    const size_t batch_users = (size_t)p->cfg->io.batch_max_users;
    bool backlog = false; /* the last poll was full: more input is waiting */
    p->stop = stop;
    while (!*stop && !atomic_load(&p->failed)) {
        atomic_store_explicit(&p->metrics.loop_mono_ms, sr_clock_mono_ms(), memory_order_relaxed);
        /* consume_batch_queue waits its whole timeout unless POLL_MAX records
         * arrive first: short polls keep that wait out of the freshness. */
        int timeout = POLL_WAIT_MS;
        if (p->open && !atomic_load(&p->paused)) { /* paused: it cannot close yet anyway */
            int64_t left = p->open_since_ms + batch_ms - sr_clock_mono_ms();
            timeout = left < 1 ? 0 : left < POLL_WAIT_MS ? (int)left : POLL_WAIT_MS;
        }
        size_t n = sr_kafka_in_poll(p->in, msgs, POLL_MAX, timeout);
        backlog = n == POLL_MAX;
        for (size_t k = 0; k < n && k < SR_ENGINE_PREFETCH_AHEAD; k++) hint_record(p, msgs[k]);
        for (size_t k = 0; k < n; k++) {
            if (k + SR_ENGINE_PREFETCH_AHEAD < n)
                hint_record(p, msgs[k + SR_ENGINE_PREFETCH_AHEAD]);
            if (!msgs[k]->err)
                handle_record(p, msgs[k]);
            else if (msgs[k]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_consumer_error(p, msgs[k]);
            rd_kafka_message_destroy(msgs[k]);
        }
        /* Two bounds. Batches the sink has not taken yet: Redis is behind.
         * All batches not yet acknowledged, also those the sink wrote to
         * Redis and holds until Kafka acknowledges their records: counting
         * only the former, a slow broker let batches (and librdkafka's
         * queue) pile up without bound while Redis kept up. That bound is
         * wide because acknowledgements normally overlap several batches,
         * and pausing the consumer then would cost throughput. */
        pthread_mutex_lock(&p->lock);
        size_t queued = p->to_sink.n, outbox = p->to_sink.n + p->sink_held;
        pthread_mutex_unlock(&p->lock);
        bool full = queued >= MAX_QUEUED_BATCHES || outbox >= SR_PIPELINE_OUTBOX_BATCHES_MAX;
        /* While input is waiting, a batch grows (up to batch.backlog.max.ms):
         * each busy user is then recomputed once for more of its events,
         * which is what lets the engine catch up. */
        int64_t age = p->open ? sr_clock_mono_ms() - p->open_since_ms : 0;
        if (p->open && !full &&
            ((age >= batch_ms && (!backlog || age >= backlog_ms)) ||
             sr_engine_dirty_users(p->engine) >= batch_users))
            close_batch(p);
        /* Backpressure: the sinks are behind; stop fetching but keep polling. */
        if (full && !atomic_load(&p->paused)) {
            sr_kafka_in_pause(p->in);
            atomic_store(&p->paused, 1);
        } else if (queued < MAX_QUEUED_BATCHES / 2 && outbox < SR_PIPELINE_OUTBOX_BATCHES_MAX / 2 &&
                   atomic_load(&p->paused)) {
            sr_kafka_in_resume(p->in);
            atomic_store(&p->paused, 0);
        }
        store_acked(p);
        maybe_checkpoint(p);
    }
    if (!atomic_load(&p->failed))
        drain(p);
    /* The last checkpoint before the partitions are given up: a restart
     * goes on from exactly here. */
    if (p->ckpt_on && !atomic_load(&p->failed))
        take_checkpoint(p, true);
    char why[256];
    sr_err_t err = sr_kafka_in_close(p->in, why, sizeof why);
    if (atomic_load(&p->failed))
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s", p->failure);
    /* A final commit refused (say, by a rebalance under way) loses nothing:
     * the partitions' next owner starts at the handoff's position record,
     * or without handoff re-reads from the last commit (at-least-once). */
    if (err != SR_OK) {
        sr_log_ctx_t ctx = SR_LOG_CTX("pipeline");
        ctx.error = why;
        sr_log(SR_LOG_WARN, &ctx, "closing the consumer");
    }
    return SR_OK;
}

void sr_pipeline_stats(sr_pipeline_t *p, sr_pipeline_stats_t *out) {
    out->records_in = atomic_load(&p->records_in);
    out->events_applied = atomic_load(&p->events_applied);
    out->dead_letters = atomic_load(&p->dead_letters);
    out->batches_acked = atomic_load(&p->batches_acked);
    out->recos_written = atomic_load(&p->recos_written);
    out->sims_written = atomic_load(&p->sims_written);
    out->alerts = atomic_load(&p->alerts);
    out->redis_retries = atomic_load(&p->redis_retries);
    out->users = atomic_load(&p->users);
    out->items = atomic_load(&p->items);
    out->paused = atomic_load(&p->paused);
    out->queued_batches_max = atomic_load(&p->queued_max);
    out->partitions = atomic_load(&p->partitions);
    out->users_handed_off = atomic_load(&p->users_handed_off);
    out->users_restored = atomic_load(&p->users_restored);
    out->users_evicted = atomic_load(&p->users_evicted);
    out->items_evicted = atomic_load(&p->items_evicted);
    out->checkpoints_written = atomic_load(&p->checkpoints_written);
    out->checkpoint_errors = atomic_load(&p->checkpoint_errors);
    out->checkpoint_max_pause_ns = (uint64_t)atomic_load(&p->checkpoint_max_pause_ns);
    out->checkpoint_last_wall_ms = atomic_load(&p->checkpoint_last_wall_ms);
}

const sr_hist_t *sr_pipeline_freshness(const sr_pipeline_t *p) { return &p->freshness; }

const sr_pipeline_metrics_t *sr_pipeline_metrics(const sr_pipeline_t *p) { return &p->metrics; }

const sr_recall_t *sr_pipeline_recall(const sr_pipeline_t *p) { return p->recall; }

sr_auc_window_t *sr_pipeline_churn_auc(const sr_pipeline_t *p) { return p->churn_auc; }

sr_status_t *sr_pipeline_status(const sr_pipeline_t *p) { return p->status; }

size_t sr_pipeline_lag(sr_pipeline_t *p, sr_pipeline_lag_t *out, size_t max) {
    sr_kafka_stats_t st;
    bool have_stats =
        sr_kafka_stats_slot_parse(&p->consumer_stats, STATS_MAX_AGE_MS, &st, NULL, 0) == SR_OK;
    int64_t now = sr_clock_wall_ms();
    rd_kafka_t *rk = sr_kafka_in_handle(p->in);
    pthread_mutex_lock(&p->lag_lock);
    size_t n = p->n_lag;
    for (size_t k = 0; k < n && k < max; k++) {
        const lag_entry_t *e = &p->lag[k];
        sr_pipeline_lag_t *o = &out[k];
        memcpy(o->topic, e->topic, sizeof o->topic);
        o->partition = e->partition;
        o->offsets = o->stored_offsets = -1;
        for (size_t i = 0; have_stats && i < st.n_partitions; i++)
            if (st.partitions[i].partition == e->partition &&
                strcmp(st.partitions[i].topic, e->topic) == 0) {
                o->offsets = st.partitions[i].consumer_lag;
                o->stored_offsets = st.partitions[i].consumer_lag_stored;
            }
        /* Caught up when nothing is past the last acknowledged record (the
         * high watermark is librdkafka's cached one: no broker round trip);
         * otherwise the age of that record approximates how far behind the
         * input is -- from above, by at most the gap to the next record. */
        int64_t low = -1, high = -1;
        rd_kafka_get_watermark_offsets(rk, e->topic, e->partition, &low, &high);
        if (e->next >= 0 && high >= 0 && e->next >= high)
            o->seconds = 0;
        else if (e->last_ts_ms >= 0)
            o->seconds = now > e->last_ts_ms ? (double)(now - e->last_ts_ms) / 1000.0 : 0;
        else
            o->seconds = -1;
    }
    pthread_mutex_unlock(&p->lag_lock);
    if (have_stats)
        sr_kafka_stats_free(&st);
    return n;
}

static bool kafka_client_up(sr_kafka_stats_slot_t *slot, const char *client, char *reason,
                            size_t reason_size) {
    sr_kafka_stats_t st;
    char why[256];
    if (sr_kafka_stats_slot_parse(slot, STATS_MAX_AGE_MS, &st, why, sizeof why) != SR_OK) {
        snprintf(reason, reason_size, "Kafka %s: %s", client, why);
        return false;
    }
    bool up = st.brokers_up > 0;
    if (!up)
        snprintf(reason, reason_size, "Kafka %s: none of its %d brokers is connected", client,
                 st.brokers);
    sr_kafka_stats_free(&st);
    return up;
}

bool sr_pipeline_failed(sr_pipeline_t *p, char *reason, size_t reason_size) {
    if (atomic_load(&p->failed) != 1)
        return false;
    snprintf(reason, reason_size, "%s", p->failure);
    return true;
}

sr_err_t sr_pipeline_ready(sr_pipeline_t *p, char *reason, size_t reason_size) {
    char failure[sizeof p->failure];
    if (sr_pipeline_failed(p, failure, sizeof failure)) {
        snprintf(reason, reason_size, "stopped: %s", failure);
        return SR_ERR_IO;
    }
    /* Checkpoint restore, once it exists, belongs first: until the state is
     * loaded the outputs would be computed from an empty model. */
    if (atomic_load(&p->partitions) <= 0) {
        snprintf(reason, reason_size, "no input partitions assigned yet (joining group %s)",
                 p->cfg->io.input_group_id);
        return SR_ERR_EOF;
    }
    if (!atomic_load(&p->redis_up)) {
        snprintf(reason, reason_size, "the last Redis write failed (%s); retrying",
                 p->cfg->io.redis_url);
        return SR_ERR_IO;
    }
    if (!kafka_client_up(&p->consumer_stats, "consumer", reason, reason_size) ||
        !kafka_client_up(&p->producer_stats, "producer", reason, reason_size))
        return SR_ERR_IO;
    return SR_OK;
}

int64_t sr_pipeline_loop_age_ms(const sr_pipeline_t *p) {
    int64_t last = atomic_load_explicit(&p->metrics.loop_mono_ms, memory_order_relaxed);
    return last ? sr_clock_mono_ms() - last : 0;
}

void sr_pipeline_destroy(sr_pipeline_t *p) {
    if (!p)
        return;
    reap_checkpoint(p, true);
    if (p->sink_running) {
        pthread_mutex_lock(&p->lock);
        p->sink_stop = true;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->sink, NULL);
    }
    batch_free(p->open);
    for (batch_t *b = queue_take_all(&p->to_sink); b;) {
        batch_t *next = b->next;
        batch_free(b);
        b = next;
    }
    for (batch_t *b = queue_take_all(&p->acked); b;) {
        batch_t *next = b->next;
        batch_free(b);
        b = next;
    }
    sr_kafka_in_destroy(p->in);
    sr_kafka_restore_destroy(p->restore);
    free(p->consumer_props);
    free(p->user_partition);
    free(p->user_state);
    sr_sim_throttle_destroy(p->sim_throttle);
    free(p->sims_due);
    free(p->sim_list);
    for (size_t k = 0; k < p->n_positions; k++) free(p->positions[k].topic);
    free(p->positions);
    free_positions(p->ck_positions, p->n_ck_positions);
    clear_covers(p);
    sr_kafka_out_destroy(p->out);
    sr_redis_sink_destroy(p->redis);
    sr_recall_destroy(p->recall);
    free(p->recall_items);
    sr_auc_window_destroy(p->churn_auc);
    sr_status_destroy(p->status);
    free(p->lag);
    pthread_mutex_destroy(&p->lag_lock);
    sr_kafka_stats_slot_destroy(&p->consumer_stats);
    sr_kafka_stats_slot_destroy(&p->producer_stats);
    sr_output_encoder_destroy(p->encoder);
    sr_click_decoder_destroy(p->decoder);
    sr_schema_registry_destroy(p->registry);
    sr_engine_destroy(p->engine);
    free(p->writer_schema);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
