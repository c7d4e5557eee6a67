#include "streamrec/redis_sink.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "streamrec/float_text.h"

/* Lua numbers are doubles: integers up to 2^53 compare exactly. */
#define GUARD_MAX ((int64_t)1 << 53)

/* ZADD arguments per call inside the scripts: unpack() pushes every value on
 * the Lua C stack, whose limit (LUAI_MAXCSTACK, 8000) a long list would hit. */
#define ZADD_CHUNK "400"

/* ---- scripts -------------------------------------------------------------
 *
 * Each write is one script so that it is atomic and guarded in one round
 * trip. The argument layout is fixed by the put functions below. */

/* KEYS[1] reco:{u}  KEYS[2] reco:{u}:meta
 * ARGV[1] ttl_s  [2] event_ts_ms  [3] seq  [4] model_version  [5] updated_ms
 * ARGV[6..] score, item pairs (ZADD order). Returns 1 written, 0 stale.
 * The unguarded script is the body alone. */
#define RECO_ZSET_GUARD \
    "local ts, seq = tonumber(ARGV[2]), tonumber(ARGV[3])\n" \
    "local old = redis.call('HMGET', KEYS[2], 'event_ts_ms', 'seq')\n" \
    "local old_ts, old_seq = tonumber(old[1]), tonumber(old[2])\n" \
    "if old_ts and old_seq and (old_ts > ts or (old_ts == ts and old_seq >= seq)) then\n" \
    "  return 0\n" \
    "end\n"
#define RECO_ZSET_BODY \
    "redis.call('DEL', KEYS[1])\n" \
    "for i = 6, #ARGV, " ZADD_CHUNK " do\n" \
    "  redis.call('ZADD', KEYS[1], unpack(ARGV, i, math.min(i + " ZADD_CHUNK " - 1, #ARGV)))\n" \
    "end\n" \
    "redis.call('HSET', KEYS[2], 'model_version', ARGV[4], 'event_ts_ms', ARGV[2],\n" \
    "           'updated_ms', ARGV[5], 'seq', ARGV[3])\n" \
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n" \
    "redis.call('EXPIRE', KEYS[2], ARGV[1])\n" \
    "return 1\n"
static const char RECO_ZSET_SCRIPT[] = RECO_ZSET_GUARD RECO_ZSET_BODY;
static const char RECO_ZSET_UNGUARDED_SCRIPT[] = RECO_ZSET_BODY;

/* KEYS[1] reco:{u}
 * ARGV[1] ttl_s  [2] event_ts_ms  [3] seq  [4] the JSON document.
 * The stored guard is read from the document's fixed opening
 * {"event_ts_ms":N,"seq":N, -- 80 bytes hold it for any 2^53 values -- so
 * the script never decodes JSON. A key of another type (left by the zset
 * format) makes GETRANGE fail: pcall turns that into "no guard", and SET
 * replaces the key whatever its type. Returns 1 written, 0 stale. */
static const char RECO_JSON_SCRIPT[] =
    "local head = redis.pcall('GETRANGE', KEYS[1], 0, 79)\n"
    "if type(head) == 'string' then\n"
    "  local old_ts, old_seq = string.match(head, '^{\"event_ts_ms\":(%d+),\"seq\":(%d+),')\n"
    "  if old_ts then\n"
    "    old_ts, old_seq = tonumber(old_ts), tonumber(old_seq)\n"
    "    local ts, seq = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "    if old_ts > ts or (old_ts == ts and old_seq >= seq) then\n"
    "      return 0\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[1])\n"
    "return 1\n";

/* KEYS[1] sim:{i}
 * ARGV[1] ttl_s  ARGV[2..] score, item pairs. Unguarded (see the header). */
static const char SIM_SCRIPT[] =
    "redis.call('DEL', KEYS[1])\n"
    "for i = 2, #ARGV, " ZADD_CHUNK " do\n"
    "  redis.call('ZADD', KEYS[1], unpack(ARGV, i, math.min(i + " ZADD_CHUNK " - 1, #ARGV)))\n"
    "end\n"
    "if #ARGV > 1 then\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "end\n"
    "return 1\n";

/* KEYS[1] churn:{u}
 * ARGV[1] ttl_s  [2] p  [3] level  [4] ts_ms. Ties go to the later write. */
static const char CHURN_SCRIPT[] =
    "local old = tonumber(redis.call('HGET', KEYS[1], 'ts_ms'))\n"
    "if old and old > tonumber(ARGV[4]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'p', ARGV[2], 'level', ARGV[3], 'ts_ms', ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "return 1\n";

typedef enum {
    SCRIPT_RECO_ZSET,
    SCRIPT_RECO_ZSET_UNGUARDED,
    SCRIPT_RECO_JSON,
    SCRIPT_SIM,
    SCRIPT_CHURN,
    SCRIPT__COUNT
} script_t;

static const char *const script_source[SCRIPT__COUNT] = {
    [SCRIPT_RECO_ZSET] = RECO_ZSET_SCRIPT,
    [SCRIPT_RECO_ZSET_UNGUARDED] = RECO_ZSET_UNGUARDED_SCRIPT,
    [SCRIPT_RECO_JSON] = RECO_JSON_SCRIPT,
    [SCRIPT_SIM] = SIM_SCRIPT,
    [SCRIPT_CHURN] = CHURN_SCRIPT,
};

#define SHA_LEN 40

/* One write of the batch: where its key sits inside the protocol buffer, so
 * an error reply can name the key. */
typedef struct pending_write {
    size_t key_off;
    size_t key_len;
} pending_write_t;

#define HOST_MAX 256

struct sr_redis_sink {
    sr_redis_sink_config_t cfg;
    char host[HOST_MAX];
    redisContext *ctx;
    /* SHA1 of each script. A script's SHA is a function of its text, so the
     * protocol already in a batch stays valid across reconnects. */
    char sha[SCRIPT__COUNT][SHA_LEN + 1];

    /* The batch: Redis protocol (RESP) ready to send, and one entry per write. */
    char *resp;
    size_t resp_len, resp_cap;
    pending_write_t *writes;
    size_t n_writes, writes_cap;
    /* Scratch for the JSON document of one reco write. */
    char *json;
    size_t json_cap;

    sr_redis_sink_stats_t stats;
};

/* ---- configuration ------------------------------------------------------ */

void sr_redis_sink_config_init(sr_redis_sink_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 6379;
    cfg->db = 0;
    cfg->key_ttl_s = 7 * 24 * 3600;
    cfg->reco_format = SR_REDIS_RECO_JSON; /* measured: see redis_sink.h */
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 5000;
}

sr_err_t sr_redis_reco_format_parse(const char *name, sr_redis_reco_format_t *out,
                                    char *errstr, size_t errstr_size) {
    if (name && strcmp(name, "zset") == 0) {
        *out = SR_REDIS_RECO_ZSET;
        return SR_OK;
    }
    if (name && strcmp(name, "json") == 0) {
        *out = SR_REDIS_RECO_JSON;
        return SR_OK;
    }
    return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                     "redis.reco.format '%s': expected zset or json", name ? name : "(null)");
}

/* Parses a decimal in [min, max] from s[0..len); false if empty, not all
 * digits, or out of range. */
static bool parse_bounded_int(const char *s, size_t len, long min, long max, long *out) {
    if (len == 0 || len > 10)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

sr_err_t sr_redis_parse_url(const char *url, char *host, size_t host_size, int *port,
                            int *db, char *errstr, size_t errstr_size) {
    static const char scheme[] = "redis://";
    if (!url || !host || host_size == 0 || !port || !db)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "sr_redis_parse_url: NULL argument");
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        const char *hint = strncmp(url, "rediss://", 9) == 0 ? " (TLS is not supported)"
                           : strncmp(url, "unix://", 7) == 0 ? " (unix sockets are not supported)"
                                                             : "";
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "redis.url '%s': expected redis://host[:port][/db]%s", url, hint);
    }
    const char *p = url + sizeof scheme - 1;
    const char *end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "redis.url '%s': user and password are not supported", url);

    const char *host_start = p, *host_end, *port_start = NULL;
    if (*p == '[') {
        host_start = p + 1;
        host_end = memchr(host_start, ']', (size_t)(end - host_start));
        if (!host_end)
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "redis.url '%s': '[' without ']'", url);
        if (host_end + 1 < end) {
            if (host_end[1] != ':')
                return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                                 "redis.url '%s': expected ':port' after ']'", url);
            port_start = host_end + 2;
        }
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (host_end)
            port_start = host_end + 1;
        else
            host_end = end;
    }
    size_t host_len = (size_t)(host_end - host_start);
    if (host_len == 0)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "redis.url '%s': empty host", url);
    if (host_len >= host_size)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "redis.url '%s': host longer than %zu bytes", url, host_size - 1);

    long port_value = 6379, db_value = 0;
    if (port_start &&
        !parse_bounded_int(port_start, (size_t)(end - port_start), 1, 65535, &port_value))
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "redis.url '%s': port '%.*s' is not a number in 1..65535", url,
                         (int)(end - port_start), port_start);
    if (*end == '?' || *end == '#')
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                         "redis.url '%s': unexpected '%s'", url, end);
    if (*end == '/') {
        const char *db_start = end + 1;
        size_t db_len = strlen(db_start);
        if (db_len > 0 && !parse_bounded_int(db_start, db_len, 0, INT_MAX, &db_value))
            return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                             "redis.url '%s': db '%s' is not a non-negative number", url,
                             db_start);
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    *port = (int)port_value;
    *db = (int)db_value;
    return SR_OK;
}

/* ---- SIGPIPE ------------------------------------------------------------
 *
 * hiredis writes with write(2): a server that went away turns the next write
 * into SIGPIPE, which by default kills the process. Blocking it in this
 * thread for the duration of our I/O and then swallowing the one we caused
 * leaves the application's disposition alone. */

typedef struct sigpipe_guard {
    sigset_t old_mask;
    bool was_pending;
} sigpipe_guard_t;

static void sigpipe_block(sigpipe_guard_t *g) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old_mask);
}

static void sigpipe_unblock(const sigpipe_guard_t *g) {
    if (!g->was_pending) {
        sigset_t pipe_set, pending;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
            const struct timespec zero = {0, 0};
            while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
}

/* ---- connection --------------------------------------------------------- */

static struct timeval ms_to_timeval(int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void drop_connection(sr_redis_sink_t *sink) {
    if (sink->ctx) {
        redisFree(sink->ctx);
        sink->ctx = NULL;
    }
}

/* Runs one command synchronously (no replies pending); its reply must be of `type`.
 * *reply_out (may be NULL) gets the reply, freed by the caller. */
static sr_err_t connect_command(sr_redis_sink_t *sink, int type, redisReply **reply_out,
                                char *errstr, size_t errstr_size, const char *what,
                                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(sink->ctx, fmt, ap);
    va_end(ap);
    if (!r)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: %s failed (%s)",
                         sink->host, sink->cfg.port, what, sink->ctx->errstr);
    if (r->type != type) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: %s failed: %s", sink->host,
                  sink->cfg.port, what,
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
        freeReplyObject(r);
        return SR_ERR_IO;
    }
    if (reply_out)
        *reply_out = r;
    else
        freeReplyObject(r);
    return SR_OK;
}

static sr_err_t load_scripts(sr_redis_sink_t *sink, char *errstr, size_t errstr_size) {
    for (int i = 0; i < SCRIPT__COUNT; i++) {
        redisReply *r = NULL;
        if (connect_command(sink, REDIS_REPLY_STRING, &r, errstr, errstr_size, "SCRIPT LOAD",
                            "SCRIPT LOAD %s", script_source[i]) != SR_OK)
            return SR_ERR_IO;
        bool ok = r->len == SHA_LEN &&
                  (sink->sha[i][0] == '\0' || memcmp(sink->sha[i], r->str, SHA_LEN) == 0);
        if (ok)
            memcpy(sink->sha[i], r->str, SHA_LEN + 1);
        freeReplyObject(r);
        /* A different SHA for the same text would make every batch already
         * built refer to a script the server does not have. */
        if (!ok)
            return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                             "Redis at %s:%d: SCRIPT LOAD returned an unexpected SHA1",
                             sink->host, sink->cfg.port);
    }
    return SR_OK;
}

static sr_err_t sink_connect(sr_redis_sink_t *sink, char *errstr, size_t errstr_size) {
    drop_connection(sink);
    sink->ctx = redisConnectWithTimeout(sink->host, sink->cfg.port,
                                        ms_to_timeval(sink->cfg.connect_timeout_ms));
    if (!sink->ctx)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory connecting to Redis");
    if (sink->ctx->err) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size,
                  "cannot connect to Redis at %s:%d (%s): start redis-server or set redis.url",
                  sink->host, sink->cfg.port, sink->ctx->errstr);
        drop_connection(sink);
        return SR_ERR_IO;
    }
    sr_err_t err = SR_OK;
    if (redisSetTimeout(sink->ctx, ms_to_timeval(sink->cfg.command_timeout_ms)) != REDIS_OK) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: cannot set timeout (%s)",
                        sink->host, sink->cfg.port, sink->ctx->errstr);
        goto fail;
    }
    /* Keepalive finds a peer that vanished without a FIN (a cut network)
     * while the sink is idle. */
    redisEnableKeepAlive(sink->ctx);
    if (sink->cfg.db != 0) {
        char what[48];
        snprintf(what, sizeof what, "SELECT %d (the /db of redis.url)", sink->cfg.db);
        err = connect_command(sink, REDIS_REPLY_STATUS, NULL, errstr, errstr_size, what,
                              "SELECT %d", sink->cfg.db);
        if (err != SR_OK)
            goto fail;
    }
    err = load_scripts(sink, errstr, errstr_size);
    if (err != SR_OK)
        goto fail;
    return SR_OK;
fail:
    drop_connection(sink);
    return err;
}

/* ---- lifecycle ---------------------------------------------------------- */

sr_redis_sink_t *sr_redis_sink_new(const sr_redis_sink_config_t *cfg,
                                   char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->host || !*cfg->host || cfg->port <= 0 || cfg->port > 65535 ||
        cfg->db < 0 || cfg->key_ttl_s < 1 || cfg->connect_timeout_ms < 1 ||
        cfg->command_timeout_ms < 1 ||
        (cfg->reco_format != SR_REDIS_RECO_ZSET && cfg->reco_format != SR_REDIS_RECO_JSON)) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "redis sink: bad configuration (host, port 1..65535, db >= 0, "
                  "ttl >= 1 s, timeouts >= 1 ms, format zset or json)");
        return NULL;
    }
    if (strlen(cfg->host) >= HOST_MAX) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "redis sink: host name too long");
        return NULL;
    }
    sr_redis_sink_t *sink = calloc(1, sizeof *sink);
    if (!sink) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    sink->cfg = *cfg;
    snprintf(sink->host, sizeof sink->host, "%s", cfg->host);
    sink->cfg.host = sink->host;

    sigpipe_guard_t guard;
    sigpipe_block(&guard);
    sr_err_t err = sink_connect(sink, errstr, errstr_size);
    sigpipe_unblock(&guard);
    if (err != SR_OK)
        goto fail;
    return sink;
fail:
    sr_redis_sink_destroy(sink);
    return NULL;
}

void sr_redis_sink_destroy(sr_redis_sink_t *sink) {
    if (!sink)
        return;
    drop_connection(sink);
    free(sink->resp);
    free(sink->writes);
    free(sink->json);
    free(sink);
}

bool sr_redis_sink_connected(const sr_redis_sink_t *sink) {
    return sink->ctx != NULL;
}

void sr_redis_sink_stats(const sr_redis_sink_t *sink, sr_redis_sink_stats_t *out) {
    *out = sink->stats;
}

void sr_redis_batch_begin(sr_redis_sink_t *sink) {
    sink->resp_len = 0;
    sink->n_writes = 0;
}

size_t sr_redis_batch_count(const sr_redis_sink_t *sink) {
    return sink->n_writes;
}

/* ---- protocol writing ----------------------------------------------------
 *
 * A put first computes an upper bound of the bytes it adds and reserves them
 * (the only step that can fail), then writes without further checks; a failed
 * put leaves the batch exactly as it was. */

/* "$" + up to 20 digits + CRLF + bytes + CRLF */
#define BULK_OVERHEAD 25
#define ARRAY_HEADER_MAX 24
#define I64_MAX_CHARS 21
#define FLOAT_MAX_CHARS 32

static bool grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return true;
    size_t new_cap = *cap ? *cap : 4096;
    while (new_cap < need)
        new_cap *= 2;
    char *p = realloc(*buf, new_cap);
    if (!p)
        return false;
    *buf = p;
    *cap = new_cap;
    return true;
}

static sr_err_t reserve_write(sr_redis_sink_t *sink, size_t resp_bytes) {
    if (!grow(&sink->resp, &sink->resp_cap, sink->resp_len + resp_bytes))
        return SR_ERR_NOMEM;
    if (sink->n_writes == sink->writes_cap) {
        size_t cap = sink->writes_cap ? sink->writes_cap * 2 : 256;
        pending_write_t *w = realloc(sink->writes, cap * sizeof *w);
        if (!w)
            return SR_ERR_NOMEM;
        sink->writes = w;
        sink->writes_cap = cap;
    }
    return SR_OK;
}

static size_t fmt_i64(char *out, int64_t v) {
    if (v < 0) {
        out[0] = '-';
        return 1 + sr_u64_text(out + 1, (uint64_t)0 - (uint64_t)v);
    }
    return sr_u64_text(out, (uint64_t)v);
}

/* The shortest of 15 or 17 digits that reads back as v: a probability is
 * read by people in redis-cli, and 0.8 should not show as 0.80000000000000004. */
static size_t fmt_double(char *out, double v) {
    int n = snprintf(out, FLOAT_MAX_CHARS, "%.15g", v);
    if (strtod(out, NULL) != v)
        n = snprintf(out, FLOAT_MAX_CHARS, "%.17g", v);
    return (size_t)n;
}

static char *put_array_header(char *p, size_t n) {
    *p++ = '*';
    p += sr_u64_text(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static char *put_bulk(char *p, const char *s, size_t len) {
    *p++ = '$';
    p += sr_u64_text(p, len);
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, s, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static char *put_bulk_i64(char *p, int64_t v) {
    char num[I64_MAX_CHARS];
    return put_bulk(p, num, fmt_i64(num, v));
}

static char *put_bulk_float(char *p, float v) {
    char num[FLOAT_MAX_CHARS];
    return put_bulk(p, num, sr_float_text(num, v));
}

/* prefix + "{" + id + "}" + suffix as one bulk string; *key_off gets the
 * offset of the key's first byte from base. */
static char *put_key(char *p, const char *base, size_t *key_off, const char *prefix,
                     const char *id, size_t id_len, const char *suffix) {
    size_t prefix_len = strlen(prefix), suffix_len = strlen(suffix);
    size_t len = prefix_len + 1 + id_len + 1 + suffix_len;
    *p++ = '$';
    p += sr_u64_text(p, len);
    *p++ = '\r';
    *p++ = '\n';
    if (key_off)
        *key_off = (size_t)(p - base);
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
    *p++ = '{';
    memcpy(p, id, id_len);
    p += id_len;
    *p++ = '}';
    memcpy(p, suffix, suffix_len);
    p += suffix_len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static char *put_evalsha(char *p, const sr_redis_sink_t *sink, script_t script, size_t argc,
                         int n_keys) {
    p = put_array_header(p, argc);
    p = put_bulk(p, "EVALSHA", 7);
    p = put_bulk(p, sink->sha[script], SHA_LEN);
    return put_bulk_i64(p, n_keys);
}

static void finish_write(sr_redis_sink_t *sink, char *end, size_t key_off, size_t key_len) {
    sink->resp_len = (size_t)(end - sink->resp);
    sink->writes[sink->n_writes].key_off = key_off;
    sink->writes[sink->n_writes].key_len = key_len;
    sink->n_writes++;
}

/* ---- validation and JSON ------------------------------------------------ */

static bool valid_id(const char *id) {
    return id && id[0];
}

static bool valid_guard(int64_t v) {
    return v >= 0 && v <= GUARD_MAX;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        }
        i += n + 1;
    }
    return true;
}

/* Escaped form of s inside quotes: at most 6 bytes per input byte (\u00XX). */
static char *put_json_string(char *p, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *p++ = '\\'; *p++ = '"'; break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\b': *p++ = '\\'; *p++ = 'b'; break;
        case '\f': *p++ = '\\'; *p++ = 'f'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        default:
            if (c < 0x20) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[c >> 4];
                p[5] = hex[c & 0xf];
                p += 6;
            } else {
                *p++ = (char)c;
            }
        }
    }
    *p++ = '"';
    return p;
}

static char *put_json_field_i64(char *p, const char *name_with_colon, int64_t v) {
    size_t n = strlen(name_with_colon);
    memcpy(p, name_with_colon, n);
    p += n;
    return p + fmt_i64(p, v);
}

/* The JSON document of a reco write into sink->json; returns its length or
 * 0 when out of memory. The guard fields must stay first and in this order:
 * RECO_JSON_SCRIPT matches them at offset 0. */
static size_t build_reco_json(sr_redis_sink_t *sink, const char *user_id, size_t user_len,
                              const sr_scored_id_t *items, size_t n, int64_t model_version,
                              int64_t event_ts_ms, int64_t updated_ms, int64_t seq) {
    size_t bound = 192 + 6 * user_len;
    for (size_t i = 0; i < n; i++)
        bound += 6 * strlen(items[i].item_id) + 32 + FLOAT_MAX_CHARS;
    if (!grow(&sink->json, &sink->json_cap, bound))
        return 0;
    char *p = sink->json;
    p = put_json_field_i64(p, "{\"event_ts_ms\":", event_ts_ms);
    p = put_json_field_i64(p, ",\"seq\":", seq);
    p = put_json_field_i64(p, ",\"model_version\":", model_version);
    p = put_json_field_i64(p, ",\"updated_ms\":", updated_ms);
    memcpy(p, ",\"user_id\":", 11);
    p = put_json_string(p + 11, user_id, user_len);
    memcpy(p, ",\"items\":[", 10);
    p += 10;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, "{\"item_id\":", 11);
        p = put_json_string(p + 11, items[i].item_id, strlen(items[i].item_id));
        memcpy(p, ",\"score\":", 9);
        p += 9;
        p += sr_float_text(p, items[i].score);
        *p++ = '}';
    }
    *p++ = ']';
    *p++ = '}';
    return (size_t)(p - sink->json);
}

/* Checks a scored list; total_id_bytes gets the sum of the ids' lengths. */
static bool valid_scored(const sr_scored_id_t *items, size_t n, bool need_utf8,
                         size_t *total_id_bytes) {
    if (n > 0 && !items)
        return false;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!valid_id(items[i].item_id) || !isfinite(items[i].score))
            return false;
        size_t len = strlen(items[i].item_id);
        if (need_utf8 && !valid_utf8((const unsigned char *)items[i].item_id, len))
            return false;
        total += len;
    }
    *total_id_bytes = total;
    return true;
}

/* ---- puts --------------------------------------------------------------- */

static sr_err_t put_reco(sr_redis_sink_t *sink, const char *user_id, const sr_scored_id_t *items,
                         size_t n, int64_t model_version, int64_t event_ts_ms,
                         int64_t updated_ms, int64_t seq, bool guarded) {
    bool json = sink->cfg.reco_format == SR_REDIS_RECO_JSON;
    size_t id_bytes = 0;
    if (!valid_id(user_id) || !valid_guard(event_ts_ms) || !valid_guard(seq) ||
        !valid_scored(items, n, json, &id_bytes))
        return SR_ERR_INVALID;
    size_t user_len = strlen(user_id);
    if (json && !valid_utf8((const unsigned char *)user_id, user_len))
        return SR_ERR_INVALID;

    size_t key_off = 0, key_len = strlen("reco:{}") + user_len;
    char *p;
    if (json) {
        size_t json_len = build_reco_json(sink, user_id, user_len, items, n, model_version,
                                          event_ts_ms, updated_ms, seq);
        if (json_len == 0 ||
            reserve_write(sink, ARRAY_HEADER_MAX + 8 * BULK_OVERHEAD + SHA_LEN + 7 +
                                    key_len + 3 * I64_MAX_CHARS + json_len) != SR_OK)
            return SR_ERR_NOMEM;
        p = sink->resp + sink->resp_len;
        if (guarded) {
            p = put_evalsha(p, sink, SCRIPT_RECO_JSON, 8, 1);
            p = put_key(p, sink->resp, &key_off, "reco:", user_id, user_len, "");
            p = put_bulk_i64(p, sink->cfg.key_ttl_s);
            p = put_bulk_i64(p, event_ts_ms);
            p = put_bulk_i64(p, seq);
            p = put_bulk(p, sink->json, json_len);
        } else {
            p = put_array_header(p, 5);
            p = put_bulk(p, "SET", 3);
            p = put_key(p, sink->resp, &key_off, "reco:", user_id, user_len, "");
            p = put_bulk(p, sink->json, json_len);
            p = put_bulk(p, "EX", 2);
            p = put_bulk_i64(p, sink->cfg.key_ttl_s);
        }
    } else {
        size_t argc = 10 + 2 * n;
        if (reserve_write(sink, ARRAY_HEADER_MAX + argc * BULK_OVERHEAD + SHA_LEN + 7 +
                                    2 * key_len + 5 + 5 * I64_MAX_CHARS + id_bytes +
                                    n * FLOAT_MAX_CHARS) != SR_OK)
            return SR_ERR_NOMEM;
        p = sink->resp + sink->resp_len;
        p = put_evalsha(p, sink, guarded ? SCRIPT_RECO_ZSET : SCRIPT_RECO_ZSET_UNGUARDED, argc, 2);
        p = put_key(p, sink->resp, &key_off, "reco:", user_id, user_len, "");
        p = put_key(p, sink->resp, NULL, "reco:", user_id, user_len, ":meta");
        p = put_bulk_i64(p, sink->cfg.key_ttl_s);
        p = put_bulk_i64(p, event_ts_ms);
        p = put_bulk_i64(p, seq);
        p = put_bulk_i64(p, model_version);
        p = put_bulk_i64(p, updated_ms);
        for (size_t i = 0; i < n; i++) {
            p = put_bulk_float(p, items[i].score);
            p = put_bulk(p, items[i].item_id, strlen(items[i].item_id));
        }
    }
    finish_write(sink, p, key_off, key_len);
    return SR_OK;
}

sr_err_t sr_redis_put_reco(sr_redis_sink_t *sink, const char *user_id,
                           const sr_scored_id_t *items, size_t n, int64_t model_version,
                           int64_t event_ts_ms, int64_t updated_ms, int64_t seq) {
    return put_reco(sink, user_id, items, n, model_version, event_ts_ms, updated_ms, seq, true);
}

sr_err_t sr_redis_put_reco_unguarded(sr_redis_sink_t *sink, const char *user_id,
                                     const sr_scored_id_t *items, size_t n,
                                     int64_t model_version, int64_t event_ts_ms,
                                     int64_t updated_ms, int64_t seq) {
    return put_reco(sink, user_id, items, n, model_version, event_ts_ms, updated_ms, seq, false);
}

sr_err_t sr_redis_put_sim(sr_redis_sink_t *sink, const char *item_id,
                          const sr_scored_id_t *neighbours, size_t n) {
    size_t id_bytes = 0;
    if (!valid_id(item_id) || !valid_scored(neighbours, n, false, &id_bytes))
        return SR_ERR_INVALID;
    size_t item_len = strlen(item_id);
    size_t key_off = 0, key_len = strlen("sim:{}") + item_len;
    size_t argc = 5 + 2 * n;
    if (reserve_write(sink, ARRAY_HEADER_MAX + argc * BULK_OVERHEAD + SHA_LEN + 7 + key_len +
                                2 * I64_MAX_CHARS + id_bytes + n * FLOAT_MAX_CHARS) != SR_OK)
        return SR_ERR_NOMEM;
    char *p = sink->resp + sink->resp_len;
    p = put_evalsha(p, sink, SCRIPT_SIM, argc, 1);
    p = put_key(p, sink->resp, &key_off, "sim:", item_id, item_len, "");
    p = put_bulk_i64(p, sink->cfg.key_ttl_s);
    for (size_t i = 0; i < n; i++) {
        p = put_bulk_float(p, neighbours[i].score);
        p = put_bulk(p, neighbours[i].item_id, strlen(neighbours[i].item_id));
    }
    finish_write(sink, p, key_off, key_len);
    return SR_OK;
}

sr_err_t sr_redis_put_churn(sr_redis_sink_t *sink, const char *user_id, double p,
                            const char *level, int64_t ts_ms) {
    if (!valid_id(user_id) || !(p >= 0.0 && p <= 1.0) || !valid_id(level) ||
        !valid_guard(ts_ms))
        return SR_ERR_INVALID;
    size_t user_len = strlen(user_id), level_len = strlen(level);
    size_t key_off = 0, key_len = strlen("churn:{}") + user_len;
    if (reserve_write(sink, ARRAY_HEADER_MAX + 8 * BULK_OVERHEAD + SHA_LEN + 7 + key_len +
                                3 * I64_MAX_CHARS + FLOAT_MAX_CHARS + level_len) != SR_OK)
        return SR_ERR_NOMEM;
    char num[FLOAT_MAX_CHARS];
    char *w = sink->resp + sink->resp_len;
    w = put_evalsha(w, sink, SCRIPT_CHURN, 8, 1);
    w = put_key(w, sink->resp, &key_off, "churn:", user_id, user_len, "");
    w = put_bulk_i64(w, sink->cfg.key_ttl_s);
    w = put_bulk(w, num, fmt_double(num, p));
    w = put_bulk(w, level, level_len);
    w = put_bulk_i64(w, ts_ms);
    finish_write(sink, w, key_off, key_len);
    return SR_OK;
}

/* ---- commit ------------------------------------------------------------- */

/* A key for a message: printable ASCII only, at most 64 bytes. */
static void printable_key(const sr_redis_sink_t *sink, const pending_write_t *w, char *out,
                          size_t out_size) {
    size_t n = w->key_len < 64 ? w->key_len : 64;
    if (n >= out_size)
        n = out_size - 1;
    const char *key = sink->resp + w->key_off;
    for (size_t i = 0; i < n; i++)
        out[i] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
    out[n] = '\0';
}

typedef struct commit_result {
    size_t applied, stale, noscript, refused;
} commit_result_t;

/* One pipelined round: append the whole batch, read one reply per write.
 * SR_ERR_IO on a connection error (the connection is dropped) or on error
 * replies other than NOSCRIPT (counted in res->noscript for the caller). */
static sr_err_t send_batch(sr_redis_sink_t *sink, commit_result_t *res, char *errstr,
                           size_t errstr_size) {
    memset(res, 0, sizeof *res);
    char first_error[256] = "";
    redisContext *c = sink->ctx;
    if (redisAppendFormattedCommand(c, sink->resp, sink->resp_len) != REDIS_OK) {
        drop_connection(sink);
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size,
                         "Redis at %s:%d: out of memory queueing %zu writes", sink->host,
                         sink->cfg.port, sink->n_writes);
    }
    for (size_t i = 0; i < sink->n_writes; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            sr_seterr(SR_ERR_IO, errstr, errstr_size,
                      "Redis at %s:%d: connection lost after %zu of %zu writes were "
                      "answered (%s); will reconnect on the next commit",
                      sink->host, sink->cfg.port, i, sink->n_writes,
                      c->errstr[0] ? c->errstr : "no reply");
            drop_connection(sink);
            return SR_ERR_IO;
        }
        if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
            res->applied++; /* an unguarded SET */
        } else if (r->type == REDIS_REPLY_INTEGER) {
            if (r->integer)
                res->applied++;
            else
                res->stale++;
        } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            res->noscript++;
        } else {
            if (res->refused++ == 0) {
                char key[72];
                printable_key(sink, &sink->writes[i], key, sizeof key);
                snprintf(first_error, sizeof first_error, "%s: %s", key,
                         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
            }
        }
        freeReplyObject(r);
    }
    if (res->refused)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                         "Redis at %s:%d refused %zu of %zu writes; first: %s", sink->host,
                         sink->cfg.port, res->refused, sink->n_writes, first_error);
    return SR_OK;
}

sr_err_t sr_redis_batch_commit(sr_redis_sink_t *sink, char *errstr, size_t errstr_size) {
    sigpipe_guard_t guard;
    sigpipe_block(&guard);
    sr_err_t err = SR_OK;
    commit_result_t res = {0};
    if (!sink->ctx) {
        err = sink_connect(sink, errstr, errstr_size);
        if (err != SR_OK)
            goto done;
        sink->stats.reconnects++;
    }
    if (sink->n_writes == 0)
        goto done;
    err = send_batch(sink, &res, errstr, errstr_size);
    if (err == SR_OK && res.noscript) {
        /* The server lost the scripts (SCRIPT FLUSH, a failover to a replica
         * that never saw SCRIPT LOAD). Load them and resend the whole batch:
         * the writes that did run are idempotent (header: batches and
         * retries). */
        err = load_scripts(sink, errstr, errstr_size);
        if (err != SR_OK) {
            drop_connection(sink);
            goto done;
        }
        sink->stats.script_reloads++;
        err = send_batch(sink, &res, errstr, errstr_size);
        if (err == SR_OK && res.noscript)
            err = sr_seterr(SR_ERR_IO, errstr, errstr_size,
                            "Redis at %s:%d: NOSCRIPT again right after SCRIPT LOAD "
                            "(%zu writes)", sink->host, sink->cfg.port, res.noscript);
    }
done:
    sigpipe_unblock(&guard);
    if (err != SR_OK) {
        sink->stats.commits_failed++;
        return err;
    }
    sink->stats.commits_ok++;
    sink->stats.writes_applied += res.applied;
    sink->stats.writes_stale += res.stale;
    sr_redis_batch_begin(sink);
    return SR_OK;
}
