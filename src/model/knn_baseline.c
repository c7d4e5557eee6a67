#include "streamrec/knn_baseline.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/intern.h"
#include "streamrec/u64map.h"

typedef struct partner {
    uint32_t item;
    uint32_t count;
} partner_t;

typedef struct adjacency {
    partner_t *p;
    uint32_t n, cap;
} adjacency_t;

typedef struct history {
    uint32_t items[SR_KNN_MAX_HISTORY]; /* newest first */
    uint8_t n;
} history_t;

struct sr_knn {
    int history_len, k;
    sr_intern_t *users, *items;
    history_t *histories;
    size_t histories_cap;
    adjacency_t *adj;
    uint32_t *item_count;
    size_t items_cap;
    sr_u64map_t *pair_index; /* (a << 32 | b) -> index in adj[a] */
    /* scoring scratch */
    float *score;
    uint32_t *touched;
    size_t n_touched;
    uint32_t top[256];
};

sr_knn_t *sr_knn_new(int history, int k) {
    if (history < 1 || history > SR_KNN_MAX_HISTORY || k < 1 || k > 256)
        return NULL;
    sr_knn_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->history_len = history;
    b->k = k;
    b->users = sr_intern_new(1024);
    b->items = sr_intern_new(1024);
    b->pair_index = sr_u64map_new(1 << 16);
    if (!b->users || !b->items || !b->pair_index) {
        sr_knn_destroy(b);
        return NULL;
    }
    return b;
}

void sr_knn_destroy(sr_knn_t *b) {
    if (!b)
        return;
    for (size_t i = 0; i < sr_intern_count(b->items) && b->adj; i++) free(b->adj[i].p);
    sr_intern_destroy(b->users);
    sr_intern_destroy(b->items);
    sr_u64map_destroy(b->pair_index);
    free(b->histories);
    free(b->adj);
    free(b->item_count);
    free(b->score);
    free(b->touched);
    free(b);
}

static sr_err_t ensure_item(sr_knn_t *b, uint32_t i) {
    if (i < b->items_cap)
        return SR_OK;
    size_t cap = b->items_cap ? b->items_cap * 2 : 1024;
    adjacency_t *adj = realloc(b->adj, cap * sizeof *adj);
    if (!adj)
        return SR_ERR_NOMEM;
    b->adj = adj;
    memset(adj + b->items_cap, 0, (cap - b->items_cap) * sizeof *adj);
    uint32_t *cnt = realloc(b->item_count, cap * sizeof *cnt);
    if (!cnt)
        return SR_ERR_NOMEM;
    b->item_count = cnt;
    memset(cnt + b->items_cap, 0, (cap - b->items_cap) * sizeof *cnt);
    float *score = realloc(b->score, cap * sizeof *score);
    if (!score)
        return SR_ERR_NOMEM;
    b->score = score;
    memset(score + b->items_cap, 0, (cap - b->items_cap) * sizeof *score);
    uint32_t *touched = realloc(b->touched, cap * sizeof *touched);
    if (!touched)
        return SR_ERR_NOMEM;
    b->touched = touched;
    b->items_cap = cap;
    return SR_OK;
}

static sr_err_t count_pair(sr_knn_t *b, uint32_t a, uint32_t c) {
    uint64_t key = (uint64_t)a << 32 | c;
    uint32_t idx;
    if (sr_u64map_get(b->pair_index, key, &idx)) {
        b->adj[a].p[idx].count++;
        return SR_OK;
    }
    adjacency_t *adj = &b->adj[a];
    if (adj->n == adj->cap) {
        uint32_t cap = adj->cap ? adj->cap * 2 : 8;
        partner_t *p = realloc(adj->p, cap * sizeof *p);
        if (!p)
            return SR_ERR_NOMEM;
        adj->p = p;
        adj->cap = cap;
    }
    adj->p[adj->n].item = c;
    adj->p[adj->n].count = 1;
    return sr_u64map_put(b->pair_index, key, adj->n++);
}

sr_err_t sr_knn_observe(sr_knn_t *b, sr_str_t user, sr_str_t item) {
    uint32_t u, x;
    bool added;
    sr_err_t err;
    /* Refuse bad ids before interning either: a user interned for an event
     * that then fails would be "known" with no history slot behind it. */
    if (!sr_intern_acceptable(user.ptr, user.len) || !sr_intern_acceptable(item.ptr, item.len))
        return SR_ERR_INVALID;
    if ((err = sr_intern_add(b->users, user.ptr, user.len, &u, &added)) != SR_OK ||
        (err = sr_intern_add(b->items, item.ptr, item.len, &x, NULL)) != SR_OK ||
        (err = ensure_item(b, x)) != SR_OK)
        return err;
    if (u >= b->histories_cap) {
        size_t cap = b->histories_cap ? b->histories_cap * 2 : 1024;
        history_t *h = realloc(b->histories, cap * sizeof *h);
        if (!h)
            return SR_ERR_NOMEM;
        b->histories = h;
        b->histories_cap = cap;
    }
    history_t *h = &b->histories[u];
    if (added)
        h->n = 0;
    b->item_count[x]++;
    int pos = -1;
    for (int r = 0; r < h->n; r++) {
        if (h->items[r] == x) {
            pos = r;
            continue;
        }
        if ((err = count_pair(b, x, h->items[r])) != SR_OK ||
            (err = count_pair(b, h->items[r], x)) != SR_OK)
            return err;
    }
    /* move x to the front of the history */
    int last = pos >= 0 ? pos : (h->n < b->history_len ? h->n++ : h->n - 1);
    memmove(h->items + 1, h->items, (size_t)last * sizeof *h->items);
    h->items[0] = x;
    return SR_OK;
}

size_t sr_knn_recommend(sr_knn_t *b, sr_str_t user, const uint32_t **items) {
    *items = b->top;
    uint32_t u = sr_intern_find(b->users, user.ptr, user.len);
    if (u == SR_INTERN_NONE)
        return 0;
    const history_t *h = &b->histories[u];
    b->n_touched = 0;
    for (int r = 0; r < h->n; r++) {
        uint32_t seed = h->items[r];
        const adjacency_t *adj = &b->adj[seed];
        double n_seed = b->item_count[seed];
        for (uint32_t e = 0; e < adj->n; e++) {
            uint32_t j = adj->p[e].item;
            if (b->score[j] == 0)
                b->touched[b->n_touched++] = j;
            b->score[j] += (float)(adj->p[e].count / sqrt(n_seed * b->item_count[j]));
        }
    }
    for (int r = 0; r < h->n; r++) b->score[h->items[r]] = -1; /* filter history */
    size_t n = 0;
    for (size_t t = 0; t < b->n_touched; t++) {
        uint32_t j = b->touched[t];
        float s = b->score[j];
        if (s <= 0)
            continue;
        /* insertion into the top-k list, ties by lower id */
        size_t pos = n < (size_t)b->k ? n : (size_t)b->k;
        while (pos > 0 && (b->score[b->top[pos - 1]] < s ||
                           (b->score[b->top[pos - 1]] == s && b->top[pos - 1] > j))) {
            if (pos < (size_t)b->k)
                b->top[pos] = b->top[pos - 1];
            pos--;
        }
        if (pos < (size_t)b->k) {
            b->top[pos] = j;
            if (n < (size_t)b->k)
                n++;
        }
    }
    /* the top list reads scores, so clear them only after selection */
    for (size_t t = 0; t < b->n_touched; t++) b->score[b->touched[t]] = 0;
    for (int r = 0; r < h->n; r++) b->score[h->items[r]] = 0;
    return n;
}

size_t sr_knn_users(const sr_knn_t *b) { return sr_intern_count(b->users); }
size_t sr_knn_items(const sr_knn_t *b) { return sr_intern_count(b->items); }

uint32_t sr_knn_item(const sr_knn_t *b, sr_str_t item) {
    return sr_intern_find(b->items, item.ptr, item.len);
}
