#include "input_watermark.h"

#include <stdlib.h>
#include <string.h>

typedef struct part {
    char *topic;
    int32_t partition;
    int64_t newest_ms; /* newest event time applied from it, INT64_MIN: none */
    int64_t quiet_ms;  /* polling time since its last record (or its assignment) */
    bool delivered;    /* a record since the last poll */
    bool holding;
} part_t;

struct sr_input_watermark {
    int64_t idle_ms;
    part_t *parts;
    size_t n, cap;
    size_t last; /* the part found last: records come in runs of one partition */
    int64_t hold_ms;
    int64_t polled_ms; /* the last poll, INT64_MIN: none yet */
};

sr_input_watermark_t *sr_input_watermark_new(int64_t idle_ms) {
    sr_input_watermark_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->idle_ms = idle_ms;
    w->hold_ms = INT64_MAX;
    w->polled_ms = INT64_MIN;
    return w;
}

void sr_input_watermark_clear(sr_input_watermark_t *w) {
    for (size_t k = 0; k < w->n; k++) free(w->parts[k].topic);
    w->n = 0;
    w->hold_ms = INT64_MAX;
}

void sr_input_watermark_destroy(sr_input_watermark_t *w) {
    if (!w)
        return;
    sr_input_watermark_clear(w);
    free(w->parts);
    free(w);
}

static part_t *find(sr_input_watermark_t *w, const char *topic, int32_t partition) {
    if (w->last < w->n && w->parts[w->last].partition == partition &&
        strcmp(w->parts[w->last].topic, topic) == 0)
        return &w->parts[w->last];
    for (size_t k = 0; k < w->n; k++)
        if (w->parts[k].partition == partition && strcmp(w->parts[k].topic, topic) == 0) {
            w->last = k;
            return &w->parts[k];
        }
    return NULL;
}

static void recompute(sr_input_watermark_t *w) {
    int64_t hold = INT64_MAX;
    for (size_t k = 0; k < w->n; k++)
        if (w->parts[k].holding && w->parts[k].newest_ms < hold)
            hold = w->parts[k].newest_ms;
    w->hold_ms = hold;
}

sr_err_t sr_input_watermark_assign(sr_input_watermark_t *w, const char *topic, int32_t partition) {
    part_t *p = find(w, topic, partition);
    if (!p) {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 16;
            part_t *parts = realloc(w->parts, cap * sizeof *parts);
            if (!parts)
                return SR_ERR_NOMEM;
            w->parts = parts;
            w->cap = cap;
        }
        char *copy = strdup(topic);
        if (!copy)
            return SR_ERR_NOMEM;
        p = &w->parts[w->n++];
        p->topic = copy;
        p->partition = partition;
    }
    p->newest_ms = INT64_MIN;
    p->quiet_ms = 0;
    p->delivered = false;
    p->holding = true;
    recompute(w);
    return SR_OK;
}

void sr_input_watermark_revoke(sr_input_watermark_t *w, const char *topic, int32_t partition) {
    part_t *p = find(w, topic, partition);
    if (!p)
        return;
    free(p->topic);
    *p = w->parts[--w->n];
    recompute(w);
}

void sr_input_watermark_record(sr_input_watermark_t *w, const char *topic, int32_t partition,
                               int64_t ts_ms) {
    part_t *p = find(w, topic, partition);
    if (!p || ts_ms == INT64_MIN)
        return;
    p->delivered = true;
    /* The hold moves only if this partition starts holding again or was
     * the one holding it: the common record changes nothing but its own
     * partition's fields. */
    bool moves = !p->holding || (p->newest_ms == w->hold_ms && ts_ms > p->newest_ms);
    p->holding = true;
    if (ts_ms > p->newest_ms)
        p->newest_ms = ts_ms;
    if (moves)
        recompute(w);
}

void sr_input_watermark_polled(sr_input_watermark_t *w, int64_t now_ms, bool paused) {
    int64_t step = w->polled_ms == INT64_MIN || paused ? 0 : now_ms - w->polled_ms;
    if (step > SR_INPUT_WATERMARK_POLL_STEP_MS)
        step = SR_INPUT_WATERMARK_POLL_STEP_MS;
    w->polled_ms = now_ms;
    for (size_t k = 0; k < w->n; k++) {
        part_t *p = &w->parts[k];
        p->quiet_ms = p->delivered ? 0 : p->quiet_ms + step;
        p->delivered = false;
        p->holding = p->quiet_ms < w->idle_ms;
    }
    recompute(w);
}

int64_t sr_input_watermark_hold(const sr_input_watermark_t *w) { return w->hold_ms; }
