#include "cli.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

sr_err_t sr_cli_add_override(sr_cli_config_args_t *a, const char *key_value,
                             char *errstr, size_t errstr_size) {
    if (a->n_overrides >= SR_CLI_MAX_OVERRIDES)
        return sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "too many -X options (max %d)",
                         SR_CLI_MAX_OVERRIDES);
    a->overrides[a->n_overrides++] = key_value;
    return SR_OK;
}

void sr_cli_start_logging(const sr_config_t *cfg) {
    sr_log_format_t format = SR_LOG_TEXT;
    sr_log_level_t level = SR_LOG_INFO;
    /* both keys are enums the config already validated */
    sr_log_format_parse(cfg->io.log_format, &format);
    sr_log_level_parse(cfg->io.log_level, &level);
    sr_log_configure(format, level, stderr);
}

sr_err_t sr_cli_build_config(sr_config_t *cfg, const sr_cli_config_args_t *a,
                             char *errstr, size_t errstr_size) {
    sr_err_t err;
    sr_config_init(cfg);
    if (a->config_path &&
        (err = sr_config_load_file(cfg, a->config_path, errstr, errstr_size)) != SR_OK)
        goto fail;
    if ((err = sr_config_load_env(cfg, environ, errstr, errstr_size)) != SR_OK)
        goto fail;
    for (int i = 0; i < a->n_overrides; i++) {
        const char *kv = a->overrides[i];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            err = sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                            "-X %s: expected key=value", kv);
            goto fail;
        }
        char key[256];
        size_t len = (size_t)(eq - kv);
        if (len >= sizeof key) {
            err = sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "-X: key too long");
            goto fail;
        }
        memcpy(key, kv, len);
        key[len] = '\0';
        if ((err = sr_config_set(cfg, key, eq + 1, "-X", errstr, errstr_size)) != SR_OK)
            goto fail;
    }
    if ((err = sr_config_validate(cfg, errstr, errstr_size)) != SR_OK)
        goto fail;
    return SR_OK;
fail:
    sr_config_free(cfg);
    return err;
}

bool sr_cli_number(const char *cmd, const char *name, const char *s, double min, double max,
                   double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "streamrec %s: --%s: '%s' is not a number in [%g, %g]\n", cmd, name, s,
                min, max);
        return false;
    }
    *out = v;
    return true;
}
