/* bench_checkpoint: what a checkpoint weighs and what writing and reading
 * one costs.
 *
 * An engine is fed the synthetic stream (synth.h; apply, and a flush every
 * --batch events, so the state has no dirty users to speak of), then:
 *
 *   serialise   sr_engine_save() into a sink that drops the bytes: the CPU
 *               cost of the encoding and its digest alone.
 *   write       sr_checkpoint_save() into --dir: temporary file, write(2),
 *               fsync, rename, directory fsync.
 *   fork        what the daemon would do: fork(), the child writes the
 *               file; the parent's pause is the fork() call itself (page
 *               tables copied), measured in the parent.
 *   load        sr_checkpoint_load() of that file: read, checksum, rebuild
 *               the engine (its digest is compared with the original's).
 *
 * Bytes per user and per item are measured, not derived from the format:
 * --delta new users, each viewing one existing item, are added and the
 * state saved again; the size difference over --delta is the cost of a user
 * (its id included). The same with --delta new items, each viewed once by an
 * existing user (profiles and summaries are fixed-size, so nothing else
 * grows). Times are wall clock (CLOCK_MONOTONIC), one run each: the
 * machine is shared, so run it more than once before quoting.
 *
 * Output: "name value" lines, or with --json one JSON object. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "streamrec/checkpoint.h"
#include "streamrec/clock.h"
#include "streamrec/synth.h"

typedef struct options {
    uint32_t users, items;
    double days, rate;
    int k;
    size_t batch, delta;
    const char *dir;
    bool json;
} options_t;

static sr_err_t count_only(void *opaque, const void *buf, size_t len) {
    (void)buf;
    *(uint64_t *)opaque += len;
    return SR_OK;
}

static uint64_t state_bytes(const sr_engine_t *e) {
    uint64_t n = 0;
    sr_engine_save(e, count_only, &n, NULL, NULL, 0);
    return n;
}

static void die(const char *what, const char *errstr) {
    fprintf(stderr, "bench_checkpoint: %s: %s\n", what, errstr);
    exit(1);
}

static void apply_one(sr_engine_t *e, const char *user, const char *item, int64_t ts_ms) {
    sr_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.user_id = sr_str_c(user);
    ev.item_id = sr_str_c(item);
    ev.type = SR_EVENT_VIEW;
    ev.ts_ms = ts_ms;
    char errstr[256];
    if (sr_engine_apply(e, &ev, errstr, sizeof errstr) != SR_OK)
        die("apply", errstr);
}

static void flush(sr_engine_t *e) {
    const sr_outbox_t *out;
    if (sr_engine_flush(e, &out) != SR_OK)
        die("flush", "failed");
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_checkpoint [--users N] [--items N] [--days D] [--rate R] [--k K]\n"
            "                        [--batch N] [--delta N] [--dir DIR] [--json]\n"
            "defaults: 1,000,000 users x 100,000 items over 4 days at 0.5 sessions/user/day\n"
            "(the engine benchmark's stream), k 32, a flush every 1,000,000 events,\n"
            "10,000 users and items added for the per-user and per-item bytes, --dir a new\n"
            "directory under /tmp (removed at the end).\n");
}

int main(int argc, char **argv) {
    options_t o = {1000000, 100000, 4, 0.5, 32, 1000000, 10000, NULL, false};
    static const struct option long_options[] = {
        {"users", required_argument, NULL, 'u'}, {"items", required_argument, NULL, 'i'},
        {"days", required_argument, NULL, 'd'},  {"rate", required_argument, NULL, 'r'},
        {"k", required_argument, NULL, 'k'},     {"batch", required_argument, NULL, 'b'},
        {"delta", required_argument, NULL, 'D'}, {"dir", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'u': o.users = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'i': o.items = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': o.days = strtod(optarg, NULL); break;
        case 'r': o.rate = strtod(optarg, NULL); break;
        case 'k': o.k = atoi(optarg); break;
        case 'b': o.batch = strtoul(optarg, NULL, 10); break;
        case 'D': o.delta = strtoul(optarg, NULL, 10); break;
        case 'o': o.dir = optarg; break;
        case 'j': o.json = true; break;
        default: usage(); return 2;
        }
    }
    if (o.users < 1 || o.items < 1 || o.batch < 1 || o.delta < 1) {
        usage();
        return 2;
    }
    char tmpdir[] = "/tmp/bench-ckpt-XXXXXX";
    bool own_dir = !o.dir;
    if (own_dir && !(o.dir = mkdtemp(tmpdir)))
        die("mkdtemp", "failed");

    char errstr[1024];
    sr_engine_config_t ecfg;
    sr_engine_config_defaults(&ecfg);
    ecfg.mf.k = o.k;
    sr_engine_t *e = sr_engine_new(&ecfg, errstr, sizeof errstr);
    if (!e)
        die("engine", errstr);
    sr_synth_config_t scfg;
    sr_synth_config_defaults(&scfg);
    scfg.users = o.users;
    scfg.items = o.items;
    scfg.days = o.days;
    scfg.sessions_per_day = o.rate;
    sr_synth_t *synth = sr_synth_new(&scfg, errstr, sizeof errstr);
    if (!synth)
        die("synth", errstr);
    double t0 = sr_clock_mono_s();
    sr_event_t ev;
    size_t events = 0;
    int64_t last_ts = 0;
    while (sr_synth_next(synth, &ev)) {
        if (sr_engine_apply(e, &ev, errstr, sizeof errstr) != SR_OK)
            die("apply", errstr);
        last_ts = ev.ts_ms;
        if (++events % o.batch == 0)
            flush(e);
    }
    flush(e);
    sr_synth_destroy(synth);
    double feed_s = sr_clock_mono_s() - t0;
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    long rss = rss_kib();

    /* serialise only */
    uint64_t digest = 0, bytes = 0;
    t0 = sr_clock_mono_s();
    if (sr_engine_save(e, count_only, &bytes, &digest, errstr, sizeof errstr) != SR_OK)
        die("save", errstr);
    double serialise_s = sr_clock_mono_s() - t0;

    /* a checkpoint file, in this process */
    sr_checkpoint_config_t ccfg;
    sr_checkpoint_config_defaults(&ccfg);
    ccfg.dir = o.dir;
    ccfg.keep = 2;
    sr_checkpoint_position_t pos = {"clicks", 0, (int64_t)events};
    sr_checkpoint_meta_t meta = {&pos, 1, NULL, 0, 0};
    char path[SR_CHECKPOINT_PATH_MAX];
    t0 = sr_clock_mono_s();
    if (sr_checkpoint_save(&ccfg, &meta, e, path, errstr, sizeof errstr) != SR_OK)
        die("checkpoint", errstr);
    double write_s = sr_clock_mono_s() - t0;
    struct stat sb;
    stat(path, &sb);

    /* the daemon's way: the parent pauses for fork() only */
    sr_checkpoint_file_t *file = malloc(sizeof *file);
    if (sr_checkpoint_begin(&ccfg, file, errstr, sizeof errstr) != SR_OK)
        die("begin", errstr);
    fflush(NULL);
    t0 = sr_clock_mono_s();
    pid_t pid = fork();
    if (pid == 0) {
        char child_err[512];
        _exit(sr_checkpoint_write_file(file, &meta, e, child_err, sizeof child_err) == SR_OK ? 0
                                                                                             : 1);
    }
    double fork_s = sr_clock_mono_s() - t0;
    int status;
    waitpid(pid, &status, 0);
    double child_s = sr_clock_mono_s() - t0;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("forked write", "the child failed");
    if (sr_checkpoint_commit(&ccfg, file, errstr, sizeof errstr) != SR_OK)
        die("commit", errstr);

    /* read back */
    sr_checkpoint_t *loaded = NULL;
    t0 = sr_clock_mono_s();
    if (sr_checkpoint_load(file->path, &ecfg, &loaded, errstr, sizeof errstr) != SR_OK)
        die("load", errstr);
    double load_s = sr_clock_mono_s() - t0;
    bool same = sr_engine_digest(sr_checkpoint_engine(loaded)) == digest;
    sr_checkpoint_destroy(loaded);
    free(file);

    /* bytes per user and per item, measured */
    char id[32], item[32];
    uint64_t before = state_bytes(e);
    const char *some_item = sr_engine_item_id(e, 0);
    for (size_t k = 0; k < o.delta; k++) {
        snprintf(id, sizeof id, "u%zu", (size_t)o.users + k);
        apply_one(e, id, some_item, last_ts);
    }
    flush(e);
    uint64_t with_users = state_bytes(e);
    const char *some_user = sr_engine_user_id(e, 0);
    for (size_t k = 0; k < o.delta; k++) {
        snprintf(item, sizeof item, "i%zu", (size_t)o.items + k);
        apply_one(e, some_user, item, last_ts);
    }
    flush(e);
    uint64_t with_items = state_bytes(e);
    double per_user = (double)(with_users - before) / (double)o.delta;
    double per_item = (double)(with_items - with_users) / (double)o.delta;
    snprintf(id, sizeof id, "u%zu", (size_t)o.users);
    snprintf(item, sizeof item, "i%zu", (size_t)o.items);

    if (o.json) {
        printf("{\"result\":\"checkpoint\",\"users\":%zu,\"items\":%zu,\"events\":%zu,\"k\":%d,"
               "\"feed_s\":%.3f,\"rss_kib\":%ld,\"state_bytes\":%" PRIu64 ",\"file_bytes\":%lld,"
               "\"serialise_s\":%.3f,\"write_s\":%.3f,\"fork_pause_ms\":%.3f,"
               "\"forked_write_s\":%.3f,\"load_s\":%.3f,\"loaded_digest_equal\":%s,"
               "\"bytes_per_user\":%.1f,\"user_id_bytes\":%zu,\"bytes_per_item\":%.1f,"
               "\"item_id_bytes\":%zu}\n",
               st.users, st.items, events, o.k, feed_s, rss, bytes, (long long)sb.st_size,
               serialise_s, write_s, fork_s * 1e3, child_s, load_s, same ? "true" : "false",
               per_user, strlen(id), per_item, strlen(item));
    } else {
        printf("state           %zu users, %zu items, %zu events (k=%d), fed in %.1f s, RSS %.0f MiB\n",
               st.users, st.items, events, o.k, feed_s, rss / 1024.0);
        printf("state bytes     %" PRIu64 " (file %lld)\n", bytes, (long long)sb.st_size);
        printf("bytes/user      %.1f (ids of %zu bytes, measured over %zu new users)\n", per_user,
               strlen(id), o.delta);
        printf("bytes/item      %.1f (ids of %zu bytes, measured over %zu new items)\n", per_item,
               strlen(item), o.delta);
        printf("serialise       %.3f s (encode + digest, no I/O)\n", serialise_s);
        printf("write           %.3f s (temp file, write, fsync, rename, dir fsync)\n", write_s);
        printf("fork pause      %.3f ms (the parent's fork() call)\n", fork_s * 1e3);
        printf("forked write    %.3f s (fork to the child's exit)\n", child_s);
        printf("load            %.3f s (read, checksum, rebuild; digest %s)\n", load_s,
               same ? "equal" : "DIFFERENT");
    }
    sr_engine_destroy(e);
    if (own_dir) {
        char p[SR_CHECKPOINT_PATH_MAX];
        for (uint64_t s = 0; s < 8; s++) {
            snprintf(p, sizeof p, "%s/checkpoint-%012" PRIu64 ".ckpt", o.dir, s);
            unlink(p);
        }
        rmdir(o.dir);
    }
    return same ? 0 : 1;
}
