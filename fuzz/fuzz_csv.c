/* Fuzz target: the three CSV readers on arbitrary file contents.
 *
 * The readers open a path, so each input is written to a file in a private
 * directory under $TMPDIR (or /tmp). The first byte picks the format; for
 * movielens, whatever follows a line "--movies.csv--" becomes movies.csv
 * next to the ratings file, so the genre table parser is fuzzed too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamrec/csv_reader.h"

static char dir[512], ratings_path[600], movies_path[600];

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sr-fuzz-csv-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz_csv: mkdtemp");
        abort();
    }
    snprintf(ratings_path, sizeof ratings_path, "%s/ratings.csv", dir);
    snprintf(movies_path, sizeof movies_path, "%s/movies.csv", dir);
}

static void write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz_csv: write");
        abort();
    }
}

static size_t touch(sr_str_t s) {
    size_t sum = 0;
    for (size_t i = 0; i < s.len; i++) sum += (unsigned char)s.ptr[i];
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0])
        setup();
    if (size == 0)
        return 0;
    sr_csv_format_t format = (sr_csv_format_t)(data[0] % 3);
    data++, size--;

    static const char sep[] = "\n--movies.csv--\n";
    const uint8_t *movies = memmem(data, size, sep, sizeof sep - 1);
    unlink(movies_path);
    if (format == SR_CSV_MOVIELENS && movies) {
        size_t head = (size_t)(movies - data) + 1; /* keep the newline */
        const uint8_t *rest = movies + sizeof sep - 1;
        write_file(movies_path, rest, size - (size_t)(rest - data));
        size = head;
    }
    write_file(ratings_path, data, size);

    char errstr[512];
    sr_csv_reader_t *r = sr_csv_reader_open(ratings_path, format, errstr, sizeof errstr);
    if (!r)
        return 0;
    for (;;) {
        sr_event_t ev;
        sr_err_t err = sr_csv_reader_next(r, &ev, errstr, sizeof errstr);
        if (err == SR_ERR_BAD_FIELD)
            continue;
        if (err != SR_OK)
            break;
        volatile size_t sink = touch(ev.event_id) + touch(ev.user_id) + touch(ev.item_id) +
                               touch(ev.session_id) + touch(ev.category_id);
        (void)sink;
        if (ev.user_id.len == 0 || (unsigned)ev.type >= SR_EVENT__COUNT) {
            fprintf(stderr, "fuzz_csv: reader returned an invalid event\n");
            abort();
        }
    }
    sr_csv_reader_close(r);
    return 0;
}
