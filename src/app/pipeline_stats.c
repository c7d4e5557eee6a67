/* streamrec pipeline, what it reports: the metrics' histograms, the lag
 * table, the snapshots for /metrics and the status page, readiness. The
 * sr_pipeline_* readers here are for any thread. */
#include "pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_MAX_AGE_MS 10000    /* older statistics say nothing about now */

/* Histogram bounds, in each histogram's base unit. Freshness has a one
 * second target; batches live batch.max.ms (10 ms) to batch.backlog.max.ms
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

void pl_metrics_init(sr_pipeline_metrics_t *m) {
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

/* ---- the lag table ------------------------------------------------------ */

lag_entry_t *pl_find_lag(sr_pipeline_t *p, const char *topic, int32_t partition) {
    for (size_t k = 0; k < p->n_lag; k++)
        if (p->lag[k].partition == partition && strcmp(p->lag[k].topic, topic) == 0)
            return &p->lag[k];
    return NULL;
}

/* Caller holds lag_lock. NULL: out of memory (the partition's lag goes unreported). */
lag_entry_t *pl_add_lag(sr_pipeline_t *p, const char *topic, int32_t partition) {
    lag_entry_t *e = pl_find_lag(p, topic, partition);
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

void pl_note_acked(sr_pipeline_t *p, const out_offset_t *o) {
    pthread_mutex_lock(&p->lag_lock);
    lag_entry_t *e = pl_add_lag(p, o->topic, o->partition);
    if (e) {
        e->next = o->next;
        if (o->last_ts_ms >= 0)
            e->last_ts_ms = o->last_ts_ms;
    }
    pthread_mutex_unlock(&p->lag_lock);
}

void sr_pipeline_stats(sr_pipeline_t *p, sr_pipeline_stats_t *out) {
    out->records_in = atomic_load(&p->records_in);
    out->events_applied = atomic_load(&p->events_applied);
    out->dead_letters = atomic_load(&p->dead_letters);
    out->batches_acked = atomic_load(&p->batches_acked);
    out->recos_written = atomic_load(&p->recos_written);
    out->recos_guarded = atomic_load(&p->recos_guarded);
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
    out->watermark_ms = atomic_load(&p->watermark_ms);
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
