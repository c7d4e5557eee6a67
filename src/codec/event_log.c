/* streamrec event_log: a dataset in memory, stably sorted by event time.
 * See include/streamrec/event_log.h for the contract. */
#include "streamrec/event_log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arena blocks of 256 KiB: the MovieLens sample (100k events, ~3 MB of
 * strings) takes about a dozen, and a block is small enough that the unused
 * tail of the last one does not matter. A longer string gets a block of
 * its own size. */
#define CHUNK_BYTES (256u * 1024u)

struct sr_event_log_chunk {
    struct sr_event_log_chunk *next;
    size_t used;
    size_t cap;
    char bytes[];
};

/* Copies `s` into the arena. Absent stays absent: {NULL, 0} in, {NULL, 0}
 * out. Returns false when out of memory. */
static bool arena_copy(sr_event_log_t *log, sr_str_t *s) {
    if (s->len == 0) {
        s->ptr = NULL;
        return true;
    }
    struct sr_event_log_chunk *chunk = log->chunks;
    if (!chunk || chunk->cap - chunk->used < s->len) {
        size_t cap = s->len > CHUNK_BYTES ? s->len : CHUNK_BYTES;
        struct sr_event_log_chunk *fresh = malloc(sizeof *fresh + cap);
        if (!fresh)
            return false;
        fresh->next = log->chunks;
        fresh->used = 0;
        fresh->cap = cap;
        log->chunks = fresh;
        chunk = fresh;
    }
    char *dst = chunk->bytes + chunk->used;
    memcpy(dst, s->ptr, s->len);
    chunk->used += s->len;
    s->ptr = dst;
    return true;
}

static bool str_same(sr_str_t a, sr_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Datasets come grouped by user and session (MovieLens by user, DIGINETICA
 * by session), so reusing the previous event's copy when the bytes repeat
 * stores most user and session ids once, without a dictionary. */
static bool copy_or_share(sr_event_log_t *log, sr_str_t *s, const sr_str_t *previous) {
    if (previous && s->len > 0 && str_same(*s, *previous)) {
        s->ptr = previous->ptr;
        return true;
    }
    return arena_copy(log, s);
}

static bool copy_strings(sr_event_log_t *log, sr_event_t *ev) {
    const sr_event_t *prev = log->n_events > 0 ? &log->events[log->n_events - 1] : NULL;
    return arena_copy(log, &ev->event_id) &&
           copy_or_share(log, &ev->user_id, prev ? &prev->user_id : NULL) &&
           arena_copy(log, &ev->item_id) &&
           copy_or_share(log, &ev->session_id, prev ? &prev->session_id : NULL) &&
           copy_or_share(log, &ev->category_id, prev ? &prev->category_id : NULL);
}

/* Bottom-up merge sort by ts_ms. Stable because a merge takes from the left
 * run while the keys are equal; qsort would give no such promise. Returns
 * false when the scratch array cannot be allocated. */
static bool sort_by_time(sr_event_t *events, size_t n) {
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = events[i - 1].ts_ms <= events[i].ts_ms;
    if (sorted)
        return true; /* the common case for streamrec-csv exports: O(n) */

    sr_event_t *scratch = malloc(n * sizeof *scratch);
    if (!scratch)
        return false;
    sr_event_t *src = events, *dst = scratch;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, out = lo;
            while (a < mid && b < hi)
                dst[out++] = src[b].ts_ms < src[a].ts_ms ? src[b++] : src[a++];
            while (a < mid)
                dst[out++] = src[a++];
            while (b < hi)
                dst[out++] = src[b++];
        }
        sr_event_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != events)
        memcpy(events, src, n * sizeof *events);
    free(scratch);
    return true;
}

sr_event_log_t *sr_event_log_load(const char *path, sr_csv_format_t format, char *errstr,
                                  size_t errstr_size) {
    sr_event_log_t *log = NULL;
    sr_csv_reader_t *reader = NULL;
    size_t events_cap = 0;
    char line_error[SR_EVENT_LOG_ERROR_MAX];

    log = calloc(1, sizeof *log);
    if (!log) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    reader = sr_csv_reader_open(path, format, errstr, errstr_size);
    if (!reader)
        goto fail;

    for (;;) {
        sr_event_t ev;
        sr_err_t err = sr_csv_reader_next(reader, &ev, line_error, sizeof line_error);
        if (err == SR_ERR_EOF)
            break;
        if (err == SR_ERR_BAD_FIELD) {
            if (log->n_bad_lines++ == 0)
                snprintf(log->first_error, sizeof log->first_error, "%s", line_error);
            continue;
        }
        if (err != SR_OK) {
            sr_seterr(err, errstr, errstr_size, "%s", line_error);
            goto fail;
        }
        if (log->n_events == events_cap) {
            size_t cap = events_cap ? events_cap * 2 : 4096;
            sr_event_t *bigger = realloc(log->events, cap * sizeof *bigger);
            if (!bigger)
                goto nomem;
            log->events = bigger;
            events_cap = cap;
        }
        if (!copy_strings(log, &ev))
            goto nomem;
        log->events[log->n_events++] = ev;
    }
    if (!sort_by_time(log->events, log->n_events))
        goto nomem;
    sr_csv_reader_close(reader);
    return log;

nomem:
    sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory after %zu events", path,
              log->n_events);
fail:
    sr_csv_reader_close(reader);
    sr_event_log_destroy(log);
    return NULL;
}

void sr_event_log_destroy(sr_event_log_t *log) {
    if (!log)
        return;
    struct sr_event_log_chunk *chunk = log->chunks;
    while (chunk) {
        struct sr_event_log_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(log->events);
    free(log);
}
