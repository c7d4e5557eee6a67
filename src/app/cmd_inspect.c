/* streamrec inspect: what a checkpoint holds, in "name  value" lines.
 *
 * The digest line is the engine state's own digest: two checkpoints hold
 * the same state exactly when their digests are equal, whatever their
 * creation times, sequence numbers or positions say. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "streamrec/checkpoint.h"
#include "streamrec/intern.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: streamrec inspect [-c FILE] [-X key=value] CHECKPOINT [--user ID | --item ID]\n"
            "\n"
            "Prints what a checkpoint holds: its header (format, configuration fingerprint,\n"
            "creation time, the input positions it covers), counts, the watermark and the\n"
            "state digest (equal digests: equal state). CHECKPOINT is a file, or a\n"
            "directory whose newest valid checkpoint is read.\n"
            "\n"
            "  --user ID   the user's profile, MF row norm and churn state\n"
            "  --item ID   the item's neighbour list, trending weight and MF bias\n"
            "  -c, -X      the daemon's configuration: its time.lateness.ms places the\n"
            "              watermark, sim.neighbours the list length, and its fingerprint\n"
            "              must match; without them, the defaults and the checkpoint's own\n"
            "              shape (mf.k, ...) are used\n");
}

/* 2026-01-02T03:04:05.678Z */
static const char *iso_time(int64_t ms, char *buf, size_t size) {
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(buf, size, "%" PRId64 " ms", ms);
        return buf;
    }
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, ".%03dZ", frac);
    return buf;
}

static double norm(const float *v, int k) {
    double s = 0;
    for (int f = 0; f < k; f++) s += (double)v[f] * v[f];
    return sqrt(s);
}

static const char *const type_names[SR_EVENT__COUNT] = {
    "unknown", "view", "add_to_cart", "remove_from_cart", "purchase"};

static void print_header(FILE *out, const sr_checkpoint_t *c) {
    const sr_checkpoint_info_t *info = sr_checkpoint_info(c);
    const sr_engine_t *e = sr_checkpoint_engine(c);
    const sr_engine_config_t *cfg = sr_engine_config(e);
    char t[64];
    fprintf(out, "checkpoint   %s\n", info->path);
    fprintf(out, "seq          %" PRIu64 "\n", info->seq);
    fprintf(out, "format       checkpoint %" PRIu32 ", engine state %d\n", info->version,
            SR_ENGINE_STATE_VERSION);
    fprintf(out, "created      %s\n", iso_time(info->created_ms, t, sizeof t));
    fprintf(out, "bytes        %" PRIu64 " (state %" PRIu64 ")\n", info->file_bytes,
            info->state_bytes);
    fprintf(out,
            "fingerprint  %016" PRIx64 " (mf.k %d, mf.negative.pool %d, sim.half.life.ms %" PRId64
            ", trending.size %d, trending.half.life.ms %" PRId64 ")\n",
            info->fingerprint, cfg->mf.k, cfg->mf.negative_pool, cfg->sim.half_life_ms,
            cfg->trending.size, cfg->trending.half_life_ms);
    fprintf(out, "positions    %zu\n", info->n_positions);
    for (size_t p = 0; p < info->n_positions; p++)
        fprintf(out, "  %s [%" PRId32 "] next offset %" PRId64 "\n", info->positions[p].topic,
                info->positions[p].partition, info->positions[p].next_offset);
    fprintf(out, "app data     %zu bytes\n", info->app_len);

    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    size_t slots = sr_engine_user_slots(e);
    fprintf(out, "users        %zu", st.users);
    if (slots != st.users)
        fprintf(out, " (%zu ids, %zu without state)", slots, slots - st.users);
    if (st.users_evicted > 0)
        fprintf(out, ", %" PRIu64 " evicted so far", st.users_evicted);
    fprintf(out, "\nitems        %zu", st.items);
    if (st.items_evicted > 0)
        fprintf(out, " (%" PRIu64 " evicted so far)", st.items_evicted);
    fputc('\n', out);
    fprintf(out, "categories   %zu\n", sr_engine_categories(e));
    fprintf(out, "events       %" PRIu64 " (", st.events);
    for (int t2 = SR_EVENT_VIEW; t2 < SR_EVENT__COUNT; t2++)
        fprintf(out, "%s%s %" PRIu64, t2 > SR_EVENT_VIEW ? ", " : "", type_names[t2],
                st.by_type[t2]);
    fprintf(out, "; skipped %" PRIu64 ", rejected %" PRIu64 ")\n", st.by_type[SR_EVENT_UNKNOWN],
            st.rejected);
    if (st.events > 0) {
        int64_t newest_ms = st.watermark_ms + cfg->lateness_ms;
        fprintf(out, "newest event %s (%" PRId64 ")\n", iso_time(newest_ms, t, sizeof t),
                newest_ms);
        fprintf(out, "watermark    %s (%" PRId64 ", time.lateness.ms %" PRId64 ")\n",
                iso_time(st.watermark_ms, t, sizeof t), st.watermark_ms, cfg->lateness_ms);
    } else
        fprintf(out, "watermark    none (no event yet)\n");
    fprintf(out, "digest       %016" PRIx64 "\n", info->state_digest);
}

static int print_user(FILE *out, const sr_engine_t *e, const char *id) {
    uint32_t u = sr_engine_find_user(e, id, strlen(id));
    const sr_profile_t *p = u == SR_INTERN_NONE ? NULL : sr_engine_profile(e, u);
    if (!p) {
        fprintf(stderr, "streamrec inspect: no user '%s' in the checkpoint\n", id);
        return 1;
    }
    const sr_engine_config_t *cfg = sr_engine_config(e);
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    char t[64];
    fprintf(out, "\nuser         %s (dense id %" PRIu32 ")\n", id, u);
    if (p->events == 0) {
        fprintf(out, "state        none (given up or never had any)\n");
        return 0;
    }
    fprintf(out, "user events  %" PRIu32 " (", p->events);
    for (int t2 = SR_EVENT_VIEW; t2 < SR_EVENT__COUNT; t2++)
        fprintf(out, "%s%s %u", t2 > SR_EVENT_VIEW ? ", " : "", type_names[t2], p->counts[t2]);
    fprintf(out, ")\n");
    fprintf(out, "first seen   %s\n", iso_time((int64_t)p->first_seen_s * 1000, t, sizeof t));
    fprintf(out, "last seen    %s\n", iso_time(p->last_seen_ms, t, sizeof t));
    fprintf(out, "sessions     %" PRIu32 " (%.1f s in all)\n", p->sessions,
            (double)p->session_seconds);
    fprintf(out, "spend        %.2f\n", (double)p->spend);
    /* a state restored from the changelog before any event has no
     * watermark yet: the user's own last event is the latest time known */
    bool no_watermark = st.watermark_ms == INT64_MIN;
    int64_t at_ms = no_watermark ? p->last_seen_ms : st.watermark_ms;
    fprintf(out, "activity     ");
    for (int h = 0; h < SR_PROFILE_HALF_LIVES; h++)
        fprintf(out, "%shalf-life %.3g d: %.4f", h ? ", " : "",
                (double)cfg->profile.half_life_ms[h] / 86400000.0,
                (double)sr_profile_activity(p, &cfg->profile, h, at_ms));
    fprintf(out, " (at %s)\n", no_watermark ? "the user's last event" : "the watermark");
    fprintf(out, "top categories");
    bool any = false;
    for (int c = 0; c < SR_PROFILE_TOP_CATEGORIES; c++)
        if (p->category[c] != SR_PROFILE_NONE) {
            fprintf(out, " %s %.4f", sr_engine_category_id(e, p->category[c]),
                    (double)p->category_score[c]);
            any = true;
        }
    fprintf(out, "%s\n", any ? "" : " none");
    uint32_t items[SR_PROFILE_RECENT_MAX], ts_s[SR_PROFILE_RECENT_MAX];
    size_t n = sr_profile_recent(p, items, ts_s, SR_PROFILE_RECENT_MAX);
    fprintf(out, "recent       %zu, newest first\n", n);
    for (size_t k = 0; k < n; k++)
        fprintf(out, "  %s %s\n", sr_engine_item_id(e, items[k]),
                iso_time((int64_t)ts_s[k] * 1000, t, sizeof t));
    fprintf(out, "purchased   ");
    for (int k = 0; k < p->purchased_len; k++)
        fprintf(out, " %s", sr_engine_item_id(e, p->purchased[k]));
    fprintf(out, "%s\n", p->purchased_len ? "" : " none");
    const sr_mf_t *mf = sr_engine_mf(e);
    fprintf(out, "mf norm      %.6f\n", norm(sr_mf_user_row(mf, u), sr_mf_k(mf)));
    sr_churn_user_info_t ci;
    sr_churn_user_info(sr_engine_churn(e), u, &ci);
    if (ci.risk < 0)
        fprintf(out, "churn risk   not scored yet\n");
    else
        fprintf(out, "churn risk   %.4f\n", (double)ci.risk);
    if (ci.firing)
        fprintf(out, "churn alert  FIRING since %s\n",
                iso_time((int64_t)ci.fired_s * 1000, t, sizeof t));
    else
        fprintf(out, "churn alert  none\n");
    if (ci.pending)
        fprintf(out, "churn label  pending since %s (predicted %.4f); %" PRIu32 " resolved\n",
                iso_time(ci.pending_ms, t, sizeof t), (double)ci.pending_p, ci.examples);
    else
        fprintf(out, "churn label  none pending; %" PRIu32 " resolved\n", ci.examples);
    return 0;
}

static int print_item(FILE *out, const sr_engine_t *e, const char *id) {
    uint32_t i = sr_engine_find_item(e, id, strlen(id));
    if (i == SR_INTERN_NONE) {
        fprintf(stderr, "streamrec inspect: no item '%s' in the checkpoint\n", id);
        return 1;
    }
    const sr_engine_config_t *cfg = sr_engine_config(e);
    const sr_mf_t *mf = sr_engine_mf(e);
    const sr_trending_t *tr = sr_engine_trending(e);
    fprintf(out, "\nitem         %s (dense id %" PRIu32 ")\n", id, i);
    fprintf(out, "count        %.4f (decayed events, similarity clock)\n",
            sr_sim_count(sr_engine_sim(e), i));
    sr_neighbour_t top[SR_TRENDING_MAX];
    size_t n_top = sr_trending_top(tr, top, SR_TRENDING_MAX);
    size_t rank = 0;
    for (size_t k = 0; k < n_top && !rank; k++)
        if (top[k].item == i)
            rank = k + 1;
    fprintf(out, "trending     %.4f", sr_trending_count(tr, i));
    if (rank)
        fprintf(out, " (rank %zu of %zu)\n", rank, n_top);
    else
        fprintf(out, " (not in the top %zu)\n", n_top);
    fprintf(out, "mf bias      %.6f\n", (double)sr_mf_item_bias(mf, i));
    fprintf(out, "mf norm      %.6f\n", norm(sr_mf_item_row(mf, i), sr_mf_k(mf)));
    sr_neighbour_t nb[SR_SIM_SLOTS];
    size_t n = sr_sim_neighbours(sr_engine_sim(e), i, nb, (size_t)cfg->sim_neighbours);
    fprintf(out, "neighbours   %zu\n", n);
    for (size_t k = 0; k < n; k++)
        fprintf(out, "  %s %.6f\n", sr_engine_item_id(e, nb[k].item), (double)nb[k].score);
    return 0;
}

static void report_skip(void *opaque, const char *path, sr_err_t err, const char *reason) {
    (void)opaque;
    (void)path;
    fprintf(stderr, "streamrec inspect: skipped a %s checkpoint: %s\n",
            err == SR_ERR_TRUNCATED ? "truncated" : "damaged", reason);
}

int sr_cmd_inspect(int argc, char **argv) {
    static const struct option options[] = {
        {"user", required_argument, NULL, 'u'},
        {"item", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *item = NULL;
    sr_cli_config_args_t conf_args = {0};
    char errstr[2048];
    int opt;
    optind = 0; /* may run more than once in a process (tests) */
    while ((opt = getopt_long(argc, argv, "c:X:h", options, NULL)) != -1) {
        switch (opt) {
        case 'u': user = optarg; break;
        case 'i': item = optarg; break;
        case 'c': conf_args.config_path = optarg; break;
        case 'X':
            if (sr_cli_add_override(&conf_args, optarg, errstr, sizeof errstr) != SR_OK) {
                fprintf(stderr, "streamrec inspect: %s\n", errstr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || (user && item)) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    sr_config_t config;
    const sr_engine_config_t *ecfg = NULL;
    if (conf_args.config_path || conf_args.n_overrides > 0) {
        if (sr_cli_build_config(&config, &conf_args, errstr, sizeof errstr) != SR_OK) {
            fprintf(stderr, "streamrec inspect: %s\n", errstr);
            return 2;
        }
        ecfg = &config.engine;
    }
    sr_checkpoint_t *c = NULL;
    sr_err_t err;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        sr_checkpoint_config_t cfg;
        sr_checkpoint_config_defaults(&cfg);
        cfg.dir = path;
        err = sr_checkpoint_load_latest(&cfg, ecfg, report_skip, NULL, &c, errstr, sizeof errstr);
        if (err == SR_OK && !c) {
            fprintf(stderr, "streamrec inspect: no checkpoint in %s\n", path);
            if (ecfg)
                sr_config_free(&config);
            return 1;
        }
    } else {
        err = sr_checkpoint_load(path, ecfg, &c, errstr, sizeof errstr);
    }
    if (ecfg)
        sr_config_free(&config);
    if (err != SR_OK) {
        fprintf(stderr, "streamrec inspect: %s\n", errstr);
        return 1;
    }
    print_header(stdout, c);
    int rc = 0;
    if (user)
        rc = print_user(stdout, sr_checkpoint_engine(c), user);
    else if (item)
        rc = print_item(stdout, sr_checkpoint_engine(c), item);
    fflush(stdout);
    sr_checkpoint_destroy(c);
    return rc;
}
