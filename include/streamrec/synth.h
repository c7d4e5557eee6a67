/* streamrec synthetic clickstream with planted structure.
 *
 * A recommender must be able to learn what this stream hides, and a churn
 * model must be able to see who is leaving:
 *  - items belong to categories and, inside a category, form chains: after
 *    viewing item j a user often views j's successor (co-viewed chains);
 *  - each user has one to three favourite categories and a session rate;
 *    sessions are runs of views a few tens of seconds apart, some items go
 *    to the cart, some carts are bought, a few are removed;
 *  - users arrive over the first half of the span; a share of them are
 *    churners, whose session rate fades linearly to zero at their churn time
 *    and who never come back.
 * Events come out in strict event-time order (a heap of each user's next
 * event), so eval can use them directly. Deterministic for a seed.
 *
 * Memory: ~48 bytes per user plus the heap; no I/O. */
#ifndef STREAMREC_SYNTH_H
#define STREAMREC_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"
#include "streamrec/event.h"

typedef struct sr_synth_config {
    uint64_t seed;
    uint32_t users;            /* default 10,000 */
    uint32_t items;            /* default 5,000 */
    uint32_t categories;       /* default 50 */
    double days;               /* event-time span, default 120 */
    double sessions_per_day;   /* mean per active user, default 0.5 */
    double churn_fraction;     /* default 0.3 */
    int64_t start_ms;          /* event time of the first day, default 2026-01-01 */
} sr_synth_config_t;

typedef struct sr_synth sr_synth_t;

void sr_synth_config_defaults(sr_synth_config_t *cfg);
sr_synth_t *sr_synth_new(const sr_synth_config_t *cfg, char *errstr, size_t errstr_size);
void sr_synth_destroy(sr_synth_t *s);

/* The next event in time order; false when the span is over. Strings in ev
 * are borrowed until the next call. */
bool sr_synth_next(sr_synth_t *s, sr_event_t *ev);

/* Whether user index u was planted as a churner, and when it stops (ms). */
bool sr_synth_is_churner(const sr_synth_t *s, uint32_t u, int64_t *churn_ms);

uint64_t sr_synth_events(const sr_synth_t *s);

#endif
