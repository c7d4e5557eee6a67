/* streamrec sim_throttle: how often an item's neighbour list goes to Redis.
 *
 * Neighbour lists change with nearly every event of a popular item, and a
 * sim:{item} write (a sorted set of 20) costs Redis several times a
 * recommendation write; a feed reading "similar items" needs them fresh to
 * seconds, not to the event. So each item's list is looked at -- built, and
 * written if it is news -- at most once per interval (wall clock): a change
 * offered sooner is deferred, and when the interval is over the item comes
 * back out of next_due() -- once, however many changes it collected -- for
 * the caller to look at its list as it is then, so the newest list always
 * lands, at most one interval after the change. Armed as the engine's gate
 * (sr_sim_throttle_arm), it also spares the engine building the lists it
 * would only drop: most of the catalogue changes in every batch.
 *
 * Deferred items come out in the order they were deferred; an item can be
 * held up behind an earlier one by at most one interval.
 *
 * Memory: 9 bytes per item plus the queue. Thread rules: one thread. */
#ifndef STREAMREC_APP_SIM_THROTTLE_H
#define STREAMREC_APP_SIM_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/engine.h"
#include "streamrec/err.h"

typedef struct sr_sim_throttle sr_sim_throttle_t;

/* interval_ms 0: every change is written at once. NULL when out of memory. */
sr_sim_throttle_t *sr_sim_throttle_new(int64_t interval_ms);
void sr_sim_throttle_destroy(sr_sim_throttle_t *t);

/* item's list changed at now_ms: *write_now tells whether to write it now
 * (or leave it to next_due()). SR_ERR_NOMEM only. */
sr_err_t sr_sim_throttle_offer(sr_sim_throttle_t *t, uint32_t item, int64_t now_ms,
                               bool *write_now);

/* The next deferred item whose interval is over at now_ms; false if none.
 * The caller writes its current list. */
bool sr_sim_throttle_next_due(sr_sim_throttle_t *t, int64_t now_ms, uint32_t *item);

/* Whether next_due() would give an item at now_ms: a caller with no input
 * to close a batch for checks this to write due lists all the same. */
bool sr_sim_throttle_any_due(sr_sim_throttle_t *t, int64_t now_ms);

/* The next deferred item whether due or not (a checkpoint writes them all);
 * its interval starts again at now_ms. */
bool sr_sim_throttle_next_held(sr_sim_throttle_t *t, int64_t now_ms, uint32_t *item);

/* sr_engine_set_sim_gate()'s gate over a throttle, so that the engine
 * builds only the lists to look at now: offers item at the time last given
 * to sr_sim_throttle_set_now(); 1 to build it now, 0 deferred, -1 out of
 * memory. A list built and found not to be news has had its look: a change
 * after it waits out the interval like any other. */
void sr_sim_throttle_set_now(sr_sim_throttle_t *t, int64_t now_ms);
int sr_sim_throttle_gate(void *throttle, uint32_t item);

/* Before each sr_engine_flush(): makes t e's gate, at now_ms. */
void sr_sim_throttle_arm(sr_sim_throttle_t *t, sr_engine_t *e, int64_t now_ms);

/* Items deferred and not yet written. */
size_t sr_sim_throttle_pending(const sr_sim_throttle_t *t);

#endif
