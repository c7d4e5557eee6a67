/* streamrec csv: dataset readers and the streamrec-csv writer.
 * See include/streamrec/csv_reader.h for the formats and the contract.
 *
 * Numbers go through strtod()/snprintf("%g"), which follow LC_NUMERIC:
 * streamrec never calls setlocale() for LC_NUMERIC, so '.' is the decimal
 * point, as the files have it. */
#include "streamrec/csv_reader.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The widest format (streamrec-csv) has 7 fields. */
#define MAX_FIELDS 7

/* Longest piece of an offending value quoted in an error message: enough to
 * recognise it, short enough that a runaway line does not flood a log. */
#define SHOWN_VALUE_MAX 40

typedef struct format_spec {
    const char *name;
    const char *header;
    char separator;
    size_t n_fields;
    const char *field_names[MAX_FIELDS];
} format_spec_t;

enum { SR_F_TS, SR_F_USER, SR_F_ITEM, SR_F_TYPE, SR_F_SESSION, SR_F_CATEGORY, SR_F_PRICE };
enum { DG_F_SESSION, DG_F_USER, DG_F_ITEM, DG_F_TIMEFRAME, DG_F_DATE };
enum { ML_F_USER, ML_F_MOVIE, ML_F_RATING, ML_F_TIMESTAMP };

static const format_spec_t format_specs[] = {
    [SR_CSV_STREAMREC] = {
        "streamrec-csv",
        "ts_ms,user_id,item_id,event_type,session_id,category_id,price",
        ',', 7,
        {"ts_ms", "user_id", "item_id", "event_type", "session_id", "category_id", "price"},
    },
    [SR_CSV_DIGINETICA] = {
        "diginetica",
        "session_id;user_id;item_id;timeframe;eventdate",
        ';', 5,
        {"session_id", "user_id", "item_id", "timeframe", "eventdate"},
    },
    [SR_CSV_MOVIELENS] = {
        "movielens",
        "userId,movieId,rating,timestamp",
        ',', 4,
        {"userId", "movieId", "rating", "timestamp"},
    },
};

#define N_FORMATS (sizeof format_specs / sizeof format_specs[0])

/* MovieLens ratings at or above this count as a purchase-like positive
 * (the usual implicit-feedback cut, see the dataset README). */
#define MOVIELENS_POSITIVE_RATING 4.0

#define MS_PER_DAY INT64_C(86400000)

/* movieId -> first genre, read from movies.csv. The file's bytes stay in
 * `text` and every key and genre points into it, so the table costs one
 * buffer plus the index. Open addressing with linear probing, load <= 1/2. */
typedef struct genre_entry {
    sr_str_t movie_id;
    sr_str_t genre; /* {NULL, 0}: the movie has no genre */
} genre_entry_t;

typedef struct genre_table {
    char *text;
    genre_entry_t *entries;
    size_t n_entries;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t slot_mask;
} genre_table_t;

struct sr_csv_reader {
    const format_spec_t *spec;
    sr_csv_format_t format;
    FILE *file;
    char *path;            /* copy, for messages */
    const char *file_name; /* last component of path, for event ids */
    char *line;            /* getline() buffer, grows to the longest line */
    size_t line_cap;
    size_t line_no;
    char *event_id;        /* "<file_name>:<line_no>" of the current event */
    size_t event_id_cap;
    char *user_id;         /* diginetica "s<session_id>" of the current event */
    size_t user_id_cap;
    genre_table_t genres;  /* movielens only; empty without movies.csv */
};

/* ---- formats ------------------------------------------------------------ */

sr_err_t sr_csv_format_parse(const char *name, sr_csv_format_t *out) {
    if (!name || !out)
        return SR_ERR_INVALID;
    for (size_t i = 0; i < N_FORMATS; i++) {
        if (strcmp(name, format_specs[i].name) == 0) {
            *out = (sr_csv_format_t)i;
            return SR_OK;
        }
    }
    return SR_ERR_INVALID;
}

const char *sr_csv_format_name(sr_csv_format_t format) {
    if ((unsigned)format >= N_FORMATS)
        return "?";
    return format_specs[format].name;
}

const char *sr_csv_format_header(sr_csv_format_t format) {
    if ((unsigned)format >= N_FORMATS)
        return "";
    return format_specs[format].header;
}

/* ---- small parsers -------------------------------------------------------- */

/* Strict: optional '-', then decimal digits, nothing else. strtoll would
 * accept leading blanks and '+' and hide overflow behind errno. */
static bool parse_int64(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    bool negative = false;
    if (len > 0 && s[0] == '-') {
        negative = true;
        i = 1;
    }
    if (i == len)
        return false;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned digit = (unsigned)(s[i] - '0');
        if (value > (limit - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    if (negative)
        *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    else
        *out = (int64_t)value;
    return true;
}

/* `s` must be NUL-terminated at s[len] (the line splitter guarantees it).
 * Only plain decimal/exponent notation: strtod alone would also take
 * "nan", "inf", hex floats and leading blanks. */
static bool parse_double(const char *s, size_t len, double *out) {
    if (len == 0 || strspn(s, "0123456789.eE+-") != len)
        return false;
    char *end = NULL;
    errno = 0;
    double value = strtod(s, &end);
    if (end != s + len || errno == ERANGE || !isfinite(value))
        return false;
    *out = value;
    return true;
}

static bool is_leap_year(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date. H. Hinnant's
 * days_from_civil ("chrono-Compatible Low-Level Date Algorithms"): shift the
 * year to start in March so the leap day is last, then count 400-year eras
 * of 146097 days. Pure integer arithmetic: timegm() would drag in the TZ
 * machinery and mktime() the local zone. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;                                /* [0, 399] */
    int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static bool parse_digits(const char *s, size_t n, int *out) {
    int value = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        value = value * 10 + (s[i] - '0');
    }
    *out = value;
    return true;
}

/* "YYYY-MM-DD" -> days since the epoch; rejects impossible dates such as
 * 2015-02-29, which a lenient parser would roll over into March. */
static bool parse_date(const char *s, size_t len, int64_t *days_out) {
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (!parse_digits(s, 4, &y) || !parse_digits(s + 5, 2, &m) || !parse_digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    *days_out = days_from_civil(y, m, d);
    return true;
}

static sr_str_t str_or_absent(const char *ptr, size_t len) {
    sr_str_t s = {NULL, 0};
    if (len > 0) {
        s.ptr = ptr;
        s.len = len;
    }
    return s;
}

static bool str_eq(sr_str_t s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- movies.csv genre table ------------------------------------------------ */

/* FNV-1a: the keys are short decimal ids, anything that mixes is enough. */
static uint64_t hash_bytes(const char *p, size_t len) {
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static const genre_entry_t *genre_find(const genre_table_t *t, const char *id, size_t len) {
    if (!t->slots)
        return NULL;
    for (size_t i = hash_bytes(id, len) & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        uint32_t slot = t->slots[i];
        if (slot == 0)
            return NULL;
        const genre_entry_t *e = &t->entries[slot - 1];
        if (e->movie_id.len == len && memcmp(e->movie_id.ptr, id, len) == 0)
            return e;
    }
}

static void genre_table_free(genre_table_t *t) {
    free(t->text);
    free(t->entries);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Reads a whole stream; the buffer gets one spare byte for a NUL. */
static sr_err_t read_all(FILE *f, char **text_out, size_t *len_out) {
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    if (!text)
        return SR_ERR_NOMEM;
    for (;;) {
        if (cap - len < 2) {
            char *bigger = realloc(text, cap * 2);
            if (!bigger) {
                free(text);
                return SR_ERR_NOMEM;
            }
            text = bigger;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                free(text);
                return SR_ERR_IO;
            }
            break;
        }
    }
    text[len] = '\0';
    *text_out = text;
    *len_out = len;
    return SR_OK;
}

/* Splits the RFC 4180 record that starts at *pos into fields, unescaping
 * quoted fields in place (an unescaped field is never longer than its
 * source, so writing behind the read position is safe). movies.csv needs
 * this: titles are quoted when they contain a comma and double their inner
 * quotes (7789,"11'09""01 - September 11 (2002)",Drama). Stores up to
 * max_fields fields and returns how many the record has; *lines_used counts
 * the physical lines it spans (a quoted field may contain newlines).
 * Returns -1 for an unterminated quote or text after a closing quote. */
static int next_rfc4180_record(char *text, size_t len, size_t *pos, sr_str_t *fields,
                               int max_fields, size_t *lines_used) {
    size_t p = *pos;
    int n = 0;
    *lines_used = 1;
    for (;;) {
        size_t start = p, w = p;
        if (p < len && text[p] == '"') {
            p++;
            for (;;) {
                if (p >= len)
                    return -1;
                if (text[p] == '"') {
                    if (p + 1 < len && text[p + 1] == '"') {
                        text[w++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (text[p] == '\n')
                    (*lines_used)++;
                text[w++] = text[p++];
            }
        } else {
            while (p < len && text[p] != ',' && text[p] != '\n' && text[p] != '\r')
                p++;
            w = p;
        }
        if (n < max_fields) {
            fields[n].ptr = text + start;
            fields[n].len = w - start;
        }
        n++;
        if (p < len && text[p] == ',') {
            p++;
            continue;
        }
        if (p < len && text[p] == '\r')
            p++;
        if (p < len) {
            if (text[p] != '\n')
                return -1;
            p++;
        }
        break;
    }
    *pos = p;
    return n;
}

/* Path of movies.csv next to `ratings_path`. */
static char *sibling_path(const char *ratings_path, const char *name) {
    const char *slash = strrchr(ratings_path, '/');
    size_t dir_len = slash ? (size_t)(slash - ratings_path) + 1 : 0;
    char *path = malloc(dir_len + strlen(name) + 1);
    if (!path)
        return NULL;
    memcpy(path, ratings_path, dir_len);
    strcpy(path + dir_len, name);
    return path;
}

static sr_err_t genre_table_index(genre_table_t *t) {
    size_t n_slots = 16;
    while (n_slots < t->n_entries * 2)
        n_slots *= 2;
    t->slots = calloc(n_slots, sizeof *t->slots);
    if (!t->slots)
        return SR_ERR_NOMEM;
    t->slot_mask = n_slots - 1;
    for (size_t e = 0; e < t->n_entries; e++) {
        const genre_entry_t *entry = &t->entries[e];
        size_t i = hash_bytes(entry->movie_id.ptr, entry->movie_id.len) & t->slot_mask;
        for (;; i = (i + 1) & t->slot_mask) {
            if (t->slots[i] == 0) {
                t->slots[i] = (uint32_t)(e + 1);
                break;
            }
            const genre_entry_t *other = &t->entries[t->slots[i] - 1];
            /* A repeated movieId keeps its first line, like a lookup would. */
            if (other->movie_id.len == entry->movie_id.len &&
                memcmp(other->movie_id.ptr, entry->movie_id.ptr, entry->movie_id.len) == 0)
                break;
        }
    }
    return SR_OK;
}

static sr_err_t genre_table_load(genre_table_t *t, const char *ratings_path, char *errstr,
                                 size_t errstr_size) {
    sr_err_t err = SR_OK;
    char *path = sibling_path(ratings_path, "movies.csv");
    FILE *f = NULL;
    size_t len = 0, pos = 0, line_no = 1, entries_cap = 0;
    bool header_seen = false;
    if (!path)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            goto done; /* optional: ratings without categories */
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto done;
    }
    err = read_all(f, &t->text, &len);
    if (err != SR_OK) {
        sr_seterr(err, errstr, errstr_size, "%s: %s", path,
                  err == SR_ERR_NOMEM ? "out of memory" : "read error");
        goto done;
    }
    if (len >= 3 && memcmp(t->text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;

    while (pos < len) {
        sr_str_t fields[3];
        size_t lines_used;
        int n = next_rfc4180_record(t->text, len, &pos, fields, 3, &lines_used);
        if (n < 0) {
            err = sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                            "%s:%zu: malformed quoting", path, line_no);
            goto done;
        }
        size_t record_line = line_no;
        line_no += lines_used;
        if (n == 1 && fields[0].len == 0)
            continue; /* blank line */
        if (!header_seen) {
            if (n != 3 || !str_eq(fields[0], "movieId") || !str_eq(fields[1], "title") ||
                !str_eq(fields[2], "genres")) {
                err = sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                                "%s:%zu: unexpected header, expected 'movieId,title,genres'",
                                path, record_line);
                goto done;
            }
            header_seen = true;
            continue;
        }
        if (n != 3) {
            err = sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                            "%s:%zu: expected 3 ','-separated fields, got %d", path,
                            record_line, n);
            goto done;
        }
        if (fields[0].len == 0) {
            err = sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                            "%s:%zu: empty (field 'movieId')", path, record_line);
            goto done;
        }
        if (t->n_entries == entries_cap) {
            size_t cap = entries_cap ? entries_cap * 2 : 1024;
            genre_entry_t *bigger = realloc(t->entries, cap * sizeof *bigger);
            if (!bigger) {
                err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
            }
            t->entries = bigger;
            entries_cap = cap;
        }
        if (t->n_entries >= UINT32_MAX - 1) {
            err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "%s: too many movies", path);
            goto done;
        }
        sr_str_t genre = fields[2];
        const char *bar = memchr(genre.ptr, '|', genre.len);
        if (bar)
            genre.len = (size_t)(bar - genre.ptr);
        /* MovieLens writes "(no genres listed)" instead of leaving it empty. */
        if (str_eq(genre, "(no genres listed)"))
            genre.len = 0;
        genre_entry_t *entry = &t->entries[t->n_entries++];
        entry->movie_id = fields[0];
        entry->genre = str_or_absent(genre.ptr, genre.len);
    }
    if (!header_seen) {
        err = sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                        "%s: empty file, expected header 'movieId,title,genres'", path);
        goto done;
    }
    err = genre_table_index(t);
    if (err != SR_OK)
        sr_seterr(err, errstr, errstr_size, "out of memory");

done:
    if (f)
        fclose(f);
    free(path);
    if (err != SR_OK)
        genre_table_free(t);
    return err;
}

/* ---- reader ------------------------------------------------------------------ */

/* Strips "\n" or "\r\n" (a lone trailing '\r' too: a CRLF file whose last
 * line lost its '\n'). */
static size_t strip_line_end(char *line, size_t len) {
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    return len;
}

static sr_err_t bad_line(const sr_csv_reader_t *r, char *errstr, size_t errstr_size,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static sr_err_t bad_line(const sr_csv_reader_t *r, char *errstr, size_t errstr_size,
                         const char *fmt, ...) {
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size, "%s:%zu: %s", r->path, r->line_no,
                     reason);
}

/* "path:line: <what> 'value' (field 'name')", the value cut to a readable
 * length. */
static sr_err_t bad_value(const sr_csv_reader_t *r, char *errstr, size_t errstr_size,
                          size_t field, sr_str_t value, const char *what) {
    int shown = value.len > SHOWN_VALUE_MAX ? SHOWN_VALUE_MAX : (int)value.len;
    return bad_line(r, errstr, errstr_size, "%s '%.*s%s' (field '%s')", what, shown,
                    value.ptr ? value.ptr : "", value.len > SHOWN_VALUE_MAX ? "..." : "",
                    r->spec->field_names[field]);
}

static sr_err_t missing_value(const sr_csv_reader_t *r, char *errstr, size_t errstr_size,
                              size_t field) {
    return bad_line(r, errstr, errstr_size, "empty (field '%s')", r->spec->field_names[field]);
}

static sr_err_t parse_streamrec(sr_csv_reader_t *r, const sr_str_t *f, sr_event_t *out,
                                char *errstr, size_t errstr_size) {
    if (!parse_int64(f[SR_F_TS].ptr, f[SR_F_TS].len, &out->ts_ms))
        return bad_value(r, errstr, errstr_size, SR_F_TS, f[SR_F_TS], "not an integer:");
    if (f[SR_F_USER].len == 0)
        return missing_value(r, errstr, errstr_size, SR_F_USER);
    out->user_id = f[SR_F_USER];
    out->item_id = str_or_absent(f[SR_F_ITEM].ptr, f[SR_F_ITEM].len);
    out->type = sr_event_type_parse(f[SR_F_TYPE].ptr, f[SR_F_TYPE].len);
    if (out->type == SR_EVENT__COUNT)
        return bad_value(r, errstr, errstr_size, SR_F_TYPE, f[SR_F_TYPE], "unknown event type");
    out->session_id = str_or_absent(f[SR_F_SESSION].ptr, f[SR_F_SESSION].len);
    out->category_id = str_or_absent(f[SR_F_CATEGORY].ptr, f[SR_F_CATEGORY].len);
    if (f[SR_F_PRICE].len > 0) {
        if (!parse_double(f[SR_F_PRICE].ptr, f[SR_F_PRICE].len, &out->price))
            return bad_value(r, errstr, errstr_size, SR_F_PRICE, f[SR_F_PRICE], "not a number:");
        out->has_price = true;
    }
    return SR_OK;
}

static sr_err_t parse_diginetica(sr_csv_reader_t *r, const sr_str_t *f, sr_event_t *out,
                                 char *errstr, size_t errstr_size) {
    int64_t timeframe_ms, days;
    if (f[DG_F_SESSION].len == 0)
        return missing_value(r, errstr, errstr_size, DG_F_SESSION);
    if (f[DG_F_USER].len == 0)
        return missing_value(r, errstr, errstr_size, DG_F_USER);
    if (f[DG_F_ITEM].len == 0)
        return missing_value(r, errstr, errstr_size, DG_F_ITEM);
    if (!parse_int64(f[DG_F_TIMEFRAME].ptr, f[DG_F_TIMEFRAME].len, &timeframe_ms) ||
        timeframe_ms < 0)
        return bad_value(r, errstr, errstr_size, DG_F_TIMEFRAME, f[DG_F_TIMEFRAME],
                         "not a non-negative integer:");
    if (!parse_date(f[DG_F_DATE].ptr, f[DG_F_DATE].len, &days))
        return bad_value(r, errstr, errstr_size, DG_F_DATE, f[DG_F_DATE],
                         "not a YYYY-MM-DD date:");
    if (days > 0 && timeframe_ms > INT64_MAX - days * MS_PER_DAY)
        return bad_value(r, errstr, errstr_size, DG_F_TIMEFRAME, f[DG_F_TIMEFRAME],
                         "out of range:");
    out->ts_ms = days * MS_PER_DAY + timeframe_ms;

    if (str_eq(f[DG_F_USER], "NA")) {
        /* Anonymous session: the session is the user. The 's' keeps these
         * apart from the numeric ids of logged-in users. */
        size_t need = f[DG_F_SESSION].len + 2;
        if (need > r->user_id_cap) {
            char *bigger = realloc(r->user_id, need);
            if (!bigger)
                return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
            r->user_id = bigger;
            r->user_id_cap = need;
        }
        r->user_id[0] = 's';
        memcpy(r->user_id + 1, f[DG_F_SESSION].ptr, f[DG_F_SESSION].len);
        r->user_id[need - 1] = '\0';
        out->user_id.ptr = r->user_id;
        out->user_id.len = need - 1;
    } else {
        out->user_id = f[DG_F_USER];
    }
    out->item_id = f[DG_F_ITEM];
    out->session_id = f[DG_F_SESSION];
    out->type = SR_EVENT_VIEW;
    return SR_OK;
}

static sr_err_t parse_movielens(sr_csv_reader_t *r, const sr_str_t *f, sr_event_t *out,
                                char *errstr, size_t errstr_size) {
    double rating;
    int64_t ts_s;
    if (f[ML_F_USER].len == 0)
        return missing_value(r, errstr, errstr_size, ML_F_USER);
    if (f[ML_F_MOVIE].len == 0)
        return missing_value(r, errstr, errstr_size, ML_F_MOVIE);
    if (!parse_double(f[ML_F_RATING].ptr, f[ML_F_RATING].len, &rating))
        return bad_value(r, errstr, errstr_size, ML_F_RATING, f[ML_F_RATING], "not a number:");
    if (!parse_int64(f[ML_F_TIMESTAMP].ptr, f[ML_F_TIMESTAMP].len, &ts_s) ||
        ts_s > INT64_MAX / 1000 || ts_s < INT64_MIN / 1000)
        return bad_value(r, errstr, errstr_size, ML_F_TIMESTAMP, f[ML_F_TIMESTAMP],
                         "not an integer in range:");
    out->ts_ms = ts_s * 1000;
    out->user_id = f[ML_F_USER];
    out->item_id = f[ML_F_MOVIE];
    out->type = rating >= MOVIELENS_POSITIVE_RATING ? SR_EVENT_PURCHASE : SR_EVENT_VIEW;
    const genre_entry_t *movie = genre_find(&r->genres, f[ML_F_MOVIE].ptr, f[ML_F_MOVIE].len);
    if (movie)
        out->category_id = movie->genre;
    return SR_OK;
}

/* Splits the (NUL-terminated) line in place: separators become NULs, so
 * each field is a C string too, which strtod needs. */
static sr_err_t parse_line(sr_csv_reader_t *r, char *line, size_t len, sr_event_t *out,
                           char *errstr, size_t errstr_size) {
    const format_spec_t *spec = r->spec;
    sr_str_t fields[MAX_FIELDS];
    size_t n_fields = 0, start = 0;

    /* A NUL would cut the C-string view of a field short and slip garbage
     * past the number parsers. */
    if (memchr(line, '\0', len))
        return bad_line(r, errstr, errstr_size, "NUL byte in line");
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != spec->separator)
            continue;
        if (n_fields < MAX_FIELDS) {
            fields[n_fields].ptr = line + start;
            fields[n_fields].len = i - start;
        }
        n_fields++;
        line[i] = '\0';
        start = i + 1;
    }
    if (n_fields != spec->n_fields)
        return bad_line(r, errstr, errstr_size, "expected %zu '%c'-separated fields, got %zu",
                        spec->n_fields, spec->separator, n_fields);

    memset(out, 0, sizeof *out);
    snprintf(r->event_id, r->event_id_cap, "%s:%zu", r->file_name, r->line_no);
    out->event_id = sr_str_c(r->event_id);
    switch (r->format) {
    case SR_CSV_STREAMREC:
        return parse_streamrec(r, fields, out, errstr, errstr_size);
    case SR_CSV_DIGINETICA:
        return parse_diginetica(r, fields, out, errstr, errstr_size);
    case SR_CSV_MOVIELENS:
        return parse_movielens(r, fields, out, errstr, errstr_size);
    }
    return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "unknown format");
}

/* Reads one physical line into r->line without its line end. Returns the
 * length, or -1 with *err set (SR_ERR_EOF at the end). */
static ssize_t read_line(sr_csv_reader_t *r, sr_err_t *err, char *errstr, size_t errstr_size) {
    errno = 0;
    ssize_t n = getline(&r->line, &r->line_cap, r->file);
    if (n < 0) {
        if (ferror(r->file))
            *err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s:%zu: read error: %s", r->path,
                             r->line_no + 1, strerror(errno ? errno : EIO));
        else if (errno == ENOMEM || errno == EOVERFLOW)
            *err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size,
                             "%s:%zu: line too long to buffer", r->path, r->line_no + 1);
        else
            *err = sr_seterr(SR_ERR_EOF, errstr, errstr_size, "%s: end of file", r->path);
        return -1;
    }
    r->line_no++;
    return (ssize_t)strip_line_end(r->line, (size_t)n);
}

sr_csv_reader_t *sr_csv_reader_open(const char *path, sr_csv_format_t format, char *errstr,
                                    size_t errstr_size) {
    sr_csv_reader_t *r = NULL;
    sr_err_t err = SR_OK;
    const char *slash, *header;
    ssize_t len;
    if (!path || (unsigned)format >= N_FORMATS) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "csv reader: no path or unknown format");
        goto fail;
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path)))
        goto nomem;
    r->format = format;
    r->spec = &format_specs[format];
    slash = strrchr(r->path, '/');
    r->file_name = slash ? slash + 1 : r->path;
    r->event_id_cap = strlen(r->file_name) + 2 + 20 + 1; /* name ':' SIZE_MAX-digits NUL */
    if (!(r->event_id = malloc(r->event_id_cap)))
        goto nomem;

    r->file = fopen(path, "r");
    if (!r->file) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    len = read_line(r, &err, errstr, errstr_size);
    if (len < 0) {
        if (err == SR_ERR_EOF)
            sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size, "%s: empty file, expected header '%s'",
                      path, r->spec->header);
        goto fail;
    }
    header = r->line;
    /* Spreadsheet exports often start with a UTF-8 byte order mark. */
    if (len >= 3 && memcmp(header, "\xEF\xBB\xBF", 3) == 0)
        header += 3;
    if (strcmp(header, r->spec->header) != 0) {
        sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                  "%s:1: unexpected header '%.*s%s', expected '%s' (format %s)", path,
                  SHOWN_VALUE_MAX * 2, header, strlen(header) > SHOWN_VALUE_MAX * 2 ? "..." : "",
                  r->spec->header, r->spec->name);
        goto fail;
    }
    if (format == SR_CSV_MOVIELENS &&
        genre_table_load(&r->genres, path, errstr, errstr_size) != SR_OK)
        goto fail;
    return r;

nomem:
    sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    sr_csv_reader_close(r);
    return NULL;
}

sr_err_t sr_csv_reader_next(sr_csv_reader_t *r, sr_event_t *out, char *errstr,
                            size_t errstr_size) {
    if (!r || !out)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "csv reader: NULL argument");
    for (;;) {
        sr_err_t err = SR_OK;
        ssize_t len = read_line(r, &err, errstr, errstr_size);
        if (len < 0)
            return err;
        if (len == 0)
            continue; /* blank line: no event, nothing to report */
        return parse_line(r, r->line, (size_t)len, out, errstr, errstr_size);
    }
}

size_t sr_csv_reader_line(const sr_csv_reader_t *r) {
    return r ? r->line_no : 0;
}

void sr_csv_reader_close(sr_csv_reader_t *r) {
    if (!r)
        return;
    if (r->file)
        fclose(r->file);
    genre_table_free(&r->genres);
    free(r->user_id);
    free(r->event_id);
    free(r->line);
    free(r->path);
    free(r);
}

/* ---- writer --------------------------------------------------------------- */

void sr_csv_write_header(FILE *out) {
    fputs(format_specs[SR_CSV_STREAMREC].header, out);
    fputc('\n', out);
}

/* The format has no quoting, so a separator or line end inside a value
 * would shift every later field on read-back. */
static bool is_writable(sr_str_t s) {
    if (s.len == 0)
        return true;
    if (!s.ptr)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == ',' || c == '\n' || c == '\r' || c == '\0')
            return false;
    }
    return true;
}

/* %.17g always reads back to the same double but prints 9.99 as
 * 9.9900000000000002; the shortest of 15..17 digits that round-trips keeps
 * files readable and exact. */
static void format_price(double price, char *buf, size_t size) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, price);
        if (strtod(buf, NULL) == price)
            return;
    }
}

static bool put_str(FILE *out, sr_str_t s) {
    return s.len == 0 || fwrite(s.ptr, 1, s.len, out) == s.len;
}

sr_err_t sr_csv_write_event(FILE *out, const sr_event_t *ev) {
    char price[40] = "";
    if (!out || !ev)
        return SR_ERR_INVALID;
    if (ev->user_id.len == 0 || (unsigned)ev->type >= SR_EVENT__COUNT)
        return SR_ERR_INVALID;
    if (!is_writable(ev->user_id) || !is_writable(ev->item_id) ||
        !is_writable(ev->session_id) || !is_writable(ev->category_id))
        return SR_ERR_INVALID;
    if (ev->has_price) {
        if (!isfinite(ev->price))
            return SR_ERR_INVALID;
        format_price(ev->price, price, sizeof price);
    }
    bool ok = fprintf(out, "%" PRId64 ",", ev->ts_ms) > 0;
    ok = ok && put_str(out, ev->user_id) && fputc(',', out) != EOF;
    ok = ok && put_str(out, ev->item_id);
    ok = ok && fprintf(out, ",%s,", sr_event_type_name(ev->type)) > 0;
    ok = ok && put_str(out, ev->session_id) && fputc(',', out) != EOF;
    ok = ok && put_str(out, ev->category_id);
    ok = ok && fprintf(out, ",%s\n", price) > 0;
    return ok ? SR_OK : SR_ERR_IO;
}
