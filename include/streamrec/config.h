/* streamrec configuration: one declarative table of properties.
 *
 * Every key has a type, bounds, a default, a one-line description and a
 * place in the typed sr_config_t; the same table drives the properties-file
 * parser, `-X key=value` and STREAMREC_<KEY> environment overrides (dots as
 * underscores, upper case), validation, `--help-config` and the README's
 * reference. Modules receive their typed sub-struct (cfg.engine.mf, ...),
 * never strings.
 *
 * Keys under `kafka.` are not in the table: they pass through to librdkafka
 * unchanged, `kafka.X` to both clients, `kafka.consumer.X` / `kafka.producer.X`
 * to one side only (the prefix stripped).
 *
 * Errors name the key and the source: "streamrec.conf:12: unknown key
 * 'reco.kk'; did you mean 'reco.k'?", "-X: key 'mf.k': '0' is below the
 * minimum 1".
 *
 * Precedence is the order of the calls; the daemon applies defaults, then
 * the file, then the environment, then -X, then validates.
 *
 * Ownership: sr_config_init() fills defaults; strings inside are owned by
 * the config and freed by sr_config_free(). */
#ifndef STREAMREC_CONFIG_H
#define STREAMREC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "streamrec/engine.h"
#include "streamrec/err.h"
#include "streamrec/kafka_common.h"

typedef enum { SR_KAFKA_BOTH = 0, SR_KAFKA_CONSUMER, SR_KAFKA_PRODUCER } sr_kafka_side_t;

typedef struct sr_kafka_prop {
    sr_kafka_side_t side;
    char *key;   /* librdkafka property name, prefix stripped */
    char *value;
} sr_kafka_prop_t;

typedef struct sr_io_config {
    char *input_topics;        /* comma list */
    char *input_group_id;      /* default "streamrec" */
    char *input_format;        /* "confluent" | "avro" */
    char *input_schema_file;   /* writer schema for every id when no registry */
    char *schema_registry_url; /* optional */
    int schema_registry_timeout_ms; /* one schema id, retries included */
    char *redis_url;           /* redis://host:port[/db] */
    int redis_key_ttl_s;
    char *redis_reco_format;   /* "zset" | "json" */
    char *redis_reco_guard;    /* "replay" | "always" */
    char *output_reco_topic;   /* default reco.updates */
    char *output_churn_topic;  /* default churn.alerts */
    char *dlq_topic;           /* default: <first input topic>.dlq */
    int sim_publish_interval_ms; /* sim:{item} writes per item at most this often */
    bool state_handoff;        /* move users' state with their partitions */
    char *state_changelog_topic; /* default: <input.group.id>-user-state */
    char *checkpoint_dir;      /* empty = no checkpoints */
    int checkpoint_keep;       /* newest files kept, default 3 */
    int checkpoint_interval_s; /* default 60 */
    int input_idle_ms;         /* a partition quiet this long of polling holds the watermark no more */
    int batch_max_ms;
    int batch_backlog_max_ms;  /* a batch's longest life while input is waiting */
    int batch_max_users;
    char *http_listen;         /* host:port, empty = off */
    int http_healthz_stall_ms; /* /healthz fails once the engine loop stalls this long */
    int metrics_recall_sample; /* one user in N checked for the running recall */
    int metrics_quality_window; /* checks and churn labels in the running figures */
    char *log_format;          /* "text" | "json" */
    char *log_level;           /* "error" | "warn" | "info" | "debug" */
} sr_io_config_t;

typedef struct sr_config {
    sr_engine_config_t engine;
    sr_io_config_t io;
    sr_kafka_prop_t *kafka;    /* passthrough properties, in the order set */
    size_t n_kafka;
} sr_config_t;

void sr_config_init(sr_config_t *cfg);
void sr_config_free(sr_config_t *cfg);

/* Sets one key. source names where it came from, for messages ("-X",
 * "env STREAMREC_MF_K", "streamrec.conf:12"). */
sr_err_t sr_config_set(sr_config_t *cfg, const char *key, const char *value,
                       const char *source, char *errstr, size_t errstr_size);

/* One "key=value" argument (-X), whitespace around key and value trimmed. */
sr_err_t sr_config_set_pair(sr_config_t *cfg, const char *pair, const char *source,
                            char *errstr, size_t errstr_size);

/* A properties file: `key=value` lines, `#` and `!` comments, blank lines,
 * whitespace around key and value trimmed. */
sr_err_t sr_config_load_file(sr_config_t *cfg, const char *path, char *errstr, size_t errstr_size);

/* The same properties text from an open stream (e.g. fmemopen'd memory);
 * path names it in messages ("path:12: ..."), NULL for "config". The caller
 * keeps and closes f. */
sr_err_t sr_config_load_stream(sr_config_t *cfg, FILE *f, const char *path, char *errstr,
                               size_t errstr_size);

/* STREAMREC_<KEY> variables from envp (NULL-terminated, like environ).
 * STREAMREC_ variables that match no key are errors, so typos do not pass
 * silently. kafka.* names mix '.' and '_' and cannot be recovered from a
 * variable name: only STREAMREC_KAFKA_BOOTSTRAP_SERVERS is mapped (to
 * kafka.bootstrap.servers); other kafka.* keys go in the file or -X. */
sr_err_t sr_config_load_env(sr_config_t *cfg, char *const *envp, char *errstr, size_t errstr_size);

/* Cross-key checks that one key's bounds cannot express. */
sr_err_t sr_config_validate(const sr_config_t *cfg, char *errstr, size_t errstr_size);

/* The dead-letter topic: dlq.topic, or "<first input topic>.dlq" written to
 * buf (256 bytes hold any valid one). Returns dlq.topic's string, buf, or
 * NULL if there is no input topic or buf is too small. */
const char *sr_config_dlq_topic(const sr_config_t *cfg, char *buf, size_t buf_size);

/* The value of a kafka.* passthrough property (key without the prefix, e.g.
 * "bootstrap.servers"), whichever side it was set for; NULL if unset. */
const char *sr_config_kafka_value(const sr_config_t *cfg, const char *key);

/* The passthrough properties of one client (side SR_KAFKA_CONSUMER or
 * SR_KAFKA_PRODUCER), in the order to apply them: every kafka.X first, then
 * every kafka.<side>.X, so the more specific setting wins. out needs room
 * for cfg->n_kafka entries; its strings are borrowed from cfg. Returns how
 * many were written. */
size_t sr_config_kafka_props(const sr_config_t *cfg, sr_kafka_side_t side, sr_kafka_kv_t *out);

/* The user-state changelog topic: state.changelog.topic, or
 * "<input.group.id>-user-state" written to buf; NULL if buf is too small. */
const char *sr_config_changelog_topic(const sr_config_t *cfg, char *buf, size_t buf_size);

/* http.listen split into host and port: "host:port", "[v6addr]:port" or
 * ":port" (host "": every interface). port 0 asks for any free port.
 * SR_ERR_CONFIG with a message naming the key otherwise; also when
 * http.listen is empty (the endpoint is off). */
sr_err_t sr_config_http_listen(const sr_config_t *cfg, char *host, size_t host_size, int *port,
                               char *errstr, size_t errstr_size);

/* The reference table (Markdown: key, default, description), for
 * --help-config and the README. */
void sr_config_print_reference(FILE *out);

/* Number of keys in the table and the name of key i (for tests that check
 * the README lists every key). */
size_t sr_config_key_count(void);
const char *sr_config_key_name(size_t i);

#endif
