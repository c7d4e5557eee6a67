/* streamrec pipeline, partitions (engine thread): where each input
 * partition's state stands, and what moves on a rebalance -- the changelog
 * export on revoke and the restore on assign (state.handoff). */
#include "pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/intern.h"

#define RESTORE_TIMEOUT_MS 120000 /* reading a changelog partition to its end */

/* ---- partition handoff ---------------------------------------------------
 *
 * User state is keyed by user and so by input partition (producers key the
 * input by user id; input topics must be co-partitioned, as for a Kafka
 * Streams join). When a partition is revoked, the state of its users is
 * written to the same-numbered partition of the changelog topic, keyed by
 * user id, followed by a position record: the input offset that state
 * covers. Once Kafka has all of it, those users are forgotten here. The
 * partition's next owner reads the changelog partition to its end before
 * it reads any input of the partition (later records of a key replace
 * earlier ones, so a compacted topic is enough) and starts the input at the
 * last position record -- not at the committed offset, which a commit that
 * failed during the rebalance may have left behind, and which could then
 * make the new owner count some events twice. So a rebalance neither loses
 * nor duplicates any user's state. Item state (factors, neighbour lists)
 * is not moved: every instance keeps its own replica. */

/* Position records are keyed by a NUL byte and the input topic: no user id
 * contains a NUL byte (the engine refuses such ids), so no user can collide. */
static const char position_key[] = "\0position:";
#define POSITION_KEY_LEN (sizeof position_key - 1)

/* ---- input positions: the next offset the state covers, per partition -- */

static position_t *find_in(position_t *list, size_t n, const char *topic, size_t topic_len,
                           int32_t partition) {
    for (size_t k = 0; k < n; k++)
        if (list[k].partition == partition && strlen(list[k].topic) == topic_len &&
            memcmp(list[k].topic, topic, topic_len) == 0)
            return &list[k];
    return NULL;
}

position_t *pl_find_position(sr_pipeline_t *p, const char *topic, int32_t partition) {
    return find_in(p->positions, p->n_positions, topic, strlen(topic), partition);
}

sr_err_t pl_set_position(sr_pipeline_t *p, const char *topic, int32_t partition,
                         int64_t next) {
    position_t *pos = pl_find_position(p, topic, partition);
    if (!pos) {
        position_t *grown = realloc(p->positions, (p->n_positions + 1) * sizeof *grown);
        if (!grown)
            return SR_ERR_NOMEM;
        p->positions = grown;
        pos = &p->positions[p->n_positions];
        if (!(pos->topic = strdup(topic)))
            return SR_ERR_NOMEM;
        pos->partition = partition;
        p->n_positions++;
    }
    pos->next = next;
    return SR_OK;
}

static void drop_from(position_t *list, size_t *n, const char *topic, int32_t partition) {
    position_t *pos = find_in(list, *n, topic, strlen(topic), partition);
    if (!pos)
        return;
    free(pos->topic);
    *pos = list[--*n];
}

static void drop_position(sr_pipeline_t *p, const char *topic, int32_t partition) {
    drop_from(p->positions, &p->n_positions, topic, partition);
}

/* ---- replays (pipeline_internal.h) --------------------------------------- */

int64_t pl_live_from(sr_pipeline_t *p, const char *topic, int32_t partition) {
    position_t *known = find_in(p->live, p->n_live, topic, strlen(topic), partition);
    if (known)
        return known->next;
    int64_t low, high;
    if (rd_kafka_get_watermark_offsets(sr_kafka_in_handle(p->in), topic, partition, &low,
                                       &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0)
        return INT64_MAX;
    position_t *grown = realloc(p->live, (p->n_live + 1) * sizeof *grown);
    if (!grown)
        return INT64_MAX; /* asked again at the next batch */
    p->live = grown;
    if (!(grown[p->n_live].topic = strdup(topic)))
        return INT64_MAX;
    grown[p->n_live].partition = partition;
    grown[p->n_live].next = high;
    p->n_live++;
    return high;
}

/* A partition given up or (re)assigned may be processed elsewhere in
 * between: its live_from is taken afresh. */
static void forget_live_from(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts) {
    for (int k = 0; k < parts->cnt; k++)
        drop_from(p->live, &p->n_live, parts->elems[k].topic, parts->elems[k].partition);
}

/* ---- rebalances ---------------------------------------------------------- */

/* Which input partition a user's events come from: the partition whose
 * handoff carries the user's state (see "partition handoff" above). */
sr_err_t pl_note_user_partition(sr_pipeline_t *p, const sr_event_t *ev, int32_t partition) {
    uint32_t u = sr_engine_find_user(p->engine, ev->user_id.ptr, ev->user_id.len);
    if (u == SR_INTERN_NONE)
        return SR_OK;
    if (u >= p->user_partition_cap) {
        size_t cap = p->user_partition_cap ? p->user_partition_cap : 4096;
        while (cap <= u) cap *= 2;
        int32_t *up = realloc(p->user_partition, cap * sizeof *up);
        if (!up)
            return SR_ERR_NOMEM;
        for (size_t k = p->user_partition_cap; k < cap; k++) up[k] = -1;
        p->user_partition = up;
        p->user_partition_cap = cap;
    }
    p->user_partition[u] = partition;
    return SR_OK;
}

/* Gives user u up here (its state lives on at another instance, or in the
 * changelog): the engine releases its dense id for the next new user, so
 * what the pipeline keeps by dense id goes too. */
static void forget_user(sr_pipeline_t *p, uint32_t u) {
    sr_engine_forget_user(p->engine, u);
    sr_recall_forget(p->recall, u);
    if (u < p->user_partition_cap)
        p->user_partition[u] = -1;
}

static bool in_list(const rd_kafka_topic_partition_list_t *parts, int32_t partition) {
    for (int k = 0; k < parts->cnt; k++)
        if (parts->elems[k].partition == partition)
            return true;
    return false;
}

/* Queues the revoked partitions' users and positions; false on a produce error. */
static bool write_handoff(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts,
                          size_t slots, batch_t *h, uint64_t *n_users) {
    char errstr[256];
    for (uint32_t u = 0; u < slots; u++) {
        int32_t part = p->user_partition[u];
        if (part < 0 || !in_list(parts, part))
            continue;
        size_t len = sr_engine_export_user(p->engine, u, p->user_state,
                                           sr_engine_user_state_max(p->engine));
        if (len == 0)
            continue;
        const char *id = sr_engine_user_id(p->engine, u);
        atomic_fetch_add(&h->pending_kafka, 1);
        if (sr_kafka_out_produce(p->out, p->changelog_topic, part, id, strlen(id), p->user_state,
                                 len, NULL, h, errstr, sizeof errstr) != SR_OK)
            goto fail;
        (*n_users)++;
    }
    for (int k = 0; k < parts->cnt; k++) {
        const position_t *pos =
            pl_find_position(p, parts->elems[k].topic, parts->elems[k].partition);
        if (!pos)
            continue; /* nothing read here: the last position record still holds */
        char key[POSITION_KEY_LEN + 256], value[24];
        size_t topic_len = strlen(pos->topic);
        if (topic_len >= 256)
            continue;
        memcpy(key, position_key, POSITION_KEY_LEN);
        memcpy(key + POSITION_KEY_LEN, pos->topic, topic_len);
        int n = snprintf(value, sizeof value, "%lld", (long long)pos->next);
        atomic_fetch_add(&h->pending_kafka, 1);
        if (sr_kafka_out_produce(p->out, p->changelog_topic, pos->partition, key,
                                 POSITION_KEY_LEN + topic_len, value, (size_t)n, NULL, h, errstr,
                                 sizeof errstr) != SR_OK)
            goto fail;
    }
    return true;
fail:
    atomic_fetch_sub(&h->pending_kafka, 1);
    pl_fail(p, "handing users over: cannot write to state.changelog.topic: %s", errstr);
    return false;
}

static void hand_off(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts) {
    size_t slots = sr_engine_user_slots(p->engine);
    if (slots > p->user_partition_cap)
        slots = p->user_partition_cap;
    uint64_t n = 0;
    if (rd_kafka_assignment_lost(sr_kafka_in_handle(p->in))) {
        sr_log(SR_LOG_WARN, &SR_LOG_CTX("pipeline"),
               "partition assignment lost: the state of its users is dropped here; their new "
               "owner restores it from the changelog");
    } else {
        batch_t *h = pl_batch_new();
        if (!h) {
            pl_fail(p, "%s", "out of memory handing users over");
            return;
        }
        write_handoff(p, parts, slots, h, &n);
        while (atomic_load(&h->pending_kafka) > 0) sr_kafka_out_poll(p->out, 10);
        bool written = !atomic_load(&h->kafka_failed) && !atomic_load(&p->failed);
        pl_batch_free(h);
        if (!written)
            return; /* keep the users: the pipeline stops with the reason */
    }
    for (uint32_t u = 0; u < slots; u++)
        if (p->user_partition[u] >= 0 && in_list(parts, p->user_partition[u])) {
            forget_user(p, u);
        }
    for (int k = 0; k < parts->cnt; k++)
        drop_position(p, parts->elems[k].topic, parts->elems[k].partition);
    atomic_fetch_add(&p->users_handed_off, n);
}

/* Restoring reads the changelog partitions twice: first only their position
 * records, to decide for each partition whether the changelog or this
 * instance's own checkpoint has the newer state, then -- for the partitions
 * the changelog wins -- its user records. */
typedef struct restoring {
    sr_pipeline_t *p;
    bool importing;
    position_t *found; /* pass 1: the last position record per input partition */
    size_t n_found;
} restoring_t;


static void note_position_record(restoring_t *r, const rd_kafka_message_t *m) {
    char value[24];
    size_t topic_len = m->key_len - POSITION_KEY_LEN;
    const char *topic = (const char *)m->key + POSITION_KEY_LEN;
    if (!m->payload || m->len == 0 || m->len >= sizeof value)
        return;
    memcpy(value, m->payload, m->len);
    value[m->len] = '\0';
    char *end;
    long long next = strtoll(value, &end, 10);
    if (*end != '\0' || next < 0)
        return;
    position_t *pos = find_in(r->found, r->n_found, topic, topic_len, m->partition);
    if (!pos) {
        position_t *grown = realloc(r->found, (r->n_found + 1) * sizeof *grown);
        char *name = strndup(topic, topic_len);
        if (!grown || !name) {
            free(name);
            if (grown)
                r->found = grown;
            pl_fail(r->p, "%s", "out of memory restoring users");
            return;
        }
        r->found = grown;
        pos = &r->found[r->n_found++];
        pos->topic = name;
        pos->partition = m->partition;
    }
    pos->next = next;
}

static void on_changelog_record(void *opaque, const rd_kafka_message_t *m) {
    restoring_t *r = opaque;
    sr_pipeline_t *p = r->p;
    char errstr[256];
    if (!m->key || m->key_len == 0)
        return;
    if (m->key_len >= POSITION_KEY_LEN && memcmp(m->key, position_key, POSITION_KEY_LEN) == 0) {
        if (!r->importing)
            note_position_record(r, m);
        return;
    }
    if (!r->importing)
        return;
    uint32_t u;
    if (!m->payload) { /* a tombstone: the user has no state any more */
        if ((u = sr_engine_find_user(p->engine, m->key, m->key_len)) != SR_INTERN_NONE)
            forget_user(p, u);
        return;
    }
    bool known = sr_engine_find_user(p->engine, m->key, m->key_len) != SR_INTERN_NONE;
    if (sr_engine_import_user(p->engine, m->key, m->key_len, m->payload, m->len, errstr,
                              sizeof errstr) != SR_OK) {
        sr_log_ctx_t ctx = {.component = "pipeline", .topic = p->changelog_topic,
                            .partition = m->partition, .offset = m->offset, .error = errstr};
        sr_log(SR_LOG_WARN, &ctx, "user state skipped");
        return;
    }
    /* a dense id freed by an eviction or a forget may hold another user's
     * list in the sampler: this user was shown nothing here yet */
    if (!known && (u = sr_engine_find_user(p->engine, m->key, m->key_len)) != SR_INTERN_NONE)
        sr_recall_forget(p->recall, u);
    sr_event_t who = {.user_id = {m->key, m->key_len}};
    if (pl_note_user_partition(p, &who, m->partition) != SR_OK)
        pl_fail(p, "%s", "out of memory restoring users");
    atomic_fetch_add(&p->users_restored, 1);
}

void pl_free_positions(position_t *list, size_t n) {
    for (size_t k = 0; k < n; k++) free(list[k].topic);
    free(list);
}

/* Forgets the users whose events came from input partition `partition`. */
static void forget_partition(sr_pipeline_t *p, int32_t partition) {
    size_t slots = sr_engine_user_slots(p->engine);
    for (uint32_t u = 0; u < slots && u < p->user_partition_cap; u++)
        if (p->user_partition[u] == partition) {
            forget_user(p, u);
        }
}

static bool read_changelog(sr_pipeline_t *p, restoring_t *r, const int32_t *partitions,
                           size_t n) {
    char errstr[384];
    const char *bootstrap = sr_config_kafka_value(p->cfg, "bootstrap.servers");
    if (!p->restore &&
        !(p->restore = sr_kafka_restore_new(bootstrap, p->consumer_props, p->n_consumer_props,
                                            errstr, sizeof errstr))) {
        pl_fail(p, "restoring users: %s", errstr);
        return false;
    }
    if (sr_kafka_restore_read(p->restore, p->changelog_topic, partitions, n, RESTORE_TIMEOUT_MS,
                              on_changelog_record, r, NULL, errstr, sizeof errstr) != SR_OK) {
        char why[900];
        snprintf(why, sizeof why,
                 "%s: create state.changelog.topic with as many partitions as the input topics "
                 "(cleanup.policy=compact), or set state.handoff=false",
                 errstr);
        pl_fail(p, "restoring users from %s", why);
        return false;
    }
    return true;
}

/* Sets where each assigned partition starts and restores the users the
 * changelog has newer state for: a partition starts at the newer of its
 * last position record in the changelog (its users then come from there)
 * and the position in this instance's checkpoint (its users are already
 * here); with neither, at the committed offset. */
static void restore_users(sr_pipeline_t *p, rd_kafka_topic_partition_list_t *parts) {
    int32_t *wanted = calloc((size_t)parts->cnt + 1, sizeof *wanted);
    int32_t *take = calloc((size_t)parts->cnt + 1, sizeof *take);
    size_t n_wanted = 0, n_take = 0;
    restoring_t r = {.p = p};
    if (!wanted || !take) {
        pl_fail(p, "%s", "out of memory restoring users");
        goto done;
    }
    for (int k = 0; k < parts->cnt; k++) {
        bool seen = false;
        for (size_t j = 0; j < n_wanted; j++) seen |= wanted[j] == parts->elems[k].partition;
        if (!seen)
            wanted[n_wanted++] = parts->elems[k].partition;
    }
    if (p->handoff && !read_changelog(p, &r, wanted, n_wanted))
        goto done;
    for (int k = 0; k < parts->cnt; k++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[k];
        size_t topic_len = strlen(tp->topic);
        position_t *cl = find_in(r.found, r.n_found, tp->topic, topic_len, tp->partition);
        position_t *ck = find_in(p->ck_positions, p->n_ck_positions, tp->topic, topic_len,
                                 tp->partition);
        if (cl && (!ck || cl->next > ck->next)) {
            tp->offset = cl->next;
            bool listed = false;
            for (size_t j = 0; j < n_take; j++) listed |= take[j] == tp->partition;
            if (!listed)
                take[n_take++] = tp->partition;
        } else if (ck) {
            tp->offset = ck->next;
        }
        if (ck) { /* used up: a later assignment of it is a handoff */
            free(ck->topic);
            *ck = p->ck_positions[--p->n_ck_positions];
        }
        /* a handoff of it before any batch must say where its state stands */
        if (tp->offset >= 0 && pl_set_position(p, tp->topic, tp->partition, tp->offset) != SR_OK) {
            pl_fail(p, "%s", "out of memory tracking input positions");
            goto done;
        }
    }
    for (size_t j = 0; j < n_take; j++) forget_partition(p, take[j]);
    r.importing = true;
    if (n_take > 0)
        read_changelog(p, &r, take, n_take);
done:
    pl_free_positions(r.found, r.n_found);
    free(wanted);
    free(take);
}

/* After a restart from a checkpoint, the first assignment says which
 * partitions are still this instance's: the users of the others moved on
 * with their partitions, and are forgotten here. */
static void forget_unassigned(sr_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts) {
    p->ck_first_assignment = false;
    size_t slots = sr_engine_user_slots(p->engine);
    for (uint32_t u = 0; u < slots && u < p->user_partition_cap; u++)
        if (p->user_partition[u] >= 0 && !in_list(parts, p->user_partition[u])) {
            forget_user(p, u);
        }
    for (size_t k = 0; k < p->n_ck_positions;)
        if (!in_list(parts, p->ck_positions[k].partition)) {
            free(p->ck_positions[k].topic);
            p->ck_positions[k] = p->ck_positions[--p->n_ck_positions];
        } else {
            k++;
        }
}

/* "clicks [0,1,3]"-style list of a rebalance's partitions, for its log line. */
static void describe_parts(const rd_kafka_topic_partition_list_t *parts, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < parts->cnt && len + 1 < size; k++) {
        bool new_topic = k == 0 || strcmp(parts->elems[k].topic, parts->elems[k - 1].topic) != 0;
        int n = snprintf(out + len, size - len, "%s%s%s%d", k == 0 ? "" : new_topic ? "] " : ",",
                         new_topic ? parts->elems[k].topic : "", new_topic ? " [" : "",
                         (int)parts->elems[k].partition);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    if (parts->cnt > 0 && len + 1 < size)
        snprintf(out + len, size - len, "]");
}

void pl_on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts) {
    sr_pipeline_t *p = opaque;
    char which[512];
    describe_parts(parts, which, sizeof which);
    if (parts->cnt > 0)
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "partitions revoked: %s", which);
    atomic_fetch_add(&p->metrics.revokes, 1);
    bool lost = rd_kafka_assignment_lost(sr_kafka_in_handle(p->in));
    /* Lost: another member may own the partitions and have written newer
     * lists already, so what still drains goes under the guard. */
    atomic_store(&p->assignment_lost, lost);
    pl_drain(p); /* the revoked partitions' offsets must be stored before they go */
    atomic_store(&p->assignment_lost, 0);
    forget_live_from(p, parts);
    if (p->ckpt_on && lost && !atomic_load(&p->failed)) {
        /* A session that ran out loses every partition, and the whole state
         * goes back with them. Only some lost (a topic deleted or no longer
         * readable) would leave the others' events since the checkpoint
         * missing from the state: a restart, from the checkpoint, is exact. */
        if (parts->cnt == atomic_load(&p->partitions))
            pl_roll_back(p);
        else
            pl_fail(p, "%s",
                    "the group took some of the input partitions away (a topic deleted or no "
                    "longer readable?): stopping, so that a restart goes on from the newest "
                    "checkpoint");
    } else if (p->handoff && !atomic_load(&p->failed)) {
        hand_off(p, parts);
    }
    atomic_fetch_sub(&p->partitions, parts->cnt);
    for (int k = 0; k < parts->cnt; k++)
        sr_input_watermark_revoke(p->input_watermark, parts->elems[k].topic,
                                  parts->elems[k].partition);
    pl_publish_engine_counts(p); /* the users handed off, before any batch */
    pthread_mutex_lock(&p->lag_lock);
    for (int k = 0; k < parts->cnt; k++) {
        lag_entry_t *e = pl_find_lag(p, parts->elems[k].topic, parts->elems[k].partition);
        if (e)
            *e = p->lag[--p->n_lag];
    }
    pthread_mutex_unlock(&p->lag_lock);
}

/* Before the partitions are assigned: their users are restored, and each
 * starts where its restored state ends. */
void pl_on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts) {
    sr_pipeline_t *p = opaque;
    char which[512];
    describe_parts(parts, which, sizeof which);
    if (parts->cnt > 0)
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "partitions assigned: %s", which);
    atomic_fetch_add(&p->metrics.assigns, 1);
    forget_live_from(p, parts);
    uint64_t restored = atomic_load(&p->users_restored);
    if (p->ck_first_assignment)
        forget_unassigned(p, parts);
    if ((p->handoff || p->n_ck_positions > 0) && !atomic_load(&p->failed))
        restore_users(p, parts);
    if (parts->cnt > 0)
        p->assignments++;
    if (atomic_load(&p->users_restored) > restored)
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("pipeline"), "restored %llu users from %s",
               (unsigned long long)(atomic_load(&p->users_restored) - restored),
               p->changelog_topic);
    pthread_mutex_lock(&p->lag_lock);
    for (int k = 0; k < parts->cnt; k++)
        pl_add_lag(p, parts->elems[k].topic, parts->elems[k].partition);
    pthread_mutex_unlock(&p->lag_lock);
    for (int k = 0; k < parts->cnt; k++)
        if (sr_input_watermark_assign(p->input_watermark, parts->elems[k].topic,
                                      parts->elems[k].partition) != SR_OK)
            pl_fail(p, "%s", "out of memory tracking the input partitions' event time");
    pl_publish_engine_counts(p); /* the users restored, before any batch */
    atomic_fetch_add(&p->partitions, parts->cnt);
}

