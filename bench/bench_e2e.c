/* bench_e2e: the daemon end to end -- Kafka in, engine, Redis and Kafka out --
 * at a steady input rate, on the embedded Kafka (librdkafka's mock cluster,
 * reached over TCP) and a real redis-server.
 *
 * One process holds the mock broker, the pipeline (engine thread + sink
 * thread) and a load generator thread that produces the synthetic stream at
 * --rate events/s; redis-server is a child. After --warmup seconds the
 * counters are snapshot, and after --seconds more they are read again, so
 * every figure covers the steady window only:
 *
 *   applied/s       events the pipeline applied and acknowledged, per second
 *   lag             events produced but not yet applied, at the window's start and end
 *                   (growing lag = the pipeline does not keep up with --rate)
 *   freshness       Kafka record timestamp (produce time) -> its batch acknowledged
 *                   by Redis and Kafka: p50, p99, p99.9
 *   cpu             CPU seconds per wall second of each thread group and of
 *                   redis-server (1.0 = one core busy)
 *   batches         batches closed per second and, averaged over them, the
 *                   input records per batch, how long a batch stayed open
 *                   (first record -> closed), its closing (engine flush,
 *                   outputs copied, churn alerts produced) and its Redis
 *                   write (pipeline + replies);
 *                   and the mean Kafka delivery time of an output record
 *
 * Prints one JSON object on stdout; progress on stderr. */
#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "app/cli.h"
#include "app/embedded.h"
#include "app/pipeline.h"
#include "app/producer.h"
#include "streamrec/clock.h"
#include "streamrec/synth.h"

/* Thread groups, by the name each thread carries (/proc/self/task/N/comm). */
enum { G_ENGINE, G_SINK, G_LOADGEN, G_KAFKA_CLIENTS, G_MOCK_BROKER, G_OTHER, G__COUNT };
static const char *const group_names[G__COUNT] = {
    "engine_thread", "sink_thread", "load_generator", "kafka_client_threads", "mock_broker",
    "other_threads"};

typedef struct cpu_sample {
    double group_s[G__COUNT];
    double redis_s;
} cpu_sample_t;

static int group_of(const char *comm) {
    if (strcmp(comm, "sr-engine") == 0)
        return G_ENGINE;
    if (strcmp(comm, "sr-sink") == 0)
        return G_SINK;
    if (strcmp(comm, "sr-loadgen") == 0)
        return G_LOADGEN;
    if (strncmp(comm, "rdk:mock", 8) == 0)
        return G_MOCK_BROKER;
    if (strncmp(comm, "rdk:", 4) == 0)
        return G_KAFKA_CLIENTS;
    return G_OTHER;
}

/* utime + stime of a /proc stat file, in seconds; comm into comm_out. */
static double stat_cpu_s(const char *path, char *comm_out, size_t comm_size, int *ppid) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *open = strchr(line, '('), *close = strrchr(line, ')');
    if (!open || !close)
        return 0;
    if (comm_out)
        snprintf(comm_out, comm_size, "%.*s", (int)(close - open - 1), open + 1);
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    char state;
    int parent;
    unsigned long long skip, utime, stime;
    if (sscanf(close + 2, "%c %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state,
               &parent, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &utime,
               &stime) != 13)
        return 0;
    if (ppid)
        *ppid = parent;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void sample_cpu(cpu_sample_t *s) {
    memset(s, 0, sizeof *s);
    char path[300], comm[64];
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        double cpu = stat_cpu_s(path, comm, sizeof comm, NULL);
        s->group_s[group_of(comm)] += cpu;
    }
    if (d)
        closedir(d);
    /* redis-server: our child when the embedded setup started it */
    d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int ppid = 0;
        double cpu = stat_cpu_s(path, comm, sizeof comm, &ppid);
        if (ppid == getpid() && strcmp(comm, "redis-server") == 0)
            s->redis_s += cpu;
    }
    if (d)
        closedir(d);
}

typedef struct loadgen {
    sr_producer_t *producer;
    sr_synth_t *stream;
    sr_pipeline_t *pipeline;
    volatile sig_atomic_t *stop;
    char error[512];
} loadgen_t;

static void *loadgen_main(void *arg) {
    loadgen_t *g = arg;
    pthread_setname_np(pthread_self(), "sr-loadgen");
    /* produce only once the pipeline owns its partitions: the group's first
     * join would otherwise be a backlog, not a steady rate */
    for (int waited = 0; !*g->stop && waited < 1200; waited++) {
        sr_pipeline_stats_t st;
        sr_pipeline_stats(g->pipeline, &st);
        if (st.partitions > 0)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* An error or the end of the stream both end the measurement: a window
     * without a steady input rate is reported as cut short. */
    sr_producer_run(g->producer, sr_producer_synth_source, g->stream, g->stop, g->error,
                    sizeof g->error);
    *g->stop = 1;
    return NULL;
}

static void sleep_until(double t, volatile sig_atomic_t *stop) {
    while (!*stop && sr_clock_mono_s() < t) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static uint64_t produced(const sr_producer_t *p) {
    sr_producer_stats_t s;
    sr_producer_stats(p, &s);
    return s.produced;
}

/* A pipeline histogram's count and sum at one moment. */
typedef struct hist_mark {
    uint64_t count, sum;
} hist_mark_t;

static hist_mark_t mark(const sr_prom_hist_t *h) {
    return (hist_mark_t){sr_prom_hist_count(h), atomic_load(&h->sum)};
}

/* The mean of what was observed between two marks, in the histogram's base
 * unit divided by per_unit. */
static double mean_between(hist_mark_t a, hist_mark_t b, double per_unit) {
    return b.count > a.count ? (double)(b.sum - a.sum) / (double)(b.count - a.count) / per_unit
                             : 0.0;
}

enum { M_RECORDS, M_OPEN, M_CLOSE, M_REDIS, M_KAFKA, M__COUNT };

static void mark_all(const sr_pipeline_metrics_t *m, hist_mark_t out[M__COUNT]) {
    out[M_RECORDS] = mark(&m->batch_records);
    out[M_OPEN] = mark(&m->batch_open_us);
    out[M_CLOSE] = mark(&m->batch_close_us);
    out[M_REDIS] = mark(&m->redis_write_us);
    out[M_KAFKA] = mark(&m->kafka_delivery_us);
}

static void usage(FILE *out) {
    fprintf(out, "usage: bench_e2e [--rate N] [--users N] [--items N] [--days D]\n"
                 "                 [--sessions-per-day S] [--warmup S] [--seconds S] [--gen-linger-ms N]\n"
                 "                 [--partitions P] [-X key=value ...]\n");
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"rate", required_argument, NULL, 'r'},    {"users", required_argument, NULL, 'u'},
        {"items", required_argument, NULL, 'i'},   {"days", required_argument, NULL, 'd'},
        {"sessions-per-day", required_argument, NULL, 's'},
        {"warmup", required_argument, NULL, 'w'},  {"seconds", required_argument, NULL, 't'},
        {"gen-linger-ms", required_argument, NULL, 'l'}, {"partitions", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    double rate = 100000, warmup = 10, seconds = 60, gen_linger_ms = 10, partitions = 4, v;
    sr_synth_config_t synth;
    sr_synth_config_defaults(&synth);
    synth.users = 50000;
    synth.items = 20000;
    /* A stream that outlasts warm-up and window at 300k events/s with 100k
     * users: 4 days (the earlier default) ran out ~50 s into them. */
    synth.days = 10;
    synth.sessions_per_day = 10;
    sr_cli_config_args_t conf_args = {0};
    char errstr[1024];
    int opt;
    while ((opt = getopt_long(argc, argv, "X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'r': if (!sr_cli_number("bench_e2e", "rate", optarg, 1, 1e8, &rate)) return 2; break;
        case 'u': if (!sr_cli_number("bench_e2e", "users", optarg, 1, 1e8, &v)) return 2; synth.users = (uint32_t)v; break;
        case 'i': if (!sr_cli_number("bench_e2e", "items", optarg, 1, 1e8, &v)) return 2; synth.items = (uint32_t)v; break;
        case 'd': if (!sr_cli_number("bench_e2e", "days", optarg, 0.01, 1e4, &synth.days)) return 2; break;
        case 's': if (!sr_cli_number("bench_e2e", "sessions-per-day", optarg, 0.01, 1e4, &synth.sessions_per_day)) return 2; break;
        case 'w': if (!sr_cli_number("bench_e2e", "warmup", optarg, 0, 3600, &warmup)) return 2; break;
        case 't': if (!sr_cli_number("bench_e2e", "seconds", optarg, 1, 3600, &seconds)) return 2; break;
        case 'l': if (!sr_cli_number("bench_e2e", "gen-linger-ms", optarg, 0, 1000, &gen_linger_ms)) return 2; break;
        case 'p': if (!sr_cli_number("bench_e2e", "partitions", optarg, 1, 1000, &partitions)) return 2; break;
        case 'X': if (!bench_add_override("bench_e2e", &conf_args, optarg)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    sr_config_t cfg;
    if (!bench_build_config("bench_e2e", &conf_args, &synth, &cfg))
        return 2;
    static volatile sig_atomic_t stop;
    int rc = 1;
    sr_embedded_t *embedded = sr_embedded_new_partitioned(&cfg, "bench_e2e", stderr, (int)partitions,
                                                          errstr, sizeof errstr);
    sr_pipeline_t *pipeline = NULL;
    loadgen_t gen = {.stop = &stop};
    bench_engine_run_t run = {.stop = &stop};
    pthread_t gen_thread, engine_thread;
    bool gen_started = false, engine_started = false;
    if (!embedded || !(pipeline = sr_pipeline_new(&cfg, errstr, sizeof errstr)) ||
        !(gen.stream = sr_synth_new(&synth, errstr, sizeof errstr))) {
        fprintf(stderr, "bench_e2e: %s\n", errstr);
        goto done;
    }
    /* librdkafka's mock broker answers a fetch with one record batch per
     * partition: the consumer's ceiling is batch size / fetch round trip.
     * With the demo's linger.ms=2 it capped near 125k events/s at 150k
     * offered; 10 ms batches lift it (and add up to 10 ms to freshness). */
    char linger[32];
    snprintf(linger, sizeof linger, "%.0f", gen_linger_ms);
    sr_kafka_kv_t gen_props[] = {{"linger.ms", linger}};
    sr_producer_config_t pcfg = {.bootstrap = sr_embedded_bootstrap(embedded),
                                 .props = gen_props, .n_props = 1,
                                 .topic = sr_embedded_input_topic(embedded),
                                 .schema_id = 1,
                                 .pace = {SR_PACE_RATE, rate}};
    if (!(gen.producer = sr_producer_new(&pcfg, errstr, sizeof errstr))) {
        fprintf(stderr, "bench_e2e: %s\n", errstr);
        goto done;
    }
    gen.pipeline = run.pipeline = pipeline;
    engine_started = pthread_create(&engine_thread, NULL, bench_engine_main, &run) == 0;
    gen_started = engine_started && pthread_create(&gen_thread, NULL, loadgen_main, &gen) == 0;
    if (!gen_started) {
        fprintf(stderr, "bench_e2e: cannot start threads\n");
        stop = 1;
        goto done;
    }
    /* the clock starts with the first produced record */
    while (!stop && produced(gen.producer) == 0) sleep_until(sr_clock_mono_s() + 0.05, &stop);
    double t0 = sr_clock_mono_s();
    fprintf(stderr, "bench_e2e: %.0f events/s, %u users x %u items: warming up %.0f s\n", rate,
            synth.users, synth.items, warmup);
    sleep_until(t0 + warmup, &stop);

    sr_hist_t fresh_before;
    sr_pipeline_stats_t st0, st1;
    cpu_sample_t cpu0, cpu1;
    sr_hist_snapshot(sr_pipeline_freshness(pipeline), &fresh_before);
    sr_pipeline_stats(pipeline, &st0);
    hist_mark_t m0[M__COUNT], m1[M__COUNT];
    mark_all(sr_pipeline_metrics(pipeline), m0);
    uint64_t produced0 = produced(gen.producer);
    sample_cpu(&cpu0);
    double w0 = sr_clock_mono_s();
    fprintf(stderr, "bench_e2e: measuring %.0f s\n", seconds);
    sleep_until(w0 + seconds, &stop);
    double w1 = sr_clock_mono_s();
    sr_pipeline_stats(pipeline, &st1);
    mark_all(sr_pipeline_metrics(pipeline), m1);
    uint64_t produced1 = produced(gen.producer);
    sample_cpu(&cpu1);
    const sr_hist_t *fresh = sr_pipeline_freshness(pipeline);
    bool cut_short = stop; /* the stream or a part ended before the window did */
    stop = 1;

    double wall = w1 - w0;
    printf("{\"rate\":%.0f,\"users\":%u,\"items\":%u,\"window_s\":%.1f,\"cut_short\":%s,"
           "\"produced_per_s\":%.0f,\"applied_per_s\":%.0f,"
           "\"lag_start\":%lld,\"lag_end\":%lld,\"users_in_state\":%llu,"
           "\"freshness_ms\":{\"p50\":%llu,\"p99\":%llu,\"p999\":%llu},"
           "\"recos_per_s\":%.0f,\"sims_per_s\":%.0f,\"paused\":%d,\"cpu\":{",
           rate, synth.users, synth.items, wall, cut_short ? "true" : "false",
           (double)(produced1 - produced0) / wall,
           (double)(st1.events_applied - st0.events_applied) / wall,
           (long long)(produced0 - st0.events_applied), (long long)(produced1 - st1.events_applied),
           (unsigned long long)st1.users,
           (unsigned long long)sr_hist_quantile_since(fresh, &fresh_before, 0.5),
           (unsigned long long)sr_hist_quantile_since(fresh, &fresh_before, 0.99),
           (unsigned long long)sr_hist_quantile_since(fresh, &fresh_before, 0.999),
           (double)(st1.recos_written - st0.recos_written) / wall,
           (double)(st1.sims_written - st0.sims_written) / wall, st1.paused);
    for (int g = 0; g < G__COUNT; g++)
        printf("\"%s\":%.2f,", group_names[g], (cpu1.group_s[g] - cpu0.group_s[g]) / wall);
    printf("\"redis_server\":%.2f},", (cpu1.redis_s - cpu0.redis_s) / wall);
    printf("\"batches\":{\"per_s\":%.1f,\"records\":%.0f,\"open_ms\":%.1f,\"close_ms\":%.2f,"
           "\"redis_write_ms\":%.2f,\"kafka_delivery_ms\":%.1f}}\n",
           (double)(m1[M_RECORDS].count - m0[M_RECORDS].count) / wall,
           mean_between(m0[M_RECORDS], m1[M_RECORDS], 1), mean_between(m0[M_OPEN], m1[M_OPEN], 1e3),
           mean_between(m0[M_CLOSE], m1[M_CLOSE], 1e3), mean_between(m0[M_REDIS], m1[M_REDIS], 1e3),
           mean_between(m0[M_KAFKA], m1[M_KAFKA], 1e3));
    fflush(stdout);
    rc = 0;
done:
    stop = 1;
    if (gen_started)
        pthread_join(gen_thread, NULL);
    if (engine_started) {
        pthread_join(engine_thread, NULL);
        if (run.result != SR_OK) {
            fprintf(stderr, "bench_e2e: pipeline: %s\n", run.error);
            rc = 1;
        }
    }
    if (gen.error[0]) {
        fprintf(stderr, "bench_e2e: load generator: %s\n", gen.error);
        rc = 1;
    }
    sr_producer_destroy(gen.producer);
    sr_synth_destroy(gen.stream);
    sr_pipeline_destroy(pipeline);
    sr_embedded_destroy(embedded);
    sr_config_free(&cfg);
    return rc;
}
