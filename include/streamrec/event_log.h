/* streamrec event_log: a whole dataset file in memory, in event-time order.
 *
 * `streamrec eval` and the benchmarks replay a dataset many times and need it
 * sorted by event time (MovieLens ratings.csv, for one, is grouped by user,
 * not by time). sr_event_log_load() reads the file with an sr_csv_reader,
 * copies every event, and sorts them stably by ts_ms: events with the same
 * ts_ms keep their file order, so a replay is deterministic.
 *
 * Ownership: the log owns the events array and every byte their strings
 * point to. Strings live in a chunked arena (a few large blocks, never one
 * malloc per string) and stay valid, unmoved, until sr_event_log_destroy().
 * Callers read the public fields below and must not modify or free them.
 *
 * Bad lines do not stop a load: each line the reader rejects
 * (SR_ERR_BAD_FIELD) is counted in n_bad_lines and skipped, and the message
 * of the first one is kept in first_error, so the caller can report
 * "skipped N bad lines, first: ...". Only failures to open or read the file
 * (missing file, wrong header, I/O error, out of memory) fail the load.
 *
 * Cost: O(n log n) time for n lines (O(n) when the file is already in time
 * order); memory about sizeof(sr_event_t) + the string bytes per event, plus
 * a transient second events array while sorting.
 *
 * Threads: a loaded log is immutable, so any number of threads may read it. */
#ifndef STREAMREC_EVENT_LOG_H
#define STREAMREC_EVENT_LOG_H

#include <stddef.h>

#include "streamrec/csv_reader.h"
#include "streamrec/err.h"
#include "streamrec/event.h"

/* Longest first_error kept, including the NUL; longer messages are cut. */
#define SR_EVENT_LOG_ERROR_MAX 256

struct sr_event_log_chunk;

typedef struct sr_event_log {
    /* Read-only for callers. */
    sr_event_t *events;    /* n_events events, ts_ms ascending, ties in file order */
    size_t n_events;
    size_t n_bad_lines;    /* lines rejected by the reader and skipped */
    char first_error[SR_EVENT_LOG_ERROR_MAX]; /* first rejected line's message, "" if none */

    /* Private: the string arena. */
    struct sr_event_log_chunk *chunks;
} sr_event_log_t;

/* Loads and sorts the dataset at `path` (see csv_reader.h for the formats).
 * Returns NULL and fills errstr if the file cannot be opened or read, its
 * header is wrong, or memory runs out. Free the result with
 * sr_event_log_destroy(). */
sr_event_log_t *sr_event_log_load(const char *path, sr_csv_format_t format, char *errstr,
                                  size_t errstr_size);

/* Frees the log, its events and all their strings; NULL is a no-op. */
void sr_event_log_destroy(sr_event_log_t *log);

#endif
