#include "streamrec/mf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/rng.h"

/* AdaGrad accumulators start at 1, so the first step is learning_rate times
 * the gradient and later steps shrink as 1/sqrt(1 + sum of squared grads). */
#define ADAGRAD_INIT 1.0f

/* One growable table of rows: factors (k floats), accumulator, and for items
 * a bias. Grows by doubling; untouched capacity costs address space, not RSS. */
typedef struct table {
    float *factors;
    float *accum;
    float *bias; /* NULL for users */
    size_t n, cap;
} table_t;

struct sr_mf {
    sr_mf_config_t cfg;
    table_t users, items;
    uint32_t *pool;    /* ring of recent positive items */
    size_t pool_len, pool_next;
    uint64_t rng;
};

void sr_mf_config_defaults(sr_mf_config_t *cfg) {
    cfg->k = 32;
    cfg->learning_rate = 0.05f;
    cfg->regularization = 0.002f;
    cfg->negatives = 5;
    cfg->negative_pool = 4096;
    cfg->init_scale = 0.1f;
    cfg->adagrad = true;
    cfg->seed = 42;
}

sr_mf_t *sr_mf_new(const sr_mf_config_t *cfg, char *errstr, size_t errstr_size) {
    if (cfg->k < 1 || cfg->k > SR_MF_MAX_K) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "mf.k must be in [1, %d], got %d",
                  SR_MF_MAX_K, cfg->k);
        return NULL;
    }
    if (cfg->negatives < 0 || cfg->negatives > SR_MF_MAX_NEGATIVES || cfg->negative_pool < 1) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "mf.negatives must be in [0, %d] and mf.negative.pool >= 1", SR_MF_MAX_NEGATIVES);
        return NULL;
    }
    sr_mf_t *mf = calloc(1, sizeof *mf);
    if (!mf)
        goto fail;
    mf->cfg = *cfg;
    mf->rng = cfg->seed;
    mf->pool = malloc((size_t)cfg->negative_pool * sizeof *mf->pool);
    if (!mf->pool)
        goto fail;
    return mf;
fail:
    sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating the MF model");
    sr_mf_destroy(mf);
    return NULL;
}

static void table_free(table_t *t) {
    free(t->factors);
    free(t->accum);
    free(t->bias);
}

void sr_mf_destroy(sr_mf_t *mf) {
    if (!mf)
        return;
    table_free(&mf->users);
    table_free(&mf->items);
    free(mf->pool);
    free(mf);
}

/* Row r's start: small random factors from seed, a fresh accumulator. */
static void row_init(table_t *t, size_t r, int k, float init_scale, uint64_t seed) {
    float *row = t->factors + r * (size_t)k;
    uint64_t state = seed;
    for (int f = 0; f < k; f++)
        row[f] = init_scale * sr_rng_symmetric(&state);
    t->accum[r] = ADAGRAD_INIT;
    if (t->bias)
        t->bias[r] = 0.0f;
}

static sr_err_t table_append(table_t *t, int k, bool with_bias, float init_scale,
                             uint64_t seed) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        float *f = realloc(t->factors, cap * (size_t)k * sizeof *f);
        if (!f)
            return SR_ERR_NOMEM;
        t->factors = f;
        float *a = realloc(t->accum, cap * sizeof *a);
        if (!a)
            return SR_ERR_NOMEM;
        t->accum = a;
        if (with_bias) {
            float *b = realloc(t->bias, cap * sizeof *b);
            if (!b)
                return SR_ERR_NOMEM;
            t->bias = b;
        }
        t->cap = cap;
    }
    row_init(t, t->n, k, init_scale, seed);
    t->n++;
    return SR_OK;
}

sr_err_t sr_mf_ensure_user(sr_mf_t *mf, uint32_t u, uint64_t id_hash) {
    if (u < mf->users.n)
        return SR_OK;
    if (u != mf->users.n)
        return SR_ERR_INVALID;
    return table_append(&mf->users, mf->cfg.k, false, mf->cfg.init_scale,
                        id_hash ^ mf->cfg.seed);
}

sr_err_t sr_mf_ensure_item(sr_mf_t *mf, uint32_t i, uint64_t id_hash) {
    if (i < mf->items.n)
        return SR_OK;
    if (i != mf->items.n)
        return SR_ERR_INVALID;
    /* A different stream of the generator than users', so a user and an item
     * with the same id string do not start parallel. */
    return table_append(&mf->items, mf->cfg.k, true, mf->cfg.init_scale,
                        id_hash ^ ~mf->cfg.seed);
}

/* Loops over a row run on vectors of LANES floats (GCC vector extensions:
 * one AVX register, or two SSE ones on a baseline build), with the sums
 * kept per lane and added up at the end. Left to itself the compiler keeps
 * `s += a[f] * b[f]` scalar (an ordered float reduction, without
 * -ffast-math), which made the BPR step the costliest part of an event. */
#define LANES 8
typedef float lanes_t __attribute__((vector_size(LANES * sizeof(float))));

/* Rows are not aligned to a vector: load and store through memcpy. (Macros,
 * not functions: passing an AVX-sized vector by value is an ABI question
 * the compiler warns about on baseline builds.) */
#define LOAD_LANES(v, p) memcpy(&(v), (p), sizeof(lanes_t))
#define STORE_LANES(p, v) memcpy((p), &(v), sizeof(lanes_t))

static inline float sum_lanes(const lanes_t *v) {
    return (((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3])) +
           (((*v)[4] + (*v)[5]) + ((*v)[6] + (*v)[7]));
}

static inline float dot(const float *a, const float *b, int k) {
    lanes_t acc = {0};
    int f = 0;
    for (; f + LANES <= k; f += LANES) {
        lanes_t x, y;
        LOAD_LANES(x, a + f);
        LOAD_LANES(y, b + f);
        acc += x * y;
    }
    float s = sum_lanes(&acc);
    for (; f < k; f++) s += a[f] * b[f];
    return s;
}

static inline float step_size(const sr_mf_t *mf, float *accum, float grad_sq_mean) {
    if (!mf->cfg.adagrad)
        return mf->cfg.learning_rate;
    *accum += grad_sq_mean;
    return mf->cfg.learning_rate / sqrtf(*accum);
}

/* Sum of squares of a gradient g * a - lambda * b, from the dot products
 * a.a, a.b and b.b (clamped: rounding may leave a true zero slightly below). */
static inline float grad_sq(float g, float lambda, float aa, float ab, float bb) {
    float sq = g * g * aa - 2.0f * g * lambda * ab + lambda * lambda * bb;
    return sq > 0 ? sq : 0;
}

void sr_mf_step(sr_mf_t *mf, uint32_t u, uint32_t pos, const uint32_t *neg,
                size_t n_neg, float weight) {
    const int k = mf->cfg.k;
    const float lambda = mf->cfg.regularization;
    float *uf = mf->users.factors + (size_t)u * k;
    float *vi = mf->items.factors + (size_t)pos * k;
    float *bias = mf->items.bias;
    uint32_t js[SR_MF_MAX_NEGATIVES];
    size_t m = 0;
    for (size_t n = 0; n < n_neg; n++)
        if (neg[n] != pos)
            js[m++] = neg[n];
    if (m == 0)
        return;

    float s_ui = dot(uf, vi, k), s_uu = dot(uf, uf, k), s_ii = dot(vi, vi, k);
    float s_uj[SR_MF_MAX_NEGATIVES], s_jj[SR_MF_MAX_NEGATIVES], g[SR_MF_MAX_NEGATIVES];
    float sum_g = 0;
    for (size_t n = 0; n < m; n++) {
        const float *vj = mf->items.factors + (size_t)js[n] * k;
        s_uj[n] = dot(uf, vj, k);
        s_jj[n] = dot(vj, vj, k);
        float x = (bias[pos] - bias[js[n]]) + (s_ui - s_uj[n]);
        g[n] = weight / (1.0f + expf(x));
        sum_g += g[n];
    }
    const float m_lambda = (float)m * lambda;
    float grad_u[SR_MF_MAX_K];
    for (int f = 0; f < k; f++) grad_u[f] = sum_g * vi[f] - m_lambda * uf[f];
    for (size_t n = 0; n < m; n++) {
        const float *vj = mf->items.factors + (size_t)js[n] * k;
        for (int f = 0; f < k; f++) grad_u[f] -= g[n] * vj[f];
    }
    float sq_u = dot(grad_u, grad_u, k);
    float sq_i = grad_sq(sum_g, m_lambda, s_uu, s_ui, s_ii);
    float grad_bi = sum_g - m_lambda * bias[pos];
    /* The user and item i gradients are sums of m per-negative gradients;
     * their accumulators take (sum)^2 / m, about what m separate steps would
     * add, so that the step sizes shrink at the rate they did before. */
    float eta_u = step_size(mf, &mf->users.accum[u], sq_u / k / (float)m);
    float eta_i = step_size(mf, &mf->items.accum[pos],
                            (sq_i + grad_bi * grad_bi) / (k + 1) / (float)m);
    for (size_t n = 0; n < m; n++) {
        float *vj = mf->items.factors + (size_t)js[n] * k;
        float *bj = &bias[js[n]];
        float sq_j = grad_sq(-g[n], lambda, s_uu, s_uj[n], s_jj[n]);
        float grad_bj = -g[n] - lambda * *bj;
        float eta_j = step_size(mf, &mf->items.accum[js[n]], (sq_j + grad_bj * grad_bj) / (k + 1));
        for (int f = 0; f < k; f++) vj[f] += eta_j * (-g[n] * uf[f] - lambda * vj[f]);
        *bj += eta_j * grad_bj;
    }
    for (int f = 0; f < k; f++) vi[f] += eta_i * (sum_g * uf[f] - m_lambda * vi[f]);
    bias[pos] += eta_i * grad_bi;
    for (int f = 0; f < k; f++) uf[f] += eta_u * grad_u[f];
}

void sr_mf_observe(sr_mf_t *mf, uint32_t u, uint32_t pos, float weight) {
    uint32_t neg[SR_MF_MAX_NEGATIVES];
    size_t n_neg = 0;
    if (mf->pool_len > 0)
        for (int n = 0; n < mf->cfg.negatives; n++)
            neg[n_neg++] = mf->pool[sr_rng_below(&mf->rng, (uint32_t)mf->pool_len)];
    sr_mf_step(mf, u, pos, neg, n_neg, weight);
    mf->pool[mf->pool_next] = pos;
    mf->pool_next = (mf->pool_next + 1) % (size_t)mf->cfg.negative_pool;
    if (mf->pool_len < (size_t)mf->cfg.negative_pool)
        mf->pool_len++;
}

static void prefetch_row(const table_t *t, int k, uint32_t id) {
    if (id >= t->n)
        return;
    const char *row = (const char *)(t->factors + (size_t)id * k);
    for (size_t off = 0; off < (size_t)k * sizeof(float); off += 64) __builtin_prefetch(row + off);
    __builtin_prefetch(&t->accum[id]);
    if (t->bias)
        __builtin_prefetch(&t->bias[id]);
}

void sr_mf_prefetch_user(const sr_mf_t *mf, uint32_t u) {
    prefetch_row(&mf->users, mf->cfg.k, u);
}

void sr_mf_prefetch_item(const sr_mf_t *mf, uint32_t i) {
    prefetch_row(&mf->items, mf->cfg.k, i);
}

float sr_mf_score(const sr_mf_t *mf, uint32_t u, uint32_t i) {
    const int k = mf->cfg.k;
    return dot(mf->users.factors + (size_t)u * k, mf->items.factors + (size_t)i * k, k) +
           mf->items.bias[i];
}

int sr_mf_k(const sr_mf_t *mf) { return mf->cfg.k; }
size_t sr_mf_users(const sr_mf_t *mf) { return mf->users.n; }
size_t sr_mf_items(const sr_mf_t *mf) { return mf->items.n; }
const float *sr_mf_user_row(const sr_mf_t *mf, uint32_t u) {
    return mf->users.factors + (size_t)u * mf->cfg.k;
}
const float *sr_mf_item_row(const sr_mf_t *mf, uint32_t i) {
    return mf->items.factors + (size_t)i * mf->cfg.k;
}
float *sr_mf_user_row_mut(sr_mf_t *mf, uint32_t u) {
    return mf->users.factors + (size_t)u * mf->cfg.k;
}
float *sr_mf_item_row_mut(sr_mf_t *mf, uint32_t i) {
    return mf->items.factors + (size_t)i * mf->cfg.k;
}
float sr_mf_item_bias(const sr_mf_t *mf, uint32_t i) { return mf->items.bias[i]; }
const float *sr_mf_item_table(const sr_mf_t *mf) { return mf->items.factors; }
const float *sr_mf_item_biases(const sr_mf_t *mf) { return mf->items.bias; }

size_t sr_mf_bytes_per_user(const sr_mf_t *mf) {
    return (size_t)mf->cfg.k * sizeof(float) + sizeof(float);
}
size_t sr_mf_bytes_per_item(const sr_mf_t *mf) {
    return (size_t)mf->cfg.k * sizeof(float) + 2 * sizeof(float);
}

void sr_mf_user_get(const sr_mf_t *mf, uint32_t u, float *factors, float *accum) {
    memcpy(factors, mf->users.factors + (size_t)u * (size_t)mf->cfg.k,
           (size_t)mf->cfg.k * sizeof *factors);
    *accum = mf->users.accum[u];
}

void sr_mf_user_set(sr_mf_t *mf, uint32_t u, const float *factors, float accum) {
    memcpy(mf->users.factors + (size_t)u * (size_t)mf->cfg.k, factors,
           (size_t)mf->cfg.k * sizeof *factors);
    mf->users.accum[u] = accum;
}

void sr_mf_user_reset(sr_mf_t *mf, uint32_t u, uint64_t id_hash) {
    row_init(&mf->users, u, mf->cfg.k, mf->cfg.init_scale, id_hash ^ mf->cfg.seed);
}

void sr_mf_item_reset(sr_mf_t *mf, uint32_t i, uint64_t id_hash) {
    row_init(&mf->items, i, mf->cfg.k, mf->cfg.init_scale, id_hash ^ ~mf->cfg.seed);
}

static void reverse(uint32_t *v, size_t n) {
    for (size_t a = 0, b = n; a + 1 < b; a++, b--) {
        uint32_t t = v[a];
        v[a] = v[b - 1];
        v[b - 1] = t;
    }
}

void sr_mf_drop_negatives(sr_mf_t *mf, const uint8_t *gone, size_t n_items) {
    size_t size = (size_t)mf->cfg.negative_pool, len = mf->pool_len, kept = 0;
    bool any = false;
    for (size_t r = 0; r < len && !any; r++)
        any = mf->pool[r] < n_items && gone[mf->pool[r]];
    if (!any)
        return; /* the ring stays as it is, layout included */
    /* A full ring's oldest entry is at pool_next: rotate it to slot 0 (three
     * reversals) so the entries read oldest first and compact in place. */
    if (len == size && mf->pool_next != 0) {
        reverse(mf->pool, mf->pool_next);
        reverse(mf->pool + mf->pool_next, size - mf->pool_next);
        reverse(mf->pool, size);
    }
    for (size_t r = 0; r < len; r++) {
        uint32_t item = mf->pool[r];
        if (item < n_items && gone[item])
            continue;
        mf->pool[kept++] = item;
    }
    mf->pool_len = kept;
    mf->pool_next = kept % size;
}

/* ---- save and load ------------------------------------------------------
 *
 * "MF  ", u32 k, u32 users, u32 items; users: factors (users x k), AdaGrad
 * accumulators; items: factors, accumulators, biases; the ring: u32 size,
 * u32 filled, u32 next, the filled entries; u64 generator state. */

static void table_save(const table_t *t, int k, sr_writer_t *w) {
    sr_writer_f32s(w, t->factors, t->n * (size_t)k);
    sr_writer_f32s(w, t->accum, t->n);
    if (t->bias)
        sr_writer_f32s(w, t->bias, t->n);
}

void sr_mf_save(const sr_mf_t *mf, sr_writer_t *w) {
    sr_writer_tag(w, "MF  ");
    sr_writer_u32(w, (uint32_t)mf->cfg.k);
    sr_writer_u32(w, (uint32_t)mf->users.n);
    sr_writer_u32(w, (uint32_t)mf->items.n);
    table_save(&mf->users, mf->cfg.k, w);
    table_save(&mf->items, mf->cfg.k, w);
    sr_writer_u32(w, (uint32_t)mf->cfg.negative_pool);
    sr_writer_u32(w, (uint32_t)mf->pool_len);
    sr_writer_u32(w, (uint32_t)mf->pool_next);
    sr_writer_u32s(w, mf->pool, mf->pool_len);
    sr_writer_u64(w, mf->rng);
}

/* Sizes an empty table for n rows and reads them in. */
static sr_err_t table_load(table_t *t, size_t n, int k, bool with_bias, sr_reader_t *r) {
    if (n == 0)
        return SR_OK;
    size_t cap = 1024;
    while (cap < n) cap *= 2;
    if (!(t->factors = malloc(cap * (size_t)k * sizeof *t->factors)) ||
        !(t->accum = malloc(cap * sizeof *t->accum)) ||
        (with_bias && !(t->bias = malloc(cap * sizeof *t->bias))))
        return SR_ERR_NOMEM;
    t->cap = cap;
    t->n = n;
    sr_reader_f32s(r, t->factors, n * (size_t)k);
    sr_reader_f32s(r, t->accum, n);
    if (with_bias)
        sr_reader_f32s(r, t->bias, n);
    return sr_reader_ok(r) ? SR_OK : r->err;
}

sr_err_t sr_mf_load(sr_mf_t *mf, sr_reader_t *r, size_t n_users, size_t n_items,
                    char *errstr, size_t errstr_size) {
    if (mf->users.n || mf->items.n || mf->pool_len)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "mf: loading into a used model");
    if (!sr_reader_tag(r, "MF  "))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "mf: no MF section where one was expected")
                               : sr_reader_error(r, "mf", errstr, errstr_size);
    uint32_t k = sr_reader_u32(r), users = sr_reader_u32(r), items = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "mf", errstr, errstr_size);
    if ((int)k != mf->cfg.k)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "mf: state has %u factors a row, this model mf.k=%d", k, mf->cfg.k);
    if (users != n_users || items != n_items)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "mf: %u user and %u item rows for %zu users and %zu items", users,
                         items, n_users, n_items);
    sr_err_t err;
    if ((err = table_load(&mf->users, users, mf->cfg.k, false, r)) != SR_OK ||
        (err = table_load(&mf->items, items, mf->cfg.k, true, r)) != SR_OK)
        return err == SR_ERR_NOMEM
                   ? sr_seterr(err, errstr, errstr_size, "mf: out of memory for %u users, %u items",
                               users, items)
                   : sr_reader_error(r, "mf", errstr, errstr_size);
    uint32_t pool_size = sr_reader_u32(r), pool_len = sr_reader_u32(r),
             pool_next = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "mf", errstr, errstr_size);
    if ((int)pool_size != mf->cfg.negative_pool)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "mf: state has a negative pool of %u, this model mf.negative.pool=%d",
                         pool_size, mf->cfg.negative_pool);
    /* The ring fills slots 0, 1, ... before it wraps. */
    if (pool_len > pool_size || pool_next >= pool_size ||
        (pool_len < pool_size && pool_next != pool_len))
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "mf: negative ring of %u with %u filled and next %u is inconsistent",
                         pool_size, pool_len, pool_next);
    if (!sr_reader_u32s(r, mf->pool, pool_len))
        return sr_reader_error(r, "mf", errstr, errstr_size);
    for (uint32_t p = 0; p < pool_len; p++)
        if (mf->pool[p] >= items)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "mf: negative ring holds item %u of %u", mf->pool[p], items);
    mf->pool_len = pool_len;
    mf->pool_next = pool_next;
    mf->rng = sr_reader_u64(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "mf", errstr, errstr_size);
    return SR_OK;
}
