/* streamrec producer: see producer.h. */
#include "producer.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "streamrec/avro_codec.h"
#include "streamrec/clock.h"
#include "streamrec/kafka_out.h"
#include "streamrec/synth.h"

#define DEFAULT_FLUSH_TIMEOUT_MS 60000
/* A ClickEvent is a few dozen bytes; dataset ids are short. Anything larger
 * is refused by the encoder with a message, not truncated. */
#define MAX_RECORD_BYTES 65536
/* Delivery reports are served every this many records when nothing else
 * (a pacing wait, backpressure) serves them. */
#define POLL_EVERY 256
/* Longest single wait, so a stop request is seen within this. */
#define MAX_WAIT_MS 100

struct sr_producer {
    sr_kafka_out_t *out;
    sr_click_encoder_t *encoder;
    char *topic;
    int32_t schema_id;
    sr_pace_t pace;
    uint64_t max_events;
    int flush_timeout_ms;
    FILE *progress;
    _Atomic uint64_t produced, delivered, failed;
    char first_failure[256]; /* written by the delivery report that failed first */
    uint8_t record[MAX_RECORD_BYTES];
};

double sr_pace_due_s(const sr_pace_t *pace, uint64_t index, int64_t ts_ms, int64_t first_ts_ms) {
    switch (pace->mode) {
    case SR_PACE_RATE:
        return (double)index / pace->value;
    case SR_PACE_EVENT_TIME:
        return ts_ms > first_ts_ms ? (double)(ts_ms - first_ts_ms) / 1000.0 / pace->value : 0;
    case SR_PACE_MAX:
    default:
        return 0;
    }
}

sr_err_t sr_producer_synth_source(void *synth, sr_event_t *ev, char *errstr,
                                  size_t errstr_size) {
    (void)errstr;
    (void)errstr_size;
    return sr_synth_next(synth, ev) ? SR_OK : SR_ERR_EOF;
}

static void on_delivery(void *opaque, void *msg_opaque, rd_kafka_resp_err_t err) {
    sr_producer_t *p = opaque;
    (void)msg_opaque;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add_explicit(&p->delivered, 1, memory_order_relaxed);
        return;
    }
    if (atomic_fetch_add(&p->failed, 1) == 0)
        snprintf(p->first_failure, sizeof p->first_failure, "%s", rd_kafka_err2str(err));
}

sr_producer_t *sr_producer_new(const sr_producer_config_t *cfg, char *errstr,
                               size_t errstr_size) {
    if (!cfg->topic || !*cfg->topic) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "producer: no topic");
        return NULL;
    }
    if (cfg->pace.mode != SR_PACE_MAX && !(cfg->pace.value > 0 && isfinite(cfg->pace.value))) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "producer: a rate or speed must be a positive number");
        return NULL;
    }
    sr_producer_t *p = calloc(1, sizeof *p);
    if (!p || !(p->topic = strdup(cfg->topic))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "producer: out of memory");
        goto fail;
    }
    p->schema_id = cfg->schema_id;
    p->pace = cfg->pace;
    p->max_events = cfg->max_events;
    p->flush_timeout_ms = cfg->flush_timeout_ms > 0 ? cfg->flush_timeout_ms
                                                    : DEFAULT_FLUSH_TIMEOUT_MS;
    p->progress = cfg->progress;
    atomic_init(&p->produced, 0);
    atomic_init(&p->delivered, 0);
    atomic_init(&p->failed, 0);
    sr_kafka_out_config_t ocfg = {.bootstrap = cfg->bootstrap, .props = cfg->props,
                                  .n_props = cfg->n_props, .on_delivery = on_delivery,
                                  .opaque = p};
    if (!(p->encoder = sr_click_encoder_new(errstr, errstr_size)) ||
        !(p->out = sr_kafka_out_new(&ocfg, errstr, errstr_size)))
        goto fail;
    return p;
fail:
    sr_producer_destroy(p);
    return NULL;
}

void sr_producer_destroy(sr_producer_t *p) {
    if (!p)
        return;
    sr_kafka_out_destroy(p->out); /* reports what it cannot flush to on_delivery */
    sr_click_encoder_destroy(p->encoder);
    free(p->topic);
    free(p);
}

void sr_producer_stats(const sr_producer_t *p, sr_producer_stats_t *out) {
    out->produced = atomic_load_explicit(&p->produced, memory_order_relaxed);
    out->delivered = atomic_load_explicit(&p->delivered, memory_order_relaxed);
    out->failed = atomic_load_explicit(&p->failed, memory_order_relaxed);
}

static bool keep_going(sr_producer_t *p, const volatile sig_atomic_t *stop) {
    return !(stop && *stop) && atomic_load_explicit(&p->failed, memory_order_relaxed) == 0;
}

/* Waits until the monotonic clock reaches due_s, serving delivery reports
 * meanwhile. False if told to stop (or a record failed) first. */
static bool wait_until(sr_producer_t *p, double due_s, const volatile sig_atomic_t *stop) {
    for (;;) {
        double ahead_s = due_s - sr_clock_mono_s();
        if (ahead_s <= 0)
            return true;
        if (!keep_going(p, stop))
            return false;
        int ms = ahead_s * 1000 >= MAX_WAIT_MS ? MAX_WAIT_MS : (int)ceil(ahead_s * 1000);
        sr_kafka_out_poll(p->out, ms);
    }
}

static bool wait_for_room(sr_producer_t *p, const volatile sig_atomic_t *stop) {
    while (sr_kafka_out_in_flight(p->out) >= SR_PRODUCER_MAX_IN_FLIGHT) {
        if (!keep_going(p, stop))
            return false;
        sr_kafka_out_poll(p->out, 10);
    }
    return true;
}

static void show_progress(sr_producer_t *p, double elapsed_s) {
    sr_producer_stats_t st;
    sr_producer_stats(p, &st);
    fprintf(p->progress, "\r%8.0fs  %llu events to %s (%.0f/s), %llu acknowledged   ", elapsed_s,
            (unsigned long long)st.produced, p->topic,
            elapsed_s > 0 ? (double)st.produced / elapsed_s : 0.0,
            (unsigned long long)st.delivered);
    fflush(p->progress);
}

sr_err_t sr_producer_run(sr_producer_t *p, sr_event_source_fn *next, void *opaque,
                         const volatile sig_atomic_t *stop, char *errstr, size_t errstr_size) {
    sr_err_t err = SR_OK;
    char why[256];
    sr_event_t ev;
    double start_s = 0, shown_s = 0;
    int64_t first_ts_ms = 0;
    uint64_t n = 0;
    bool shown = false;
    while (keep_going(p, stop) && (p->max_events == 0 || n < p->max_events)) {
        if ((err = next(opaque, &ev, errstr, errstr_size)) != SR_OK) {
            if (err == SR_ERR_EOF)
                err = SR_OK;
            break;
        }
        if (n == 0) {
            start_s = shown_s = sr_clock_mono_s();
            first_ts_ms = ev.ts_ms;
        }
        if (!wait_until(p, start_s + sr_pace_due_s(&p->pace, n, ev.ts_ms, first_ts_ms), stop) ||
            !wait_for_room(p, stop))
            break;
        size_t len;
        if ((err = sr_click_encode(p->encoder, &ev, SR_FRAMING_CONFLUENT, p->schema_id,
                                   p->record, sizeof p->record, &len, why, sizeof why)) !=
            SR_OK) {
            sr_seterr(err, errstr, errstr_size, "event %llu ('%.*s'): %s",
                      (unsigned long long)n + 1, (int)(ev.event_id.len > 64 ? 64 : ev.event_id.len),
                      ev.event_id.ptr ? ev.event_id.ptr : "", why);
            break;
        }
        if ((err = sr_kafka_out_produce(p->out, p->topic, RD_KAFKA_PARTITION_UA, ev.user_id.ptr,
                                        ev.user_id.len, p->record, len, NULL, NULL, errstr,
                                        errstr_size)) != SR_OK)
            break;
        atomic_store_explicit(&p->produced, ++n, memory_order_relaxed);
        if (n % POLL_EVERY == 0)
            sr_kafka_out_poll(p->out, 0);
        if (p->progress) {
            double now_s = sr_clock_mono_s();
            if (now_s - shown_s >= 1.0) {
                show_progress(p, now_s - start_s);
                shown_s = now_s;
                shown = true;
            }
        }
    }

    /* Whatever stopped the loop, what was produced gets its chance to land. */
    sr_err_t flushed = sr_kafka_out_flush(p->out, p->flush_timeout_ms, why, sizeof why);
    if (shown) {
        show_progress(p, sr_clock_mono_s() - start_s);
        fputc('\n', p->progress);
    }
    if (err != SR_OK)
        return err;
    uint64_t failed = atomic_load(&p->failed);
    if (failed > 0)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                         "%llu of %llu records to %s were not delivered (first: %s)",
                         (unsigned long long)failed, (unsigned long long)n, p->topic,
                         p->first_failure);
    if (flushed != SR_OK)
        return sr_seterr(flushed, errstr, errstr_size, "%s", why);
    return SR_OK;
}

/* ---- the command-line front end ------------------------------------------ */

const char *sr_producer_command_bootstrap(const char *cmd, const sr_config_t *cfg) {
    const char *bootstrap = sr_config_kafka_value(cfg, "bootstrap.servers");
    if (!bootstrap || !*bootstrap)
        fprintf(stderr,
                "streamrec %s: set kafka.bootstrap.servers (-X kafka.bootstrap.servers=HOST:PORT "
                "or -c FILE)\n",
                cmd);
    return bootstrap && *bootstrap ? bootstrap : NULL;
}

int sr_producer_command(const char *cmd, const sr_config_t *cfg,
                        const sr_producer_config_t *base, sr_event_source_fn *next,
                        void *opaque) {
    char errstr[512];
    int rc = 1;
    sr_producer_t *p = NULL;
    sr_producer_config_t pcfg = *base;
    if (!(pcfg.bootstrap = sr_producer_command_bootstrap(cmd, cfg)))
        return 2;
    sr_kafka_kv_t *props = calloc(cfg->n_kafka + 1, sizeof *props);
    if (!props) {
        fprintf(stderr, "streamrec %s: out of memory\n", cmd);
        return 1;
    }
    pcfg.props = props;
    pcfg.n_props = sr_config_kafka_props(cfg, SR_KAFKA_PRODUCER, props);
    pcfg.progress = isatty(STDERR_FILENO) ? stderr : NULL;
    if (!(p = sr_producer_new(&pcfg, errstr, sizeof errstr))) {
        fprintf(stderr, "streamrec %s: %s\n", cmd, errstr);
        goto done;
    }
    volatile sig_atomic_t *stop;
    sr_cli_install_stop_signals(&stop);
    double start_s = sr_clock_mono_s();
    sr_err_t err = sr_producer_run(p, next, opaque, stop, errstr, sizeof errstr);
    double secs = sr_clock_mono_s() - start_s;
    sr_producer_stats_t st;
    sr_producer_stats(p, &st);
    if (err != SR_OK)
        fprintf(stderr, "streamrec %s: %s\n", cmd, errstr);
    fprintf(stderr,
            "streamrec %s: %s%llu events produced to %s in %.1f s (%.0f/s), %llu acknowledged\n",
            cmd, *stop ? "interrupted: " : "", (unsigned long long)st.produced, pcfg.topic, secs,
            secs > 0 ? (double)st.produced / secs : 0.0, (unsigned long long)st.delivered);
    rc = err == SR_OK ? 0 : 1;
done:
    sr_producer_destroy(p);
    free(props);
    return rc;
}
