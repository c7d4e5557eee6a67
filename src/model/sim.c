#include "streamrec/sim.h"

#include <math.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/decay.h"
#include "streamrec/select.h"

#define DAY_MS (24 * 3600 * 1000LL)

/* One item's summary, struct-of-arrays so the id scan and the min-count scan
 * each read one contiguous 128-byte run. */
typedef struct summary {
    uint32_t partner[SR_SIM_SLOTS];
    float count[SR_SIM_SLOTS]; /* scaled by the decay clock */
    float error[SR_SIM_SLOTS]; /* space-saving over-count bound, same scale */
    float score[SR_SIM_SLOTS]; /* similarity at the last update */
} summary_t;

struct sr_sim {
    sr_sim_config_t cfg;
    sr_decay_t clock;
    summary_t *summaries;
    float *item_count; /* N(i), scaled */
    size_t n, cap;
};

void sr_sim_config_defaults(sr_sim_config_t *cfg) {
    cfg->half_life_ms = 14 * DAY_MS;
    cfg->window_ms = 1 * DAY_MS;
    cfg->max_partners = 8;
    cfg->proximity_decay = 0.8f;
}

sr_sim_t *sr_sim_new(const sr_sim_config_t *cfg, char *errstr, size_t errstr_size) {
    if (cfg->half_life_ms <= 0 || cfg->window_ms < 0 || cfg->max_partners < 0 ||
        !(cfg->proximity_decay >= 0 && cfg->proximity_decay <= 1)) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "sim: half-life must be > 0, window and partners >= 0, proximity decay in [0, 1]");
        return NULL;
    }
    sr_sim_t *s = calloc(1, sizeof *s);
    if (!s) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating similarity");
        return NULL;
    }
    s->cfg = *cfg;
    sr_decay_init(&s->clock, cfg->half_life_ms);
    return s;
}

void sr_sim_destroy(sr_sim_t *s) {
    if (!s)
        return;
    free(s->summaries);
    free(s->item_count);
    free(s);
}

sr_err_t sr_sim_ensure_item(sr_sim_t *s, uint32_t i) {
    if (i < s->n)
        return SR_OK;
    if (i != s->n)
        return SR_ERR_INVALID;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        summary_t *sm = realloc(s->summaries, cap * sizeof *sm);
        if (!sm)
            return SR_ERR_NOMEM;
        s->summaries = sm;
        float *c = realloc(s->item_count, cap * sizeof *c);
        if (!c)
            return SR_ERR_NOMEM;
        s->item_count = c;
        s->cap = cap;
    }
    summary_t *sm = &s->summaries[s->n];
    memset(sm, 0, sizeof *sm);
    for (int k = 0; k < SR_SIM_SLOTS; k++) sm->partner[k] = SR_SIM_NONE;
    s->item_count[s->n] = 0;
    s->n++;
    return SR_OK;
}

static void renormalise(sr_sim_t *s) {
    float inv = (float)(1.0 / s->clock.scale);
    for (size_t i = 0; i < s->n; i++) {
        s->item_count[i] *= inv;
        for (int k = 0; k < SR_SIM_SLOTS; k++) {
            s->summaries[i].count[k] *= inv;
            s->summaries[i].error[k] *= inv;
        }
    }
    sr_decay_renormed(&s->clock);
}

static float advance(sr_sim_t *s, int64_t ts_ms) {
    bool renorm;
    sr_decay_advance(&s->clock, ts_ms, &renorm);
    if (renorm)
        renormalise(s);
    return (float)s->clock.scale;
}

void sr_sim_observe(sr_sim_t *s, uint32_t i, float w, int64_t ts_ms) {
    float g = advance(s, ts_ms);
    s->item_count[i] += w * g;
}

/* Both scans below are written as reductions without an early exit or a
 * data-dependent branch, so the compiler turns each into a few wide vector
 * compares (the per-slot loop with a shifted mask did not vectorise and was
 * a quarter of all instructions spent on an event). */
static int find_slot(const summary_t *sm, uint32_t partner) {
    /* Partners in a summary are distinct: at most one slot matches. */
    uint32_t found = 0, at = 0;
    for (uint32_t k = 0; k < SR_SIM_SLOTS; k++) {
        uint32_t hit = sm->partner[k] == partner;
        found |= hit;
        at += hit ? k : 0;
    }
    return found ? (int)at : -1;
}

/* Counts are never negative, so their bit patterns order like the values
 * and the minimum is an integer reduction. Ties go to the lowest slot. */
static int weakest_slot(const summary_t *sm) {
    uint32_t bits[SR_SIM_SLOTS];
    memcpy(bits, sm->count, sizeof bits);
    uint32_t least = UINT32_MAX;
    for (int k = 0; k < SR_SIM_SLOTS; k++) least = bits[k] < least ? bits[k] : least;
    uint32_t first = SR_SIM_SLOTS;
    for (uint32_t k = 0; k < SR_SIM_SLOTS; k++) {
        uint32_t at = bits[k] == least ? k : SR_SIM_SLOTS;
        first = at < first ? at : first;
    }
    return (int)first;
}

static void add_pair(sr_sim_t *s, uint32_t a, uint32_t b, float inc) {
    summary_t *sm = &s->summaries[a];
    int k = find_slot(sm, b);
    if (k < 0) {
        k = weakest_slot(sm);
        sm->error[k] = sm->count[k];
        sm->partner[k] = b;
    }
    sm->count[k] += inc;
    double norm = sqrt((double)s->item_count[a] * (double)s->item_count[b]);
    sm->score[k] = norm > 0 ? (float)((sm->count[k] - sm->error[k]) / norm) : 0.0f;
}

void sr_sim_cooccur(sr_sim_t *s, uint32_t a, uint32_t b, float w, int64_t ts_ms) {
    if (a == b)
        return;
    float inc = w * advance(s, ts_ms);
    add_pair(s, a, b, inc);
    add_pair(s, b, a, inc);
}

size_t sr_sim_neighbours(const sr_sim_t *s, uint32_t i, sr_neighbour_t *out, size_t max) {
    if (i >= s->n)
        return 0;
    const summary_t *sm = &s->summaries[i];
    uint64_t keys[SR_SIM_SLOTS];
    size_t n = 0;
    for (int k = 0; k < SR_SIM_SLOTS; k++) {
        keys[n] = sr_rank_key(sm->score[k], sm->partner[k]);
        n += sm->partner[k] != SR_SIM_NONE && sm->score[k] > 0;
    }
    size_t keep = n < max ? n : max;
    /* Select the best `keep` in O(slots), then sort only those: this runs for
     * every item whose list changed in a batch. */
    sr_select_top(keys, n, keep);
    sr_sort_desc(keys, keep);
    for (size_t a = 0; a < keep; a++) {
        out[a].item = sr_rank_key_id(keys[a]);
        out[a].score = sr_rank_key_score(keys[a]);
    }
    return keep;
}

void sr_sim_prefetch(const sr_sim_t *s, uint32_t i) {
    if (i >= s->n)
        return;
    const summary_t *sm = &s->summaries[i];
    /* All but the scores: the search reads the partner ids and, two times
     * in three (a new partner), every count; the update then reads an error
     * bound and writes a count and a score at a slot not known in advance.
     * Leaving the error bounds to demand misses cost a third of the update's
     * time. The score is only stored, and a store miss waits in the store
     * buffer without holding anything up, so its 4 of the 16 lines are not
     * worth a line fill buffer: the engine ran 0.7-4.5% faster without them
     * (bench_engine, 3 interleaved pairs). */
    for (size_t off = 0; off < offsetof(summary_t, score); off += 64)
        __builtin_prefetch((const char *)sm + off);
    __builtin_prefetch(&s->item_count[i]);
}

void sr_sim_prefetch_neighbours(const sr_sim_t *s, uint32_t i) {
    if (i >= s->n)
        return;
    const summary_t *sm = &s->summaries[i];
    for (size_t off = 0; off < sizeof sm->partner; off += 64) {
        __builtin_prefetch((const char *)sm->partner + off);
        __builtin_prefetch((const char *)sm->score + off);
    }
}

void sr_sim_slots(const sr_sim_t *s, uint32_t i, const uint32_t **items,
                  const float **scores) {
    *items = s->summaries[i].partner;
    *scores = s->summaries[i].score;
}

double sr_sim_count(const sr_sim_t *s, uint32_t i) {
    return s->item_count[i] / s->clock.scale;
}

double sr_sim_pair_count(const sr_sim_t *s, uint32_t a, uint32_t b) {
    const summary_t *sm = &s->summaries[a];
    int k = find_slot(sm, b);
    return k < 0 ? 0.0 : (sm->count[k] - sm->error[k]) / s->clock.scale;
}

void sr_sim_reset_item(sr_sim_t *s, uint32_t i) {
    summary_t *sm = &s->summaries[i];
    memset(sm, 0, sizeof *sm);
    for (int k = 0; k < SR_SIM_SLOTS; k++) sm->partner[k] = SR_SIM_NONE;
    s->item_count[i] = 0;
}

bool sr_sim_drop_partners(sr_sim_t *s, uint32_t i, const uint8_t *gone) {
    summary_t *sm = &s->summaries[i];
    bool dropped = false;
    for (int k = 0; k < SR_SIM_SLOTS; k++) {
        uint32_t j = sm->partner[k];
        if (j == SR_SIM_NONE || j >= s->n || !gone[j])
            continue;
        /* an empty slot, as a new item's: the weakest, taken first */
        sm->partner[k] = SR_SIM_NONE;
        sm->count[k] = sm->error[k] = sm->score[k] = 0;
        dropped = true;
    }
    return dropped;
}

size_t sr_sim_items(const sr_sim_t *s) { return s->n; }
size_t sr_sim_bytes_per_item(void) { return sizeof(summary_t) + sizeof(float); }

/* ---- save and load ------------------------------------------------------
 *
 * "SIM ", the decay clock, u32 slots per item, u32 items, the item counts,
 * then per item its partners, counts, error bounds and similarities (slot
 * order kept: it decides which slot a tie evicts). */

void sr_sim_save(const sr_sim_t *s, sr_writer_t *w) {
    sr_writer_tag(w, "SIM ");
    sr_decay_save(&s->clock, w);
    sr_writer_u32(w, SR_SIM_SLOTS);
    sr_writer_u32(w, (uint32_t)s->n);
    sr_writer_f32s(w, s->item_count, s->n);
    for (size_t i = 0; i < s->n; i++) {
        const summary_t *sm = &s->summaries[i];
        sr_writer_u32s(w, sm->partner, SR_SIM_SLOTS);
        sr_writer_f32s(w, sm->count, SR_SIM_SLOTS);
        sr_writer_f32s(w, sm->error, SR_SIM_SLOTS);
        sr_writer_f32s(w, sm->score, SR_SIM_SLOTS);
    }
}

sr_err_t sr_sim_load(sr_sim_t *s, sr_reader_t *r, size_t n_items, char *errstr,
                     size_t errstr_size) {
    if (s->n != 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "sim: loading into a used module");
    if (!sr_reader_tag(r, "SIM "))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "sim: no similarity section where one was expected")
                               : sr_reader_error(r, "sim", errstr, errstr_size);
    if (!sr_decay_load(&s->clock, r))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "sim: decay clock out of range")
                               : sr_reader_error(r, "sim", errstr, errstr_size);
    uint32_t slots = sr_reader_u32(r), n = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "sim", errstr, errstr_size);
    if (slots != SR_SIM_SLOTS || n != n_items)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "sim: %u items of %u slots, expected %zu of %d", n, slots, n_items,
                         SR_SIM_SLOTS);
    if (n == 0)
        return SR_OK;
    size_t cap = 1024;
    while (cap < n) cap *= 2;
    if (!(s->summaries = malloc(cap * sizeof *s->summaries)) ||
        !(s->item_count = malloc(cap * sizeof *s->item_count)))
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "sim: out of memory for %u items", n);
    s->cap = cap;
    s->n = n;
    sr_reader_f32s(r, s->item_count, n);
    for (size_t i = 0; i < n && sr_reader_ok(r); i++) {
        summary_t *sm = &s->summaries[i];
        sr_reader_u32s(r, sm->partner, SR_SIM_SLOTS);
        sr_reader_f32s(r, sm->count, SR_SIM_SLOTS);
        sr_reader_f32s(r, sm->error, SR_SIM_SLOTS);
        if (!sr_reader_f32s(r, sm->score, SR_SIM_SLOTS))
            break;
        for (int k = 0; k < SR_SIM_SLOTS; k++)
            if (sm->partner[k] != SR_SIM_NONE && (sm->partner[k] >= n || sm->partner[k] == i))
                return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                 "sim: item %zu has partner %u (of %u items)", i, sm->partner[k], n);
    }
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "sim", errstr, errstr_size);
    return SR_OK;
}
