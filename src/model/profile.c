#include "streamrec/profile.h"

#include <string.h>

#include "streamrec/decay.h"

#define MINUTE_MS (60 * 1000LL)
#define DAY_MS (24 * 60 * MINUTE_MS)

void sr_profile_config_defaults(sr_profile_config_t *cfg) {
    cfg->session_gap_ms = 30 * MINUTE_MS;
    cfg->half_life_ms[0] = 1 * DAY_MS;
    cfg->half_life_ms[1] = 7 * DAY_MS;
    cfg->half_life_ms[2] = 30 * DAY_MS;
    cfg->category_half_life_ms = 7 * DAY_MS;
}

void sr_profile_init(sr_profile_t *p) {
    memset(p, 0, sizeof *p);
    for (int c = 0; c < SR_PROFILE_TOP_CATEGORIES; c++)
        p->category[c] = SR_PROFILE_NONE;
    /* The rings fill slots 0, 1, ... in order, so a partly filled ring holds
     * exactly slots [0, len): the membership checks scan only those. */
    p->recent_head = SR_PROFILE_RECENT_MAX - 1;
    p->purchased_head = SR_PROFILE_PURCHASED_MAX - 1;
}

static uint32_t seconds(int64_t ts_ms) {
    if (ts_ms <= 0)
        return 0;
    int64_t s = ts_ms / 1000;
    return s > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Keeps the TOP_CATEGORIES categories with the highest decayed weight. A new
 * category replaces the weakest one only if its first weight beats it: the
 * usual space-saving trade, bounded memory at the price of missing a category
 * that arrives in many small steps while the slots are full of strong ones. */
static void update_categories(sr_profile_t *p, float decay, uint32_t category, float weight) {
    int weakest = 0, found = -1;
    for (int c = 0; c < SR_PROFILE_TOP_CATEGORIES; c++) {
        p->category_score[c] *= decay;
        if (p->category[c] == category)
            found = c;
        if (p->category_score[c] < p->category_score[weakest])
            weakest = c;
    }
    if (category == SR_PROFILE_NONE || weight <= 0)
        return;
    if (found >= 0) {
        p->category_score[found] += weight;
    } else if (p->category[weakest] == SR_PROFILE_NONE ||
               p->category_score[weakest] < weight) {
        p->category[weakest] = category;
        p->category_score[weakest] = weight;
    }
}

static void push_recent(sr_profile_t *p, uint32_t item, uint32_t ts_s) {
    /* An item already at the head only refreshes its time: repeated views of
     * one product must not push everything else out of the ring. */
    if (p->recent_len > 0 && p->recent_item[p->recent_head] == item) {
        p->recent_ts_s[p->recent_head] = ts_s;
        return;
    }
    p->recent_head = (uint8_t)((p->recent_head + 1) % SR_PROFILE_RECENT_MAX);
    p->recent_item[p->recent_head] = item;
    p->recent_ts_s[p->recent_head] = ts_s;
    if (p->recent_len < SR_PROFILE_RECENT_MAX)
        p->recent_len++;
}

static void push_purchased(sr_profile_t *p, uint32_t item) {
    if (sr_profile_purchased(p, item))
        return;
    p->purchased_head = (uint8_t)((p->purchased_head + 1) % SR_PROFILE_PURCHASED_MAX);
    p->purchased[p->purchased_head] = item;
    if (p->purchased_len < SR_PROFILE_PURCHASED_MAX)
        p->purchased_len++;
}

bool sr_profile_update(sr_profile_t *p, const sr_profile_config_t *cfg,
                       sr_event_type_t type, float weight, uint32_t item,
                       uint32_t category, double price, bool has_price, int64_t ts_ms) {
    bool first = p->sessions == 0; /* every applied event belongs to a session */
    bool new_session = first;
    int64_t dt_ms = 0;
    if (first) {
        p->last_seen_ms = ts_ms;
        p->first_seen_s = seconds(ts_ms);
    } else if (ts_ms > p->last_seen_ms) {
        dt_ms = ts_ms - p->last_seen_ms;
        if (dt_ms > cfg->session_gap_ms) {
            new_session = true;
        } else {
            p->session_seconds += (float)dt_ms / 1000.0f;
        }
        p->last_seen_ms = ts_ms;
    }
    if (new_session)
        p->sessions++;
    p->events++;

    for (int h = 0; h < SR_PROFILE_HALF_LIVES; h++)
        p->activity[h] = p->activity[h] * sr_decay_factor(dt_ms, (double)cfg->half_life_ms[h]) +
                         (weight > 0 ? weight : 0);
    update_categories(p, sr_decay_factor(dt_ms, (double)cfg->category_half_life_ms),
                      category, weight);

    if ((unsigned)type < SR_EVENT__COUNT && p->counts[type] < UINT16_MAX)
        p->counts[type]++;
    if (type == SR_EVENT_PURCHASE && has_price && price > 0)
        p->spend += (float)price;
    if (item != SR_PROFILE_NONE) {
        if (type != SR_EVENT_REMOVE_FROM_CART)
            push_recent(p, item, seconds(ts_ms));
        if (type == SR_EVENT_PURCHASE)
            push_purchased(p, item);
    }
    return new_session;
}

float sr_profile_activity(const sr_profile_t *p, const sr_profile_config_t *cfg,
                          int h, int64_t now_ms) {
    return p->activity[h] * sr_decay_factor(now_ms - p->last_seen_ms, (double)cfg->half_life_ms[h]);
}

size_t sr_profile_recent(const sr_profile_t *p, uint32_t *items_out,
                         uint32_t *ts_s_out, size_t max) {
    size_t n = 0;
    for (int k = 0; k < p->recent_len && n < max; k++) {
        int slot = (p->recent_head - k + SR_PROFILE_RECENT_MAX) % SR_PROFILE_RECENT_MAX;
        uint32_t item = p->recent_item[slot];
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            if (items_out[j] == item) {
                dup = true;
                break;
            }
        if (dup)
            continue;
        items_out[n] = item;
        if (ts_s_out)
            ts_s_out[n] = p->recent_ts_s[slot];
        n++;
    }
    return n;
}

/* Keeps a ring's entries whose item is not gone, oldest first in slots
 * [0, m) with head m - 1: the partly-filled layout the scans rely on. */
static bool drop_from_ring(uint32_t *items, uint32_t *ts_s, uint8_t *head, uint8_t *len,
                           int cap, const uint8_t *gone, size_t n_items) {
    bool any = false;
    for (int k = 0; k < *len && !any; k++) {
        uint32_t it = items[(*head - k + cap) % cap];
        any = it < n_items && gone[it];
    }
    if (!any)
        return false;
    uint32_t keep_items[256], keep_ts[256];
    int m = 0;
    for (int k = *len - 1; k >= 0; k--) { /* oldest first */
        int slot = (*head - k + cap) % cap;
        if (items[slot] < n_items && gone[items[slot]])
            continue;
        keep_items[m] = items[slot];
        keep_ts[m] = ts_s ? ts_s[slot] : 0;
        m++;
    }
    for (int k = 0; k < cap; k++) {
        items[k] = k < m ? keep_items[k] : 0;
        if (ts_s)
            ts_s[k] = k < m ? keep_ts[k] : 0;
    }
    *len = (uint8_t)m;
    *head = (uint8_t)((m + cap - 1) % cap);
    return true;
}

bool sr_profile_drop_items(sr_profile_t *p, const uint8_t *gone, size_t n_items) {
    bool recent = drop_from_ring(p->recent_item, p->recent_ts_s, &p->recent_head,
                                 &p->recent_len, SR_PROFILE_RECENT_MAX, gone, n_items);
    bool purchased = drop_from_ring(p->purchased, NULL, &p->purchased_head, &p->purchased_len,
                                    SR_PROFILE_PURCHASED_MAX, gone, n_items);
    return recent || purchased;
}

bool sr_profile_seen_recently(const sr_profile_t *p, uint32_t item) {
    for (int k = 0; k < p->recent_len; k++)
        if (p->recent_item[k] == item)
            return true;
    return false;
}

bool sr_profile_purchased(const sr_profile_t *p, uint32_t item) {
    for (int k = 0; k < p->purchased_len; k++)
        if (p->purchased[k] == item)
            return true;
    return false;
}

/* ---- save and load ------------------------------------------------------ */

void sr_profile_save(const sr_profile_t *p, sr_writer_t *w) {
    sr_writer_i64(w, p->last_seen_ms);
    sr_writer_u32(w, p->first_seen_s);
    sr_writer_u32(w, p->sessions);
    sr_writer_u32(w, p->events);
    sr_writer_f32(w, p->session_seconds);
    sr_writer_f32(w, p->spend);
    sr_writer_f32s(w, p->activity, SR_PROFILE_HALF_LIVES);
    sr_writer_f32s(w, p->category_score, SR_PROFILE_TOP_CATEGORIES);
    sr_writer_u32s(w, p->category, SR_PROFILE_TOP_CATEGORIES);
    for (int t = 0; t < SR_EVENT__COUNT; t++) sr_writer_u16(w, p->counts[t]);
    sr_writer_u8(w, p->recent_head);
    sr_writer_u8(w, p->recent_len);
    sr_writer_u8(w, p->purchased_head);
    sr_writer_u8(w, p->purchased_len);
    sr_writer_u32s(w, p->recent_item, SR_PROFILE_RECENT_MAX);
    sr_writer_u32s(w, p->recent_ts_s, SR_PROFILE_RECENT_MAX);
    sr_writer_u32s(w, p->purchased, SR_PROFILE_PURCHASED_MAX);
}

sr_err_t sr_profile_load(sr_profile_t *p, sr_reader_t *r, uint32_t n_items,
                         uint32_t n_categories, const char **why) {
    sr_profile_init(p);
    p->last_seen_ms = sr_reader_i64(r);
    p->first_seen_s = sr_reader_u32(r);
    p->sessions = sr_reader_u32(r);
    p->events = sr_reader_u32(r);
    p->session_seconds = sr_reader_f32(r);
    p->spend = sr_reader_f32(r);
    sr_reader_f32s(r, p->activity, SR_PROFILE_HALF_LIVES);
    sr_reader_f32s(r, p->category_score, SR_PROFILE_TOP_CATEGORIES);
    sr_reader_u32s(r, p->category, SR_PROFILE_TOP_CATEGORIES);
    for (int t = 0; t < SR_EVENT__COUNT; t++) p->counts[t] = sr_reader_u16(r);
    p->recent_head = sr_reader_u8(r);
    p->recent_len = sr_reader_u8(r);
    p->purchased_head = sr_reader_u8(r);
    p->purchased_len = sr_reader_u8(r);
    sr_reader_u32s(r, p->recent_item, SR_PROFILE_RECENT_MAX);
    sr_reader_u32s(r, p->recent_ts_s, SR_PROFILE_RECENT_MAX);
    sr_reader_u32s(r, p->purchased, SR_PROFILE_PURCHASED_MAX);
    if (!sr_reader_ok(r))
        return r->err;
    *why = NULL;
    if (p->recent_head >= SR_PROFILE_RECENT_MAX || p->recent_len > SR_PROFILE_RECENT_MAX ||
        p->purchased_head >= SR_PROFILE_PURCHASED_MAX ||
        p->purchased_len > SR_PROFILE_PURCHASED_MAX)
        *why = "ring head or length out of range";
    for (int k = 0; k < p->recent_len && !*why; k++)
        if (p->recent_item[k] >= n_items)
            *why = "recent item id out of range";
    for (int k = 0; k < p->purchased_len && !*why; k++)
        if (p->purchased[k] >= n_items)
            *why = "purchased item id out of range";
    for (int c = 0; c < SR_PROFILE_TOP_CATEGORIES && !*why; c++)
        if (p->category[c] != SR_PROFILE_NONE && p->category[c] >= n_categories)
            *why = "category id out of range";
    return *why ? SR_ERR_CORRUPT : SR_OK;
}
