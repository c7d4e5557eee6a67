/* streamrec inspect: the header, a user and an item as text, and a digest
 * that compares states. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/cli.h"
#include "streamrec/checkpoint.h"
#include "streamrec/synth.h"

typedef struct fixture {
    char dir[64];
    sr_checkpoint_config_t cfg;
    sr_engine_t *engine;
} fixture_t;

static void feed(sr_engine_t *e, size_t events) {
    sr_synth_config_t sc;
    sr_synth_config_defaults(&sc);
    sc.users = 60;
    sc.items = 80;
    sc.days = 20;
    char errstr[256];
    sr_synth_t *s = sr_synth_new(&sc, errstr, sizeof errstr);
    assert_non_null(s);
    sr_event_t ev;
    for (size_t k = 0; k < events && sr_synth_next(s, &ev); k++)
        assert_int_equal(sr_engine_apply(e, &ev, errstr, sizeof errstr), SR_OK);
    sr_synth_destroy(s);
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sr-inspect-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    sr_checkpoint_config_defaults(&f->cfg);
    f->cfg.dir = f->dir;
    sr_engine_config_t ecfg;
    sr_engine_config_defaults(&ecfg);
    f->engine = sr_engine_new(&ecfg, NULL, 0);
    feed(f->engine, 3000);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL)
        if (ent->d_name[0] != '.')
            unlinkat(dirfd(d), ent->d_name, 0);
    if (d)
        closedir(d);
    rmdir(f->dir);
    sr_engine_destroy(f->engine);
    free(f);
    return 0;
}

static void save(fixture_t *f, int64_t offset, char *path) {
    sr_checkpoint_position_t pos[] = {{"clicks", 0, offset}, {"clicks", 1, 7}};
    sr_checkpoint_meta_t meta = {pos, 2, "ab", 2, 0};
    char errstr[512];
    if (sr_checkpoint_save(&f->cfg, &meta, f->engine, path, errstr, sizeof errstr) != SR_OK)
        fail_msg("save: %s", errstr);
}

/* Runs `streamrec inspect ARGS...` and returns what it printed on stdout
 * and stderr (caller frees both). */
typedef struct run {
    int rc;
    char *out, *err;
} run_t;

static char *slurp(FILE *f) {
    fflush(f);
    long len = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)len + 1);
    if (len > 0 && fread(s, 1, (size_t)len, f) != (size_t)len)
        fail_msg("reading captured output");
    fclose(f);
    return s;
}

static run_t inspect(int argc, const char *const *args) {
    char *argv[8];
    argv[0] = "inspect";
    for (int a = 0; a < argc; a++) argv[a + 1] = (char *)args[a];
    argv[argc + 1] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    run_t r;
    r.rc = sr_cmd_inspect(argc + 1, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    fseek(out, 0, SEEK_END);
    fseek(err, 0, SEEK_END);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static void run_free(run_t *r) {
    free(r->out);
    free(r->err);
}

/* The value of a "name   value" line. */
static const char *line_value(const char *text, const char *name, char *buf, size_t size) {
    size_t n = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, n) == 0 && line[n] == ' ') {
            const char *v = line + n;
            while (*v == ' ') v++;
            size_t len = strcspn(v, "\n");
            snprintf(buf, size, "%.*s", (int)len, v);
            return buf;
        }
    }
    fail_msg("no '%s' line in:\n%s", name, text);
    return NULL;
}

static void test_inspect_header_counts_and_digest(void **state) {
    fixture_t *f = *state;
    char path[SR_CHECKPOINT_PATH_MAX], v[256];
    save(f, 42, path);
    run_t r = inspect(1, (const char *[]){path});
    assert_int_equal(r.rc, 0);
    assert_string_equal(line_value(r.out, "checkpoint", v, sizeof v), path);
    assert_string_equal(line_value(r.out, "seq", v, sizeof v), "1");
    char format[64];
    snprintf(format, sizeof format, "checkpoint 1, engine state %d", SR_ENGINE_STATE_VERSION);
    assert_string_equal(line_value(r.out, "format", v, sizeof v), format);
    assert_non_null(strstr(r.out, "\n  clicks [0] next offset 42\n"));
    assert_non_null(strstr(r.out, "\n  clicks [1] next offset 7\n"));
    assert_string_equal(line_value(r.out, "app data", v, sizeof v), "2 bytes");
    sr_engine_stats_t st;
    sr_engine_stats(f->engine, &st);
    char want[64];
    snprintf(want, sizeof want, "%zu", st.users);
    assert_string_equal(line_value(r.out, "users", v, sizeof v), want);
    snprintf(want, sizeof want, "%zu", st.items);
    assert_string_equal(line_value(r.out, "items", v, sizeof v), want);
    snprintf(want, sizeof want, "%zu", sr_engine_categories(f->engine));
    assert_string_equal(line_value(r.out, "categories", v, sizeof v), want);
    snprintf(want, sizeof want, "%" PRIu64 " (", st.events);
    assert_true(strncmp(line_value(r.out, "events", v, sizeof v), want, strlen(want)) == 0);
    snprintf(want, sizeof want, "(%" PRId64 ", time.lateness.ms 5000)", st.watermark_ms);
    assert_non_null(strstr(line_value(r.out, "watermark", v, sizeof v), want));
    snprintf(want, sizeof want, "(%" PRId64 ")", st.watermark_ms + 5000);
    assert_non_null(strstr(line_value(r.out, "newest event", v, sizeof v), want));
    snprintf(want, sizeof want, "%016" PRIx64, sr_engine_digest(f->engine));
    assert_string_equal(line_value(r.out, "digest", v, sizeof v), want);
    snprintf(want, sizeof want, "%016" PRIx64,
             sr_engine_config_fingerprint(sr_engine_config(f->engine)));
    assert_true(strncmp(line_value(r.out, "fingerprint", v, sizeof v), want, 16) == 0);
    assert_string_equal(r.err, "");
    run_free(&r);
}

/* Equal state, different header (time, seq, positions): equal digests. */
static void test_inspect_digest_compares_states_not_files(void **state) {
    fixture_t *f = *state;
    char a[SR_CHECKPOINT_PATH_MAX], b[SR_CHECKPOINT_PATH_MAX], c[SR_CHECKPOINT_PATH_MAX];
    save(f, 1, a);
    save(f, 2, b);
    feed(f->engine, 1); /* one event more */
    save(f, 3, c);
    char da[64], db[64], dc[64];
    run_t ra = inspect(1, (const char *[]){a}), rb = inspect(1, (const char *[]){b}),
          rc = inspect(1, (const char *[]){c});
    line_value(ra.out, "digest", da, sizeof da);
    line_value(rb.out, "digest", db, sizeof db);
    line_value(rc.out, "digest", dc, sizeof dc);
    assert_string_equal(da, db);
    assert_string_not_equal(da, dc);
    run_free(&ra);
    run_free(&rb);
    run_free(&rc);
}

static void test_inspect_user_shows_profile_with_item_ids(void **state) {
    fixture_t *f = *state;
    char path[SR_CHECKPOINT_PATH_MAX], v[256];
    save(f, 0, path);
    /* a user with a purchase, so every part of the profile is there */
    const char *user = NULL;
    const sr_profile_t *p = NULL;
    for (uint32_t u = 0; u < sr_engine_user_slots(f->engine) && !user; u++) {
        p = sr_engine_profile(f->engine, u);
        if (p->purchased_len > 0 && p->recent_len > 1)
            user = sr_engine_user_id(f->engine, u);
    }
    assert_non_null(user);
    run_t r = inspect(3, (const char *[]){path, "--user", user});
    assert_int_equal(r.rc, 0);
    assert_true(strncmp(line_value(r.out, "user", v, sizeof v), user, strlen(user)) == 0);
    char want[128];
    snprintf(want, sizeof want, "%" PRIu32 " (view %u,", p->events, p->counts[SR_EVENT_VIEW]);
    assert_true(strncmp(line_value(r.out, "user events", v, sizeof v), want, strlen(want)) == 0);
    uint32_t items[SR_PROFILE_RECENT_MAX];
    size_t n = sr_profile_recent(p, items, NULL, SR_PROFILE_RECENT_MAX);
    for (size_t k = 0; k < n; k++) {
        snprintf(want, sizeof want, "\n  %s 20", sr_engine_item_id(f->engine, items[k]));
        assert_non_null(strstr(r.out, want));
    }
    snprintf(want, sizeof want, "%s", sr_engine_item_id(f->engine, p->purchased[0]));
    assert_non_null(strstr(line_value(r.out, "purchased", v, sizeof v), want));
    assert_true(strtod(line_value(r.out, "mf norm", v, sizeof v), NULL) > 0);
    assert_non_null(strstr(r.out, "\nchurn risk   "));
    assert_non_null(strstr(r.out, "\nchurn alert  "));
    run_free(&r);

    r = inspect(3, (const char *[]){path, "--user", "nobody-like-this"});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "no user 'nobody-like-this'"));
    run_free(&r);
}

static void test_inspect_item_shows_neighbours_trending_and_bias(void **state) {
    fixture_t *f = *state;
    char path[SR_CHECKPOINT_PATH_MAX], v[256];
    save(f, 0, path);
    sr_neighbour_t top[1];
    assert_int_equal(sr_trending_top(sr_engine_trending(f->engine), top, 1), 1);
    const char *item = sr_engine_item_id(f->engine, top[0].item);
    run_t r = inspect(3, (const char *[]){path, "--item", item});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(line_value(r.out, "trending", v, sizeof v), "(rank 1 of"));
    char want[128];
    snprintf(want, sizeof want, "%.6f", (double)sr_mf_item_bias(sr_engine_mf(f->engine), top[0].item));
    assert_string_equal(line_value(r.out, "mf bias", v, sizeof v), want);
    sr_neighbour_t nb[SR_SIM_SLOTS];
    size_t n = sr_sim_neighbours(sr_engine_sim(f->engine), top[0].item, nb, 20);
    assert_true(n > 0);
    snprintf(want, sizeof want, "%zu", n);
    assert_string_equal(line_value(r.out, "neighbours", v, sizeof v), want);
    for (size_t k = 0; k < n; k++) {
        snprintf(want, sizeof want, "\n  %s %.6f\n", sr_engine_item_id(f->engine, nb[k].item),
                 (double)nb[k].score);
        assert_non_null(strstr(r.out, want));
    }
    run_free(&r);
}

static void test_inspect_directory_reads_the_newest_valid_and_reports_damage(void **state) {
    fixture_t *f = *state;
    char first[SR_CHECKPOINT_PATH_MAX], second[SR_CHECKPOINT_PATH_MAX], v[256];
    save(f, 0, first);
    save(f, 0, second);
    run_t r = inspect(1, (const char *[]){f->dir});
    assert_int_equal(r.rc, 0);
    assert_string_equal(line_value(r.out, "checkpoint", v, sizeof v), second);
    run_free(&r);

    /* damage the newest: the directory falls back, the file alone fails */
    int fd = open(second, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, st.st_size / 2), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, st.st_size / 2), 1);
    close(fd);
    r = inspect(1, (const char *[]){f->dir});
    assert_int_equal(r.rc, 0);
    assert_string_equal(line_value(r.out, "checkpoint", v, sizeof v), first);
    assert_non_null(strstr(r.err, "skipped a damaged checkpoint"));
    assert_non_null(strstr(r.err, second));
    run_free(&r);
    r = inspect(1, (const char *[]){second});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "checksum mismatch"));
    run_free(&r);
}

/* The daemon's configuration: its lateness places the watermark, and a
 * configuration of another shape is refused. */
static void test_inspect_with_the_daemon_config(void **state) {
    fixture_t *f = *state;
    char path[SR_CHECKPOINT_PATH_MAX], v[256], want[128];
    save(f, 0, path);
    sr_engine_stats_t st;
    sr_engine_stats(f->engine, &st);
    run_t r = inspect(3, (const char *[]){"-X", "time.lateness.ms=60000", path});
    assert_int_equal(r.rc, 0);
    snprintf(want, sizeof want, "(%" PRId64 ", time.lateness.ms 60000)",
             st.watermark_ms + 5000 - 60000);
    assert_non_null(strstr(line_value(r.out, "watermark", v, sizeof v), want));
    run_free(&r);
    r = inspect(3, (const char *[]){"-X", "mf.k=16", path});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "config fingerprint mismatch"));
    assert_non_null(strstr(r.err, "mf.k 32 there, 16 here"));
    run_free(&r);
}

static void test_inspect_usage_errors(void **state) {
    fixture_t *f = *state;
    run_t r = inspect(0, (const char *[]){NULL});
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = inspect(5, (const char *[]){f->dir, "--user", "a", "--item", "b"});
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = inspect(1, (const char *[]){"/nonexistent/checkpoint-1.ckpt"});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "/nonexistent/checkpoint-1.ckpt"));
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inspect_header_counts_and_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect_digest_compares_states_not_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inspect_user_shows_profile_with_item_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inspect_item_shows_neighbours_trending_and_bias,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inspect_directory_reads_the_newest_valid_and_reports_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect_with_the_daemon_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect_usage_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
