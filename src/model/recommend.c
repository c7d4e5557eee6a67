#include "streamrec/recommend.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/select.h"

/* Candidate pool per user: the seeds' partners (seeds * SR_SIM_SLOTS) plus
 * trending ones. */
#define MAX_SEEDS SR_PROFILE_RECENT_MAX
#define MAX_CANDIDATES (MAX_SEEDS * SR_SIM_SLOTS + SR_TRENDING_CANDIDATES_MAX)
#define SR_TRENDING_CANDIDATES_MAX 255

/* cand_index entries are 16 bits: half the footprint of 32 keeps more of
 * the index in the nearest caches, and the candidate loop's lookups into it
 * (hundreds a user, at random items) are most of a refresh. */
typedef uint16_t cand_index_t;
#define EXCLUDED UINT16_MAX
_Static_assert(MAX_CANDIDATES < EXCLUDED, "a candidate index must fit below EXCLUDED");

typedef struct candidate {
    uint32_t item;
    float cf;       /* sum over seeds of seed weight * similarity */
    float mf;       /* u . v + b */
    float trending; /* decayed popularity, 0 if not trending */
} candidate_t;

struct sr_recommender {
    sr_reco_config_t cfg;
    /* item -> index in cands + 1 for the current user; 0 = absent. Reset by
     * walking cands after each user, so no O(items) clear per user. */
    cand_index_t *cand_index;
    size_t n_items_cap;
    candidate_t cands[MAX_CANDIDATES];
    uint64_t keys[MAX_CANDIDATES]; /* rank keys (select.h) of the candidates */
    float *gathered;       /* MAX_CANDIDATES x k item rows */
    float mf_scores[MAX_CANDIDATES];
    float *user_rows;      /* SR_RECO_MAX_BATCH x k */
    float *trending_rows;  /* n_trending x k */
    float *trending_scores;/* SR_RECO_MAX_BATCH x n_trending */
    int k_alloc;
    /* items whose cand_index holds EXCLUDED, to reset after the user */
    uint32_t marked[MAX_CANDIDATES + SR_PROFILE_RECENT_MAX + SR_PROFILE_PURCHASED_MAX];
    size_t n_marked;
};

void sr_reco_config_defaults(sr_reco_config_t *cfg) {
    cfg->k = 20;
    /* 6 seeds and 32 kept candidates (were 8 and 64) recall as much on the
     * three eval datasets (within 0.0003) and refresh a user ~10% faster:
     * older seeds weigh 0.7^6 and less, and the gathers of candidates that
     * never reach the top 20 were most of the MF scoring's cost. */
    cfg->seeds = 6;
    cfg->seed_decay = 0.7f;
    cfg->trending_candidates = 50;
    cfg->candidates = 32;
    cfg->cf_weight = 1.0f;
    cfg->mf_weight = 0.15f;
    cfg->trending_weight = 0.05f;
    cfg->exclude_seen = true;
}

sr_recommender_t *sr_reco_new(const sr_reco_config_t *cfg, char *errstr, size_t errstr_size) {
    if (cfg->k < 1 || cfg->k > SR_RECO_MAX_K || cfg->seeds < 0 || cfg->seeds > MAX_SEEDS ||
        cfg->trending_candidates < 0 || cfg->trending_candidates > SR_TRENDING_CANDIDATES_MAX ||
        cfg->candidates < cfg->k || cfg->candidates > SR_RECO_MAX_CANDIDATES) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "reco: k must be in [1, %d], seeds in [0, %d], trending candidates in [0, %d], "
                  "candidates in [k, %d]",
                  SR_RECO_MAX_K, MAX_SEEDS, SR_TRENDING_CANDIDATES_MAX, SR_RECO_MAX_CANDIDATES);
        return NULL;
    }
    sr_recommender_t *r = calloc(1, sizeof *r);
    if (!r) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating the recommender");
        return NULL;
    }
    r->cfg = *cfg;
    return r;
}

void sr_reco_destroy(sr_recommender_t *r) {
    if (!r)
        return;
    free(r->cand_index);
    free(r->gathered);
    free(r->user_rows);
    free(r->trending_rows);
    free(r->trending_scores);
    free(r);
}

static sr_err_t ensure_scratch(sr_recommender_t *r, size_t n_items, int k) {
    if (n_items > r->n_items_cap) {
        size_t cap = r->n_items_cap ? r->n_items_cap : 1024;
        while (cap < n_items) cap *= 2;
        cand_index_t *idx = realloc(r->cand_index, cap * sizeof *idx);
        if (!idx)
            return SR_ERR_NOMEM;
        memset(idx + r->n_items_cap, 0, (cap - r->n_items_cap) * sizeof *idx);
        r->cand_index = idx;
        r->n_items_cap = cap;
    }
    if (k != r->k_alloc) {
        free(r->gathered);
        free(r->user_rows);
        free(r->trending_rows);
        free(r->trending_scores);
        r->gathered = malloc((size_t)MAX_CANDIDATES * k * sizeof(float));
        r->user_rows = malloc((size_t)SR_RECO_MAX_BATCH * k * sizeof(float));
        r->trending_rows = malloc((size_t)SR_TRENDING_CANDIDATES_MAX * k * sizeof(float));
        r->trending_scores = malloc((size_t)SR_RECO_MAX_BATCH * SR_TRENDING_CANDIDATES_MAX * sizeof(float));
        if (!r->gathered || !r->user_rows || !r->trending_rows || !r->trending_scores) {
            r->k_alloc = 0;
            return SR_ERR_NOMEM;
        }
        r->k_alloc = k;
    }
    return SR_OK;
}

/* Marks the items the user must not be offered (purchases; recent history
 * with reco.exclude.seen) as EXCLUDED in cand_index, so the candidate loop
 * filters with the one lookup it does anyway instead of scanning the rings
 * for each of its hundreds of partners. */
static void mark_excluded(sr_recommender_t *r, const sr_profile_t *p) {
    for (int k = 0; k < p->purchased_len; k++) {
        r->cand_index[p->purchased[k]] = EXCLUDED;
        r->marked[r->n_marked++] = p->purchased[k];
    }
    if (r->cfg.exclude_seen)
        for (int k = 0; k < p->recent_len; k++) {
            r->cand_index[p->recent_item[k]] = EXCLUDED;
            r->marked[r->n_marked++] = p->recent_item[k];
        }
}

static void prefetch_profile(const sr_profile_t *p) {
    for (size_t off = 0; off < sizeof *p; off += 64) __builtin_prefetch((const char *)p + off);
}

static void prefetch_row(const float *row, int k) {
    for (size_t off = 0; off < (size_t)k * sizeof *row; off += 64)
        __builtin_prefetch((const char *)row + off);
}

/* The user's seeds (recent items, newest first), with their summaries'
 * loads started. */
static size_t load_seeds(const sr_recommender_t *r, const sr_sim_t *sim, const sr_profile_t *p,
                         uint32_t seeds[MAX_SEEDS]) {
    size_t n = sr_profile_recent(p, seeds, NULL, (size_t)r->cfg.seeds);
    for (size_t s = 0; s < n; s++) sr_sim_prefetch_neighbours(sim, seeds[s]);
    return n;
}

/* Adds to (or creates) the candidate for item; returns its index or -1 if
 * the item is excluded. */
static int candidate(sr_recommender_t *r, size_t *n, uint32_t item) {
    cand_index_t idx = r->cand_index[item];
    if (idx == EXCLUDED)
        return -1;
    if (idx)
        return (int)idx - 1;
    if (*n >= MAX_CANDIDATES)
        return -1;
    candidate_t *c = &r->cands[*n];
    c->item = item;
    c->cf = c->mf = c->trending = 0;
    r->cand_index[item] = (cand_index_t)++*n;
    return (int)*n - 1;
}

/* Keeps the `keep` candidates with the highest CF score (ties: lower item).
 * The rest are marked EXCLUDED so a trending duplicate is not re-added
 * without its CF score. Only the kept ones are gathered for MF scoring: the
 * row gathers, not the arithmetic, are what a candidate costs. */
static size_t keep_best_cf(sr_recommender_t *r, size_t n, size_t keep) {
    if (n <= keep)
        return n;
    uint64_t *keys = r->keys;
    for (size_t c = 0; c < n; c++) keys[c] = sr_rank_key(r->cands[c].cf, r->cands[c].item);
    sr_select_top(keys, n, keep);
    for (size_t c = 0; c < keep; c++) {
        candidate_t *x = &r->cands[c];
        x->item = sr_rank_key_id(keys[c]);
        x->cf = sr_rank_key_score(keys[c]);
        x->mf = x->trending = 0;
        r->cand_index[x->item] = (cand_index_t)(c + 1);
    }
    for (size_t c = keep; c < n; c++) {
        uint32_t item = sr_rank_key_id(keys[c]);
        r->cand_index[item] = EXCLUDED;
        r->marked[r->n_marked++] = item;
    }
    return keep;
}

/* Blends, selects the top k into out, and clears cand_index for the next user. */
static size_t blend_and_select(sr_recommender_t *r, size_t n, sr_neighbour_t *out) {
    float max_cf = 0, max_tr = 0, min_mf = 0, max_mf = 0;
    for (size_t c = 0; c < n; c++) {
        candidate_t *x = &r->cands[c];
        if (x->cf > max_cf) max_cf = x->cf;
        if (x->trending > max_tr) max_tr = x->trending;
        if (c == 0 || x->mf < min_mf) min_mf = x->mf;
        if (c == 0 || x->mf > max_mf) max_mf = x->mf;
    }
    float mf_range = max_mf - min_mf;
    uint64_t *keys = r->keys;
    for (size_t c = 0; c < n; c++) {
        candidate_t *x = &r->cands[c];
        float score = (max_cf > 0 ? r->cfg.cf_weight * x->cf / max_cf : 0) +
                      (mf_range > 0 ? r->cfg.mf_weight * (x->mf - min_mf) / mf_range : 0) +
                      (max_tr > 0 ? r->cfg.trending_weight * x->trending / max_tr : 0);
        keys[c] = sr_rank_key(score, x->item);
        r->cand_index[x->item] = 0;
    }
    for (size_t m = 0; m < r->n_marked; m++) r->cand_index[r->marked[m]] = 0;
    r->n_marked = 0;
    size_t k = (size_t)r->cfg.k < n ? (size_t)r->cfg.k : n;
    sr_select_top(keys, n, k);
    sr_sort_desc(keys, k);
    for (size_t a = 0; a < k; a++) {
        out[a].item = sr_rank_key_id(keys[a]);
        out[a].score = sr_rank_key_score(keys[a]);
    }
    return k;
}

sr_err_t sr_reco_batch(sr_recommender_t *r, const sr_reco_model_t *model,
                       const uint32_t *users, const sr_profile_t *const *profiles,
                       size_t n_users, sr_neighbour_t *out, size_t *n_out) {
    if (n_users > SR_RECO_MAX_BATCH)
        return SR_ERR_INVALID;
    const int k = sr_mf_k(model->mf);
    const float *item_table = sr_mf_item_table(model->mf);
    const float *bias = sr_mf_item_biases(model->mf);
    if (ensure_scratch(r, sr_mf_items(model->mf), k) != SR_OK)
        return SR_ERR_NOMEM;

    /* Trending candidates are shared by every user of the batch: one sgemm
     * scores all of them, (users x k) * (k x trending). */
    size_t n_tr = model->n_trending < (size_t)r->cfg.trending_candidates
                      ? model->n_trending : (size_t)r->cfg.trending_candidates;
    for (size_t t = 0; t < n_tr; t++)
        memcpy(r->trending_rows + t * k, item_table + (size_t)model->trending[t].item * k,
               (size_t)k * sizeof(float));
    for (size_t b = 0; b < n_users; b++)
        memcpy(r->user_rows + b * k, sr_mf_user_row(model->mf, users[b]), (size_t)k * sizeof(float));
    if (n_tr > 0 && n_users > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_users, (int)n_tr, k, 1.0f,
                    r->user_rows, k, r->trending_rows, k, 0.0f, r->trending_scores, (int)n_tr);

    /* A batch's users, their seeds' summaries and their candidates' rows are
     * scattered over tables far larger than the cache, and were last touched
     * up to a batch ago. Loads are therefore started ahead of use: profiles
     * two users ahead, the next user's seed summaries while this user is
     * scored, and this user's candidate rows before its CF work is done. */
    uint32_t seeds[2][MAX_SEEDS];
    size_t n_seeds[2] = {0, 0};
    for (size_t b = 0; b < n_users && b < 2; b++) prefetch_profile(profiles[b]);
    if (n_users > 0)
        n_seeds[0] = load_seeds(r, model->sim, profiles[0], seeds[0]);

    for (size_t b = 0; b < n_users; b++) {
        const sr_profile_t *p = profiles[b];
        size_t n = 0;
        if (b + 2 < n_users)
            prefetch_profile(profiles[b + 2]);
        mark_excluded(r, p);
        const uint32_t *my_seeds = seeds[b & 1];
        float seed_weight = 1.0f;
        for (size_t s = 0; s < n_seeds[b & 1]; s++, seed_weight *= r->cfg.seed_decay) {
            const uint32_t *partners;
            const float *scores;
            sr_sim_slots(model->sim, my_seeds[s], &partners, &scores);
            for (int slot = 0; slot < SR_SIM_SLOTS; slot++) {
                if (partners[slot] == SR_SIM_NONE || scores[slot] <= 0)
                    continue;
                int c = candidate(r, &n, partners[slot]);
                if (c >= 0)
                    r->cands[c].cf += seed_weight * scores[slot];
            }
        }
        n = keep_best_cf(r, n, (size_t)r->cfg.candidates);
        size_t n_cf = n;
        for (size_t c = 0; c < n_cf; c++)
            prefetch_row(item_table + (size_t)r->cands[c].item * k, k);
        if (b + 1 < n_users)
            n_seeds[(b + 1) & 1] = load_seeds(r, model->sim, profiles[b + 1], seeds[(b + 1) & 1]);
        /* MF scores of the CF candidates: gather their rows, one sgemv. */
        for (size_t c = 0; c < n_cf; c++)
            memcpy(r->gathered + c * k, item_table + (size_t)r->cands[c].item * k,
                   (size_t)k * sizeof(float));
        if (n_cf > 0)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_cf, k, 1.0f, r->gathered, k,
                        r->user_rows + b * k, 1, 0.0f, r->mf_scores, 1);
        for (size_t c = 0; c < n_cf; c++)
            r->cands[c].mf = r->mf_scores[c] + bias[r->cands[c].item];
        for (size_t t = 0; t < n_tr; t++) {
            uint32_t item = model->trending[t].item;
            bool had = r->cand_index[item] != 0;
            int c = candidate(r, &n, item);
            if (c < 0)
                continue;
            r->cands[c].trending = model->trending[t].score;
            if (!had)
                r->cands[c].mf = r->trending_scores[b * n_tr + t] + bias[item];
        }
        n_out[b] = blend_and_select(r, n, out + b * (size_t)r->cfg.k);
    }
    return SR_OK;
}
