#include "sim_throttle.h"

#include <stdlib.h>
#include <string.h>

struct sr_sim_throttle {
    int64_t interval_ms;
    int64_t *next_ms; /* per item: no write before this */
    uint8_t *pending; /* per item: in the queue with a change not yet written */
    size_t cap;
    uint32_t *queue;  /* deferred items, oldest first, from head */
    size_t head, len, queue_cap;
    size_t n_pending;
    int64_t gate_now_ms; /* sr_sim_throttle_gate's clock */
};

sr_sim_throttle_t *sr_sim_throttle_new(int64_t interval_ms) {
    sr_sim_throttle_t *t = calloc(1, sizeof *t);
    if (t)
        t->interval_ms = interval_ms > 0 ? interval_ms : 0;
    return t;
}

void sr_sim_throttle_destroy(sr_sim_throttle_t *t) {
    if (!t)
        return;
    free(t->next_ms);
    free(t->pending);
    free(t->queue);
    free(t);
}

static sr_err_t ensure_item(sr_sim_throttle_t *t, uint32_t item) {
    if (item < t->cap)
        return SR_OK;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap <= item) cap *= 2;
    int64_t *next = realloc(t->next_ms, cap * sizeof *next);
    if (!next)
        return SR_ERR_NOMEM;
    t->next_ms = next;
    uint8_t *pending = realloc(t->pending, cap);
    if (!pending)
        return SR_ERR_NOMEM;
    t->pending = pending;
    for (size_t k = t->cap; k < cap; k++) {
        next[k] = INT64_MIN;
        pending[k] = 0;
    }
    t->cap = cap;
    return SR_OK;
}

static sr_err_t push(sr_sim_throttle_t *t, uint32_t item) {
    if (t->head > 0 && t->head >= t->len / 2) { /* reclaim the consumed front */
        memmove(t->queue, t->queue + t->head, (t->len - t->head) * sizeof *t->queue);
        t->len -= t->head;
        t->head = 0;
    }
    if (t->len == t->queue_cap) {
        size_t cap = t->queue_cap ? t->queue_cap * 2 : 1024;
        uint32_t *q = realloc(t->queue, cap * sizeof *q);
        if (!q)
            return SR_ERR_NOMEM;
        t->queue = q;
        t->queue_cap = cap;
    }
    t->queue[t->len++] = item;
    return SR_OK;
}

sr_err_t sr_sim_throttle_offer(sr_sim_throttle_t *t, uint32_t item, int64_t now_ms,
                               bool *write_now) {
    sr_err_t err = ensure_item(t, item);
    if (err != SR_OK)
        return err;
    if (t->next_ms[item] <= now_ms) {
        *write_now = true;
        t->next_ms[item] = now_ms + t->interval_ms;
        if (t->pending[item]) { /* its queue entry is stale now */
            t->pending[item] = 0;
            t->n_pending--;
        }
        return SR_OK;
    }
    *write_now = false;
    if (t->pending[item])
        return SR_OK;
    if ((err = push(t, item)) != SR_OK)
        return err;
    t->pending[item] = 1;
    t->n_pending++;
    return SR_OK;
}

/* The oldest deferred item still pending, stale queue entries dropped;
 * false if none. */
static bool front_pending(sr_sim_throttle_t *t, uint32_t *front) {
    while (t->head < t->len) {
        *front = t->queue[t->head];
        if (t->pending[*front])
            return true;
        t->head++; /* let through directly since it was deferred */
    }
    t->head = t->len = 0;
    return false;
}

bool sr_sim_throttle_any_due(sr_sim_throttle_t *t, int64_t now_ms) {
    uint32_t front;
    return front_pending(t, &front) && t->next_ms[front] <= now_ms;
}

static bool next_deferred(sr_sim_throttle_t *t, int64_t now_ms, bool due_only, uint32_t *item) {
    uint32_t front;
    if (!front_pending(t, &front) || (due_only && t->next_ms[front] > now_ms))
        return false;
    t->head++;
    t->pending[front] = 0;
    t->n_pending--;
    t->next_ms[front] = now_ms + t->interval_ms;
    *item = front;
    return true;
}

bool sr_sim_throttle_next_due(sr_sim_throttle_t *t, int64_t now_ms, uint32_t *item) {
    return next_deferred(t, now_ms, true, item);
}

bool sr_sim_throttle_next_held(sr_sim_throttle_t *t, int64_t now_ms, uint32_t *item) {
    return next_deferred(t, now_ms, false, item);
}

void sr_sim_throttle_set_now(sr_sim_throttle_t *t, int64_t now_ms) { t->gate_now_ms = now_ms; }

int sr_sim_throttle_gate(void *throttle, uint32_t item) {
    sr_sim_throttle_t *t = throttle;
    bool write_now;
    if (sr_sim_throttle_offer(t, item, t->gate_now_ms, &write_now) != SR_OK)
        return -1;
    return write_now;
}

void sr_sim_throttle_arm(sr_sim_throttle_t *t, sr_engine_t *e, int64_t now_ms) {
    sr_sim_throttle_set_now(t, now_ms);
    sr_engine_set_sim_gate(e, sr_sim_throttle_gate, t);
}

size_t sr_sim_throttle_pending(const sr_sim_throttle_t *t) { return t->n_pending; }
