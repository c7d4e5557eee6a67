/* streamrec pipeline: creation, destruction and the engine thread's poll
 * loop -- batch timing and backpressure. The rest lives in the files that
 * pipeline_internal.h lists. */
#include "pipeline_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_WAIT_MS 5          /* longest a consumer poll waits */
#define MAX_QUEUED_BATCHES 4    /* waiting for the sink: beyond this the consumer pauses */
#define STATS_INTERVAL_MS 1000    /* librdkafka statistics: lag and broker state */
#define LOG_BURST 5               /* per-record warnings per second */
#define REGISTRY_REQUEST_MAX_MS 10000 /* one request; retries: schema.registry.timeout.ms */

void pl_fail(sr_pipeline_t *p, const char *fmt, const char *detail) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&p->failed, &expected, 2)) {
        snprintf(p->failure, sizeof p->failure, fmt, detail);
        atomic_store(&p->failed, 1);
    }
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
    pl_metrics_init(&p->metrics);
    sr_kafka_stats_slot_init(&p->consumer_stats);
    sr_kafka_stats_slot_init(&p->producer_stats);
    pthread_mutex_init(&p->lag_lock, NULL);
    atomic_init(&p->redis_up, 1);
    atomic_init(&p->watermark_ms, INT64_MIN); /* no event yet */
    p->dlq_log_limit.burst = p->consumer_log_limit.burst = p->refused_log_limit.burst = LOG_BURST;
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
        if (pl_load_checkpoint(p, errstr, errstr_size) != SR_OK)
            goto fail;
    }
    if ((!p->engine && !(p->engine = sr_engine_new(&cfg->engine, errstr, errstr_size))) ||
        !(p->decoder = sr_click_decoder_new(errstr, errstr_size)) ||
        !(p->encoder = sr_output_encoder_new(errstr, errstr_size)) ||
        !(p->sink_encoder = sr_output_encoder_new(errstr, errstr_size)))
        goto fail;
    if (!(p->user_state = malloc(sr_engine_user_state_max(p->engine))) ||
        !(p->sim_throttle = sr_sim_throttle_new(cfg->io.sim_publish_interval_ms)) ||
        !(p->input_watermark = sr_input_watermark_new(cfg->io.input_idle_ms)) ||
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
    p->reco_guard_always = strcmp(cfg->io.redis_reco_guard, "always") == 0;
    if (!(p->redis = sr_redis_sink_new(&rcfg, errstr, errstr_size)))
        goto fail;

    props = calloc(cfg->n_kafka + 1, sizeof *props);
    if (!props)
        goto nomem;
    sr_kafka_out_config_t ocfg = {.bootstrap = bootstrap, .props = props,
                                  .n_props = sr_config_kafka_props(cfg, SR_KAFKA_PRODUCER, props),
                                  .on_delivery = pl_on_delivery, .on_log = producer_log,
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
                                 .on_assign = pl_on_assign, .on_revoke = pl_on_revoke,
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

    if (pthread_create(&p->sink, NULL, pl_sink_main, p) != 0)
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

int64_t pl_batch_limit_ms(size_t n_polled, int64_t newest_ts_ms, int64_t now_ms,
                          int64_t batch_ms, int64_t backlog_ms) {
    if (newest_ts_ms < 0) /* no timestamp: only a full poll says the input is behind */
        return n_polled >= PL_POLL_MAX ? backlog_ms : batch_ms;
    int64_t limit = (now_ms - newest_ts_ms) / PL_BATCH_AGE_SHARE;
    return limit < batch_ms ? batch_ms : limit > backlog_ms ? backlog_ms : limit;
}

/* The open batch's limit after a poll of n records. */
static int64_t batch_limit_ms(rd_kafka_message_t **msgs, size_t n, int64_t batch_ms,
                              int64_t backlog_ms) {
    rd_kafka_timestamp_type_t type;
    int64_t newest = n > 0 ? rd_kafka_message_timestamp(msgs[n - 1], &type) : -1;
    return pl_batch_limit_ms(n, newest, sr_clock_wall_ms(), batch_ms, backlog_ms);
}

/* After every poll: partitions that went idle, or delivered again, change
 * the hold. True when the engine's watermark rose, having run the sweeps it
 * came to: their alerts wait for a flush. */
static bool hold_watermark(sr_pipeline_t *p) {
    sr_input_watermark_polled(p->input_watermark, sr_clock_mono_ms(), atomic_load(&p->paused));
    return sr_engine_hold_watermark(p->engine, sr_input_watermark_hold(p->input_watermark));
}

sr_err_t sr_pipeline_run(sr_pipeline_t *p, const volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    rd_kafka_message_t *msgs[PL_POLL_MAX];
    const int batch_ms = p->cfg->io.batch_max_ms;
    const int backlog_ms = p->cfg->io.batch_backlog_max_ms;
    const size_t batch_users = (size_t)p->cfg->io.batch_max_users;
    int64_t limit_ms = batch_ms; /* how long the open batch may stay open */
    p->stop = stop;
    while (!*stop && !atomic_load(&p->failed)) {
        atomic_store_explicit(&p->metrics.loop_mono_ms, sr_clock_mono_ms(), memory_order_relaxed);
        /* consume_batch_queue waits its whole timeout unless PL_POLL_MAX records
         * arrive first: short polls keep that wait out of the freshness. */
        int timeout = POLL_WAIT_MS;
        if (p->open && !atomic_load(&p->paused)) { /* paused: it cannot close yet anyway */
            int64_t left = p->open_since_ms + batch_ms - sr_clock_mono_ms();
            timeout = left < 1 ? 0 : left < POLL_WAIT_MS ? (int)left : POLL_WAIT_MS;
        }
        size_t n = sr_kafka_in_poll(p->in, msgs, PL_POLL_MAX, timeout);
        if (n > 0) /* an empty poll says nothing about the input's age */
            limit_ms = batch_limit_ms(msgs, n, batch_ms, backlog_ms);
        for (size_t k = 0; k < n && k < SR_ENGINE_PREFETCH_AHEAD; k++) pl_hint_record(p, msgs[k]);
        for (size_t k = 0; k < n; k++) {
            if (k + SR_ENGINE_PREFETCH_AHEAD < n)
                pl_hint_record(p, msgs[k + SR_ENGINE_PREFETCH_AHEAD]);
            if (!msgs[k]->err)
                pl_handle_record(p, msgs[k]);
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
        /* While input is behind, a batch grows (see pl_batch_limit_ms):
         * each busy user is then recomputed once for more of its events,
         * which is what lets the engine catch up. */
        int64_t age = p->open ? sr_clock_mono_ms() - p->open_since_ms : 0;
        if (p->open && !full &&
            (age >= limit_ms || sr_engine_dirty_users(p->engine) >= batch_users))
            pl_close_batch(p);
        /* Outputs that wait for no input -- neighbour lists held back by
         * sim.publish.interval.ms whose interval is over, alerts of the
         * sweeps a rising watermark hold ran -- go out with the open batch
         * or a batch of their own, closed as soon as a batch may be (the
         * last poll's limit may be long). Out of memory for it: they go
         * with a later batch. */
        bool swept = hold_watermark(p);
        if (!p->open && (swept || sr_sim_throttle_any_due(p->sim_throttle, sr_clock_mono_ms())) &&
            pl_open_batch(p))
            limit_ms = batch_ms;
        /* Backpressure: the sinks are behind; stop fetching but keep polling. */
        if (full && !atomic_load(&p->paused)) {
            sr_kafka_in_pause(p->in);
            atomic_store(&p->paused, 1);
        } else if (queued < MAX_QUEUED_BATCHES / 2 && outbox < SR_PIPELINE_OUTBOX_BATCHES_MAX / 2 &&
                   atomic_load(&p->paused)) {
            sr_kafka_in_resume(p->in);
            atomic_store(&p->paused, 0);
        }
        pl_store_acked(p);
        pl_maybe_checkpoint(p);
    }
    if (!atomic_load(&p->failed))
        pl_drain_held_within(p, -1);
    /* The last checkpoint before the partitions are given up: a restart
     * goes on from exactly here. */
    if (p->ckpt_on && !atomic_load(&p->failed))
        pl_take_checkpoint(p, true);
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

void sr_pipeline_destroy(sr_pipeline_t *p) {
    if (!p)
        return;
    pl_reap_checkpoint(p, true);
    if (p->sink_running) {
        pthread_mutex_lock(&p->lock);
        p->sink_stop = true;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->sink, NULL);
    }
    pl_batch_free(p->open);
    for (batch_t *b = pl_queue_take_all(&p->to_sink); b;) {
        batch_t *next = b->next;
        pl_batch_free(b);
        b = next;
    }
    for (batch_t *b = pl_queue_take_all(&p->acked); b;) {
        batch_t *next = b->next;
        pl_batch_free(b);
        b = next;
    }
    sr_kafka_in_destroy(p->in);
    sr_kafka_restore_destroy(p->restore);
    free(p->consumer_props);
    free(p->user_partition);
    free(p->user_state);
    sr_sim_throttle_destroy(p->sim_throttle);
    sr_input_watermark_destroy(p->input_watermark);
    free(p->sims_due);
    free(p->sim_list);
    for (size_t k = 0; k < p->n_positions; k++) free(p->positions[k].topic);
    free(p->positions);
    pl_free_positions(p->ck_positions, p->n_ck_positions);
    pl_free_positions(p->live, p->n_live);
    pl_clear_covers(p);
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
    sr_output_encoder_destroy(p->sink_encoder);
    sr_click_decoder_destroy(p->decoder);
    sr_schema_registry_destroy(p->registry);
    sr_engine_destroy(p->engine);
    free(p->writer_schema);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
