#include "streamrec/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/float_text.h"
#include "streamrec/rng.h"

#define DAY_MS (24 * 3600 * 1000.0)
#define MAX_TASTES 3
/* the longest id: a prefix, two 20-digit numbers, a dash and the NUL */
#define ID_MAX 44

/* Session shape, chosen to resemble e-commerce logs: ~6 views a session,
 * tens of seconds apart; carts on ~12% of views, half of carts bought. */
#define MEAN_SESSION_EVENTS 6.0
#define MEAN_GAP_S 40.0
#define P_FOLLOW_CHAIN 0.55
#define P_SAME_CATEGORY 0.35
#define P_CART 0.12
#define P_BUY_CART 0.5
#define P_REMOVE_CART 0.1

typedef struct user {
    int64_t next_ms;       /* time of the user's next event */
    int64_t churn_ms;      /* INT64_MAX for loyal users */
    int64_t fade_ms;       /* fading starts at churn_ms - fade_ms */
    uint32_t taste[MAX_TASTES];
    uint32_t last_item;
    uint32_t cart_item;    /* UINT32_MAX: empty cart */
    uint32_t session;      /* sessions so far */
    uint16_t left;         /* events left in the current session */
    uint8_t n_tastes;
    float rate_per_day;
} user_t;

/* A user's next event time is kept in its heap entry too, so sifting
 * compares entries without reaching into the user table, whose lines
 * are spread over megabytes. */
typedef struct heap_entry {
    int64_t next_ms;
    uint32_t user;
} heap_entry_t;

struct sr_synth {
    sr_synth_config_t cfg;
    user_t *users;
    heap_entry_t *heap; /* min-heap on (next_ms, user) */
    size_t heap_n;
    int64_t end_ms;
    uint64_t rng, events;
    uint32_t items_per_category;
    char event_id[ID_MAX], user_id[ID_MAX], item_id[ID_MAX], session_id[ID_MAX],
        category_id[ID_MAX];
};

void sr_synth_config_defaults(sr_synth_config_t *cfg) {
    cfg->seed = 1;
    cfg->users = 10000;
    cfg->items = 5000;
    cfg->categories = 50;
    cfg->days = 120;
    cfg->sessions_per_day = 0.5;
    cfg->churn_fraction = 0.3;
    cfg->start_ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
}

static double uniform(uint64_t *rng) { return (double)(sr_rng_next(rng) >> 11) / 9007199254740992.0; }

static double exponential(uint64_t *rng, double mean) { return -mean * log(1.0 - uniform(rng)); }

/* Zipf-like rank in [0, n): popular items first, a long tail after. */
static uint32_t skewed(uint64_t *rng, uint32_t n) {
    double u = uniform(rng);
    uint32_t r = (uint32_t)(n * u * u * u);
    return r < n ? r : n - 1;
}

static bool heap_less(heap_entry_t a, heap_entry_t b) {
    return a.next_ms < b.next_ms || (a.next_ms == b.next_ms && a.user < b.user);
}

static void heap_down(sr_synth_t *s, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_n && heap_less(s->heap[l], s->heap[m])) m = l;
        if (r < s->heap_n && heap_less(s->heap[r], s->heap[m])) m = r;
        if (m == i)
            return;
        heap_entry_t t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
}

/* Session rate at time t: constant for loyal users; a churner's fades
 * linearly to zero over fade_ms before churn_ms. */
static double rate_at(const user_t *u, int64_t t) {
    if (t >= u->churn_ms)
        return 0;
    int64_t fade_start = u->churn_ms - u->fade_ms;
    if (t <= fade_start)
        return u->rate_per_day;
    return u->rate_per_day * (double)(u->churn_ms - t) / (double)u->fade_ms;
}

/* Next session start after t by thinning a Poisson process. */
static int64_t next_session(sr_synth_t *s, const user_t *u, int64_t t) {
    double max_rate = u->rate_per_day;
    for (int tries = 0; tries < 1000; tries++) {
        t += (int64_t)(exponential(&s->rng, 1.0 / max_rate) * DAY_MS) + 1;
        if (t >= s->end_ms || t >= u->churn_ms)
            return INT64_MAX;
        if (uniform(&s->rng) * max_rate <= rate_at(u, t))
            return t;
    }
    return INT64_MAX;
}

sr_synth_t *sr_synth_new(const sr_synth_config_t *cfg, char *errstr, size_t errstr_size) {
    if (cfg->users < 1 || cfg->items < 1 || cfg->categories < 1 || cfg->categories > cfg->items ||
        !(cfg->days > 0) || !(cfg->sessions_per_day > 0) || cfg->churn_fraction < 0 ||
        cfg->churn_fraction > 1) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "synth: users, items, categories (<= items), days and session rate must be > 0, "
                  "churn fraction in [0, 1]");
        return NULL;
    }
    sr_synth_t *s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->cfg = *cfg;
    s->rng = cfg->seed * 0x9e3779b97f4a7c15ull + 1;
    s->end_ms = cfg->start_ms + (int64_t)(cfg->days * DAY_MS);
    s->items_per_category = cfg->items / cfg->categories;
    s->users = calloc(cfg->users, sizeof *s->users);
    s->heap = malloc((size_t)cfg->users * sizeof *s->heap);
    if (!s->users || !s->heap)
        goto nomem;
    for (uint32_t i = 0; i < cfg->users; i++) {
        user_t *u = &s->users[i];
        u->n_tastes = (uint8_t)(1 + sr_rng_below(&s->rng, MAX_TASTES));
        for (int t = 0; t < u->n_tastes; t++) u->taste[t] = skewed(&s->rng, cfg->categories);
        /* log-normal activity: a few heavy users, many light ones */
        u->rate_per_day = (float)(cfg->sessions_per_day * exp(0.8 * (uniform(&s->rng) * 2 - 1)));
        u->cart_item = UINT32_MAX;
        u->last_item = UINT32_MAX;
        int64_t arrive = cfg->start_ms + (int64_t)(uniform(&s->rng) * 0.5 * cfg->days * DAY_MS);
        u->churn_ms = INT64_MAX;
        if (uniform(&s->rng) < cfg->churn_fraction) {
            int64_t rest = s->end_ms - arrive;
            u->churn_ms = arrive + (int64_t)((0.2 + 0.7 * uniform(&s->rng)) * (double)rest);
            u->fade_ms = (int64_t)((u->churn_ms - arrive) * 0.6) + 1;
        }
        u->next_ms = next_session(s, u, arrive);
        if (u->next_ms != INT64_MAX)
            s->heap[s->heap_n++] = (heap_entry_t){u->next_ms, i};
    }
    for (size_t i = s->heap_n / 2 + 1; i-- > 0;) heap_down(s, i);
    return s;
nomem:
    sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory creating the generator");
    sr_synth_destroy(s);
    return NULL;
}

void sr_synth_destroy(sr_synth_t *s) {
    if (!s)
        return;
    free(s->users);
    free(s->heap);
    free(s);
}

static uint32_t category_of(const sr_synth_t *s, uint32_t item) {
    uint32_t c = item / s->items_per_category;
    return c < s->cfg.categories ? c : s->cfg.categories - 1;
}

static uint32_t item_in_category(sr_synth_t *s, uint32_t c) {
    uint32_t first = c * s->items_per_category;
    uint32_t n = c == s->cfg.categories - 1 ? s->cfg.items - first : s->items_per_category;
    return first + skewed(&s->rng, n);
}

/* The chain successor of an item: the next item of its category, wrapping. */
static uint32_t successor(const sr_synth_t *s, uint32_t item) {
    uint32_t c = category_of(s, item), first = c * s->items_per_category;
    uint32_t n = c == s->cfg.categories - 1 ? s->cfg.items - first : s->items_per_category;
    return first + (item - first + 1) % n;
}

static uint32_t pick_item(sr_synth_t *s, user_t *u) {
    double r = uniform(&s->rng);
    if (u->last_item != UINT32_MAX && r < P_FOLLOW_CHAIN)
        return successor(s, u->last_item);
    if (u->last_item != UINT32_MAX && r < P_FOLLOW_CHAIN + P_SAME_CATEGORY)
        return item_in_category(s, category_of(s, u->last_item));
    return item_in_category(s, u->taste[sr_rng_below(&s->rng, u->n_tastes)]);
}

/* "<prefix><a>" or, with b >= 0, "<prefix><a>-<b>" into out (ID_MAX
 * bytes). Written by hand: five snprintf calls an event were a quarter of
 * the generator's time at hundreds of thousands of events a second. */
static sr_str_t id_text(char *out, char prefix, uint64_t a, int64_t b) {
    char *p = out;
    *p++ = prefix;
    p += sr_u64_text(p, a);
    if (b >= 0) {
        *p++ = '-';
        p += sr_u64_text(p, (uint64_t)b);
    }
    *p = '\0';
    return (sr_str_t){out, (size_t)(p - out)};
}

bool sr_synth_next(sr_synth_t *s, sr_event_t *ev) {
    if (s->heap_n == 0)
        return false;
    uint32_t ui = s->heap[0].user;
    user_t *u = &s->users[ui];
    int64_t ts = u->next_ms;
    if (ts >= s->end_ms)
        return false;
    bool session_start = u->left == 0;
    if (session_start) {
        u->session++;
        u->left = (uint16_t)(1 + exponential(&s->rng, MEAN_SESSION_EVENTS - 1));
        u->last_item = UINT32_MAX;
    }
    memset(ev, 0, sizeof *ev);
    uint32_t item;
    sr_event_type_t type = SR_EVENT_VIEW;
    if (u->left == 1 && u->cart_item != UINT32_MAX) {
        /* the session's last event settles the cart */
        item = u->cart_item;
        double r = uniform(&s->rng);
        type = r < P_BUY_CART ? SR_EVENT_PURCHASE
             : r < P_BUY_CART + P_REMOVE_CART ? SR_EVENT_REMOVE_FROM_CART : SR_EVENT_VIEW;
        u->cart_item = UINT32_MAX;
    } else {
        item = pick_item(s, u);
        if (uniform(&s->rng) < P_CART) {
            type = SR_EVENT_ADD_TO_CART;
            u->cart_item = item;
        }
    }
    u->last_item = item;
    u->left--;

    ev->event_id = id_text(s->event_id, 'e', s->events, -1);
    ev->user_id = id_text(s->user_id, 'u', ui, -1);
    ev->item_id = id_text(s->item_id, 'i', item, -1);
    ev->session_id = id_text(s->session_id, 'u', ui, u->session);
    ev->category_id = id_text(s->category_id, 'c', category_of(s, item), -1);
    ev->type = type;
    ev->ts_ms = ts;
    if (type == SR_EVENT_PURCHASE) {
        ev->price = 5.0 + (double)(item % 200);
        ev->has_price = true;
    }
    s->events++;

    /* schedule the user's next event */
    if (u->left > 0)
        u->next_ms = ts + 1000 + (int64_t)(exponential(&s->rng, MEAN_GAP_S) * 1000);
    else
        u->next_ms = next_session(s, u, ts);
    if (u->next_ms == INT64_MAX || u->next_ms >= s->end_ms)
        s->heap[0] = s->heap[--s->heap_n];
    else
        s->heap[0].next_ms = u->next_ms;
    if (s->heap_n > 0)
        heap_down(s, 0);
    return true;
}

bool sr_synth_is_churner(const sr_synth_t *s, uint32_t u, int64_t *churn_ms) {
    if (u >= s->cfg.users)
        return false;
    if (churn_ms)
        *churn_ms = s->users[u].churn_ms;
    return s->users[u].churn_ms != INT64_MAX;
}

uint64_t sr_synth_events(const sr_synth_t *s) { return s->events; }
