/* streamrec tail: an output topic as JSON lines. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "streamrec/clock.h"
#include "streamrec/kafka_in.h"
#include "tail.h"

#define MAX_ITEMS 1024
#define MAX_FEATURES 64

static const char *const level_names[] = {"LOW", "MEDIUM", "HIGH"};

char *sr_tail_json(sr_output_decoder_t *dec, sr_tail_kind_t kind, const void *payload, size_t len,
                   char *errstr, size_t errstr_size) {
    json_t *o = NULL;
    if (kind == SR_TAIL_RECO) {
        sr_reco_record_t rec;
        sr_scored_id_t items[MAX_ITEMS];
        if (sr_decode_reco(dec, payload, len, &rec, items, MAX_ITEMS, NULL, errstr, errstr_size))
            return NULL;
        json_t *list = json_array();
        for (size_t i = 0; i < rec.n_items; i++)
            json_array_append_new(list, json_pack("{s:s, s:f}", "item_id", rec.items[i].item_id,
                                                  "score", (double)rec.items[i].score));
        o = json_pack("{s:s, s:o, s:I, s:I, s:I, s:I}", "user_id", rec.user_id, "items", list,
                      "model_version", (json_int_t)rec.model_version, "event_ts_ms",
                      (json_int_t)rec.event_ts_ms, "produced_ts_ms",
                      (json_int_t)rec.produced_ts_ms, "seq", (json_int_t)rec.seq);
    } else {
        sr_alert_record_t rec;
        sr_feature_weight_t features[MAX_FEATURES];
        if (sr_decode_alert(dec, payload, len, &rec, features, MAX_FEATURES, NULL, errstr,
                            errstr_size))
            return NULL;
        json_t *top = json_array();
        for (size_t f = 0; f < rec.n_features; f++)
            json_array_append_new(top, json_pack("{s:s, s:f}", "feature", rec.features[f].feature,
                                                 "weight", rec.features[f].weight));
        o = json_pack("{s:s, s:s, s:f, s:s, s:s, s:I, s:o, s:I}", "alert_id", rec.alert_id,
                      "user_id", rec.user_id, "probability", rec.probability, "level",
                      (unsigned)rec.level < 3 ? level_names[rec.level] : "UNKNOWN", "state",
                      rec.state == SR_ALERT_FIRING ? "FIRING" : "RESOLVED", "last_seen_ms",
                      (json_int_t)rec.last_seen_ms, "top_features", top, "event_ts_ms",
                      (json_int_t)rec.event_ts_ms);
    }
    if (!o) {
        snprintf(errstr, errstr_size, "cannot build the JSON (out of memory or bad UTF-8)");
        return NULL;
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    json_decref(o);
    return line;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec tail --topic T [--from-beginning] [--max N] [--idle-exit S]\n"
            "                      [-c CONFIG] [-X key=value ...]\n"
            "\n"
            "Prints the records of an output topic (output.reco.topic or\n"
            "output.churn.topic) as JSON lines, decoded with streamrec's schemas. The\n"
            "broker comes from kafka.bootstrap.servers. --max N exits after N records,\n"
            "--idle-exit S after S seconds without one; otherwise it runs until Ctrl-C.\n");
}

int sr_cmd_tail(int argc, char **argv) {
    static const struct option options[] = {
        {"topic", required_argument, NULL, 't'},     {"from-beginning", no_argument, NULL, 'b'},
        {"max", required_argument, NULL, 'm'},       {"idle-exit", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    const char *topic = NULL;
    bool from_beginning = false;
    double max_records = 0, idle_exit_s = 0;
    sr_cli_config_args_t conf_args = {0};
    char errstr[512];
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:h", options, NULL)) != -1) {
        switch (opt) {
        case 't': topic = optarg; break;
        case 'b': from_beginning = true; break;
        case 'm': if (!sr_cli_number("tail", "max", optarg, 0, 1e15, &max_records)) return 2; break;
        case 'i': if (!sr_cli_number("tail", "idle-exit", optarg, 0, 1e7, &idle_exit_s)) return 2; break;
        case 'c': conf_args.config_path = optarg; break;
        case 'X':
            if (sr_cli_add_override(&conf_args, optarg, errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "streamrec tail: %s\n", errstr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!topic || optind != argc) {
        usage(stderr);
        return 2;
    }
    sr_config_t cfg;
    if (sr_cli_build_config(&cfg, &conf_args, errstr, sizeof errstr) != SR_OK) {
        fprintf(stderr, "streamrec tail: %s\n", errstr);
        return 2;
    }
    const char *bootstrap = sr_config_kafka_value(&cfg, "bootstrap.servers");
    sr_tail_kind_t kind = strcmp(topic, cfg.io.output_churn_topic) == 0 ? SR_TAIL_ALERT
                                                                       : SR_TAIL_RECO;
    int rc = 1;
    sr_kafka_in_t *in = NULL;
    sr_output_decoder_t *dec = NULL;
    if (!bootstrap) {
        fprintf(stderr, "streamrec tail: set kafka.bootstrap.servers (-X or -c)\n");
        goto done;
    }
    /* A group of its own, nothing committed: tailing never moves anyone's offsets. */
    char group[64];
    snprintf(group, sizeof group, "streamrec-tail-%d", (int)getpid());
    sr_kafka_kv_t props[] = {{"auto.offset.reset", from_beginning ? "earliest" : "latest"},
                             {"enable.auto.commit", "false"}};
    char *topics[] = {(char *)topic};
    sr_kafka_in_config_t icfg = {.bootstrap = bootstrap, .group_id = group, .topics = topics,
                                 .n_topics = 1, .props = props, .n_props = 2};
    if (!(in = sr_kafka_in_new(&icfg, errstr, sizeof errstr)) ||
        !(dec = sr_output_decoder_new(errstr, sizeof errstr))) {
        fprintf(stderr, "streamrec tail: %s\n", errstr);
        goto done;
    }
    volatile sig_atomic_t *stop;
    sr_cli_install_stop_signals(&stop);
    uint64_t printed = 0;
    int64_t last_record_ms = sr_clock_mono_ms();
    rd_kafka_message_t *msgs[256];
    while (!*stop && (max_records == 0 || printed < (uint64_t)max_records)) {
        size_t n = sr_kafka_in_poll(in, msgs, 256, 100);
        for (size_t k = 0; k < n; k++) {
            rd_kafka_message_t *m = msgs[k];
            if (!m->err && (max_records == 0 || printed < (uint64_t)max_records)) {
                char *line = sr_tail_json(dec, kind, m->payload, m->len, errstr, sizeof errstr);
                if (line)
                    printf("%s\n", line);
                else
                    fprintf(stderr, "streamrec tail: %s [%d] offset %lld: %s\n", topic,
                            (int)m->partition, (long long)m->offset, errstr);
                free(line);
                printed++;
                last_record_ms = sr_clock_mono_ms();
            }
            rd_kafka_message_destroy(m);
        }
        fflush(stdout);
        if (idle_exit_s > 0 && sr_clock_mono_ms() - last_record_ms > idle_exit_s * 1000)
            break;
    }
    rc = 0;
done:
    sr_output_decoder_destroy(dec);
    if (in)
        sr_kafka_in_close(in, NULL, 0);
    sr_kafka_in_destroy(in);
    sr_config_free(&cfg);
    return rc;
}
