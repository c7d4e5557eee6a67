/* streamrec engine: all model state, one writer.
 *
 * The engine owns the id dictionaries, the user profiles, the MF model, the
 * item-item similarity, the trending list, the churn model and the
 * recommender, and ties them together on each event. It knows nothing about
 * Kafka, Redis or files: events come in through sr_engine_apply(), outputs
 * leave through sr_engine_flush(), and `streamrec eval`, the daemon and the
 * benchmarks all drive this same interface.
 *
 * Batches: apply() updates the model and marks the user (and the items whose
 * neighbour lists changed) dirty; flush() recomputes each dirty user once,
 * however many of its events the batch held, and returns the outputs.
 *
 * Time: only event time. The watermark is the newest ts_ms seen minus
 * time.lateness.ms (held back by sr_engine_hold_watermark(), for a caller
 * whose input has parts read at different speeds); churn sweeps run when it
 * crosses a sweep boundary. Two engines fed the same events in the same
 * order, and the same holds between them, produce identical outputs.
 *
 * Memory: users and items are bounded by activity, not by history. On
 * every event-time hour the watermark crosses, users whose last event is
 * older than user_ttl_ms are evicted -- once their pending churn example,
 * if any, is due: it resolves as churned (the user never came back) -- a
 * firing alert is dropped (no RESOLVED: the user did not come back), the
 * profile, MF row and churn slot are reset and the dense id and its
 * dictionary entry are freed; the next new user takes the slot (last freed,
 * first reused), so the per-user tables stop growing. An evicted user who
 * returns is a new, cold user. Daily, items without an event for
 * item_ttl_ms are evicted the same way after every reference to them is
 * gone (other items' summaries, users' recent and purchased rings, the MF
 * negative ring, trending); items whose neighbour list lost a member are
 * marked dirty so the shorter list is published. Strings handed out (ids in
 * outboxes) are therefore valid only until the next apply().
 *
 * Thread rules: one thread (the engine thread) calls everything. */
#ifndef STREAMREC_ENGINE_H
#define STREAMREC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/churn.h"
#include "streamrec/err.h"
#include "streamrec/event.h"
#include "streamrec/mf.h"
#include "streamrec/profile.h"
#include "streamrec/recommend.h"
#include "streamrec/serial.h"
#include "streamrec/sim.h"
#include "streamrec/trending.h"

typedef struct sr_engine_config {
    float event_weight[SR_EVENT__COUNT]; /* view 1, cart 3, remove 0, purchase 5 */
    int64_t lateness_ms;                 /* allowed lateness for the watermark, default 5 s */
    int64_t future_max_ms;               /* refuse events further ahead than this; 0 = off, 1 h */
    int sim_neighbours;                  /* neighbours published per item, default 20 */
    int64_t user_ttl_ms;                 /* evict users idle this long (event time), default
                                            30 d; 0 keeps all; raised to churn.horizon_ms
                                            if below it (sr_engine_config() shows it) */
    int64_t item_ttl_ms;                 /* evict items without an event this long, default
                                            365 d; 0 keeps all */
    sr_profile_config_t profile;
    sr_mf_config_t mf;
    sr_sim_config_t sim;
    sr_trending_config_t trending;
    sr_reco_config_t reco;
    sr_churn_config_t churn;
} sr_engine_config_t;

/* One user's fresh recommendations. */
typedef struct sr_reco_update {
    uint32_t user;
    const char *user_id;        /* borrowed from the engine: valid until the next apply()
                                   (an eviction frees it); copy it to keep it longer */
    int64_t event_ts_ms;        /* newest event of this user that shaped the list */
    uint64_t seq;               /* per-user event count: grows with every event */
    size_t n_items;
    const sr_neighbour_t *items; /* best first */
} sr_reco_update_t;

/* One item's neighbour list, for items whose list changed: its members or
 * their order differ from the list last published, in an outbox or by
 * sr_engine_neighbours_news() (a change of scores alone is not news). */
typedef struct sr_sim_update {
    uint32_t item;
    const char *item_id;
    size_t n_neighbours;
    const sr_neighbour_t *neighbours;
} sr_sim_update_t;

typedef struct sr_alert_update {
    sr_churn_alert_t alert;
    const char *user_id;
    char alert_id[17]; /* 16 hex digits: hash of user id and fire time */
} sr_alert_update_t;

/* What one flush produced. Owned by the engine; valid until the next
 * apply() or flush(). */
typedef struct sr_outbox {
    const sr_reco_update_t *recos;
    size_t n_recos;
    const sr_sim_update_t *sims;
    size_t n_sims;
    const sr_alert_update_t *alerts;
    size_t n_alerts;
    const sr_churn_label_t *labels; /* churn examples resolved since the last flush */
    size_t n_labels;
    uint64_t model_version;         /* events applied so far */
    int64_t watermark_ms;           /* INT64_MIN: no time yet (no event, or held without one) */
} sr_outbox_t;

typedef struct sr_engine_stats {
    uint64_t events;                    /* applied */
    uint64_t by_type[SR_EVENT__COUNT];  /* applied, by type; [UNKNOWN] = skipped */
    uint64_t rejected;                  /* sr_engine_apply() refused */
    size_t users, items;                /* users: with state (forgotten ones not counted) */
    uint64_t users_evicted;             /* users given up after user_ttl_ms of inactivity */
    uint64_t items_evicted;             /* items given up after item_ttl_ms without events */
    int64_t watermark_ms;               /* INT64_MIN: no time yet (no event, or held without one) */
} sr_engine_stats_t;

typedef struct sr_engine sr_engine_t;

/* Stages of sr_engine_apply()/flush() timed when stage timing is on. */
typedef enum sr_engine_stage {
    SR_STAGE_PROFILE = 0, /* ids, profile */
    SR_STAGE_MF,
    SR_STAGE_SIMILARITY,  /* co-occurrence and trending */
    SR_STAGE_RECOMMEND,   /* flush: dirty users, neighbour lists (also those built later) */
    SR_STAGE_CHURN,       /* per-event resolution and sweeps */
    SR_STAGE__COUNT
} sr_engine_stage_t;

void sr_engine_config_defaults(sr_engine_config_t *cfg);

sr_engine_t *sr_engine_new(const sr_engine_config_t *cfg, char *errstr, size_t errstr_size);
void sr_engine_destroy(sr_engine_t *e);

/* Applies one event. Events of type UNKNOWN (or out of range) are counted
 * and skipped (SR_OK). An event the engine cannot take is counted and
 * refused with SR_ERR_BAD_FIELD and a reason naming the field, and changes
 * no state:
 *   - no user id;
 *   - a user, item or category id over SR_INTERN_MAX_LEN bytes, or one that
 *     is not valid UTF-8 or holds a control character (U+0000..U+001F,
 *     U+007F). Ids become Redis keys, Kafka keys, Avro strings (UTF-8 by
 *     the Avro spec, so other consumers of our outputs could not read them),
 *     JSON strings and log fields; a newline in one would forge a log line;
 *   - ts_ms < 0 (before the Unix epoch: a unit error or garbage), or
 *     past SR_ENGINE_MAX_TS_MS, whatever future_max_ms says;
 *   - ts_ms more than future_max_ms ahead of both the newest event time
 *     applied so far and the wall clock. One such event would drag the
 *     watermark into the future and with it every user's churn horizon:
 *     everyone would be labelled churned at the next sweep. Both references
 *     must be exceeded: a stream that resumes after an outage is ahead of
 *     its old event time but not of the clock, and a replay of history is
 *     behind the clock, so neither is refused and replays stay
 *     deterministic; the wall clock is read only for an event that is ahead
 *     of the event time. */
sr_err_t sr_engine_apply(sr_engine_t *e, const sr_event_t *ev, char *errstr, size_t errstr_size);

/* The latest event time the engine takes: profiles keep times as 32-bit
 * seconds (2106-02-07T06:28:15Z), and horizons and spreads are added to
 * event times, which must not overflow even with future_max_ms off. */
#define SR_ENGINE_MAX_TS_MS ((int64_t)UINT32_MAX * 1000)

/* How many events ahead of sr_engine_apply() to call sr_engine_prefetch(). */
#define SR_ENGINE_PREFETCH_AHEAD 8

/* A hint, for a caller that has the next events at hand (a batch of Kafka
 * messages): ev will be applied SR_ENGINE_PREFETCH_AHEAD events from now.
 * At 1 M users the state an event touches (dictionary entries, profile,
 * factor rows, churn state, the similarity summaries of the user's recent
 * items) is nearly always out of cache, and each apply() would otherwise
 * wait for those misses one chain after the other. The engine starts the
 * loads in stages over the next calls, so they overlap with the work on
 * the events before ev. Call it for every event, in the order the events
 * will be applied (decoding each message twice is cheaper than keeping
 * decoded events alive). Changes no state and no result; ev's strings need
 * to be valid only during the call. */
void sr_engine_prefetch(sr_engine_t *e, const sr_event_t *ev);

/* Closes a batch: recomputes every dirty user once, collects the changed
 * neighbour lists (those the gate below lets through), alerts and resolved
 * churn labels. */
sr_err_t sr_engine_flush(sr_engine_t *e, const sr_outbox_t **out);

/* Which of the items whose neighbour list may have changed in a batch
 * flush() builds: gate returns 1 to build it now (it goes in the outbox if
 * it is news), 0 to leave it (the caller takes it up later with
 * sr_engine_neighbours_news()), -1 when out of memory (flush() fails).
 * Building a list is a selection over the item's summary, done for most of
 * the catalogue in every batch; a caller that writes each list at most
 * every few seconds (the daemon's sim.publish.interval.ms) needs few of
 * them. gate NULL, the default: every one is built. */
typedef int sr_sim_gate_fn(void *opaque, uint32_t item);
void sr_engine_set_sim_gate(sr_engine_t *e, sr_sim_gate_fn *gate, void *opaque);

/* Builds item's neighbour list into out (up to sim.neighbours entries,
 * *n of them) and tells whether it is news, as in the outbox: its members
 * or their order differ from the last list published. A news list counts
 * as published from here on. false for an unknown item (*n = 0). */
bool sr_engine_neighbours_news(sr_engine_t *e, uint32_t item, sr_neighbour_t *out, size_t *n);

/* Fresh top-k for one user, from the current state, without marking or
 * emitting anything (eval's "what would the user see now"). Unknown user:
 * trending items. Returns the count written to out (<= reco.k). */
size_t sr_engine_recommend(sr_engine_t *e, const char *user_id, size_t user_id_len,
                           sr_neighbour_t *out);

/* Churn labels resolved since the last call; the engine forgets them after. */
const sr_churn_label_t *sr_engine_take_labels(sr_engine_t *e, size_t *n);

void sr_engine_stats(const sr_engine_t *e, sr_engine_stats_t *out);

/* Users marked dirty since the last flush (a batch-closing criterion). */
size_t sr_engine_dirty_users(const sr_engine_t *e);

/* Holds the watermark back: it is at most newest_ms - time.lateness.ms,
 * whatever newer event time the engine has seen; INT64_MIN stops it where
 * no sweep runs; INT64_MAX, the default, lets it follow the newest event.
 * The daemon reads several input partitions, and the newest event of one
 * says nothing of the unread records of another: it holds the watermark at
 * the slowest partition's newest event (input_watermark.h). Lowering the
 * hold undoes no sweep already run; the next one waits until the watermark
 * passes it. Returns true when the watermark rose, having run the sweeps
 * it came to: their alerts and labels go out with the next flush(). */
bool sr_engine_hold_watermark(sr_engine_t *e, int64_t newest_ms);

/* Whether sr_engine_apply() would take an event at ts_ms as far as its
 * time goes (see there): a caller tracking event time by itself counts no
 * time the engine refuses. */
bool sr_engine_takes_time(const sr_engine_t *e, int64_t ts_ms);

/* Wall-clock nanoseconds spent per stage while timing was on (benchmarks
 * only: the timing itself costs ~50 ns an event; it never affects results). */
void sr_engine_set_stage_timing(sr_engine_t *e, bool on);
void sr_engine_stage_ns(const sr_engine_t *e, uint64_t ns[SR_STAGE__COUNT]);
/* The string of a dense id; NULL for a free slot (evicted, never used).
 * Valid until the next apply() (an eviction may hand it to another id). */
const char *sr_engine_item_id(const sr_engine_t *e, uint32_t item);
const char *sr_engine_user_id(const sr_engine_t *e, uint32_t user);
/* Dense id of a user / item string, or SR_INTERN_NONE (UINT32_MAX). */
uint32_t sr_engine_find_user(const sr_engine_t *e, const char *id, size_t len);
uint32_t sr_engine_find_item(const sr_engine_t *e, const char *id, size_t len);
const sr_profile_t *sr_engine_profile(const sr_engine_t *e, uint32_t user);

/* ---- moving a user to another engine (partition handoff) ----
 *
 * A user's own state -- profile, MF row, churn slot -- as one opaque value,
 * with every item and category it refers to spelled as a string, so another
 * engine of the same build (whose dense ids differ) can take the user over.
 * Item-side state (factors, neighbour lists, trending) and the churn model
 * are not part of it: every engine keeps its own replica of those.
 *
 * export: writes the value into buf and returns its length; returns the
 * length needed, writing nothing, if cap is smaller; 0 for a user without
 * state. sr_engine_user_state_max() is always enough.
 * import: creates or overwrites the user (its items are created if new);
 * a value that does not parse, or comes from an engine with another mf.k,
 * is refused with a reason and changes nothing.
 * forget: gives the user up like an eviction does -- its id leaves the
 * dictionary and its dense id goes to the next new user -- but resolves no
 * churn label (the user lives on at its new owner) and emits nothing: no
 * sweep, alert or recommendation for it. Callers keeping per-user arrays by
 * dense id reset the user's entry. (Out of memory for the free list, the id
 * stays in the dictionary without state.)
 * user_slots: dense user ids handed out so far, with or without state;
 * sr_engine_profile(e, u)->events == 0 marks a slot without state. */
size_t sr_engine_user_state_max(const sr_engine_t *e);
size_t sr_engine_export_user(const sr_engine_t *e, uint32_t user, uint8_t *buf, size_t cap);
sr_err_t sr_engine_import_user(sr_engine_t *e, const char *user_id, size_t user_id_len,
                               const uint8_t *buf, size_t len, char *errstr, size_t errstr_size);
void sr_engine_forget_user(sr_engine_t *e, uint32_t user);
size_t sr_engine_user_slots(const sr_engine_t *e);

/* Read access to the parts, for eval baselines, tests and inspection. */
const sr_mf_t *sr_engine_mf(const sr_engine_t *e);
const sr_sim_t *sr_engine_sim(const sr_engine_t *e);
const sr_trending_t *sr_engine_trending(const sr_engine_t *e);
const sr_churn_t *sr_engine_churn(const sr_engine_t *e);
const sr_engine_config_t *sr_engine_config(const sr_engine_t *e);

/* Categories interned so far, and the string of a dense category id (NULL
 * if never handed out). */
size_t sr_engine_categories(const sr_engine_t *e);
const char *sr_engine_category_id(const sr_engine_t *e, uint32_t category);

/* ---- saving and loading the whole state (checkpoints) ----
 *
 * The state is everything the engine's future outputs depend on: the three
 * dictionaries in dense-id order, profiles, the MF model (tables,
 * accumulators, biases, negative ring, generator), the similarity summaries
 * and their decay clock, trending, the churn model with its user slots and
 * undrained alerts and labels, the counters, the newest event time, the
 * signatures of the neighbour lists last published, and the users and items
 * marked dirty since the last flush (so a state saved mid-batch flushes the
 * same batch). An engine loaded from it and fed the rest of a stream gives
 * bit for bit the outputs of the engine that never stopped.
 *
 * Layout (serial.h encoding): "SRES", u32 format version, u64 config
 * fingerprint, the shape (below), then each module's section, "ENGN" with
 * the engine's own fields, "END " and the state digest: XXH3-64 of every
 * byte before it. Equal states give equal bytes, so equal digests.
 *
 * The config fingerprint is XXH3-64 of the state's shape: the settings a
 * saved state cannot be read under any other value of -- mf.k,
 * mf.negative.pool, sim.half.life, trending.size, trending.half.life -- and
 * the build's fixed sizes (similarity slots, profile rings, categories kept,
 * half-lives, churn features, event types). Everything else (learning
 * rates, weights, thresholds, reco.*) may change between a save and a load:
 * the loaded model goes on under the new values. */
#define SR_ENGINE_STATE_VERSION 2

uint64_t sr_engine_config_fingerprint(const sr_engine_config_t *cfg);

/* Writes the state through write(opaque, ...) and returns its digest in
 * *digest_out (may be NULL). Allocates nothing and holds its buffer on the
 * stack (~66 KiB), so it may run in a child forked from the engine thread
 * while the parent goes on; write must then not allocate either. A failing
 * write stops the save with that callback's code. */
sr_err_t sr_engine_save(const sr_engine_t *e, sr_write_fn *write, void *opaque,
                        uint64_t *digest_out, char *errstr, size_t errstr_size);

/* Builds a new engine from a saved state read through read(opaque, ...),
 * which must end where the state ends. cfg NULL: the defaults with the
 * state's own shape (inspection); otherwise the state's fingerprint must
 * equal cfg's (SR_ERR_CONFIG, naming the settings that differ). Other
 * failures: SR_ERR_INVALID (another format version), SR_ERR_TRUNCATED
 * (input ends early), SR_ERR_CORRUPT (digest mismatch, values out of range,
 * bytes after the end), SR_ERR_NOMEM; no engine is made then. */
sr_err_t sr_engine_load(const sr_engine_config_t *cfg, sr_read_fn *read, void *opaque,
                        sr_engine_t **out, char *errstr, size_t errstr_size);

/* The digest sr_engine_save() would return, without writing anything.
 *
 * Right after a flush it depends on the events applied and their order,
 * not on where batches closed: the dirty sets and undrained churn outputs
 * are empty then, and every item's published-list signature equals the
 * signature of its current neighbour list (a list changes only through a
 * co-occurrence, which marks the item dirty, so the flush that follows
 * records it). Two runs over the same events, batched differently, thus
 * end with equal digests (test_engine_state pins this). With a sim gate
 * this holds once the lists it held back have been built (the daemon
 * builds them all before a checkpoint). Mid-batch, the open batch is part
 * of the state and of the digest. */
uint64_t sr_engine_digest(const sr_engine_t *e);

#endif
