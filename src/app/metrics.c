#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "streamrec/clock.h"
#include "streamrec/event.h"

#ifndef SR_VERSION
#define SR_VERSION "unknown"
#endif
#ifndef SR_GIT_COMMIT
#define SR_GIT_COMMIT "unknown"
#endif

/* Label values of the event types: the Avro symbols in lower case. */
static const char *const event_labels[SR_EVENT__COUNT] = {
    [SR_EVENT_UNKNOWN] = "unknown", [SR_EVENT_VIEW] = "view",
    [SR_EVENT_ADD_TO_CART] = "add_to_cart", [SR_EVENT_REMOVE_FROM_CART] = "remove_from_cart",
    [SR_EVENT_PURCHASE] = "purchase"};

static void counter(sr_prom_buf_t *b, const char *name, const char *help, uint64_t value) {
    sr_prom_family(b, name, SR_PROM_COUNTER, help);
    sr_prom_sample_u64(b, name, NULL, 0, value);
}

static void gauge(sr_prom_buf_t *b, const char *name, const char *help, double value) {
    sr_prom_family(b, name, SR_PROM_GAUGE, help);
    sr_prom_sample(b, name, NULL, 0, value);
}

static void histogram(sr_prom_buf_t *b, const char *name, const char *help,
                      const sr_prom_hist_t *h) {
    sr_prom_family(b, name, SR_PROM_HISTOGRAM, help);
    sr_prom_histogram(b, name, NULL, 0, h);
}

static void render_lag(sr_prom_buf_t *b, sr_pipeline_t *p) {
    sr_pipeline_lag_t few[64], *lag = few;
    size_t n = sr_pipeline_lag(p, few, 64);
    if (n > 64) {
        if (!(lag = malloc(n * sizeof *lag)))
            return;
        n = sr_pipeline_lag(p, lag, n);
    }
    sr_prom_family(b, "streamrec_consumer_lag_offsets", SR_PROM_GAUGE,
                   "records in the input partition after the group's committed offset "
                   "(librdkafka statistics, every second)");
    for (size_t i = 0; i < n; i++) {
        if (lag[i].offsets < 0)
            continue;
        char partition[16];
        snprintf(partition, sizeof partition, "%d", (int)lag[i].partition);
        sr_prom_label_t l[] = {{"topic", lag[i].topic}, {"partition", partition}};
        sr_prom_sample_u64(b, "streamrec_consumer_lag_offsets", l, 2, (uint64_t)lag[i].offsets);
    }
    sr_prom_family(b, "streamrec_consumer_lag_stored_offsets", SR_PROM_GAUGE,
                   "records in the input partition after the offset stored for the next "
                   "commit: once the sinks acknowledged it, with checkpoint.dir once a "
                   "checkpoint covers it; leads the committed lag by up to "
                   "auto.commit.interval.ms");
    for (size_t i = 0; i < n; i++) {
        if (lag[i].stored_offsets < 0)
            continue;
        char partition[16];
        snprintf(partition, sizeof partition, "%d", (int)lag[i].partition);
        sr_prom_label_t l[] = {{"topic", lag[i].topic}, {"partition", partition}};
        sr_prom_sample_u64(b, "streamrec_consumer_lag_stored_offsets", l, 2,
                           (uint64_t)lag[i].stored_offsets);
    }
    sr_prom_family(b, "streamrec_consumer_lag_seconds", SR_PROM_GAUGE,
                   "now minus the Kafka timestamp of the partition's newest acknowledged record; "
                   "0 when no record waits after it");
    for (size_t i = 0; i < n; i++) {
        if (lag[i].seconds < 0)
            continue;
        char partition[16];
        snprintf(partition, sizeof partition, "%d", (int)lag[i].partition);
        sr_prom_label_t l[] = {{"topic", lag[i].topic}, {"partition", partition}};
        sr_prom_sample(b, "streamrec_consumer_lag_seconds", l, 2, lag[i].seconds);
    }
    if (lag != few)
        free(lag);
}

static void render_quality(sr_prom_buf_t *b, sr_pipeline_t *p) {
    sr_recall_figures_t r;
    sr_recall_read(sr_pipeline_recall(p), &r);
    char k[16];
    snprintf(k, sizeof k, "%zu", r.k);
    sr_prom_label_t disc[] = {{"k", k}, {"events", "discovery"}};
    sr_prom_label_t all[] = {{"k", k}, {"events", "all"}};
    sr_prom_family(b, "streamrec_model_recall", SR_PROM_GAUGE,
                   "share of the last metrics.quality.window checked events whose item was in "
                   "the user's last published top-k (sampled users; discovery: items new to "
                   "the user); NaN before the first check");
    sr_prom_sample(b, "streamrec_model_recall", disc, 2,
                   r.window_discovery_checks
                       ? (double)r.window_discovery_hits / (double)r.window_discovery_checks
                       : NAN);
    sr_prom_sample(b, "streamrec_model_recall", all, 2,
                   r.window_checks ? (double)r.window_hits / (double)r.window_checks : NAN);
    sr_prom_family(b, "streamrec_model_recall_checks_total", SR_PROM_COUNTER,
                   "events of sampled users checked against their last published top-k");
    sr_prom_sample_u64(b, "streamrec_model_recall_checks_total", disc, 2, r.discovery_checks);
    sr_prom_sample_u64(b, "streamrec_model_recall_checks_total", all, 2, r.checks);
    sr_prom_family(b, "streamrec_model_recall_hits_total", SR_PROM_COUNTER,
                   "checked events whose item was in the top-k");
    sr_prom_sample_u64(b, "streamrec_model_recall_hits_total", disc, 2, r.discovery_hits);
    sr_prom_sample_u64(b, "streamrec_model_recall_hits_total", all, 2, r.hits);

    sr_auc_figures_t a;
    if (!sr_auc_window_read(sr_pipeline_churn_auc(p), &a))
        return;
    gauge(b, "streamrec_model_churn_auc",
          "churn ROC-AUC over the last metrics.quality.window resolved labels (the probability "
          "predicted before each label was known); NaN until both outcomes are in the window",
          a.auc);
    gauge(b, "streamrec_model_churn_auc_labels",
          "resolved churn labels in the ROC-AUC window", (double)a.n);
    sr_prom_family(b, "streamrec_model_churn_labels_total", SR_PROM_COUNTER,
                   "churn examples resolved, by outcome");
    sr_prom_label_t churned[] = {{"outcome", "churned"}}, returned[] = {{"outcome", "returned"}};
    sr_prom_sample_u64(b, "streamrec_model_churn_labels_total", churned, 1, a.churned_total);
    sr_prom_sample_u64(b, "streamrec_model_churn_labels_total", returned, 1, a.returned_total);
}

char *sr_metrics_render(sr_pipeline_t *p, const sr_metrics_collector_t *extra, size_t n_extra,
                        size_t *len) {
    sr_prom_buf_t b;
    sr_prom_buf_init(&b);
    const sr_pipeline_metrics_t *m = sr_pipeline_metrics(p);
    sr_pipeline_stats_t st;
    sr_pipeline_stats(p, &st);

    sr_prom_family(&b, "streamrec_build_info", SR_PROM_GAUGE,
                   "always 1; the labels say which build runs");
    sr_prom_label_t build[] = {{"version", SR_VERSION}, {"commit", SR_GIT_COMMIT}};
    sr_prom_sample(&b, "streamrec_build_info", build, 2, 1);

    /* input */
    counter(&b, "streamrec_input_records_total",
            "input records polled from Kafka (error records excluded)", st.records_in);
    sr_prom_family(&b, "streamrec_events_total", SR_PROM_COUNTER,
                   "events applied to the model, by type (unknown: counted and skipped)");
    for (int t = 0; t < SR_EVENT__COUNT; t++) {
        sr_prom_label_t l[] = {{"type", event_labels[t]}};
        sr_prom_sample_u64(&b, "streamrec_events_total", l, 1,
                           atomic_load_explicit(&m->events_by_type[t], memory_order_relaxed));
    }
    sr_prom_family(&b, "streamrec_dlq_records_total", SR_PROM_COUNTER,
                   "input records sent to the dead-letter topic, by reason (the "
                   "streamrec.error header)");
    for (int e = 1; e < SR_ERR__COUNT; e++) {
        uint64_t n = atomic_load_explicit(&m->dead_letters_by_reason[e], memory_order_relaxed);
        /* the reasons decoding and the engine give are always there (0 until
         * seen, so rate() works from the start); others only once seen */
        bool usual = e == SR_ERR_INVALID || e == SR_ERR_TRUNCATED || e == SR_ERR_BAD_MAGIC ||
                     e == SR_ERR_UNKNOWN_SCHEMA || e == SR_ERR_BAD_FIELD;
        if (!usual && n == 0)
            continue;
        sr_prom_label_t l[] = {{"reason", sr_err_name((sr_err_t)e)}};
        sr_prom_sample_u64(&b, "streamrec_dlq_records_total", l, 1, n);
    }
    render_lag(&b, p);
    gauge(&b, "streamrec_assigned_partitions", "input partitions assigned to this instance",
          st.partitions);
    sr_prom_family(&b, "streamrec_rebalances_total", SR_PROM_COUNTER,
                   "consumer-group rebalance callbacks, by kind");
    sr_prom_label_t assign[] = {{"kind", "assign"}}, revoke[] = {{"kind", "revoke"}};
    sr_prom_sample_u64(&b, "streamrec_rebalances_total", assign, 1, atomic_load(&m->assigns));
    sr_prom_sample_u64(&b, "streamrec_rebalances_total", revoke, 1, atomic_load(&m->revokes));
    counter(&b, "streamrec_state_rollbacks_total",
            "times the state was reloaded from the newest checkpoint after the group took the "
            "partitions away (a lost assignment)",
            atomic_load(&m->rollbacks));
    gauge(&b, "streamrec_consumer_paused",
          "1 while input is paused because the sinks are behind (backpressure)", st.paused);
    counter(&b, "streamrec_users_handed_off_total",
            "users whose state was written to the changelog for their partition's next owner",
            st.users_handed_off);
    counter(&b, "streamrec_users_restored_total",
            "users whose state was read back from the changelog on assignment",
            st.users_restored);
    counter(&b, "streamrec_users_evicted_total",
            "users evicted after state.user.ttl.days without an event (event time)",
            st.users_evicted);
    counter(&b, "streamrec_items_evicted_total",
            "items evicted after state.item.ttl.days without an event (event time)",
            st.items_evicted);

    /* checkpoints */
    counter(&b, "streamrec_checkpoints_total", "checkpoints written to checkpoint.dir",
            st.checkpoints_written);
    counter(&b, "streamrec_checkpoint_errors_total",
            "checkpoints not written (the previous one stays)", st.checkpoint_errors);
    gauge(&b, "streamrec_checkpoint_age_seconds",
          "now minus the newest checkpoint written by this process; NaN before the first",
          st.checkpoint_last_wall_ms > 0
              ? (double)(sr_clock_wall_ms() - st.checkpoint_last_wall_ms) / 1000.0
              : NAN);
    gauge(&b, "streamrec_checkpoint_pause_max_seconds",
          "the longest engine pause for a checkpoint (drain and fork)",
          (double)st.checkpoint_max_pause_ns / 1e9);

    /* batches and latency */
    histogram(&b, "streamrec_freshness_seconds",
              "an input record's Kafka timestamp to Redis acknowledging the outputs it caused",
              &m->freshness_ms);
    histogram(&b, "streamrec_batch_records", "input records per closed batch",
              &m->batch_records);
    histogram(&b, "streamrec_batch_open_seconds",
              "how long a batch stayed open, its first record to its close", &m->batch_open_us);
    histogram(&b, "streamrec_batch_close_seconds",
              "engine-thread time to close a batch: recompute dirty users, produce churn alerts",
              &m->batch_close_us);
    counter(&b, "streamrec_batches_acknowledged_total",
            "batches whose outputs Redis and Kafka acknowledged (their offsets are stored)",
            st.batches_acked);

    /* outputs */
    histogram(&b, "streamrec_redis_write_seconds",
              "one batch's Redis writes, sent as a pipeline, until every reply is in",
              &m->redis_write_us);
    counter(&b, "streamrec_redis_errors_total",
            "batch writes Redis failed or refused (each is retried with backoff)",
            st.redis_retries);
    counter(&b, "streamrec_redis_refused_total",
            "outputs the Redis sink refused as invalid (a NaN score, an empty id): logged and "
            "skipped, not retried",
            atomic_load(&m->redis_refused));
    histogram(&b, "streamrec_kafka_delivery_seconds",
              "an output record's produce call to the broker's acknowledgement",
              &m->kafka_delivery_us);
    counter(&b, "streamrec_kafka_delivery_errors_total",
            "output records Kafka did not take after librdkafka's retries (the pipeline stops)",
            atomic_load(&m->kafka_delivery_errors));
    counter(&b, "streamrec_recommendations_total",
            "recommendation lists (reco:{user}) acknowledged by Redis", st.recos_written);
    counter(&b, "streamrec_recommendations_guarded_total",
            "of those, written under the replay guard (redis.reco.guard)", st.recos_guarded);
    counter(&b, "streamrec_neighbour_lists_total",
            "similar-item lists (sim:{item}) acknowledged by Redis", st.sims_written);
    sr_prom_family(&b, "streamrec_churn_alerts_total", SR_PROM_COUNTER,
                   "churn alerts produced and acknowledged, by state");
    sr_prom_label_t firing[] = {{"state", "firing"}}, resolved[] = {{"state", "resolved"}};
    sr_prom_sample_u64(&b, "streamrec_churn_alerts_total", firing, 1,
                       atomic_load(&m->alerts_firing));
    sr_prom_sample_u64(&b, "streamrec_churn_alerts_total", resolved, 1,
                       atomic_load(&m->alerts_resolved));

    /* state and health */
    gauge(&b, "streamrec_users", "users with state in this instance", (double)st.users);
    gauge(&b, "streamrec_items", "items known to this instance", (double)st.items);
    if (st.watermark_ms != INT64_MIN) /* none before the first event */
        gauge(&b, "streamrec_watermark_seconds",
              "the event-time watermark (Unix seconds) the churn sweeps and evictions run on: the "
              "slowest input partition's newest event minus time.lateness.ms",
              (double)st.watermark_ms / 1000.0);
    gauge(&b, "streamrec_poll_loop_age_seconds",
          "time since the engine thread's poll loop last turned (/healthz fails past "
          "http.healthz.stall.ms)",
          (double)sr_pipeline_loop_age_ms(p) / 1000.0);
    char reason[512];
    gauge(&b, "streamrec_ready", "1 when /readyz answers 200",
          sr_pipeline_ready(p, reason, sizeof reason) == SR_OK);

    render_quality(&b, p);
    for (size_t i = 0; i < n_extra; i++) extra[i].collect(extra[i].opaque, &b);
    return sr_prom_buf_take(&b, len);
}
