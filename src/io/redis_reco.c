#include "streamrec/redis_reco.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct timeval ms_to_timeval(int ms) {
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static sr_err_t add_item(sr_redis_reco_list_t *l, const char *id, size_t id_len, double score) {
    sr_redis_reco_item_t *grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (!grown)
        return SR_ERR_NOMEM;
    l->items = grown;
    char *copy = malloc(id_len + 1);
    if (!copy)
        return SR_ERR_NOMEM;
    memcpy(copy, id, id_len);
    copy[id_len] = '\0';
    l->items[l->n++] = (sr_redis_reco_item_t){copy, score};
    return SR_OK;
}

static sr_err_t from_zset(const redisReply *r, sr_redis_reco_list_t *out, char *errstr,
                          size_t errstr_size) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "ZREVRANGE did not answer member/score pairs");
    out->found = r->elements > 0; /* Redis deletes an empty sorted set */
    for (size_t k = 0; k < r->elements; k += 2) {
        const redisReply *member = r->element[k], *score = r->element[k + 1];
        if (member->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING)
            return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                             "ZREVRANGE answered a non-string member or score");
        if (add_item(out, member->str, member->len, strtod(score->str, NULL)) != SR_OK)
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    return SR_OK;
}

static sr_err_t from_json(const redisReply *r, sr_redis_reco_list_t *out, char *errstr,
                          size_t errstr_size) {
    if (r->type == REDIS_REPLY_NIL)
        return SR_OK;
    if (r->type != REDIS_REPLY_STRING)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "reco key is not a string (is redis.reco.format right?)");
    out->found = true;
    json_error_t jerr;
    json_t *doc = json_loadb(r->str, r->len, 0, &jerr);
    json_t *items = doc ? json_object_get(doc, "items") : NULL;
    sr_err_t err = SR_OK;
    if (!json_is_array(items)) {
        err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                        "reco value is not a JSON document with an items array");
        goto done;
    }
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it) {
        json_t *id = json_object_get(it, "item_id"), *score = json_object_get(it, "score");
        if (!json_is_string(id) || !json_is_number(score)) {
            err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                            "reco item %zu has no item_id string or score number", k);
            goto done;
        }
        if (add_item(out, json_string_value(id), json_string_length(id),
                     json_number_value(score)) != SR_OK) {
            err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto done;
        }
    }
done:
    json_decref(doc);
    return err;
}

sr_err_t sr_redis_reco_read(const sr_redis_sink_config_t *cfg, const char *user_id,
                            sr_redis_reco_list_t *out, char *errstr, size_t errstr_size) {
    *out = (sr_redis_reco_list_t){0};
    sr_err_t err = SR_OK;
    redisReply *r = NULL;
    redisContext *c = redisConnectWithTimeout(cfg->host, cfg->port,
                                              ms_to_timeval(cfg->connect_timeout_ms));
    if (!c)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory connecting to Redis");
    if (c->err || redisSetTimeout(c, ms_to_timeval(cfg->command_timeout_ms)) != REDIS_OK) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: %s", cfg->host,
                        cfg->port, c->errstr);
        goto done;
    }
    if (cfg->db != 0) {
        r = redisCommand(c, "SELECT %d", cfg->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: SELECT %d: %s",
                            cfg->host, cfg->port, cfg->db, r ? r->str : c->errstr);
            goto done;
        }
        freeReplyObject(r);
        r = NULL;
    }
    /* %b: the id goes as one binary-safe argument, whatever it contains */
    char key_prefix[] = "reco:{";
    size_t id_len = strlen(user_id), key_len = sizeof key_prefix - 1 + id_len + 1;
    char *key = malloc(key_len + 1);
    if (!key) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto done;
    }
    snprintf(key, key_len + 1, "%s%s}", key_prefix, user_id);
    r = cfg->reco_format == SR_REDIS_RECO_ZSET
            ? redisCommand(c, "ZREVRANGE %b 0 -1 WITHSCORES", key, key_len)
            : redisCommand(c, "GET %b", key, key_len);
    free(key);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: %s", cfg->host,
                        cfg->port, r ? r->str : c->errstr);
        goto done;
    }
    err = cfg->reco_format == SR_REDIS_RECO_ZSET ? from_zset(r, out, errstr, errstr_size)
                                                 : from_json(r, out, errstr, errstr_size);
done:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    if (err != SR_OK)
        sr_redis_reco_list_clear(out);
    return err;
}

void sr_redis_reco_list_clear(sr_redis_reco_list_t *l) {
    for (size_t k = 0; k < l->n; k++) free(l->items[k].item_id);
    free(l->items);
    *l = (sr_redis_reco_list_t){0};
}
