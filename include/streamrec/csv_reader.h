/* streamrec csv: streaming readers for the dataset files, and the writer of
 * streamrec's own CSV format.
 *
 * A reader turns one file into sr_event_t's, one line at a time, so a file of
 * any size is read in O(longest line) memory. Three formats:
 *
 *   streamrec-csv  header `ts_ms,user_id,item_id,event_type,session_id,category_id,price`
 *                  event_type is an Avro symbol (UNKNOWN, VIEW, ADD_TO_CART,
 *                  REMOVE_FROM_CART, PURCHASE). item_id, session_id,
 *                  category_id and price may be empty (absent). No quoting:
 *                  ids never contain ',' and a line with the wrong number of
 *                  fields is rejected. This is what sr_csv_write_event() writes.
 *   diginetica     `;`-separated, header `session_id;user_id;item_id;timeframe;eventdate`
 *                  (CIKM Cup 2016 train-item-views.csv). ts_ms = eventdate at
 *                  UTC midnight + timeframe; user `NA` becomes "s<session_id>";
 *                  every row is a VIEW; session_id is set.
 *   movielens      header `userId,movieId,rating,timestamp` (ratings.csv).
 *                  ts_ms = timestamp * 1000; rating >= 4.0 is a PURCHASE, lower
 *                  ratings a VIEW. If a `movies.csv` sits in the same
 *                  directory, category_id is the movie's first genre
 *                  ("(no genres listed)" and unknown movies: absent). Price is
 *                  always absent.
 *
 * Every event gets event_id "<file name>:<line number>" (file name without
 * directories, line numbers from 1 with the header as line 1), so an event
 * can be traced back to its line. Absent strings are {NULL, 0}; an empty
 * item_id is absent too.
 *
 * CRLF line ends, a missing final newline and a UTF-8 byte order mark before
 * the header are accepted; lines have no length limit (the line buffer
 * grows). Blank lines are skipped: they carry no event.
 *
 * Ownership: the reader owns its FILE, its line buffer and the movie genre
 * table; sr_csv_reader_close() frees all of them. Strings in an event
 * returned by sr_csv_reader_next() are borrowed from the reader and valid
 * until the next sr_csv_reader_next() or sr_csv_reader_close().
 *
 * Threads: a reader is used by one thread at a time; distinct readers are
 * independent. */
#ifndef STREAMREC_CSV_READER_H
#define STREAMREC_CSV_READER_H

#include <stddef.h>
#include <stdio.h>

#include "streamrec/err.h"
#include "streamrec/event.h"

typedef enum sr_csv_format {
    SR_CSV_STREAMREC,  /* "streamrec-csv" */
    SR_CSV_DIGINETICA, /* "diginetica" */
    SR_CSV_MOVIELENS,  /* "movielens" */
} sr_csv_format_t;

/* Maps "streamrec-csv", "diginetica" or "movielens" (exact) onto *out.
 * Returns SR_ERR_INVALID (and leaves *out alone) for any other name. */
sr_err_t sr_csv_format_parse(const char *name, sr_csv_format_t *out);

/* The name sr_csv_format_parse() accepts for `format`; "?" if out of range. */
const char *sr_csv_format_name(sr_csv_format_t format);

/* The exact header line (without line end) a file of `format` must start
 * with; "" if out of range. */
const char *sr_csv_format_header(sr_csv_format_t format);

typedef struct sr_csv_reader sr_csv_reader_t;

/* Opens `path` and checks its header. For movielens also loads movies.csv
 * from the same directory if it exists (a movies.csv that exists but cannot
 * be parsed is an error: a silent fallback would quietly drop every
 * category). Returns NULL and fills errstr on failure: the file cannot be
 * opened or read, it is empty, or its header is not the expected one (the
 * message names the expected header). */
sr_csv_reader_t *sr_csv_reader_open(const char *path, sr_csv_format_t format,
                                    char *errstr, size_t errstr_size);

/* Reads the next event into *out. Returns
 *   SR_OK            *out is filled; its strings are borrowed (see above);
 *   SR_ERR_EOF       no more lines (and again on every later call);
 *   SR_ERR_BAD_FIELD the line was rejected; errstr says
 *                    "path:line: reason (field 'name')". *out is undefined.
 *                    The reader has consumed the line: the next call reads
 *                    the line after it, so the caller may skip and go on;
 *   SR_ERR_IO        a read error (errstr says why);
 *   SR_ERR_NOMEM     the line buffer could not grow.
 * O(line length). */
sr_err_t sr_csv_reader_next(sr_csv_reader_t *reader, sr_event_t *out,
                            char *errstr, size_t errstr_size);

/* Line number (1 = header) of the line the last sr_csv_reader_next() call
 * consumed, returned or rejected. */
size_t sr_csv_reader_line(const sr_csv_reader_t *reader);

/* Closes the file and frees everything the reader owns; NULL is a no-op. */
void sr_csv_reader_close(sr_csv_reader_t *reader);

/* Writes the streamrec-csv header line (with its "\n"). */
void sr_csv_write_header(FILE *out);

/* Writes `ev` as one streamrec-csv line. event_id is not part of the format
 * and is not written. Absent strings and a price without has_price become
 * empty fields; price is written with the fewest digits that read back to
 * the same double, so reader(writer(ev)) gives back ev's fields exactly.
 * Returns SR_ERR_INVALID (writing nothing) if user_id is empty, the type is
 * out of range, the price is not finite, or a string contains ',', '\n',
 * '\r' or a NUL byte (the format has no quoting); SR_ERR_IO if the stream
 * reports an error. */
sr_err_t sr_csv_write_event(FILE *out, const sr_event_t *ev);

#endif
