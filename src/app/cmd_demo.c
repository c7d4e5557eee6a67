/* streamrec demo: the daemon on an embedded Kafka and a local Redis.
 *
 * librdkafka's mock cluster runs in this process and listens on loopback
 * like a real broker (its address is printed, so kcat and other clients can
 * connect); a redis-server is started on a free port unless redis.url
 * answers; the synthetic generator produces click events into the input
 * topic at a steady rate; the pipeline is the same one `streamrec run` uses. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "embedded.h"
#include "endpoint.h"
#include "log.h"
#include "pipeline.h"
#include "producer.h"
#include "streamrec/clock.h"
#include "streamrec/redis_sink.h"
#include "streamrec/synth.h"

#define INPUT_SCHEMA_ID 1

typedef struct demo {
    const char *bootstrap;
    const char *topic;
    sr_synth_config_t synth;
    double rate;          /* events per second */
    double duration_s;    /* 0: until interrupted */
    volatile sig_atomic_t *stop;
    sr_pipeline_t *pipeline;
    sr_synth_t *stream;     /* the synthetic clickstream */
    sr_producer_t *producer;
    char error[320];
    /* users and items in state as the status thread last saw them: a stop
     * hands every user off with its partition, leaving the engine none */
    uint64_t users, items;
} demo_t;

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Produces the synthetic stream into the input topic, paced to d->rate,
 * once the pipeline owns its partitions: a backlog from the group's first
 * join (~3 s on the mock cluster) would show as freshness, and at high rates
 * it would outgrow what the mock broker keeps per partition (~5 MiB). */
static void *generator_main(void *arg) {
    demo_t *d = arg;
    char errstr[256];
    for (double waited = 0; !*d->stop && waited < 60; waited += 0.05) {
        sr_pipeline_stats_t st;
        sr_pipeline_stats(d->pipeline, &st);
        if (st.partitions > 0)
            break;
        sleep_s(0.05);
    }
    if (sr_producer_run(d->producer, sr_producer_synth_source, d->stream, d->stop, errstr,
                        sizeof errstr) != SR_OK)
        snprintf(d->error, sizeof d->error, "generator: %s", errstr);
    return NULL;
}

/* Prints the status line once a second; ends the demo after duration_s. */
static void *status_main(void *arg) {
    demo_t *d = arg;
    double start = sr_clock_mono_s(), last = start;
    uint64_t last_applied = 0;
    static sr_hist_t previous; /* freshness counters at the last status line */
    sr_hist_init(&previous);
    while (!*d->stop) {
        sleep_s(0.25);
        double t = sr_clock_mono_s();
        sr_pipeline_stats_t st;
        sr_pipeline_stats(d->pipeline, &st);
        d->users = st.users;
        d->items = st.items;
        if (d->duration_s > 0 && t - start >= d->duration_s) {
            *d->stop = 1;
            break;
        }
        if (t - last < 1.0)
            continue;
        const sr_hist_t *fresh = sr_pipeline_freshness(d->pipeline);
        fprintf(stderr,
                "\r%6.0fs  %7.0f events/s  users %-7llu items %-6llu  freshness p50 %llu ms "
                "p99 %llu ms  alerts %llu  dlq %llu%s   ",
                t - start, (double)(st.events_applied - last_applied) / (t - last),
                (unsigned long long)st.users, (unsigned long long)st.items,
                (unsigned long long)sr_hist_quantile_since(fresh, &previous, 0.5),
                (unsigned long long)sr_hist_quantile_since(fresh, &previous, 0.99),
                (unsigned long long)st.alerts,
                (unsigned long long)st.dead_letters, st.paused ? "  (paused: sinks behind)" : "");
        last = t;
        last_applied = st.events_applied;
        sr_hist_snapshot(fresh, &previous);
    }
    return NULL;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec demo [--duration S] [--rate N] [--users N] [--items N]\n"
            "                      [-c CONFIG] [-X key=value ...]\n"
            "\n"
            "Starts an embedded Kafka (librdkafka's mock cluster, reachable over TCP),\n"
            "a local redis-server unless redis.url answers, and the synthetic generator\n"
            "(--rate events/s, default 20000), and runs the daemon on them with a live\n"
            "status line. --duration 0 (the default) runs until Ctrl-C.\n");
}

static bool number(const char *name, const char *s, double min, double max, double *out) {
    return sr_cli_number("demo", name, s, min, max, out);
}

static void print_commands(const sr_config_t *cfg, const char *bootstrap, const char *redis_url) {
    char host[256], dlq[256];
    int port = 6379, db = 0;
    sr_redis_parse_url(redis_url, host, sizeof host, &port, &db, NULL, 0);
    bool json = strcmp(cfg->io.redis_reco_format, "json") == 0;
    fprintf(stderr,
            "\nLook at the results while the demo runs:\n"
            "  redis-cli -h %s -p %d %s 'reco:{u1}'%s\n"
            "  redis-cli -h %s -p %d ZREVRANGE 'sim:{i1}' 0 9 WITHSCORES\n"
            "  redis-cli -h %s -p %d --scan --pattern 'churn:*' | head\n"
            "  build/streamrec tail -X kafka.bootstrap.servers=%s --topic %s --from-beginning\n"
            "  kcat -b %s -L\n"
            "  kcat -b %s -t %s -C -o -5 -e -f '%%k %%T %%S bytes\\n'\n"
            "  kcat -b %s -t %s -C -o -5 -e -f '%%k %%T %%S bytes\\n'\n"
            "  kcat -b %s -t %s -C -e   (dead letters, with their error headers: -f '%%h')\n\n",
            host, port, json ? "GET" : "ZREVRANGE", json ? "" : " 0 -1 WITHSCORES", host, port, host,
            port, bootstrap, cfg->io.output_churn_topic, bootstrap, bootstrap,
            cfg->io.output_reco_topic, bootstrap,
            cfg->io.output_churn_topic, bootstrap,
            sr_config_dlq_topic(cfg, dlq, sizeof dlq) ? dlq : "?");
}

int sr_cmd_demo(int argc, char **argv) {
    static const struct option options[] = {
        {"duration", required_argument, NULL, 'd'}, {"rate", required_argument, NULL, 'r'},
        {"users", required_argument, NULL, 'u'},    {"items", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    demo_t d;
    memset(&d, 0, sizeof d);
    sr_synth_config_defaults(&d.synth);
    d.synth.users = 20000;
    d.synth.items = 5000;
    d.rate = 20000;
    sr_cli_config_args_t conf_args = {0};
    char errstr[512];
    double v;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd': if (!number("duration", optarg, 0, 1e7, &d.duration_s)) return 2; break;
        case 'r': if (!number("rate", optarg, 1, 1e7, &d.rate)) return 2; break;
        case 'u': if (!number("users", optarg, 1, 1e8, &v)) return 2; d.synth.users = (uint32_t)v; break;
        case 'i': if (!number("items", optarg, 1, 1e8, &v)) return 2; d.synth.items = (uint32_t)v; break;
        case 'c': conf_args.config_path = optarg; break;
        case 'X':
            if (sr_cli_add_override(&conf_args, optarg, errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "streamrec demo: %s\n", errstr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (d.synth.categories > d.synth.items)
        d.synth.categories = d.synth.items;
    sr_config_t cfg;
    if (sr_cli_build_config(&cfg, &conf_args, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "streamrec demo: %s\n", errstr);
        return 2;
    }
    int rc = 1;
    sr_embedded_t *embedded = NULL;
    sr_endpoint_t *endpoint = NULL;
    pthread_t generator, status;
    bool generator_started = false, status_started = false;
    sr_cli_install_stop_signals(&d.stop);
    sr_cli_start_logging(&cfg);

    /* Kafka: the mock cluster with the daemon's topics; Redis: the configured
     * one if it answers, else our own. */
    if (!(embedded = sr_embedded_new(&cfg, "demo", stderr, errstr, sizeof errstr))) {
        fprintf(stderr, "streamrec demo: %s\n", errstr);
        goto done;
    }
    d.bootstrap = sr_embedded_bootstrap(embedded);
    d.topic = sr_embedded_input_topic(embedded);

    sr_producer_config_t pcfg = {.bootstrap = d.bootstrap, .topic = d.topic,
                                 .schema_id = INPUT_SCHEMA_ID,
                                 .pace = {SR_PACE_RATE, d.rate}, .flush_timeout_ms = 5000};
    if (!(d.pipeline = sr_pipeline_new(&cfg, errstr, sizeof errstr)) ||
        !(d.stream = sr_synth_new(&d.synth, errstr, sizeof errstr)) ||
        !(d.producer = sr_producer_new(&pcfg, errstr, sizeof errstr))) {
        fprintf(stderr, "streamrec demo: %s\n", errstr);
        goto done;
    }
    if (cfg.io.http_listen[0]) {
        if (!(endpoint = sr_endpoint_new(&cfg, d.pipeline, errstr, sizeof errstr))) {
            fprintf(stderr, "streamrec demo: %s\n", errstr);
            goto done;
        }
        fprintf(stderr, "streamrec demo: /metrics, /healthz and /readyz on %s (port %d)\n",
                cfg.io.http_listen, sr_endpoint_port(endpoint));
    }
    print_commands(&cfg, d.bootstrap, cfg.io.redis_url);
    fprintf(stderr, "streamrec demo: generating %u users x %u items at %.0f events/s%s\n",
            d.synth.users, d.synth.items, d.rate,
            d.duration_s > 0 ? "" : "; Ctrl-C to stop");
    generator_started = pthread_create(&generator, NULL, generator_main, &d) == 0;
    status_started = pthread_create(&status, NULL, status_main, &d) == 0;
    if (!generator_started || !status_started) {
        fprintf(stderr, "streamrec demo: cannot start threads\n");
        *d.stop = 1;
    }
    double start = sr_clock_mono_s();
    rc = sr_pipeline_run(d.pipeline, d.stop, errstr, sizeof errstr) == SR_OK ? 0 : 1;
    *d.stop = 1;
    if (rc)
        fprintf(stderr, "\nstreamrec demo: %s\n", errstr);
    if (generator_started)
        pthread_join(generator, NULL);
    if (status_started)
        pthread_join(status, NULL);
    if (d.error[0]) {
        fprintf(stderr, "\nstreamrec demo: %s\n", d.error);
        rc = 1;
    }

    sr_pipeline_stats_t st;
    sr_pipeline_stats(d.pipeline, &st);
    sr_producer_stats_t produced;
    sr_producer_stats(d.producer, &produced);
    const sr_hist_t *fresh = sr_pipeline_freshness(d.pipeline);
    double secs = sr_clock_mono_s() - start;
    printf("\nstreamrec demo summary (%.0f s)\n"
           "  events produced        %llu\n"
           "  events applied         %llu (%.0f/s)\n"
           "  users, items           %llu, %llu (before the stop)\n"
           "  recommendation writes  %llu (Redis and %s)\n"
           "  neighbour-list writes  %llu\n"
           "  churn alerts           %llu\n"
           "  dead letters           %llu\n"
           "  freshness (produce -> Redis, whole run)\n"
           "                         p50 %llu ms  p99 %llu ms  p99.9 %llu ms\n",
           secs, (unsigned long long)produced.produced,
           (unsigned long long)st.events_applied, secs > 0 ? st.events_applied / secs : 0,
           (unsigned long long)d.users, (unsigned long long)d.items,
           (unsigned long long)st.recos_written, cfg.io.output_reco_topic,
           (unsigned long long)st.sims_written, (unsigned long long)st.alerts,
           (unsigned long long)st.dead_letters,
           (unsigned long long)sr_hist_quantile(fresh, 0.5),
           (unsigned long long)sr_hist_quantile(fresh, 0.99),
           (unsigned long long)sr_hist_quantile(fresh, 0.999));
    if (rc == 0 && st.events_applied == 0) {
        fprintf(stderr, "streamrec demo: no event reached the engine\n");
        rc = 1;
    }
done:
    sr_producer_destroy(d.producer);
    sr_synth_destroy(d.stream);
    sr_endpoint_destroy(endpoint); /* before the pipeline it reads */
    sr_pipeline_destroy(d.pipeline);
    sr_embedded_destroy(embedded);
    sr_config_free(&cfg);
    return rc;
}
