/* streamrec run: the daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
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
            "\n"
            "Consumes click events from Kafka (input.topics), keeps the model up to date\n"
            "and publishes recommendations and churn alerts to Redis and Kafka. Stop with\n"
            "SIGINT or SIGTERM: the batch in flight is finished and its offsets committed.\n"
            "Keys: streamrec --help-config.\n");
}

int sr_cmd_run(int argc, char **argv) {
    static const struct option options[] = {{"check-config", no_argument, NULL, 'k'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    sr_cli_config_args_t conf_args = {0};
    bool check_only = false;
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
    int rc = 1;
    sr_pipeline_t *p = sr_pipeline_new(&cfg, errstr, sizeof errstr);
    if (!p) {
        fprintf(stderr, "streamrec run: %s\n", errstr);
        goto done;
    }
    fprintf(stderr, "streamrec run: consuming %s as group %s\n", cfg.io.input_topics,
            cfg.io.input_group_id);
    if (sr_pipeline_run(p, stop, errstr, sizeof errstr) != SR_OK)
        fprintf(stderr, "streamrec run: %s\n", errstr);
    else
        rc = 0;
done:
    sr_pipeline_destroy(p);
    sr_config_free(&cfg);
    return rc;
}
