/* Recovery: a daemon killed with SIGKILL at random points and restarted ends
 * where a daemon that never stopped ends.
 *
 * The test process hosts the Kafka mock cluster and a redis-server, and runs
 * `streamrec run` as a child process, so the daemon can die without taking
 * the broker or Redis with it. The input is all 100,836 ratings of
 * MovieLens latest-small (tests/fixtures/movielens-latest-small), produced
 * in event-time order while the daemon runs, at a steady rate, so the
 * daemon is killed in the middle of a replay rather than after it has
 * caught up. The replay is zstd-compressed in batches of up to 50 ms: the
 * mock cluster keeps only ~5 MiB per partition and drops older batches, and
 * the uncompressed topic would not fit; the restarts must be able to seek
 * back to offset 0.
 *
 * Run A: one daemon, never stopped until it has everything; then SIGTERM.
 * Run B: the same events into another topic (same order: one partition),
 * another group, another Redis database and checkpoint directory. The daemon
 * is killed 0.3-2 s after it starts consuming (seeded: SR_RECOVERY_SEED
 * replays a schedule), restarted, killed again, four times; before the last
 * start the newest checkpoint is cut in half, so that start must report it
 * and fall back to the one before; the last daemon runs to the end and gets
 * SIGTERM. Both must exit 0 after the kills (a final checkpoint each).
 * SR_RECOVERY_KEEP=1 keeps the daemons' logs and checkpoints for a look;
 * SR_RECOVERY_KILLS=N kills run B N times (0: never -- two uninterrupted
 * runs, the control for the claim about stored lists below).
 *
 * What is compared, and why:
 *   - the newest checkpoint of each run: the same input position (the end),
 *     the same event counts, and the same state digest. The digest does not
 *     depend on where batches closed once the engine is flushed
 *     (test_engine_state pins that), so equal digests mean the killed run
 *     applied every event exactly once, in the same order, bit for bit.
 *   - every user's recommendations computed from the two final states
 *     (sr_engine_recommend): identical lists, scores bit for bit.
 *   - every user's reco:{user} in Redis: the same seq and event_ts_ms in
 *     both databases, and those of the final state (the user's event count
 *     and newest event), so the last write reflects the user's last event
 *     and no replay after a restart overwrote a newer value.
 * Not compared: the item lists stored in Redis. A user's list is computed
 * when the batch holding its last event closes, from the state at that
 * moment (the rest of the batch included), and batches close on wall-clock
 * time: two runs that never stop already store different lists
 * (SR_RECOVERY_KILLS=0 here: 399 of the 610 users' lists differ in their
 * items and 176 more in their scores, with equal digests), and after a
 * restart the Redis guard keeps the list a killed daemon wrote for the same
 * (event_ts_ms, seq). What a recovery must preserve is the state the lists
 * come from, and each user's latest write; the comparisons above cover
 * both. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "app/producer.h"
#include "streamrec/checkpoint.h"
#include "streamrec/config.h"
#include "streamrec/engine.h"
#include "streamrec/event_log.h"
#include "streamrec/intern.h"
#include "streamrec/kafka_mock.h"
#include "streamrec/redis_spawn.h"

#include "http_get.h"

extern char **environ;

#define RATINGS SR_MOVIELENS_DIR "/ratings.csv"
#define KILLS 4
#define KILL_MIN_S 0.3
#define KILL_MAX_S 2.0
#define RATE_PER_S 5000    /* the replay's pace: 100,836 events take 20 s */
#define START_TIMEOUT_S 60 /* a restart waits out the dead member's session */
#define FINISH_TIMEOUT_S 90
#define STOP_TIMEOUT_S 30
#define DEFAULT_SEED 20240607u

/* ---- the fixture: broker, Redis, dataset, the two runs ------------------- */

typedef struct fixture fixture_t;

/* The dataset produced into a topic at a steady rate, on its own thread. */
typedef struct replay {
    fixture_t *f;
    const sr_event_log_t *log;
    size_t next, end;
    sr_producer_t *producer;
    pthread_t thread;
    volatile sig_atomic_t stop;
    atomic_bool done;
    sr_err_t result;
    char errstr[512];
} replay_t;

/* One run: its own topic, group, Redis database and checkpoint directory. */
typedef struct run {
    const char *name; /* "A", "B" */
    const char *topic, *group;
    int redis_db;
    char ckpt_dir[PATH_MAX];
    rd_kafka_t *offsets; /* a consumer of the group that never joins: reads its commits */
} run_t;

/* What a failed assertion leaves behind is reached from here by teardown:
 * the replay and the runs live in the fixture, not on the test's stack. */
struct fixture {
    sr_kafka_mock_t *mock;
    sr_redis_spawn_t *redis;
    sr_event_log_t *log;
    size_t n_events; /* produced per run: all of the log, fewer under valgrind */
    int kills;
    char dir[256];   /* checkpoints, daemon logs, ready files */
    pid_t live;      /* a daemon still running */
    replay_t replay;
    bool replaying;  /* its thread is still producing */
    run_t runs[2];   /* A and B */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static const char *const topics[] = {"ratings-a", "ratings-b", "ratings-a.dlq",
                                     "ratings-b.dlq", "gA-user-state", "gB-user-state",
                                     "reco.updates", "churn.alerts"};

/* ---- the replay ------------------------------------------------------------ */

static sr_err_t next_event(void *opaque, sr_event_t *ev, char *errstr, size_t errstr_size) {
    replay_t *r = opaque;
    (void)errstr;
    (void)errstr_size;
    if (r->next >= r->end)
        return SR_ERR_EOF;
    *ev = r->log->events[r->next++];
    return SR_OK;
}

static void *replay_main(void *arg) {
    replay_t *r = arg;
    r->result = sr_producer_run(r->producer, next_event, r, &r->stop, r->errstr, sizeof r->errstr);
    atomic_store(&r->done, true);
    return NULL;
}

static void replay_start(fixture_t *f, replay_t *r, const char *topic) {
    memset(r, 0, sizeof *r);
    r->f = f;
    r->log = f->log;
    r->end = f->n_events;
    static const sr_kafka_kv_t compressed[] = {{"compression.type", "zstd"},
                                               {"linger.ms", "50"}};
    sr_producer_config_t cfg = {.bootstrap = sr_kafka_mock_bootstrap(f->mock), .topic = topic,
                                .props = compressed, .n_props = 2, .schema_id = 1,
                                .pace = {SR_PACE_RATE, RATE_PER_S}};
    char errstr[512];
    if (!(r->producer = sr_producer_new(&cfg, errstr, sizeof errstr)))
        fail_msg("producer: %s", errstr);
    assert_int_equal(pthread_create(&r->thread, NULL, replay_main, r), 0);
    f->replaying = true;
}

/* Stops a replay a failed assertion left running. */
static void replay_abandon(replay_t *r) {
    r->stop = 1;
    pthread_join(r->thread, NULL);
    sr_producer_destroy(r->producer);
    r->f->replaying = false;
}

static void replay_finish(replay_t *r) {
    pthread_join(r->thread, NULL);
    r->f->replaying = false;
    sr_producer_stats_t st;
    sr_producer_stats(r->producer, &st);
    sr_producer_destroy(r->producer);
    if (r->result != SR_OK)
        fail_msg("replay: %s", r->errstr);
    assert_int_equal(st.delivered, r->end);
}

/* ---- a run: one topic, group, Redis database and checkpoint directory ---- */

static void run_init(fixture_t *f, run_t *r, const char *name, const char *topic,
                     const char *group, int redis_db) {
    memset(r, 0, sizeof *r);
    r->name = name;
    r->topic = topic;
    r->group = group;
    r->redis_db = redis_db;
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/checkpoints-%s", f->dir, name);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", sr_kafka_mock_bootstrap(f->mock), errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
        fail_msg("offsets reader: %s", errstr);
    if (!(r->offsets = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr)))
        fail_msg("offsets reader: %s", errstr);
}

static void run_free(run_t *r) {
    if (r->offsets) {
        rd_kafka_consumer_close(r->offsets);
        rd_kafka_destroy(r->offsets);
        r->offsets = NULL;
    }
}

/* ---- setup and teardown ------------------------------------------------------ */

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    char errstr[512];
    /* One partition per topic: one partition's order is the topic's order,
     * so both runs apply the same events in the same order -- the
     * precondition for bit-for-bit equal state. */
    if (!(f->mock = sr_kafka_mock_new(1, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    for (size_t t = 0; t < sizeof topics / sizeof *topics; t++)
        if (sr_kafka_mock_create_topic(f->mock, topics[t], 1, errstr, sizeof errstr) != SR_OK) {
            fprintf(stderr, "setup: %s: %s\n", topics[t], errstr);
            return -1;
        }
    if (!(f->redis = sr_redis_spawn_new(NULL, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    if (!(f->log = sr_event_log_load(RATINGS, SR_CSV_MOVIELENS, errstr, sizeof errstr))) {
        fprintf(stderr, "setup: the MovieLens fixture is missing or unreadable: %s\n", errstr);
        return -1;
    }
    /* Under valgrind the broker runs many times slower in this process: a
     * shorter replay and fewer kills keep the run in minutes; every
     * comparison stays. */
    f->n_events = RUNNING_ON_VALGRIND ? 4000 : f->log->n_events;
    f->kills = RUNNING_ON_VALGRIND ? 2 : KILLS;
    const char *kills = getenv("SR_RECOVERY_KILLS");
    if (kills && *kills)
        f->kills = atoi(kills) < 0 ? 0 : atoi(kills) > 16 ? 16 : atoi(kills);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/sr-recovery-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        fprintf(stderr, "setup: mkdtemp %s: %s\n", f->dir, strerror(errno));
        return -1;
    }
    *state = f;
    return 0;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[PATH_MAX];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static int teardown(void **state) {
    fixture_t *f = *state;
    if (f->live > 0) { /* a failed test left a daemon running */
        kill(f->live, SIGKILL);
        waitpid(f->live, NULL, 0);
    }
    if (f->replaying)
        replay_abandon(&f->replay);
    for (int k = 0; k < 2; k++) run_free(&f->runs[k]);
    sr_event_log_destroy(f->log);
    sr_redis_spawn_destroy(f->redis);
    sr_kafka_mock_destroy(f->mock);
    const char *keep = getenv("SR_RECOVERY_KEEP");
    if (f->dir[0] && !(keep && *keep && strcmp(keep, "0") != 0))
        remove_tree(f->dir);
    else if (f->dir[0])
        fprintf(stderr, "recovery: kept %s\n", f->dir);
    free(f);
    return 0;
}

/* The group's committed offset of the input partition; -1: none yet. With
 * checkpoints the daemon commits the newest checkpoint's position. */
static int64_t committed(run_t *r) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, r->topic, 0);
    int64_t offset = -1;
    if (rd_kafka_committed(r->offsets, parts, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        parts->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && parts->elems[0].offset >= 0)
        offset = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    return offset;
}

/* ---- the daemon as a child process ---------------------------------------- */

typedef struct daemon {
    pid_t pid;
    char log_path[PATH_MAX];   /* its stdout and stderr */
    char ready_path[PATH_MAX]; /* --ready-file: written once partitions are assigned */
} daemon_t;

static void print_log(const char *path) {
    FILE *in = fopen(path, "r");
    if (!in)
        return;
    fprintf(stderr, "---- %s ----\n", path);
    char line[1024];
    while (fgets(line, sizeof line, in)) fputs(line, stderr);
    fclose(in);
}

static void daemon_start(fixture_t *f, const run_t *r, int life, daemon_t *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->log_path, sizeof d->log_path, "%s/daemon-%s-%d.log", f->dir, r->name, life);
    snprintf(d->ready_path, sizeof d->ready_path, "%s/ready-%s-%d", f->dir, r->name, life);
    char bootstrap[512], topic[128], group[128], redis[256], dir[PATH_MAX + 32];
    snprintf(bootstrap, sizeof bootstrap, "kafka.bootstrap.servers=%s",
             sr_kafka_mock_bootstrap(f->mock));
    snprintf(topic, sizeof topic, "input.topics=%s", r->topic);
    snprintf(group, sizeof group, "input.group.id=%s", r->group);
    snprintf(redis, sizeof redis, "redis.url=%s/%d", sr_redis_spawn_url(f->redis), r->redis_db);
    snprintf(dir, sizeof dir, "checkpoint.dir=%s", r->ckpt_dir);
    char *argv[] = {SR_STREAMREC_BIN, "run", "-X", bootstrap, "-X", topic, "-X", group,
                    "-X", redis, "-X", dir, "-X", "checkpoint.interval.s=1",
                    /* MovieLens spans 22 years and most of its users rate for a few
                     * days: with the 30-day default all but a few dozen would be
                     * evicted by the end, and every user's final list is compared */
                    "-X", "state.user.ttl.days=0", "-X", "state.item.ttl.days=0",
                    /* a restart joins while the killed member is still in the group:
                     * the mock coordinator waits out its session first */
                    "-X", "kafka.consumer.session.timeout.ms=3000",
                    "-X", "kafka.consumer.heartbeat.interval.ms=300",
                    "-X", "http.listen=127.0.0.1:0", "--ready-file", d->ready_path, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, d->log_path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int err = posix_spawn(&d->pid, SR_STREAMREC_BIN, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0)
        fail_msg("spawning %s: %s", SR_STREAMREC_BIN, strerror(err));
    f->live = d->pid;
}

/* Waits for the daemon's ready file: it is consuming. */
static void daemon_wait_ready(fixture_t *f, daemon_t *d) {
    for (double start = now_s(); now_s() - start < START_TIMEOUT_S; sleep_s(0.02)) {
        if (access(d->ready_path, F_OK) == 0)
            return;
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            f->live = 0;
            print_log(d->log_path);
            fail_msg("the daemon exited before it was ready (status %d)", status);
        }
    }
    print_log(d->log_path);
    fail_msg("the daemon was not consuming after %d s", START_TIMEOUT_S);
}

static void daemon_kill(fixture_t *f, daemon_t *d) {
    assert_int_equal(kill(d->pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
    f->live = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* SIGTERM: the daemon finishes its batch, writes a final checkpoint and
 * must exit 0. */
static void daemon_stop(fixture_t *f, daemon_t *d) {
    assert_int_equal(kill(d->pid, SIGTERM), 0);
    int status = 0;
    pid_t got = 0;
    for (double start = now_s(); now_s() - start < STOP_TIMEOUT_S; sleep_s(0.05))
        if ((got = waitpid(d->pid, &status, WNOHANG)) == d->pid)
            break;
    if (got != d->pid) {
        print_log(d->log_path);
        fail_msg("the daemon did not stop within %d s of SIGTERM", STOP_TIMEOUT_S);
    }
    f->live = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_log(d->log_path);
        fail_msg("the daemon's exit status after SIGTERM is %d, not 0", status);
    }
}

/* The port http.listen=127.0.0.1:0 got, from the daemon's log. */
static int daemon_http_port(const daemon_t *d) {
    FILE *in = fopen(d->log_path, "r");
    char line[1024];
    int port = -1;
    while (in && port < 0 && fgets(line, sizeof line, in)) {
        const char *at = strstr(line, "/readyz on ");
        if (at && (at = strstr(at, "(port ")))
            port = atoi(at + 6);
    }
    if (in)
        fclose(in);
    return port;
}

/* The sum of streamrec_events_total: events this daemon applied. -1: no answer. */
static long daemon_events(const daemon_t *d) {
    int port = daemon_http_port(d);
    if (port <= 0)
        return -1;
    http_result_t res = http_request(port, "GET", "/metrics");
    long sum = res.status == 200 ? 0 : -1;
    for (const char *line = res.body; sum >= 0 && line && *line;) {
        if (strncmp(line, "streamrec_events_total{", 23) == 0) {
            const char *value = strchr(line, '}');
            if (value)
                sum += atol(value + 1);
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    http_result_free(&res);
    return sum;
}

/* ---- checkpoints ---------------------------------------------------------- */

/* Paths of the checkpoint files in dir, oldest first (the names are
 * zero-padded sequence numbers). Returns how many, at most max. */
static int list_checkpoints(const char *dir, char paths[][PATH_MAX], int max) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "checkpoint-", 11) == 0 && len > 5 &&
            strcmp(e->d_name + len - 5, ".ckpt") == 0 &&
            snprintf(paths[n], PATH_MAX, "%s/%s", dir, e->d_name) < PATH_MAX)
            n++;
    }
    if (d)
        closedir(d);
    for (int a = 1; a < n; a++) /* insertion sort: a handful of names */
        for (int b = a; b > 0 && strcmp(paths[b - 1], paths[b]) > 0; b--) {
            char swap[PATH_MAX];
            memcpy(swap, paths[b], PATH_MAX);
            memcpy(paths[b], paths[b - 1], PATH_MAX);
            memcpy(paths[b - 1], swap, PATH_MAX);
        }
    return n;
}

/* The sequence number in a checkpoint file's name. */
static uint64_t checkpoint_seq(const char *path) {
    const char *name = strrchr(path, '/');
    return strtoull(name ? name + 12 : path + 11, NULL, 10); /* after "checkpoint-" */
}

/* The newest checkpoint's sequence number in dir; 0: none. */
static uint64_t newest_seq(const char *dir) {
    char paths[8][PATH_MAX];
    int n = list_checkpoints(dir, paths, 8);
    return n > 0 ? checkpoint_seq(paths[n - 1]) : 0;
}

/* Waits until the daemon has everything: a checkpoint newer than
 * after_seq (one it wrote itself) covers the end of the input. Not the
 * committed offset: a killed daemon may have committed the end before it
 * died, and the next one -- falling back past a damaged newest checkpoint
 * -- may start well before it. */
static void wait_until_checkpointed(const run_t *r, const daemon_t *d, uint64_t after_seq,
                                    int64_t end) {
    int64_t at = -1;
    for (double start = now_s(); now_s() - start < FINISH_TIMEOUT_S; sleep_s(0.2)) {
        char paths[8][PATH_MAX];
        int n = list_checkpoints(r->ckpt_dir, paths, 8);
        if (n == 0 || checkpoint_seq(paths[n - 1]) <= after_seq)
            continue;
        sr_checkpoint_t *c = NULL;
        char errstr[512];
        /* the daemon may remove it meanwhile (checkpoint.keep): try again */
        if (sr_checkpoint_load(paths[n - 1], NULL, &c, errstr, sizeof errstr) != SR_OK)
            continue;
        const sr_checkpoint_info_t *info = sr_checkpoint_info(c);
        at = info->n_positions == 1 ? info->positions[0].next_offset : -1;
        sr_checkpoint_destroy(c);
        if (at == end)
            return;
    }
    print_log(d->log_path);
    fail_msg("run %s: no checkpoint at offset %" PRId64 " after %d s (the newest is at %" PRId64
             ")", r->name, end, FINISH_TIMEOUT_S, at);
}

static sr_checkpoint_t *load_newest(const run_t *r, const sr_config_t *cfg) {
    sr_checkpoint_config_t ccfg;
    sr_checkpoint_config_defaults(&ccfg);
    ccfg.dir = r->ckpt_dir;
    sr_checkpoint_t *c = NULL;
    char errstr[512];
    if (sr_checkpoint_load_latest(&ccfg, &cfg->engine, NULL, NULL, &c, errstr, sizeof errstr) !=
            SR_OK ||
        !c)
        fail_msg("run %s: no checkpoint to compare: %s", r->name, c ? "" : errstr);
    return c;
}

/* ---- Redis ----------------------------------------------------------------- */

typedef struct stored_reco {
    bool found;
    int64_t event_ts_ms, seq;
    char items[4096]; /* the "items" array as stored */
    char ids[4096];   /* its item ids in order, without the scores */
} stored_reco_t;

static redisContext *redis_connect(fixture_t *f, int db) {
    redisContext *c = redisConnect(sr_redis_spawn_host(f->redis), sr_redis_spawn_port(f->redis));
    assert_true(c && !c->err);
    redisReply *reply = redisCommand(c, "SELECT %d", db);
    assert_true(reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    return c;
}

static stored_reco_t get_reco(redisContext *c, const char *user_id) {
    stored_reco_t out = {0};
    redisReply *reply = redisCommand(c, "GET reco:{%s}", user_id);
    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_STRING) {
        out.found = sscanf(reply->str, "{\"event_ts_ms\":%" SCNd64 ",\"seq\":%" SCNd64,
                           &out.event_ts_ms, &out.seq) == 2;
        const char *items = strstr(reply->str, "\"items\":");
        snprintf(out.items, sizeof out.items, "%s", items ? items : "");
        size_t len = 0;
        for (const char *id = out.items; (id = strstr(id, "\"item_id\":\""));) {
            id += 11;
            const char *end = strchr(id, '"');
            if (!end || len + (size_t)(end - id) + 2 > sizeof out.ids)
                break;
            memcpy(out.ids + len, id, (size_t)(end - id));
            len += (size_t)(end - id);
            out.ids[len++] = ' ';
            id = end;
        }
        out.ids[len] = '\0';
    }
    freeReplyObject(reply);
    return out;
}

/* ---- the comparison ------------------------------------------------------- */

/* Users whose stored lists differ between the runs: reported, not judged. */
typedef struct list_diff {
    size_t users, items, scores_only;
} list_diff_t;

/* Everything test_app_recovery's header says is compared. */
static list_diff_t compare_runs(fixture_t *f, const run_t *a, const run_t *b) {
    sr_config_t cfg;
    sr_config_init(&cfg);
    sr_checkpoint_t *ca = load_newest(a, &cfg), *cb = load_newest(b, &cfg);
    const sr_checkpoint_info_t *ia = sr_checkpoint_info(ca), *ib = sr_checkpoint_info(cb);
    const sr_checkpoint_info_t *infos[2] = {ia, ib};
    const run_t *runs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        /* the mock cluster drops a partition's oldest batches past ~5 MiB: a
         * restart that sought back into them would have lost events */
        int64_t low = -1, high = -1;
        assert_int_equal(rd_kafka_query_watermark_offsets(runs[k]->offsets, runs[k]->topic, 0, &low,
                                                          &high, 5000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        if (low != 0)
            fail_msg("run %s: the broker kept %s from offset %" PRId64 " on, not from 0",
                     runs[k]->name, runs[k]->topic, low);
        assert_int_equal(high, (int64_t)f->n_events);
        assert_int_equal(infos[k]->n_positions, 1);
        assert_string_equal(infos[k]->positions[0].topic, runs[k]->topic);
        assert_int_equal(infos[k]->positions[0].partition, 0);
        assert_int_equal(infos[k]->positions[0].next_offset, (int64_t)f->n_events);
    }
    sr_engine_t *ea = sr_checkpoint_engine(ca), *eb = sr_checkpoint_engine(cb);
    sr_engine_stats_t sa, sb;
    sr_engine_stats(ea, &sa);
    sr_engine_stats(eb, &sb);
    assert_int_equal(sa.events, f->n_events); /* every rating is a valid event */
    assert_int_equal(sb.events, sa.events);
    assert_memory_equal(sa.by_type, sb.by_type, sizeof sa.by_type);
    assert_int_equal(sb.rejected, sa.rejected);
    assert_int_equal(sb.users, sa.users);
    assert_int_equal(sb.items, sa.items);
    assert_int_equal(sb.watermark_ms, sa.watermark_ms);
    if (ia->state_digest != ib->state_digest || sr_engine_digest(ea) != sr_engine_digest(eb))
        fail_msg("state digests differ: run A %016" PRIx64 ", run B %016" PRIx64 " (%s, %s)",
                 ia->state_digest, ib->state_digest, ia->path, ib->path);

    redisContext *ra = redis_connect(f, a->redis_db), *rb = redis_connect(f, b->redis_db);
    size_t users = sr_engine_user_slots(ea);
    list_diff_t diff = {.users = users};
    assert_int_equal(sr_engine_user_slots(eb), users);
    for (uint32_t u = 0; u < users; u++) {
        const char *id = sr_engine_user_id(ea, u);
        if (!id) {
            /* a slot freed by an eviction: freed in both runs */
            assert_null(sr_engine_user_id(eb, u));
            continue;
        }
        uint32_t ub = sr_engine_find_user(eb, id, strlen(id));
        assert_int_not_equal(ub, SR_INTERN_NONE);
        sr_neighbour_t la[SR_RECO_MAX_K], lb[SR_RECO_MAX_K];
        size_t na = sr_engine_recommend(ea, id, strlen(id), la);
        size_t nb = sr_engine_recommend(eb, id, strlen(id), lb);
        assert_int_equal(na, nb);
        for (size_t k = 0; k < na; k++) {
            assert_string_equal(sr_engine_item_id(ea, la[k].item), sr_engine_item_id(eb, lb[k].item));
            assert_memory_equal(&la[k].score, &lb[k].score, sizeof la[k].score);
        }
        const sr_profile_t *profile = sr_engine_profile(ea, u);
        stored_reco_t xa = get_reco(ra, id), xb = get_reco(rb, id);
        if (!xa.found || !xb.found)
            fail_msg("user %s: reco:{%s} missing in run %s's database", id, id,
                     xa.found ? b->name : a->name);
        if (xa.seq != (int64_t)profile->events || xb.seq != xa.seq ||
            xa.event_ts_ms != profile->last_seen_ms || xb.event_ts_ms != xa.event_ts_ms)
            fail_msg("user %s: reco:{%s} holds seq %" PRId64 "/%" PRId64 " and event_ts_ms %" PRId64
                     "/%" PRId64 " (runs A/B); the final state has %" PRIu64 " events, the newest "
                     "at %" PRId64,
                     id, id, xa.seq, xb.seq, xa.event_ts_ms, xb.event_ts_ms,
                     (uint64_t)profile->events, profile->last_seen_ms);
        if (strcmp(xa.ids, xb.ids) != 0)
            diff.items++;
        else if (strcmp(xa.items, xb.items) != 0)
            diff.scores_only++;
    }
    redisFree(ra);
    redisFree(rb);
    sr_checkpoint_destroy(ca);
    sr_checkpoint_destroy(cb);
    sr_config_free(&cfg);
    return diff;
}

/* ---- the test --------------------------------------------------------------- */

static unsigned next_random(unsigned *s) { /* xorshift32 */
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static bool file_contains(const char *path, const char *needle) {
    FILE *in = fopen(path, "r");
    char line[2048];
    bool found = false;
    while (in && !found && fgets(line, sizeof line, in)) found = strstr(line, needle) != NULL;
    if (in)
        fclose(in);
    return found;
}

/* Run A: start, wait for everything, SIGTERM. */
static void run_uninterrupted(fixture_t *f, run_t *r) {
    replay_start(f, &f->replay, r->topic);
    daemon_t d;
    daemon_start(f, r, 0, &d);
    daemon_wait_ready(f, &d);
    replay_finish(&f->replay);
    wait_until_checkpointed(r, &d, 0, (int64_t)f->n_events);
    daemon_stop(f, &d);
    assert_int_equal(committed(r), (int64_t)f->n_events); /* the final checkpoint's */
}

static void test_killed_daemon_ends_as_one_that_never_stopped(void **state) {
    fixture_t *f = *state;
    const char *seed_env = getenv("SR_RECOVERY_SEED");
    unsigned seed = seed_env && *seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : DEFAULT_SEED;
    unsigned rng = seed ? seed : 1;
    fprintf(stderr, "recovery: %zu events at %d/s, %d kills, seed %u%s\n", f->n_events,
            RATE_PER_S, f->kills, seed, RUNNING_ON_VALGRIND ? " (valgrind)" : "");
    double t0 = now_s();

    run_t *a = &f->runs[0], *b = &f->runs[1];
    run_init(f, a, "A", "ratings-a", "gA", 1);
    run_init(f, b, "B", "ratings-b", "gB", 2);
    run_uninterrupted(f, a);
    double t_a = now_s() - t0;

    /* Run B: killed at random points while the replay goes on. */
    replay_t *replay = &f->replay;
    replay_start(f, replay, b->topic);
    int kills_during_replay = 0;
    daemon_t d;
    for (int life = 0; life < f->kills; life++) {
        daemon_start(f, b, life, &d);
        daemon_wait_ready(f, &d);
        double delay = KILL_MIN_S + (KILL_MAX_S - KILL_MIN_S) * (next_random(&rng) % 1000) / 999.0;
        sleep_s(delay);
        long applied = daemon_events(&d);
        bool replaying = !atomic_load(&replay->done);
        daemon_kill(f, &d);
        kills_during_replay += replaying;
        fprintf(stderr,
                "recovery: kill %d, %.2f s after it started consuming: %ld events applied by "
                "this daemon, committed offset %" PRId64 ", %zu of %zu events produced\n",
                life + 1, delay, applied, committed(b), replay->next, f->n_events);
    }
    /* the kills must land in the replay, not after it */
    assert_true(f->kills == 0 || kills_during_replay >= 1);

    /* A damaged newest checkpoint: the next start says so and uses the one
     * before it. */
    char paths[8][PATH_MAX];
    const char *newest = NULL;
    if (f->kills > 0) {
        int n_ckpt = list_checkpoints(b->ckpt_dir, paths, 8);
        assert_true(n_ckpt >= 2);
        newest = paths[n_ckpt - 1];
        struct stat st;
        assert_int_equal(stat(newest, &st), 0);
        assert_int_equal(truncate(newest, st.st_size / 2), 0);
    }

    uint64_t before_last = newest_seq(b->ckpt_dir);
    daemon_start(f, b, f->kills, &d);
    daemon_wait_ready(f, &d);
    replay_finish(replay);
    wait_until_checkpointed(b, &d, before_last, (int64_t)f->n_events);
    daemon_stop(f, &d);
    assert_int_equal(committed(b), (int64_t)f->n_events);
    if (newest && (!file_contains(d.log_path, newest) ||
                   !file_contains(d.log_path, "trying the one before it"))) {
        print_log(d.log_path);
        fail_msg("the restart did not report the truncated checkpoint %s", newest);
    }
    double t_b = now_s() - t0 - t_a;

    list_diff_t diff = compare_runs(f, a, b);
    fprintf(stderr,
            "recovery: equal state digests and recommendations; run A %.1f s, run B %.1f s; "
            "stored lists (not compared) differ for %zu of %zu users in their items, for %zu "
            "more in scores only\n",
            t_a, t_b, diff.items, diff.users, diff.scores_only);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_killed_daemon_ends_as_one_that_never_stopped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
