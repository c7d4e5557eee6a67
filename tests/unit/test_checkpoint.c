/* Checkpoint files: atomic writes, keep N, fallback past damaged files, a
 * full disk, and a write from a forked child that allocates nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "streamrec/checkpoint.h"
#include "streamrec/synth.h"

/* ---- counting our own code's allocations --------------------------------
 *
 * The test is linked with --wrap for these four (tests/CMakeLists.txt), so
 * every call from streamrec's code (and this file) comes through here. */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);

static volatile int counting;
static volatile long allocations;

void *__wrap_malloc(size_t size) {
    if (counting)
        allocations++;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
    if (counting)
        allocations++;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
    if (counting)
        allocations++;
    return __real_realloc(p, size);
}
void __wrap_free(void *p) {
    if (counting && p)
        allocations++;
    __real_free(p);
}

/* ---- fixtures ----------------------------------------------------------- */

static sr_engine_config_t engine_config(void) {
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.mf.k = 16;
    return cfg;
}

/* An engine fed `events` events of a small synthetic stream from `skip` on. */
static void feed(sr_engine_t *e, uint32_t users, size_t skip, size_t events) {
    sr_synth_config_t sc;
    sr_synth_config_defaults(&sc);
    sc.users = users;
    sc.items = 200;
    sc.days = 20;
    char errstr[256];
    sr_synth_t *s = sr_synth_new(&sc, errstr, sizeof errstr);
    assert_non_null(s);
    sr_event_t ev;
    for (size_t k = 0; k < skip + events && sr_synth_next(s, &ev); k++)
        if (k >= skip)
            assert_int_equal(sr_engine_apply(e, &ev, errstr, sizeof errstr), SR_OK);
    sr_synth_destroy(s);
}

static sr_engine_t *new_engine(void) {
    sr_engine_config_t cfg = engine_config();
    char errstr[256];
    sr_engine_t *e = sr_engine_new(&cfg, errstr, sizeof errstr);
    assert_non_null(e);
    return e;
}

typedef struct fixture {
    char dir[64];
    sr_checkpoint_config_t cfg;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sr-ckpt-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    sr_checkpoint_config_defaults(&f->cfg);
    f->cfg.dir = f->dir;
    *state = f;
    return 0;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        if (strcmp(ent->d_name, ".") && strcmp(ent->d_name, ".."))
            unlinkat(dirfd(d), ent->d_name, 0);
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state) {
    fixture_t *f = *state;
    remove_tree(f->dir);
    free(f);
    return 0;
}

static const sr_checkpoint_position_t positions[] = {
    {"clicks", 0, 1234}, {"clicks", 1, 0}, {"clicks.eu", 7, 99999999999LL}};
static const char app_blob[] = "user->partition map\0with a NUL inside";

static sr_checkpoint_meta_t meta(void) {
    sr_checkpoint_meta_t m = {positions, 3, app_blob, sizeof app_blob, 0};
    return m;
}

static void save_ok(const fixture_t *f, const sr_engine_t *e, char *path) {
    sr_checkpoint_meta_t m = meta();
    char errstr[512] = "";
    if (sr_checkpoint_save(&f->cfg, &m, e, path, errstr, sizeof errstr) != SR_OK)
        fail_msg("save: %s", errstr);
}

static size_t count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    size_t n = 0, slen = strlen(suffix);
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (len > slen && strcmp(ent->d_name + len - slen, suffix) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static bool exists(const fixture_t *f, uint64_t seq) {
    char path[256];
    snprintf(path, sizeof path, "%s/checkpoint-%012llu.ckpt", f->dir, (unsigned long long)seq);
    return access(path, F_OK) == 0;
}

typedef struct skips {
    int n;
    char path[8][512];
    char reason[8][1024];
    sr_err_t err[8];
} skips_t;

static void on_skip(void *opaque, const char *path, sr_err_t err, const char *reason) {
    skips_t *s = opaque;
    if (s->n < 8) {
        snprintf(s->path[s->n], sizeof s->path[0], "%s", path);
        snprintf(s->reason[s->n], sizeof s->reason[0], "%s", reason);
        s->err[s->n] = err;
    }
    s->n++;
}

static sr_checkpoint_t *load_latest_ok(const fixture_t *f, skips_t *skips) {
    sr_engine_config_t ecfg = engine_config();
    sr_checkpoint_t *c = NULL;
    char errstr[1024] = "";
    if (sr_checkpoint_load_latest(&f->cfg, &ecfg, on_skip, skips, &c, errstr, sizeof errstr) !=
        SR_OK)
        fail_msg("load_latest: %s", errstr);
    assert_non_null(c);
    return c;
}

static void flip_byte(const char *path, long at) {
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    fstat(fd, &st);
    if (at < 0)
        at += st.st_size;
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x04;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/* ---- tests -------------------------------------------------------------- */

static void test_checkpoint_round_trip_and_keep_newest_n(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    uint64_t digests[6] = {0};
    char path[SR_CHECKPOINT_PATH_MAX];
    for (int k = 1; k <= 5; k++) {
        feed(e, 80, (size_t)(k - 1) * 500, 500);
        save_ok(f, e, path);
        digests[k] = sr_engine_digest(e);
        assert_non_null(strstr(path, "checkpoint-00000000000"));
    }
    assert_false(exists(f, 1));
    assert_false(exists(f, 2));
    assert_true(exists(f, 3) && exists(f, 4) && exists(f, 5));
    assert_int_equal(count_files(f->dir, ".tmp"), 0);

    skips_t skips = {0};
    sr_checkpoint_t *c = load_latest_ok(f, &skips);
    assert_int_equal(skips.n, 0);
    const sr_checkpoint_info_t *info = sr_checkpoint_info(c);
    assert_int_equal(info->seq, 5);
    assert_int_equal(info->version, SR_CHECKPOINT_VERSION);
    assert_int_equal(info->fingerprint, sr_engine_config_fingerprint(sr_engine_config(e)));
    assert_true(info->created_ms > 1700000000000LL);
    assert_int_equal(info->n_positions, 3);
    for (int p = 0; p < 3; p++) {
        assert_string_equal(info->positions[p].topic, positions[p].topic);
        assert_int_equal(info->positions[p].partition, positions[p].partition);
        assert_int_equal(info->positions[p].next_offset, positions[p].next_offset);
    }
    assert_int_equal(info->app_len, sizeof app_blob);
    assert_memory_equal(info->app, app_blob, sizeof app_blob);
    assert_int_equal(info->state_digest, digests[5]);
    assert_int_equal(sr_engine_digest(sr_checkpoint_engine(c)), digests[5]);
    struct stat st;
    stat(info->path, &st);
    assert_int_equal(info->file_bytes, (uint64_t)st.st_size);
    sr_engine_t *taken = sr_checkpoint_take_engine(c);
    assert_null(sr_checkpoint_engine(c));
    sr_checkpoint_destroy(c);
    sr_engine_destroy(taken);
    sr_engine_destroy(e);
}

static void test_checkpoint_damaged_newest_falls_back_and_says_so(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    uint64_t digests[4];
    char paths[4][SR_CHECKPOINT_PATH_MAX];
    for (int k = 1; k <= 3; k++) {
        feed(e, 80, (size_t)(k - 1) * 500, 500);
        save_ok(f, e, paths[k]);
        digests[k] = sr_engine_digest(e);
    }
    /* newest: one flipped bit in the middle of the state */
    struct stat st;
    stat(paths[3], &st);
    flip_byte(paths[3], (long)st.st_size / 2);
    skips_t skips = {0};
    sr_checkpoint_t *c = load_latest_ok(f, &skips);
    assert_int_equal(sr_checkpoint_info(c)->seq, 2);
    assert_int_equal(sr_engine_digest(sr_checkpoint_engine(c)), digests[2]);
    assert_int_equal(skips.n, 1);
    assert_string_equal(skips.path[0], paths[3]);
    assert_int_equal(skips.err[0], SR_ERR_CORRUPT);
    assert_non_null(strstr(skips.reason[0], paths[3]));
    assert_non_null(strstr(skips.reason[0], "checksum mismatch"));
    sr_checkpoint_destroy(c);

    /* the one before: cut in half */
    assert_int_equal(truncate(paths[2], (off_t)st.st_size / 2), 0);
    memset(&skips, 0, sizeof skips);
    c = load_latest_ok(f, &skips);
    assert_int_equal(sr_checkpoint_info(c)->seq, 1);
    assert_int_equal(sr_engine_digest(sr_checkpoint_engine(c)), digests[1]);
    assert_int_equal(skips.n, 2);
    assert_int_equal(skips.err[1], SR_ERR_TRUNCATED);
    assert_non_null(strstr(skips.reason[1], "cut short"));
    sr_checkpoint_destroy(c);

    /* a header byte (the creation time): only the checksum can tell */
    flip_byte(paths[1], 30);
    sr_engine_config_t ecfg = engine_config();
    char errstr[2048];
    memset(&skips, 0, sizeof skips);
    assert_int_equal(sr_checkpoint_load_latest(&f->cfg, &ecfg, on_skip, &skips, &c, errstr,
                                               sizeof errstr),
                     SR_ERR_CORRUPT);
    assert_null(c);
    assert_int_equal(skips.n, 3);
    assert_non_null(strstr(errstr, "no valid checkpoint"));
    /* a file of a few bytes is short, not a crash */
    assert_int_equal(truncate(paths[1], 5), 0);
    assert_int_equal(sr_checkpoint_load(paths[1], &ecfg, &c, errstr, sizeof errstr),
                     SR_ERR_TRUNCATED);
    sr_engine_destroy(e);
}

static void test_checkpoint_empty_directory_is_a_first_start(void **state) {
    fixture_t *f = *state;
    sr_checkpoint_config_t cfg = f->cfg;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/not-there", f->dir);
    cfg.dir = missing;
    sr_checkpoint_t *c = (sr_checkpoint_t *)1;
    char errstr[256];
    assert_int_equal(sr_checkpoint_load_latest(&cfg, NULL, NULL, NULL, &c, errstr, sizeof errstr),
                     SR_OK);
    assert_null(c);
    assert_int_equal(sr_checkpoint_load_latest(&f->cfg, NULL, NULL, NULL, &c, errstr,
                                               sizeof errstr),
                     SR_OK);
    assert_null(c);
}

static void test_checkpoint_of_another_config_stops_the_load(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    feed(e, 50, 0, 300);
    save_ok(f, e, NULL);
    sr_engine_config_t other = engine_config();
    other.mf.k = 32;
    skips_t skips = {0};
    sr_checkpoint_t *c = NULL;
    char errstr[1024] = "";
    assert_int_equal(sr_checkpoint_load_latest(&f->cfg, &other, on_skip, &skips, &c, errstr,
                                               sizeof errstr),
                     SR_ERR_CONFIG);
    assert_int_equal(skips.n, 0); /* not "damaged": nothing older is tried */
    assert_non_null(strstr(errstr, "checkpoint-000000000001.ckpt"));
    assert_non_null(strstr(errstr, "config fingerprint mismatch"));
    assert_non_null(strstr(errstr, "mf.k 16 there, 32 here"));
    sr_engine_destroy(e);
}

/* Another format version, in an otherwise intact file (checksum redone). */
static void test_checkpoint_of_another_version_stops_the_load(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    char path[SR_CHECKPOINT_PATH_MAX];
    save_ok(f, e, path);
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    unsigned char *bytes = malloc((size_t)st.st_size);
    assert_int_equal(pread(fd, bytes, (size_t)st.st_size, 0), st.st_size);
    bytes[8] = SR_CHECKPOINT_VERSION + 1;
    uint64_t sum = XXH3_64bits(bytes, (size_t)st.st_size - 8);
    memcpy(bytes + st.st_size - 8, &sum, 8);
    assert_int_equal(pwrite(fd, bytes, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    free(bytes);
    sr_checkpoint_t *c = NULL;
    char errstr[1024] = "";
    sr_engine_config_t ecfg = engine_config();
    assert_int_equal(sr_checkpoint_load_latest(&f->cfg, &ecfg, NULL, NULL, &c, errstr,
                                               sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "format version 2"));
    sr_engine_destroy(e);
}

/* RLIMIT_FSIZE makes write(2) fail part way, as a full disk would: in a
 * child, so the limit and its signal stay there. */
static void test_checkpoint_failed_write_leaves_the_previous_one(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    feed(e, 50, 0, 300);
    save_ok(f, e, NULL);
    uint64_t old_digest = sr_engine_digest(e);
    feed(e, 400, 0, 4000); /* a state far larger than the limit below */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {64 * 1024, 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &lim);
        sr_checkpoint_meta_t m = meta();
        char errstr[512] = "";
        sr_err_t err = sr_checkpoint_save(&f->cfg, &m, e, NULL, errstr, sizeof errstr);
        int status = err == SR_ERR_IO && strstr(errstr, "write failed after") &&
                             strstr(errstr, "EFBIG")
                         ? 0
                         : 1;
        sr_engine_destroy(e); /* under valgrind, a leak would be the child's exit code */
        _exit(status);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_files(f->dir, ".tmp"), 0);
    assert_int_equal(count_files(f->dir, ".ckpt"), 1);
    skips_t skips = {0};
    sr_checkpoint_t *c = load_latest_ok(f, &skips);
    assert_int_equal(skips.n, 0);
    assert_int_equal(sr_checkpoint_info(c)->seq, 1);
    assert_int_equal(sr_engine_digest(sr_checkpoint_engine(c)), old_digest);
    sr_checkpoint_destroy(c);
    sr_engine_destroy(e);
}

/* The child's part of the next test: 0 if all went as it should, 77 if no
 * tmpfs could be mounted. */
static int full_tmpfs_child(const fixture_t *f, const sr_engine_t *small, const sr_engine_t *big) {
    if (unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", f->dir, "tmpfs", 0, "size=256k") != 0)
        return 77;
    sr_checkpoint_meta_t m = meta();
    char errstr[512] = "";
    if (sr_checkpoint_save(&f->cfg, &m, small, NULL, errstr, sizeof errstr) != SR_OK)
        return 2;
    sr_err_t err = sr_checkpoint_save(&f->cfg, &m, big, NULL, errstr, sizeof errstr);
    if (err != SR_ERR_IO || !strstr(errstr, "ENOSPC"))
        return 3;
    if (count_files(f->dir, ".tmp") != 0 || count_files(f->dir, ".ckpt") != 1)
        return 4;
    sr_engine_config_t ecfg = engine_config();
    sr_checkpoint_t *c = NULL;
    int status = 0;
    if (sr_checkpoint_load_latest(&f->cfg, &ecfg, NULL, NULL, &c, errstr, sizeof errstr) != SR_OK ||
        !c || sr_engine_digest(sr_checkpoint_engine(c)) != sr_engine_digest(small))
        status = 5;
    sr_checkpoint_destroy(c);
    return status;
}

/* A real full disk: a 256 KiB tmpfs in a private mount namespace (needs
 * CAP_SYS_ADMIN; skipped without it). The mount dies with the child. */
static void test_checkpoint_on_a_full_tmpfs_leaves_the_previous_one(void **state) {
    fixture_t *f = *state;
    sr_engine_t *small = new_engine(), *big = new_engine();
    feed(small, 30, 0, 200);
    feed(big, 400, 0, 4000);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int status = full_tmpfs_child(f, small, big);
        sr_engine_destroy(small);
        sr_engine_destroy(big);
        _exit(status);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    sr_engine_destroy(small);
    sr_engine_destroy(big);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_checkpoint_to_a_full_device_names_enospc(void **state) {
    (void)state;
    sr_engine_t *e = new_engine();
    feed(e, 50, 0, 300);
    sr_checkpoint_file_t *file = calloc(1, sizeof *file);
    file->fd = open("/dev/full", O_WRONLY);
    if (file->fd < 0) {
        free(file);
        sr_engine_destroy(e);
        skip();
    }
    snprintf(file->tmp_path, sizeof file->tmp_path, "/dev/full");
    sr_checkpoint_meta_t m = meta();
    char errstr[512] = "";
    assert_int_equal(sr_checkpoint_write_file(file, &m, e, errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, "ENOSPC (no space left on device)"));
    close(file->fd);
    free(file);
    sr_engine_destroy(e);
}

/* The daemon's way: the parent opens, a forked child writes (and must not
 * allocate: another thread may hold malloc's lock at the fork), the parent
 * commits. The child counts allocations made by streamrec's code. */
static void test_checkpoint_written_by_a_forked_child_without_allocating(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    feed(e, 120, 0, 2000);
    sr_checkpoint_file_t *file = calloc(1, sizeof *file);
    char errstr[512] = "";
    assert_int_equal(sr_checkpoint_begin(&f->cfg, file, errstr, sizeof errstr), SR_OK);
    sr_checkpoint_meta_t m = meta();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        counting = 1;
        sr_err_t err = sr_checkpoint_write_file(file, &m, e, errstr, sizeof errstr);
        counting = 0;
        int status = err != SR_OK ? 1 : allocations != 0 ? 2 : 0;
        sr_engine_destroy(e);
        free(file);
        _exit(status);
    }
    feed(e, 120, 2000, 100); /* the parent goes on meanwhile */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(sr_checkpoint_commit(&f->cfg, file, errstr, sizeof errstr), SR_OK);
    assert_true(file->committed);

    /* the file holds the state as it was at the fork */
    sr_engine_t *before = new_engine();
    feed(before, 120, 0, 2000);
    skips_t skips = {0};
    sr_checkpoint_t *c = load_latest_ok(f, &skips);
    assert_int_equal(sr_engine_digest(sr_checkpoint_engine(c)), sr_engine_digest(before));
    assert_int_not_equal(sr_engine_digest(e), sr_engine_digest(before));
    sr_checkpoint_destroy(c);
    sr_engine_destroy(before);
    sr_engine_destroy(e);
    free(file);

    /* and in this process too, the write path allocates nothing */
    sr_engine_t *g = new_engine();
    feed(g, 50, 0, 300);
    sr_checkpoint_file_t *again = calloc(1, sizeof *again);
    assert_int_equal(sr_checkpoint_begin(&f->cfg, again, errstr, sizeof errstr), SR_OK);
    allocations = 0;
    counting = 1;
    sr_err_t err = sr_checkpoint_write_file(again, &m, g, errstr, sizeof errstr);
    counting = 0;
    assert_int_equal(err, SR_OK);
    assert_int_equal(allocations, 0);
    sr_checkpoint_abort(again);
    assert_int_equal(count_files(f->dir, ".tmp"), 0);
    free(again);
    sr_engine_destroy(g);
}

static sr_err_t fail_after(void *opaque, const void *p, size_t len) {
    size_t *budget = opaque;
    (void)p;
    if (len > *budget)
        return SR_ERR_IO;
    *budget -= len;
    return SR_OK;
}

static void test_checkpoint_writer_failing_midway_is_an_error(void **state) {
    (void)state;
    sr_engine_t *e = new_engine();
    feed(e, 50, 0, 300);
    sr_checkpoint_meta_t m = meta();
    char errstr[512];
    for (size_t budget0 = 0; budget0 < 200000; budget0 = budget0 * 3 + 7) {
        size_t budget = budget0;
        sr_err_t err = sr_checkpoint_write(fail_after, &budget, 1, &m, e, errstr, sizeof errstr);
        if (err == SR_OK)
            break; /* the whole checkpoint fit */
        assert_int_equal(err, SR_ERR_IO);
    }
    sr_engine_destroy(e);
}

static void test_checkpoint_with_a_bad_position_is_refused_before_writing(void **state) {
    fixture_t *f = *state;
    sr_engine_t *e = new_engine();
    sr_checkpoint_position_t bad[] = {{"", 0, 0}};
    sr_checkpoint_meta_t m = {bad, 1, NULL, 0, 0};
    char errstr[512] = "";
    assert_int_equal(sr_checkpoint_save(&f->cfg, &m, e, NULL, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "topic name"));
    assert_int_equal(count_files(f->dir, ".tmp"), 0);
    assert_int_equal(count_files(f->dir, ".ckpt"), 0);
    sr_engine_destroy(e);
}

static void test_checkpoint_begin_removes_leftover_temporary_files(void **state) {
    fixture_t *f = *state;
    char stale[256];
    snprintf(stale, sizeof stale, "%s/checkpoint-000000000009.ckpt.tmp", f->dir);
    FILE *fp = fopen(stale, "w");
    fputs("half a checkpoint", fp);
    fclose(fp);
    sr_engine_t *e = new_engine();
    char path[SR_CHECKPOINT_PATH_MAX];
    save_ok(f, e, path);
    assert_int_equal(access(stale, F_OK), -1);
    /* numbered past the leftover, so no name is ever reused */
    assert_non_null(strstr(path, "checkpoint-000000000010.ckpt"));
    sr_engine_destroy(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint_round_trip_and_keep_newest_n, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_damaged_newest_falls_back_and_says_so,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_empty_directory_is_a_first_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_of_another_config_stops_the_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_of_another_version_stops_the_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_failed_write_leaves_the_previous_one,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_on_a_full_tmpfs_leaves_the_previous_one,
                                        setup, teardown),
        cmocka_unit_test(test_checkpoint_to_a_full_device_names_enospc),
        cmocka_unit_test_setup_teardown(
            test_checkpoint_written_by_a_forked_child_without_allocating, setup, teardown),
        cmocka_unit_test(test_checkpoint_writer_failing_midway_is_an_error),
        cmocka_unit_test_setup_teardown(
            test_checkpoint_with_a_bad_position_is_refused_before_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_begin_removes_leftover_temporary_files,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
