/* streamrec pipeline, checkpoints (engine thread): scheduling, drain and
 * fork, the writer child reporting through a pipe, the commit of the
 * offsets a checkpoint covers, and the restore on start. */
#include "pipeline_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- checkpoints ----------------------------------------------------------
 *
 * Every checkpoint.interval.s (and on a graceful stop) the engine's whole
 * state goes to checkpoint.dir with the input positions it covers. First
 * the pipeline drains -- the open batch is closed and every batch is
 * acknowledged by Redis and Kafka -- so the state covers exactly the
 * offsets stored, and a restart that starts at those positions neither
 * loses an output nor applies an event twice. Neighbour lists held back by
 * sim.publish.interval.ms are written with that last batch for the same
 * reason. Then the process forks: the child writes the frozen copy of the
 * state (checkpoint.h: no allocation, write(2) only) while the engine goes
 * on; the engine pauses for the drain and the fork only. The app data of a
 * checkpoint is the input partition of each user (int32 per dense user id),
 * which the partition handoff needs.
 *
 * With checkpoints, the offsets committed to Kafka are the positions of the
 * newest checkpoint in place, stored once its file is renamed -- not those
 * of every acknowledged batch. A start that finds no checkpoint position
 * for a partition reads it from the committed offset, and that must be
 * where the loaded state's knowledge of the partition ends: committing past
 * the newest checkpoint (as auto-commit after each batch did) made a daemon
 * killed before its first checkpoint restart with an empty state at an
 * offset past the events it had applied, which were then lost to the
 * model. The committed lag now trails by up to checkpoint.interval.s. For
 * the same reason a checkpoint follows every assignment even when no
 * record was read: restored users and positions change what the state
 * covers, and the restored positions get committed. */

void pl_clear_covers(sr_pipeline_t *p) {
    for (size_t k = 0; k < p->n_ckpt_covers; k++) free(p->ckpt_covers[k].topic);
    free(p->ckpt_covers);
    p->ckpt_covers = NULL;
    p->n_ckpt_covers = 0;
}

/* Keeps a copy of a forked checkpoint's positions: by the time the file is
 * in place, partitions may have moved on or been given up. */
static sr_err_t remember_covers(sr_pipeline_t *p, const sr_checkpoint_meta_t *meta) {
    pl_clear_covers(p);
    if (meta->n_positions == 0)
        return SR_OK;
    if (!(p->ckpt_covers = calloc(meta->n_positions, sizeof *p->ckpt_covers)))
        return SR_ERR_NOMEM;
    for (size_t k = 0; k < meta->n_positions; k++, p->n_ckpt_covers++) {
        position_t *c = &p->ckpt_covers[k];
        if (!(c->topic = strdup(meta->positions[k].topic)))
            return SR_ERR_NOMEM;
        c->partition = meta->positions[k].partition;
        c->next = meta->positions[k].next_offset;
    }
    return SR_OK;
}

/* A checkpoint is in place: its positions become the next commit. A
 * partition given up meanwhile is skipped by kafka_in (a stale store). */
static void store_covered(sr_pipeline_t *p, const char *topic, int32_t partition, int64_t next) {
    if (p->in && sr_kafka_in_store(p->in, topic, partition, next) != SR_OK) {
        sr_log_ctx_t ctx = {.component = "checkpoint", .topic = topic, .partition = partition,
                            .offset = next};
        sr_log(SR_LOG_WARN, &ctx, "cannot store the checkpoint's offset for the next commit");
    }
}

static void log_skipped_checkpoint(void *opaque, const char *path, sr_err_t err,
                                   const char *reason) {
    (void)opaque;
    sr_log_ctx_t ctx = {.component = "checkpoint", .error = reason};
    sr_log(SR_LOG_WARN, &ctx, "checkpoint %s is %s, trying the one before it", path,
           sr_err_name(err));
}

/* Loads the newest valid checkpoint, if any: the engine, the positions
 * the partitions start from, and each user's partition. */
sr_err_t pl_load_checkpoint(sr_pipeline_t *p, char *errstr, size_t errstr_size) {
    sr_checkpoint_t *ck = NULL;
    sr_err_t err = sr_checkpoint_load_latest(&p->ckpt_cfg, &p->cfg->engine, log_skipped_checkpoint,
                                             p, &ck, errstr, errstr_size);
    if (err != SR_OK || !ck)
        return err;
    const sr_checkpoint_info_t *info = sr_checkpoint_info(ck);
    for (size_t k = 0; k < info->n_positions && err == SR_OK; k++) {
        position_t *grown = realloc(p->ck_positions, (p->n_ck_positions + 1) * sizeof *grown);
        if (!grown) {
            err = SR_ERR_NOMEM;
            break;
        }
        p->ck_positions = grown;
        position_t *pos = &p->ck_positions[p->n_ck_positions];
        if (!(pos->topic = strdup(info->positions[k].topic))) {
            err = SR_ERR_NOMEM;
            break;
        }
        pos->partition = info->positions[k].partition;
        pos->next = info->positions[k].next_offset;
        p->n_ck_positions++;
    }
    size_t n_users = info->app_len / sizeof(int32_t);
    if (err == SR_OK && n_users > 0) {
        if (!(p->user_partition = malloc(n_users * sizeof *p->user_partition)))
            err = SR_ERR_NOMEM;
        else {
            memcpy(p->user_partition, info->app, n_users * sizeof *p->user_partition);
            p->user_partition_cap = n_users;
        }
    }
    if (err == SR_OK) {
        p->engine = sr_checkpoint_take_engine(ck);
        p->ck_first_assignment = true;
        sr_engine_stats_t st;
        sr_engine_stats(p->engine, &st);
        sr_log(SR_LOG_INFO, &SR_LOG_CTX("checkpoint"),
               "restored %s: %zu users, %zu items, %llu events, %zu partition positions",
               info->path, st.users, st.items, (unsigned long long)st.events,
               p->n_ck_positions);
    } else {
        sr_seterr(err, errstr, errstr_size, "out of memory restoring a checkpoint");
    }
    sr_checkpoint_destroy(ck);
    return err;
}

/* A lost assignment -- the group gave the partitions away, say after the
 * session expired while the broker was unreachable -- leaves a state that
 * covers events past the committed offsets, which are the newest
 * checkpoint's. Reading on from them with that state would apply those
 * events a second time, to users and items alike. So the whole state goes
 * back to the newest checkpoint, as on a restart: the next assignment seeks
 * to its positions, or takes the changelog's users where another instance
 * had the partition since. Outputs already sent for the events after it are
 * sent again (at-least-once; the Redis guard keeps the newer value). The
 * caller has drained, so no batch refers to the old engine; its memory goes
 * before the checkpoint's is loaded, so the state never exists twice. */
void pl_roll_back(sr_pipeline_t *p) {
    /* neighbour lists held back name the old engine's items; replaying the
     * events offers every changed list again */
    sr_sim_throttle_t *throttle = sr_sim_throttle_new(p->cfg->io.sim_publish_interval_ms);
    if (!throttle) {
        pl_fail(p, "%s", "out of memory going back to the newest checkpoint");
        return;
    }
    sr_sim_throttle_destroy(p->sim_throttle);
    p->sim_throttle = throttle;
    pl_reap_checkpoint(p, true); /* a file being written is the newest once in place */
    pl_clear_covers(p);
    /* dense user ids mean other users after the load */
    for (uint32_t u = 0; u < sr_engine_user_slots(p->engine); u++) sr_recall_forget(p->recall, u);
    pl_free_positions(p->positions, p->n_positions);
    p->positions = NULL;
    p->n_positions = 0;
    pl_free_positions(p->ck_positions, p->n_ck_positions);
    p->ck_positions = NULL;
    p->n_ck_positions = 0;
    free(p->user_partition);
    p->user_partition = NULL;
    p->user_partition_cap = 0;
    sr_engine_destroy(p->engine);
    p->engine = NULL;

    char errstr[512];
    sr_err_t err = pl_load_checkpoint(p, errstr, sizeof errstr);
    if (err == SR_OK && !p->engine) /* none yet: the committed offsets are the group's start */
        p->engine = sr_engine_new(&p->cfg->engine, errstr, sizeof errstr);
    if (err != SR_OK || !p->engine) {
        if (!p->engine) /* the loop stops on the failure; it still needs an engine to stop */
            p->engine = sr_engine_new(&p->cfg->engine, NULL, 0);
        pl_fail(p, "the partition assignment was lost and no checkpoint could be loaded to go "
                   "back to: %s", errstr);
        return;
    }
    pl_publish_engine_counts(p);
    atomic_fetch_add(&p->metrics.rollbacks, 1);
    sr_engine_stats_t st;
    sr_engine_stats(p->engine, &st);
    sr_log(SR_LOG_WARN, &SR_LOG_CTX("checkpoint"),
           "partition assignment lost: the state went back to the newest checkpoint (%llu "
           "events); the partitions resume from its positions when assigned again",
           (unsigned long long)st.events);
}

/* Collects a finished writer (waiting for it if `wait`) and puts its file
 * in place, or reports why there is none. */
void pl_reap_checkpoint(sr_pipeline_t *p, bool wait) {
    if (!p->ckpt_child)
        return;
    int status;
    pid_t r = waitpid(p->ckpt_child, &status, wait ? 0 : WNOHANG);
    if (r == 0)
        return;
    p->ckpt_child = 0;
    /* The writer's own report, not its exit status, says whether the file is
     * complete: a tool around the process may change the status (valgrind's
     * leak check at the child's exit sees the parent's other threads' memory
     * as lost, and exits 99 after a good write). The child has exited, so
     * the byte is there or the pipe is at its end. */
    uint8_t result = 1;
    bool reported = r > 0 && read(p->ckpt_result_fd, &result, 1) == 1 && result == 0;
    close(p->ckpt_result_fd);
    p->ckpt_result_fd = -1;
    char errstr[512];
    sr_log_ctx_t ctx = SR_LOG_CTX("checkpoint");
    if (!reported) {
        sr_checkpoint_abort(&p->ckpt_file);
        pl_clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not written: the writer %s (the previous one stays)",
               r < 0 ? "could not be waited for" : !WIFEXITED(status) ? "was killed" : "failed");
        return;
    }
    if (sr_checkpoint_commit(&p->ckpt_cfg, &p->ckpt_file, errstr, sizeof errstr) != SR_OK &&
        !p->ckpt_file.committed) {
        sr_checkpoint_abort(&p->ckpt_file);
        pl_clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        ctx.error = errstr;
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not written (the previous one stays)");
        return;
    }
    for (size_t k = 0; k < p->n_ckpt_covers; k++)
        store_covered(p, p->ckpt_covers[k].topic, p->ckpt_covers[k].partition,
                      p->ckpt_covers[k].next);
    pl_clear_covers(p);
    p->ckpt_records_in = p->ckpt_pending_records_in;
    p->ckpt_assignments = p->ckpt_pending_assignments;
    int64_t took = sr_clock_mono_ms() - p->ckpt_started_ms;
    atomic_fetch_add(&p->checkpoints_written, 1);
    atomic_store(&p->checkpoint_last_wall_ms, sr_clock_wall_ms());
    atomic_store(&p->checkpoint_last_write_ms, took);
    sr_log(SR_LOG_INFO, &ctx, "checkpoint %s written in %lld ms", p->ckpt_file.path,
           (long long)took);
}

/* The positions the engine state covers and each user's partition, in the
 * checkpoint's terms; *pos_out is the caller's to free (its topics and the
 * app array are borrowed). The state covers the partitions processed here
 * and, until their first assignment, those of the checkpoint it was loaded
 * from: a checkpoint written before then (the first periodic one, or the
 * final one of a daemon stopped while it waits for its group) must still
 * say where they stand, or the next start would read them from the
 * committed offset and apply what the state already holds a second time. */
static sr_err_t checkpoint_meta(sr_pipeline_t *p, sr_checkpoint_meta_t *meta,
                                sr_checkpoint_position_t **pos_out) {
    sr_checkpoint_position_t *pos = calloc(p->n_positions + p->n_ck_positions + 1, sizeof *pos);
    if (!pos)
        return SR_ERR_NOMEM;
    size_t n = 0;
    for (size_t k = 0; k < p->n_positions; k++, n++) {
        pos[n].topic = p->positions[k].topic;
        pos[n].partition = p->positions[k].partition;
        pos[n].next_offset = p->positions[k].next;
    }
    for (size_t k = 0; k < p->n_ck_positions; k++) {
        const position_t *ck = &p->ck_positions[k];
        if (pl_find_position(p, ck->topic, ck->partition))
            continue;
        pos[n].topic = ck->topic;
        pos[n].partition = ck->partition;
        pos[n++].next_offset = ck->next;
    }
    size_t users = sr_engine_user_slots(p->engine);
    if (users > p->user_partition_cap)
        users = p->user_partition_cap;
    *pos_out = pos;
    *meta = (sr_checkpoint_meta_t){.positions = pos, .n_positions = n,
                                   .app = p->user_partition,
                                   .app_len = users * sizeof *p->user_partition};
    return SR_OK;
}

/* How long the drain before a periodic checkpoint may hold the poll loop.
 * It takes milliseconds while the sinks keep up; a Redis or broker that
 * stalls just then must not keep the consumer from polling for as long as
 * the stall lasts (max.poll.interval.ms would throw it out of its group),
 * so the checkpoint is put off instead. */
#define CHECKPOINT_DRAIN_MAX_MS 2000
/* ... and tried again this much later. */
#define CHECKPOINT_RETRY_MS 1000

/* The engine's pause for a checkpoint (drain and fork), for the maximum
 * /metrics shows. */
static void note_pause(sr_pipeline_t *p, int64_t start_ns) {
    int64_t pause_ns = sr_clock_mono_ns() - start_ns;
    if (pause_ns > atomic_load(&p->checkpoint_max_pause_ns))
        atomic_store(&p->checkpoint_max_pause_ns, pause_ns);
}

/* Drains, then writes a checkpoint: in a forked child (the engine goes on at
 * once), or in this process when `in_process` (the final one on a stop,
 * which waits for the sinks as long as it takes). False when a periodic
 * one was put off because the sinks did not drain in time. */
bool pl_take_checkpoint(sr_pipeline_t *p, bool in_process) {
    pl_reap_checkpoint(p, true); /* one at a time */
    int64_t start_ns = sr_clock_mono_ns();
    p->ckpt_pending_records_in = atomic_load(&p->records_in);
    p->ckpt_pending_assignments = p->assignments;
    bool drained = pl_drain_held_within(p, in_process ? -1 : CHECKPOINT_DRAIN_MAX_MS);
    if (atomic_load(&p->failed))
        return true;
    if (!drained) {
        sr_log_ctx_t ctx = {.component = "checkpoint"};
        sr_log(SR_LOG_WARN, &ctx, "checkpoint put off: the sinks did not drain within %d ms",
               CHECKPOINT_DRAIN_MAX_MS);
        note_pause(p, start_ns);
        return false;
    }
    char errstr[512];
    sr_log_ctx_t ctx = {.component = "checkpoint", .error = errstr};
    sr_checkpoint_meta_t meta;
    sr_checkpoint_position_t *pos = NULL;
    if (checkpoint_meta(p, &meta, &pos) != SR_OK) {
        pl_fail(p, "%s", "out of memory writing a checkpoint");
        return true;
    }
    p->ckpt_started_ms = sr_clock_mono_ms();
    if (in_process) {
        char path[SR_CHECKPOINT_PATH_MAX];
        if (sr_checkpoint_save(&p->ckpt_cfg, &meta, p->engine, path, errstr, sizeof errstr) !=
            SR_OK) {
            atomic_fetch_add(&p->checkpoint_errors, 1);
            sr_log(SR_LOG_ERROR, &ctx, "checkpoint not written (the previous one stays)");
        } else {
            for (size_t k = 0; k < meta.n_positions; k++)
                store_covered(p, meta.positions[k].topic, meta.positions[k].partition,
                              meta.positions[k].next_offset);
            p->ckpt_records_in = p->ckpt_pending_records_in;
            p->ckpt_assignments = p->ckpt_pending_assignments;
            atomic_fetch_add(&p->checkpoints_written, 1);
            atomic_store(&p->checkpoint_last_wall_ms, sr_clock_wall_ms());
            sr_log(SR_LOG_INFO, &SR_LOG_CTX("checkpoint"), "checkpoint %s written in %lld ms",
                   path, (long long)(sr_clock_mono_ms() - p->ckpt_started_ms));
        }
        free(pos);
        return true;
    }
    if (remember_covers(p, &meta) != SR_OK) {
        pl_clear_covers(p);
        free(pos);
        pl_fail(p, "%s", "out of memory writing a checkpoint");
        return true;
    }
    if (sr_checkpoint_begin(&p->ckpt_cfg, &p->ckpt_file, errstr, sizeof errstr) != SR_OK) {
        pl_clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not started (the previous one stays)");
        free(pos);
        return true;
    }
    int result_pipe[2];
    if (pipe2(result_pipe, O_CLOEXEC) != 0) {
        snprintf(errstr, sizeof errstr, "pipe: %s", strerror(errno));
        sr_checkpoint_abort(&p->ckpt_file);
        pl_clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not started (the previous one stays)");
        free(pos);
        return true;
    }
    pid_t child = fork();
    if (child == 0) {
        /* The child of a threaded process: write(2) and _exit only. */
        sr_err_t err = sr_checkpoint_write_file(&p->ckpt_file, &meta, p->engine, errstr,
                                                sizeof errstr);
        if (err != SR_OK) {
            static const char prefix[] = "streamrec: checkpoint writer: ";
            ssize_t ignored = write(2, prefix, sizeof prefix - 1);
            ignored = write(2, errstr, strlen(errstr));
            ignored = write(2, "\n", 1);
            (void)ignored;
        }
        uint8_t result = err == SR_OK ? 0 : 1;
        ssize_t ignored = write(result_pipe[1], &result, 1);
        (void)ignored;
        _exit(result);
    }
    free(pos);
    close(result_pipe[1]);
    if (child < 0) {
        close(result_pipe[0]);
        sr_checkpoint_abort(&p->ckpt_file);
        pl_clear_covers(p);
        atomic_fetch_add(&p->checkpoint_errors, 1);
        snprintf(errstr, sizeof errstr, "fork: %s", strerror(errno));
        sr_log(SR_LOG_ERROR, &ctx, "checkpoint not started (the previous one stays)");
        return true;
    }
    p->ckpt_result_fd = result_pipe[0];
    p->ckpt_child = child;
    note_pause(p, start_ns);
    return true;
}

void pl_maybe_checkpoint(sr_pipeline_t *p) {
    if (!p->ckpt_on)
        return;
    pl_reap_checkpoint(p, false);
    /* The drain before a checkpoint waits for the sinks: with Redis away
     * or the outbox full it held the poll loop for the whole outage, and a
     * consumer that does not poll for max.poll.interval.ms leaves its
     * group. A due checkpoint waits until the sinks keep up again, and one
     * whose drain still runs long (a stall that began just then) is put
     * off too. */
    if (atomic_load(&p->paused) || !atomic_load(&p->redis_up))
        return;
    int64_t now = sr_clock_mono_ms();
    if (!p->ckpt_child && now >= p->ckpt_next_ms) {
        /* Nothing read and nothing assigned since the newest checkpoint in
         * place: another would say the same. A failed one is tried again at
         * the next interval, idle input or not. */
        if (atomic_load(&p->records_in) != p->ckpt_records_in ||
            p->assignments != p->ckpt_assignments || atomic_load(&p->checkpoints_written) == 0)
            if (!pl_take_checkpoint(p, false)) {
                p->ckpt_next_ms = sr_clock_mono_ms() + CHECKPOINT_RETRY_MS;
                return;
            }
        p->ckpt_next_ms = now + (int64_t)p->cfg->io.checkpoint_interval_s * 1000;
    }
}
