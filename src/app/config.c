/* streamrec configuration: the property table and everything it drives.
 * See include/streamrec/config.h for the contract.
 *
 * The table below is the only list of keys. Each row says where its value
 * lives in sr_config_t (an offset, type-checked at compile time), how to read
 * it, its bounds and a one-line description; the parser, the env mapping,
 * --help-config and the key iterator all walk it, so a key added here is
 * everywhere at once.
 *
 * Defaults: model keys have none in the table. sr_engine_config_defaults()
 * (each module's *_config_defaults()) is their single source, and the
 * reference prints whatever sits at the row's offset in a defaulted config,
 * so the printed default cannot drift from the one the engine uses. The I/O
 * keys have no module of their own yet, so their row carries the default as
 * text, which sr_config_init() feeds through the same parser as a file
 * value: a default outside its own bounds trips an assert, not a user.
 *
 * Durations are written in the unit their name ends with (.ms, .minutes,
 * .hours, .days) and stored in ms; fractions are allowed above ms
 * ("profile.half.life.short.days=0.5").
 *
 * Numbers go through strtod()/snprintf("%g"), which follow LC_NUMERIC:
 * streamrec never calls setlocale() for LC_NUMERIC, so '.' is the decimal
 * point. */
#include "streamrec/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECOND_MS INT64_C(1000)
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* Kafka's own limit on topic names. */
#define TOPIC_MAX_LEN 249

/* Longest piece of an offending value quoted in a message: enough to
 * recognise it, short enough that a pasted blob does not flood the log. */
#define SHOWN_VALUE_MAX 40

#define ENV_PREFIX "STREAMREC_"
#define KAFKA_PREFIX "kafka."

typedef enum conf_type {
    CONF_INT,      /* int */
    CONF_UINT64,   /* uint64_t, the whole range (seeds) */
    CONF_FLOAT,    /* float */
    CONF_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    CONF_DURATION, /* int64_t ms; the text is a number in the row's unit */
    CONF_STRING,   /* char *, owned by the config */
    CONF_ENUM,     /* char *, one of the row's choices, stored as spelled there */
} conf_type_t;

#define CONF_MIN_EXCLUSIVE 0x1u /* value must be > min (a half-life of 0 divides by 0) */
#define CONF_NONEMPTY 0x2u      /* a string that cannot be "" */

typedef struct conf_prop {
    const char *name;
    conf_type_t type;
    size_t offset;       /* of the value in sr_config_t */
    int64_t unit_ms;     /* durations: ms in one unit of the key's name */
    double min, max;     /* numbers, in the key's unit */
    unsigned flags;
    const char *choices; /* enums: "zset,json" */
    const char *def;     /* I/O keys: the default as text; NULL: set by the model's defaults */
    const char *desc;
} conf_prop_t;

/* Offset of a field of sr_config_t that must have type T. The _Generic
 * makes a mismatch (a row reading a float as an int) a negative array size,
 * i.e. a compile error, not a silent memory overwrite. */
#define FIELD(member, T)                 \
    (offsetof(sr_config_t, member) +     \
     0 * sizeof(char[_Generic(((sr_config_t *)0)->member, T : 1, default : -1)]))

#define AS_INT(m) .type = CONF_INT, .offset = FIELD(m, int)
#define AS_UINT64(m) .type = CONF_UINT64, .offset = FIELD(m, uint64_t)
#define AS_FLOAT(m) .type = CONF_FLOAT, .offset = FIELD(m, float)
#define AS_BOOL(m) .type = CONF_BOOL, .offset = FIELD(m, bool)
#define AS_DURATION(m, unit) .type = CONF_DURATION, .offset = FIELD(m, int64_t), .unit_ms = (unit)
#define AS_STRING(m) .type = CONF_STRING, .offset = FIELD(m, char *)
#define AS_ENUM(m, list) .type = CONF_ENUM, .offset = FIELD(m, char *), .choices = (list)

/* Upper bounds of the half-lives and windows are sanity limits (ten years,
 * one year): far above any useful value, low enough that ms fit anywhere. */
static const conf_prop_t props[] = {
    /* engine */
    {.name = "event.weight.view", AS_FLOAT(engine.event_weight[SR_EVENT_VIEW]),
     .min = -10, .max = 100,
     .desc = "weight of a view; a weight <= 0 updates the profile only (no MF, similarity, trending)"},
    {.name = "event.weight.add_to_cart", AS_FLOAT(engine.event_weight[SR_EVENT_ADD_TO_CART]),
     .min = -10, .max = 100, .desc = "weight of an add-to-cart"},
    {.name = "event.weight.remove_from_cart",
     AS_FLOAT(engine.event_weight[SR_EVENT_REMOVE_FROM_CART]), .min = -10, .max = 100,
     .desc = "weight of a remove-from-cart"},
    {.name = "event.weight.purchase", AS_FLOAT(engine.event_weight[SR_EVENT_PURCHASE]),
     .min = -10, .max = 100, .desc = "weight of a purchase"},
    {.name = "time.lateness.ms", AS_DURATION(engine.lateness_ms, 1), .min = 0,
     .max = (double)DAY_MS,
     .desc = "allowed lateness: the watermark is the newest event time minus this"},
    {.name = "time.future.max.minutes", AS_DURATION(engine.future_max_ms, MINUTE_MS), .min = 0,
     .max = 366 * 24 * 60,
     .desc = "refuse events further ahead than this of both the newest event time and the "
             "clock (bad_field, to the DLQ); 0 = no limit"},
    /* 10 s: far above the gaps between a backlog's fetches (time paused
     * does not count), so it mostly decides how soon a partition that went
     * quiet (or has delivered nothing since its assignment) lets the
     * others' event time through. */
    {.name = "time.idle.ms", AS_INT(io.input_idle_ms), .min = 1, .max = 3600000, .def = "10000",
     .desc = "the daemon's watermark follows its slowest input partition; one that delivers "
             "nothing for this long of polling (time paused does not count) holds it back no "
             "longer"},

    /* profile */
    {.name = "profile.session.gap.minutes",
     AS_DURATION(engine.profile.session_gap_ms, MINUTE_MS), .min = 0, .max = 7 * 24 * 60,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "inactivity that ends a session"},
    {.name = "profile.half.life.short.days",
     AS_DURATION(engine.profile.half_life_ms[0], DAY_MS), .min = 0, .max = 3650,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "half-life of the short-term activity rate"},
    {.name = "profile.half.life.medium.days",
     AS_DURATION(engine.profile.half_life_ms[1], DAY_MS), .min = 0, .max = 3650,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "half-life of the medium-term activity rate"},
    {.name = "profile.half.life.long.days",
     AS_DURATION(engine.profile.half_life_ms[2], DAY_MS), .min = 0, .max = 3650,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "half-life of the long-term activity rate"},
    {.name = "profile.category.half.life.days",
     AS_DURATION(engine.profile.category_half_life_ms, DAY_MS), .min = 0, .max = 3650,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "half-life of a user's category scores"},

    /* matrix factorisation */
    {.name = "mf.k", AS_INT(engine.mf.k), .min = 1, .max = SR_MF_MAX_K,
     .desc = "latent factors per user and item"},
    {.name = "mf.learning.rate", AS_FLOAT(engine.mf.learning_rate), .min = 0, .max = 10,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "initial SGD step (per row, shrinking with AdaGrad)"},
    {.name = "mf.regularization", AS_FLOAT(engine.mf.regularization), .min = 0, .max = 10,
     .desc = "L2 penalty on the factors"},
    {.name = "mf.negatives", AS_INT(engine.mf.negatives), .min = 0, .max = SR_MF_MAX_NEGATIVES,
     .desc = "negatives sampled per positive event (one BPR step each)"},
    {.name = "mf.negative.pool", AS_INT(engine.mf.negative_pool), .min = 1, .max = 1e6,
     .desc = "recent positive items kept to sample negatives from"},
    {.name = "mf.init.scale", AS_FLOAT(engine.mf.init_scale), .min = 0, .max = 10,
     .desc = "new factors start uniform in [-s, s]"},
    {.name = "mf.adagrad", AS_BOOL(engine.mf.adagrad), .desc = "row-wise AdaGrad learning rates"},
    {.name = "mf.seed", AS_UINT64(engine.mf.seed),
     .desc = "seed of initial factors and negative sampling (same seed and input, same model)"},

    /* similarity */
    {.name = "sim.half.life.days", AS_DURATION(engine.sim.half_life_ms, DAY_MS), .min = 0,
     .max = 3650, .flags = CONF_MIN_EXCLUSIVE,
     .desc = "half-life of item and co-occurrence counts"},
    {.name = "sim.window.hours", AS_DURATION(engine.sim.window_ms, HOUR_MS), .min = 0,
     .max = 365 * 24, .desc = "a user's earlier item co-occurs with a new one within this time"},
    {.name = "sim.max.partners", AS_INT(engine.sim.max_partners), .min = 0,
     .max = SR_PROFILE_RECENT_MAX, .desc = "recent items paired with each new event"},
    {.name = "sim.proximity.decay", AS_FLOAT(engine.sim.proximity_decay), .min = 0, .max = 1,
     .desc = "co-occurrence weight of each older partner relative to the next newer one"},
    {.name = "sim.neighbours", AS_INT(engine.sim_neighbours), .min = 1, .max = SR_SIM_SLOTS,
     .desc = "neighbours published per item (sim:{item})"},

    /* trending */
    {.name = "trending.size", AS_INT(engine.trending.size), .min = 1, .max = SR_TRENDING_MAX,
     .desc = "items kept in the trending list"},
    {.name = "trending.half.life.hours", AS_DURATION(engine.trending.half_life_ms, HOUR_MS),
     .min = 0, .max = 3650 * 24, .flags = CONF_MIN_EXCLUSIVE,
     .desc = "half-life of trending counts"},

    /* recommendations */
    {.name = "reco.k", AS_INT(engine.reco.k), .min = 1, .max = SR_RECO_MAX_K,
     .desc = "recommendations per user"},
    {.name = "reco.seeds", AS_INT(engine.reco.seeds), .min = 0, .max = SR_PROFILE_RECENT_MAX,
     .desc = "recent items whose neighbours become candidates"},
    {.name = "reco.seed.decay", AS_FLOAT(engine.reco.seed_decay), .min = 0, .max = 1,
     .desc = "weight of each older seed relative to the next newer one"},
    {.name = "reco.trending.candidates", AS_INT(engine.reco.trending_candidates), .min = 0,
     .max = SR_TRENDING_MAX, .desc = "trending items added to every user's candidates"},
    {.name = "reco.candidates", AS_INT(engine.reco.candidates), .min = 1,
     .max = SR_RECO_MAX_CANDIDATES,
     .desc = "best item-CF candidates kept per user for MF scoring (at least reco.k)"},
    {.name = "reco.weight.cf", AS_FLOAT(engine.reco.cf_weight), .min = 0, .max = 100,
     .desc = "blend weight of the item-CF score"},
    {.name = "reco.weight.mf", AS_FLOAT(engine.reco.mf_weight), .min = 0, .max = 100,
     .desc = "blend weight of the MF score"},
    {.name = "reco.weight.trending", AS_FLOAT(engine.reco.trending_weight), .min = 0,
     .max = 100, .desc = "blend weight of trending popularity"},
    {.name = "reco.exclude.seen", AS_BOOL(engine.reco.exclude_seen),
     .desc = "leave out items in the user's recent history (purchases are always left out)"},

    /* churn */
    {.name = "churn.horizon.days", AS_DURATION(engine.churn.horizon_ms, DAY_MS), .min = 0,
     .max = 365, .flags = CONF_MIN_EXCLUSIVE,
     .desc = "no activity for this long (event time) labels a user churned"},
    {.name = "churn.sweep.interval.hours",
     AS_DURATION(engine.churn.sweep_interval_ms, HOUR_MS), .min = 0, .max = 365 * 24,
     .flags = CONF_MIN_EXCLUSIVE,
     .desc = "event time between churn sweeps (scores, labels, alerts)"},
    {.name = "churn.example.spread.days",
     AS_DURATION(engine.churn.example_spread_ms, DAY_MS), .min = 0, .max = 365,
     .desc = "longest pseudo-random wait before a user's next training example"},
    {.name = "churn.learning.rate", AS_FLOAT(engine.churn.learning_rate), .min = 0, .max = 10,
     .flags = CONF_MIN_EXCLUSIVE, .desc = "AdaGrad step of the churn model"},
    {.name = "churn.l2", AS_FLOAT(engine.churn.l2), .min = 0, .max = 10,
     .desc = "L2 penalty of the churn model"},
    {.name = "churn.enter.threshold", AS_FLOAT(engine.churn.enter_threshold), .min = 0,
     .max = 1, .desc = "an alert fires at or above this risk"},
    {.name = "churn.exit.threshold", AS_FLOAT(engine.churn.exit_threshold), .min = 0, .max = 1,
     .desc = "a firing alert resolves below this risk or on activity; at most the enter threshold"},
    {.name = "churn.level.high", AS_FLOAT(engine.churn.high_level), .min = 0, .max = 1,
     .desc = "risk at or above which an alert's level is HIGH"},
    {.name = "churn.level.medium", AS_FLOAT(engine.churn.medium_level), .min = 0, .max = 1,
     .desc = "risk at or above which an alert's level is MEDIUM; at most churn.level.high"},

    /* state */
    {.name = "state.user.ttl.days", AS_DURATION(engine.user_ttl_ms, DAY_MS), .min = 0,
     .max = 3650,
     .desc = "users without an event for this long (event time) are evicted and their memory "
             "reused; 0 keeps every user; below churn.horizon.days it is raised to it"},
    {.name = "state.item.ttl.days", AS_DURATION(engine.item_ttl_ms, DAY_MS), .min = 0,
     .max = 3650,
     .desc = "items without an event for this long (event time) are evicted -- factors, "
             "neighbours, trending -- and their memory reused; 0 keeps every item"},

    /* input */
    {.name = "input.topics", AS_STRING(io.input_topics), .flags = CONF_NONEMPTY,
     .def = "clicks", .desc = "click-event topics to consume, comma-separated"},
    {.name = "input.group.id", AS_STRING(io.input_group_id), .flags = CONF_NONEMPTY,
     .def = "streamrec", .desc = "Kafka consumer group of all streamrec instances"},
    {.name = "input.format", AS_ENUM(io.input_format, "confluent,avro"), .def = "confluent",
     .desc = "confluent: magic byte and schema id before the Avro body; avro: bare Avro body"},
    {.name = "input.schema.file", AS_STRING(io.input_schema_file), .def = "",
     .desc = "writer schema (.avsc) of the input; empty: the built-in ClickEvent schema"},
    {.name = "schema.registry.url", AS_STRING(io.schema_registry_url), .def = "",
     .desc = "Confluent schema registry (http(s)://[user:password@]host:port) to fetch writer "
             "schemas by id from; empty: input.schema.file's schema for every id"},
    /* At most 240 s: the engine thread does not poll the consumer while it
     * waits, and librdkafka's max.poll.interval.ms (300 s by default) would
     * take its partitions away. */
    {.name = "schema.registry.timeout.ms", AS_INT(io.schema_registry_timeout_ms), .min = 100,
     .max = 240000, .def = "30000",
     .desc = "longest the registry may stay unreachable while a schema id is fetched (retries "
             "included) before the daemon stops; no record is dead-lettered for it"},

    /* outputs */
    {.name = "redis.url", AS_STRING(io.redis_url), .flags = CONF_NONEMPTY,
     .def = "redis://127.0.0.1:6379", .desc = "Redis for reco:, sim: and churn: keys (redis://host:port[/db])"},
    {.name = "redis.key.ttl.s", AS_INT(io.redis_key_ttl_s), .min = 1, .max = 1e9,
     .def = "604800", .desc = "TTL of every key written to Redis"},
    {.name = "redis.reco.format", AS_ENUM(io.redis_reco_format, "zset,json"), .def = "json",
     .desc = "reco:{user} as one JSON string (GET; ~3x cheaper for Redis to write) or a sorted set (ZREVRANGE)"},
    {.name = "redis.reco.guard", AS_ENUM(io.redis_reco_guard, "replay,always"), .def = "replay",
     .desc = "which reco:{user} writes may not replace a newer list: those of input an "
             "earlier owner of the partition may have processed (replay; the others are plain "
             "writes, ~4x cheaper for Redis) or all (always: also fences a stalled former owner)"},
    {.name = "output.reco.topic", AS_STRING(io.output_reco_topic), .flags = CONF_NONEMPTY,
     .def = "reco.updates", .desc = "topic of recommendation updates"},
    {.name = "output.churn.topic", AS_STRING(io.output_churn_topic), .flags = CONF_NONEMPTY,
     .def = "churn.alerts", .desc = "topic of churn alerts"},
    {.name = "dlq.topic", AS_STRING(io.dlq_topic), .def = "",
     .desc = "dead-letter topic for undecodable input; empty: the first input topic with .dlq appended"},
    {.name = "sim.publish.interval.ms", AS_INT(io.sim_publish_interval_ms), .min = 0,
     .max = 3600000, .def = "5000",
     .desc = "an item's changed neighbour list goes to Redis at most this often (wall clock; "
             "the newest list lands when the interval is over); 0: at every change"},
    {.name = "state.handoff", AS_BOOL(io.state_handoff), .def = "true",
     .desc = "when a partition moves to another instance, its users' state moves with it "
             "through state.changelog.topic"},
    {.name = "state.changelog.topic", AS_STRING(io.state_changelog_topic), .def = "",
     .desc = "compacted topic with as many partitions as the input; empty: <input.group.id>-user-state"},
    {.name = "checkpoint.dir", AS_STRING(io.checkpoint_dir), .def = "",
     .desc = "directory of checkpoint files (all model state and the input offsets it covers); "
             "empty: no checkpoints"},
    {.name = "checkpoint.interval.s", AS_INT(io.checkpoint_interval_s), .min = 1, .max = 86400,
     .def = "60", .desc = "a checkpoint is written this often (wall clock), and on a graceful stop"},
    {.name = "checkpoint.keep", AS_INT(io.checkpoint_keep), .min = 1, .max = 1000, .def = "3",
     .desc = "newest checkpoint files kept in checkpoint.dir; older ones are removed"},
    /* 10 ms (was 20): at 100,000 events/s a batch's close and its Redis
     * write took ~15 ms each, and the open time was the largest part of the
     * freshness left to cut (p99 131 -> ~95 ms). Input that is behind lets
     * batches grow with its age (pl_batch_limit_ms) up to 250 ms: 300,000
     * offered then came in at ~240k events/s against ~190k with 50 ms. */
    {.name = "batch.max.ms", AS_INT(io.batch_max_ms), .min = 1, .max = 10000, .def = "10",
     .desc = "longest a batch stays open (wall clock) before its outputs go to the sinks"},
    {.name = "batch.backlog.max.ms", AS_INT(io.batch_backlog_max_ms), .min = 1, .max = 60000,
     .def = "250",
     .desc = "while the input is behind, a batch may stay open for half of its newest "
             "record's age (Kafka timestamp), up to this long (at least batch.max.ms), so each "
             "busy user is recomputed once for more of its events"},
    {.name = "batch.max.users", AS_INT(io.batch_max_users), .min = 1, .max = 1e7,
     .def = "20000", .desc = "a batch closes early once this many users are dirty"},
    {.name = "http.listen", AS_STRING(io.http_listen), .def = "",
     .desc = "host:port serving the status page (/), /metrics (Prometheus), /healthz and "
             "/readyz ([::1]:port for IPv6, port 0: any free port); empty: off"},
    {.name = "http.healthz.stall.ms", AS_INT(io.http_healthz_stall_ms), .min = 100,
     .max = 3600000, .def = "30000",
     .desc = "/healthz answers 503 once the engine's poll loop has not turned for this long "
             "(a rebalance restoring users or a drain waiting for Redis can take seconds)"},
    {.name = "metrics.recall.sample", AS_INT(io.metrics_recall_sample), .min = 1, .max = 1e6,
     .def = "16",
     .desc = "one user in N (by id hash) has its published top-K checked against its next "
             "events, for streamrec_model_recall"},
    {.name = "metrics.quality.window", AS_INT(io.metrics_quality_window), .min = 10, .max = 1e6,
     .def = "10000",
     .desc = "most recent checked events (recall) and resolved churn labels (ROC-AUC) the "
             "running model figures cover"},
    {.name = "log.format", AS_ENUM(io.log_format, "text,json"), .def = "text",
     .desc = "text: time level component: message key=value...; json: one object per line"},
    {.name = "log.level", AS_ENUM(io.log_level, "error,warn,info,debug"), .def = "info",
     .desc = "lines below this level are dropped (librdkafka's debug lines need debug and "
             "kafka.debug)"},
};

#define N_PROPS (sizeof props / sizeof props[0])

static const char kafka_desc[] =
    "passed to librdkafka unchanged: kafka.X to both clients, kafka.consumer.X or "
    "kafka.producer.X to one (prefix stripped); from the environment only "
    "STREAMREC_KAFKA_BOOTSTRAP_SERVERS";

size_t sr_config_key_count(void) {
    return N_PROPS;
}

const char *sr_config_key_name(size_t i) {
    return i < N_PROPS ? props[i].name : NULL;
}

static void *slot_of(sr_config_t *cfg, const conf_prop_t *p) {
    return (char *)cfg + p->offset;
}

static const void *cslot_of(const sr_config_t *cfg, const conf_prop_t *p) {
    return (const char *)cfg + p->offset;
}

static const conf_prop_t *find_prop(const char *name) {
    for (size_t i = 0; i < N_PROPS; i++)
        if (strcmp(props[i].name, name) == 0)
            return &props[i];
    return NULL;
}

/* The value as it may appear in a message: quoted elsewhere, cut short. */
static const char *shown(const char *value, char *buf, size_t size) {
    size_t len = strlen(value);
    if (len <= SHOWN_VALUE_MAX)
        return value;
    snprintf(buf, size, "%.*s...", SHOWN_VALUE_MAX, value);
    return buf;
}

/* Levenshtein distance, two rows; long strings are never "close". */
static size_t edit_distance(const char *a, const char *b) {
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return SIZE_MAX;
    size_t row[MAX + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* A candidate counts as close when it is a few typos away: two edits, or a
 * quarter of the name for long names ("churn.horizon.hours"). */
static bool is_close(const char *wanted, size_t distance) {
    size_t limit = strlen(wanted) / 4;
    return distance <= (limit > 2 ? limit : 2);
}

static void env_name_of(const char *key, char *buf, size_t size) {
    size_t n = 0;
    for (; key[n] && n + 1 < size; n++)
        buf[n] = key[n] == '.' ? '_' : (char)toupper((unsigned char)key[n]);
    buf[n] = '\0';
}

/* The table key closest to `wanted`, or NULL. With as_env, compares env
 * names (MF_KK against MF_K) and returns the key whose env name is close. */
static const conf_prop_t *closest_prop(const char *wanted, bool as_env) {
    const conf_prop_t *best = NULL;
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < N_PROPS; i++) {
        char env[128];
        const char *name = props[i].name;
        if (as_env) {
            env_name_of(name, env, sizeof env);
            name = env;
        }
        size_t d = edit_distance(wanted, name);
        if (d < best_distance) {
            best_distance = d;
            best = &props[i];
        }
    }
    return best && is_close(wanted, best_distance) ? best : NULL;
}

/* Shortest "%.Ng" that reads back as the same float, so 0.05f prints "0.05"
 * and not "0.0500000007". */
static void format_float(float v, char *buf, size_t size) {
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v)
            return;
    }
}

/* A number in a bound or a message: whole numbers without exponent
 * ("1000000", not "1e+06"). */
static void format_number(double v, char *buf, size_t size) {
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%g", v);
}

/* ms in the key's unit, as short as reads back to the same ms. */
static void format_duration(int64_t ms, int64_t unit_ms, char *buf, size_t size) {
    if (ms % unit_ms == 0) {
        snprintf(buf, size, "%" PRId64, ms / unit_ms);
        return;
    }
    double v = (double)ms / (double)unit_ms;
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (llround(strtod(buf, NULL) * (double)unit_ms) == ms)
            return;
    }
}

static void format_value(const sr_config_t *cfg, const conf_prop_t *p, char *buf, size_t size) {
    const void *slot = cslot_of(cfg, p);
    switch (p->type) {
    case CONF_INT:
        snprintf(buf, size, "%d", *(const int *)slot);
        break;
    case CONF_UINT64:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)slot);
        break;
    case CONF_FLOAT:
        format_float(*(const float *)slot, buf, size);
        break;
    case CONF_BOOL:
        snprintf(buf, size, "%s", *(const bool *)slot ? "true" : "false");
        break;
    case CONF_DURATION:
        format_duration(*(const int64_t *)slot, p->unit_ms, buf, size);
        break;
    case CONF_STRING:
    case CONF_ENUM: {
        const char *s = *(char *const *)slot;
        snprintf(buf, size, "%s", s ? s : "");
        break;
    }
    }
}

static sr_err_t value_error(const char *source, const conf_prop_t *p, const char *value,
                            char *errstr, size_t errstr_size, const char *problem) {
    char cut[SHOWN_VALUE_MAX + 4];
    return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "%s: key '%s': '%s' %s", source,
                     p->name, shown(value, cut, sizeof cut), problem);
}

static bool parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static sr_err_t check_bounds(const char *source, const conf_prop_t *p, const char *value,
                             double v, char *errstr, size_t errstr_size) {
    char bound[32], problem[64];
    if (p->flags & CONF_MIN_EXCLUSIVE ? !(v > p->min) : v < p->min) {
        format_number(p->min, bound, sizeof bound);
        snprintf(problem, sizeof problem,
                 p->flags & CONF_MIN_EXCLUSIVE ? "must be above %s" : "is below the minimum %s",
                 bound);
        return value_error(source, p, value, errstr, errstr_size, problem);
    }
    if (v > p->max) {
        format_number(p->max, bound, sizeof bound);
        snprintf(problem, sizeof problem, "is above the maximum %s", bound);
        return value_error(source, p, value, errstr, errstr_size, problem);
    }
    return SR_OK;
}

static sr_err_t parse_uint64(const char *source, const conf_prop_t *p, const char *value,
                             uint64_t *out, char *errstr, size_t errstr_size) {
    if (isdigit((unsigned char)value[0])) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end == '\0' && errno == 0) {
            *out = v;
            return SR_OK;
        }
    }
    double v;
    if (!parse_double(value, &v))
        return value_error(source, p, value, errstr, errstr_size, "is not a number");
    if (v < 0)
        return value_error(source, p, value, errstr, errstr_size, "is below the minimum 0");
    if (v >= 18446744073709551616.0)
        return value_error(source, p, value, errstr, errstr_size,
                           "is above the maximum 18446744073709551615");
    return value_error(source, p, value, errstr, errstr_size, "is not a whole number");
}

static bool parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* The choice of a comma list that equals value (ignoring case), or NULL.
 * *len_out receives its length. */
static const char *find_choice(const char *choices, const char *value, size_t *len_out) {
    size_t vlen = strlen(value);
    for (const char *c = choices; *c;) {
        size_t len = strcspn(c, ",");
        if (len == vlen && strncasecmp(c, value, len) == 0) {
            *len_out = len;
            return c;
        }
        c += len + (c[len] == ',');
    }
    return NULL;
}

static sr_err_t replace_string(char **slot, const char *value, size_t len) {
    char *copy = strndup(value, len);
    if (!copy)
        return SR_ERR_NOMEM;
    free(*slot);
    *slot = copy;
    return SR_OK;
}

/* Parses value for row p and stores it; nothing is stored on error. */
static sr_err_t set_prop(sr_config_t *cfg, const conf_prop_t *p, const char *value,
                         const char *source, char *errstr, size_t errstr_size) {
    void *slot = slot_of(cfg, p);
    double v = 0;
    sr_err_t err;
    switch (p->type) {
    case CONF_INT:
    case CONF_FLOAT:
    case CONF_DURATION:
        if (!parse_double(value, &v))
            return value_error(source, p, value, errstr, errstr_size, "is not a number");
        if ((p->type == CONF_INT || (p->type == CONF_DURATION && p->unit_ms == 1)) &&
            v != floor(v))
            return value_error(source, p, value, errstr, errstr_size, "is not a whole number");
        if ((err = check_bounds(source, p, value, v, errstr, errstr_size)) != SR_OK)
            return err;
        break;
    default:
        break;
    }

    switch (p->type) {
    case CONF_INT:
        *(int *)slot = (int)v;
        return SR_OK;
    case CONF_FLOAT:
        *(float *)slot = (float)v;
        return SR_OK;
    case CONF_DURATION: {
        int64_t ms = llround(v * (double)p->unit_ms);
        if ((p->flags & CONF_MIN_EXCLUSIVE) && ms <= 0)
            return value_error(source, p, value, errstr, errstr_size, "is less than 1 ms");
        *(int64_t *)slot = ms;
        return SR_OK;
    }
    case CONF_UINT64:
        return parse_uint64(source, p, value, (uint64_t *)slot, errstr, errstr_size);
    case CONF_BOOL:
        if (!parse_bool(value, (bool *)slot))
            return value_error(source, p, value, errstr, errstr_size,
                               "is not a boolean (true/false)");
        return SR_OK;
    case CONF_ENUM: {
        size_t len;
        const char *choice = find_choice(p->choices, value, &len);
        if (!choice) {
            char problem[128] = "is not one of ";
            size_t at = strlen(problem);
            for (const char *c = p->choices; *c && at + 3 < sizeof problem; c++) {
                if (*c == ',') {
                    problem[at++] = ',';
                    problem[at++] = ' ';
                } else {
                    problem[at++] = *c;
                }
            }
            problem[at] = '\0';
            return value_error(source, p, value, errstr, errstr_size, problem);
        }
        err = replace_string((char **)slot, choice, len);
        break;
    }
    case CONF_STRING:
        if ((p->flags & CONF_NONEMPTY) && value[0] == '\0')
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "%s: key '%s': must not be empty", source, p->name);
        err = replace_string((char **)slot, value, strlen(value));
        break;
    default:
        err = SR_ERR_INVALID;
        break;
    }
    if (err == SR_ERR_NOMEM)
        return sr_seterr(err, errstr, errstr_size, "%s: key '%s': out of memory", source,
                         p->name);
    return err;
}

static sr_err_t set_kafka(sr_config_t *cfg, const char *key, const char *value,
                          const char *source, char *errstr, size_t errstr_size) {
    const char *name = key + strlen(KAFKA_PREFIX);
    sr_kafka_side_t side = SR_KAFKA_BOTH;
    if (strncmp(name, "consumer.", 9) == 0) {
        side = SR_KAFKA_CONSUMER;
        name += 9;
    } else if (strncmp(name, "producer.", 9) == 0) {
        side = SR_KAFKA_PRODUCER;
        name += 9;
    }
    if (name[0] == '\0')
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "%s: key '%s': no librdkafka property after the prefix", source, key);

    char *copy = strdup(value);
    if (!copy)
        goto nomem;
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        sr_kafka_prop_t *k = &cfg->kafka[i];
        if (k->side == side && strcmp(k->key, name) == 0) {
            free(k->value);
            k->value = copy;
            return SR_OK;
        }
    }
    char *name_copy = strdup(name);
    sr_kafka_prop_t *grown = realloc(cfg->kafka, (cfg->n_kafka + 1) * sizeof *grown);
    if (grown)
        cfg->kafka = grown;
    if (!name_copy || !grown) {
        free(name_copy);
        free(copy);
        goto nomem;
    }
    cfg->kafka[cfg->n_kafka++] = (sr_kafka_prop_t){side, name_copy, copy};
    return SR_OK;
nomem:
    return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: key '%s': out of memory", source,
                     key);
}

void sr_config_init(sr_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    sr_engine_config_defaults(&cfg->engine);
    for (size_t i = 0; i < N_PROPS; i++) {
        if (!props[i].def)
            continue;
        /* Out of memory leaves the string NULL; sr_config_validate() reports it,
         * since init has no way to. Anything else is a bad row in the table. */
        sr_err_t err = set_prop(cfg, &props[i], props[i].def, "default", NULL, 0);
        assert(err == SR_OK || err == SR_ERR_NOMEM);
        (void)err;
    }
}

void sr_config_free(sr_config_t *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; i < N_PROPS; i++) {
        if (props[i].type == CONF_STRING || props[i].type == CONF_ENUM) {
            char **slot = slot_of(cfg, &props[i]);
            free(*slot);
            *slot = NULL;
        }
    }
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    cfg->kafka = NULL;
    cfg->n_kafka = 0;
}

sr_err_t sr_config_set(sr_config_t *cfg, const char *key, const char *value,
                       const char *source, char *errstr, size_t errstr_size) {
    if (!source)
        source = "config";
    if (!key || !value)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "%s: key or value missing", source);
    if (strncmp(key, KAFKA_PREFIX, strlen(KAFKA_PREFIX)) == 0)
        return set_kafka(cfg, key, value, source, errstr, errstr_size);
    const conf_prop_t *p = find_prop(key);
    if (p)
        return set_prop(cfg, p, value, source, errstr, errstr_size);

    char cut[SHOWN_VALUE_MAX + 4];
    const conf_prop_t *close = closest_prop(key, false);
    if (close)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "%s: unknown key '%s'; did you mean '%s'?", source,
                         shown(key, cut, sizeof cut), close->name);
    return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "%s: unknown key '%s'", source,
                     shown(key, cut, sizeof cut));
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) len--;
    s[len] = '\0';
    return s;
}

/* Splits a trimmed "key = value" in place. Returns false without '='. */
static bool split_pair(char *line, char **key, char **value) {
    char *eq = strchr(line, '=');
    if (!eq)
        return false;
    *eq = '\0';
    *key = trim(line);
    *value = trim(eq + 1);
    return true;
}

sr_err_t sr_config_set_pair(sr_config_t *cfg, const char *pair, const char *source,
                            char *errstr, size_t errstr_size) {
    if (!source)
        source = "config";
    char cut[SHOWN_VALUE_MAX + 4];
    char *copy = strdup(pair);
    if (!copy)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", source);
    char *key, *value;
    sr_err_t err;
    if (!split_pair(copy, &key, &value) || key[0] == '\0')
        err = sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "%s: expected key=value, got '%s'",
                        source, shown(pair, cut, sizeof cut));
    else
        err = sr_config_set(cfg, key, value, source, errstr, errstr_size);
    free(copy);
    return err;
}

sr_err_t sr_config_load_file(sr_config_t *cfg, const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "r");
    if (!f)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s: cannot open: %s", path,
                         strerror(errno));
    sr_err_t err = sr_config_load_stream(cfg, f, path, errstr, errstr_size);
    fclose(f);
    return err;
}

sr_err_t sr_config_load_stream(sr_config_t *cfg, FILE *f, const char *path, char *errstr,
                               size_t errstr_size) {
    if (!cfg || !f)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "config: NULL argument");
    if (!path)
        path = "config";
    char *line = NULL;
    size_t line_cap = 0;
    unsigned line_no = 0;
    sr_err_t err = SR_OK;
    while (getline(&line, &line_cap, f) != -1) {
        line_no++;
        char *text = line;
        if (line_no == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
            text += 3; /* a UTF-8 byte-order mark some editors write */
        text = trim(text);
        if (text[0] == '\0' || text[0] == '#' || text[0] == '!')
            continue;

        char source[512], cut[SHOWN_VALUE_MAX + 4];
        snprintf(source, sizeof source, "%s:%u", path, line_no);
        char *key, *value;
        if (!split_pair(text, &key, &value)) {
            err = sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                            "%s: expected key=value, got '%s'", source,
                            shown(text, cut, sizeof cut));
            break;
        }
        if (key[0] == '\0') {
            err = sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "%s: no key before '='", source);
            break;
        }
        if ((err = sr_config_set(cfg, key, value, source, errstr, errstr_size)) != SR_OK)
            break;
    }
    if (err == SR_OK && ferror(f))
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s: read error: %s", path,
                        strerror(errno));
    free(line);
    return err;
}

/* kafka.* names contain both '.' and '_' (fetch.wait.max.ms,
 * enable.auto.offset.store), so KAFKA_FETCH_WAIT_MAX_MS cannot be turned
 * back into a property name. The one everybody needs from the environment
 * (containers) is mapped by hand; the rest go in the file or -X. */
static const char env_kafka_bootstrap[] = "KAFKA_BOOTSTRAP_SERVERS";

sr_err_t sr_config_load_env(sr_config_t *cfg, char *const *envp, char *errstr, size_t errstr_size) {
    const size_t prefix_len = strlen(ENV_PREFIX);
    for (char *const *e = envp; e && *e; e++) {
        const char *var = *e;
        const char *eq = strchr(var, '=');
        if (!eq || strncmp(var, ENV_PREFIX, prefix_len) != 0)
            continue;
        char name[128], source[160], cut[SHOWN_VALUE_MAX + 4];
        size_t name_len = (size_t)(eq - var) - prefix_len;
        snprintf(source, sizeof source, "env %.*s", (int)(eq - var), var);
        if (name_len >= sizeof name)
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "%s: unknown variable (no key has this name)",
                             shown(source, cut, sizeof cut));
        memcpy(name, var + prefix_len, name_len);
        name[name_len] = '\0';

        const char *key = NULL;
        if (strcmp(name, env_kafka_bootstrap) == 0) {
            key = "kafka.bootstrap.servers";
        } else if (strncmp(name, "KAFKA_", 6) == 0) {
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "%s: kafka.* keys other than kafka.bootstrap.servers cannot be "
                             "set from the environment (their names mix '.' and '_'); use the "
                             "config file or -X",
                             source);
        } else {
            for (size_t i = 0; i < N_PROPS && !key; i++) {
                char env[128];
                env_name_of(props[i].name, env, sizeof env);
                if (strcmp(env, name) == 0)
                    key = props[i].name;
            }
        }
        if (!key) {
            const conf_prop_t *close = closest_prop(name, true);
            if (close) {
                char env[128];
                env_name_of(close->name, env, sizeof env);
                return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                                 "%s: unknown variable; did you mean %s%s?", source, ENV_PREFIX,
                                 env);
            }
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "%s: unknown variable (no key has this name)", source);
        }

        char *value = strdup(eq + 1);
        if (!value)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", source);
        sr_err_t err = sr_config_set(cfg, key, trim(value), source, errstr, errstr_size);
        free(value);
        if (err != SR_OK)
            return err;
    }
    return SR_OK;
}

/* First topic of a comma list, trimmed: *len_out bytes from the result. */
static const char *first_topic(const char *topics, size_t *len_out) {
    while (isspace((unsigned char)*topics)) topics++;
    size_t len = strcspn(topics, ",");
    while (len > 0 && isspace((unsigned char)topics[len - 1])) len--;
    *len_out = len;
    return topics;
}

const char *sr_config_dlq_topic(const sr_config_t *cfg, char *buf, size_t size) {
    if (cfg->io.dlq_topic && cfg->io.dlq_topic[0] != '\0')
        return cfg->io.dlq_topic;
    if (!cfg->io.input_topics)
        return NULL;
    size_t len;
    const char *first = first_topic(cfg->io.input_topics, &len);
    if (len == 0)
        return NULL;
    int n = snprintf(buf, size, "%.*s.dlq", (int)len, first);
    return n >= 0 && (size_t)n < size ? buf : NULL;
}

const char *sr_config_changelog_topic(const sr_config_t *cfg, char *buf, size_t size) {
    if (cfg->io.state_changelog_topic && cfg->io.state_changelog_topic[0] != '\0')
        return cfg->io.state_changelog_topic;
    if (!cfg->io.input_group_id)
        return NULL;
    int n = snprintf(buf, size, "%s-user-state", cfg->io.input_group_id);
    return n >= 0 && (size_t)n < size ? buf : NULL;
}

static sr_err_t check_topics(const char *topics, char *errstr, size_t errstr_size) {
    char cut[SHOWN_VALUE_MAX + 4];
    for (const char *t = topics;;) {
        size_t len;
        const char *topic = first_topic(t, &len);
        if (len == 0)
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "input.topics: '%s' has an empty topic name",
                             shown(topics, cut, sizeof cut));
        if (len > TOPIC_MAX_LEN)
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "input.topics: a topic name is longer than %d characters",
                             TOPIC_MAX_LEN);
        const char *comma = strchr(topic, ',');
        if (!comma)
            return SR_OK;
        t = comma + 1;
    }
}

static sr_err_t check_not_above(const char *low_key, float low, const char *high_key, float high,
                                char *errstr, size_t errstr_size) {
    if (low <= high)
        return SR_OK;
    char low_text[32], high_text[32];
    format_float(low, low_text, sizeof low_text);
    format_float(high, high_text, sizeof high_text);
    return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "%s (%s) must not be above %s (%s)",
                     low_key, low_text, high_key, high_text);
}

sr_err_t sr_config_http_listen(const sr_config_t *cfg, char *host, size_t host_size, int *port,
                               char *errstr, size_t errstr_size) {
    const char *listen = cfg->io.http_listen;
    const char *colon = strrchr(listen, ':');
    if (!*listen || !colon)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "http.listen: '%s' is not host:port (e.g. 127.0.0.1:9464 or :9464)",
                         listen);
    const char *h = listen;
    size_t host_len = (size_t)(colon - listen);
    if (host_len >= 2 && h[0] == '[' && h[host_len - 1] == ']') {
        h++;
        host_len -= 2;
    } else if (memchr(h, ':', host_len)) {
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "http.listen: '%s': put an IPv6 address in brackets, [::1]:9464", listen);
    }
    if (host_len >= host_size)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "http.listen: host too long");
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p < 0 || p > 65535 || !isdigit((unsigned char)colon[1]))
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "http.listen: '%s': the port must be a number from 0 to 65535", listen);
    memcpy(host, h, host_len);
    host[host_len] = '\0';
    *port = (int)p;
    return SR_OK;
}

/* The registry is the writer schema source only for Confluent framing, and
 * then the only one: a second source would silently win or lose. The URL is
 * not quoted in messages, it may hold a password. */
static sr_err_t check_schema_registry(const sr_io_config_t *io, char *errstr,
                                      size_t errstr_size) {
    const char *url = io->schema_registry_url;
    if (!url[0])
        return SR_OK;
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "schema.registry.url: not http://host:port or https://host:port");
    if (strcmp(io->input_format, "confluent") != 0)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "schema.registry.url is set but input.format=%s records carry no "
                         "schema id: use input.format=confluent, or input.schema.file alone",
                         io->input_format);
    if (io->input_schema_file[0])
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "input.schema.file and schema.registry.url are both set: with a "
                         "registry, writer schemas come from it by id; unset one");
    return SR_OK;
}

sr_err_t sr_config_validate(const sr_config_t *cfg, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < N_PROPS; i++) {
        if ((props[i].type == CONF_STRING || props[i].type == CONF_ENUM) &&
            !*(char *const *)cslot_of(cfg, &props[i]))
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size,
                             "%s: not set (out of memory while setting the defaults)",
                             props[i].name);
    }
    sr_err_t err;
    if ((err = check_topics(cfg->io.input_topics, errstr, errstr_size)) != SR_OK)
        return err;
    char dlq[TOPIC_MAX_LEN + 8];
    const char *dlq_topic = sr_config_dlq_topic(cfg, dlq, sizeof dlq);
    if (!dlq_topic || strlen(dlq_topic) > TOPIC_MAX_LEN)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "dlq.topic: the dead-letter topic name would be longer than %d "
                         "characters; set dlq.topic",
                         TOPIC_MAX_LEN);

    char changelog[TOPIC_MAX_LEN + 16];
    const char *changelog_topic = sr_config_changelog_topic(cfg, changelog, sizeof changelog);
    if (!changelog_topic || strlen(changelog_topic) > TOPIC_MAX_LEN)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "state.changelog.topic: the changelog topic name would be longer than %d "
                         "characters; set state.changelog.topic",
                         TOPIC_MAX_LEN);

    if (cfg->io.http_listen[0]) {
        char host[256];
        int port;
        if ((err = sr_config_http_listen(cfg, host, sizeof host, &port, errstr, errstr_size)) !=
            SR_OK)
            return err;
    }

    if ((err = check_schema_registry(&cfg->io, errstr, errstr_size)) != SR_OK)
        return err;

    const sr_churn_config_t *churn = &cfg->engine.churn;
    if ((err = check_not_above("churn.exit.threshold", churn->exit_threshold,
                               "churn.enter.threshold", churn->enter_threshold, errstr,
                               errstr_size)) != SR_OK ||
        (err = check_not_above("churn.level.medium", churn->medium_level, "churn.level.high",
                               churn->high_level, errstr, errstr_size)) != SR_OK)
        return err;
    /* Examples are created at sweeps and keep their time in seconds. */
    if (churn->sweep_interval_ms % 1000 != 0)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "churn.sweep.interval.hours must be a whole number of seconds "
                         "(%lld ms is not)", (long long)churn->sweep_interval_ms);

    /* The churn model reads short/long activity as a trend: reversed
     * half-lives would silently invert that feature. */
    const int64_t *half_life_ms = cfg->engine.profile.half_life_ms;
    static const char *const half_life_keys[SR_PROFILE_HALF_LIVES] = {
        "profile.half.life.short.days", "profile.half.life.medium.days",
        "profile.half.life.long.days"};
    for (int h = 0; h + 1 < SR_PROFILE_HALF_LIVES; h++) {
        if (half_life_ms[h] > half_life_ms[h + 1]) {
            char low[32], high[32];
            format_duration(half_life_ms[h], DAY_MS, low, sizeof low);
            format_duration(half_life_ms[h + 1], DAY_MS, high, sizeof high);
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "%s (%s) must not be above %s (%s)", half_life_keys[h], low,
                             half_life_keys[h + 1], high);
        }
    }
    return SR_OK;
}

/* A Markdown table cell: '|' would end the cell early. */
static void print_cell(FILE *out, const char *text) {
    fputc(' ', out);
    for (const char *c = text; *c; c++) {
        if (*c == '|')
            fputc('\\', out);
        fputc(*c, out);
    }
    fputs(" |", out);
}

static void range_text(const conf_prop_t *p, char *buf, size_t size) {
    char min[32], max[32];
    buf[0] = '\0';
    switch (p->type) {
    case CONF_INT:
    case CONF_FLOAT:
    case CONF_DURATION:
        format_number(p->min, min, sizeof min);
        format_number(p->max, max, sizeof max);
        snprintf(buf, size, " (%s%s..%s)", p->flags & CONF_MIN_EXCLUSIVE ? ">" : "", min, max);
        break;
    case CONF_ENUM: {
        size_t at = 0;
        at += (size_t)snprintf(buf, size, " (");
        for (const char *c = p->choices; *c && at + 4 < size; c++) {
            if (*c == ',') {
                buf[at++] = ',';
                buf[at++] = ' ';
            } else {
                buf[at++] = *c;
            }
        }
        buf[at++] = ')';
        buf[at] = '\0';
        break;
    }
    default:
        break;
    }
}

void sr_config_print_reference(FILE *out) {
    sr_config_t defaults;
    sr_config_init(&defaults);
    fputs("| key | default | description |\n|---|---|---|\n", out);
    for (size_t i = 0; i < N_PROPS; i++) {
        char value[256], range[128], desc[640];
        format_value(&defaults, &props[i], value, sizeof value);
        range_text(&props[i], range, sizeof range);
        snprintf(desc, sizeof desc, "%s%s", props[i].desc, range);
        fputc('|', out);
        print_cell(out, props[i].name);
        print_cell(out, value);
        print_cell(out, desc);
        fputc('\n', out);
    }
    fputc('|', out);
    print_cell(out, "kafka.*");
    print_cell(out, "");
    print_cell(out, kafka_desc);
    fputc('\n', out);
    sr_config_free(&defaults);
}

const char *sr_config_kafka_value(const sr_config_t *cfg, const char *key) {
    for (size_t k = 0; k < cfg->n_kafka; k++)
        if (strcmp(cfg->kafka[k].key, key) == 0)
            return cfg->kafka[k].value;
    return NULL;
}

size_t sr_config_kafka_props(const sr_config_t *cfg, sr_kafka_side_t side, sr_kafka_kv_t *out) {
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < cfg->n_kafka; k++) {
            const sr_kafka_prop_t *pr = &cfg->kafka[k];
            if ((pass == 0 && pr->side == SR_KAFKA_BOTH) || (pass == 1 && pr->side == side)) {
                out[n].key = pr->key;
                out[n++].value = pr->value;
            }
        }
    return n;
}
