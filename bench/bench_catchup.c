/* bench_catchup: how fast the daemon works off a backlog -- the catch-up
 * after a restart or an outage -- and what serving /metrics costs it.
 *
 * One process holds the embedded Kafka (librdkafka's mock cluster, reached
 * over TCP) and a real redis-server child. First --events synthetic events
 * are produced into the input topic with nobody consuming; then the
 * pipeline starts (as `streamrec run` would, from the earliest offsets of a
 * group without commits) and works them off at its own pace.
 *
 *   applied/s   events applied and acknowledged by Redis and Kafka per
 *               second, from the first applied event to the last: the
 *               consumer group's join (seconds on the mock cluster) is
 *               not part of it
 *
 * --scrape serves the HTTP endpoint (http.listen on a free loopback port)
 * and GETs /metrics once a second while the backlog drains, as Prometheus
 * would; comparing runs with and without it gives the metrics overhead.
 *
 * The mock broker keeps only a few MiB per partition, so the input topic
 * gets --partitions partitions (default 32) to hold the backlog; "applied"
 * below "produced" in the output means the broker dropped the oldest.
 *
 * Prints one JSON object on stdout; progress on stderr. */
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_daemon.h"
#include "app/cli.h"
#include "app/embedded.h"
#include "app/endpoint.h"
#include "app/pipeline.h"
#include "app/producer.h"
#include "streamrec/clock.h"
#include "streamrec/synth.h"

/* The backlog is done when nothing more was applied for this long. */
#define IDLE_END_S 3.0

typedef struct scraper {
    int port;
    atomic_int stop;
    uint64_t scrapes, failures, bytes;
} scraper_t;

static size_t count_body(char *data, size_t size, size_t n, void *opaque) {
    (void)data;
    *(uint64_t *)opaque += size * n;
    return size * n;
}

/* GET /metrics once a second, like a Prometheus scrape_interval of 1 s. */
static void *scraper_main(void *arg) {
    scraper_t *s = arg;
    pthread_setname_np(pthread_self(), "sr-scraper");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s->port);
    CURL *curl = curl_easy_init();
    if (!curl)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s->bytes);
    double next = sr_clock_mono_s();
    while (!atomic_load(&s->stop)) {
        if (sr_clock_mono_s() >= next) {
            long status = 0;
            if (curl_easy_perform(curl) == CURLE_OK &&
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
                status == 200)
                s->scrapes++;
            else
                s->failures++;
            next += 1.0;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

static uint64_t applied(sr_pipeline_t *p) {
    sr_pipeline_stats_t st;
    sr_pipeline_stats(p, &st);
    return st.events_applied;
}

static void usage(FILE *out) {
    fprintf(out, "usage: bench_catchup [--events N] [--users N] [--items N] [--partitions P]\n"
                 "                     [--scrape] [-X key=value ...]\n");
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"events", required_argument, NULL, 'e'}, {"users", required_argument, NULL, 'u'},
        {"items", required_argument, NULL, 'i'},  {"partitions", required_argument, NULL, 'p'},
        {"scrape", no_argument, NULL, 's'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    double events = 2e6, partitions = 32, v;
    bool scrape = false;
    sr_synth_config_t synth;
    sr_synth_config_defaults(&synth);
    synth.users = 100000;
    synth.items = 20000;
    synth.days = 4;
    synth.sessions_per_day = 10;
    sr_cli_config_args_t conf_args = {0};
    char errstr[1024];
    int opt;
    while ((opt = getopt_long(argc, argv, "X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'e': if (!sr_cli_number("bench_catchup", "events", optarg, 1, 1e9, &events)) return 2; break;
        case 'u': if (!sr_cli_number("bench_catchup", "users", optarg, 1, 1e8, &v)) return 2; synth.users = (uint32_t)v; break;
        case 'i': if (!sr_cli_number("bench_catchup", "items", optarg, 1, 1e8, &v)) return 2; synth.items = (uint32_t)v; break;
        case 'p': if (!sr_cli_number("bench_catchup", "partitions", optarg, 1, 1000, &partitions)) return 2; break;
        case 's': scrape = true; break;
        case 'X': if (!bench_add_override("bench_catchup", &conf_args, optarg)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    sr_config_t cfg;
    if (!bench_build_config("bench_catchup", &conf_args, &synth, &cfg))
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static volatile sig_atomic_t stop;
    int rc = 1;
    sr_embedded_t *embedded = NULL;
    sr_producer_t *producer = NULL;
    sr_synth_t *stream = NULL;
    sr_pipeline_t *pipeline = NULL;
    sr_endpoint_t *endpoint = NULL;
    bench_engine_run_t run = {.stop = &stop};
    scraper_t scraper = {0};
    pthread_t engine_thread, scraper_thread;
    bool engine_started = false, scraper_started = false;
    if (!(embedded = sr_embedded_new_partitioned(&cfg, "bench_catchup", stderr, (int)partitions,
                                                 errstr, sizeof errstr)) ||
        !(stream = sr_synth_new(&synth, errstr, sizeof errstr)) ||
        (scrape && sr_config_set(&cfg, "http.listen", "127.0.0.1:0", "bench_catchup", errstr,
                                 sizeof errstr) != SR_OK)) {
        fprintf(stderr, "bench_catchup: %s\n", errstr);
        goto done;
    }

    /* the backlog, produced before anyone consumes */
    sr_kafka_kv_t gen_props[] = {{"linger.ms", "10"}};
    sr_producer_config_t pcfg = {.bootstrap = sr_embedded_bootstrap(embedded),
                                 .props = gen_props, .n_props = 1,
                                 .topic = sr_embedded_input_topic(embedded),
                                 .schema_id = 1,
                                 .pace = {SR_PACE_MAX, 0},
                                 .max_events = (uint64_t)events};
    double p0 = sr_clock_mono_s();
    if (!(producer = sr_producer_new(&pcfg, errstr, sizeof errstr)) ||
        sr_producer_run(producer, sr_producer_synth_source, stream, &stop, errstr,
                        sizeof errstr) != SR_OK) {
        fprintf(stderr, "bench_catchup: producing the backlog: %s\n", errstr);
        goto done;
    }
    sr_producer_stats_t ps;
    sr_producer_stats(producer, &ps);
    fprintf(stderr, "bench_catchup: %llu events produced in %.1f s; starting the pipeline\n",
            (unsigned long long)ps.delivered, sr_clock_mono_s() - p0);

    run.pipeline = pipeline = sr_pipeline_new(&cfg, errstr, sizeof errstr);
    if (!pipeline || (scrape && !(endpoint = sr_endpoint_new(&cfg, pipeline, errstr,
                                                               sizeof errstr)))) {
        fprintf(stderr, "bench_catchup: %s\n", errstr);
        goto done;
    }
    if (endpoint) {
        scraper.port = sr_endpoint_port(endpoint);
        scraper_started = pthread_create(&scraper_thread, NULL, scraper_main, &scraper) == 0;
    }
    engine_started = pthread_create(&engine_thread, NULL, bench_engine_main, &run) == 0;
    if (!engine_started || (endpoint && !scraper_started)) {
        fprintf(stderr, "bench_catchup: cannot start threads\n");
        goto done;
    }

    /* the clock runs from the first applied event to the last */
    struct timespec tick = {0, 5 * 1000000L};
    double give_up = sr_clock_mono_s() + 60;
    uint64_t first = 0;
    while (!stop && (first = applied(pipeline)) == 0 && sr_clock_mono_s() < give_up)
        nanosleep(&tick, NULL);
    if (first == 0) {
        fprintf(stderr, "bench_catchup: nothing applied within 60 s\n");
        goto done;
    }
    double t0 = sr_clock_mono_s(), t_last = t0;
    uint64_t last = first;
    while (!stop && last < ps.delivered && sr_clock_mono_s() - t_last < IDLE_END_S) {
        nanosleep(&tick, NULL);
        uint64_t now = applied(pipeline);
        if (now != last) {
            last = now;
            t_last = sr_clock_mono_s();
        }
    }
    sr_pipeline_stats_t st;
    sr_pipeline_stats(pipeline, &st);
    double seconds = t_last - t0;
    printf("{\"scrape\":%s,\"partitions\":%d,\"users\":%u,\"items\":%u,\"produced\":%llu,"
           "\"applied\":%llu,\"seconds\":%.2f,\"applied_per_s\":%.0f,"
           "\"users_in_state\":%llu,\"items_in_state\":%llu,\"scrapes\":%llu,"
           "\"scrape_failures\":%llu,\"scrape_bytes\":%llu}\n",
           scrape ? "true" : "false", (int)partitions, synth.users, synth.items,
           (unsigned long long)ps.delivered, (unsigned long long)last, seconds,
           seconds > 0 ? (double)(last - first) / seconds : 0.0,
           (unsigned long long)st.users, (unsigned long long)st.items,
           (unsigned long long)scraper.scrapes, (unsigned long long)scraper.failures,
           (unsigned long long)scraper.bytes);
    fflush(stdout);
    rc = 0;
done:
    stop = 1;
    atomic_store(&scraper.stop, 1);
    if (scraper_started)
        pthread_join(scraper_thread, NULL);
    if (engine_started) {
        pthread_join(engine_thread, NULL);
        if (run.result != SR_OK) {
            fprintf(stderr, "bench_catchup: pipeline: %s\n", run.error);
            rc = 1;
        }
    }
    sr_endpoint_destroy(endpoint);
    sr_pipeline_destroy(pipeline);
    sr_producer_destroy(producer);
    sr_synth_destroy(stream);
    sr_embedded_destroy(embedded);
    sr_config_free(&cfg);
    curl_global_cleanup();
    return rc;
}
