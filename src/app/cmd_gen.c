/* streamrec gen: the synthetic clickstream (synth.h), as streamrec-csv. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "streamrec/csv_reader.h"
#include "streamrec/synth.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec gen --csv FILE [--users N] [--items N] [--categories N]\n"
            "                     [--days D] [--sessions-per-day R] [--churn-fraction F]\n"
            "                     [--seed S] [--max-events N]\n"
            "\n"
            "Writes a synthetic clickstream with planted tastes, co-viewed item chains,\n"
            "carts, purchases and fading churners, in event-time order, in the\n"
            "streamrec-csv format that `streamrec eval --format streamrec-csv` reads.\n"
            "FILE '-' writes to standard output. Deterministic for a seed.\n");
}

static bool parse_number(const char *name, const char *s, double min, double max, double *out) {
    return sr_cli_number("gen", name, s, min, max, out);
}

int sr_cmd_gen(int argc, char **argv) {
    static const struct option options[] = {
        {"csv", required_argument, NULL, 'o'},
        {"users", required_argument, NULL, 'u'},
        {"items", required_argument, NULL, 'i'},
        {"categories", required_argument, NULL, 'C'},
        {"days", required_argument, NULL, 'd'},
        {"sessions-per-day", required_argument, NULL, 'r'},
        {"churn-fraction", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},
        {"max-events", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    sr_synth_config_t cfg;
    sr_synth_config_defaults(&cfg);
    const char *csv = NULL;
    double v, max_events = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'o': csv = optarg; break;
        case 'u': if (!parse_number("users", optarg, 1, 1e8, &v)) return 2; cfg.users = (uint32_t)v; break;
        case 'i': if (!parse_number("items", optarg, 1, 1e8, &v)) return 2; cfg.items = (uint32_t)v; break;
        case 'C': if (!parse_number("categories", optarg, 1, 1e6, &v)) return 2; cfg.categories = (uint32_t)v; break;
        case 'd': if (!parse_number("days", optarg, 0.001, 36500, &cfg.days)) return 2; break;
        case 'r': if (!parse_number("sessions-per-day", optarg, 0.001, 1000, &cfg.sessions_per_day)) return 2; break;
        case 'f': if (!parse_number("churn-fraction", optarg, 0, 1, &cfg.churn_fraction)) return 2; break;
        case 's': if (!parse_number("seed", optarg, 0, 1e15, &v)) return 2; cfg.seed = (uint64_t)v; break;
        case 'n': if (!parse_number("max-events", optarg, 0, 1e12, &max_events)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!csv || optind != argc) {
        usage(stderr);
        return 2;
    }
    char errstr[256];
    sr_synth_t *synth = sr_synth_new(&cfg, errstr, sizeof errstr);
    if (!synth) {
        fprintf(stderr, "streamrec gen: %s\n", errstr);
        return 2;
    }
    FILE *out = strcmp(csv, "-") == 0 ? stdout : fopen(csv, "w");
    if (!out) {
        perror(csv);
        sr_synth_destroy(synth);
        return 1;
    }
    sr_csv_write_header(out);
    sr_event_t ev;
    int rc = 0;
    while ((max_events == 0 || sr_synth_events(synth) < (uint64_t)max_events) &&
           sr_synth_next(synth, &ev)) {
        if (sr_csv_write_event(out, &ev) != SR_OK) {
            fprintf(stderr, "streamrec gen: cannot write event %llu\n",
                    (unsigned long long)sr_synth_events(synth));
            rc = 1;
            break;
        }
    }
    if (out != stdout && fclose(out) != 0) {
        perror(csv);
        rc = 1;
    }
    if (rc == 0 && out != stdout)
        fprintf(stderr, "streamrec gen: %llu events to %s\n",
                (unsigned long long)sr_synth_events(synth), csv);
    sr_synth_destroy(synth);
    return rc;
}
