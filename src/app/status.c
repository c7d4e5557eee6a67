#include "status.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 500 ms apart over a 10 s window: 20 samples are in use at most. */
#define RATE_SAMPLES 32
#define RATE_SAMPLE_EVERY_MS 500

typedef struct rate_sample {
    int64_t mono_ms;
    uint64_t events;
} rate_sample_t;

struct sr_status {
    pthread_mutex_t lock;
    sr_status_alert_t alerts[SR_STATUS_ALERTS]; /* ring; next_alert is the oldest once full */
    size_t next_alert, n_alerts;
    sr_status_item_t trending[SR_STATUS_TRENDING];
    size_t n_trending;
    rate_sample_t samples[RATE_SAMPLES]; /* ring, oldest at first_sample */
    size_t first_sample, n_samples;
};

sr_status_t *sr_status_new(void) {
    sr_status_t *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void sr_status_destroy(sr_status_t *s) {
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void sr_status_add_alert(sr_status_t *s, const char *user_id, double probability,
                         const char *level, bool firing, int64_t ts_ms) {
    sr_status_alert_t a = {.probability = probability, .firing = firing, .ts_ms = ts_ms};
    snprintf(a.user_id, sizeof a.user_id, "%s", user_id);
    snprintf(a.level, sizeof a.level, "%s", level);
    pthread_mutex_lock(&s->lock);
    s->alerts[s->next_alert] = a;
    s->next_alert = (s->next_alert + 1) % SR_STATUS_ALERTS;
    if (s->n_alerts < SR_STATUS_ALERTS)
        s->n_alerts++;
    pthread_mutex_unlock(&s->lock);
}

void sr_status_set_trending(sr_status_t *s, const char *const *item_ids, const double *scores,
                            size_t n) {
    sr_status_item_t list[SR_STATUS_TRENDING];
    if (n > SR_STATUS_TRENDING)
        n = SR_STATUS_TRENDING;
    /* formatted outside the lock: the HTTP thread waits only for the copy */
    for (size_t i = 0; i < n; i++) {
        snprintf(list[i].item_id, sizeof list[i].item_id, "%s", item_ids[i]);
        list[i].score = scores[i];
    }
    pthread_mutex_lock(&s->lock);
    memcpy(s->trending, list, n * sizeof *list);
    s->n_trending = n;
    pthread_mutex_unlock(&s->lock);
}

size_t sr_status_read(sr_status_t *s, sr_status_alert_t alerts[SR_STATUS_ALERTS],
                      sr_status_item_t trending[SR_STATUS_TRENDING], size_t *n_trending) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_alerts;
    for (size_t k = 0; k < n; k++)
        alerts[k] = s->alerts[(s->next_alert + SR_STATUS_ALERTS - 1 - k) % SR_STATUS_ALERTS];
    memcpy(trending, s->trending, s->n_trending * sizeof *trending);
    *n_trending = s->n_trending;
    pthread_mutex_unlock(&s->lock);
    return n;
}

double sr_status_rate(sr_status_t *s, int64_t now_mono_ms, uint64_t events_total) {
    pthread_mutex_lock(&s->lock);
    /* forget samples older than the window, but keep one to measure against */
    while (s->n_samples > 1 &&
           now_mono_ms - s->samples[(s->first_sample + 1) % RATE_SAMPLES].mono_ms >=
               SR_STATUS_RATE_WINDOW_MS) {
        s->first_sample = (s->first_sample + 1) % RATE_SAMPLES;
        s->n_samples--;
    }
    double rate = 0;
    if (s->n_samples > 0) {
        const rate_sample_t *oldest = &s->samples[s->first_sample];
        int64_t dt_ms = now_mono_ms - oldest->mono_ms;
        if (dt_ms > 0 && events_total >= oldest->events)
            rate = (double)(events_total - oldest->events) * 1000.0 / (double)dt_ms;
    }
    const rate_sample_t *newest =
        s->n_samples ? &s->samples[(s->first_sample + s->n_samples - 1) % RATE_SAMPLES] : NULL;
    if (!newest || now_mono_ms - newest->mono_ms >= RATE_SAMPLE_EVERY_MS) {
        if (s->n_samples == RATE_SAMPLES) { /* only if polled faster than sampled */
            s->first_sample = (s->first_sample + 1) % RATE_SAMPLES;
            s->n_samples--;
        }
        s->samples[(s->first_sample + s->n_samples) % RATE_SAMPLES] =
            (rate_sample_t){now_mono_ms, events_total};
        s->n_samples++;
    }
    pthread_mutex_unlock(&s->lock);
    return rate;
}

/* Takes the reference of value; a failed set leaves obj as it was and
 * makes the document fail as a whole (checked once at the end). */
static bool put(json_t *obj, const char *key, json_t *value) {
    return value && json_object_set_new(obj, key, value) == 0;
}

/* NaN and infinities are not JSON; "unknown" figures go out as null. */
static json_t *number_or_null(double v, bool known) {
    return known ? json_real(v) : json_null();
}

/* Ids are whatever bytes the producer sent; JSON strings must be UTF-8.
 * Invalid input keeps its ASCII and shows '?' for the rest. */
static json_t *id_string(const char *id) {
    json_t *v = json_string(id);
    if (v)
        return v;
    char safe[SR_STATUS_ID_MAX * 2];
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)id; *c && n + 1 < sizeof safe; c++)
        safe[n++] = *c < 0x80 ? (char)*c : '?';
    safe[n] = '\0';
    return json_string(safe);
}

static char *dump(json_t *doc, size_t *len) {
    if (!doc)
        return NULL;
    /* JSON_ENSURE_ASCII: ids may hold any byte sequence the producer sent;
     * escaped, the document is plain ASCII whatever the page's charset. */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9));
    json_decref(doc);
    if (text && len)
        *len = strlen(text);
    return text;
}

char *sr_status_json(sr_status_t *s, const sr_status_figures_t *f, size_t *len) {
    sr_status_alert_t alerts[SR_STATUS_ALERTS];
    sr_status_item_t trending[SR_STATUS_TRENDING];
    size_t n_trending;
    size_t n_alerts = sr_status_read(s, alerts, trending, &n_trending);

    /* the containers go into doc first, so one decref of doc frees everything */
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    bool ok = put(doc, "lag", json_object()) && put(doc, "freshness", json_object()) &&
              put(doc, "alerts_total", json_object()) && put(doc, "alerts", json_array()) &&
              put(doc, "trending", json_array());
    json_t *lag = json_object_get(doc, "lag"), *fresh = json_object_get(doc, "freshness"),
           *alerts_total = json_object_get(doc, "alerts_total"),
           *recent = json_object_get(doc, "alerts"), *top = json_object_get(doc, "trending");
    for (size_t k = 0; ok && k < n_alerts; k++) {
        json_t *a = json_object();
        ok = json_array_append_new(recent, a) == 0 &&
             put(a, "user", id_string(alerts[k].user_id)) &&
             put(a, "probability", json_real(alerts[k].probability)) &&
             put(a, "level", id_string(alerts[k].level)) &&
             put(a, "state", json_string(alerts[k].firing ? "firing" : "resolved")) &&
             put(a, "ts_ms", json_integer(alerts[k].ts_ms));
    }
    for (size_t k = 0; ok && k < n_trending; k++) {
        json_t *t = json_object();
        ok = json_array_append_new(top, t) == 0 && put(t, "item", id_string(trending[k].item_id)) &&
             put(t, "score", json_real(trending[k].score));
    }
    bool fresh_known = f->freshness_count > 0;
    ok = ok && put(fresh, "count", json_integer((json_int_t)f->freshness_count)) &&
         put(fresh, "p50_ms", number_or_null(f->freshness_p50_ms, fresh_known)) &&
         put(fresh, "p99_ms", number_or_null(f->freshness_p99_ms, fresh_known)) &&
         put(fresh, "p999_ms", number_or_null(f->freshness_p999_ms, fresh_known)) &&
         put(lag, "offsets", f->lag_offsets >= 0 ? json_integer(f->lag_offsets) : json_null()) &&
         put(lag, "seconds", number_or_null(f->lag_seconds, f->lag_seconds >= 0)) &&
         put(lag, "partitions", json_integer(f->partitions)) &&
         put(alerts_total, "firing", json_integer((json_int_t)f->alerts_firing)) &&
         put(alerts_total, "resolved", json_integer((json_int_t)f->alerts_resolved)) &&
         put(doc, "now_ms", json_integer(f->now_ms)) &&
         put(doc, "ready", json_boolean(f->ready)) &&
         put(doc, "records_in", json_integer((json_int_t)f->records_in)) &&
         put(doc, "events_total", json_integer((json_int_t)f->events_total)) &&
         put(doc, "events_per_s", json_real(f->events_per_s)) &&
         put(doc, "users", json_integer((json_int_t)f->users)) &&
         put(doc, "items", json_integer((json_int_t)f->items)) &&
         put(doc, "recommendations_total", json_integer((json_int_t)f->recos_written)) &&
         put(doc, "dead_letters", json_integer((json_int_t)f->dead_letters));
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return dump(doc, len);
}

char *sr_status_reco_json(const char *user_id, const sr_status_reco_t *items, size_t n,
                          bool found, const char *source, const char *error, size_t *len) {
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    bool ok = put(doc, "items", json_array());
    json_t *list = json_object_get(doc, "items");
    for (size_t k = 0; ok && k < n; k++) {
        json_t *it = json_object();
        ok = json_array_append_new(list, it) == 0 && put(it, "item", id_string(items[k].item_id)) &&
             put(it, "score", json_real(items[k].score));
    }
    char message[256];
    if (error)
        snprintf(message, sizeof message, "could not read the recommendations: %s", error);
    else if (!found)
        snprintf(message, sizeof message,
                 "no recommendations for this user (unknown user, or none written yet)");
    else
        snprintf(message, sizeof message, "%zu items", n);
    ok = ok && put(doc, "user", id_string(user_id)) &&
         put(doc, "found", json_boolean(found)) && put(doc, "source", json_string(source)) &&
         put(doc, "message", id_string(message)) &&
         put(doc, "error", error ? id_string(error) : json_null());
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return dump(doc, len);
}
