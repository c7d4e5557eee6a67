/* streamrec checkpoints: the engine's whole state in a file, with the input
 * positions it covers.
 *
 * A checkpoint file is
 *
 *   header   "SRCKPT\r\n", u32 format version, u64 config fingerprint,
 *            u64 sequence number, i64 creation time (wall clock, ms),
 *            u32 positions x (u16 topic length, topic, i32 partition,
 *            i64 next offset), u32 app length, app bytes
 *   state    the engine state (engine.h), ending with its own digest
 *   trailer  u64 XXH3-64 of every byte before it
 *
 * in the encoding of serial.h. A position is the first offset of a partition
 * the state has NOT seen: after loading, the consumer seeks there. The app
 * bytes are the caller's (e.g. which partition each user came from); this
 * module only stores them.
 *
 * Files are written atomically: a temporary file in the directory, written,
 * fsync'ed, renamed to checkpoint-<seq>.ckpt (seq zero-padded, increasing),
 * then the directory is fsync'ed; only then are older files beyond the
 * newest `keep` removed. A failed write (a full disk) removes the
 * temporary file and leaves every earlier checkpoint as it was.
 *
 * Writing from a forked child: the engine's state must not change while it
 * is written, and a fork gives the writer a frozen copy for the price of
 * copying page tables. The parent calls sr_checkpoint_begin() (creates the
 * temporary file), forks; the child calls sr_checkpoint_write_file(), which
 * uses write(2) and fsync(2) only -- no malloc, no stdio, buffers on the
 * stack -- and _exit()s with its result; the parent goes on applying events,
 * reaps the child, then calls sr_checkpoint_commit() or _abort(). One
 * checkpoint at a time per directory: sr_checkpoint_begin() removes the
 * temporary files a crashed run left behind.
 *
 * Loading (sr_checkpoint_load_latest): the newest file is tried first; one
 * that is cut short or damaged (checksum, structure) is reported through a
 * callback with its path and the reason, and the next older one is tried.
 * A file from another format version or configuration fingerprint stops the
 * load with an error instead: falling back to older state would hide a
 * configuration change. */
#ifndef STREAMREC_CHECKPOINT_H
#define STREAMREC_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrec/engine.h"
#include "streamrec/err.h"
#include "streamrec/serial.h"

#define SR_CHECKPOINT_VERSION 1
#define SR_CHECKPOINT_TOPIC_MAX 249 /* Kafka's limit on topic names */
#define SR_CHECKPOINT_PATH_MAX 4096

typedef struct sr_checkpoint_config {
    const char *dir;   /* created if missing (one level) */
    int keep;          /* newest files kept, >= 1; default 3 */
} sr_checkpoint_config_t;

void sr_checkpoint_config_defaults(sr_checkpoint_config_t *cfg);

typedef struct sr_checkpoint_position {
    const char *topic;
    int32_t partition;
    int64_t next_offset; /* first offset not covered by the state */
} sr_checkpoint_position_t;

/* What a checkpoint holds besides the engine state. Borrowed by the writer. */
typedef struct sr_checkpoint_meta {
    const sr_checkpoint_position_t *positions;
    size_t n_positions;
    const void *app;     /* opaque to this module; may be NULL with app_len 0 */
    size_t app_len;
    int64_t created_ms;  /* wall clock; 0: the time of writing */
} sr_checkpoint_meta_t;

/* ---- writing ---- */

/* One checkpoint file being written. */
typedef struct sr_checkpoint_file {
    int fd;            /* the temporary file, open for writing; -1 when closed */
    uint64_t seq;
    bool committed;    /* renamed into place: path is a checkpoint */
    char tmp_path[SR_CHECKPOINT_PATH_MAX];
    char path[SR_CHECKPOINT_PATH_MAX];
} sr_checkpoint_file_t;

/* Creates the directory if needed, removes leftover temporary files, picks
 * the next sequence number and creates the temporary file. */
sr_err_t sr_checkpoint_begin(const sr_checkpoint_config_t *cfg, sr_checkpoint_file_t *f,
                             char *errstr, size_t errstr_size);

/* Writes header, state and checksum to f->fd and fsyncs it. No allocation,
 * no stdio, ~70 KiB of stack (measured with -fstack-usage): safe in a
 * child forked from a threaded process. A failing write(2) (ENOSPC) returns SR_ERR_IO naming the errno. */
sr_err_t sr_checkpoint_write_file(const sr_checkpoint_file_t *f, const sr_checkpoint_meta_t *meta,
                                  const sr_engine_t *e, char *errstr, size_t errstr_size);

/* Closes the file, renames it into place, fsyncs the directory, then keeps
 * only the newest cfg->keep checkpoints. If an old file cannot be removed
 * the result is SR_ERR_IO with f->committed true: the new checkpoint is in
 * place, and the removal is tried again at the next commit. */
sr_err_t sr_checkpoint_commit(const sr_checkpoint_config_t *cfg, sr_checkpoint_file_t *f,
                              char *errstr, size_t errstr_size);

/* Closes and removes the temporary file (safe after a failed commit). */
void sr_checkpoint_abort(sr_checkpoint_file_t *f);

/* begin + write_file + commit in this process; on failure no new file is
 * left and the earlier checkpoints are untouched. path_out (may be NULL)
 * receives the new file's path, SR_CHECKPOINT_PATH_MAX bytes. */
sr_err_t sr_checkpoint_save(const sr_checkpoint_config_t *cfg, const sr_checkpoint_meta_t *meta,
                            const sr_engine_t *e, char *path_out, char *errstr,
                            size_t errstr_size);

/* The same bytes through any write callback (no allocation). */
sr_err_t sr_checkpoint_write(sr_write_fn *write, void *opaque, uint64_t seq,
                             const sr_checkpoint_meta_t *meta, const sr_engine_t *e,
                             char *errstr, size_t errstr_size);

/* ---- reading ---- */

typedef struct sr_checkpoint sr_checkpoint_t;

typedef struct sr_checkpoint_info {
    const char *path;
    uint32_t version;
    uint64_t fingerprint;
    uint64_t seq;
    int64_t created_ms;
    const sr_checkpoint_position_t *positions;
    size_t n_positions;
    const void *app;
    size_t app_len;
    uint64_t state_digest; /* the engine state's own digest (sr_engine_digest) */
    uint64_t file_bytes, state_bytes;
} sr_checkpoint_info_t;

/* Reads one file (one pass of read(2), checksummed on the way) and builds
 * its engine. ecfg NULL: the defaults with the checkpoint's own shape
 * (inspection). Errors: SR_ERR_TRUNCATED (cut short), SR_ERR_CORRUPT (not a
 * checkpoint, checksum mismatch, bad structure), SR_ERR_INVALID (another
 * format version), SR_ERR_CONFIG (another fingerprint), SR_ERR_IO,
 * SR_ERR_NOMEM; errstr names the file and the reason. INVALID and CONFIG
 * are only reported for a file whose checksum holds: in a damaged file they
 * are damage (CORRUPT). */
sr_err_t sr_checkpoint_load(const char *path, const sr_engine_config_t *ecfg,
                            sr_checkpoint_t **out, char *errstr, size_t errstr_size);

/* Called for each checkpoint skipped because it is cut short or damaged. */
typedef void sr_checkpoint_skip_fn(void *opaque, const char *path, sr_err_t err,
                                   const char *reason);

/* The newest valid checkpoint in cfg->dir, trying older ones past damaged
 * files (each reported through skipped, which may be NULL). SR_OK with
 * *out NULL: there is no checkpoint (first start). SR_ERR_CORRUPT: there
 * are checkpoints but none is valid. Any other failure stops at that file. */
sr_err_t sr_checkpoint_load_latest(const sr_checkpoint_config_t *cfg,
                                   const sr_engine_config_t *ecfg, sr_checkpoint_skip_fn *skipped,
                                   void *opaque, sr_checkpoint_t **out, char *errstr,
                                   size_t errstr_size);

const sr_checkpoint_info_t *sr_checkpoint_info(const sr_checkpoint_t *c);
/* The loaded engine, borrowed (NULL after sr_checkpoint_take_engine). */
sr_engine_t *sr_checkpoint_engine(const sr_checkpoint_t *c);
/* Hands the engine over: the caller destroys it. */
sr_engine_t *sr_checkpoint_take_engine(sr_checkpoint_t *c);
void sr_checkpoint_destroy(sr_checkpoint_t *c);

#endif
