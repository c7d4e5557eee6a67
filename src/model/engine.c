#include "streamrec/engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/clock.h"
#include "streamrec/intern.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define HOUR_MS (3600 * 1000LL)

/* Event time between eviction sweeps. A sweep reads one uint16 per user
 * slot (seen_day, not the profiles), so at 1 M users an hourly sweep reads
 * 2 MB; a user leaves within a day and an hour after its ttl (days are what
 * seen_day counts: the ttl is set in days, and the 2 bytes a user keep the
 * per-user budget). */
#define EVICT_INTERVAL_MS HOUR_MS
#define SEEN_NONE UINT16_MAX /* day 65535 is in 2149; event times end in 2106 */

/* The day (since 1970, UTC) of an event time the engine accepted (0 up to
 * 2106: it fits a uint16 below SEEN_NONE). */
static uint16_t day_of(int64_t ts_ms) { return (uint16_t)(ts_ms / DAY_MS); }
/* Event time between item eviction sweeps. An item sweep that evicts
 * anything visits every kept item's summary and every user's rings (the
 * references to scrub before an id is reused): daily keeps that rare. */
#define ITEM_EVICT_INTERVAL_MS DAY_MS

/* A set of dense ids with O(1) insert and ordered iteration: a flag byte per
 * id plus the list of members, in insertion order (so flush order, and with
 * it the output order, is deterministic). */
typedef struct dirty_set {
    uint8_t *flag;
    size_t flag_cap;
    uint32_t *ids;
    size_t n, cap;
} dirty_set_t;

/* An event hinted with sr_engine_prefetch(), while its loads are staged. */
typedef struct hint {
    uint64_t user_hash, item_hash;
    uint32_t user, item; /* guessed at stage 2; SR_INTERN_NONE if unknown */
    bool valid, has_item;
} hint_t;

/* Hints kept; stage 2 runs on the hint given HINT_STAGE2 calls earlier,
 * stage 3 on the one HINT_STAGE3 calls earlier (2 events before its apply
 * at SR_ENGINE_PREFETCH_AHEAD): each stage needs the previous one's lines. */
#define HINT_RING 8
#define HINT_STAGE2 3
#define HINT_STAGE3 6

struct sr_engine {
    sr_engine_config_t cfg;
    sr_intern_t *user_ids, *item_ids, *category_ids;
    sr_profile_t *profiles;
    uint16_t *seen_day; /* per user slot: day (since 1970) of its last event, SEEN_NONE if none */
    size_t n_profiles_cap;
    int64_t last_evict_ms; /* event time of the last eviction sweep, INT64_MIN before it */
    int64_t *item_seen_ms; /* per item slot: newest event naming it, INT64_MAX if free */
    int64_t last_item_evict_ms;
    sr_mf_t *mf;
    sr_sim_t *sim;
    sr_trending_t *trending;
    sr_recommender_t *reco;
    sr_churn_t *churn;
    int64_t max_ts_ms;
    int64_t hold_ms; /* sr_engine_hold_watermark's, INT64_MAX: none */
    bool any_event;
    sr_engine_stats_t stats;
    size_t n_forgotten; /* users in the dictionary whose state was given up */
    dirty_set_t dirty_users, dirty_items;
    /* flush outputs */
    sr_neighbour_t trending_snapshot[SR_TRENDING_MAX];
    size_t n_trending_snapshot;
    sr_reco_update_t *recos;
    sr_neighbour_t *reco_items;
    size_t recos_cap;
    sr_sim_update_t *sims;
    sr_neighbour_t *sim_items;
    size_t sims_cap;
    sr_alert_update_t *alerts;
    size_t alerts_cap;
    sr_churn_label_t *labels;
    size_t labels_cap, n_labels;
    uint64_t *sim_signature; /* per item: the last published neighbour list's */
    size_t sim_signature_cap;
    sr_sim_gate_fn *sim_gate; /* NULL: every changed list is built at flush */
    void *sim_gate_opaque;
    sr_outbox_t outbox;
    bool timing;
    uint64_t stage_ns[SR_STAGE__COUNT];
    hint_t hints[HINT_RING];
    size_t n_hints;
};

/* Charges the time since *mark to stage and moves the mark (timing on only). */
static inline void stage_done(sr_engine_t *e, sr_engine_stage_t stage, uint64_t *mark) {
    if (!e->timing)
        return;
    uint64_t now = (uint64_t)sr_clock_mono_ns();
    e->stage_ns[stage] += now - *mark;
    *mark = now;
}

void sr_engine_config_defaults(sr_engine_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->event_weight[SR_EVENT_UNKNOWN] = 0;
    cfg->event_weight[SR_EVENT_VIEW] = 1;
    cfg->event_weight[SR_EVENT_ADD_TO_CART] = 3;
    cfg->event_weight[SR_EVENT_REMOVE_FROM_CART] = 0;
    cfg->event_weight[SR_EVENT_PURCHASE] = 5;
    cfg->lateness_ms = 5000;
    /* Collectors' clocks are off by seconds, rarely minutes; an hour ahead
     * moves the watermark by under a percent of the 14-day churn horizon. */
    cfg->future_max_ms = 60 * 60 * 1000;
    cfg->sim_neighbours = 20;
    cfg->user_ttl_ms = 30 * DAY_MS;
    cfg->item_ttl_ms = 365 * DAY_MS;
    sr_profile_config_defaults(&cfg->profile);
    sr_mf_config_defaults(&cfg->mf);
    sr_sim_config_defaults(&cfg->sim);
    sr_trending_config_defaults(&cfg->trending);
    sr_reco_config_defaults(&cfg->reco);
    sr_churn_config_defaults(&cfg->churn);
}

static void dirty_free(dirty_set_t *d) {
    free(d->flag);
    free(d->ids);
}

static sr_err_t dirty_add(dirty_set_t *d, uint32_t id) {
    if (id >= d->flag_cap) {
        size_t cap = d->flag_cap ? d->flag_cap : 1024;
        while (cap <= id) cap *= 2;
        uint8_t *flag = realloc(d->flag, cap);
        if (!flag)
            return SR_ERR_NOMEM;
        memset(flag + d->flag_cap, 0, cap - d->flag_cap);
        d->flag = flag;
        d->flag_cap = cap;
    }
    if (d->flag[id])
        return SR_OK;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        uint32_t *ids = realloc(d->ids, cap * sizeof *ids);
        if (!ids)
            return SR_ERR_NOMEM;
        d->ids = ids;
        d->cap = cap;
    }
    d->flag[id] = 1;
    d->ids[d->n++] = id;
    return SR_OK;
}

static void dirty_remove(dirty_set_t *d, uint32_t id) {
    if (id >= d->flag_cap || !d->flag[id])
        return;
    d->flag[id] = 0;
    for (size_t k = 0; k < d->n; k++)
        if (d->ids[k] == id) {
            memmove(d->ids + k, d->ids + k + 1, (d->n - k - 1) * sizeof *d->ids);
            d->n--;
            return;
        }
}

/* Keeps, in place and in order, the ids keep() returns 1 for; those it
 * returns 0 for leave the set. keep() returning -1 (out of memory) stops
 * the filter with the ids not yet asked about still in the set: -1 then. */
static int dirty_filter(dirty_set_t *d, int (*keep)(void *opaque, uint32_t id), void *opaque) {
    size_t kept = 0;
    for (size_t k = 0; k < d->n; k++) {
        int verdict = keep(opaque, d->ids[k]);
        if (verdict < 0) {
            memmove(d->ids + kept, d->ids + k, (d->n - k) * sizeof *d->ids);
            d->n = kept + d->n - k;
            return -1;
        }
        if (verdict)
            d->ids[kept++] = d->ids[k];
        else
            d->flag[d->ids[k]] = 0;
    }
    d->n = kept;
    return 0;
}

static void dirty_clear(dirty_set_t *d) {
    for (size_t k = 0; k < d->n; k++) d->flag[d->ids[k]] = 0;
    d->n = 0;
}

sr_engine_t *sr_engine_new(const sr_engine_config_t *cfg, char *errstr, size_t errstr_size) {
    sr_engine_t *e = calloc(1, sizeof *e);
    if (!e) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating the engine");
        return NULL;
    }
    e->cfg = *cfg;
    /* An evicted user's pending churn example resolves as churned, which is
     * only true once the user was away for at least the churn horizon. */
    if (cfg->user_ttl_ms > 0 && cfg->user_ttl_ms < cfg->churn.horizon_ms)
        e->cfg.user_ttl_ms = cfg->churn.horizon_ms;
    e->last_evict_ms = INT64_MIN;
    e->last_item_evict_ms = INT64_MIN;
    e->hold_ms = INT64_MAX;
    if (cfg->sim_neighbours < 1 || cfg->sim_neighbours > SR_SIM_SLOTS) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "sim.neighbours must be in [1, %d]",
                  SR_SIM_SLOTS);
        goto fail;
    }
    if (cfg->user_ttl_ms < 0 || cfg->item_ttl_ms < 0) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "state.user.ttl and state.item.ttl must be >= 0");
        goto fail;
    }
    e->user_ids = sr_intern_new(1024);
    e->item_ids = sr_intern_new(1024);
    e->category_ids = sr_intern_new(64);
    if (!e->user_ids || !e->item_ids || !e->category_ids) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating dictionaries");
        goto fail;
    }
    if (!(e->mf = sr_mf_new(&cfg->mf, errstr, errstr_size)) ||
        !(e->sim = sr_sim_new(&cfg->sim, errstr, errstr_size)) ||
        !(e->trending = sr_trending_new(&cfg->trending, errstr, errstr_size)) ||
        !(e->reco = sr_reco_new(&cfg->reco, errstr, errstr_size)) ||
        !(e->churn = sr_churn_new(&cfg->churn, &cfg->profile, errstr, errstr_size)))
        goto fail;
    return e;
fail:
    sr_engine_destroy(e);
    return NULL;
}

void sr_engine_destroy(sr_engine_t *e) {
    if (!e)
        return;
    sr_intern_destroy(e->user_ids);
    sr_intern_destroy(e->item_ids);
    sr_intern_destroy(e->category_ids);
    free(e->profiles);
    free(e->seen_day);
    sr_mf_destroy(e->mf);
    sr_sim_destroy(e->sim);
    sr_trending_destroy(e->trending);
    sr_reco_destroy(e->reco);
    sr_churn_destroy(e->churn);
    dirty_free(&e->dirty_users);
    dirty_free(&e->dirty_items);
    free(e->recos);
    free(e->reco_items);
    free(e->sims);
    free(e->sim_items);
    free(e->sim_signature);
    free(e->item_seen_ms);
    free(e->alerts);
    free(e->labels);
    free(e);
}

/* Grows the per-user-slot arrays to hold slot u. */
static sr_err_t reserve_users(sr_engine_t *e, size_t u) {
    if (u < e->n_profiles_cap)
        return SR_OK;
    size_t cap = e->n_profiles_cap ? e->n_profiles_cap * 2 : 1024;
    while (cap <= u) cap *= 2;
    sr_profile_t *p = realloc(e->profiles, cap * sizeof *p);
    if (!p)
        return SR_ERR_NOMEM;
    e->profiles = p;
    uint16_t *seen = realloc(e->seen_day, cap * sizeof *seen);
    if (!seen)
        return SR_ERR_NOMEM;
    e->seen_day = seen;
    e->n_profiles_cap = cap;
    return SR_OK;
}

static sr_err_t add_user(sr_engine_t *e, const sr_str_t *id, uint32_t *u, bool *added_out) {
    bool added;
    size_t slots = sr_intern_count(e->user_ids);
    sr_err_t err = sr_intern_add(e->user_ids, id->ptr, id->len, u, &added);
    if (added_out)
        *added_out = err == SR_OK && added;
    if (err != SR_OK || !added)
        return err;
    if ((err = reserve_users(e, *u)) != SR_OK)
        return err;
    sr_profile_init(&e->profiles[*u]);
    e->seen_day[*u] = SEEN_NONE;
    uint64_t h = sr_hash_bytes(id->ptr, id->len, 0);
    if (*u < slots) {
        /* a slot freed by an eviction: its rows are a new user's again */
        sr_mf_user_reset(e->mf, *u, h);
        sr_churn_user_reset(e->churn, *u);
        return SR_OK;
    }
    if ((err = sr_mf_ensure_user(e->mf, *u, h)) != SR_OK ||
        (err = sr_churn_ensure_user(e->churn, *u)) != SR_OK)
        return err;
    return SR_OK;
}

/* Grows the per-item-slot arrays to hold slot i. */
static sr_err_t reserve_items(sr_engine_t *e, size_t i) {
    if (i < e->sim_signature_cap)
        return SR_OK;
    size_t cap = e->sim_signature_cap ? e->sim_signature_cap * 2 : 1024;
    while (cap <= i) cap *= 2;
    uint64_t *sig = realloc(e->sim_signature, cap * sizeof *sig);
    if (!sig)
        return SR_ERR_NOMEM;
    memset(sig + e->sim_signature_cap, 0, (cap - e->sim_signature_cap) * sizeof *sig);
    e->sim_signature = sig;
    int64_t *seen = realloc(e->item_seen_ms, cap * sizeof *seen);
    if (!seen)
        return SR_ERR_NOMEM;
    e->item_seen_ms = seen;
    e->sim_signature_cap = cap;
    return SR_OK;
}

static sr_err_t add_item(sr_engine_t *e, const sr_str_t *id, uint32_t *i) {
    bool added;
    size_t slots = sr_intern_count(e->item_ids);
    sr_err_t err = sr_intern_add(e->item_ids, id->ptr, id->len, i, &added);
    if (err != SR_OK || !added)
        return err;
    uint64_t h = sr_hash_bytes(id->ptr, id->len, 0);
    if ((err = reserve_items(e, *i)) != SR_OK)
        return err;
    /* an item known only through a user's history (a handoff) lives from now;
     * before any event "now" is unknown, and sr_engine_import_user() raises
     * the stamp to the importing user's last event */
    e->item_seen_ms[*i] = e->max_ts_ms;
    if (*i < slots) {
        /* a slot freed by an eviction: its summary, trending count and
         * signature were cleared then; the factors are seeded by the new id */
        sr_mf_item_reset(e->mf, *i, h);
        return SR_OK;
    }
    if ((err = sr_mf_ensure_item(e->mf, *i, h)) != SR_OK ||
        (err = sr_sim_ensure_item(e->sim, *i)) != SR_OK ||
        (err = sr_trending_ensure_item(e->trending, *i)) != SR_OK)
        return err;
    return SR_OK;
}

typedef enum { ID_OK, ID_NUL, ID_CONTROL, ID_BAD_UTF8 } id_scan_t;

/* Classifies an id's bytes: the first NUL, other C0 control or DEL byte, or
 * malformed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no cut-off sequence); *at gets its offset. ASCII, nearly every
 * id, takes the first branch only. */
static id_scan_t scan_id(const sr_str_t *s, size_t *at) {
    const unsigned char *p = (const unsigned char *)s->ptr;
    size_t n = s->len;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        *at = i;
        if (c < 0x80) {
            if (c == 0)
                return ID_NUL;
            if (c < 0x20 || c == 0x7f)
                return ID_CONTROL;
            i++;
            continue;
        }
        size_t more;
        unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* past U+10FFFF */
        } else
            return ID_BAD_UTF8;
        if (n - i - 1 < more || p[i + 1] < lo || p[i + 1] > hi)
            return ID_BAD_UTF8;
        for (size_t k = 2; k <= more; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return ID_BAD_UTF8;
        i += more + 1;
    }
    return ID_OK;
}

static sr_err_t check_id(const char *field, const sr_str_t *s, bool required,
                         char *errstr, size_t errstr_size) {
    if (s->len == 0) {
        if (required)
            return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size, "%s is empty", field);
        return SR_OK;
    }
    if (s->len > SR_INTERN_MAX_LEN)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "%s is %zu bytes, over the %d-byte limit", field, s->len,
                         SR_INTERN_MAX_LEN);
    /* Ids are keys in Redis, Kafka and C strings: a NUL byte would cut them
     * short; other control bytes would forge lines in logs and CSV. */
    size_t at;
    switch (scan_id(s, &at)) {
    case ID_OK:
        return SR_OK;
    case ID_NUL:
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size, "%s contains a NUL byte", field);
    case ID_CONTROL:
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "%s contains control character 0x%02x at byte %zu", field,
                         (unsigned char)s->ptr[at], at);
    case ID_BAD_UTF8:
    default:
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "%s is not valid UTF-8 (byte %zu)", field, at);
    }
}

/* The event time an event may reach: future_max_ms past the newest event
 * time, or past the wall clock if that is later (see engine.h). */
static sr_err_t check_ts(const sr_engine_t *e, int64_t ts_ms, char *errstr, size_t errstr_size) {
    if (ts_ms < 0)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "ts_ms %" PRId64 " is before the Unix epoch", ts_ms);
    if (ts_ms > SR_ENGINE_MAX_TS_MS)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "ts_ms %" PRId64 " is after 2106-02-07T06:28:15Z, the latest time the "
                         "engine keeps", ts_ms);
    int64_t limit = e->cfg.future_max_ms;
    if (limit <= 0 || (e->any_event && ts_ms - limit <= e->max_ts_ms))
        return SR_OK;
    int64_t now_ms = sr_clock_wall_ms();
    if (ts_ms - limit <= now_ms)
        return SR_OK;
    int64_t ref_ms = e->any_event && e->max_ts_ms > now_ms ? e->max_ts_ms : now_ms;
    return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                     "ts_ms %" PRId64 " is %" PRId64 " s ahead of the newest event time and "
                     "the clock (time.future.max.minutes allows %" PRId64 ")",
                     ts_ms, (ts_ms - ref_ms) / 1000, limit / 60000);
}

/* Pairs the event's item with the user's recent items inside the window:
 * the incremental co-occurrence update of item-CF. A partner counts less the
 * further back it is (sim.proximity.decay per step): items viewed one after
 * the other say more about each other than items eight views apart. This
 * raised recall on all three eval datasets (MovieLens most). */
static sr_err_t update_similarity(sr_engine_t *e, const sr_profile_t *p, uint32_t item,
                                  float weight, int64_t ts_ms) {
    sr_sim_observe(e->sim, item, weight, ts_ms);
    uint32_t recent[SR_PROFILE_RECENT_MAX], recent_ts_s[SR_PROFILE_RECENT_MAX];
    size_t n = sr_profile_recent(p, recent, recent_ts_s, SR_PROFILE_RECENT_MAX);
    int paired = 0;
    float proximity = weight;
    for (size_t r = 0; r < n && (int)r <= e->cfg.sim.max_partners; r++)
        sr_sim_prefetch(e->sim, recent[r]);
    for (size_t r = 0; r < n && paired < e->cfg.sim.max_partners; r++) {
        if (recent[r] == item)
            continue;
        if (ts_ms - (int64_t)recent_ts_s[r] * 1000 > e->cfg.sim.window_ms)
            break; /* newest first: everything after is older still */
        sr_sim_cooccur(e->sim, item, recent[r], proximity, ts_ms);
        proximity *= e->cfg.sim.proximity_decay;
        sr_err_t err = dirty_add(&e->dirty_items, recent[r]);
        if (err != SR_OK)
            return err;
        paired++;
    }
    return dirty_add(&e->dirty_items, item);
}

/* Gives up user u for good: its churn example resolves, its state goes,
 * and its dense id goes back to the dictionary for the next new user. */
static sr_err_t evict_user(sr_engine_t *e, uint32_t u, int64_t now_ms) {
    sr_err_t err = sr_intern_remove(e->user_ids, u);
    if (err != SR_OK)
        return err;
    sr_churn_evict_user(e->churn, u, now_ms);
    sr_profile_init(&e->profiles[u]);
    dirty_remove(&e->dirty_users, u);
    e->seen_day[u] = SEEN_NONE;
    e->stats.users_evicted++;
    return SR_OK;
}

/* Evicts the users whose last event is older than user_ttl_ms before the
 * sweep time and whose churn example (if any) is due: a watermark-driven
 * sweep on the hour, like churn's on its
 * interval, so which users go and in what order depends on event time only
 * (ids go back to the free list in ascending order; the highest is reused
 * first). A slot without state (seen_ms INT64_MAX) is never swept. */
static void maybe_evict(sr_engine_t *e, int64_t watermark) {
    if (e->cfg.user_ttl_ms <= 0)
        return;
    int64_t sweep = watermark - (((watermark % EVICT_INTERVAL_MS) + EVICT_INTERVAL_MS) %
                                 EVICT_INTERVAL_MS);
    if (e->last_evict_ms != INT64_MIN && sweep <= e->last_evict_ms)
        return;
    e->last_evict_ms = sweep;
    if (sweep < INT64_MIN + e->cfg.user_ttl_ms)
        return;
    int64_t cutoff = sweep - e->cfg.user_ttl_ms;
    if (cutoff < DAY_MS)
        return; /* no event time is a whole day older than the ttl allows yet */
    /* last event on a day before the cutoff's: older than the ttl (by up to
     * a day more, never less) */
    uint16_t cutoff_day = day_of(cutoff);
    size_t slots = sr_intern_count(e->user_ids);
    for (size_t u = 0; u < slots; u++) {
        if (e->seen_day[u] >= cutoff_day)
            continue;
        /* a churn example still inside its horizon waits for its label: the
         * user could have come back then, and labels must not depend on the
         * ttl (the churn sweep or a later eviction sweep resolves it) */
        if (sr_churn_label_due_ms(e->churn, (uint32_t)u) > sweep)
            continue;
        if (evict_user(e, (uint32_t)u, sweep) != SR_OK)
            break; /* out of memory for the free list: the user stays, the next sweep retries */
    }
}

/* Evicts the items without an event for item_ttl_ms before the sweep time
 * (a daily, watermark-driven sweep). Before a gone item's id may be reused
 * every reference to it goes: the partner slots of the other items'
 * summaries (those items are marked dirty, so their shorter lists are
 * published), the users' recent and purchased rings, the MF negative ring,
 * trending, the dirty set. Its own summary, trending count and signature
 * are cleared, and its id returns to the dictionary (ascending order, so the
 * highest is reused first). O(items x slots + users) when anything goes. */
static void maybe_evict_items(sr_engine_t *e, int64_t watermark) {
    if (e->cfg.item_ttl_ms <= 0)
        return;
    int64_t iv = ITEM_EVICT_INTERVAL_MS;
    int64_t sweep = watermark - (((watermark % iv) + iv) % iv);
    if (e->last_item_evict_ms != INT64_MIN && sweep <= e->last_item_evict_ms)
        return;
    e->last_item_evict_ms = sweep;
    if (sweep < INT64_MIN + e->cfg.item_ttl_ms)
        return;
    int64_t cutoff = sweep - e->cfg.item_ttl_ms;
    size_t n_items = sr_intern_count(e->item_ids), n_gone = 0;
    for (size_t i = 0; i < n_items; i++) n_gone += e->item_seen_ms[i] < cutoff;
    if (n_gone == 0)
        return;
    uint8_t *gone = calloc(n_items, 1);
    if (!gone)
        return; /* out of memory: the items stay until a later sweep */
    for (size_t i = 0; i < n_items; i++) gone[i] = e->item_seen_ms[i] < cutoff;

    for (size_t i = 0; i < n_items; i++)
        if (!gone[i] && e->item_seen_ms[i] != INT64_MAX &&
            sr_sim_drop_partners(e->sim, (uint32_t)i, gone))
            dirty_add(&e->dirty_items, (uint32_t)i); /* on failure: published at its next change */
    size_t n_users = sr_intern_count(e->user_ids);
    for (size_t u = 0; u < n_users; u++) sr_profile_drop_items(&e->profiles[u], gone, n_items);
    sr_mf_drop_negatives(e->mf, gone, n_items);
    size_t kept = 0;
    for (size_t d = 0; d < e->dirty_items.n; d++) {
        uint32_t i = e->dirty_items.ids[d];
        if (gone[i])
            e->dirty_items.flag[i] = 0;
        else
            e->dirty_items.ids[kept++] = i;
    }
    e->dirty_items.n = kept;
    for (size_t i = 0; i < n_items; i++) {
        if (!gone[i] || sr_intern_remove(e->item_ids, (uint32_t)i) != SR_OK)
            continue; /* out of memory for the free list: a cleared item stays */
        sr_sim_reset_item(e->sim, (uint32_t)i);
        sr_trending_forget_item(e->trending, (uint32_t)i);
        e->sim_signature[i] = 0;
        e->item_seen_ms[i] = INT64_MAX;
        e->stats.items_evicted++;
    }
    free(gone);
}

/* The newest event time the input has shown and not held back, minus the
 * allowed lateness; INT64_MIN before the first event (max_ts_ms is 0 then:
 * no sweep may treat that as a time) and while the hold says no time yet. */
static int64_t watermark_of(const sr_engine_t *e) {
    if (!e->any_event)
        return INT64_MIN;
    int64_t newest = e->max_ts_ms < e->hold_ms ? e->max_ts_ms : e->hold_ms;
    return newest < INT64_MIN + e->cfg.lateness_ms ? INT64_MIN : newest - e->cfg.lateness_ms;
}

static void maybe_sweep(sr_engine_t *e) {
    int64_t watermark = watermark_of(e);
    if (watermark == INT64_MIN)
        return;
    int64_t due = sr_churn_sweep_due(e->churn, watermark);
    if (due != INT64_MIN)
        sr_churn_sweep(e->churn, e->profiles, sr_intern_count(e->user_ids), due);
    maybe_evict(e, watermark);
    maybe_evict_items(e, watermark);
}

sr_err_t sr_engine_apply(sr_engine_t *e, const sr_event_t *ev, char *errstr, size_t errstr_size) {
    sr_err_t err;
    if ((unsigned)ev->type >= SR_EVENT__COUNT || ev->type == SR_EVENT_UNKNOWN) {
        e->stats.by_type[SR_EVENT_UNKNOWN]++;
        return SR_OK;
    }
    if ((err = check_id("user_id", &ev->user_id, true, errstr, errstr_size)) != SR_OK ||
        (err = check_id("item_id", &ev->item_id, false, errstr, errstr_size)) != SR_OK ||
        (err = check_id("category_id", &ev->category_id, false, errstr, errstr_size)) != SR_OK ||
        (err = check_ts(e, ev->ts_ms, errstr, errstr_size)) != SR_OK) {
        e->stats.rejected++;
        return err;
    }

    uint64_t mark = e->timing ? (uint64_t)sr_clock_mono_ns() : 0;
    if (!e->any_event || ev->ts_ms > e->max_ts_ms) {
        e->max_ts_ms = ev->ts_ms;
        e->any_event = true;
        maybe_sweep(e);
        stage_done(e, SR_STAGE_CHURN, &mark);
    }

    uint32_t u, item = SR_PROFILE_NONE, category = SR_PROFILE_NONE;
    bool new_user;
    if ((err = add_user(e, &ev->user_id, &u, &new_user)) != SR_OK)
        goto nomem;
    if (!new_user && e->profiles[u].events == 0)
        e->n_forgotten--; /* a user given up earlier starts over here */
    if (ev->item_id.len > 0) {
        if ((err = add_item(e, &ev->item_id, &item)) != SR_OK)
            goto nomem;
        if (ev->ts_ms > e->item_seen_ms[item])
            e->item_seen_ms[item] = ev->ts_ms;
    }
    if (ev->category_id.len > 0 &&
        (err = sr_intern_add(e->category_ids, ev->category_id.ptr, ev->category_id.len,
                             &category, NULL)) != SR_OK)
        goto nomem;
    stage_done(e, SR_STAGE_PROFILE, &mark);

    float weight = e->cfg.event_weight[ev->type];
    sr_profile_t *p = &e->profiles[u];
    if (item != SR_PROFILE_NONE && weight > 0) {
        /* Before the profile update: the recent items are the event's partners.
         * Co-occurrence counts every positive event once, whatever its weight:
         * cosine over binary interactions measured better than weighted counts
         * on all three eval datasets (the weights steer MF and trending). */
        if ((err = update_similarity(e, p, item, 1.0f, ev->ts_ms)) != SR_OK)
            goto nomem;
        sr_trending_observe(e->trending, item, weight, ev->ts_ms);
        stage_done(e, SR_STAGE_SIMILARITY, &mark);
        sr_mf_observe(e->mf, u, item, weight);
        stage_done(e, SR_STAGE_MF, &mark);
    }
    sr_profile_update(p, &e->cfg.profile, ev->type, weight, item, category, ev->price,
                      ev->has_price, ev->ts_ms);
    e->seen_day[u] = day_of(p->last_seen_ms);
    if ((err = dirty_add(&e->dirty_users, u)) != SR_OK)
        goto nomem;
    stage_done(e, SR_STAGE_PROFILE, &mark);
    sr_churn_on_event(e->churn, u, p, ev->ts_ms);
    stage_done(e, SR_STAGE_CHURN, &mark);
    e->stats.events++;
    e->stats.by_type[ev->type]++;
    return SR_OK;
nomem:
    e->stats.rejected++;
    return sr_seterr(err, errstr, errstr_size, "engine: %s while applying an event",
                     sr_err_name(err));
}

/* Stage 1: hash the ids and start loading their dictionary slots. */
static void hint_begin(sr_engine_t *e, hint_t *h, const sr_event_t *ev) {
    h->valid = (unsigned)ev->type < SR_EVENT__COUNT && ev->type != SR_EVENT_UNKNOWN &&
               ev->user_id.len > 0 && ev->user_id.len <= SR_INTERN_MAX_LEN &&
               ev->item_id.len <= SR_INTERN_MAX_LEN;
    h->has_item = h->valid && ev->item_id.len > 0 && e->cfg.event_weight[ev->type] > 0;
    h->user = h->item = SR_INTERN_NONE;
    if (!h->valid)
        return;
    h->user_hash = sr_hash_bytes(ev->user_id.ptr, ev->user_id.len, 0);
    sr_intern_prefetch_slot(e->user_ids, h->user_hash);
    if (h->has_item) {
        h->item_hash = sr_hash_bytes(ev->item_id.ptr, ev->item_id.len, 0);
        sr_intern_prefetch_slot(e->item_ids, h->item_hash);
    }
}

/* Stage 2: the slots have arrived; guess the dense ids and start loading
 * the per-user and per-item state. */
static void hint_rows(sr_engine_t *e, hint_t *h) {
    if (!h->valid)
        return;
    uint32_t u = h->user = sr_intern_guess(e->user_ids, h->user_hash);
    if (u != SR_INTERN_NONE && u < sr_intern_count(e->user_ids)) {
        /* a profile is not line-aligned: its last byte may start one more line */
        const char *p = (const char *)&e->profiles[u];
        for (size_t off = 0; off < sizeof *e->profiles; off += 64) __builtin_prefetch(p + off);
        __builtin_prefetch(p + sizeof *e->profiles - 1);
        sr_mf_prefetch_user(e->mf, u);
        sr_churn_prefetch_user(e->churn, u);
    }
    if (h->has_item && (h->item = sr_intern_guess(e->item_ids, h->item_hash)) != SR_INTERN_NONE) {
        sr_mf_prefetch_item(e->mf, h->item);
        sr_sim_prefetch(e->sim, h->item);
    }
}

/* Stage 3: the profile has arrived; start loading the strings the lookups
 * will compare and the summaries of the recent items the event's item
 * will be paired with. */
static void hint_partners(sr_engine_t *e, const hint_t *h) {
    if (!h->valid || h->user == SR_INTERN_NONE || h->user >= sr_intern_count(e->user_ids))
        return;
    sr_intern_prefetch_str(e->user_ids, h->user);
    if (h->item == SR_INTERN_NONE)
        return;
    sr_intern_prefetch_str(e->item_ids, h->item);
    const sr_profile_t *p = &e->profiles[h->user];
    for (int k = 0; k < p->recent_len && k <= e->cfg.sim.max_partners; k++)
        sr_sim_prefetch(e->sim, p->recent_item[(p->recent_head - k + SR_PROFILE_RECENT_MAX) %
                                               SR_PROFILE_RECENT_MAX]);
}

void sr_engine_prefetch(sr_engine_t *e, const sr_event_t *ev) {
    size_t n = e->n_hints++;
    hint_begin(e, &e->hints[n % HINT_RING], ev);
    if (n >= HINT_STAGE2)
        hint_rows(e, &e->hints[(n - HINT_STAGE2) % HINT_RING]);
    if (n >= HINT_STAGE3)
        hint_partners(e, &e->hints[(n - HINT_STAGE3) % HINT_RING]);
}

static void snapshot_trending(sr_engine_t *e) {
    e->n_trending_snapshot = sr_trending_top(e->trending, e->trending_snapshot, SR_TRENDING_MAX);
}

static sr_reco_model_t reco_model(const sr_engine_t *e) {
    sr_reco_model_t m = {e->mf, e->sim, e->trending_snapshot, e->n_trending_snapshot};
    return m;
}

static sr_err_t grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return SR_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return SR_ERR_NOMEM;
    *p = q;
    *cap = c;
    return SR_OK;
}

static sr_err_t flush_recos(sr_engine_t *e) {
    size_t n = e->dirty_users.n, k = (size_t)e->cfg.reco.k;
    size_t cap = e->recos_cap;
    if (grow((void **)&e->recos, &cap, n, sizeof *e->recos) != SR_OK)
        return SR_ERR_NOMEM;
    if (cap != e->recos_cap) {
        sr_neighbour_t *items = realloc(e->reco_items, cap * k * sizeof *items);
        if (!items)
            return SR_ERR_NOMEM;
        e->reco_items = items;
        e->recos_cap = cap;
    }
    sr_reco_model_t model = reco_model(e);
    for (size_t start = 0; start < n; start += SR_RECO_MAX_BATCH) {
        size_t m = n - start < SR_RECO_MAX_BATCH ? n - start : SR_RECO_MAX_BATCH;
        const uint32_t *users = e->dirty_users.ids + start;
        const sr_profile_t *profiles[SR_RECO_MAX_BATCH];
        size_t counts[SR_RECO_MAX_BATCH];
        for (size_t b = 0; b < m; b++) profiles[b] = &e->profiles[users[b]];
        sr_err_t err = sr_reco_batch(e->reco, &model, users, profiles, m,
                                     e->reco_items + start * k, counts);
        if (err != SR_OK)
            return err;
        for (size_t b = 0; b < m; b++) {
            sr_reco_update_t *r = &e->recos[start + b];
            r->user = users[b];
            r->user_id = sr_intern_str(e->user_ids, users[b], NULL);
            r->event_ts_ms = profiles[b]->last_seen_ms;
            r->seq = profiles[b]->events;
            r->n_items = counts[b];
            r->items = e->reco_items + (start + b) * k;
        }
    }
    e->outbox.recos = e->recos;
    e->outbox.n_recos = n;
    dirty_clear(&e->dirty_users);
    return SR_OK;
}

/* The ordered member ids of a neighbour list; 0 for an empty list (and for
 * an item never published: a new item's list is news once it has members). */
static uint64_t list_signature(const sr_neighbour_t *list, size_t n) {
    if (n == 0)
        return 0;
    uint32_t ids[SR_SIM_SLOTS];
    for (size_t k = 0; k < n; k++) ids[k] = list[k].item;
    uint64_t h = sr_hash_bytes(ids, n * sizeof *ids, n);
    return h ? h : 1;
}

/* Lists loaded ahead of the one being built: 4 x 8 cache lines in flight
 * covers the memory latency at a few hundred ns per list. */
#define SIM_PREFETCH_AHEAD 4

/* Builds item's list into out and tells whether it is news: its members or
 * their order differ from the last list published. Only a change of those
 * is news: scores drift with every co-occurrence, and republishing each
 * drift cost Redis five times the recommendation writes. A news list is
 * recorded as published. */
static bool build_list(sr_engine_t *e, uint32_t item, sr_neighbour_t *out, size_t *n) {
    *n = sr_sim_neighbours(e->sim, item, out, (size_t)e->cfg.sim_neighbours);
    uint64_t sig = list_signature(out, *n);
    if (sig == e->sim_signature[item])
        return false;
    e->sim_signature[item] = sig;
    return true;
}

static sr_err_t flush_sims(sr_engine_t *e) {
    /* the items the gate leaves out leave the set: their next change marks them again */
    if (e->sim_gate && dirty_filter(&e->dirty_items, e->sim_gate, e->sim_gate_opaque) < 0)
        return SR_ERR_NOMEM;
    size_t n = e->dirty_items.n, m = (size_t)e->cfg.sim_neighbours;
    const uint32_t *ids = e->dirty_items.ids;
    size_t cap = e->sims_cap;
    if (grow((void **)&e->sims, &cap, n, sizeof *e->sims) != SR_OK)
        return SR_ERR_NOMEM;
    if (cap != e->sims_cap) {
        sr_neighbour_t *items = realloc(e->sim_items, cap * m * sizeof *items);
        if (!items)
            return SR_ERR_NOMEM;
        e->sim_items = items;
        e->sims_cap = cap;
    }
    size_t out = 0;
    for (size_t d = 0; d < n; d++) {
        /* The summaries were last touched a batch ago and are out of cache:
         * start loading a few lists ahead so their misses overlap. */
        if (d + SIM_PREFETCH_AHEAD < n)
            sr_sim_prefetch_neighbours(e->sim, ids[d + SIM_PREFETCH_AHEAD]);
        sr_sim_update_t *s = &e->sims[out];
        s->neighbours = e->sim_items + out * m;
        if (!build_list(e, ids[d], e->sim_items + out * m, &s->n_neighbours))
            continue;
        s->item = ids[d];
        s->item_id = sr_intern_str(e->item_ids, ids[d], NULL);
        out++;
    }
    e->outbox.sims = e->sims;
    e->outbox.n_sims = out;
    dirty_clear(&e->dirty_items);
    return SR_OK;
}

void sr_engine_set_sim_gate(sr_engine_t *e, sr_sim_gate_fn *gate, void *opaque) {
    e->sim_gate = gate;
    e->sim_gate_opaque = opaque;
}

bool sr_engine_neighbours_news(sr_engine_t *e, uint32_t item, sr_neighbour_t *out, size_t *n) {
    *n = 0;
    if (item >= sr_intern_count(e->item_ids) || item >= e->sim_signature_cap)
        return false;
    uint64_t mark = e->timing ? (uint64_t)sr_clock_mono_ns() : 0;
    bool news = build_list(e, item, out, n);
    stage_done(e, SR_STAGE_RECOMMEND, &mark); /* the flush's work, done later */
    return news;
}

static void alert_id(const char *user_id, uint32_t fired_s, char out[17]) {
    uint64_t h = sr_hash_bytes(user_id, strlen(user_id), fired_s);
    snprintf(out, 17, "%016" PRIx64, h);
}

static sr_err_t collect_churn(sr_engine_t *e) {
    size_t n_alerts, n_labels;
    const sr_churn_alert_t *alerts = sr_churn_alerts(e->churn, &n_alerts);
    const sr_churn_label_t *labels = sr_churn_labels(e->churn, &n_labels);
    if (grow((void **)&e->alerts, &e->alerts_cap, n_alerts, sizeof *e->alerts) != SR_OK ||
        grow((void **)&e->labels, &e->labels_cap, e->n_labels + n_labels, sizeof *e->labels) != SR_OK)
        return SR_ERR_NOMEM;
    for (size_t a = 0; a < n_alerts; a++) {
        sr_alert_update_t *out = &e->alerts[a];
        out->alert = alerts[a];
        out->user_id = sr_intern_str(e->user_ids, alerts[a].user, NULL);
        alert_id(out->user_id, alerts[a].fired_s, out->alert_id);
    }
    if (n_labels > 0) { /* before the first label both arrays may still be NULL */
        memcpy(e->labels + e->n_labels, labels, n_labels * sizeof *labels);
        e->n_labels += n_labels;
    }
    sr_churn_clear_outputs(e->churn);
    e->outbox.alerts = e->alerts;
    e->outbox.n_alerts = n_alerts;
    return SR_OK;
}

sr_err_t sr_engine_flush(sr_engine_t *e, const sr_outbox_t **out) {
    sr_err_t err;
    uint64_t mark = e->timing ? (uint64_t)sr_clock_mono_ns() : 0;
    snapshot_trending(e);
    if ((err = flush_recos(e)) != SR_OK || (err = flush_sims(e)) != SR_OK)
        return err;
    stage_done(e, SR_STAGE_RECOMMEND, &mark);
    if ((err = collect_churn(e)) != SR_OK)
        return err;
    stage_done(e, SR_STAGE_CHURN, &mark);
    e->outbox.labels = e->labels;
    e->outbox.n_labels = e->n_labels;
    e->n_labels = 0; /* handed out: valid until the next flush */
    e->outbox.model_version = e->stats.events;
    e->outbox.watermark_ms = watermark_of(e);
    *out = &e->outbox;
    return SR_OK;
}

size_t sr_engine_recommend(sr_engine_t *e, const char *user_id, size_t user_id_len,
                           sr_neighbour_t *out) {
    snapshot_trending(e);
    uint32_t u = sr_intern_find(e->user_ids, user_id, user_id_len);
    if (u == SR_INTERN_NONE) {
        size_t n = e->n_trending_snapshot < (size_t)e->cfg.reco.k ? e->n_trending_snapshot
                                                                 : (size_t)e->cfg.reco.k;
        memcpy(out, e->trending_snapshot, n * sizeof *out);
        return n;
    }
    sr_reco_model_t model = reco_model(e);
    const sr_profile_t *profile = &e->profiles[u];
    size_t n = 0;
    if (sr_reco_batch(e->reco, &model, &u, &profile, 1, out, &n) != SR_OK)
        return 0;
    return n;
}

const sr_churn_label_t *sr_engine_take_labels(sr_engine_t *e, size_t *n) {
    if (collect_churn(e) != SR_OK) {
        *n = 0;
        return NULL;
    }
    *n = e->n_labels;
    e->n_labels = 0;
    return e->labels;
}

void sr_engine_stats(const sr_engine_t *e, sr_engine_stats_t *out) {
    *out = e->stats;
    out->users = sr_intern_live(e->user_ids) - e->n_forgotten;
    out->items = sr_intern_live(e->item_ids);
    out->watermark_ms = watermark_of(e);
}

size_t sr_engine_dirty_users(const sr_engine_t *e) { return e->dirty_users.n; }

bool sr_engine_takes_time(const sr_engine_t *e, int64_t ts_ms) {
    return check_ts(e, ts_ms, NULL, 0) == SR_OK;
}

bool sr_engine_hold_watermark(sr_engine_t *e, int64_t newest_ms) {
    int64_t before = watermark_of(e);
    e->hold_ms = newest_ms;
    if (watermark_of(e) <= before)
        return false;
    maybe_sweep(e);
    return true;
}

void sr_engine_set_stage_timing(sr_engine_t *e, bool on) { e->timing = on; }

void sr_engine_stage_ns(const sr_engine_t *e, uint64_t ns[SR_STAGE__COUNT]) {
    memcpy(ns, e->stage_ns, sizeof e->stage_ns);
}

const char *sr_engine_item_id(const sr_engine_t *e, uint32_t item) {
    return sr_intern_str(e->item_ids, item, NULL);
}
const char *sr_engine_user_id(const sr_engine_t *e, uint32_t user) {
    return sr_intern_str(e->user_ids, user, NULL);
}
uint32_t sr_engine_find_user(const sr_engine_t *e, const char *id, size_t len) {
    return sr_intern_find(e->user_ids, id, len);
}
uint32_t sr_engine_find_item(const sr_engine_t *e, const char *id, size_t len) {
    return sr_intern_find(e->item_ids, id, len);
}
const sr_profile_t *sr_engine_profile(const sr_engine_t *e, uint32_t user) {
    return user < sr_intern_count(e->user_ids) ? &e->profiles[user] : NULL;
}
const sr_mf_t *sr_engine_mf(const sr_engine_t *e) { return e->mf; }
const sr_sim_t *sr_engine_sim(const sr_engine_t *e) { return e->sim; }
const sr_trending_t *sr_engine_trending(const sr_engine_t *e) { return e->trending; }
const sr_churn_t *sr_engine_churn(const sr_engine_t *e) { return e->churn; }
const sr_engine_config_t *sr_engine_config(const sr_engine_t *e) { return &e->cfg; }

/* ---- moving a user between engines -------------------------------------
 *
 * Layout (host byte order: both ends run the same build):
 *   u32 magic "SRU1", u16 k, u16 profile bytes, u16 churn bytes, u16 refs
 *   the profile as it is, the churn slot, k factors and the accumulator
 *   refs x (u16 length, bytes): the strings of every dense id the profile
 *   holds, in ref order below, length 0 for none.
 * The profile's dense ids are meaningless to another engine, so they travel
 * as strings and are interned again (and patched in) on import. */

#define USER_STATE_MAGIC 0x31555253u /* "SRU1" */
#define USER_STATE_HEADER 12
#define USER_REFS (SR_PROFILE_RECENT_MAX + SR_PROFILE_PURCHASED_MAX + SR_PROFILE_TOP_CATEGORIES)

/* The profile's dense-id slots in ref order; is_category tells the dictionary. */
static uint32_t *profile_ref(sr_profile_t *p, int r, bool *is_category) {
    *is_category = r >= SR_PROFILE_RECENT_MAX + SR_PROFILE_PURCHASED_MAX;
    if (r < SR_PROFILE_RECENT_MAX)
        return &p->recent_item[r];
    if (r < SR_PROFILE_RECENT_MAX + SR_PROFILE_PURCHASED_MAX)
        return &p->purchased[r - SR_PROFILE_RECENT_MAX];
    return &p->category[r - SR_PROFILE_RECENT_MAX - SR_PROFILE_PURCHASED_MAX];
}

/* Ring slots past the ring's length hold no item, whatever their bytes. */
static bool ref_in_use(const sr_profile_t *p, int r) {
    if (r < SR_PROFILE_RECENT_MAX)
        return r < p->recent_len;
    if (r < SR_PROFILE_RECENT_MAX + SR_PROFILE_PURCHASED_MAX)
        return r - SR_PROFILE_RECENT_MAX < p->purchased_len;
    return true;
}

static size_t user_state_fixed(const sr_engine_t *e) {
    return USER_STATE_HEADER + sizeof(sr_profile_t) + sr_churn_bytes_per_user() +
           ((size_t)e->cfg.mf.k + 1) * sizeof(float);
}

size_t sr_engine_user_state_max(const sr_engine_t *e) {
    return user_state_fixed(e) + USER_REFS * (2 + SR_INTERN_MAX_LEN);
}

size_t sr_engine_export_user(const sr_engine_t *e, uint32_t user, uint8_t *buf, size_t cap) {
    if (user >= sr_intern_count(e->user_ids) || e->profiles[user].events == 0)
        return 0;
    sr_profile_t p = e->profiles[user];
    size_t need = user_state_fixed(e);
    const char *ref[USER_REFS];
    size_t ref_len[USER_REFS];
    for (int r = 0; r < USER_REFS; r++) {
        bool is_category;
        uint32_t id = *profile_ref(&p, r, &is_category);
        ref[r] = NULL;
        ref_len[r] = 0;
        if (id != SR_PROFILE_NONE && ref_in_use(&p, r))
            ref[r] = sr_intern_str(is_category ? e->category_ids : e->item_ids, id, &ref_len[r]);
        need += 2 + ref_len[r];
    }
    if (need > cap)
        return need;
    uint32_t magic = USER_STATE_MAGIC;
    uint16_t head[4] = {(uint16_t)e->cfg.mf.k, (uint16_t)sizeof p,
                        (uint16_t)sr_churn_bytes_per_user(), USER_REFS};
    uint8_t *w = buf;
    memcpy(w, &magic, 4);
    memcpy(w + 4, head, sizeof head);
    w += USER_STATE_HEADER;
    memcpy(w, &p, sizeof p);
    w += sizeof p;
    sr_churn_user_save(e->churn, user, w);
    w += sr_churn_bytes_per_user();
    float accum;
    sr_mf_user_get(e->mf, user, (float *)(void *)w, &accum);
    w += (size_t)e->cfg.mf.k * sizeof(float);
    memcpy(w, &accum, sizeof accum);
    w += sizeof accum;
    for (int r = 0; r < USER_REFS; r++) {
        uint16_t len = (uint16_t)ref_len[r];
        memcpy(w, &len, 2);
        if (len)
            memcpy(w + 2, ref[r], len);
        w += 2 + len;
    }
    return need;
}

sr_err_t sr_engine_import_user(sr_engine_t *e, const char *user_id, size_t user_id_len,
                               const uint8_t *buf, size_t len, char *errstr,
                               size_t errstr_size) {
    sr_err_t err;
    if ((err = check_id("user id", &(sr_str_t){user_id, user_id_len}, true, errstr,
                        errstr_size)) != SR_OK)
        return err;
    size_t fixed = user_state_fixed(e);
    uint32_t magic;
    uint16_t head[4];
    if (len < fixed)
        return sr_seterr(SR_ERR_TRUNCATED, errstr, errstr_size,
                         "user state of %zu bytes, shorter than its %zu-byte fixed part", len, fixed);
    memcpy(&magic, buf, 4);
    memcpy(head, buf + 4, sizeof head);
    if (magic != USER_STATE_MAGIC || head[0] != e->cfg.mf.k || head[1] != sizeof(sr_profile_t) ||
        head[2] != sr_churn_bytes_per_user() || head[3] != USER_REFS)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "user state from another build or model: magic %08x, mf.k %u, profile "
                         "%u bytes, churn slot %u bytes, %u refs; here %08x, %d, %zu, %zu, %d",
                         (unsigned)magic, (unsigned)head[0], (unsigned)head[1],
                         (unsigned)head[2], (unsigned)head[3], (unsigned)USER_STATE_MAGIC,
                         e->cfg.mf.k, sizeof(sr_profile_t), sr_churn_bytes_per_user(),
                         USER_REFS);
    sr_profile_t p;
    const uint8_t *rd = buf + USER_STATE_HEADER;
    memcpy(&p, rd, sizeof p);
    if (p.events == 0 || p.recent_len > SR_PROFILE_RECENT_MAX ||
        p.recent_head >= SR_PROFILE_RECENT_MAX || p.purchased_len > SR_PROFILE_PURCHASED_MAX ||
        p.purchased_head >= SR_PROFILE_PURCHASED_MAX)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size, "user state: profile out of range");
    const uint8_t *churn_slot = rd + sizeof p;
    const uint8_t *mf_row = churn_slot + sr_churn_bytes_per_user();

    /* Every reference is checked before any is interned: a bad value changes nothing. */
    sr_str_t ref[USER_REFS];
    const uint8_t *refs = buf + fixed, *end = buf + len;
    for (int r = 0; r < USER_REFS; r++) {
        uint16_t n;
        if (end - refs < 2 || (memcpy(&n, refs, 2), (size_t)(end - refs - 2) < n))
            return sr_seterr(SR_ERR_TRUNCATED, errstr, errstr_size,
                             "user state: reference %d cut short", r);
        ref[r] = (sr_str_t){(const char *)refs + 2, n};
        refs += 2 + n;
        if ((err = check_id("user state: a reference", &ref[r], false, errstr, errstr_size)) != SR_OK)
            return err;
    }
    if (refs != end)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "user state: %zu bytes after the last reference", (size_t)(end - refs));
    uint32_t ids[USER_REFS];
    for (int r = 0; r < USER_REFS; r++) {
        /* an unused ring slot is 0, as in a new profile: equal state, equal bytes */
        ids[r] = ref_in_use(&p, r) ? SR_PROFILE_NONE : 0;
        if (ref[r].len == 0)
            continue;
        bool is_category;
        profile_ref(&p, r, &is_category);
        err = is_category ? sr_intern_add(e->category_ids, ref[r].ptr, ref[r].len, &ids[r], NULL)
                          : add_item(e, &ref[r], &ids[r]);
        if (err != SR_OK)
            return sr_seterr(err, errstr, errstr_size, "user state: %s", sr_err_name(err));
    }

    uint32_t u;
    bool added;
    if ((err = add_user(e, &(sr_str_t){user_id, user_id_len}, &u, &added)) != SR_OK)
        return sr_seterr(err, errstr, errstr_size, "user state: %s", sr_err_name(err));
    if (!added && e->profiles[u].events == 0)
        e->n_forgotten--;
    for (int r = 0; r < USER_REFS; r++) {
        bool is_category;
        *profile_ref(&p, r, &is_category) = ids[r];
    }
    e->profiles[u] = p;
    e->seen_day[u] = day_of(p.last_seen_ms);
    /* The user's items were named no later than the user's last event: an
     * item stamped only with this engine's newest event time (0 in an engine
     * that has applied nothing yet, as when restoring on startup) would look
     * idle since 1970 and the first item sweep would scrub the history just
     * imported. */
    for (int r = 0; r < SR_PROFILE_RECENT_MAX + SR_PROFILE_PURCHASED_MAX; r++)
        if (ref[r].len > 0 && e->item_seen_ms[ids[r]] < p.last_seen_ms)
            e->item_seen_ms[ids[r]] = p.last_seen_ms;
    sr_churn_user_load(e->churn, u, churn_slot);
    float accum;
    memcpy(&accum, mf_row + (size_t)e->cfg.mf.k * sizeof(float), sizeof accum);
    float factors[SR_MF_MAX_K];
    memcpy(factors, mf_row, (size_t)e->cfg.mf.k * sizeof(float));
    sr_mf_user_set(e->mf, u, factors, accum);
    return SR_OK;
}

void sr_engine_forget_user(sr_engine_t *e, uint32_t user) {
    if (user >= sr_intern_count(e->user_ids) || e->profiles[user].events == 0)
        return;
    size_t len;
    const char *id = sr_intern_str(e->user_ids, user, &len);
    uint64_t h = sr_hash_bytes(id, len, 0);
    /* Released like an evicted user, so handed-off users do not pile up in
     * the dictionary and the checkpoints; no churn label resolves (the user
     * lives on at its new owner) and nothing is emitted for it. */
    bool released = sr_intern_remove(e->user_ids, user) == SR_OK;
    sr_profile_init(&e->profiles[user]);
    sr_churn_forget_user(e->churn, user);
    dirty_remove(&e->dirty_users, user);
    e->seen_day[user] = SEEN_NONE;
    if (released)
        return; /* the MF row and churn slot are reset when the id is reused */
    /* out of memory for the free list: the id stays without state, reused
     * if the user comes back */
    sr_mf_user_reset(e->mf, user, h);
    e->n_forgotten++;
}

size_t sr_engine_user_slots(const sr_engine_t *e) { return sr_intern_count(e->user_ids); }

size_t sr_engine_categories(const sr_engine_t *e) { return sr_intern_count(e->category_ids); }

const char *sr_engine_category_id(const sr_engine_t *e, uint32_t category) {
    return sr_intern_str(e->category_ids, category, NULL);
}

/* ---- saving and loading the whole state ---------------------------------
 *
 * See engine.h for what is saved and why. The engine writes the frame (magic,
 * version, fingerprint, shape, its own fields, the digest); each module
 * writes and checks its own section. Nothing here allocates on the save
 * side: the writer lives on this stack frame. */

#define STATE_MAGIC "SRES"

/* The shape: what a state can only be read back under. Encoded little-endian
 * in this order; the fingerprint is the hash of these bytes. */
enum { SHAPE_CONSTANTS = 7 };
#define SHAPE_BYTES (4 + 4 + 8 + 4 + 8 + 2 * SHAPE_CONSTANTS)

typedef struct shape {
    uint32_t mf_k, mf_negative_pool;
    int64_t sim_half_life_ms;
    uint32_t trending_size;
    int64_t trending_half_life_ms;
    uint16_t constant[SHAPE_CONSTANTS];
} shape_t;

static const char *const shape_constant_name[SHAPE_CONSTANTS] = {
    "similarity slots", "recent items", "purchased items", "activity half-lives",
    "top categories",   "churn features", "event types",
};

static shape_t shape_of(const sr_engine_config_t *cfg) {
    shape_t s = {
        .mf_k = (uint32_t)cfg->mf.k,
        .mf_negative_pool = (uint32_t)cfg->mf.negative_pool,
        .sim_half_life_ms = cfg->sim.half_life_ms,
        .trending_size = (uint32_t)cfg->trending.size,
        .trending_half_life_ms = cfg->trending.half_life_ms,
        .constant = {SR_SIM_SLOTS, SR_PROFILE_RECENT_MAX, SR_PROFILE_PURCHASED_MAX,
                     SR_PROFILE_HALF_LIVES, SR_PROFILE_TOP_CATEGORIES, SR_CHURN_FEATURES,
                     SR_EVENT__COUNT},
    };
    return s;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int b = 0; b < bytes; b++) p[b] = (uint8_t)(v >> (8 * b));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int b = 0; b < bytes; b++) v |= (uint64_t)p[b] << (8 * b);
    return v;
}

static void shape_encode(const shape_t *s, uint8_t out[SHAPE_BYTES]) {
    put_le(out, s->mf_k, 4);
    put_le(out + 4, s->mf_negative_pool, 4);
    put_le(out + 8, (uint64_t)s->sim_half_life_ms, 8);
    put_le(out + 16, s->trending_size, 4);
    put_le(out + 20, (uint64_t)s->trending_half_life_ms, 8);
    for (int c = 0; c < SHAPE_CONSTANTS; c++) put_le(out + 28 + 2 * c, s->constant[c], 2);
}

static shape_t shape_decode(const uint8_t in[SHAPE_BYTES]) {
    shape_t s;
    s.mf_k = (uint32_t)get_le(in, 4);
    s.mf_negative_pool = (uint32_t)get_le(in + 4, 4);
    s.sim_half_life_ms = (int64_t)get_le(in + 8, 8);
    s.trending_size = (uint32_t)get_le(in + 16, 4);
    s.trending_half_life_ms = (int64_t)get_le(in + 20, 8);
    for (int c = 0; c < SHAPE_CONSTANTS; c++) s.constant[c] = (uint16_t)get_le(in + 28 + 2 * c, 2);
    return s;
}

uint64_t sr_engine_config_fingerprint(const sr_engine_config_t *cfg) {
    shape_t s = shape_of(cfg);
    uint8_t bytes[SHAPE_BYTES];
    shape_encode(&s, bytes);
    return sr_hash_bytes(bytes, sizeof bytes, 0);
}

sr_err_t sr_engine_save(const sr_engine_t *e, sr_write_fn *write, void *opaque,
                        uint64_t *digest_out, char *errstr, size_t errstr_size) {
    sr_writer_t w;
    sr_writer_init(&w, write, opaque);
    shape_t shape = shape_of(&e->cfg);
    uint8_t shape_bytes[SHAPE_BYTES];
    shape_encode(&shape, shape_bytes);

    sr_writer_tag(&w, STATE_MAGIC);
    sr_writer_u32(&w, SR_ENGINE_STATE_VERSION);
    sr_writer_u64(&w, sr_hash_bytes(shape_bytes, sizeof shape_bytes, 0));
    sr_writer_bytes(&w, shape_bytes, sizeof shape_bytes);

    sr_intern_save(e->user_ids, &w);
    sr_intern_save(e->item_ids, &w);
    sr_intern_save(e->category_ids, &w);
    size_t n_users = sr_intern_count(e->user_ids), n_items = sr_intern_count(e->item_ids);
    sr_writer_tag(&w, "PROF");
    sr_writer_u32(&w, (uint32_t)n_users);
    for (size_t u = 0; u < n_users; u++) sr_profile_save(&e->profiles[u], &w);
    sr_mf_save(e->mf, &w);
    sr_sim_save(e->sim, &w);
    sr_trending_save(e->trending, &w);
    sr_churn_save(e->churn, &w);

    sr_writer_tag(&w, "ENGN");
    sr_writer_u64(&w, e->stats.events);
    for (int t = 0; t < SR_EVENT__COUNT; t++) sr_writer_u64(&w, e->stats.by_type[t]);
    sr_writer_u64(&w, e->stats.rejected);
    sr_writer_i64(&w, e->max_ts_ms);
    sr_writer_u8(&w, e->any_event ? 1 : 0);
    sr_writer_u32(&w, (uint32_t)e->n_forgotten);
    sr_writer_i64(&w, e->last_evict_ms);
    sr_writer_u64(&w, e->stats.users_evicted);
    sr_writer_i64(&w, e->last_item_evict_ms);
    sr_writer_u64(&w, e->stats.items_evicted);
    sr_writer_u32(&w, (uint32_t)n_items);
    sr_writer_u64s(&w, e->sim_signature, n_items);
    for (size_t i = 0; i < n_items; i++) sr_writer_i64(&w, e->item_seen_ms[i]);
    sr_writer_u32(&w, (uint32_t)e->dirty_users.n);
    sr_writer_u32s(&w, e->dirty_users.ids, e->dirty_users.n);
    sr_writer_u32(&w, (uint32_t)e->dirty_items.n);
    sr_writer_u32s(&w, e->dirty_items.ids, e->dirty_items.n);

    sr_writer_tag(&w, "END ");
    uint64_t digest = sr_writer_digest(&w);
    sr_writer_u64(&w, digest);
    if (sr_writer_flush(&w) != SR_OK)
        return sr_seterr(w.err, errstr, errstr_size, "saving the engine state: %s after %" PRIu64
                         " bytes", sr_err_name(w.err), w.bytes);
    if (digest_out)
        *digest_out = digest;
    return SR_OK;
}

static sr_err_t discard(void *opaque, const void *buf, size_t len) {
    (void)opaque;
    (void)buf;
    (void)len;
    return SR_OK;
}

uint64_t sr_engine_digest(const sr_engine_t *e) {
    uint64_t digest = 0;
    sr_engine_save(e, discard, NULL, &digest, NULL, 0);
    return digest;
}

/* "mf.k 32 there, 16 here; trending.size ..." for every shape field that
 * differs between the state and the engine. */
static void describe_shape_diff(const shape_t *there, const shape_t *here, char *out,
                                size_t size) {
    size_t n = 0;
    out[0] = '\0';
#define DIFF(name, a, b, fmt)                                                              \
    if ((a) != (b) && n < size)                                                           \
        n += (size_t)snprintf(out + n, size - n, "%s" name " " fmt " there, " fmt " here", \
                              n ? "; " : "", a, b);
    DIFF("mf.k", there->mf_k, here->mf_k, "%" PRIu32)
    DIFF("mf.negative.pool", there->mf_negative_pool, here->mf_negative_pool, "%" PRIu32)
    DIFF("sim.half.life.ms", there->sim_half_life_ms, here->sim_half_life_ms, "%" PRId64)
    DIFF("trending.size", there->trending_size, here->trending_size, "%" PRIu32)
    DIFF("trending.half.life.ms", there->trending_half_life_ms, here->trending_half_life_ms,
         "%" PRId64)
    for (int c = 0; c < SHAPE_CONSTANTS; c++)
        if (there->constant[c] != here->constant[c] && n < size)
            n += (size_t)snprintf(out + n, size - n, "%s%s %u there, %u here (another build)",
                                  n ? "; " : "", shape_constant_name[c],
                                  (unsigned)there->constant[c], (unsigned)here->constant[c]);
#undef DIFF
}

static sr_err_t section_error(sr_reader_t *r, const char *what, const char *tag, char *errstr,
                              size_t errstr_size) {
    if (!sr_reader_ok(r))
        return sr_reader_error(r, what, errstr, errstr_size);
    return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                     "no '%s' section where %s was expected (byte %" PRIu64 ")", tag, what,
                     r->offset);
}

/* Fills a new engine from r; e's modules are empty. */
static sr_err_t load_body(sr_engine_t *e, sr_reader_t *r, char *errstr, size_t errstr_size) {
    sr_err_t err;
    if ((err = sr_intern_load(e->user_ids, r, "user ids", errstr, errstr_size)) != SR_OK ||
        (err = sr_intern_load(e->item_ids, r, "item ids", errstr, errstr_size)) != SR_OK ||
        (err = sr_intern_load(e->category_ids, r, "category ids", errstr, errstr_size)) != SR_OK)
        return err;
    size_t n_users = sr_intern_count(e->user_ids), n_items = sr_intern_count(e->item_ids);
    uint32_t n_categories = (uint32_t)sr_intern_count(e->category_ids);

    if (!sr_reader_tag(r, "PROF"))
        return section_error(r, "profiles", "PROF", errstr, errstr_size);
    uint32_t n_profiles = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "profiles", errstr, errstr_size);
    if (n_profiles != n_users)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size, "%u profiles for %zu users",
                         n_profiles, n_users);
    if (n_users > 0) {
        size_t cap = 1024;
        while (cap < n_users) cap *= 2;
        /* zeroed: a profile is exported (handoff) as its bytes, padding
         * included, and the fields below fill everything but the padding */
        if (!(e->profiles = calloc(cap, sizeof *e->profiles)) ||
            !(e->seen_day = malloc(cap * sizeof *e->seen_day)))
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory for %zu profiles",
                             n_users);
        e->n_profiles_cap = cap;
    }
    for (size_t u = 0; u < n_users; u++) {
        const char *why = NULL;
        err = sr_profile_load(&e->profiles[u], r, (uint32_t)n_items, n_categories, &why);
        if (err == SR_ERR_CORRUPT)
            return sr_seterr(err, errstr, errstr_size, "profile of user %zu: %s", u, why);
        if (err != SR_OK)
            return sr_reader_error(r, "profiles", errstr, errstr_size);
        if (e->profiles[u].events > 0 && !sr_intern_str(e->user_ids, (uint32_t)u, NULL))
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "profile of user %zu: state in a removed slot", u);
        e->seen_day[u] = e->profiles[u].events > 0 ? day_of(e->profiles[u].last_seen_ms) : SEEN_NONE;
    }

    if ((err = sr_mf_load(e->mf, r, n_users, n_items, errstr, errstr_size)) != SR_OK ||
        (err = sr_sim_load(e->sim, r, n_items, errstr, errstr_size)) != SR_OK ||
        (err = sr_trending_load(e->trending, r, n_items, errstr, errstr_size)) != SR_OK ||
        (err = sr_churn_load(e->churn, r, n_users, errstr, errstr_size)) != SR_OK)
        return err;

    if (!sr_reader_tag(r, "ENGN"))
        return section_error(r, "the engine's counters", "ENGN", errstr, errstr_size);
    e->stats.events = sr_reader_u64(r);
    for (int t = 0; t < SR_EVENT__COUNT; t++) e->stats.by_type[t] = sr_reader_u64(r);
    e->stats.rejected = sr_reader_u64(r);
    e->max_ts_ms = sr_reader_i64(r);
    uint8_t any_event = sr_reader_u8(r);
    uint32_t n_forgotten = sr_reader_u32(r);
    e->last_evict_ms = sr_reader_i64(r);
    e->stats.users_evicted = sr_reader_u64(r);
    e->last_item_evict_ms = sr_reader_i64(r);
    e->stats.items_evicted = sr_reader_u64(r);
    uint32_t n_signatures = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "the engine's counters", errstr, errstr_size);
    if (any_event > 1 || n_forgotten > sr_intern_live(e->user_ids) || n_signatures != n_items)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "engine counters out of range (%u forgotten of %zu users, %u signatures "
                         "for %zu items)", n_forgotten, n_users, n_signatures, n_items);
    e->any_event = any_event == 1;
    e->n_forgotten = n_forgotten;
    if (n_items > 0) {
        if (reserve_items(e, n_items - 1) != SR_OK)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size,
                             "out of memory for %zu item signatures", n_items);
        if (!sr_reader_u64s(r, e->sim_signature, n_items))
            return sr_reader_error(r, "neighbour list signatures", errstr, errstr_size);
        for (size_t i = 0; i < n_items; i++) {
            e->item_seen_ms[i] = sr_reader_i64(r);
            if (sr_reader_ok(r) &&
                (e->item_seen_ms[i] == INT64_MAX) != !sr_intern_str(e->item_ids, (uint32_t)i, NULL))
                return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                 "item %zu: last event time does not match its slot", i);
        }
        if (!sr_reader_ok(r))
            return sr_reader_error(r, "item event times", errstr, errstr_size);
    }
    dirty_set_t *sets[2] = {&e->dirty_users, &e->dirty_items};
    size_t limits[2] = {n_users, n_items};
    for (int d = 0; d < 2; d++) {
        uint32_t n = sr_reader_u32(r);
        for (uint32_t k = 0; k < n && sr_reader_ok(r); k++) {
            uint32_t id = sr_reader_u32(r);
            if (!sr_reader_ok(r))
                break;
            if (id >= limits[d] || (id < sets[d]->flag_cap && sets[d]->flag[id]))
                return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                 "dirty %s %u is out of range or repeated",
                                 d == 0 ? "user" : "item", id);
            if (dirty_add(sets[d], id) != SR_OK)
                return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        if (!sr_reader_ok(r))
            return sr_reader_error(r, "dirty sets", errstr, errstr_size);
    }

    if (!sr_reader_tag(r, "END "))
        return section_error(r, "the end of the state", "END ", errstr, errstr_size);
    uint64_t computed = sr_reader_digest(r), stored = sr_reader_u64(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, "the state digest", errstr, errstr_size);
    if (computed != stored)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "state digest mismatch: stored %016" PRIx64 ", computed %016" PRIx64,
                         stored, computed);
    if (!sr_reader_at_end(r))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "bytes after the end of the state (byte %" PRIu64 ")",
                                           r->offset)
                               : sr_reader_error(r, "the end of the state", errstr, errstr_size);
    return SR_OK;
}

sr_err_t sr_engine_load(const sr_engine_config_t *cfg, sr_read_fn *read, void *opaque,
                        sr_engine_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    sr_reader_t r;
    sr_reader_init(&r, read, opaque);
    if (!sr_reader_tag(&r, STATE_MAGIC))
        return sr_reader_ok(&r) || r.err == SR_ERR_TRUNCATED
                   ? sr_seterr(sr_reader_ok(&r) ? SR_ERR_CORRUPT : r.err, errstr, errstr_size,
                               "not a streamrec engine state (no '" STATE_MAGIC "' at the start)")
                   : sr_reader_error(&r, "the state header", errstr, errstr_size);
    uint32_t version = sr_reader_u32(&r);
    uint64_t fingerprint = sr_reader_u64(&r);
    uint8_t shape_bytes[SHAPE_BYTES];
    sr_reader_take(&r, shape_bytes, sizeof shape_bytes);
    if (!sr_reader_ok(&r))
        return sr_reader_error(&r, "the state header", errstr, errstr_size);
    if (version != SR_ENGINE_STATE_VERSION)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "engine state format version %" PRIu32 ", this build reads version %d",
                         version, SR_ENGINE_STATE_VERSION);
    if (sr_hash_bytes(shape_bytes, sizeof shape_bytes, 0) != fingerprint)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "the state's config fingerprint does not match its own shape");
    shape_t there = shape_decode(shape_bytes);

    sr_engine_config_t c;
    if (cfg) {
        c = *cfg;
    } else {
        sr_engine_config_defaults(&c);
        c.mf.k = (int)there.mf_k;
        c.mf.negative_pool = (int)there.mf_negative_pool;
        c.sim.half_life_ms = there.sim_half_life_ms;
        c.trending.size = (int)there.trending_size;
        c.trending.half_life_ms = there.trending_half_life_ms;
    }
    uint64_t here_fingerprint = sr_engine_config_fingerprint(&c);
    if (here_fingerprint != fingerprint) {
        shape_t here = shape_of(&c);
        char diff[512];
        describe_shape_diff(&there, &here, diff, sizeof diff);
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "config fingerprint mismatch: the state was saved with %016" PRIx64
                         ", this configuration has %016" PRIx64 " (%s)",
                         fingerprint, here_fingerprint, diff);
    }
    sr_engine_t *e = sr_engine_new(&c, errstr, errstr_size);
    if (!e)
        return cfg ? SR_ERR_INVALID : SR_ERR_CORRUPT; /* NULL cfg: the state's shape is off */
    sr_err_t err = load_body(e, &r, errstr, errstr_size);
    if (err != SR_OK) {
        sr_engine_destroy(e);
        return err;
    }
    *out = e;
    return SR_OK;
}
