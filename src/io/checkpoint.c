#include "streamrec/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "SRCKPT\r\n" /* the CR LF catches a file mangled by a text-mode copy */
#define MAGIC_BYTES 8
#define FIXED_HEADER_BYTES (MAGIC_BYTES + 4 + 8 + 8 + 8 + 4) /* up to the positions */
#define TRAILER_BYTES 8
#define DIGEST_BYTES 8 /* the engine state's own digest, its last bytes */
#define NAME_PREFIX "checkpoint-"
#define NAME_SUFFIX ".ckpt"
#define TMP_SUFFIX ".ckpt.tmp"
#define SEQ_DIGITS 12

void sr_checkpoint_config_defaults(sr_checkpoint_config_t *cfg) {
    cfg->dir = "checkpoints";
    cfg->keep = 3;
}

/* errno as text without strerror(), which may allocate for its locale
 * lookup and so is not for a forked child. */
static const char *errno_text(int err) {
    switch (err) {
    case ENOSPC: return "ENOSPC (no space left on device)";
    case EDQUOT: return "EDQUOT (disk quota exceeded)";
    case EFBIG: return "EFBIG (file too large)";
    case EIO: return "EIO (input/output error)";
    case EROFS: return "EROFS (read-only file system)";
    case EACCES: return "EACCES (permission denied)";
    case ENOENT: return "ENOENT (no such file or directory)";
    case EBADF: return "EBADF (bad file descriptor)";
    default: {
        const char *name = strerrorname_np(err);
        return name ? name : "unknown errno";
    }
    }
}

/* ---- writing ------------------------------------------------------------
 *
 * Everything from here to sr_checkpoint_write_file() runs in the forked
 * child: stack buffers, write(2), no allocation. */

/* Hashes every byte on its way to the next callback: the file checksum. */
typedef struct hashing_sink {
    XXH3_state_t hash;
    sr_write_fn *write;
    void *opaque;
    uint64_t bytes;
} hashing_sink_t;

static sr_err_t hashing_write(void *opaque, const void *p, size_t len) {
    hashing_sink_t *s = opaque;
    XXH3_64bits_update(&s->hash, p, len);
    s->bytes += len;
    return s->write(s->opaque, p, len);
}

static sr_err_t check_meta(const sr_checkpoint_meta_t *meta, char *errstr, size_t errstr_size) {
    if (meta->n_positions > UINT32_MAX || meta->app_len > UINT32_MAX ||
        (meta->app_len > 0 && !meta->app) || (meta->n_positions > 0 && !meta->positions))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "checkpoint: positions or app data missing or too large");
    for (size_t p = 0; p < meta->n_positions; p++) {
        const char *topic = meta->positions[p].topic;
        size_t len = topic ? strlen(topic) : 0;
        if (len == 0 || len > SR_CHECKPOINT_TOPIC_MAX)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "checkpoint: position %zu has a topic name of %zu bytes, not in "
                             "[1, %d]", p, len, SR_CHECKPOINT_TOPIC_MAX);
    }
    return SR_OK;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Its own frame, so its writer's buffer is gone before the engine's. */
__attribute__((noinline)) static sr_err_t write_header(hashing_sink_t *sink, uint64_t seq,
                                                       const sr_checkpoint_meta_t *meta,
                                                       const sr_engine_t *e) {
    sr_writer_t w;
    sr_writer_init(&w, hashing_write, sink);
    sr_writer_bytes(&w, MAGIC, MAGIC_BYTES);
    sr_writer_u32(&w, SR_CHECKPOINT_VERSION);
    sr_writer_u64(&w, sr_engine_config_fingerprint(sr_engine_config(e)));
    sr_writer_u64(&w, seq);
    sr_writer_i64(&w, meta->created_ms ? meta->created_ms : wall_ms());
    sr_writer_u32(&w, (uint32_t)meta->n_positions);
    for (size_t p = 0; p < meta->n_positions; p++) {
        const sr_checkpoint_position_t *pos = &meta->positions[p];
        size_t len = strlen(pos->topic);
        sr_writer_u16(&w, (uint16_t)len);
        sr_writer_bytes(&w, pos->topic, len);
        sr_writer_i32(&w, pos->partition);
        sr_writer_i64(&w, pos->next_offset);
    }
    sr_writer_u32(&w, (uint32_t)meta->app_len);
    sr_writer_bytes(&w, meta->app, meta->app_len);
    return sr_writer_flush(&w);
}

sr_err_t sr_checkpoint_write(sr_write_fn *write_fn, void *opaque, uint64_t seq,
                             const sr_checkpoint_meta_t *meta, const sr_engine_t *e,
                             char *errstr, size_t errstr_size) {
    sr_err_t err = check_meta(meta, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    hashing_sink_t sink;
    XXH3_64bits_reset(&sink.hash);
    sink.write = write_fn;
    sink.opaque = opaque;
    sink.bytes = 0;
    if ((err = write_header(&sink, seq, meta, e)) != SR_OK)
        return sr_seterr(err, errstr, errstr_size, "checkpoint: writing the header: %s",
                         sr_err_name(err));
    if ((err = sr_engine_save(e, hashing_write, &sink, NULL, errstr, errstr_size)) != SR_OK)
        return err;
    uint8_t trailer[TRAILER_BYTES];
    uint64_t sum = sr_le64(XXH3_64bits_digest(&sink.hash));
    memcpy(trailer, &sum, sizeof trailer);
    if ((err = write_fn(opaque, trailer, sizeof trailer)) != SR_OK)
        return sr_seterr(err, errstr, errstr_size, "checkpoint: writing the checksum: %s",
                         sr_err_name(err));
    return SR_OK;
}

typedef struct fd_sink {
    int fd;
    int error;       /* errno of the failed call */
    uint64_t bytes;  /* written */
} fd_sink_t;

static sr_err_t fd_write(void *opaque, const void *p, size_t len) {
    fd_sink_t *s = opaque;
    const char *at = p;
    while (len > 0) {
        ssize_t n = write(s->fd, at, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s->error = errno;
            return SR_ERR_IO;
        }
        at += n;
        len -= (size_t)n;
        s->bytes += (uint64_t)n;
    }
    return SR_OK;
}

sr_err_t sr_checkpoint_write_file(const sr_checkpoint_file_t *f, const sr_checkpoint_meta_t *meta,
                                  const sr_engine_t *e, char *errstr, size_t errstr_size) {
    fd_sink_t sink = {f->fd, 0, 0};
    sr_err_t err = sr_checkpoint_write(fd_write, &sink, f->seq, meta, e, errstr, errstr_size);
    if (err == SR_OK && fsync(f->fd) != 0) {
        sink.error = errno;
        err = SR_ERR_IO;
    }
    if (err != SR_OK && sink.error)
        return sr_seterr(err, errstr, errstr_size, "checkpoint %s: write failed after %" PRIu64
                         " bytes: %s", f->tmp_path, sink.bytes, errno_text(sink.error));
    return err;
}

/* ---- the directory ------------------------------------------------------ */

/* The sequence number in a file name of ours, or false for anything else. */
static bool parse_name(const char *name, const char *suffix, uint64_t *seq) {
    size_t plen = strlen(NAME_PREFIX), slen = strlen(suffix), len = strlen(name);
    if (len <= plen + slen || strncmp(name, NAME_PREFIX, plen) != 0 ||
        strcmp(name + len - slen, suffix) != 0 || len - plen - slen > 20)
        return false;
    uint64_t v = 0;
    for (const char *c = name + plen; c < name + len - slen; c++) {
        if (*c < '0' || *c > '9')
            return false;
        uint64_t next = v * 10 + (uint64_t)(*c - '0');
        if (next / 10 != v)
            return false; /* overflow */
        v = next;
    }
    *seq = v;
    return true;
}

static int seq_descending(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The sequence numbers of the checkpoints in dir, newest first; with
 * remove_tmp, leftover temporary files are removed and *max_seq covers them
 * too. A missing directory is an empty one. */
static sr_err_t list_dir(const char *dir, bool remove_tmp, uint64_t **seqs_out, size_t *n_out,
                         uint64_t *max_seq, char *errstr, size_t errstr_size) {
    *seqs_out = NULL;
    *n_out = 0;
    if (max_seq)
        *max_seq = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return SR_OK;
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "checkpoint directory %s: %s", dir,
                         strerror(errno));
    }
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    sr_err_t err = SR_OK;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        uint64_t seq;
        if (parse_name(ent->d_name, TMP_SUFFIX, &seq)) {
            if (max_seq && seq > *max_seq)
                *max_seq = seq;
            if (remove_tmp)
                unlinkat(dirfd(d), ent->d_name, 0);
            continue;
        }
        if (!parse_name(ent->d_name, NAME_SUFFIX, &seq))
            continue;
        if (max_seq && seq > *max_seq)
            *max_seq = seq;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            uint64_t *s = realloc(seqs, c * sizeof *s);
            if (!s) {
                err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory listing %s", dir);
                break;
            }
            seqs = s;
            cap = c;
        }
        seqs[n++] = seq;
    }
    closedir(d);
    if (err != SR_OK) {
        free(seqs);
        return err;
    }
    if (n > 1)
        qsort(seqs, n, sizeof *seqs, seq_descending);
    *seqs_out = seqs;
    *n_out = n;
    return SR_OK;
}

static bool checkpoint_path(char *out, const char *dir, uint64_t seq, const char *suffix) {
    int n = snprintf(out, SR_CHECKPOINT_PATH_MAX, "%s/" NAME_PREFIX "%0*" PRIu64 "%s", dir,
                     SEQ_DIGITS, seq, suffix);
    return n > 0 && n < SR_CHECKPOINT_PATH_MAX;
}

sr_err_t sr_checkpoint_begin(const sr_checkpoint_config_t *cfg, sr_checkpoint_file_t *f,
                             char *errstr, size_t errstr_size) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!cfg->dir || !*cfg->dir || cfg->keep < 1)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "checkpoint: needs a directory and keep >= 1");
    if (mkdir(cfg->dir, 0755) != 0 && errno != EEXIST)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "checkpoint directory %s: %s", cfg->dir,
                         strerror(errno));
    uint64_t *seqs, max_seq;
    size_t n;
    sr_err_t err = list_dir(cfg->dir, true, &seqs, &n, &max_seq, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    free(seqs);
    f->seq = max_seq + 1;
    if (!checkpoint_path(f->path, cfg->dir, f->seq, NAME_SUFFIX) ||
        !checkpoint_path(f->tmp_path, cfg->dir, f->seq, TMP_SUFFIX))
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "checkpoint directory name too long: %s", cfg->dir);
    f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "checkpoint %s: %s", f->tmp_path,
                         strerror(errno));
    return SR_OK;
}

static sr_err_t fsync_dir(const char *dir, char *errstr, size_t errstr_size) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "checkpoint directory %s: fsync: %s", dir,
                         strerror(e));
    }
    close(fd);
    return SR_OK;
}

/* Removes every checkpoint but the newest `keep`. */
static sr_err_t prune(const sr_checkpoint_config_t *cfg, char *errstr, size_t errstr_size) {
    uint64_t *seqs;
    size_t n;
    sr_err_t err = list_dir(cfg->dir, false, &seqs, &n, NULL, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    for (size_t k = (size_t)cfg->keep; k < n; k++) {
        char path[SR_CHECKPOINT_PATH_MAX];
        if (checkpoint_path(path, cfg->dir, seqs[k], NAME_SUFFIX) && unlink(path) != 0 &&
            errno != ENOENT && err == SR_OK)
            err = sr_seterr(SR_ERR_IO, errstr, errstr_size,
                            "checkpoint written, but removing the old %s failed: %s", path,
                            strerror(errno));
    }
    free(seqs);
    return err;
}

sr_err_t sr_checkpoint_commit(const sr_checkpoint_config_t *cfg, sr_checkpoint_file_t *f,
                              char *errstr, size_t errstr_size) {
    if (f->fd >= 0) {
        int rc = close(f->fd);
        f->fd = -1;
        if (rc != 0)
            return sr_seterr(SR_ERR_IO, errstr, errstr_size, "checkpoint %s: close: %s",
                             f->tmp_path, strerror(errno));
    }
    if (rename(f->tmp_path, f->path) != 0)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "checkpoint %s: rename to %s: %s",
                         f->tmp_path, f->path, strerror(errno));
    f->committed = true;
    /* The rename must be on disk before any older file goes. */
    sr_err_t err = fsync_dir(cfg->dir, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    return prune(cfg, errstr, errstr_size);
}

void sr_checkpoint_abort(sr_checkpoint_file_t *f) {
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (!f->committed && f->tmp_path[0])
        unlink(f->tmp_path);
}

sr_err_t sr_checkpoint_save(const sr_checkpoint_config_t *cfg, const sr_checkpoint_meta_t *meta,
                            const sr_engine_t *e, char *path_out, char *errstr,
                            size_t errstr_size) {
    sr_checkpoint_file_t *f = malloc(sizeof *f);
    if (!f)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    sr_err_t err = sr_checkpoint_begin(cfg, f, errstr, errstr_size);
    if (err == SR_OK)
        err = sr_checkpoint_write_file(f, meta, e, errstr, errstr_size);
    if (err == SR_OK)
        err = sr_checkpoint_commit(cfg, f, errstr, errstr_size);
    if (err != SR_OK)
        sr_checkpoint_abort(f);
    if (path_out && f->committed)
        snprintf(path_out, SR_CHECKPOINT_PATH_MAX, "%s", f->path);
    free(f);
    return err;
}

/* ---- reading ------------------------------------------------------------
 *
 * One pass over the file with read(2): the header is parsed, the state goes
 * to the engine, and every byte goes through the checksum on its way, so
 * memory holds the engine and a 64 KiB buffer, not a copy of the file. (A
 * mapping would save the copy but turns a disk error into SIGBUS.) The
 * checksum is known only at the end, so any complaint about the contents --
 * even "another version" -- is believed only if the checksum holds; with a
 * bad checksum the file is damaged, whatever it seemed to say. */

struct sr_checkpoint {
    sr_checkpoint_info_t info;
    char *path;
    sr_checkpoint_position_t *positions;
    char *topics; /* the positions' topic names, NUL-separated */
    void *app;
    sr_engine_t *engine;
};

void sr_checkpoint_destroy(sr_checkpoint_t *c) {
    if (!c)
        return;
    sr_engine_destroy(c->engine);
    free(c->path);
    free(c->positions);
    free(c->topics);
    free(c->app);
    free(c);
}

/* The file up to its trailer, hashed as it is handed out. */
typedef struct file_source {
    XXH3_state_t hash;
    int fd;
    int error;          /* errno of a failed read */
    uint64_t limit;     /* bytes before the trailer */
    uint64_t consumed;  /* handed out so far */
    size_t pos, len;
    unsigned char buf[SR_SERIAL_BUF_BYTES];
} file_source_t;

static sr_err_t file_read(void *opaque, void *out, size_t cap, size_t *n_read) {
    file_source_t *s = opaque;
    *n_read = 0;
    if (cap > s->limit - s->consumed)
        cap = (size_t)(s->limit - s->consumed);
    if (cap == 0)
        return SR_OK;
    if (s->pos == s->len) {
        /* Large requests go straight into place; small ones refill the buffer. */
        unsigned char *into = cap >= sizeof s->buf ? out : s->buf;
        size_t want = cap >= sizeof s->buf ? cap : sizeof s->buf;
        if (want > s->limit - s->consumed)
            want = (size_t)(s->limit - s->consumed);
        ssize_t n;
        do
            n = read(s->fd, into, want);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            s->error = errno;
            return SR_ERR_IO;
        }
        if (n == 0)
            return SR_OK; /* the file shrank under us: reads as cut short */
        if (into == out) {
            XXH3_64bits_update(&s->hash, out, (size_t)n);
            s->consumed += (uint64_t)n;
            *n_read = (size_t)n;
            return SR_OK;
        }
        s->pos = 0;
        s->len = (size_t)n;
    }
    size_t n = s->len - s->pos < cap ? s->len - s->pos : cap;
    memcpy(out, s->buf + s->pos, n);
    XXH3_64bits_update(&s->hash, out, n);
    s->pos += n;
    s->consumed += n;
    *n_read = n;
    return SR_OK;
}

static bool file_take(file_source_t *s, void *out, size_t len) {
    unsigned char *at = out;
    while (len > 0) {
        size_t n;
        if (file_read(s, at, len, &n) != SR_OK || n == 0)
            return false;
        at += n;
        len -= n;
    }
    return true;
}

static bool take_u16(file_source_t *s, uint16_t *v) {
    bool ok = file_take(s, v, 2);
    *v = sr_le16(*v);
    return ok;
}
static bool take_u32(file_source_t *s, uint32_t *v) {
    bool ok = file_take(s, v, 4);
    *v = sr_le32(*v);
    return ok;
}
static bool take_u64(file_source_t *s, uint64_t *v) {
    bool ok = file_take(s, v, 8);
    *v = sr_le64(*v);
    return ok;
}

/* The header after the magic and version; copies what it keeps. */
static sr_err_t parse_header(sr_checkpoint_t *c, file_source_t *s, char *errstr,
                             size_t errstr_size) {
    uint64_t created;
    uint32_t n_positions, app_len;
    if (!take_u64(s, &c->info.fingerprint) || !take_u64(s, &c->info.seq) ||
        !take_u64(s, &created) || !take_u32(s, &n_positions))
        goto cut_short;
    c->info.created_ms = (int64_t)created;
    /* Each position takes at least 15 bytes: a count beyond what the file
     * holds is damage, not a reason to allocate. */
    if ((uint64_t)n_positions * 15 > s->limit)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "%" PRIu32 " positions cannot fit in the file", n_positions);
    size_t topics_cap = (size_t)n_positions * (SR_CHECKPOINT_TOPIC_MAX + 1) + 1;
    if (!(c->positions = calloc(n_positions ? n_positions : 1, sizeof *c->positions)) ||
        !(c->topics = malloc(topics_cap)))
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    size_t used = 0;
    for (uint32_t p = 0; p < n_positions; p++) {
        uint16_t len;
        uint32_t partition;
        uint64_t offset;
        if (!take_u16(s, &len))
            goto cut_short;
        if (len == 0 || len > SR_CHECKPOINT_TOPIC_MAX)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "position %" PRIu32 " has a topic of %u bytes", p, len);
        if (!file_take(s, c->topics + used, len) || !take_u32(s, &partition) ||
            !take_u64(s, &offset))
            goto cut_short;
        c->topics[used + len] = '\0';
        c->positions[p].topic = c->topics + used; /* topics is never moved */
        c->positions[p].partition = (int32_t)partition;
        c->positions[p].next_offset = (int64_t)offset;
        used += len + 1u;
    }
    if (!take_u32(s, &app_len))
        goto cut_short;
    if (app_len > s->limit)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "app data of %" PRIu32 " bytes cannot fit in the file", app_len);
    if (!(c->app = malloc(app_len ? app_len : 1)))
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (!file_take(s, c->app, app_len))
        goto cut_short;
    c->info.positions = c->positions;
    c->info.n_positions = n_positions;
    c->info.app = c->app;
    c->info.app_len = app_len;
    return SR_OK;
cut_short:
    if (s->error)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "read: %s", errno_text(s->error));
    return sr_seterr(SR_ERR_TRUNCATED, errstr, errstr_size, "the header runs past the end");
}

/* Reads whatever the loader left unread, then the trailer; true if the
 * checksum holds. */
static bool checksum_holds(file_source_t *s, uint64_t *stored, uint64_t *computed) {
    unsigned char sink[4096];
    size_t n;
    while (file_read(s, sink, sizeof sink, &n) == SR_OK && n > 0) {
    }
    *computed = XXH3_64bits_digest(&s->hash);
    unsigned char trailer[TRAILER_BYTES];
    if (s->consumed != s->limit ||
        pread(s->fd, trailer, sizeof trailer, (off_t)s->limit) != (ssize_t)sizeof trailer)
        return false;
    uint64_t v;
    memcpy(&v, trailer, 8);
    *stored = sr_le64(v);
    return *stored == *computed;
}

static sr_err_t load_file(sr_checkpoint_t *c, file_source_t *s, const sr_engine_config_t *ecfg,
                          char *errstr, size_t errstr_size) {
    unsigned char head[MAGIC_BYTES + 4];
    if (c->info.file_bytes < FIXED_HEADER_BYTES + 4 + TRAILER_BYTES)
        return sr_seterr(SR_ERR_TRUNCATED, errstr, errstr_size,
                         "%" PRIu64 " bytes, shorter than any checkpoint", c->info.file_bytes);
    if (!file_take(s, head, sizeof head))
        return s->error ? sr_seterr(SR_ERR_IO, errstr, errstr_size, "read: %s",
                                    errno_text(s->error))
                        : sr_seterr(SR_ERR_TRUNCATED, errstr, errstr_size, "cut short");
    if (memcmp(head, MAGIC, MAGIC_BYTES) != 0)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size, "not a streamrec checkpoint");
    uint32_t version;
    memcpy(&version, head + MAGIC_BYTES, 4);
    c->info.version = sr_le32(version);

    char why[768] = "";
    sr_err_t err;
    if (c->info.version != SR_CHECKPOINT_VERSION)
        err = sr_seterr(SR_ERR_INVALID, why, sizeof why,
                        "checkpoint format version %" PRIu32 ", this build reads version %d",
                        c->info.version, SR_CHECKPOINT_VERSION);
    else if ((err = parse_header(c, s, why, sizeof why)) == SR_OK) {
        uint64_t state_at = s->consumed;
        err = sr_engine_load(ecfg, file_read, s, &c->engine, why, sizeof why);
        c->info.state_bytes = s->consumed - state_at;
        if (err == SR_OK &&
            sr_engine_config_fingerprint(sr_engine_config(c->engine)) != c->info.fingerprint)
            err = sr_seterr(SR_ERR_CORRUPT, why, sizeof why,
                            "the header's config fingerprint is not its state's");
    }
    if (s->error)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "read: %s", errno_text(s->error));
    if (err == SR_ERR_NOMEM)
        return sr_seterr(err, errstr, errstr_size, "%s", why);
    uint64_t stored = 0, computed = 0;
    if (!checksum_holds(s, &stored, &computed)) {
        if (err == SR_ERR_TRUNCATED)
            return sr_seterr(err, errstr, errstr_size, "cut short: %s", why);
        if (c->info.version != SR_CHECKPOINT_VERSION)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "not a checkpoint of this format, or damaged: %s", why);
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "checksum mismatch (stored %016" PRIx64 ", computed %016" PRIx64
                         "): the file is damaged or incomplete%s%s", stored, computed,
                         err != SR_OK ? "; " : "", err != SR_OK ? why : "");
    }
    if (err != SR_OK)
        return sr_seterr(err, errstr, errstr_size, "%s", why);
    /* the state ends with its digest, which the engine has checked */
    uint64_t digest = 0;
    if (pread(s->fd, &digest, 8, (off_t)(s->limit - DIGEST_BYTES)) != 8)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "read: %s", errno_text(errno));
    c->info.state_digest = sr_le64(digest);
    return SR_OK;
}

sr_err_t sr_checkpoint_load(const char *path, const sr_engine_config_t *ecfg,
                            sr_checkpoint_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    sr_checkpoint_t *c = calloc(1, sizeof *c);
    file_source_t *s = malloc(sizeof *s);
    if (!c || !s || !(c->path = strdup(path))) {
        free(c);
        free(s);
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    c->info.path = c->path;
    sr_err_t err;
    struct stat st;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0 || fstat(s->fd, &st) != 0) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto done;
    }
    posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_64bits_reset(&s->hash);
    s->error = 0;
    c->info.file_bytes = (uint64_t)st.st_size;
    s->limit = c->info.file_bytes >= TRAILER_BYTES ? c->info.file_bytes - TRAILER_BYTES : 0;
    s->consumed = 0;
    s->pos = s->len = 0;
    char why[1024];
    err = load_file(c, s, ecfg, why, sizeof why);
    if (err != SR_OK)
        sr_seterr(err, errstr, errstr_size, "%s: %s", path, why);
done:
    if (s->fd >= 0)
        close(s->fd);
    free(s);
    if (err != SR_OK) {
        sr_checkpoint_destroy(c);
        return err;
    }
    *out = c;
    return SR_OK;
}

sr_err_t sr_checkpoint_load_latest(const sr_checkpoint_config_t *cfg,
                                   const sr_engine_config_t *ecfg, sr_checkpoint_skip_fn *skipped,
                                   void *opaque, sr_checkpoint_t **out, char *errstr,
                                   size_t errstr_size) {
    *out = NULL;
    uint64_t *seqs;
    size_t n;
    sr_err_t err = list_dir(cfg->dir, false, &seqs, &n, NULL, errstr, errstr_size);
    if (err != SR_OK)
        return err;
    size_t n_skipped = 0;
    char first_reason[1024] = "";
    for (size_t k = 0; k < n; k++) {
        char path[SR_CHECKPOINT_PATH_MAX], why[1024];
        if (!checkpoint_path(path, cfg->dir, seqs[k], NAME_SUFFIX))
            continue;
        err = sr_checkpoint_load(path, ecfg, out, why, sizeof why);
        if (err == SR_OK) {
            free(seqs);
            return SR_OK;
        }
        if (err != SR_ERR_TRUNCATED && err != SR_ERR_CORRUPT) {
            free(seqs);
            return sr_seterr(err, errstr, errstr_size, "%s", why);
        }
        if (skipped)
            skipped(opaque, path, err, why);
        if (n_skipped++ == 0)
            snprintf(first_reason, sizeof first_reason, "%s", why);
    }
    free(seqs);
    if (n_skipped > 0)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "no valid checkpoint in %s: %zu damaged (newest: %s)", cfg->dir,
                         n_skipped, first_reason);
    return SR_OK;
}

const sr_checkpoint_info_t *sr_checkpoint_info(const sr_checkpoint_t *c) { return &c->info; }

sr_engine_t *sr_checkpoint_engine(const sr_checkpoint_t *c) { return c->engine; }

sr_engine_t *sr_checkpoint_take_engine(sr_checkpoint_t *c) {
    sr_engine_t *e = c->engine;
    c->engine = NULL;
    return e;
}
