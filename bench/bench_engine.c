/* bench_engine: what the engine costs on one core, and what its state weighs.
 *
 * Throughput mode (default). A synthetic stream (synth.h) is generated and
 * encoded with the Avro encoder (Confluent framing, schema id 1) into one
 * buffer before any clock starts, so the timed loop is what the daemon does
 * between Kafka and the sinks, minus the I/O:
 *
 *     decode -> sr_engine_apply -> every --batch events sr_engine_flush
 *
 * with each event also decoded SR_ENGINE_PREFETCH_AHEAD events earlier and
 * handed to sr_engine_prefetch(), as the daemon's engine thread does with a
 * poll's messages.
 *
 * sr_engine_flush is the dirty-user refresh (recommendations for every user
 * the batch touched, changed neighbour lists, churn outputs); its outbox is
 * counted and dropped. The pass is repeated (--repeat) with a fresh engine
 * and decoder each time, over the same bytes; events/s is wall clock
 * (CLOCK_MONOTONIC), and process CPU time (all threads) is reported beside
 * it so a second thread would show as cpu/wall > 1. OpenBLAS is forced to one
 * thread: the engine is meant to use one core.
 *
 * Two more passes split the cost: a decode-only pass (no engine), and an
 * engine pass with sr_engine_set_stage_timing() on. Stage timing reads the
 * clock ~5 times an event, so those numbers are a breakdown, not the
 * throughput; the throughput always comes from the untimed passes.
 *
 * Memory mode (--memory). Resident set size (/proc/self/statm) before and
 * after feeding a stream through the same loop, in a forked child per
 * measurement so one measurement's freed memory cannot be reused by the next.
 * The events are generated and encoded before the "before" reading and
 * nothing is freed until after the "after" reading; the engine and decoder
 * are created before it too (their fixed size is not per user or per item).
 *   per user: many users, few items (synth, --mem-users x --mem-user-items);
 *             RSS delta / users created. Nothing is subtracted: the few
 *             items' state is inside the figure.
 *   per item: many items, few users who each view many of them (built here,
 *             ids "u%u"/"i%u"); (RSS delta - users x the measured per-user
 *             figure) / items created.
 *
 * Output: a human table, or with --json one JSON object per line; every
 * line has "result" naming what it reports. */
#include <cblas.h> /* openblas_set_num_threads: Debian's OpenBLAS declares it here */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "streamrec/avro_codec.h"
#include "streamrec/config.h" /* -X: the daemon's keys and checks */
#include "streamrec/engine.h"
#include "streamrec/intern.h" /* sr_hash_bytes, for --digest */
#include "streamrec/rng.h"
#include "streamrec/synth.h"

#include "app/sim_throttle.h" /* the daemon's neighbour-list throttle */

#define SCHEMA_ID 1
/* Encoder headroom per record: our ids are a few tens of bytes, so a
 * ClickEvent never comes near this. */
#define MAX_RECORD_BYTES 4096
#define MAX_REPEAT 100

static const char *const stage_names[SR_STAGE__COUNT] = {"profile", "mf", "similarity",
                                                         "recommend", "churn"};

typedef struct options {
    uint32_t users, items, categories;
    double days, sessions_per_day;
    int k;
    sr_engine_config_t engine; /* defaults with the -X overrides; mf.k comes from k */
    int64_t sim_publish_ms;    /* -X sim.publish.interval.ms; 0 with --digest */
    size_t batch;
    uint64_t seed, events_max;
    int repeat;
    bool json, memory, stages, digest;
    /* memory mode shapes */
    uint32_t mem_users, mem_user_items;           /* per-user stream */
    uint32_t mem_items, mem_item_users, mem_views; /* per-item stream */
} options_t;

/* Every event of a run, Confluent-framed Avro, back to back: event n is
 * bytes[offsets[n] .. offsets[n + 1]). */
typedef struct encoded_stream {
    uint8_t *bytes;
    size_t n_bytes, cap_bytes;
    size_t *offsets;
    size_t n_events, cap_events;
} encoded_stream_t;

/* What one pass through the engine produced, besides its time. */
typedef struct pass_counts {
    uint64_t rejected, flushes, recos, sims, alerts, labels;
    /* --digest: hashes of everything the flushes produced, per kind, so a
     * change meant to keep the outputs can show it did */
    bool digest;
    uint64_t digest_recos, digest_sims, digest_churn;
} pass_counts_t;

typedef struct pass_result {
    double wall_s, cpu_s;
    pass_counts_t counts;
    sr_engine_stats_t stats;
    uint64_t stage_ns[SR_STAGE__COUNT];
} pass_result_t;

/* Sent from a memory-measuring child to the parent through a pipe. */
typedef struct memory_result {
    int ok;
    char errstr[256];
    int64_t rss_before_bytes, rss_after_bytes;
    int64_t heap_before_bytes, heap_after_bytes; /* malloc'd and not freed (mallinfo2) */
    uint64_t events, users, items;
    double generate_s, feed_s;
} memory_result_t;

/* ---- clocks and memory -------------------------------------------------- */

static double clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident bytes of this process. read(2) into the stack rather than stdio,
 * so taking the measurement allocates nothing. */
static int64_t rss_bytes(void) {
    char text[256];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    long long size_pages, resident_pages;
    if (sscanf(text, "%lld %lld", &size_pages, &resident_pages) != 2)
        return -1;
    return (int64_t)resident_pages * (int64_t)sysconf(_SC_PAGESIZE);
}

/* Bytes the allocator has handed out and not had back: arena chunks in use
 * plus mmapped chunks. Beside the RSS delta it tells live state from
 * allocator slack (freed-but-resident pages, doubling leftovers). */
static int64_t heap_in_use_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}

/* ---- the encoded stream ------------------------------------------------- */

static void stream_free(encoded_stream_t *s) {
    free(s->bytes);
    free(s->offsets);
    memset(s, 0, sizeof *s);
}

static sr_err_t stream_add(encoded_stream_t *s, sr_click_encoder_t *enc, const sr_event_t *ev,
                           char *errstr, size_t errstr_size) {
    if (s->cap_bytes - s->n_bytes < MAX_RECORD_BYTES) {
        size_t cap = s->cap_bytes ? s->cap_bytes * 2 : (size_t)64 << 20;
        uint8_t *bytes = realloc(s->bytes, cap);
        if (!bytes)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory at %zu events",
                             s->n_events);
        s->bytes = bytes;
        s->cap_bytes = cap;
    }
    if (s->n_events + 2 > s->cap_events) {
        size_t cap = s->cap_events ? s->cap_events * 2 : (size_t)1 << 20;
        size_t *offsets = realloc(s->offsets, cap * sizeof *offsets);
        if (!offsets)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory at %zu events",
                             s->n_events);
        s->offsets = offsets;
        s->cap_events = cap;
    }
    size_t len;
    sr_err_t err = sr_click_encode(enc, ev, SR_FRAMING_CONFLUENT, SCHEMA_ID, s->bytes + s->n_bytes,
                                   s->cap_bytes - s->n_bytes, &len, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    s->offsets[s->n_events] = s->n_bytes;
    s->n_bytes += len;
    s->offsets[++s->n_events] = s->n_bytes;
    return SR_OK;
}

static sr_synth_config_t synth_config(const options_t *o, uint32_t users, uint32_t items) {
    sr_synth_config_t cfg;
    sr_synth_config_defaults(&cfg);
    cfg.seed = o->seed;
    cfg.users = users;
    cfg.items = items;
    cfg.categories = o->categories < items ? o->categories : items;
    cfg.days = o->days;
    cfg.sessions_per_day = o->sessions_per_day;
    return cfg;
}

/* Encodes the synthetic stream. The generator is handed back (not freed) so
 * the memory mode can keep it alive until its last RSS reading. */
static sr_err_t generate_synth(const sr_synth_config_t *cfg, uint64_t events_max,
                               sr_click_encoder_t *enc, encoded_stream_t *s,
                               sr_synth_t **synth_out, char *errstr, size_t errstr_size) {
    sr_synth_t *synth = sr_synth_new(cfg, errstr, errstr_size);
    if (!synth)
        return SR_ERR_INVALID;
    sr_event_t ev;
    sr_err_t err = SR_OK;
    while ((events_max == 0 || s->n_events < events_max) && sr_synth_next(synth, &ev))
        if ((err = stream_add(s, enc, &ev, errstr, errstr_size)) != SR_OK)
            break;
    *synth_out = synth;
    return err;
}

/* The per-item memory shape the generator cannot make: few users, each
 * viewing many items drawn uniformly from a large catalogue, so every item
 * exists and has partners. Users take turns (round robin), 50 ms apart in
 * event time; about one event in ten is a cart, one in 25 a purchase. */
static sr_err_t generate_item_heavy(const options_t *o, sr_click_encoder_t *enc,
                                    encoded_stream_t *s, char *errstr, size_t errstr_size) {
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 7;
    sr_synth_config_t defaults;
    sr_synth_config_defaults(&defaults);
    char event_id[32], user_id[24], item_id[24], category_id[24];
    uint64_t n = 0;
    for (uint32_t view = 0; view < o->mem_views; view++) {
        for (uint32_t u = 0; u < o->mem_item_users; u++, n++) {
            uint32_t item = sr_rng_below(&rng, o->mem_items);
            snprintf(event_id, sizeof event_id, "e%" PRIu64, n);
            snprintf(user_id, sizeof user_id, "u%u", u);
            snprintf(item_id, sizeof item_id, "i%u", item);
            snprintf(category_id, sizeof category_id, "c%u", item % o->categories);
            sr_event_t ev = {
                .event_id = sr_str_c(event_id),
                .user_id = sr_str_c(user_id),
                .item_id = sr_str_c(item_id),
                .category_id = sr_str_c(category_id),
                .type = view % 25 == 24 ? SR_EVENT_PURCHASE
                      : view % 10 == 9  ? SR_EVENT_ADD_TO_CART
                                        : SR_EVENT_VIEW,
                .ts_ms = defaults.start_ms + (int64_t)n * 50,
            };
            if (ev.type == SR_EVENT_PURCHASE) {
                ev.price = 5.0 + (double)(item % 200);
                ev.has_price = true;
            }
            sr_err_t err = stream_add(s, enc, &ev, errstr, errstr_size);
            if (err != SR_OK)
                return err;
        }
    }
    return SR_OK;
}

/* ---- passes ------------------------------------------------------------- */

static sr_engine_t *engine_new(const options_t *o, char *errstr, size_t errstr_size) {
    sr_engine_config_t cfg = o->engine;
    cfg.mf.k = o->k;
    return sr_engine_new(&cfg, errstr, errstr_size);
}

static sr_click_decoder_t *decoder_new(char *errstr, size_t errstr_size) {
    sr_click_decoder_t *dec = sr_click_decoder_new(errstr, errstr_size);
    if (!dec)
        return NULL;
    if (sr_click_decoder_add_schema(dec, SCHEMA_ID, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT),
                                    errstr, errstr_size) != SR_OK) {
        sr_click_decoder_destroy(dec);
        return NULL;
    }
    return dec;
}

static uint64_t digest_list(uint64_t h, uint32_t id, const sr_neighbour_t *list, size_t n) {
    h = sr_hash_bytes(&id, sizeof id, h);
    for (size_t k = 0; k < n; k++) {
        h = sr_hash_bytes(&list[k].item, sizeof list[k].item, h);
        h = sr_hash_bytes(&list[k].score, sizeof list[k].score, h);
    }
    return h;
}

static void digest_outbox(const sr_outbox_t *out, pass_counts_t *c) {
    for (size_t r = 0; r < out->n_recos; r++)
        c->digest_recos = digest_list(c->digest_recos, out->recos[r].user, out->recos[r].items,
                                      out->recos[r].n_items);
    for (size_t i = 0; i < out->n_sims; i++)
        c->digest_sims = digest_list(c->digest_sims, out->sims[i].item, out->sims[i].neighbours,
                                     out->sims[i].n_neighbours);
    for (size_t a = 0; a < out->n_alerts; a++)
        c->digest_churn = sr_hash_bytes(out->alerts[a].alert_id, 16, c->digest_churn);
    for (size_t l = 0; l < out->n_labels; l++) {
        const sr_churn_label_t *x = &out->labels[l];
        uint32_t fields[3] = {x->user, x->churned, 0};
        memcpy(&fields[2], &x->probability, sizeof fields[2]);
        c->digest_churn = sr_hash_bytes(fields, sizeof fields, c->digest_churn);
    }
}

static void count_outbox(const sr_outbox_t *out, pass_counts_t *c) {
    c->flushes++;
    c->recos += out->n_recos;
    c->sims += out->n_sims;
    c->alerts += out->n_alerts;
    c->labels += out->n_labels;
    if (c->digest)
        digest_outbox(out, c);
}

/* A batch's close as the daemon's engine thread does it (pl_close_batch),
 * minus copying the outputs: with a throttle, the engine builds only the
 * neighbour lists it lets through now, and the deferred ones that have come
 * due are built after the flush; each list that is news counts. */
static sr_err_t flush(sr_engine_t *e, sr_sim_throttle_t *throttle, pass_counts_t *c) {
    const sr_outbox_t *out;
    int64_t now_ms = (int64_t)(clock_s(CLOCK_MONOTONIC) * 1000);
    if (throttle)
        sr_sim_throttle_arm(throttle, e, now_ms);
    sr_err_t err = sr_engine_flush(e, &out);
    if (err != SR_OK)
        return err;
    count_outbox(out, c);
    uint32_t item;
    sr_neighbour_t list[SR_SIM_SLOTS];
    size_t n;
    while (throttle && sr_sim_throttle_next_due(throttle, now_ms, &item))
        c->sims += sr_engine_neighbours_news(e, item, list, &n);
    return SR_OK;
}

/* The measured loop, exactly the daemon's engine thread without the I/O.
 * noinline and a stable name so `callgrind --toggle-collect=engine_pass`
 * can count this and nothing of the set-up. A decode error aborts: the
 * stream is our own, so it would be a bug, not bad input. */
__attribute__((noinline)) static sr_err_t engine_pass(sr_engine_t *e, sr_click_decoder_t *dec,
                                                      const encoded_stream_t *s, size_t batch,
                                                      sr_sim_throttle_t *throttle,
                                                      pass_counts_t *c, char *errstr,
                                                      size_t errstr_size) {
    sr_event_t ev;
    size_t in_batch = 0;
    sr_err_t err;
    /* The daemon's engine thread holds a batch of messages: it hints each
     * event to the engine SR_ENGINE_PREFETCH_AHEAD events before applying it
     * (decoding it twice; a decode is ~20 ns). */
    for (size_t n = 0; n < s->n_events + SR_ENGINE_PREFETCH_AHEAD; n++) {
        if (n < s->n_events) {
            size_t off = s->offsets[n];
            if ((err = sr_click_decode(dec, s->bytes + off, s->offsets[n + 1] - off,
                                       SR_FRAMING_CONFLUENT, &ev, NULL, errstr, errstr_size)) !=
                SR_OK)
                return err;
            sr_engine_prefetch(e, &ev);
        }
        if (n < SR_ENGINE_PREFETCH_AHEAD)
            continue;
        size_t off = s->offsets[n - SR_ENGINE_PREFETCH_AHEAD];
        if ((err = sr_click_decode(dec, s->bytes + off,
                                   s->offsets[n - SR_ENGINE_PREFETCH_AHEAD + 1] - off,
                                   SR_FRAMING_CONFLUENT, &ev, NULL, errstr, errstr_size)) != SR_OK)
            return err;
        if (sr_engine_apply(e, &ev, NULL, 0) != SR_OK)
            c->rejected++;
        if (++in_batch == batch) {
            if ((err = flush(e, throttle, c)) != SR_OK)
                return sr_seterr(err, errstr, errstr_size, "flush: %s", sr_err_name(err));
            in_batch = 0;
        }
    }
    if ((err = flush(e, throttle, c)) != SR_OK)
        return sr_seterr(err, errstr, errstr_size, "flush: %s", sr_err_name(err));
    return SR_OK;
}

/* One pass with a fresh engine and decoder; stage timing on or off. */
static sr_err_t run_engine_pass(const options_t *o, const encoded_stream_t *s, bool stage_timing,
                                pass_result_t *r, char *errstr, size_t errstr_size) {
    memset(r, 0, sizeof *r);
    r->counts.digest = o->digest;
    sr_click_decoder_t *dec = decoder_new(errstr, errstr_size);
    sr_engine_t *e = dec ? engine_new(o, errstr, errstr_size) : NULL;
    if (!e) {
        sr_click_decoder_destroy(dec);
        return SR_ERR_INVALID;
    }
    sr_engine_set_stage_timing(e, stage_timing);
    sr_sim_throttle_t *throttle = NULL;
    if (o->sim_publish_ms > 0 && !(throttle = sr_sim_throttle_new(o->sim_publish_ms))) {
        sr_engine_destroy(e);
        sr_click_decoder_destroy(dec);
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    sr_err_t err = engine_pass(e, dec, s, o->batch, throttle, &r->counts, errstr, errstr_size);
    r->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    r->wall_s = clock_s(CLOCK_MONOTONIC) - wall0;
    sr_engine_stats(e, &r->stats);
    sr_engine_stage_ns(e, r->stage_ns);
    sr_sim_throttle_destroy(throttle);
    sr_engine_destroy(e);
    sr_click_decoder_destroy(dec);
    return err;
}

/* Decoding alone: the decode stage without any clock read per event. */
static sr_err_t run_decode_pass(const encoded_stream_t *s, double *wall_s, char *errstr,
                                size_t errstr_size) {
    sr_click_decoder_t *dec = decoder_new(errstr, errstr_size);
    if (!dec)
        return SR_ERR_INVALID;
    sr_event_t ev;
    sr_err_t err = SR_OK;
    double wall0 = clock_s(CLOCK_MONOTONIC);
    for (size_t n = 0; n < s->n_events && err == SR_OK; n++)
        err = sr_click_decode(dec, s->bytes + s->offsets[n], s->offsets[n + 1] - s->offsets[n],
                              SR_FRAMING_CONFLUENT, &ev, NULL, errstr, errstr_size);
    *wall_s = clock_s(CLOCK_MONOTONIC) - wall0;
    sr_click_decoder_destroy(dec);
    return err;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) in place and returns its median. */
static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int throughput_mode(const options_t *o) {
    char errstr[512];
    encoded_stream_t s = {0};
    sr_synth_t *synth = NULL;
    sr_synth_config_t cfg = synth_config(o, o->users, o->items);
    sr_click_encoder_t *enc = sr_click_encoder_new(errstr, sizeof errstr);
    if (!enc) {
        fprintf(stderr, "bench_engine: %s\n", errstr);
        return 1;
    }
    double t0 = clock_s(CLOCK_MONOTONIC);
    sr_err_t err = generate_synth(&cfg, o->events_max, enc, &s, &synth, errstr, sizeof errstr);
    double generate_s = clock_s(CLOCK_MONOTONIC) - t0;
    sr_synth_destroy(synth);
    sr_click_encoder_destroy(enc);
    if (err != SR_OK || s.n_events == 0) {
        fprintf(stderr, "bench_engine: generating events: %s\n",
                err != SR_OK ? errstr : "the generator produced no events");
        stream_free(&s);
        return 1;
    }
    double n = (double)s.n_events;

    pass_result_t passes[MAX_REPEAT];
    double rates[MAX_REPEAT], cpu_rates[MAX_REPEAT];
    for (int r = 0; r < o->repeat; r++) {
        if (run_engine_pass(o, &s, false, &passes[r], errstr, sizeof errstr) != SR_OK) {
            fprintf(stderr, "bench_engine: pass %d: %s\n", r + 1, errstr);
            stream_free(&s);
            return 1;
        }
        rates[r] = n / passes[r].wall_s;
        cpu_rates[r] = n / passes[r].cpu_s;
    }
    const pass_result_t *first = &passes[0];
    /* On a shared machine the wall clock also counts time spent descheduled;
     * events per CPU-second beside it shows how much (cpu/wall < 1). */
    double sorted[MAX_REPEAT], sorted_cpu[MAX_REPEAT];
    memcpy(sorted, rates, (size_t)o->repeat * sizeof *rates);
    memcpy(sorted_cpu, cpu_rates, (size_t)o->repeat * sizeof *cpu_rates);
    double median = median_of(sorted, o->repeat);
    double median_cpu = median_of(sorted_cpu, o->repeat);

    double decode_s = 0;
    pass_result_t staged;
    if (o->stages) {
        if (run_decode_pass(&s, &decode_s, errstr, sizeof errstr) != SR_OK ||
            run_engine_pass(o, &s, true, &staged, errstr, sizeof errstr) != SR_OK) {
            fprintf(stderr, "bench_engine: stage pass: %s\n", errstr);
            stream_free(&s);
            return 1;
        }
    }

    if (o->json) {
        printf("{\"result\":\"workload\",\"generator\":\"synth\",\"users\":%u,\"items\":%u,"
               "\"categories\":%u,\"days\":%g,\"sessions_per_day\":%g,\"seed\":%" PRIu64
               ",\"events\":%zu,\"encoded_bytes\":%zu,\"users_seen\":%zu,\"items_seen\":%zu,"
               "\"generate_s\":%.3f}\n",
               cfg.users, cfg.items, cfg.categories, cfg.days, cfg.sessions_per_day, cfg.seed,
               s.n_events, s.n_bytes, first->stats.users, first->stats.items, generate_s);
        for (int r = 0; r < o->repeat; r++) {
            printf("{\"result\":\"pass\",\"k\":%d,\"batch\":%zu,\"pass\":%d,\"events\":%zu,"
                   "\"wall_s\":%.4f,\"cpu_s\":%.4f,\"events_per_s\":%.0f,\"events_per_cpu_s\":%.0f,"
                   "\"rejected\":%" PRIu64
                   ",\"flushes\":%" PRIu64 ",\"recos\":%" PRIu64 ",\"sims\":%" PRIu64
                   ",\"alerts\":%" PRIu64 ",\"labels\":%" PRIu64,
                   o->k, o->batch, r + 1, s.n_events, passes[r].wall_s, passes[r].cpu_s, rates[r],
                   cpu_rates[r],
                   passes[r].counts.rejected, passes[r].counts.flushes, passes[r].counts.recos,
                   passes[r].counts.sims, passes[r].counts.alerts, passes[r].counts.labels);
            if (o->digest)
                printf(",\"digest\":{\"recos\":\"%016" PRIx64 "\",\"sims\":\"%016" PRIx64
                       "\",\"churn\":\"%016" PRIx64 "\"}",
                       passes[r].counts.digest_recos, passes[r].counts.digest_sims,
                       passes[r].counts.digest_churn);
            printf("}\n");
        }
        double wall = 0, cpu = 0;
        for (int r = 0; r < o->repeat; r++) {
            wall += passes[r].wall_s;
            cpu += passes[r].cpu_s;
        }
        printf("{\"result\":\"throughput\",\"k\":%d,\"batch\":%zu,\"events\":%zu,\"repeat\":%d,"
               "\"events_per_s_median\":%.0f,\"events_per_s_min\":%.0f,\"events_per_s_max\":%.0f,"
               "\"ns_per_event_median\":%.1f,\"events_per_cpu_s_median\":%.0f,\"cpu_per_wall\":%.3f,"
               "\"openblas_threads\":%d}\n",
               o->k, o->batch, s.n_events, o->repeat, median, sorted[0], sorted[o->repeat - 1],
               1e9 / median, median_cpu, cpu / wall, openblas_get_num_threads());
        if (o->stages) {
            uint64_t sum = 0;
            printf("{\"result\":\"stages\",\"k\":%d,\"batch\":%zu,\"events\":%zu,"
                   "\"ns_per_event\":{\"decode\":%.1f",
                   o->k, o->batch, s.n_events, decode_s * 1e9 / n);
            for (int st = 0; st < SR_STAGE__COUNT; st++) {
                printf(",\"%s\":%.1f", stage_names[st], (double)staged.stage_ns[st] / n);
                sum += staged.stage_ns[st];
            }
            printf("},\"sum_ns_per_event\":%.1f,\"timed_pass_ns_per_event\":%.1f}\n",
                   (decode_s * 1e9 + (double)sum) / n, staged.wall_s * 1e9 / n);
        }
    } else {
        printf("workload    synth %u users x %u items (%u categories), %g days, %g sessions/day, "
               "seed %" PRIu64 "\n"
               "            %zu events (%.1f bytes each, Avro + Confluent header), "
               "%zu users and %zu items seen; generated in %.1f s\n",
               cfg.users, cfg.items, cfg.categories, cfg.days, cfg.sessions_per_day, cfg.seed,
               s.n_events, (double)s.n_bytes / n, first->stats.users, first->stats.items,
               generate_s);
        printf("engine      k=%d, flush every %zu events, OpenBLAS threads %d\n", o->k, o->batch,
               openblas_get_num_threads());
        printf("outputs     per pass: %" PRIu64 " flushes, %" PRIu64 " recommendation lists (%.3f "
               "per event), %" PRIu64 " neighbour lists, %" PRIu64 " alerts, %" PRIu64
               " churn labels, %" PRIu64 " rejected\n",
               first->counts.flushes, first->counts.recos, (double)first->counts.recos / n,
               first->counts.sims, first->counts.alerts, first->counts.labels,
               first->counts.rejected);
        if (o->digest)
            printf("digest      recos %016" PRIx64 "  sims %016" PRIx64 "  churn %016" PRIx64
                   "\n", first->counts.digest_recos, first->counts.digest_sims,
                   first->counts.digest_churn);
        for (int r = 0; r < o->repeat; r++)
            printf("pass %-6d  %10.0f events/s  wall %.3f s  cpu %.3f s (%.0f events/cpu-s)\n",
                   r + 1, rates[r], passes[r].wall_s, passes[r].cpu_s, cpu_rates[r]);
        printf("throughput  %10.0f events/s median of %d (min %.0f, max %.0f), %.1f ns/event "
               "(target >= 1,000,000 events/s); %.0f events per CPU-second\n",
               median, o->repeat, sorted[0], sorted[o->repeat - 1], 1e9 / median, median_cpu);
        if (o->stages) {
            printf("stages      ns/event (decode: decode-only pass; others: a pass with stage "
                   "timing on)\n");
            double sum = decode_s * 1e9 / n;
            printf("  %-12s %8.1f\n", "decode", decode_s * 1e9 / n);
            for (int st = 0; st < SR_STAGE__COUNT; st++) {
                printf("  %-12s %8.1f\n", stage_names[st], (double)staged.stage_ns[st] / n);
                sum += (double)staged.stage_ns[st] / n;
            }
            printf("  %-12s %8.1f   (timed pass took %.1f ns/event, untimed median %.1f)\n",
                   "sum", sum, staged.wall_s * 1e9 / n, 1e9 / median);
        }
    }
    stream_free(&s);
    return 0;
}

/* ---- memory ------------------------------------------------------------- */

typedef enum memory_shape { SHAPE_MANY_USERS, SHAPE_MANY_ITEMS } memory_shape_t;

/* Runs in the child: generate, read RSS, feed, read RSS. Frees nothing in
 * between (the child exits right after). malloc_trim before the first
 * reading hands back what generation freed, so the engine cannot grow into
 * already-resident memory unseen. */
static void measure_memory(const options_t *o, memory_shape_t shape, memory_result_t *r) {
    memset(r, 0, sizeof *r);
    encoded_stream_t s = {0};
    sr_synth_t *synth = NULL;
    sr_click_encoder_t *enc = sr_click_encoder_new(r->errstr, sizeof r->errstr);
    if (!enc)
        return;
    double t0 = clock_s(CLOCK_MONOTONIC);
    sr_err_t err;
    if (shape == SHAPE_MANY_USERS) {
        sr_synth_config_t cfg = synth_config(o, o->mem_users, o->mem_user_items);
        err = generate_synth(&cfg, 0, enc, &s, &synth, r->errstr, sizeof r->errstr);
    } else {
        err = generate_item_heavy(o, enc, &s, r->errstr, sizeof r->errstr);
    }
    if (err != SR_OK)
        return;
    r->generate_s = clock_s(CLOCK_MONOTONIC) - t0;
    r->events = s.n_events;

    sr_click_decoder_t *dec = decoder_new(r->errstr, sizeof r->errstr);
    sr_engine_t *e = dec ? engine_new(o, r->errstr, sizeof r->errstr) : NULL;
    if (!e)
        return;
    pass_counts_t counts = {0};
    malloc_trim(0);
    r->heap_before_bytes = heap_in_use_bytes();
    r->rss_before_bytes = rss_bytes();
    t0 = clock_s(CLOCK_MONOTONIC);
    if (engine_pass(e, dec, &s, o->batch, NULL, &counts, r->errstr, sizeof r->errstr) != SR_OK)
        return;
    r->feed_s = clock_s(CLOCK_MONOTONIC) - t0;
    r->rss_after_bytes = rss_bytes();
    r->heap_after_bytes = heap_in_use_bytes();
    sr_engine_stats_t stats;
    sr_engine_stats(e, &stats);
    r->users = stats.users;
    r->items = stats.items;
    if (r->rss_before_bytes < 0 || r->rss_after_bytes < 0) {
        snprintf(r->errstr, sizeof r->errstr, "cannot read /proc/self/statm");
        return;
    }
    r->ok = 1;
    (void)synth; /* alive on purpose until the child exits */
}

static bool measure_in_child(const options_t *o, memory_shape_t shape, memory_result_t *r) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("bench_engine: pipe");
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_engine: fork");
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        measure_memory(o, shape, r);
        ssize_t w = write(fds[1], r, sizeof *r);
        _exit(w == (ssize_t)sizeof *r ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fds[0], (char *)r + got, sizeof *r - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof *r) {
        fprintf(stderr, "bench_engine: memory child died (status %d)\n", status);
        return false;
    }
    if (!r->ok) {
        fprintf(stderr, "bench_engine: memory: %s\n", r->errstr);
        return false;
    }
    return true;
}

static int memory_mode(const options_t *o) {
    memory_result_t mu, mi;
    if (!measure_in_child(o, SHAPE_MANY_USERS, &mu) || !measure_in_child(o, SHAPE_MANY_ITEMS, &mi))
        return 1;
    if (mu.users == 0 || mi.items == 0) {
        fprintf(stderr, "bench_engine: memory: no users or no items were created\n");
        return 1;
    }
    double user_delta = (double)(mu.rss_after_bytes - mu.rss_before_bytes);
    double bytes_per_user = user_delta / (double)mu.users;
    double item_delta = (double)(mi.rss_after_bytes - mi.rss_before_bytes);
    double user_part = bytes_per_user * (double)mi.users;
    double bytes_per_item = (item_delta - user_part) / (double)mi.items;
    if (o->json) {
        printf("{\"result\":\"memory_user\",\"k\":%d,\"events\":%" PRIu64 ",\"users\":%" PRIu64
               ",\"items\":%" PRIu64 ",\"rss_before_bytes\":%" PRId64 ",\"rss_after_bytes\":%" PRId64
               ",\"heap_delta_bytes\":%" PRId64 ",\"bytes_per_user\":%.1f}\n",
               o->k, mu.events, mu.users, mu.items, mu.rss_before_bytes, mu.rss_after_bytes,
               mu.heap_after_bytes - mu.heap_before_bytes, bytes_per_user);
        printf("{\"result\":\"memory_item\",\"k\":%d,\"events\":%" PRIu64 ",\"users\":%" PRIu64
               ",\"items\":%" PRIu64 ",\"rss_before_bytes\":%" PRId64 ",\"rss_after_bytes\":%" PRId64
               ",\"heap_delta_bytes\":%" PRId64 ",\"user_part_bytes\":%.0f"
               ",\"bytes_per_item\":%.1f}\n",
               o->k, mi.events, mi.users, mi.items, mi.rss_before_bytes, mi.rss_after_bytes,
               mi.heap_after_bytes - mi.heap_before_bytes, user_part, bytes_per_item);
    } else {
        printf("memory      k=%d, RSS delta (/proc/self/statm) around decode+apply+flush, "
               "each shape in its own child process\n", o->k);
        printf("  per user  synth %u users x %u items: %" PRIu64 " events, %" PRIu64
               " users and %" PRIu64 " items created\n"
               "            RSS +%.1f MiB -> %.1f bytes/user (nothing subtracted; target <= 400)\n"
               "            (malloc'd and live: +%.1f MiB, %.1f bytes/user)\n",
               o->mem_users, o->mem_user_items, mu.events, mu.users, mu.items,
               user_delta / 1048576.0, bytes_per_user,
               (double)(mu.heap_after_bytes - mu.heap_before_bytes) / 1048576.0,
               (double)(mu.heap_after_bytes - mu.heap_before_bytes) / (double)mu.users);
        printf("  per item  %u users x %u views over %u items: %" PRIu64 " events, %" PRIu64
               " users and %" PRIu64 " items created\n"
               "            RSS +%.1f MiB, minus %" PRIu64 " users x %.1f bytes/user measured above "
               "(%.1f MiB)\n"
               "            -> %.1f bytes/item (target <= 2048)\n"
               "            (malloc'd and live: +%.1f MiB)\n",
               o->mem_item_users, o->mem_views, o->mem_items, mi.events, mi.users, mi.items,
               item_delta / 1048576.0, mi.users, bytes_per_user, user_part / 1048576.0,
               bytes_per_item, (double)(mi.heap_after_bytes - mi.heap_before_bytes) / 1048576.0);
    }
    return 0;
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *out) {
    fprintf(out,
            "usage: bench_engine [--users N] [--items N] [--days D] [--rate R] [--k K]\n"
            "                    [--batch B] [--seed S] [--events-max N] [--repeat N]\n"
            "                    [--no-stages] [--digest] [--json] [-X key=value ...]\n"
            "       bench_engine --memory [--k K] [--batch B] [--seed S] [--mem-users N]\n"
            "                    [--mem-user-items N] [--mem-items N] [--mem-item-users N]\n"
            "                    [--mem-views N] [--json]\n"
            "\n"
            "Throughput: decode + apply + flush every B events (no I/O) over a synthetic\n"
            "stream encoded before timing; events/s (median of --repeat fresh engines) and\n"
            "ns/event per stage. Defaults: 1,000,000 users x 100,000 items, 4 days,\n"
            "0.5 sessions/day (~7.5 M events), k 32, batch 10,000, seed 1, repeat 1.\n"
            "--rate is the synthetic sessions per user and day. --digest hashes every\n"
            "output (outside the timing's intent: it costs time) to compare two builds.\n"
            "-X sets a key of the daemon's config (streamrec --help-config), to measure\n"
            "what a setting costs; only the engine's keys change the run; mf.k is --k.\n"
            "Memory: RSS delta per user (--mem-users 1,000,000 x --mem-user-items 1,000,\n"
            "synthetic) and per item (--mem-item-users 20,000 x --mem-views 50 over\n"
            "--mem-items 100,000, uniform), the user part measured first and subtracted.\n");
}

static bool parse_number(const char *name, const char *s, double min, double max, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "bench_engine: --%s: '%s' is not a number in [%g, %g]\n", name, s, min,
                max);
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    enum { O_USERS = 256, O_ITEMS, O_DAYS, O_RATE, O_K, O_BATCH, O_SEED, O_EVENTS_MAX, O_REPEAT,
           O_JSON, O_MEMORY, O_NO_STAGES, O_DIGEST, O_MEM_USERS, O_MEM_USER_ITEMS, O_MEM_ITEMS,
           O_MEM_ITEM_USERS, O_MEM_VIEWS };
    static const struct option long_options[] = {
        {"users", required_argument, NULL, O_USERS},
        {"items", required_argument, NULL, O_ITEMS},
        {"days", required_argument, NULL, O_DAYS},
        {"rate", required_argument, NULL, O_RATE},
        {"k", required_argument, NULL, O_K},
        {"batch", required_argument, NULL, O_BATCH},
        {"seed", required_argument, NULL, O_SEED},
        {"events-max", required_argument, NULL, O_EVENTS_MAX},
        {"repeat", required_argument, NULL, O_REPEAT},
        {"json", no_argument, NULL, O_JSON},
        {"memory", no_argument, NULL, O_MEMORY},
        {"no-stages", no_argument, NULL, O_NO_STAGES},
        {"digest", no_argument, NULL, O_DIGEST},
        {"mem-users", required_argument, NULL, O_MEM_USERS},
        {"mem-user-items", required_argument, NULL, O_MEM_USER_ITEMS},
        {"mem-items", required_argument, NULL, O_MEM_ITEMS},
        {"mem-item-users", required_argument, NULL, O_MEM_ITEM_USERS},
        {"mem-views", required_argument, NULL, O_MEM_VIEWS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    options_t o = {
        .users = 1000000, .items = 100000, .categories = 50, .days = 4, .sessions_per_day = 0.5,
        .k = 32, .batch = 10000, .seed = 1, .events_max = 0, .repeat = 1, .stages = true,
        .mem_users = 1000000, .mem_user_items = 1000,
        .mem_items = 100000, .mem_item_users = 20000, .mem_views = 50,
    };
    sr_config_t config;
    sr_config_init(&config);
    char errstr[512];
    double v;
    int opt;
    while ((opt = getopt_long(argc, argv, "hX:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'X':
            if (sr_config_set_pair(&config, optarg, "-X", errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "bench_engine: %s\n", errstr);
                return 2;
            }
            break;
        case O_USERS: if (!parse_number("users", optarg, 1, 1e8, &v)) return 2; o.users = (uint32_t)v; break;
        case O_ITEMS: if (!parse_number("items", optarg, 1, 1e8, &v)) return 2; o.items = (uint32_t)v; break;
        case O_DAYS: if (!parse_number("days", optarg, 0.001, 36500, &o.days)) return 2; break;
        case O_RATE: if (!parse_number("rate", optarg, 0.001, 1000, &o.sessions_per_day)) return 2; break;
        case O_K: if (!parse_number("k", optarg, 1, SR_MF_MAX_K, &v)) return 2; o.k = (int)v; break;
        case O_BATCH: if (!parse_number("batch", optarg, 1, 1e9, &v)) return 2; o.batch = (size_t)v; break;
        case O_SEED: if (!parse_number("seed", optarg, 0, 1e15, &v)) return 2; o.seed = (uint64_t)v; break;
        case O_EVENTS_MAX: if (!parse_number("events-max", optarg, 0, 1e12, &v)) return 2; o.events_max = (uint64_t)v; break;
        case O_REPEAT: if (!parse_number("repeat", optarg, 1, MAX_REPEAT, &v)) return 2; o.repeat = (int)v; break;
        case O_JSON: o.json = true; break;
        case O_MEMORY: o.memory = true; break;
        case O_NO_STAGES: o.stages = false; break;
        case O_DIGEST: o.digest = true; break;
        case O_MEM_USERS: if (!parse_number("mem-users", optarg, 1, 1e8, &v)) return 2; o.mem_users = (uint32_t)v; break;
        case O_MEM_USER_ITEMS: if (!parse_number("mem-user-items", optarg, 1, 1e8, &v)) return 2; o.mem_user_items = (uint32_t)v; break;
        case O_MEM_ITEMS: if (!parse_number("mem-items", optarg, 1, 1e8, &v)) return 2; o.mem_items = (uint32_t)v; break;
        case O_MEM_ITEM_USERS: if (!parse_number("mem-item-users", optarg, 1, 1e8, &v)) return 2; o.mem_item_users = (uint32_t)v; break;
        case O_MEM_VIEWS: if (!parse_number("mem-views", optarg, 1, 1e6, &v)) return 2; o.mem_views = (uint32_t)v; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    sr_engine_config_t defaults;
    sr_engine_config_defaults(&defaults);
    if (config.engine.mf.k != defaults.mf.k) {
        fprintf(stderr, "bench_engine: -X mf.k: give the factor count with --k\n");
        return 2;
    }
    o.engine = config.engine;
    /* A list is built when the daemon would write it, and that follows the
     * wall clock: a digest that must not depend on speed builds them all. */
    o.sim_publish_ms = o.digest ? 0 : config.io.sim_publish_interval_ms;
    sr_config_free(&config);
    /* One core: the engine thread is the unit being measured, and OpenBLAS
     * would otherwise split a large sgemm over its own threads. */
    openblas_set_num_threads(1);
    return o.memory ? memory_mode(&o) : throughput_mode(&o);
}
