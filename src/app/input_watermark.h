/* streamrec input_watermark: how far event time may go, given every input
 * partition.
 *
 * The engine's watermark is its newest event time minus time.lateness.ms,
 * and the sweeps run on it: users not seen for a churn horizon before it
 * are labelled churned, users who look inactive at it get alerts, and users
 * idle for state.user.ttl.days are evicted.
 * One consumer reads several partitions, at different speeds: a catch-up
 * after downtime reads them one after another, days of event time apart.
 * The newest event of one partition then says nothing about the unread
 * records of another, and a sweep at its time would label the slow
 * partition's users churned and send the CRM alerts for them before their
 * events are read. So, as Flink takes the lowest of its sources'
 * watermarks, the daemon holds the engine's watermark at the newest event
 * time of the slowest partition (sr_engine_hold_watermark).
 *
 * Which partitions hold: every assigned partition that can still deliver
 * records older than the others'. A partition stops holding when it is
 * idle: no record of it for idle_ms of the consumer's polling, so that a
 * partition without traffic does not stop the clock. Only time spent
 * polling counts, at most SR_INPUT_WATERMARK_POLL_STEP_MS of it between
 * two polls: while the consumer is paused (the sinks are behind) or the
 * engine thread is busy elsewhere (a drain, a checkpoint), a partition with
 * a backlog is not read, and must not look idle for it. A partition assigned but without a
 * record yet holds with no time at all (no sweep) until its first record
 * or until it is idle. A record without a time the engine takes (a dead
 * letter) says nothing of its partition's event time and counts as
 * silence: a partition of nothing else goes idle rather than stop every
 * sweep. As with Flink's idleness, a partition the consumer does not read
 * for idle_ms of polling (not paused) counts as idle even if records wait
 * in it; the default is far above the gaps between a backlog's fetches.
 *
 * Records of one partition come in offset order; their event times need
 * not be in order (the partition's newest counts). With one partition the
 * hold is that partition's newest event, which is the engine's own: the
 * sweeps run where they would with no hold at all.
 *
 * Thread rules: one thread (the engine thread). */
#ifndef STREAMREC_APP_INPUT_WATERMARK_H
#define STREAMREC_APP_INPUT_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"

typedef struct sr_input_watermark sr_input_watermark_t;

/* The most quiet time one poll can add: more than a busy poll loop's turn
 * (a batch close included), far less than a drain or a checkpoint takes. */
#define SR_INPUT_WATERMARK_POLL_STEP_MS 200

/* NULL when out of memory. */
sr_input_watermark_t *sr_input_watermark_new(int64_t idle_ms);
void sr_input_watermark_destroy(sr_input_watermark_t *w);

/* A partition assigned: holding, with no time yet. One already known starts
 * over. SR_ERR_NOMEM only. */
sr_err_t sr_input_watermark_assign(sr_input_watermark_t *w, const char *topic, int32_t partition);
/* A partition given up: it holds nothing any more. Unknown ones are ignored. */
void sr_input_watermark_revoke(sr_input_watermark_t *w, const char *topic, int32_t partition);
void sr_input_watermark_clear(sr_input_watermark_t *w); /* every partition given up */

/* A record of the partition came; ts_ms is its event time, or INT64_MIN
 * for a record without one the engine takes (it goes to the dead-letter
 * topic), which is ignored like a partition not assigned. */
void sr_input_watermark_record(sr_input_watermark_t *w, const char *topic, int32_t partition,
                               int64_t ts_ms);

/* The consumer polled at now_ms (monotonic), paused or not: call it after
 * every poll, with records or without, once they are recorded. Partitions
 * that delivered nothing since the last call have been quiet for the time
 * between the calls (none while paused), and go idle after idle_ms. */
void sr_input_watermark_polled(sr_input_watermark_t *w, int64_t now_ms, bool paused);

/* The newest event time the watermark may assume, for
 * sr_engine_hold_watermark(): the lowest newest event time of the holding
 * partitions; INT64_MIN when one of them has none yet; INT64_MAX when none
 * holds. As of the last record() or polled(). */
int64_t sr_input_watermark_hold(const sr_input_watermark_t *w);

#endif
