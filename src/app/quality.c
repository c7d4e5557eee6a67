#include "quality.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/eval.h"
#include "streamrec/intern.h"
#include "streamrec/u64map.h"

#define CHECK_HIT 1u
#define CHECK_DISCOVERY 2u

/* Lists live in one growing array of slots of k+1 uint32: [0] the length. */
struct sr_recall {
    uint64_t sample_one_in;
    size_t k;
    sr_u64map_t *slot_of; /* dense user id -> slot index */
    uint32_t *slots;
    size_t n_slots, cap_slots;

    uint8_t *ring; /* CHECK_* flags of the last `window` checks */
    size_t window, next, filled;
    /* single writer (the engine thread): plain load + store, no locked add */
    _Atomic uint64_t checks, hits, discovery_checks, discovery_hits;
    _Atomic uint64_t w_checks, w_hits, w_discovery_checks, w_discovery_hits;
};

static void bump(_Atomic uint64_t *c, int64_t by) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)by,
                          memory_order_relaxed);
}

sr_recall_t *sr_recall_new(int sample_one_in, size_t k, size_t window) {
    sr_recall_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->sample_one_in = sample_one_in > 0 ? (uint64_t)sample_one_in : 1;
    r->k = k ? k : 1;
    r->window = window ? window : 1;
    if (!(r->slot_of = sr_u64map_new(1024)) || !(r->ring = calloc(r->window, 1))) {
        sr_recall_destroy(r);
        return NULL;
    }
    return r;
}

void sr_recall_destroy(sr_recall_t *r) {
    if (!r)
        return;
    sr_u64map_destroy(r->slot_of);
    free(r->slots);
    free(r->ring);
    free(r);
}

bool sr_recall_sampled(const sr_recall_t *r, const char *user_id, size_t len) {
    /* a seed of its own, so the sample is independent of the engine's own
     * uses of the same hash (dictionary buckets, MF initialisation) */
    return sr_hash_bytes(user_id, len, 0x7265636cULL) % r->sample_one_in == 0;
}

static uint32_t *slot(sr_recall_t *r, uint32_t index) {
    return r->slots + (size_t)index * (r->k + 1);
}

bool sr_recall_published(sr_recall_t *r, uint32_t user, const uint32_t *items, size_t n) {
    uint32_t index;
    if (!sr_u64map_get(r->slot_of, user, &index)) {
        if (r->n_slots == r->cap_slots) {
            size_t cap = r->cap_slots ? r->cap_slots * 2 : 256;
            uint32_t *grown = realloc(r->slots, cap * (r->k + 1) * sizeof *grown);
            if (!grown)
                return false;
            r->slots = grown;
            r->cap_slots = cap;
        }
        index = (uint32_t)r->n_slots;
        if (sr_u64map_put(r->slot_of, user, index) != SR_OK)
            return false;
        r->n_slots++;
    }
    uint32_t *s = slot(r, index);
    if (n > r->k)
        n = r->k;
    s[0] = (uint32_t)n;
    memcpy(s + 1, items, n * sizeof *items);
    return true;
}

void sr_recall_forget(sr_recall_t *r, uint32_t user) {
    uint32_t index;
    if (sr_u64map_get(r->slot_of, user, &index))
        slot(r, index)[0] = 0;
}

int sr_recall_check(sr_recall_t *r, uint32_t user, uint32_t item, bool discovery) {
    uint32_t index;
    if (!sr_u64map_get(r->slot_of, user, &index))
        return -1;
    const uint32_t *s = slot(r, index);
    if (s[0] == 0)
        return -1; /* forgotten, or an empty list: nothing was shown */
    bool hit = false;
    for (uint32_t i = 0; i < s[0] && !hit; i++) hit = s[1 + i] == item;
    uint8_t flags = (uint8_t)((hit ? CHECK_HIT : 0) | (discovery ? CHECK_DISCOVERY : 0));
    if (r->filled == r->window) { /* the oldest check leaves the window */
        uint8_t old = r->ring[r->next];
        bump(&r->w_checks, -1);
        bump(&r->w_hits, -(int64_t)(old & CHECK_HIT));
        if (old & CHECK_DISCOVERY) {
            bump(&r->w_discovery_checks, -1);
            bump(&r->w_discovery_hits, -(int64_t)(old & CHECK_HIT));
        }
    } else {
        r->filled++;
    }
    r->ring[r->next] = flags;
    r->next = (r->next + 1) % r->window;
    bump(&r->checks, 1);
    bump(&r->w_checks, 1);
    bump(&r->hits, hit);
    bump(&r->w_hits, hit);
    if (discovery) {
        bump(&r->discovery_checks, 1);
        bump(&r->w_discovery_checks, 1);
        bump(&r->discovery_hits, hit);
        bump(&r->w_discovery_hits, hit);
    }
    return hit;
}

void sr_recall_read(const sr_recall_t *r, sr_recall_figures_t *out) {
    out->k = r->k;
    out->checks = atomic_load(&r->checks);
    out->hits = atomic_load(&r->hits);
    out->discovery_checks = atomic_load(&r->discovery_checks);
    out->discovery_hits = atomic_load(&r->discovery_hits);
    out->window_checks = atomic_load(&r->w_checks);
    out->window_hits = atomic_load(&r->w_hits);
    out->window_discovery_checks = atomic_load(&r->w_discovery_checks);
    out->window_discovery_hits = atomic_load(&r->w_discovery_hits);
}

/* ---- churn AUC ----------------------------------------------------------- */

struct sr_auc_window {
    pthread_mutex_t lock;
    float *score;
    uint8_t *label;
    size_t window, next, filled;
    uint64_t churned_total, returned_total;
};

sr_auc_window_t *sr_auc_window_new(size_t window) {
    sr_auc_window_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->window = window ? window : 1;
    pthread_mutex_init(&w->lock, NULL);
    if (!(w->score = calloc(w->window, sizeof *w->score)) ||
        !(w->label = calloc(w->window, 1))) {
        sr_auc_window_destroy(w);
        return NULL;
    }
    return w;
}

void sr_auc_window_destroy(sr_auc_window_t *w) {
    if (!w)
        return;
    free(w->score);
    free(w->label);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void sr_auc_window_add(sr_auc_window_t *w, const sr_churn_label_t *labels, size_t n) {
    if (n == 0)
        return;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        w->score[w->next] = labels[i].probability;
        w->label[w->next] = labels[i].churned ? 1 : 0;
        w->next = (w->next + 1) % w->window;
        if (w->filled < w->window)
            w->filled++;
        if (labels[i].churned)
            w->churned_total++;
        else
            w->returned_total++;
    }
    pthread_mutex_unlock(&w->lock);
}

bool sr_auc_window_read(sr_auc_window_t *w, sr_auc_figures_t *out) {
    memset(out, 0, sizeof *out);
    out->auc = NAN;
    pthread_mutex_lock(&w->lock);
    size_t n = w->filled;
    float *score = malloc((n ? n : 1) * sizeof *score);
    uint8_t *label = malloc(n ? n : 1);
    if (score && label) {
        memcpy(score, w->score, n * sizeof *score);
        memcpy(label, w->label, n);
    }
    out->churned_total = w->churned_total;
    out->returned_total = w->returned_total;
    pthread_mutex_unlock(&w->lock);
    if (!score || !label) {
        free(score);
        free(label);
        return false;
    }
    out->n = n;
    for (size_t i = 0; i < n; i++) out->positives += label[i];
    out->auc = sr_eval_roc_auc(score, label, n);
    free(score);
    free(label);
    return true;
}
