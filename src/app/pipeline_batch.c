/* streamrec pipeline, batches (engine thread): input records are noted,
 * decoded and applied or dead-lettered into the open batch; closing it
 * flushes the engine, produces the batch's churn alerts, copies its lists
 * into the batch and hands it to the sink thread (which produces the
 * RecommendationUpdates); acknowledged batches come back and their
 * offsets are stored. See pipeline_internal.h for who owns what. */
#include "pipeline_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/intern.h"

/* A counter with one writing thread: a plain load and store, no locked add. */
static void bump(_Atomic uint64_t *c, uint64_t by) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* The engine's counts for /metrics and the status page, which must not
 * read the engine themselves. */
void pl_publish_engine_counts(sr_pipeline_t *p) {
    sr_engine_stats_t st;
    sr_engine_stats(p->engine, &st);
    atomic_store_explicit(&p->users, st.users, memory_order_relaxed);
    atomic_store_explicit(&p->items, st.items, memory_order_relaxed);
    atomic_store_explicit(&p->users_evicted, st.users_evicted, memory_order_relaxed);
    atomic_store_explicit(&p->items_evicted, st.items_evicted, memory_order_relaxed);
    atomic_store_explicit(&p->watermark_ms, st.watermark_ms, memory_order_relaxed);
}

/* ---- batches ------------------------------------------------------------ */

void pl_batch_free(batch_t *b) {
    if (!b)
        return;
    sr_arena_destroy(b->arena);
    free(b->produced_ms);
    free(b);
}

bool pl_open_batch(sr_pipeline_t *p) {
    if (p->open)
        return true;
    if (!(p->open = pl_batch_new()))
        return false;
    p->open_since_ms = sr_clock_mono_ms();
    return true;
}

batch_t *pl_batch_new(void) {
    batch_t *b = calloc(1, sizeof *b);
    if (!b || !(b->arena = sr_arena_new(256 * 1024))) {
        pl_batch_free(b);
        return NULL;
    }
    atomic_init(&b->pending_kafka, 0);
    atomic_init(&b->kafka_failed, 0);
    return b;
}

static sr_err_t note_record(sr_pipeline_t *p, batch_t *b, const rd_kafka_message_t *m) {
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
        o->live_from = pl_live_from(p, topic, m->partition);
    }
    if (m->offset < o->live_from)
        b->replay = true;
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

void pl_queue_push(queue_t *q, batch_t *b) {
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->n++;
}

batch_t *pl_queue_take_all(queue_t *q) {
    batch_t *all = q->head;
    q->head = q->tail = NULL;
    q->n = 0;
    return all;
}

/* ---- Kafka output ------------------------------------------------------- */

void pl_on_delivery(void *opaque, void *msg_opaque, rd_kafka_resp_err_t err) {
    sr_pipeline_t *p = opaque;
    batch_t *b = msg_opaque;
    if (err) {
        atomic_fetch_add(&p->metrics.kafka_delivery_errors, 1);
        atomic_store(&b->kafka_failed, 1);
        pl_fail(p, "a Kafka output record was not delivered: %s", rd_kafka_err2str(err));
    }
    atomic_fetch_sub(&b->pending_kafka, 1);
}

sr_err_t pl_produce(sr_pipeline_t *p, batch_t *b, const char *topic, const char *key,
                    const uint8_t *record, size_t len) {
    char errstr[256];
    atomic_fetch_add(&b->pending_kafka, 1);
    if (sr_kafka_out_produce(p->out, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), record, len,
                             NULL, b, errstr, sizeof errstr) != SR_OK) {
        atomic_fetch_sub(&b->pending_kafka, 1);
        pl_fail(p, "cannot produce an output record: %s", errstr);
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
        pl_fail(p, "cannot write to the dead-letter topic: %s", errstr);
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

void pl_handle_record(sr_pipeline_t *p, const rd_kafka_message_t *m) {
    /* A failed pipeline applies, dead-letters and commits nothing more: the
     * records from here on are read again after a restart. */
    if (atomic_load(&p->failed))
        return;
    if (!pl_open_batch(p)) {
        pl_fail(p, "%s", "out of memory opening a batch");
        return;
    }
    batch_t *b = p->open;
    if (note_record(p, b, m) != SR_OK) {
        pl_fail(p, "%s", "cannot track an input offset (out of memory or too many partitions)");
        return;
    }
    atomic_fetch_add_explicit(&p->records_in, 1, memory_order_relaxed);
    sr_event_t ev;
    char why[256];
    sr_err_t err = pl_decode(p, m, &ev, why, sizeof why);
    if (atomic_load(&p->failed))
        return; /* the registry (or a sink) failed, not the record */
    bool known_type = (unsigned)ev.type < SR_EVENT__COUNT;
    bool sampled = err == SR_OK && sr_recall_sampled(p->recall, ev.user_id.ptr, ev.user_id.len);
    /* A new user may take the dense id of an evicted one, whose list the
     * sampler still holds: it is dropped before this user is checked. */
    bool new_user = sampled && sr_engine_find_user(p->engine, ev.user_id.ptr, ev.user_id.len) ==
                                   SR_INTERN_NONE;
    if (sampled && ev.item_id.len > 0 && known_type && ev.type != SR_EVENT_UNKNOWN)
        check_recall(p, &ev);
    /* The record's time counts for its partition before the engine sees it,
     * so that with one partition the watermark moves at the same event as
     * with no hold at all. */
    bool timed = err == SR_OK && sr_engine_takes_time(p->engine, ev.ts_ms);
    sr_input_watermark_record(p->input_watermark, rd_kafka_topic_name(m->rkt), m->partition,
                              timed ? ev.ts_ms : INT64_MIN);
    sr_engine_hold_watermark(p->engine, sr_input_watermark_hold(p->input_watermark));
    if (err == SR_OK)
        err = sr_engine_apply(p->engine, &ev, why, sizeof why);
    if (err == SR_OK && new_user) {
        uint32_t u = sr_engine_find_user(p->engine, ev.user_id.ptr, ev.user_id.len);
        if (u != SR_INTERN_NONE)
            sr_recall_forget(p->recall, u);
    }
    if (err == SR_OK) {
        b->n_events++;
        bump(&p->metrics.events_by_type[known_type ? ev.type : SR_EVENT_UNKNOWN], 1);
        if (p->handoff && pl_note_user_partition(p, &ev, m->partition) != SR_OK)
            pl_fail(p, "%s", "out of memory tracking users' partitions");
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

/* Flushes the engine into the open batch, produces its churn alerts and
 * hands it to the sink thread (which produces its RecommendationUpdates). */
void pl_close_batch(sr_pipeline_t *p) {
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
    /* Armed at every flush: a rollback replaces the engine and the throttle. */
    sr_sim_throttle_arm(p->sim_throttle, p->engine, sr_clock_mono_ms());
    if (sr_engine_flush(p->engine, &ob) != SR_OK) {
        pl_fail(p, "%s", "out of memory flushing the engine");
        pl_batch_free(b);
        return;
    }
    char errstr[256];
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
        /* its RecommendationUpdate record is the sink thread's to encode */
    }
    for (size_t s = 0; s < ob->n_sims; s++) { /* the gate let each through */
        const sr_sim_update_t *u = &ob->sims[s];
        if (add_sim(p, b, u->item, u->neighbours, u->n_neighbours) != SR_OK)
            goto nomem;
    }
    for (size_t d = 0; d < n_due; d++) {
        size_t n;
        if (sr_engine_neighbours_news(p->engine, p->sims_due[d], p->sim_list, &n) &&
            add_sim(p, b, p->sims_due[d], p->sim_list, n) != SR_OK)
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
            pl_fail(p, "cannot encode a ChurnAlert: %s", errstr);
            goto fail;
        }
        if (pl_produce(p, b, p->cfg->io.output_churn_topic, u->user_id, p->record, len) != SR_OK)
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
    pl_publish_engine_counts(p);
    sr_prom_hist_observe(&p->metrics.batch_close_us, pl_elapsed_us(close_start_ns));
    pthread_mutex_lock(&p->lock);
    pl_queue_push(&p->to_sink, b);
    if (p->to_sink.n + p->sink_held > atomic_load_explicit(&p->queued_max, memory_order_relaxed))
        atomic_store_explicit(&p->queued_max, p->to_sink.n + p->sink_held, memory_order_relaxed);
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return;
nomem:
    pl_fail(p, "%s", "out of memory closing a batch");
fail:
    /* records already produced reference b: it must outlive their reports */
    while (atomic_load(&b->pending_kafka) > 0) sr_kafka_out_poll(p->out, 10);
    pl_batch_free(b);
}

/* Stores the offsets of acknowledged batches, oldest first. */
void pl_store_acked(sr_pipeline_t *p) {
    pthread_mutex_lock(&p->lock);
    batch_t *b = pl_queue_take_all(&p->acked);
    pthread_mutex_unlock(&p->lock);
    /* After a failure (a lost Kafka record among them) no later batch's
     * offsets may be stored: the close would commit past the lost one. */
    bool failed = atomic_load(&p->failed);
    while (b) {
        batch_t *next = b->next;
        for (size_t k = 0; k < b->n_offsets && !failed; k++) {
            /* with checkpoints, a checkpoint stores them (pipeline_checkpoint.c) */
            if (!p->ckpt_on)
                sr_kafka_in_store(p->in, b->offsets[k].topic, b->offsets[k].partition,
                                  b->offsets[k].next);
            if (pl_set_position(p, b->offsets[k].topic, b->offsets[k].partition,
                                b->offsets[k].next) != SR_OK)
                pl_fail(p, "%s", "out of memory tracking input positions");
            pl_note_acked(p, &b->offsets[k]);
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
        pl_batch_free(b);
        b = next;
    }
}

/* Closes the open batch and waits until the sinks acknowledged everything. */
void pl_drain(sr_pipeline_t *p) { pl_drain_within(p, -1); }

bool pl_drain_held_within(sr_pipeline_t *p, int64_t timeout_ms) {
    p->sims_flush_all = true;
    if (sr_sim_throttle_pending(p->sim_throttle) > 0)
        pl_open_batch(p); /* out of memory: they go with a later batch */
    bool drained = pl_drain_within(p, timeout_ms);
    p->sims_flush_all = false;
    return drained;
}

bool pl_drain_within(sr_pipeline_t *p, int64_t timeout_ms) {
    pl_close_batch(p);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until); /* the clock p->changed waits on */
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&p->lock);
    bool drained;
    while (!(drained = p->to_sink.n == 0 && p->sink_held == 0) && p->sink_running &&
           !atomic_load(&p->failed)) {
        if (timeout_ms < 0)
            pthread_cond_wait(&p->changed, &p->lock);
        else if (pthread_cond_timedwait(&p->changed, &p->lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->lock);
    pl_store_acked(p);
    return drained;
}
