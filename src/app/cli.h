/* streamrec command-line helpers shared by the subcommands. */
#ifndef STREAMREC_APP_CLI_H
#define STREAMREC_APP_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "streamrec/config.h"

#define SR_CLI_MAX_OVERRIDES 128

/* The configuration sources a subcommand collected from its arguments. */
typedef struct sr_cli_config_args {
    const char *config_path;                        /* -c FILE, or NULL */
    const char *overrides[SR_CLI_MAX_OVERRIDES];    /* -X key=value, in order */
    int n_overrides;
} sr_cli_config_args_t;

/* Adds one -X argument. Fails when there are too many. */
sr_err_t sr_cli_add_override(sr_cli_config_args_t *a, const char *key_value,
                             char *errstr, size_t errstr_size);

/* Builds the configuration: defaults, then the file, then STREAMREC_*
 * environment variables, then -X overrides (later wins), then validation.
 * On success the caller owns *cfg (sr_config_free). */
sr_err_t sr_cli_build_config(sr_config_t *cfg, const sr_cli_config_args_t *a,
                             char *errstr, size_t errstr_size);

/* Points the logger (log.h) at stderr with log.format and log.level. */
void sr_cli_start_logging(const sr_config_t *cfg);

/* Parses a number option in [min, max]; on failure prints
 * "streamrec CMD: --NAME: 'S' is not a number in [min, max]" and returns false. */
bool sr_cli_number(const char *cmd, const char *name, const char *s, double min, double max,
                   double *out);

/* Subcommands: each returns the process exit code (0 ok, 1 failure, 2 usage). */
int sr_cmd_eval(int argc, char **argv);
int sr_cmd_gen(int argc, char **argv);
int sr_cmd_replay(int argc, char **argv);
int sr_cmd_run(int argc, char **argv);
int sr_cmd_demo(int argc, char **argv);
int sr_cmd_tail(int argc, char **argv);
int sr_cmd_inspect(int argc, char **argv);

/* SIGINT/SIGTERM set *flag (first) or exit at once (second); SIGPIPE ignored. */
void sr_cli_install_stop_signals(volatile sig_atomic_t **flag);

#endif
