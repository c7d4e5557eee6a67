/* streamrec online matrix factorisation for implicit feedback.
 *
 * Owns the user and item factor tables (contiguous row-major float arrays,
 * row = dense id, k floats per row), item biases and one AdaGrad accumulator
 * per row. Each positive event is one BPR step (Rendle et al., UAI 2009)
 * over its sampled negatives, applied online as in ISGD (Vinagre et al.,
 * UMAP 2014).
 *
 * Negatives are drawn from a ring of recent positive items: an O(1)
 * approximation of popularity-weighted sampling, and the sampled rows are
 * ones recently touched, so they are usually still in cache.
 *
 * Row-wise AdaGrad (one accumulator per row, not per coordinate) keeps the
 * per-row learning rate adaptive at 4 bytes a row: frequent items take small
 * steps, rare items and new users large ones.
 *
 * New rows start from a small deterministic random vector seeded by the hash
 * of the id string, so two runs over the same input give the same factors.
 * Thread rules: engine thread only. Pointers into the tables are invalidated
 * by sr_mf_ensure_*() (the tables may move when they grow). */
#ifndef STREAMREC_MF_H
#define STREAMREC_MF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/serial.h"

#define SR_MF_MAX_K 256
#define SR_MF_MAX_NEGATIVES 32

typedef struct sr_mf_config {
    int k;                 /* factors per row, default 32 */
    float learning_rate;   /* initial step, default 0.05 */
    float regularization;  /* L2, default 0.002 */
    int negatives;         /* sampled negatives per positive, default 5 */
    int negative_pool;     /* ring of recent positives to sample from, default 4096 */
    float init_scale;      /* initial values uniform in [-s, s], default 0.1 */
    bool adagrad;          /* row-wise AdaGrad, default true */
    uint64_t seed;
} sr_mf_config_t;

typedef struct sr_mf sr_mf_t;

void sr_mf_config_defaults(sr_mf_config_t *cfg);

sr_mf_t *sr_mf_new(const sr_mf_config_t *cfg, char *errstr, size_t errstr_size);
void sr_mf_destroy(sr_mf_t *mf);

/* Makes row u (resp. i) exist. Ids are dense: u must be < the current count
 * (no-op) or equal to it (a new row is appended, seeded from id_hash). */
sr_err_t sr_mf_ensure_user(sr_mf_t *mf, uint32_t u, uint64_t id_hash);
sr_err_t sr_mf_ensure_item(sr_mf_t *mf, uint32_t i, uint64_t id_hash);

/* One BPR step over all negatives: raises score(u, pos) above score(u,
 * neg[n]) for every n. All pairs are scored against the same rows; the user
 * and pos rows then take the sum of their per-pair gradients in one update,
 * each negative row its own. (With one negative this is the textbook
 * sequential BPR step; with several it is its mini-batch form, which lets
 * the pairs be scored in parallel instead of one after the other.) weight
 * scales the gradient (event weight). Negatives equal to pos are skipped.
 * Exposed for tests; events go through sr_mf_observe(). */
void sr_mf_step(sr_mf_t *mf, uint32_t u, uint32_t pos, const uint32_t *neg,
                size_t n_neg, float weight);

/* A positive interaction: samples negatives from the recent-positive ring
 * (deterministic generator), steps, then remembers pos in the ring. */
void sr_mf_observe(sr_mf_t *mf, uint32_t u, uint32_t pos, float weight);

/* Start loading what an sr_mf_observe() for user u / item i will touch
 * (the row, its accumulator and bias), a few events before it runs. Ids
 * not (yet) in the model are ignored. */
void sr_mf_prefetch_user(const sr_mf_t *mf, uint32_t u);
void sr_mf_prefetch_item(const sr_mf_t *mf, uint32_t i);

/* u . v_i + b_i */
float sr_mf_score(const sr_mf_t *mf, uint32_t u, uint32_t i);

int sr_mf_k(const sr_mf_t *mf);
size_t sr_mf_users(const sr_mf_t *mf);
size_t sr_mf_items(const sr_mf_t *mf);
const float *sr_mf_user_row(const sr_mf_t *mf, uint32_t u);
const float *sr_mf_item_row(const sr_mf_t *mf, uint32_t i);
float sr_mf_item_bias(const sr_mf_t *mf, uint32_t i);
/* Whole item table (items x k, row-major) and bias vector, for batched scoring. */
const float *sr_mf_item_table(const sr_mf_t *mf);
const float *sr_mf_item_biases(const sr_mf_t *mf);

/* Bytes held per user row and per item row (factors, bias, accumulator). */
size_t sr_mf_bytes_per_user(const sr_mf_t *mf);
size_t sr_mf_bytes_per_item(const sr_mf_t *mf);

/* One user's learned state -- the k factors and the AdaGrad accumulator --
 * read out and written back whole (a user moving to another engine), and
 * reset to the deterministic start row of id_hash (a user given up). */
void sr_mf_user_get(const sr_mf_t *mf, uint32_t u, float *factors, float *accum);
void sr_mf_user_set(sr_mf_t *mf, uint32_t u, const float *factors, float accum);
void sr_mf_user_reset(sr_mf_t *mf, uint32_t u, uint64_t id_hash);
/* Item i's row back to a new item's (factors seeded by id_hash, bias 0):
 * for a dense id handed out again after an eviction. */
void sr_mf_item_reset(sr_mf_t *mf, uint32_t i, uint64_t id_hash);
/* Removes the items with gone[item] != 0 (item < n_items) from the ring of
 * negatives, keeping the others in their order (oldest in slot 0). O(pool). */
void sr_mf_drop_negatives(sr_mf_t *mf, const uint8_t *gone, size_t n_items);

/* Direct write access for tests and checkpoint restore. */
float *sr_mf_user_row_mut(sr_mf_t *mf, uint32_t u);
float *sr_mf_item_row_mut(sr_mf_t *mf, uint32_t i);

/* The whole model: both tables with their accumulators and biases, the
 * negative-sampling ring and the generator's state, so a loaded model takes
 * exactly the steps the saved one would have. Save does not allocate.
 * Load goes into a model just made by sr_mf_new() with the same k and
 * negative pool, and checks that the state holds n_users and n_items rows
 * (the caller's dictionaries) and that every pooled item is one of them. */
void sr_mf_save(const sr_mf_t *mf, sr_writer_t *w);
sr_err_t sr_mf_load(sr_mf_t *mf, sr_reader_t *r, size_t n_users, size_t n_items,
                    char *errstr, size_t errstr_size);

#endif
