#include "streamrec/kafka_in.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* librdkafka before 2.3.0 aborts in rd_kafka_destroy() when a
 * (cooperative-)sticky member got a JoinGroup answer but never a successful
 * SyncGroup (assignor state still NULL: librdkafka issue #4312, fixed by PR
 * #4381). A SyncGroup refused with REBALANCE_IN_PROGRESS -- another member
 * joining, the everyday case in a rolling deploy -- followed by a shutdown
 * is enough; test_kafka_in_close_between_join_and_first_sync_does_not_abort
 * reproduces it with 2.0.2. */
#define FIXED_ASSIGNOR_STATE_VERSION 0x020300ff

struct sr_kafka_in {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* the consumer queue, which the main queue is forwarded to */
    sr_kafka_in_assign_fn *on_assign;
    sr_kafka_in_rebalance_fn *on_revoke;
    sr_kafka_log_fn *on_log;
    sr_kafka_stats_fn *on_stats;
    void *opaque;
    bool paused; /* what the app asked for; applied to every new assignment */
    /* Records that reached us for a partition while paused (see
     * hold_back()), in arrival order; handed out after the resume. */
    rd_kafka_message_t **held;
    size_t n_held, held_capacity;
    bool closed;
    bool synced;             /* a SyncGroup succeeded: the first assign event ran */
    bool sticky_assignor;    /* subject to issue #4312, see above */
    bool unsafe_to_destroy;  /* closed while joined but never synced: leak, don't abort */
    int session_timeout_ms;
    rd_kafka_resp_err_t last_commit_err; /* of the latest commit result seen */
    uint64_t commit_results;             /* commit results seen, failed or not */
    _Atomic bool silenced;   /* set before a handle is deliberately leaked */
    _Atomic uint64_t stale_stores;
    _Atomic uint64_t commit_failures;
};

/* Order matters only in that the caller's properties come after these. */
static const sr_kafka_kv_t consumer_defaults[] = {
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"enable.auto.offset.store", "false"},
    {"enable.auto.commit", "true"},
    {"auto.commit.interval.ms", "1000"},
    {"auto.offset.reset", "earliest"},
    {"fetch.wait.max.ms", "5"},
    /* librdkafka stops fetching a partition once this many of its records
     * wait in the local queue. At 100,000 (its default) the engine waited
     * on empty polls half the time while millions of records sat in the
     * broker: a backlog of 2M was worked off at 123k events/s, and 300k
     * offered came in at ~110k. At 1,000,000 the same backlog goes at 322k
     * and 155-172k of the 300k come in. Memory stays bounded by
     * queued.max.messages.kbytes (64 MiB for the whole consumer). */
    {"queued.min.messages", "1000000"},
    {"fetch.error.backoff.ms", "10"},
    {"enable.partition.eof", "false"},
};

static void emit(sr_kafka_in_t *in, int level, rd_kafka_resp_err_t err, const char *facility,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit(sr_kafka_in_t *in, int level, rd_kafka_resp_err_t err, const char *facility,
                 const char *fmt, ...) {
    char message[512];
    va_list ap;
    if (!in->on_log || atomic_load(&in->silenced))
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    in->on_log(in->opaque, level, err, facility, message);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
    sr_kafka_in_t *in = rd_kafka_opaque(rk);
    if (!atomic_load(&in->silenced))
        in->on_log(in->opaque, level, RD_KAFKA_RESP_ERR_NO_ERROR, facility, message);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
    sr_kafka_in_t *in = opaque;
    (void)rk;
    in->on_stats(in->opaque, json, json_len);
    return 0; /* librdkafka frees json */
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    sr_kafka_in_t *in = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal_reason[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal_reason, sizeof fatal_reason);
        emit(in, 2, orig, "FATAL", "%s: %s", rd_kafka_err2name(orig), fatal_reason);
        return;
    }
    emit(in, 3, (rd_kafka_resp_err_t)err, "ERROR", "%s: %s",
         rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Commit results (auto-commit, revoke, close, commit_sync) arrive on the
 * poll thread. librdkafka logs failures itself (COMMITFAIL); we count them
 * and keep the last code so close can say whether its final commit landed. */
static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    sr_kafka_in_t *in = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return; /* nothing was stored since the last commit */
    if (!err && offsets)
        for (int i = 0; i < offsets->cnt && !err; i++) err = offsets->elems[i].err;
    in->last_commit_err = err;
    in->commit_results++;
    if (err)
        atomic_fetch_add_explicit(&in->commit_failures, 1, memory_order_relaxed);
}

static void apply_pause(sr_kafka_in_t *in, rd_kafka_topic_partition_list_t *parts,
                        const char *which) {
    rd_kafka_resp_err_t err = rd_kafka_pause_partitions(in->rk, parts);
    if (err)
        emit(in, 3, err, "PAUSE", "could not pause %d %s partition(s): %s", parts->cnt, which,
             rd_kafka_err2str(err));
}

static bool in_list(const rd_kafka_topic_partition_list_t *parts, const rd_kafka_message_t *msg) {
    return rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(msg->rkt),
                                              msg->partition) != NULL;
}

/* Held records of partitions that are going away were never handed out,
 * so their offsets were never stored: the next owner reads them again. */
static void drop_held(sr_kafka_in_t *in, const rd_kafka_topic_partition_list_t *parts) {
    size_t kept = 0;
    for (size_t i = 0; i < in->n_held; i++) {
        if (!parts || in_list(parts, in->held[i]))
            rd_kafka_message_destroy(in->held[i]);
        else
            in->held[kept++] = in->held[i];
    }
    in->n_held = kept;
}

static bool push_held(sr_kafka_in_t *in, rd_kafka_message_t *msg) {
    if (in->n_held == in->held_capacity) {
        size_t capacity = in->held_capacity ? in->held_capacity * 2 : 64;
        rd_kafka_message_t **grown = realloc(in->held, capacity * sizeof *grown);
        if (!grown)
            return false;
        in->held = grown;
        in->held_capacity = capacity;
    }
    in->held[in->n_held++] = msg;
    return true;
}

/* The pause is not airtight in librdkafka 2.0.2: a pause issued right after
 * an (incremental) assign can lose the race with the partition's fetch
 * start, and the partition then fetches as if never paused (seen ~1 run in
 * 8 under valgrind). So records of paused partitions that still arrive are
 * held here -- librdkafka already counts them as handed out, its next fetch
 * starts after them -- and the partition is paused again, which works now
 * that it is fetching. Only error records go out while paused. */
static size_t hold_back(sr_kafka_in_t *in, rd_kafka_message_t **msgs, size_t n) {
    rd_kafka_topic_partition_list_t *repause = NULL;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *msg = msgs[i];
        if (msg->err || !push_held(in, msg)) {
            msgs[out++] = msg; /* out of memory: late beats lost */
            continue;
        }
        if (!repause)
            repause = rd_kafka_topic_partition_list_new(4);
        if (!in_list(repause, msg))
            rd_kafka_topic_partition_list_add(repause, rd_kafka_topic_name(msg->rkt),
                                              msg->partition);
    }
    if (repause) {
        emit(in, 7, RD_KAFKA_RESP_ERR_NO_ERROR, "PAUSE",
             "%d partition(s) fetched while paused; %zu record(s) held, pausing again",
             repause->cnt, in->n_held);
        apply_pause(in, repause, "still fetching");
        rd_kafka_topic_partition_list_destroy(repause);
    }
    return out;
}

static size_t release_held(sr_kafka_in_t *in, rd_kafka_message_t **msgs, size_t max) {
    size_t n = in->n_held < max ? in->n_held : max;
    memcpy(msgs, in->held, n * sizeof *msgs);
    memmove(in->held, in->held + n, (in->n_held - n) * sizeof *in->held);
    in->n_held -= n;
    return n;
}

/* Runs on the poll thread, inside rd_kafka_consume_batch_queue() or
 * rd_kafka_consumer_close(). */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    sr_kafka_in_t *in = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t assign_err = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        in->synced = true;
        /* Before the assign: the app may choose where each partition starts. */
        if (in->on_assign)
            in->on_assign(in->opaque, parts);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            assign_err = rd_kafka_assign(rk, parts);
        /* Pausing before the assign would be a no-op on partitions we do
         * not own yet; right after it, usually nothing has been fetched
         * (hold_back() covers the times something has). */
        if (in->paused && parts->cnt > 0)
            apply_pause(in, parts, "newly assigned");
        emit(in, 6, RD_KAFKA_RESP_ERR_NO_ERROR, "REBALANCE", "%s assign of %d partition(s)%s",
             cooperative ? "incremental" : "eager", parts->cnt, in->paused ? " (paused)" : "");
        break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        /* Before the unassign: offsets stored in on_revoke are committed
         * by the unassign (auto-commit), after it they would be refused. */
        emit(in, 6, RD_KAFKA_RESP_ERR_NO_ERROR, "REBALANCE", "%s revoke of %d partition(s)%s",
             cooperative ? "incremental" : "eager", parts->cnt,
             rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
        drop_held(in, cooperative ? parts : NULL);
        if (in->on_revoke)
            in->on_revoke(in->opaque, parts);
        /* Commit what on_revoke stored now, synchronously: the auto-commit
         * inside the unassign is asynchronous, and the partitions' next owner
         * could read the old committed offsets first and process records
         * twice (test_kafka_cooperative_rebalance_... saw 402 of 400). */
        if (!rd_kafka_assignment_lost(rk)) {
            rd_kafka_resp_err_t commit_err = rd_kafka_commit(rk, NULL, 0 /* sync */);
            if (commit_err && commit_err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                emit(in, 4, commit_err, "REBALANCE", "commit before revoke failed: %s",
                     rd_kafka_err2str(commit_err));
        }
        /* librdkafka keeps a partition's pause across unassign and assign:
         * given back to us later while we are not paused, it would never
         * fetch again (test_kafka_cooperative_rebalance_... pins this). */
        if (in->paused && parts->cnt > 0) {
            rd_kafka_resp_err_t resume_err = rd_kafka_resume_partitions(rk, parts);
            if (resume_err)
                emit(in, 3, resume_err, "PAUSE", "could not clear the pause of %d revoked "
                     "partition(s): %s", parts->cnt, rd_kafka_err2str(resume_err));
        }
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            assign_err = rd_kafka_assign(rk, NULL);
        break;

    default:
        /* librdkafka's documented recovery for a failed rebalance: drop the
         * whole assignment and let the group hand it out again. */
        emit(in, 3, err, "REBALANCE", "rebalance failed: %s; dropping the assignment",
             rd_kafka_err2str(err));
        drop_held(in, NULL);
        if (in->on_revoke) {
            rd_kafka_topic_partition_list_t *current = NULL;
            if (!rd_kafka_assignment(rk, &current) && current->cnt > 0)
                in->on_revoke(in->opaque, current);
            if (current)
                rd_kafka_topic_partition_list_destroy(current);
        }
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            assign_err = rd_kafka_assign(rk, NULL);
        break;
    }

    if (error) {
        emit(in, 3, rd_kafka_error_code(error), "REBALANCE", "incremental (un)assign failed: %s",
             rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (assign_err) {
        emit(in, 3, assign_err, "REBALANCE", "assign failed: %s", rd_kafka_err2str(assign_err));
    }
}

sr_kafka_in_t *sr_kafka_in_new(const sr_kafka_in_config_t *cfg, char *errstr, size_t errstr_size) {
    sr_kafka_in_t *in = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subscription = NULL;
    char rd_errstr[512];

    if (!cfg || !cfg->bootstrap || !*cfg->bootstrap || !cfg->group_id || !*cfg->group_id) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "kafka consumer: bootstrap servers and group id are required");
        return NULL;
    }
    if (!cfg->topics || cfg->n_topics == 0) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "kafka consumer: no input topic");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_topics; i++) {
        if (!cfg->topics[i] || !*cfg->topics[i]) {
            sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                      "kafka consumer: input topic %zu is empty", i);
            return NULL;
        }
    }
    if (!(in = calloc(1, sizeof *in))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "kafka consumer: out of memory");
        return NULL;
    }
    in->on_assign = cfg->on_assign;
    in->on_revoke = cfg->on_revoke;
    in->on_log = cfg->on_log;
    in->on_stats = cfg->on_stats;
    in->opaque = cfg->opaque;
    atomic_init(&in->stale_stores, 0);

    const sr_kafka_kv_t fixed[] = {{"bootstrap.servers", cfg->bootstrap},
                                   {"group.id", cfg->group_id}};
    int stats_ms = cfg->on_stats ? (cfg->stats_interval_ms > 0 ? cfg->stats_interval_ms : 1000) : 0;
    if (!(conf = sr_kafka_conf_build("consumer", fixed, 2, consumer_defaults,
                                     sizeof consumer_defaults / sizeof *consumer_defaults,
                                     stats_ms, cfg->props, cfg->n_props, errstr, errstr_size)))
        goto fail;
    if (cfg->on_stats)
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    {
        /* Read back the effective values: the caller may have overridden
         * them, and they decide how close works around issue #4312. */
        char value[256];
        size_t size = sizeof value;
        in->sticky_assignor =
            rd_kafka_conf_get(conf, "partition.assignment.strategy", value, &size) ==
                RD_KAFKA_CONF_OK &&
            strstr(value, "sticky") != NULL;
        size = sizeof value;
        in->session_timeout_ms = 45000;
        if (rd_kafka_conf_get(conf, "session.timeout.ms", value, &size) == RD_KAFKA_CONF_OK)
            in->session_timeout_ms = atoi(value);
    }
    rd_kafka_conf_set_opaque(conf, in);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    if (in->on_log) {
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
    }

    if (!(in->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rd_errstr, sizeof rd_errstr))) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka consumer: %s", rd_errstr);
        goto fail;
    }
    conf = NULL; /* owned by in->rk now */

    /* One queue for records, rebalances and errors: the batch consume then
     * serves the callbacks in order with the records, on the poll thread. */
    rd_kafka_poll_set_consumer(in->rk);
    in->queue = rd_kafka_queue_get_consumer(in->rk);

    subscription = rd_kafka_topic_partition_list_new((int)cfg->n_topics);
    for (size_t i = 0; i < cfg->n_topics; i++)
        rd_kafka_topic_partition_list_add(subscription, cfg->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(in->rk, subscription);
    rd_kafka_topic_partition_list_destroy(subscription);
    if (err) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "kafka consumer: subscribe: %s",
                  rd_kafka_err2str(err));
        goto fail;
    }
    return in;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    /* Never subscribed or joined: skip the close, it has nothing to do. */
    if (in)
        in->closed = true;
    sr_kafka_in_destroy(in);
    return NULL;
}

void sr_kafka_in_destroy(sr_kafka_in_t *in) {
    if (!in)
        return;
    if (in->rk && !in->closed)
        sr_kafka_in_close(in, NULL, 0);
    if (in->unsafe_to_destroy) {
        /* rd_kafka_destroy() would abort the process (issue #4312). The
         * member has left the group and committed what it could; leaking
         * the idle handle until exit is the lesser harm. Its threads may
         * still log, so the app's callback is cut off first (the app may
         * free what its opaque points to). */
        emit(in, 3, RD_KAFKA_RESP_ERR__STATE, "DESTROY",
             "consumer closed between joining the group and its first assignment; librdkafka "
             "%s would abort in rd_kafka_destroy() (issue #4312, fixed in 2.3.0), so the "
             "handle is left to process exit",
             rd_kafka_version_str());
        atomic_store(&in->silenced, true);
        return;
    }
    drop_held(in, NULL); /* records hold references into the handle */
    free(in->held);
    if (in->queue)
        rd_kafka_queue_destroy(in->queue);
    if (in->rk)
        rd_kafka_destroy(in->rk);
    free(in);
}

size_t sr_kafka_in_poll(sr_kafka_in_t *in, rd_kafka_message_t **msgs, size_t max, int timeout_ms) {
    if (in->closed || max == 0)
        return 0;
    if (!in->paused && in->n_held > 0)
        return release_held(in, msgs, max); /* older than anything librdkafka has */
    ssize_t got = rd_kafka_consume_batch_queue(in->queue, timeout_ms, msgs, max);
    /* Negative only for bad arguments, which we never pass. */
    size_t n = got > 0 ? (size_t)got : 0;
    return in->paused ? hold_back(in, msgs, n) : n;
}

sr_err_t sr_kafka_in_store(sr_kafka_in_t *in, const char *topic, int32_t partition,
                           int64_t next_offset) {
    if (!topic || next_offset < 0 || partition < 0)
        return SR_ERR_INVALID;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(in->rk, offsets);
    /* The per-partition code is the precise one; the return value only
     * says whether any of the list was stored. */
    rd_kafka_resp_err_t part_err = offsets->elems[0].err;
    rd_kafka_topic_partition_list_destroy(offsets);

    if (part_err == RD_KAFKA_RESP_ERR__STATE) {
        /* Not assigned (any more): librdkafka refuses since 1.9. */
        atomic_fetch_add_explicit(&in->stale_stores, 1, memory_order_relaxed);
        return SR_OK;
    }
    return err || part_err ? SR_ERR_IO : SR_OK;
}

uint64_t sr_kafka_in_stale_stores(const sr_kafka_in_t *in) {
    return atomic_load_explicit(&in->stale_stores, memory_order_relaxed);
}

static sr_err_t set_paused(sr_kafka_in_t *in, bool paused) {
    rd_kafka_topic_partition_list_t *assigned = NULL;
    in->paused = paused;
    if (in->closed)
        return SR_OK;
    rd_kafka_resp_err_t err = rd_kafka_assignment(in->rk, &assigned);
    if (!err && assigned->cnt > 0)
        err = paused ? rd_kafka_pause_partitions(in->rk, assigned)
                     : rd_kafka_resume_partitions(in->rk, assigned);
    if (assigned)
        rd_kafka_topic_partition_list_destroy(assigned);
    if (err) {
        emit(in, 3, err, "PAUSE", "could not %s the assigned partitions: %s",
             paused ? "pause" : "resume", rd_kafka_err2str(err));
        return SR_ERR_IO;
    }
    return SR_OK;
}

sr_err_t sr_kafka_in_pause(sr_kafka_in_t *in) {
    return set_paused(in, true);
}

sr_err_t sr_kafka_in_resume(sr_kafka_in_t *in) {
    return set_paused(in, false);
}

int sr_kafka_in_is_paused(const sr_kafka_in_t *in) {
    return in->paused;
}

sr_err_t sr_kafka_in_commit_sync(sr_kafka_in_t *in, char *errstr, size_t errstr_size) {
    if (in->closed)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "kafka consumer: closed");
    rd_kafka_resp_err_t err = rd_kafka_commit(in->rk, NULL, 0 /* sync */);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return SR_OK; /* nothing stored since the last commit */
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka consumer: commit: %s",
                         rd_kafka_err2str(err));
    return SR_OK;
}

uint64_t sr_kafka_in_commit_failures(const sr_kafka_in_t *in) {
    return atomic_load_explicit(&in->commit_failures, memory_order_relaxed);
}

static bool has_member_id(sr_kafka_in_t *in) {
    char *member_id = rd_kafka_memberid(in->rk);
    bool joined = member_id && *member_id;
    if (member_id)
        rd_kafka_mem_free(in->rk, member_id);
    return joined;
}

/* See FIXED_ASSIGNOR_STATE_VERSION. A member id means a JoinGroup was
 * answered, so the assignor is set; until the first assign event the
 * assignor state is not. Serve the group until that event (records
 * polled meanwhile were never processed and their offsets never stored:
 * dropping them here means they are redelivered, not lost). */
static void settle_first_assignment(sr_kafka_in_t *in) {
    if (!in->sticky_assignor || in->synced || rd_kafka_version() >= FIXED_ASSIGNOR_STATE_VERSION ||
        !has_member_id(in))
        return;
    emit(in, 5, RD_KAFKA_RESP_ERR_NO_ERROR, "CLOSE",
         "waiting up to %d ms for the first assignment before closing (librdkafka issue #4312)",
         in->session_timeout_ms);
    rd_kafka_message_t *msgs[64];
    for (int waited_ms = 0; !in->synced && waited_ms < in->session_timeout_ms; waited_ms += 50) {
        size_t n = sr_kafka_in_poll(in, msgs, 64, 50);
        for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
    }
    in->unsafe_to_destroy = !in->synced && has_member_id(in);
}

sr_err_t sr_kafka_in_close(sr_kafka_in_t *in, char *errstr, size_t errstr_size) {
    if (in->closed)
        return SR_OK;
    settle_first_assignment(in);
    in->closed = true;

    /* Stored offsets are committed by the synchronous commit in the revoke
     * that close triggers (see rebalance_cb) and by close itself; their
     * results arrive through offset_commit_cb. No separate commit here:
     * with the coordinator unreachable each sync commit waits about
     * session.timeout.ms, and a shutdown during an outage should not wait
     * for that more than once. */
    uint64_t results_before = in->commit_results;
    in->last_commit_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(in->rk);
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "kafka consumer: close: %s",
                         rd_kafka_err2str(err));
    if (in->commit_results != results_before)
        err = in->last_commit_err;
    if (err)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                         "kafka consumer: close: final offset commit failed: %s; the next owner "
                         "re-reads from the previous commit",
                         rd_kafka_err2str(err));
    return SR_OK;
}

rd_kafka_t *sr_kafka_in_handle(const sr_kafka_in_t *in) {
    return in->rk;
}
