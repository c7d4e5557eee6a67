#include "streamrec/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sr_prom_buf_init(sr_prom_buf_t *b) { memset(b, 0, sizeof *b); }

void sr_prom_buf_free(sr_prom_buf_t *b) {
    free(b->text);
    sr_prom_buf_init(b);
}

bool sr_prom_buf_failed(const sr_prom_buf_t *b) { return b->failed; }

char *sr_prom_buf_take(sr_prom_buf_t *b, size_t *len) {
    if (b->failed || (!b->text && !(b->text = calloc(1, 1)))) {
        sr_prom_buf_free(b);
        return NULL;
    }
    char *text = b->text;
    *len = b->len;
    sr_prom_buf_init(b);
    return text;
}

static bool reserve(sr_prom_buf_t *b, size_t more) {
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *t = realloc(b->text, cap);
    if (!t) {
        b->failed = true;
        return false;
    }
    b->text = t;
    b->cap = cap;
    return true;
}

static void put(sr_prom_buf_t *b, const char *s, size_t n) {
    if (!reserve(b, n))
        return;
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
}

static void puts_(sr_prom_buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* Escapes '\' and newline, and '"' too when quoted (label values). */
static void put_escaped(sr_prom_buf_t *b, const char *s, bool quoted) {
    for (const char *run = s;; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                        : (quoted && *s == '"') ? "\\\"" : NULL;
        if (!esc && *s)
            continue;
        put(b, run, (size_t)(s - run));
        if (!*s)
            return;
        puts_(b, esc);
        run = s + 1;
    }
}

/* Go's float syntax: the shortest of %.15g..%.17g that reads back exactly. */
static void format_double(char *out, size_t size, double v) {
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(out, size, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

void sr_prom_family(sr_prom_buf_t *b, const char *name, sr_prom_type_t type, const char *help) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    puts_(b, "# HELP ");
    puts_(b, name);
    puts_(b, " ");
    put_escaped(b, help, false);
    puts_(b, "\n# TYPE ");
    puts_(b, name);
    puts_(b, " ");
    puts_(b, types[type]);
    puts_(b, "\n");
}

static void put_series(sr_prom_buf_t *b, const char *name, const char *suffix,
                       const sr_prom_label_t *labels, size_t n_labels, const char *le) {
    puts_(b, name);
    puts_(b, suffix);
    if (n_labels == 0 && !le)
        return;
    puts_(b, "{");
    for (size_t i = 0; i < n_labels; i++) {
        if (i)
            puts_(b, ",");
        puts_(b, labels[i].name);
        puts_(b, "=\"");
        put_escaped(b, labels[i].value ? labels[i].value : "", true);
        puts_(b, "\"");
    }
    if (le) {
        puts_(b, n_labels ? ",le=\"" : "le=\"");
        puts_(b, le);
        puts_(b, "\"");
    }
    puts_(b, "}");
}

static void put_value(sr_prom_buf_t *b, const char *value) {
    puts_(b, " ");
    puts_(b, value);
    puts_(b, "\n");
}

void sr_prom_sample(sr_prom_buf_t *b, const char *name, const sr_prom_label_t *labels,
                    size_t n_labels, double value) {
    char num[32];
    format_double(num, sizeof num, value);
    put_series(b, name, "", labels, n_labels, NULL);
    put_value(b, num);
}

void sr_prom_sample_u64(sr_prom_buf_t *b, const char *name, const sr_prom_label_t *labels,
                        size_t n_labels, uint64_t value) {
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)value);
    put_series(b, name, "", labels, n_labels, NULL);
    put_value(b, num);
}

void sr_prom_hist_init(sr_prom_hist_t *h, const uint64_t *bounds, size_t n_bounds,
                       double per_unit) {
    memset(h, 0, sizeof *h);
    h->n_bounds = n_bounds < SR_PROM_MAX_BOUNDS ? n_bounds : SR_PROM_MAX_BOUNDS;
    memcpy(h->bounds, bounds, h->n_bounds * sizeof *bounds);
    h->per_unit = per_unit;
    for (size_t i = 0; i <= SR_PROM_MAX_BOUNDS; i++) atomic_init(&h->count[i], 0);
    atomic_init(&h->sum, 0);
}

void sr_prom_hist_observe(sr_prom_hist_t *h, uint64_t value) {
    size_t i = 0;
    while (i < h->n_bounds && value > h->bounds[i]) i++;
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
}

uint64_t sr_prom_hist_count(const sr_prom_hist_t *h) {
    uint64_t n = 0;
    for (size_t i = 0; i <= h->n_bounds; i++)
        n += atomic_load_explicit(&h->count[i], memory_order_relaxed);
    return n;
}

void sr_prom_histogram(sr_prom_buf_t *b, const char *name, const sr_prom_label_t *labels,
                       size_t n_labels, const sr_prom_hist_t *h) {
    char le[32], num[32];
    uint64_t cumulative = 0;
    /* One pass over the counters: _count is the +Inf bucket as written, so
     * the series stay consistent while another thread records. */
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&h->count[i], memory_order_relaxed);
        if (i < h->n_bounds)
            format_double(le, sizeof le, (double)h->bounds[i] / h->per_unit);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(num, sizeof num, "%llu", (unsigned long long)cumulative);
        put_series(b, name, "_bucket", labels, n_labels, le);
        put_value(b, num);
    }
    format_double(num, sizeof num,
                  (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / h->per_unit);
    put_series(b, name, "_sum", labels, n_labels, NULL);
    put_value(b, num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)cumulative);
    put_series(b, name, "_count", labels, n_labels, NULL);
    put_value(b, num);
}
