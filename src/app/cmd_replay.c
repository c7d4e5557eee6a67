/* streamrec replay: a dataset file into a Kafka topic, in event-time order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "producer.h"
#include "streamrec/csv_reader.h"
#include "streamrec/event_log.h"

#define DEFAULT_SCHEMA_ID 1

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec replay --input FILE --format streamrec-csv|diginetica|movielens\n"
            "                        --topic T [--max | --speed N] [--count N]\n"
            "                        [--schema-id ID] [-c CONFIG] [-X key=value ...]\n"
            "\n"
            "Reads FILE with the readers `streamrec eval` uses, in event-time order (ties\n"
            "keep their file order), and produces every event to topic T as the daemon\n"
            "reads them: Avro ClickEvent records with the Confluent header (schema id\n"
            "--schema-id, default %d), keyed by user id. Record timestamps are the time\n"
            "of the replay; an event's own time is its ts_ms field.\n"
            "\n"
            "--max (the default) produces as fast as the broker takes them. --speed N\n"
            "keeps the dataset's rhythm, N times faster: the wait between two events is\n"
            "their event-time gap divided by N (--speed 1 is real time, --speed 3600 an\n"
            "hour of the dataset per second). --count N stops after N events.\n"
            "The broker is kafka.bootstrap.servers; kafka.* and kafka.producer.* keys go\n"
            "to the producer. Ctrl-C stops after flushing what was produced.\n",
            DEFAULT_SCHEMA_ID);
}

/* The loaded dataset as an event source, front to back. */
typedef struct log_cursor {
    const sr_event_log_t *log;
    size_t next;
} log_cursor_t;

static sr_err_t next_from_log(void *opaque, sr_event_t *ev, char *errstr, size_t errstr_size) {
    log_cursor_t *c = opaque;
    (void)errstr;
    (void)errstr_size;
    if (c->next >= c->log->n_events)
        return SR_ERR_EOF;
    *ev = c->log->events[c->next++];
    return SR_OK;
}

int sr_cmd_replay(int argc, char **argv) {
    static const struct option options[] = {
        {"input", required_argument, NULL, 'i'},     {"format", required_argument, NULL, 'f'},
        {"topic", required_argument, NULL, 't'},     {"speed", required_argument, NULL, 'v'},
        {"max", no_argument, NULL, 'm'},             {"count", required_argument, NULL, 'n'},
        {"schema-id", required_argument, NULL, 'S'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *input = NULL, *format_name = NULL, *topic = NULL;
    double speed = 0, count = 0, schema_id = DEFAULT_SCHEMA_ID;
    bool max = false;
    sr_cli_config_args_t conf_args = {0};
    char errstr[512];
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'i': input = optarg; break;
        case 'f': format_name = optarg; break;
        case 't': topic = optarg; break;
        case 'v':
            if (!sr_cli_number("replay", "speed", optarg, 1e-6, 1e12, &speed))
                return 2;
            break;
        case 'm': max = true; break;
        case 'n': if (!sr_cli_number("replay", "count", optarg, 0, 1e15, &count)) return 2; break;
        case 'S':
            if (!sr_cli_number("replay", "schema-id", optarg, 0, 2147483647, &schema_id))
                return 2;
            break;
        case 'c': conf_args.config_path = optarg; break;
        case 'X':
            if (sr_cli_add_override(&conf_args, optarg, errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "streamrec replay: %s\n", errstr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const char *missing = !input ? "--input FILE" : !format_name ? "--format NAME"
                          : !topic ? "--topic T" : NULL;
    if (missing || optind != argc) {
        if (missing)
            fprintf(stderr, "streamrec replay: %s is required\n", missing);
        else
            fprintf(stderr, "streamrec replay: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (max && speed > 0) {
        fprintf(stderr, "streamrec replay: --max and --speed exclude each other\n");
        return 2;
    }
    sr_csv_format_t format;
    if (sr_csv_format_parse(format_name, &format) != SR_OK) {
        fprintf(stderr,
                "streamrec replay: unknown format '%s' (streamrec-csv, diginetica, movielens)\n",
                format_name);
        return 2;
    }
    sr_config_t cfg;
    if (sr_cli_build_config(&cfg, &conf_args, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "streamrec replay: %s\n", errstr);
        return 2;
    }
    int rc = 2;
    sr_event_log_t *log = NULL;
    if (!sr_producer_command_bootstrap("replay", &cfg))
        goto done;
    rc = 1;
    if (!(log = sr_event_log_load(input, format, errstr, sizeof errstr))) {
        fprintf(stderr, "streamrec replay: %s\n", errstr);
        goto done;
    }
    if (log->n_bad_lines)
        fprintf(stderr, "streamrec replay: skipped %zu bad lines (first: %s)\n", log->n_bad_lines,
                log->first_error);
    fprintf(stderr, "streamrec replay: %zu events from %s\n", log->n_events, input);
    log_cursor_t cursor = {.log = log};
    sr_producer_config_t pcfg = {.topic = topic, .schema_id = (int32_t)schema_id,
                                 .pace = {speed > 0 ? SR_PACE_EVENT_TIME : SR_PACE_MAX, speed},
                                 .max_events = (uint64_t)count};
    rc = sr_producer_command("replay", &cfg, &pcfg, next_from_log, &cursor);
done:
    sr_event_log_destroy(log);
    sr_config_free(&cfg);
    return rc;
}
