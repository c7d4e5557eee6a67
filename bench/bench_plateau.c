/* bench_plateau: does the engine's memory stop growing on a stream of
 * ever-new users and items?
 *
 * The stream: user j arrives at event j * E and makes E consecutive events
 * (--events-per-user, default 4), dt_ms apart in event time (--dt-ms,
 * default 5000), then never comes back; items are drawn from a fixed
 * catalogue (--catalogue) by a hash of (user, event), so the item side stops
 * growing early and what is left to grow is the users. With --new-item-every
 * R, every R-th event names an item never seen before ("n<j>") instead,
 * which the item ttl must evict.
 *
 * The engine alone (no Kafka, no Redis, no decoding) applies the events and
 * flushes every 1,000, as the daemon's batches do. Resident set size
 * (/proc/self/statm) is read at --samples points; the run is made twice, in
 * a forked child each so neither sees the other's memory: with the ttls
 * (--ttl-days for users, churn horizon --horizon-days, --item-ttl-days for
 * items) and with both off (0).
 *
 * Output: per run, RSS after the first half and after all events and the
 * growth between them; with --json one object per line ("result": "plateau").
 * --check exits 1 unless the ttl run evicted (users; items too with
 * --new-item-every) and grew by at most --max-growth-mib over
 * the second half while the run without ttl grew by at least 8 times that
 * bound -- the ctest smoke version (plateau_users_rss) runs it so. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "streamrec/engine.h"
#include "streamrec/intern.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define T0 (19675 * DAY_MS) /* a midnight, 2023-11-14 */
#define FLUSH_EVERY 1000
#define MAX_SAMPLES 64

typedef struct options {
    uint64_t events;
    int events_per_user;
    int64_t dt_ms;
    uint32_t catalogue;
    uint64_t new_item_every; /* 0: no new items after the catalogue */
    double ttl_days, horizon_days, item_ttl_days;
    int samples;
    double max_growth_mib;
    bool json, check;
} options_t;

typedef struct run_result {
    int64_t rss_bytes[MAX_SAMPLES + 1]; /* [0]: before the first event */
    uint64_t users_evicted, items_evicted, user_slots, item_slots, users, items;
    double seconds;
    int ok;
} run_result_t;

static int64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long long size_pages, resident_pages;
    int n = fscanf(f, "%lld %lld", &size_pages, &resident_pages);
    fclose(f);
    return n == 2 ? (int64_t)resident_pages * sysconf(_SC_PAGESIZE) : -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run(const options_t *o, double ttl_days, double item_ttl_days, run_result_t *r) {
    memset(r, 0, sizeof *r);
    sr_engine_config_t cfg;
    sr_engine_config_defaults(&cfg);
    cfg.churn.horizon_ms = (int64_t)(o->horizon_days * DAY_MS);
    cfg.churn.example_spread_ms = cfg.churn.horizon_ms;
    cfg.user_ttl_ms = (int64_t)(ttl_days * DAY_MS);
    cfg.item_ttl_ms = (int64_t)(item_ttl_days * DAY_MS);
    char errstr[256];
    sr_engine_t *e = sr_engine_new(&cfg, errstr, sizeof errstr);
    if (!e) {
        fprintf(stderr, "bench_plateau: %s\n", errstr);
        return;
    }
    const sr_outbox_t *out;
    char user[32], item[32];
    static const sr_event_type_t types[4] = {SR_EVENT_VIEW, SR_EVENT_VIEW, SR_EVENT_ADD_TO_CART,
                                             SR_EVENT_PURCHASE};
    r->rss_bytes[0] = rss_bytes();
    double start = now_s();
    int sample = 1;
    for (uint64_t j = 0; j < o->events; j++) {
        uint64_t u = j / (uint64_t)o->events_per_user;
        int step = (int)(j % (uint64_t)o->events_per_user);
        snprintf(user, sizeof user, "u%" PRIu64, u);
        if (o->new_item_every && j % o->new_item_every == 0)
            snprintf(item, sizeof item, "n%" PRIu64, j);
        else
            snprintf(item, sizeof item, "i%" PRIu64,
                     sr_hash_bytes(&j, sizeof j, 7) % (o->catalogue ? o->catalogue : 1));
        sr_event_t ev = {.user_id = sr_str_c(user),
                         .item_id = sr_str_c(item),
                         .type = types[step % 4],
                         .ts_ms = T0 + (int64_t)j * o->dt_ms};
        if (sr_engine_apply(e, &ev, errstr, sizeof errstr) != SR_OK) {
            fprintf(stderr, "bench_plateau: %s\n", errstr);
            sr_engine_destroy(e);
            return;
        }
        if ((j + 1) % FLUSH_EVERY == 0 && sr_engine_flush(e, &out) != SR_OK) {
            fprintf(stderr, "bench_plateau: flush failed\n");
            sr_engine_destroy(e);
            return;
        }
        if ((j + 1) * (uint64_t)o->samples >= (uint64_t)sample * o->events && sample <= o->samples)
            r->rss_bytes[sample++] = rss_bytes();
    }
    sr_engine_flush(e, &out);
    r->seconds = now_s() - start;
    sr_engine_stats_t st;
    sr_engine_stats(e, &st);
    r->users_evicted = st.users_evicted;
    r->items_evicted = st.items_evicted;
    r->item_slots = sr_sim_items(sr_engine_sim(e));
    r->users = st.users;
    r->items = st.items;
    r->user_slots = sr_engine_user_slots(e);
    r->ok = 1;
    sr_engine_destroy(e);
}

/* Runs one configuration in a child, so its memory is its own. */
static bool run_in_child(const options_t *o, double ttl_days, double item_ttl_days,
                         run_result_t *r) {
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        close(fds[0]);
        run_result_t mine;
        run(o, ttl_days, item_ttl_days, &mine);
        ssize_t w = write(fds[1], &mine, sizeof mine);
        _exit(w == (ssize_t)sizeof mine ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], r, sizeof *r);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return n == (ssize_t)sizeof *r && WIFEXITED(status) && WEXITSTATUS(status) == 0 && r->ok;
}

static double mib(int64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static void report(const options_t *o, double ttl_days, double item_ttl_days,
                   const run_result_t *r) {
    int half = o->samples / 2;
    double at_half = mib(r->rss_bytes[half]), at_end = mib(r->rss_bytes[o->samples]);
    double span_days = (double)o->events * (double)o->dt_ms / DAY_MS;
    if (o->json) {
        printf("{\"result\":\"plateau\",\"ttl_days\":%g,\"item_ttl_days\":%g,\"horizon_days\":%g,\"events\":%" PRIu64
               ",\"events_per_user\":%d,\"span_days\":%.1f,\"catalogue\":%u,\"new_item_every\":%" PRIu64
               ",\"rss_mib_start\":%.1f,\"rss_mib_half\":%.1f,\"rss_mib_end\":%.1f"
               ",\"growth_mib_second_half\":%.1f,\"users_evicted\":%" PRIu64
               ",\"items_evicted\":%" PRIu64 ",\"user_slots\":%" PRIu64 ",\"item_slots\":%" PRIu64
               ",\"users\":%" PRIu64 ",\"items\":%" PRIu64
               ",\"events_per_s\":%.0f,\"rss_mib\":[",
               ttl_days, item_ttl_days, o->horizon_days, o->events, o->events_per_user, span_days,
               o->catalogue, o->new_item_every, mib(r->rss_bytes[0]), at_half, at_end,
               at_end - at_half, r->users_evicted, r->items_evicted, r->user_slots, r->item_slots,
               r->users, r->items,
               (double)o->events / r->seconds);
        for (int s = 0; s <= o->samples; s++) printf("%s%.1f", s ? "," : "", mib(r->rss_bytes[s]));
        printf("]}\n");
    } else {
        printf("ttl users %g d, items %g d: RSS %.1f MiB at %" PRIu64 " events, %.1f MiB at %" PRIu64
               " (+%.1f MiB); evicted %" PRIu64 " users, %" PRIu64 " items; slots %" PRIu64
               " users, %" PRIu64 " items; %.0f events/s\n",
               ttl_days, item_ttl_days, at_half, o->events / 2, at_end, o->events,
               at_end - at_half, r->users_evicted, r->items_evicted, r->user_slots, r->item_slots,
               (double)o->events / r->seconds);
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_plateau [--events N] [--events-per-user E] [--dt-ms MS]\n"
            "                     [--catalogue N] [--new-item-every R] [--ttl-days D]\n"
            "                     [--item-ttl-days D] [--horizon-days D] [--samples S]\n"
            "                     [--max-growth-mib M]\n"
            "                     [--check] [--json]\n");
}

int main(int argc, char **argv) {
    options_t o = {.events = 4000000, .events_per_user = 4, .dt_ms = 5000, .catalogue = 20000,
                   .ttl_days = 30, .item_ttl_days = 365, .horizon_days = 14, .samples = 20, .max_growth_mib = 4};
    static const struct option longopts[] = {
        {"events", required_argument, 0, 'n'},   {"events-per-user", required_argument, 0, 'e'},
        {"dt-ms", required_argument, 0, 'd'},    {"catalogue", required_argument, 0, 'c'},
        {"new-item-every", required_argument, 0, 'r'}, {"ttl-days", required_argument, 0, 't'},
        {"horizon-days", required_argument, 0, 'h'}, {"item-ttl-days", required_argument, 0, 'i'}, {"samples", required_argument, 0, 's'},
        {"max-growth-mib", required_argument, 0, 'm'}, {"check", no_argument, 0, 'k'},
        {"json", no_argument, 0, 'j'},           {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': o.events = strtoull(optarg, NULL, 10); break;
        case 'e': o.events_per_user = atoi(optarg); break;
        case 'd': o.dt_ms = strtoll(optarg, NULL, 10); break;
        case 'c': o.catalogue = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': o.new_item_every = strtoull(optarg, NULL, 10); break;
        case 't': o.ttl_days = atof(optarg); break;
        case 'h': o.horizon_days = atof(optarg); break;
        case 'i': o.item_ttl_days = atof(optarg); break;
        case 's': o.samples = atoi(optarg); break;
        case 'm': o.max_growth_mib = atof(optarg); break;
        case 'k': o.check = true; break;
        case 'j': o.json = true; break;
        default: usage(); return 2;
        }
    }
    if (o.events < 2 || o.events_per_user < 1 || o.dt_ms < 1 || o.samples < 2 ||
        o.samples > MAX_SAMPLES || o.ttl_days <= 0 || o.item_ttl_days <= 0 || o.horizon_days <= 0) {
        usage();
        return 2;
    }
    o.samples -= o.samples % 2; /* a sample at the half */
    run_result_t with_ttl, without;
    if (!run_in_child(&o, o.ttl_days, o.item_ttl_days, &with_ttl) ||
        !run_in_child(&o, 0, 0, &without)) {
        fprintf(stderr, "bench_plateau: a run failed\n");
        return 1;
    }
    report(&o, o.ttl_days, o.item_ttl_days, &with_ttl);
    report(&o, 0, 0, &without);
    if (!o.check)
        return 0;
    int half = o.samples / 2;
    double grew = mib(with_ttl.rss_bytes[o.samples] - with_ttl.rss_bytes[half]);
    double grew_without = mib(without.rss_bytes[o.samples] - without.rss_bytes[half]);
    if (with_ttl.users_evicted == 0 || (o.new_item_every && with_ttl.items_evicted == 0) ||
        grew > o.max_growth_mib ||
        grew_without < 8 * o.max_growth_mib) {
        fprintf(stderr,
                "bench_plateau: no plateau: with ttl +%.1f MiB over the second half (bound %.1f), "
                "%" PRIu64 " users and %" PRIu64 " items evicted; without ttl +%.1f MiB (must be "
                ">= %.1f)\n",
                grew, o.max_growth_mib, with_ttl.users_evicted, with_ttl.items_evicted, grew_without,
                8 * o.max_growth_mib);
        return 1;
    }
    return 0;
}
