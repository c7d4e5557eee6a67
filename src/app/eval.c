#include "streamrec/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/clock.h"
#include "streamrec/engine.h"
#include "streamrec/intern.h"
#include "streamrec/knn_baseline.h"
#include "streamrec/u64map.h"

#define PROGRESS_EVERY 4096

typedef struct scored_label {
    float score;
    uint8_t label;
} scored_label_t;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const scored_label_t *)a)->score, y = ((const scored_label_t *)b)->score;
    return (x < y) - (x > y);
}

static scored_label_t *sorted_pairs(const float *score, const uint8_t *label, size_t n) {
    scored_label_t *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        p[i].score = score[i];
        p[i].label = label[i];
    }
    qsort(p, n, sizeof *p, by_score_desc);
    return p;
}

double sr_eval_roc_auc(const float *score, const uint8_t *label, size_t n) {
    scored_label_t *p = sorted_pairs(score, label, n);
    if (!p)
        return NAN;
    /* Walk from the highest score down, one group of tied scores at a time:
     * each negative scores below every positive seen before its group and
     * ties with the positives of its own group (counted half). */
    double pos = 0, neg = 0, area = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double gp = 0, gn = 0;
        while (j < n && p[j].score == p[i].score) {
            if (p[j].label)
                gp++;
            else
                gn++;
            j++;
        }
        area += gn * (pos + gp / 2);
        pos += gp;
        neg += gn;
        i = j;
    }
    free(p);
    return (pos == 0 || neg == 0) ? NAN : area / (pos * neg);
}

double sr_eval_average_precision(const float *score, const uint8_t *label, size_t n) {
    scored_label_t *p = sorted_pairs(score, label, n);
    if (!p)
        return NAN;
    double tp = 0, sum = 0, total_pos = 0;
    for (size_t i = 0; i < n; i++) total_pos += p[i].label;
    for (size_t i = 0; i < n; i++) {
        if (p[i].label) {
            tp++;
            sum += tp / (double)(i + 1);
        }
    }
    free(p);
    return total_pos == 0 || total_pos == n ? NAN : sum / total_pos;
}

/* Rank (1-based) of item in list, 0 if absent. */
static size_t rank_of(const uint32_t *list, size_t n, uint32_t item) {
    if (item == UINT32_MAX)
        return 0;
    for (size_t r = 0; r < n; r++)
        if (list[r] == item)
            return r + 1;
    return 0;
}

static sr_err_t mark_recommended(uint8_t **flags, size_t *cap, uint32_t item) {
    if (item >= *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c <= item) c *= 2;
        uint8_t *f = realloc(*flags, c);
        if (!f)
            return SR_ERR_NOMEM;
        memset(f + *cap, 0, c - *cap);
        *flags = f;
        *cap = c;
    }
    (*flags)[item] = 1;
    return SR_OK;
}

static void score_list(sr_eval_metrics_t m[2], size_t rank, bool discovery) {
    for (int a = 0; a < 2; a++) {
        if (a == 0 && !discovery)
            continue;
        m[a].checked++;
        if (rank) {
            m[a].hits++;
            m[a].mrr += 1.0 / (double)rank;
        }
    }
}

static void finish_metrics(sr_eval_metrics_t m[2]) {
    for (int a = 0; a < 2; a++) {
        m[a].recall = m[a].checked ? (double)m[a].hits / (double)m[a].checked : 0;
        m[a].mrr = m[a].checked ? m[a].mrr / (double)m[a].checked : 0;
    }
}

/* Growable (score, label) arrays for the churn metrics. */
typedef struct labels {
    float *score;
    uint8_t *label;
    size_t n, cap;
} labels_t;

static sr_err_t labels_add(labels_t *l, const sr_churn_label_t *in, size_t n) {
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        while (cap < l->n + n) cap *= 2;
        float *s = realloc(l->score, cap * sizeof *s);
        if (!s)
            return SR_ERR_NOMEM;
        l->score = s;
        uint8_t *b = realloc(l->label, cap);
        if (!b)
            return SR_ERR_NOMEM;
        l->label = b;
        l->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        l->score[l->n] = in[i].probability;
        l->label[l->n++] = in[i].churned;
    }
    return SR_OK;
}

static uint64_t pair_key(const sr_event_t *ev) {
    uint64_t hu = sr_hash_bytes(ev->user_id.ptr, ev->user_id.len, 0x5eed);
    uint64_t key = sr_hash_bytes(ev->item_id.ptr, ev->item_id.len, hu);
    return key == UINT64_MAX ? 0 : key;
}

/* The popularity baseline: the engine's trending list with the same
 * filters the engine applies, so only the ranking differs. */
static size_t popular_for(const sr_engine_t *e, const sr_profile_t *p,
                          const sr_neighbour_t *trending, size_t n_trending,
                          uint32_t *out, size_t k) {
    bool exclude_seen = sr_engine_config(e)->reco.exclude_seen;
    size_t n = 0;
    for (size_t t = 0; t < n_trending && n < k; t++) {
        uint32_t item = trending[t].item;
        if (p && (sr_profile_purchased(p, item) ||
                  (exclude_seen && sr_profile_seen_recently(p, item))))
            continue;
        out[n++] = item;
    }
    return n;
}

sr_err_t sr_eval_run(const sr_config_t *cfg, const sr_event_log_t *log,
                     const sr_eval_options_t *opt, sr_eval_result_t *out,
                     char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof *out);
    sr_err_t err = SR_OK;
    const size_t k = (size_t)cfg->engine.reco.k;
    sr_engine_t *engine = NULL;
    sr_knn_t *knn = NULL;
    sr_u64map_t *seen = NULL;
    uint8_t *recommended = NULL;
    size_t recommended_cap = 0;
    labels_t churn = {0};
    sr_neighbour_t list[SR_RECO_MAX_K], trending[SR_TRENDING_MAX];
    uint32_t ids[SR_RECO_MAX_K];

    if (!(engine = sr_engine_new(&cfg->engine, errstr, errstr_size)))
        return SR_ERR_INVALID;
    if (!(knn = sr_knn_new(opt->knn_history > 0 ? opt->knn_history : 10, (int)k)) ||
        !(seen = sr_u64map_new(log->n_events))) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory setting up eval");
        goto done;
    }

    double start = sr_clock_mono_s(), last_progress = start;
    for (size_t n = 0; n < log->n_events; n++) {
        const sr_event_t *ev = &log->events[n];
        bool has_item = ev->item_id.len > 0 && ev->type != SR_EVENT_UNKNOWN &&
                        (unsigned)ev->type < SR_EVENT__COUNT;
        uint32_t user = sr_engine_find_user(engine, ev->user_id.ptr, ev->user_id.len);
        uint64_t key = pair_key(ev);
        if (has_item && user != SR_INTERN_NONE) {
            bool discovery = !sr_u64map_get(seen, key, NULL);
            /* the model; an item the engine never saw cannot be in any list */
            uint32_t item = sr_engine_find_item(engine, ev->item_id.ptr, ev->item_id.len);
            size_t got = sr_engine_recommend(engine, ev->user_id.ptr, ev->user_id.len, list);
            for (size_t r = 0; r < got; r++) {
                ids[r] = list[r].item;
                /* coverage by item string (the baseline's dictionary holds every
                 * item of the stream): an evicted item's dense id is reused */
                uint32_t covered_id =
                    sr_knn_item(knn, sr_str_c(sr_engine_item_id(engine, list[r].item)));
                if (covered_id != UINT32_MAX &&
                    mark_recommended(&recommended, &recommended_cap, covered_id) != SR_OK) {
                    err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory in eval");
                    goto done;
                }
            }
            score_list(out->model, rank_of(ids, got, item), discovery);
            /* popularity */
            size_t n_tr = sr_trending_top(sr_engine_trending(engine), trending, SR_TRENDING_MAX);
            got = popular_for(engine, sr_engine_profile(engine, user), trending, n_tr, ids, k);
            score_list(out->pop, rank_of(ids, got, item), discovery);
            /* plain item-kNN */
            const uint32_t *knn_list;
            got = sr_knn_recommend(knn, ev->user_id, &knn_list);
            uint32_t knn_item = sr_knn_item(knn, ev->item_id);
            score_list(out->knn, rank_of(knn_list, got, knn_item), discovery);
        }

        char why[256];
        if (sr_engine_apply(engine, ev, why, sizeof why) != SR_OK) {
            out->rejected++; /* refused events teach no model, baselines included */
            continue;
        }
        if (has_item) {
            if (sr_knn_observe(knn, ev->user_id, ev->item_id) != SR_OK ||
                sr_u64map_put(seen, key, 1) != SR_OK) {
                err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory in eval");
                goto done;
            }
        }
        size_t n_labels;
        const sr_churn_label_t *labels = sr_engine_take_labels(engine, &n_labels);
        if (n_labels && labels_add(&churn, labels, n_labels) != SR_OK) {
            err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory in eval");
            goto done;
        }
        if (opt->progress && (n % PROGRESS_EVERY) == 0) {
            double t = sr_clock_mono_s();
            if (t - last_progress > 0.5) {
                fprintf(opt->progress, "\r  %zu / %zu events (%.0f%%), %.0f events/s   ", n,
                        log->n_events, 100.0 * n / log->n_events, n / (t - start));
                fflush(opt->progress);
                last_progress = t;
            }
        }
    }
    out->seconds = sr_clock_mono_s() - start;
    if (opt->progress && out->seconds > 0.5)
        fprintf(opt->progress, "\r%60s\r", "");

    sr_engine_stats_t st;
    sr_engine_stats(engine, &st);
    out->events = log->n_events;
    /* every user and item of the stream, evicted ones included */
    out->users = sr_knn_users(knn);
    out->items = sr_knn_items(knn);
    out->k = (int)k;
    finish_metrics(out->model);
    finish_metrics(out->pop);
    finish_metrics(out->knn);
    size_t covered = 0;
    for (size_t i = 0; i < recommended_cap; i++) covered += recommended[i];
    size_t catalogue = sr_knn_items(knn);
    out->coverage = catalogue ? (double)covered / (double)catalogue : 0;
    out->churn_examples = churn.n;
    for (size_t i = 0; i < churn.n; i++) out->churn_positives += churn.label[i];
    out->churn_auc = sr_eval_roc_auc(churn.score, churn.label, churn.n);
    out->churn_pr_auc = sr_eval_average_precision(churn.score, churn.label, churn.n);
    out->events_per_s = out->seconds > 0 ? (double)out->events / out->seconds : 0;
done:
    free(churn.score);
    free(churn.label);
    free(recommended);
    sr_u64map_destroy(seen);
    sr_knn_destroy(knn);
    sr_engine_destroy(engine);
    return err;
}

static void json_number(FILE *out, const char *key, double v, bool last) {
    if (isnan(v))
        fprintf(out, "\"%s\":null%s", key, last ? "" : ",");
    else
        fprintf(out, "\"%s\":%.6g%s", key, v, last ? "" : ",");
}

void sr_eval_print_json(FILE *out, const sr_eval_result_t *r) {
    fprintf(out, "{\"events\":%llu,\"users\":%llu,\"items\":%llu,\"rejected\":%llu,\"k\":%d,",
            (unsigned long long)r->events, (unsigned long long)r->users,
            (unsigned long long)r->items, (unsigned long long)r->rejected, r->k);
    fprintf(out, "\"checked_discovery\":%llu,\"checked_all\":%llu,",
            (unsigned long long)r->model[0].checked, (unsigned long long)r->model[1].checked);
    json_number(out, "recall_at_20", r->model[0].recall, false);
    json_number(out, "mrr_at_20", r->model[0].mrr, false);
    json_number(out, "recall_at_20_all", r->model[1].recall, false);
    json_number(out, "mrr_at_20_all", r->model[1].mrr, false);
    json_number(out, "pop_recall_at_20", r->pop[0].recall, false);
    json_number(out, "pop_mrr_at_20", r->pop[0].mrr, false);
    json_number(out, "pop_recall_at_20_all", r->pop[1].recall, false);
    json_number(out, "knn_recall_at_20", r->knn[0].recall, false);
    json_number(out, "knn_mrr_at_20", r->knn[0].mrr, false);
    json_number(out, "knn_recall_at_20_all", r->knn[1].recall, false);
    json_number(out, "coverage_at_20", r->coverage, false);
    json_number(out, "churn_auc", r->churn_auc, false);
    json_number(out, "churn_pr_auc", r->churn_pr_auc, false);
    fprintf(out, "\"churn_examples\":%llu,\"churn_positives\":%llu,",
            (unsigned long long)r->churn_examples, (unsigned long long)r->churn_positives);
    json_number(out, "seconds", r->seconds, false);
    json_number(out, "events_per_s", r->events_per_s, true);
    fprintf(out, "}\n");
}

void sr_eval_print_table(FILE *out, const sr_eval_result_t *r) {
    fprintf(out, "events %llu   users %llu   items %llu   rejected %llu   (%.2f s, %.0f events/s)\n\n",
            (unsigned long long)r->events, (unsigned long long)r->users,
            (unsigned long long)r->items, (unsigned long long)r->rejected, r->seconds,
            r->events_per_s);
    fprintf(out, "%-26s %12s %12s %12s %12s\n", "", "recall@K", "MRR@K", "recall@K all",
            "MRR@K all");
    const struct { const char *name; const sr_eval_metrics_t *m; } rows[] = {
        {"streamrec", r->model}, {"popularity (trending)", r->pop}, {"plain item-kNN", r->knn}};
    for (size_t i = 0; i < 3; i++)
        fprintf(out, "%-26s %12.4f %12.4f %12.4f %12.4f\n", rows[i].name, rows[i].m[0].recall,
                rows[i].m[0].mrr, rows[i].m[1].recall, rows[i].m[1].mrr);
    fprintf(out, "\nK = %d; headline columns count discovery events only (%llu of %llu checked)\n",
            r->k, (unsigned long long)r->model[0].checked, (unsigned long long)r->model[1].checked);
    fprintf(out, "catalogue coverage@K  %.4f\n", r->coverage);
    fprintf(out, "churn                 ROC-AUC %.4f   PR-AUC %.4f   examples %llu (%llu churned)\n",
            r->churn_auc, r->churn_pr_auc, (unsigned long long)r->churn_examples,
            (unsigned long long)r->churn_positives);
}
