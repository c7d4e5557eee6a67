/* bench_daemon.h: what bench_e2e and bench_catchup, the two benchmarks that
 * drive the whole daemon in one process, share: the engine thread that runs
 * the pipeline, and the -X overrides turned into a configuration. Header
 * only, for bench programs. */
#ifndef STREAMREC_BENCH_DAEMON_H
#define STREAMREC_BENCH_DAEMON_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "app/cli.h"
#include "app/pipeline.h"
#include "streamrec/synth.h"

/* The pipeline's run on its own thread ("sr-engine", the name the CPU
 * accounting of bench_e2e groups by) until *stop. */
typedef struct bench_engine_run {
    sr_pipeline_t *pipeline;
    volatile sig_atomic_t *stop;
    sr_err_t result;
    char error[1024];
} bench_engine_run_t;

static inline void *bench_engine_main(void *arg) {
    bench_engine_run_t *r = arg;
    pthread_setname_np(pthread_self(), "sr-engine");
    r->result = sr_pipeline_run(r->pipeline, r->stop, r->error, sizeof r->error);
    return NULL;
}

/* One -X key=value; false after saying why on stderr. */
static inline bool bench_add_override(const char *prog, sr_cli_config_args_t *args,
                                      const char *kv) {
    char errstr[512];
    if (sr_cli_add_override(args, kv, errstr, sizeof errstr) == SR_OK)
        return true;
    fprintf(stderr, "%s: %s\n", prog, errstr);
    return false;
}

/* The configuration from defaults and the -X overrides, and a synthetic
 * stream made consistent (no more categories than items); false after
 * saying why on stderr. */
static inline bool bench_build_config(const char *prog, sr_cli_config_args_t *args,
                                      sr_synth_config_t *synth, sr_config_t *cfg) {
    char errstr[1024];
    if (synth->categories > synth->items)
        synth->categories = synth->items;
    if (sr_cli_build_config(cfg, args, errstr, sizeof errstr) == SR_OK)
        return true;
    fprintf(stderr, "%s: %s\n", prog, errstr);
    return false;
}

#endif
