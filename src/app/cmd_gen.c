/* streamrec gen: the synthetic clickstream (synth.h), as streamrec-csv or
 * into a Kafka topic. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "producer.h"
#include "streamrec/csv_reader.h"
#include "streamrec/synth.h"

#define DEFAULT_RATE 1000
#define DEFAULT_SCHEMA_ID 1

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec gen --csv FILE [STREAM OPTIONS]\n"
            "       streamrec gen --topic T [--rate N] [--schema-id ID] [STREAM OPTIONS]\n"
            "                     [-c CONFIG] [-X key=value ...]\n"
            "stream options: [--users N] [--items N] [--categories N] [--days D]\n"
            "                [--sessions-per-day R] [--churn-fraction F] [--seed S] [--count N]\n"
            "\n"
            "A synthetic clickstream with planted tastes, co-viewed item chains, carts,\n"
            "purchases and fading churners, in event-time order, deterministic for a seed.\n"
            "--count N stops after N events (default: the whole span of --days).\n"
            "\n"
            "--csv FILE writes the streamrec-csv format that `streamrec eval --format\n"
            "streamrec-csv` reads; FILE '-' writes to standard output.\n"
            "\n"
            "--topic T produces the events to Kafka as the daemon reads them: Avro\n"
            "ClickEvent records with the Confluent header (schema id --schema-id, default\n"
            "%d), keyed by user id, at --rate events per second (default %d; 0: as fast\n"
            "as the broker takes them). The broker is kafka.bootstrap.servers; kafka.* and\n"
            "kafka.producer.* keys go to the producer. Ctrl-C stops after flushing what\n"
            "was produced.\n",
            DEFAULT_SCHEMA_ID, DEFAULT_RATE);
}

static int write_csv(sr_synth_t *synth, const char *csv, uint64_t count) {
    FILE *out = strcmp(csv, "-") == 0 ? stdout : fopen(csv, "w");
    if (!out) {
        perror(csv);
        return 1;
    }
    sr_csv_write_header(out);
    sr_event_t ev;
    int rc = 0;
    while ((count == 0 || sr_synth_events(synth) < count) && sr_synth_next(synth, &ev)) {
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
    return rc;
}

static bool parse_number(const char *name, const char *s, double min, double max, double *out) {
    return sr_cli_number("gen", name, s, min, max, out);
}

int sr_cmd_gen(int argc, char **argv) {
    static const struct option options[] = {
        {"csv", required_argument, NULL, 'o'},
        {"topic", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'R'},
        {"schema-id", required_argument, NULL, 'S'},
        {"users", required_argument, NULL, 'u'},
        {"items", required_argument, NULL, 'i'},
        {"categories", required_argument, NULL, 'C'},
        {"days", required_argument, NULL, 'd'},
        {"sessions-per-day", required_argument, NULL, 'r'},
        {"churn-fraction", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},
        {"max-events", required_argument, NULL, 'n'}, /* the old name of --count */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    sr_synth_config_t cfg;
    sr_synth_config_defaults(&cfg);
    const char *csv = NULL, *topic = NULL;
    double v, count = 0, rate = DEFAULT_RATE, schema_id = DEFAULT_SCHEMA_ID;
    bool kafka_options = false;
    sr_cli_config_args_t conf_args = {0};
    char errstr[512];
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'o': csv = optarg; break;
        case 't': topic = optarg; break;
        case 'R': if (!parse_number("rate", optarg, 0, 1e9, &rate)) return 2; kafka_options = true; break;
        case 'S': if (!parse_number("schema-id", optarg, 0, 2147483647, &schema_id)) return 2; kafka_options = true; break;
        case 'u': if (!parse_number("users", optarg, 1, 1e8, &v)) return 2; cfg.users = (uint32_t)v; break;
        case 'i': if (!parse_number("items", optarg, 1, 1e8, &v)) return 2; cfg.items = (uint32_t)v; break;
        case 'C': if (!parse_number("categories", optarg, 1, 1e6, &v)) return 2; cfg.categories = (uint32_t)v; break;
        case 'd': if (!parse_number("days", optarg, 0.001, 36500, &cfg.days)) return 2; break;
        case 'r': if (!parse_number("sessions-per-day", optarg, 0.001, 1000, &cfg.sessions_per_day)) return 2; break;
        case 'f': if (!parse_number("churn-fraction", optarg, 0, 1, &cfg.churn_fraction)) return 2; break;
        case 's': if (!parse_number("seed", optarg, 0, 1e15, &v)) return 2; cfg.seed = (uint64_t)v; break;
        case 'n': if (!parse_number("count", optarg, 0, 1e12, &count)) return 2; break;
        case 'c': conf_args.config_path = optarg; kafka_options = true; break;
        case 'X':
            if (sr_cli_add_override(&conf_args, optarg, errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "streamrec gen: %s\n", errstr);
                return 2;
            }
            kafka_options = true;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "streamrec gen: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!csv == !topic) {
        fprintf(stderr, "streamrec gen: %s\n",
                csv ? "--csv and --topic exclude each other"
                    : "--csv FILE or --topic T is required");
        usage(stderr);
        return 2;
    }
    if (csv && kafka_options) {
        fprintf(stderr, "streamrec gen: --rate, --schema-id, -c and -X go with --topic\n");
        return 2;
    }
    sr_config_t config;
    if (topic && sr_cli_build_config(&config, &conf_args, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "streamrec gen: %s\n", errstr);
        return 2;
    }
    int rc = 2;
    sr_synth_t *synth = sr_synth_new(&cfg, errstr, sizeof errstr);
    if (!synth) {
        fprintf(stderr, "streamrec gen: %s\n", errstr);
    } else if (csv) {
        rc = write_csv(synth, csv, (uint64_t)count);
    } else {
        sr_producer_config_t pcfg = {.topic = topic, .schema_id = (int32_t)schema_id,
                                     .pace = {rate > 0 ? SR_PACE_RATE : SR_PACE_MAX, rate},
                                     .max_events = (uint64_t)count};
        rc = sr_producer_command("gen", &config, &pcfg, sr_producer_synth_source, synth);
    }
    if (topic)
        sr_config_free(&config);
    sr_synth_destroy(synth);
    return rc;
}
