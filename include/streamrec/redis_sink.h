/* streamrec redis_sink: recommendations, similar items and churn risk to Redis.
 *
 * The sink takes plain records (ids, scores, numbers), not engine types, and
 * writes them in batches through one pipelined connection (hiredis, blocking).
 *
 * Keys (the braces are literal: Redis Cluster hash tags, so reco:{u} and
 * reco:{u}:meta hash to the same slot and one script may touch both):
 *
 *   reco:{USER}        format zset: ZSET item -> score (read it with
 *                      ZREVRANGE reco:{USER} 0 -1 WITHSCORES; equal scores come
 *                      back in reverse byte order of the item id, Redis's rule);
 *   reco:{USER}:meta   format zset: HASH model_version, event_ts_ms, updated_ms, seq;
 *   reco:{USER}        format json: STRING (GET) holding
 *                        {"event_ts_ms":..,"seq":..,"model_version":..,
 *                         "updated_ms":..,"user_id":"..",
 *                         "items":[{"item_id":"..","score":..},...]}
 *                      items best first, in the caller's order;
 *   sim:{ITEM}         ZSET neighbour item -> similarity;
 *   churn:{USER}       HASH p, level, ts_ms.
 *
 * Every key written gets the configured TTL (EXPIRE, or SET EX), so users and
 * items that go quiet disappear without a sweeper.
 *
 * Atomicity and the replay guard. Each write is ONE command: a Lua script
 * (EVALSHA; the scripts are loaded with SCRIPT LOAD at connect and again if
 * the server answers NOSCRIPT, e.g. after a SCRIPT FLUSH or a failover), or
 * for an unguarded json reco a SET. Either runs atomically, so a reader
 * never sees half a list.
 *   - reco: the script compares the stored (event_ts_ms, seq) with the new one
 *     lexicographically and writes only if the new pair is strictly greater;
 *     an older replay and an exact replay leave the key alone. Event time is
 *     primary because it is what the data is about and is comparable across
 *     engine restarts; seq orders writes with the same event time. zset: the
 *     guard is the :meta hash. json: the guard fields are the first two of
 *     the JSON object, so the script reads them with GETRANGE 0..79 and a
 *     pattern match instead of decoding the whole document; no companion key.
 *   - churn: written if the new ts_ms >= the stored one. Ties go to the later
 *     write: the model runs on event time, so two scores for the same ts_ms
 *     are the same score (a replay) or a correction, and either may land.
 *   - sim: no per-item sequence exists, so the list is replaced
 *     unconditionally (DEL + ZADD + EXPIRE in one script). A replayed older
 *     list can therefore win until the item's next change rewrites it;
 *     similarity moves slowly, which is why that is acceptable here.
 *   - reco, unguarded (sr_redis_put_reco_unguarded): for a caller that knows
 *     no newer list can be in Redis -- the daemon once a partition's input is
 *     past what any earlier owner of the partition may have processed (see
 *     pipeline_internal.h, "replay"). json: a plain SET ... EX, which costs
 *     the server ~1.75 us against ~6.5 us for the guarded script
 *     (redis-benchmark -P 64, an 865-byte document); zset: the script
 *     without its HMGET and comparison. Still atomic; the stored pair is the
 *     written one, so a later guarded write compares against it as usual.
 * Numbers in the guards go through Lua doubles, exact up to 2^53: ts_ms and
 * seq above that (or negative) are rejected by the put functions.
 * Switching redis.reco.format on a live Redis: the new format does not see
 * the other format's guard, so each user's first write after the switch is
 * unguarded; the other format's leftovers (a :meta hash) expire by TTL.
 *
 * Why json is the default format (redis.reco.format=json) -- measured here
 * (2 cores, redis-server 7.0.15 from Debian 12, this sink writing 100,000
 * users x 20 items in pipelined batches of 1,000; 4 runs, ranges):
 *
 *                            zset (script)        json (script)
 *   redis-server CPU/write   23.7-28.2 us         7.0-9.5 us     (INFO cpu)
 *   EVALSHA usec_per_call    22-38 us             5.9-13.5 us    (commandstats)
 *   100k writes, wall        2.8-5.7 s            1.1-2.6 s
 *   reader: top 20           ZREVRANGE 0 19 WITHSCORES 7-11 us   GET 0.7-1.0 us
 *   memory per user          1,121 B (2 keys)     1,423 B (1 key)
 *
 * Redis runs commands on one thread, so ~25 us per write caps a server at
 * ~40k zset writes/s on a whole core; the json write caps at ~130k/s. The
 * freshness and throughput targets (100k-300k events/s, each dirty user
 * rewritten once per batch) put tens of thousands of reco writes per second
 * on Redis, which the zset format cannot sustain beside the engine on this
 * machine, and the feed service's reads are ~8x cheaper as well. Where the
 * zset's cost comes from: a plain 20-member ZADD costs 10.6-12.6 us here
 * against 0.6-0.85 us for a 200-byte SET (12-20x, more than the ~5x the
 * issue quotes), and 4.2-5.0 us with integer scores -- Redis 7.0 formats
 * every non-integer score with "%.17g" into the listpack; the script's
 * other calls (HMGET, DEL, HSET, 2x EXPIRE) and argument passing add the
 * rest. What json gives up: ~27% more
 * memory, readers must parse JSON, and no partial or per-item reads
 * (ZREVRANGE 0 4 costs 2.4-3.7 us, ZSCORE). Choose zset where readers need
 * those and write rates are modest.
 *
 * Batches and retries. sr_redis_batch_begin() starts an empty batch; the put
 * functions copy their arguments into it (the caller's strings are borrowed
 * only during the call) as ready-to-send Redis protocol; sr_redis_batch_commit()
 * sends the whole batch in one pipeline and reads every reply. It returns
 * SR_OK only if every write was acknowledged (a write skipped by a guard is
 * acknowledged: the newer data is there). On failure the batch is kept, so
 * calling commit again resends exactly the same writes; that is safe because
 * every write is an idempotent overwrite: under its guard, or (unguarded)
 * with the same value again. Some writes of a failed commit may have been
 * applied; a resend leaves them (or writes them again) as they are.
 * Committing an empty batch succeeds without I/O (after a reconnect attempt
 * if the connection is down). Memory: the batch buffer grows to the largest
 * batch and is then reused, so steady state allocates nothing per write on
 * our side (hiredis copies the batch into its output buffer once per commit).
 * Cost on the sink thread: 3-5 us per 20-item write, mostly formatting the
 * scores (9 significant digits, so every float reads back exactly).
 *
 * Errors from commit (the batch is kept in both cases):
 *   SR_ERR_IO  the connection failed (refused, reset, timeout): the message
 *              says where and why, the connection is dropped and the next
 *              commit reconnects (and reloads the scripts); or Redis answered
 *              an error (OOM, READONLY, WRONGTYPE, ...): the message quotes
 *              the first error with its key and counts the others.
 * Both mean "not acknowledged: keep the inputs, back off and retry".
 *   SR_ERR_NOMEM  hiredis could not allocate its output buffer (the
 *              connection is dropped as well).
 *
 * SIGPIPE: hiredis writes with write(2), which raises SIGPIPE on a socket the
 * server closed. The sink blocks SIGPIPE in the committing thread during I/O
 * and discards one it caused, so a Redis restart never kills the process,
 * whatever the application's SIGPIPE disposition.
 *
 * Redis Cluster: keys are cluster-ready (hash tags), but this sink speaks to
 * one node; an id containing '}' still keeps reco:{u} and :meta together
 * unless it starts with '}' (an empty hash tag), in which case a cluster
 * would reject the script with CROSSSLOT.
 *
 * Threads: one thread at a time per sink (the sink thread). */
#ifndef STREAMREC_REDIS_SINK_H
#define STREAMREC_REDIS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/avro_codec.h"
#include "streamrec/err.h"

typedef enum sr_redis_reco_format {
    SR_REDIS_RECO_ZSET = 0, /* reco:{u} ZSET + reco:{u}:meta HASH */
    SR_REDIS_RECO_JSON      /* reco:{u} STRING holding one JSON object (default) */
} sr_redis_reco_format_t;

typedef struct sr_redis_sink_config {
    const char *host;             /* copied by sr_redis_sink_new */
    int port;                     /* 1..65535 */
    int db;                       /* SELECTed at connect when not 0 */
    int key_ttl_s;                /* >= 1, on every key */
    sr_redis_reco_format_t reco_format;
    int connect_timeout_ms;       /* >= 1 */
    int command_timeout_ms;       /* >= 1; per socket read/write, not per batch */
} sr_redis_sink_config_t;

/* Defaults: 127.0.0.1:6379 db 0, TTL 7 days, json, connect timeout 1000 ms,
 * command timeout 5000 ms. */
void sr_redis_sink_config_init(sr_redis_sink_config_t *cfg);

/* Parses redis://host[:port][/db] (port defaults to 6379, db to 0; an IPv6
 * host goes in brackets: redis://[::1]:6379). host gets the host name
 * (brackets stripped), NUL-terminated. Rejected with SR_ERR_CONFIG and a
 * message naming the URL: other schemes (rediss:// TLS, unix://), user or
 * password parts, an empty host, a port outside 1..65535, a db that is not a
 * non-negative number, anything after the db, a host longer than host_size-1. */
sr_err_t sr_redis_parse_url(const char *url, char *host, size_t host_size, int *port,
                            int *db, char *errstr, size_t errstr_size);

/* "zset" or "json" (redis.reco.format). SR_ERR_CONFIG for anything else. */
sr_err_t sr_redis_reco_format_parse(const char *name, sr_redis_reco_format_t *out,
                                    char *errstr, size_t errstr_size);

typedef struct sr_redis_sink sr_redis_sink_t;

/* Connects, SELECTs the db, loads the scripts. NULL on failure with a message
 * that says what to do: "cannot connect to Redis at 127.0.0.1:6379
 * (Connection refused): start redis-server or set redis.url". */
sr_redis_sink_t *sr_redis_sink_new(const sr_redis_sink_config_t *cfg,
                                   char *errstr, size_t errstr_size);

/* Closes the connection, frees the sink and any uncommitted batch.
 * NULL is a no-op. */
void sr_redis_sink_destroy(sr_redis_sink_t *sink);

/* Discards any pending writes and starts an empty batch. */
void sr_redis_batch_begin(sr_redis_sink_t *sink);

/* Adds the replacement of user_id's recommendations: items[0..n) best first
 * (n may be 0: the list becomes empty, the metadata is still written).
 * Returns SR_ERR_INVALID, leaving the batch unchanged, for: an empty or NULL
 * id; a non-finite score; event_ts_ms or seq outside 0..2^53; with the json
 * format, an id that is not valid UTF-8 (JSON text must be UTF-8; ids from
 * Avro strings always are). SR_ERR_NOMEM likewise. O(n). */
sr_err_t sr_redis_put_reco(sr_redis_sink_t *sink, const char *user_id,
                           const sr_scored_id_t *items, size_t n, int64_t model_version,
                           int64_t event_ts_ms, int64_t updated_ms, int64_t seq);

/* The same without the guard: the write replaces whatever reco:{user_id}
 * holds, newer or not (see "unguarded" above). Same checks and errors. */
sr_err_t sr_redis_put_reco_unguarded(sr_redis_sink_t *sink, const char *user_id,
                                     const sr_scored_id_t *items, size_t n,
                                     int64_t model_version, int64_t event_ts_ms,
                                     int64_t updated_ms, int64_t seq);

/* Adds the replacement of item_id's neighbour list (unguarded, see above;
 * n == 0 deletes the key). Errors as sr_redis_put_reco. */
sr_err_t sr_redis_put_sim(sr_redis_sink_t *sink, const char *item_id,
                          const sr_scored_id_t *neighbours, size_t n);

/* Adds churn:{user_id} = {p, level, ts_ms}, guarded on ts_ms. SR_ERR_INVALID
 * for an empty id, p outside [0, 1] or NaN, a NULL or empty level, ts_ms
 * outside 0..2^53. */
sr_err_t sr_redis_put_churn(sr_redis_sink_t *sink, const char *user_id, double p,
                            const char *level, int64_t ts_ms);

/* Writes in the current batch. */
size_t sr_redis_batch_count(const sr_redis_sink_t *sink);

/* Sends the batch in one pipeline and checks every reply; see the top of this
 * file. On SR_OK the batch is emptied; on error it is kept for a retry. */
sr_err_t sr_redis_batch_commit(sr_redis_sink_t *sink, char *errstr, size_t errstr_size);

/* Whether the sink holds a connection (false after a connection error, until
 * the next commit reconnects). */
bool sr_redis_sink_connected(const sr_redis_sink_t *sink);

/* Counters since sr_redis_sink_new, for metrics. */
typedef struct sr_redis_sink_stats {
    uint64_t writes_applied;   /* acknowledged and applied */
    uint64_t writes_stale;     /* acknowledged, skipped by a guard (replays) */
    uint64_t commits_ok, commits_failed;
    uint64_t reconnects;       /* successful connects after the first */
    uint64_t script_reloads;   /* NOSCRIPT answered and scripts loaded again */
} sr_redis_sink_stats_t;

void sr_redis_sink_stats(const sr_redis_sink_t *sink, sr_redis_sink_stats_t *out);

#endif
