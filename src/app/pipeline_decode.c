/* streamrec pipeline, decoding (engine thread): input records to events,
 * writer schemas from input.schema.file or the schema registry, and the
 * prefetch hints. */
#include "pipeline_internal.h"

#include <stdio.h>
#include <time.h>

#define REGISTRY_RETRY_MIN_MS 200
#define REGISTRY_RETRY_MAX_MS 5000

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The writer schema of a Confluent id from the registry (engine thread).
 *
 * The registry does not know the id: it is the authority on ids, so the
 * record cannot be read by anyone and goes to the DLQ as unknown_schema.
 *
 * The registry cannot be asked (refused, timed out, 5xx): the record is most
 * likely fine and the registry restarting or failing over. Dead-lettering
 * would throw good records away for an outage of ours, so we retry with
 * backoff for up to schema.registry.timeout.ms (Confluent's clients retry
 * too: max.retries, retries.wait.ms), then fail the pipeline -- what Kafka
 * Streams does by default (LogAndFailExceptionHandler): the daemon exits
 * non-zero naming the registry, nothing from the open batch on is committed,
 * and once restarted (systemd, Kubernetes) it reads this record again. We do
 * not wait forever as for Redis: the wait blocks the engine thread, which
 * does not poll the consumer meanwhile, and after max.poll.interval.ms the
 * group would take the partitions away; a registry that stays down is an
 * outage to surface, not to hide in a stall. A stop signal ends the wait.
 *
 * An answer that is not a schema (401/403, no registry at the URL) is a
 * configuration problem: fail at once. */
static sr_err_t registry_schema(sr_pipeline_t *p, int32_t schema_id, const char **writer,
                                char *errstr, size_t errstr_size) {
    const int budget_ms = p->cfg->io.schema_registry_timeout_ms;
    const int64_t deadline_ms = sr_clock_mono_ms() + budget_ms;
    int64_t delay_ms = REGISTRY_RETRY_MIN_MS;
    char why[256], failure[512];
    sr_err_t err;
    for (;;) {
        err = sr_schema_registry_get(p->registry, schema_id, writer, why, sizeof why);
        if (err == SR_OK || err == SR_ERR_UNKNOWN_SCHEMA || err == SR_ERR_NOMEM)
            return err == SR_OK ? SR_OK : sr_seterr(err, errstr, errstr_size, "%s", why);
        if (err != SR_ERR_IO) {
            snprintf(failure, sizeof failure, "%s; check schema.registry.url", why);
            break;
        }
        int64_t left_ms = deadline_ms - sr_clock_mono_ms();
        if (p->stop && *p->stop) {
            snprintf(failure, sizeof failure, "stopped while waiting for the schema registry: %s",
                     why);
            break;
        }
        if (left_ms <= 0) {
            snprintf(failure, sizeof failure,
                     "%s; still failing after %d ms (schema.registry.timeout.ms): start the "
                     "schema registry or fix schema.registry.url, then run again from the last "
                     "committed offset",
                     why, budget_ms);
            break;
        }
        if (delay_ms == REGISTRY_RETRY_MIN_MS) {
            sr_log_ctx_t ctx = SR_LOG_CTX("pipeline");
            ctx.error = why;
            sr_log(SR_LOG_WARN, &ctx, "schema registry request failed; retrying for up to %d ms",
                   budget_ms);
        }
        sleep_ms(delay_ms < left_ms ? delay_ms : left_ms);
        delay_ms = delay_ms * 2 > REGISTRY_RETRY_MAX_MS ? REGISTRY_RETRY_MAX_MS : delay_ms * 2;
    }
    pl_fail(p, "%s", failure);
    return sr_seterr(err, errstr, errstr_size, "%s", failure);
}

sr_err_t pl_decode(sr_pipeline_t *p, const rd_kafka_message_t *m, sr_event_t *ev,
                   char *errstr, size_t errstr_size) {
    int32_t schema_id = -1;
    sr_err_t err = sr_click_decode(p->decoder, m->payload, m->len, p->framing, ev, &schema_id,
                                   errstr, errstr_size);
    if (err != SR_ERR_UNKNOWN_SCHEMA || schema_id < 0)
        return err;
    /* No registry: input.schema.file (or the built-in ClickEvent schema) is
     * the writer schema of every id; register it the first time an id shows.
     * With one, each id's own writer schema, fetched once: the decoder keeps
     * it, so later records of the id never come back here. */
    const char *writer = p->writer_schema ? p->writer_schema
                                          : sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT);
    if (p->registry && (err = registry_schema(p, schema_id, &writer, errstr, errstr_size)) != SR_OK)
        return err;
    /* A registry schema that does not resolve against ClickEvent fails here
     * (invalid, dead-lettered) for each of its records; the registry client
     * caches the text, so that costs a schema parse per record, no request. */
    if ((err = sr_click_decoder_add_schema(p->decoder, schema_id, writer, errstr, errstr_size)) !=
        SR_OK)
        return err;
    return sr_click_decode(p->decoder, m->payload, m->len, p->framing, ev, NULL, errstr,
                           errstr_size);
}

/* The engine starts loading an event's state (profile, rows, summaries)
 * while it applies the events before it: each record of a poll is hinted
 * SR_ENGINE_PREFETCH_AHEAD records ahead of its turn. Decoding it twice is
 * cheaper than keeping decoded events alive; a record that does not decode
 * here (an id not registered yet, bad bytes) is simply not hinted. */
void pl_hint_record(sr_pipeline_t *p, const rd_kafka_message_t *m) {
    sr_event_t ev;
    if (!m->err && sr_click_decode(p->decoder, m->payload, m->len, p->framing, &ev, NULL, NULL,
                                   0) == SR_OK)
        sr_engine_prefetch(p->engine, &ev);
}

