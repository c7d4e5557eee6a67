/* streamrec: the binary. One subcommand per job; see `streamrec help`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "streamrec/config.h"

#ifndef SR_VERSION
#define SR_VERSION "0.1.0"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "streamrec %s: clickstream in, fresh recommendations and churn alerts out\n"
            "\n"
            "usage: streamrec <command> [options]\n"
            "\n"
            "commands:\n"
            "  run       the daemon: Kafka in, Redis and Kafka out (--embedded: on\n"
            "            its own Kafka and a local Redis, for external producers)\n"
            "  demo      the daemon on an embedded Kafka (mock cluster) and a local Redis,\n"
            "            fed by the synthetic generator\n"
            "  tail      an output topic as JSON lines\n"
            "  eval      prequential evaluation of the engine on a dataset file\n"
            "  gen       synthetic clickstream with planted structure, to a streamrec-csv\n"
            "            file or a Kafka topic\n"
            "  replay    a dataset file into a Kafka topic, in event-time order\n"
            "  inspect   what a checkpoint holds (header, counts, digest; a user or an item)\n"
            "  help      this text\n"
            "  version   print the version\n"
            "\n"
            "  --help-config   every configuration key, its default and meaning\n",
            SR_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "eval") == 0)
        return sr_cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return sr_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return sr_cmd_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "tail") == 0)
        return sr_cmd_tail(argc - 1, argv + 1);
    if (strcmp(cmd, "gen") == 0)
        return sr_cmd_gen(argc - 1, argv + 1);
    if (strcmp(cmd, "replay") == 0)
        return sr_cmd_replay(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0)
        return sr_cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("streamrec %s\n", SR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help-config") == 0) {
        sr_config_print_reference(stdout);
        return 0;
    }
    fprintf(stderr, "streamrec: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
