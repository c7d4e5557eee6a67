/* Fuzz target: the properties-file parser on arbitrary text, then the
 * cross-key validation and every accessor that interprets a value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* fmemopen of zero bytes fails with EINVAL on glibc. */
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        return 0;
    char errstr[512];
    sr_config_t cfg;
    sr_config_init(&cfg);
    if (sr_config_load_stream(&cfg, f, "fuzz.conf", errstr, sizeof errstr) == SR_OK &&
        sr_config_validate(&cfg, errstr, sizeof errstr) == SR_OK) {
        char buf[256], host[256];
        int port;
        (void)sr_config_dlq_topic(&cfg, buf, sizeof buf);
        (void)sr_config_changelog_topic(&cfg, buf, sizeof buf);
        (void)sr_config_http_listen(&cfg, host, sizeof host, &port, errstr, sizeof errstr);
        (void)sr_config_kafka_value(&cfg, "bootstrap.servers");
        sr_kafka_kv_t *props = calloc(cfg.n_kafka + 1, sizeof *props);
        if (props) {
            (void)sr_config_kafka_props(&cfg, SR_KAFKA_CONSUMER, props);
            (void)sr_config_kafka_props(&cfg, SR_KAFKA_PRODUCER, props);
            free(props);
        }
    }
    sr_config_free(&cfg);
    fclose(f);
    return 0;
}
