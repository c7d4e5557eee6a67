#include "streamrec/trending.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/decay.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define NOT_LISTED 0xff

struct sr_trending {
    sr_trending_config_t cfg;
    sr_decay_t clock;
    float *count;        /* per item, scaled */
    uint8_t *position;   /* per item: index in top[], or NOT_LISTED */
    size_t n, cap;
    uint32_t top[SR_TRENDING_MAX];
    int top_len;
    int min_pos;         /* index in top[] of the smallest count */
};

void sr_trending_config_defaults(sr_trending_config_t *cfg) {
    cfg->size = 100;
    cfg->half_life_ms = 1 * DAY_MS;
}

sr_trending_t *sr_trending_new(const sr_trending_config_t *cfg, char *errstr, size_t errstr_size) {
    if (cfg->size < 1 || cfg->size > SR_TRENDING_MAX || cfg->half_life_ms <= 0) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "trending.size must be in [1, %d] and the half-life > 0", SR_TRENDING_MAX);
        return NULL;
    }
    sr_trending_t *t = calloc(1, sizeof *t);
    if (!t) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating trending");
        return NULL;
    }
    t->cfg = *cfg;
    sr_decay_init(&t->clock, cfg->half_life_ms);
    return t;
}

void sr_trending_destroy(sr_trending_t *t) {
    if (!t)
        return;
    free(t->count);
    free(t->position);
    free(t);
}

sr_err_t sr_trending_ensure_item(sr_trending_t *t, uint32_t i) {
    if (i < t->n)
        return SR_OK;
    if (i != t->n)
        return SR_ERR_INVALID;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        float *c = realloc(t->count, cap * sizeof *c);
        if (!c)
            return SR_ERR_NOMEM;
        t->count = c;
        uint8_t *p = realloc(t->position, cap);
        if (!p)
            return SR_ERR_NOMEM;
        t->position = p;
        t->cap = cap;
    }
    t->count[t->n] = 0;
    t->position[t->n] = NOT_LISTED;
    t->n++;
    return SR_OK;
}

static void find_min(sr_trending_t *t) {
    int m = 0;
    for (int k = 1; k < t->top_len; k++)
        if (t->count[t->top[k]] < t->count[t->top[m]])
            m = k;
    t->min_pos = m;
}

void sr_trending_observe(sr_trending_t *t, uint32_t i, float w, int64_t ts_ms) {
    bool renorm;
    float g = (float)sr_decay_advance(&t->clock, ts_ms, &renorm);
    if (renorm) {
        float inv = 1.0f / g;
        for (size_t k = 0; k < t->n; k++) t->count[k] *= inv;
        sr_decay_renormed(&t->clock);
        g = 1.0f;
    }
    t->count[i] += w * g;
    if (t->position[i] != NOT_LISTED) {
        if (t->position[i] == t->min_pos)
            find_min(t);
        return;
    }
    if (t->top_len < t->cfg.size) {
        t->position[i] = (uint8_t)t->top_len;
        t->top[t->top_len++] = i;
        find_min(t);
    } else if (t->count[i] > t->count[t->top[t->min_pos]]) {
        t->position[t->top[t->min_pos]] = NOT_LISTED;
        t->top[t->min_pos] = i;
        t->position[i] = (uint8_t)t->min_pos;
        find_min(t);
    }
}

void sr_trending_forget_item(sr_trending_t *t, uint32_t i) {
    t->count[i] = 0;
    int pos = t->position[i];
    if (pos == NOT_LISTED)
        return;
    t->position[i] = NOT_LISTED;
    t->top_len--;
    if (pos != t->top_len) {
        t->top[pos] = t->top[t->top_len];
        t->position[t->top[pos]] = (uint8_t)pos;
    }
    find_min(t);
}

size_t sr_trending_top(const sr_trending_t *t, sr_neighbour_t *out, size_t max) {
    sr_neighbour_t all[SR_TRENDING_MAX];
    int n = t->top_len;
    for (int k = 0; k < n; k++) {
        all[k].item = t->top[k];
        all[k].score = (float)(t->count[t->top[k]] / t->clock.scale);
    }
    /* insertion sort: n <= 255 and called once per batch */
    for (int a = 1; a < n; a++) {
        sr_neighbour_t x = all[a];
        int b = a;
        while (b > 0 && (all[b - 1].score < x.score ||
                         (all[b - 1].score == x.score && all[b - 1].item > x.item))) {
            all[b] = all[b - 1];
            b--;
        }
        all[b] = x;
    }
    size_t m = (size_t)n < max ? (size_t)n : max;
    memcpy(out, all, m * sizeof *out);
    return m;
}

double sr_trending_count(const sr_trending_t *t, uint32_t i) {
    return t->count[i] / t->clock.scale;
}

/* ---- save and load ------------------------------------------------------
 *
 * "TRND", the decay clock, u32 list size, u32 items, the counts, u32 listed,
 * the listed items in list order, u32 index of the minimum. The list order
 * and the minimum's index are kept, not recomputed: ties among equal counts
 * resolve by them. Positions are derived from the list on load. */

void sr_trending_save(const sr_trending_t *t, sr_writer_t *w) {
    sr_writer_tag(w, "TRND");
    sr_decay_save(&t->clock, w);
    sr_writer_u32(w, (uint32_t)t->cfg.size);
    sr_writer_u32(w, (uint32_t)t->n);
    sr_writer_f32s(w, t->count, t->n);
    sr_writer_u32(w, (uint32_t)t->top_len);
    sr_writer_u32s(w, t->top, (size_t)t->top_len);
    sr_writer_u32(w, (uint32_t)t->min_pos);
}

sr_err_t sr_trending_load(sr_trending_t *t, sr_reader_t *r, size_t n_items, char *errstr,
                          size_t errstr_size) {
    if (t->n != 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "trending: loading into a used module");
    if (!sr_reader_tag(r, "TRND"))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "trending: no trending section where one was expected")
                               : sr_reader_error(r, "trending", errstr, errstr_size);
    if (!sr_decay_load(&t->clock, r))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "trending: decay clock out of range")
                               : sr_reader_error(r, "trending", errstr, errstr_size);
    uint32_t size = sr_reader_u32(r), n = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "trending", errstr, errstr_size);
    if ((int)size != t->cfg.size)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "trending: state keeps %u items, this module trending.size=%d", size,
                         t->cfg.size);
    if (n != n_items)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "trending: %u item counts for %zu items", n, n_items);
    if (n > 0) {
        size_t cap = 1024;
        while (cap < n) cap *= 2;
        if (!(t->count = malloc(cap * sizeof *t->count)) || !(t->position = malloc(cap)))
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size,
                             "trending: out of memory for %u items", n);
        t->cap = cap;
        t->n = n;
        memset(t->position, NOT_LISTED, n);
        sr_reader_f32s(r, t->count, n);
    }
    uint32_t top_len = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "trending", errstr, errstr_size);
    if (top_len > size || top_len > n)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "trending: %u listed items in a list of %u over %u items", top_len, size,
                         n);
    uint32_t min_pos;
    if (!sr_reader_u32s(r, t->top, top_len) || (min_pos = sr_reader_u32(r), !sr_reader_ok(r)))
        return sr_reader_error(r, "trending", errstr, errstr_size);
    if (min_pos >= (top_len ? top_len : 1))
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "trending: minimum at %u in a list of %u", min_pos, top_len);
    for (uint32_t k = 0; k < top_len; k++) {
        uint32_t i = t->top[k];
        if (i >= n || t->position[i] != NOT_LISTED)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "trending: list entry %u is item %u, out of range or repeated", k, i);
        t->position[i] = (uint8_t)k;
    }
    t->top_len = (int)top_len;
    t->min_pos = (int)min_pos;
    return SR_OK;
}
