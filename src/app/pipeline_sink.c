/* streamrec pipeline, the sink thread: each batch's RecommendationUpdate
 * records to Kafka, its writes to Redis (retrying with backoff), then its
 * Kafka acknowledgements, and the batches handed back to the engine thread
 * in order. */
#include "pipeline_internal.h"

#include <errno.h>
#include <time.h>

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

/* ---- the sink thread ---------------------------------------------------- */

/* A value the sink refuses (SR_ERR_INVALID: a NaN score, an empty id)
 * would be refused again on every retry and stall the sink for good: that
 * one key is skipped, counted and logged; the batch's other writes go on
 * (and its Kafka records carry the output all the same). Other errors
 * stand. */
static sr_err_t refused(sr_pipeline_t *p, const char *kind, const char *id, sr_err_t err) {
    if (err != SR_ERR_INVALID)
        return err;
    atomic_fetch_add_explicit(&p->metrics.redis_refused, 1, memory_order_relaxed);
    uint64_t held_back;
    if (sr_log_allow(&p->refused_log_limit, &held_back)) {
        sr_log_ctx_t ctx = {.component = "pipeline", .error = "invalid"};
        sr_log(SR_LOG_ERROR, &ctx, "Redis refused the %s output of '%s'; skipped%s", kind, id,
               held_back ? "; more were, not logged" : "");
    }
    return SR_OK;
}

static sr_err_t write_redis(sr_pipeline_t *p, const batch_t *b, char *errstr, size_t errstr_size) {
    int64_t now = sr_clock_wall_ms();
    sr_redis_batch_begin(p->redis);
    sr_err_t err = SR_OK;
    /* Replays (pipeline_internal.h): only input new to the group may skip
     * the guard. */
    bool guarded = p->reco_guard_always || b->replay || atomic_load(&p->assignment_lost);
    sr_err_t (*put_reco)(sr_redis_sink_t *, const char *, const sr_scored_id_t *, size_t,
                         int64_t, int64_t, int64_t, int64_t) =
        guarded ? sr_redis_put_reco : sr_redis_put_reco_unguarded;
    for (size_t r = 0; r < b->n_recos && !err; r++) {
        const out_list_t *o = &b->recos[r];
        err = refused(p, "reco", o->id,
                      put_reco(p->redis, o->id, o->items, o->n, b->model_version, o->event_ts_ms,
                               now, o->seq));
    }
    for (size_t s = 0; s < b->n_sims && !err; s++)
        err = refused(p, "sim", b->sims[s].id,
                      sr_redis_put_sim(p->redis, b->sims[s].id, b->sims[s].items, b->sims[s].n));
    for (size_t c = 0; c < b->n_churns && !err; c++) {
        const out_churn_t *o = &b->churns[c];
        err = refused(p, "churn", o->user_id,
                      sr_redis_put_churn(p->redis, o->user_id, o->p, o->level, o->ts_ms));
    }
    if (err)
        return sr_seterr(err, errstr, errstr_size, "adding a Redis write: %s", sr_err_name(err));
    err = sr_redis_batch_commit(p->redis, errstr, errstr_size);
    if (err == SR_OK && guarded)
        atomic_fetch_add_explicit(&p->recos_guarded, b->n_recos, memory_order_relaxed);
    return err;
}

/* Encodes and produces the batch's RecommendationUpdate records. They are
 * encoded here rather than when the engine thread closes the batch: at
 * 300,000 events/s that encoding was a tenth of the engine thread, the
 * pipeline's bottleneck, while this thread mostly waits on Redis. Records
 * keep the batches' order, so each user's updates stay in order on its
 * partition. A record that cannot be encoded or produced fails the
 * pipeline; false then. */
static bool produce_recos(sr_pipeline_t *p, batch_t *b) {
    char errstr[256];
    int64_t now = sr_clock_wall_ms();
    for (size_t r = 0; r < b->n_recos; r++) {
        const out_list_t *o = &b->recos[r];
        sr_reco_record_t rec = {.user_id = o->id, .items = o->items, .n_items = o->n,
                                .model_version = b->model_version, .event_ts_ms = o->event_ts_ms,
                                .produced_ts_ms = now, .seq = o->seq};
        size_t len;
        if (sr_encode_reco(p->sink_encoder, &rec, OUTPUT_SCHEMA_ID_RECO, p->sink_record,
                           sizeof p->sink_record, &len, errstr, sizeof errstr) != SR_OK) {
            pl_fail(p, "cannot encode a RecommendationUpdate: %s", errstr);
            return false;
        }
        if (pl_produce(p, b, p->cfg->io.output_reco_topic, o->id, p->sink_record, len) != SR_OK)
            return false;
    }
    return true;
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
            sr_prom_hist_observe(&p->metrics.redis_write_us, pl_elapsed_us(start_ns));
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
            pl_batch_free(b);
        else
            pl_queue_push(&p->acked, b);
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
}

/* The sink produces each batch's RecommendationUpdates and writes the batch
 * to Redis as soon as it arrives, and only then waits for the batch's Kafka
 * acknowledgements -- while writing the next batches: one Redis round trip
 * and one broker acknowledgement in series per batch halved the pipeline's
 * throughput. */
void *pl_sink_main(void *arg) {
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
        /* A batch whose outputs could not be produced is only waited for,
         * and dropped unacknowledged; so is any batch once the pipeline has
         * failed: its outputs would only repeat on restart. */
        if (b && (atomic_load(&p->failed) || !produce_recos(p, b)))
            atomic_store(&b->kafka_failed, 1);
        else if (b) {
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
        }
        if (b)
            pl_queue_push(&waiting, b);
        sr_kafka_out_poll(p->out, b ? 0 : 5);
        release_acknowledged(p, &waiting);
    }
    return NULL;
}
