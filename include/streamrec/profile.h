/* streamrec user profile: what the model remembers about one user.
 *
 * A profile is a fixed-size value (no pointers), so the engine keeps all of
 * them in one contiguous array indexed by dense user id and a checkpoint can
 * write them as they are. Everything is updated in O(1) per event, on event
 * time: decayed rates are stored "as of last_seen_ms" and decayed on read.
 *
 * Holds: first/last seen, counts per event type, decayed activity at three
 * half-lives, sessions (count and total length, 30-min inactivity gap by
 * default), spend, the top categories (decayed), the last items (a ring with
 * their times) and a purchased-item filter (the last purchases). */
#ifndef STREAMREC_PROFILE_H
#define STREAMREC_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/event.h"
#include "streamrec/serial.h"

#define SR_PROFILE_RECENT_MAX 10   /* ring of recent items (seeds and partners) */
#define SR_PROFILE_PURCHASED_MAX 4 /* purchased-item filter */
#define SR_PROFILE_HALF_LIVES 3
#define SR_PROFILE_TOP_CATEGORIES 2
#define SR_PROFILE_NONE UINT32_MAX

typedef struct sr_profile_config {
    int64_t session_gap_ms;                           /* default 30 min */
    int64_t half_life_ms[SR_PROFILE_HALF_LIVES];      /* default 1 d, 7 d, 30 d */
    int64_t category_half_life_ms;                    /* default 7 d */
} sr_profile_config_t;

/* Sized for the per-user memory budget (<= 400 bytes a user with the MF row
 * and churn slot): times that need no milliseconds are seconds, and the
 * rings are as short as eval allowed without losing recall. */
typedef struct sr_profile {
    int64_t last_seen_ms;
    uint32_t first_seen_s;
    uint32_t sessions;
    uint32_t events;            /* all events applied; a per-user sequence number */
    float session_seconds;      /* total length of all sessions, current included */
    float spend;                /* sum of purchase prices */
    float activity[SR_PROFILE_HALF_LIVES]; /* weighted events, decayed, as of last_seen */
    float category_score[SR_PROFILE_TOP_CATEGORIES]; /* decayed, as of last_seen */
    uint32_t category[SR_PROFILE_TOP_CATEGORIES];
    uint16_t counts[SR_EVENT__COUNT]; /* saturating */
    uint8_t recent_head;        /* index of the newest entry */
    uint8_t recent_len;
    uint8_t purchased_head;
    uint8_t purchased_len;
    uint32_t recent_item[SR_PROFILE_RECENT_MAX];
    uint32_t recent_ts_s[SR_PROFILE_RECENT_MAX];
    uint32_t purchased[SR_PROFILE_PURCHASED_MAX];
} sr_profile_t;

void sr_profile_config_defaults(sr_profile_config_t *cfg);

/* A profile with no events yet (all counters zero, rings empty). */
void sr_profile_init(sr_profile_t *p);

/* Applies one event. item/category may be SR_PROFILE_NONE. Returns true if
 * the event opened a new session (first event, or after the inactivity gap).
 * Late events (ts before last_seen) update counts but never move time back. */
bool sr_profile_update(sr_profile_t *p, const sr_profile_config_t *cfg,
                       sr_event_type_t type, float weight, uint32_t item,
                       uint32_t category, double price, bool has_price, int64_t ts_ms);

/* Activity at half-life index h, decayed to now_ms. */
float sr_profile_activity(const sr_profile_t *p, const sr_profile_config_t *cfg,
                          int h, int64_t now_ms);

/* Recent items, newest first, without duplicates; *ts_s_out may be NULL.
 * Returns how many were written (<= max). */
size_t sr_profile_recent(const sr_profile_t *p, uint32_t *items_out,
                         uint32_t *ts_s_out, size_t max);

/* Removes the items with gone[item] != 0 (item < n_items) from the recent
 * and purchased rings, keeping the others in order (an item eviction).
 * True if any was removed. */
bool sr_profile_drop_items(sr_profile_t *p, const uint8_t *gone, size_t n_items);

bool sr_profile_seen_recently(const sr_profile_t *p, uint32_t item);
bool sr_profile_purchased(const sr_profile_t *p, uint32_t item);

/* One profile, field by field (no padding bytes reach the stream). Load
 * checks what could index out of bounds later -- ring heads and lengths, the
 * item ids in use (< n_items) and the categories (< n_categories or
 * SR_PROFILE_NONE) -- and returns SR_ERR_CORRUPT with *why set if one is off,
 * or the reader's error. Save does not allocate. */
void sr_profile_save(const sr_profile_t *p, sr_writer_t *w);
sr_err_t sr_profile_load(sr_profile_t *p, sr_reader_t *r, uint32_t n_items,
                         uint32_t n_categories, const char **why);

#endif
