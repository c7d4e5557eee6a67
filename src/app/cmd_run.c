/* streamrec run: the daemon; with --embedded, on its own Kafka and Redis. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "embedded.h"
#include "endpoint.h"
#include "log.h"
#include "pipeline.h"

static volatile sig_atomic_t stop_requested;

/* First SIGINT/SIGTERM: finish the batch in flight, commit, exit 0.
 * Second: exit at once (offsets stay where the last batch left them, so
 * nothing is lost: the next start reads from there). */
static void on_signal(int sig) {
    if (stop_requested)
        _exit(128 + sig);
    stop_requested = 1;
}

void sr_cli_install_stop_signals(volatile sig_atomic_t **flag) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    *flag = &stop_requested;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec run [-c CONFIG] [-X key=value ...] [--check-config]\n"
            "                     [--embedded] [--ready-file PATH]\n"
            "\n"
            "Consumes click events from Kafka (input.topics), keeps the model up to date\n"
            "and publishes recommendations and churn alerts to Redis and Kafka. Stop with\n"
            "SIGINT or SIGTERM: the batch in flight is finished and its offsets committed.\n"
            "Keys: streamrec --help-config.\n"
            "\n"
            "--embedded      run on an embedded Kafka (librdkafka's mock cluster, reachable\n"
            "                over TCP, topics created) instead of kafka.bootstrap.servers,\n"
            "                and on a redis-server started on a free port unless redis.url\n"
            "                answers; as `streamrec demo`, without the generator. Prints\n"
            "                'streamrec: embedded Kafka at HOST:PORT' and\n"
            "                'streamrec: Redis at URL' on stderr.\n"
            "--ready-file P  once the input partitions are assigned, write P (atomically)\n"
            "                with the lines bootstrap=SERVERS and redis=URL, and http_port=PORT\n"
            "                with http.listen; removed on exit.\n");
}

/* --ready-file: a thread that waits for the pipeline's first assignment,
 * then publishes the addresses. Partitions, not just a started process: the
 * consumer group's first join takes seconds (3 s on the mock cluster), and a
 * script that reads its outputs right after producing should know the
 * daemon is already consuming. */
typedef struct ready_watch {
    const char *path;
    const char *bootstrap;
    const char *redis_url;
    int http_port;              /* 0: no http.listen */
    sr_pipeline_t *pipeline;
    volatile sig_atomic_t *stop;
    atomic_bool pipeline_done; /* sr_pipeline_run() returned */
    bool written;
    char error[512];
} ready_watch_t;

/* Writes PATH.tmp and renames it over PATH, so a reader polling for PATH
 * never sees half a file. */
static bool write_ready_file(ready_watch_t *w, int partitions) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", w->path) >= (int)sizeof tmp) {
        snprintf(w->error, sizeof w->error, "--ready-file %s: path too long", w->path);
        return false;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(w->error, sizeof w->error, "--ready-file: creating %s.tmp: %s", w->path,
                 strerror(errno));
        return false;
    }
    fprintf(f, "bootstrap=%s\nredis=%s\n", w->bootstrap, w->redis_url);
    if (w->http_port > 0) /* the bound one: http.listen may ask for port 0 */
        fprintf(f, "http_port=%d\n", w->http_port);
    if (fclose(f) != 0 || rename(tmp, w->path) != 0) {
        snprintf(w->error, sizeof w->error, "--ready-file %s: %s", w->path, strerror(errno));
        unlink(tmp);
        return false;
    }
    sr_log(SR_LOG_INFO, &SR_LOG_CTX("run"), "ready (%d input partitions assigned); wrote %s",
           partitions, w->path);
    return true;
}

static void *ready_watch_main(void *arg) {
    ready_watch_t *w = arg;
    while (!*w->stop && !atomic_load(&w->pipeline_done)) {
        sr_pipeline_stats_t st;
        sr_pipeline_stats(w->pipeline, &st);
        if (st.partitions > 0) {
            if (!(w->written = write_ready_file(w, st.partitions)))
                *w->stop = 1; /* a script waits for this file: do not leave it waiting */
            break;
        }
        struct timespec tick = {0, 10 * 1000000L};
        nanosleep(&tick, NULL);
    }
    return NULL;
}

int sr_cmd_run(int argc, char **argv) {
    static const struct option options[] = {{"check-config", no_argument, NULL, 'k'},
                                            {"embedded", no_argument, NULL, 'e'},
                                            {"ready-file", required_argument, NULL, 'r'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    sr_cli_config_args_t conf_args = {0};
    bool check_only = false, embedded_wanted = false;
    const char *ready_path = NULL;
    char errstr[512];
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_args.config_path = optarg; break;
        case 'X':
            if (sr_cli_add_override(&conf_args, optarg, errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "streamrec run: %s\n", errstr);
                return 2;
            }
            break;
        case 'k': check_only = true; break;
        case 'e': embedded_wanted = true; break;
        case 'r': ready_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    sr_config_t cfg;
    if (sr_cli_build_config(&cfg, &conf_args, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "streamrec run: %s\n", errstr);
        return 2;
    }
    if (check_only) {
        printf("streamrec run: configuration OK\n");
        sr_config_free(&cfg);
        return 0;
    }
    volatile sig_atomic_t *stop;
    sr_cli_install_stop_signals(&stop);
    sr_cli_start_logging(&cfg);
    sr_log_ctx_t ctx = SR_LOG_CTX("run");
    int rc = 1;
    sr_embedded_t *embedded = NULL;
    sr_pipeline_t *p = NULL;
    sr_endpoint_t *endpoint = NULL;
    ready_watch_t watch = {.path = ready_path};
    pthread_t watcher;
    bool watching = false;
    if (embedded_wanted &&
        !(embedded = sr_embedded_new(&cfg, "--embedded", stderr, errstr, sizeof errstr))) {
        ctx.error = errstr;
        sr_log(SR_LOG_ERROR, &ctx, "cannot start the embedded Kafka and Redis");
        goto done;
    }
    if (!(p = sr_pipeline_new(&cfg, errstr, sizeof errstr))) {
        ctx.error = errstr;
        sr_log(SR_LOG_ERROR, &ctx, "cannot start the pipeline");
        goto done;
    }
    if (cfg.io.http_listen[0]) {
        if (!(endpoint = sr_endpoint_new(&cfg, p, errstr, sizeof errstr))) {
            ctx.error = errstr;
            sr_log(SR_LOG_ERROR, &ctx, "cannot serve http.listen");
            goto done;
        }
        sr_log(SR_LOG_INFO, &ctx,
               "serving the status page /, /metrics, /healthz and /readyz on %s (port %d)",
               cfg.io.http_listen, sr_endpoint_port(endpoint));
    }
    sr_log(SR_LOG_INFO, &ctx, "consuming %s as group %s", cfg.io.input_topics,
           cfg.io.input_group_id);
    if (ready_path) {
        const char *bootstrap = sr_config_kafka_value(&cfg, "bootstrap.servers");
        watch.bootstrap = bootstrap ? bootstrap : "";
        watch.redis_url = cfg.io.redis_url;
        watch.http_port = endpoint ? sr_endpoint_port(endpoint) : 0;
        watch.pipeline = p;
        watch.stop = stop;
        if (!(watching = pthread_create(&watcher, NULL, ready_watch_main, &watch) == 0)) {
            sr_log(SR_LOG_ERROR, &ctx, "cannot start the --ready-file thread");
            goto done;
        }
    }
    if (sr_pipeline_run(p, stop, errstr, sizeof errstr) != SR_OK) {
        ctx.error = errstr;
        sr_log(SR_LOG_ERROR, &ctx, "the pipeline stopped on an error");
    } else {
        rc = 0;
        sr_log(SR_LOG_INFO, &ctx, "stopped; offsets committed");
    }
done:
    if (watching) {
        atomic_store(&watch.pipeline_done, true);
        pthread_join(watcher, NULL);
        if (watch.error[0]) {
            ctx.error = watch.error;
            sr_log(SR_LOG_ERROR, &ctx, "--ready-file failed");
            rc = 1;
        }
        if (watch.written)
            unlink(ready_path);
    }
    sr_endpoint_destroy(endpoint); /* before the pipeline it reads */
    sr_pipeline_destroy(p);
    sr_embedded_destroy(embedded);
    sr_config_free(&cfg);
    return rc;
}
