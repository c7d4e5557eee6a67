#include "endpoint.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"
#include "status_page.h"
#include "streamrec/clock.h"
#include "streamrec/http.h"
#include "streamrec/redis_reco.h"

#define MAX_COLLECTORS 8
#define USER_ID_MAX 512          /* longer ?user= values are refused, not looked up */
#define RECO_CONNECT_TIMEOUT_MS 500 /* a page lookup fails fast instead of blocking scrapes */
#define RECO_COMMAND_TIMEOUT_MS 1000

struct sr_endpoint {
    sr_pipeline_t *pipeline;
    int64_t stall_ms;
    sr_http_t *http;
    sr_redis_sink_config_t redis; /* where /reco reads: redis.url, redis.reco.format */
    char redis_host[256];
    const char *reco_format;
    sr_metrics_collector_t collectors[MAX_COLLECTORS];
    atomic_size_t n_collectors; /* entries below it are complete */
};

static void set_text(sr_http_reply_t *reply, int status, const char *text) {
    reply->status = status;
    reply->len = strlen(text);
    if ((reply->body = malloc(reply->len + 1)))
        memcpy(reply->body, text, reply->len + 1);
    else
        reply->status = 500;
}

static void serve_metrics(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    sr_endpoint_t *ep = opaque;
    size_t n = atomic_load_explicit(&ep->n_collectors, memory_order_acquire);
    reply->body = sr_metrics_render(ep->pipeline, ep->collectors, n, &reply->len);
    if (!reply->body) {
        set_text(reply, 500, "out of memory rendering the metrics\n");
        return;
    }
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void serve_healthz(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    sr_endpoint_t *ep = opaque;
    char line[1200];
    char failure[1024];
    int64_t age_ms = sr_pipeline_loop_age_ms(ep->pipeline);
    if (sr_pipeline_failed(ep->pipeline, failure, sizeof failure))
        snprintf(line, sizeof line, "pipeline stopped: %s\n", failure);
    else if (age_ms > ep->stall_ms)
        snprintf(line, sizeof line,
                 "the engine's poll loop has not turned for %lld ms (http.healthz.stall.ms=%lld)\n",
                 (long long)age_ms, (long long)ep->stall_ms);
    else {
        set_text(reply, 200, "ok\n");
        return;
    }
    set_text(reply, 503, line);
}

static void serve_readyz(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    sr_endpoint_t *ep = opaque;
    char reason[1024], line[1100];
    if (sr_pipeline_ready(ep->pipeline, reason, sizeof reason) == SR_OK) {
        set_text(reply, 200, "ready\n");
        return;
    }
    snprintf(line, sizeof line, "not ready: %s\n", reason);
    set_text(reply, 503, line);
}

/* GET /: the page itself; it polls /status.json and asks /reco. */
static void serve_page(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)opaque;
    (void)req;
    if (!(reply->body = malloc(sr_status_page_len))) {
        set_text(reply, 500, "out of memory\n");
        return;
    }
    memcpy(reply->body, sr_status_page, sr_status_page_len);
    reply->len = sr_status_page_len;
    reply->content_type = "text/html; charset=utf-8";
}

/* The page's numbers, read from what /metrics renders (metrics.c). */
static void read_figures(sr_endpoint_t *ep, sr_status_figures_t *f) {
    sr_pipeline_t *p = ep->pipeline;
    const sr_pipeline_metrics_t *m = sr_pipeline_metrics(p);
    sr_pipeline_stats_t st;
    sr_pipeline_stats(p, &st);
    *f = (sr_status_figures_t){.records_in = st.records_in, .users = st.users,
                               .items = st.items, .recos_written = st.recos_written,
                               .partitions = st.partitions, .now_ms = sr_clock_wall_ms(),
                               .lag_offsets = -1, .lag_seconds = -1};
    for (int t = 0; t < SR_EVENT__COUNT; t++)
        f->events_total += atomic_load_explicit(&m->events_by_type[t], memory_order_relaxed);
    for (int e = 1; e < SR_ERR__COUNT; e++)
        f->dead_letters +=
            atomic_load_explicit(&m->dead_letters_by_reason[e], memory_order_relaxed);
    f->events_per_s =
        sr_status_rate(sr_pipeline_status(p), sr_clock_mono_ms(), f->events_total);
    sr_pipeline_lag_t lag[64];
    size_t n = sr_pipeline_lag(p, lag, 64);
    for (size_t k = 0; k < n && k < 64; k++) {
        if (lag[k].offsets >= 0)
            f->lag_offsets = (f->lag_offsets < 0 ? 0 : f->lag_offsets) + lag[k].offsets;
        if (lag[k].seconds > f->lag_seconds)
            f->lag_seconds = lag[k].seconds;
    }
    const sr_hist_t *fresh = sr_pipeline_freshness(p);
    f->freshness_count = sr_prom_hist_count(&m->freshness_ms);
    f->freshness_p50_ms = (double)sr_hist_quantile(fresh, 0.50);
    f->freshness_p99_ms = (double)sr_hist_quantile(fresh, 0.99);
    f->freshness_p999_ms = (double)sr_hist_quantile(fresh, 0.999);
    f->alerts_firing = atomic_load(&m->alerts_firing);
    f->alerts_resolved = atomic_load(&m->alerts_resolved);
    char reason[512];
    f->ready = sr_pipeline_ready(p, reason, sizeof reason) == SR_OK;
}

static void serve_status(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    sr_endpoint_t *ep = opaque;
    (void)req;
    sr_status_figures_t f;
    read_figures(ep, &f);
    if (!(reply->body = sr_status_json(sr_pipeline_status(ep->pipeline), &f, &reply->len))) {
        set_text(reply, 500, "out of memory rendering the status\n");
        return;
    }
    reply->content_type = "application/json";
}

/* GET /reco?user=ID: the user's list as Redis holds it -- what a feed
 * service reads -- over a connection of this request's own (redis_reco.h),
 * so the engine and the sink are not involved. */
static void serve_reco(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    sr_endpoint_t *ep = opaque;
    const char *user = sr_http_arg(req, "user");
    if (!user || !*user || strlen(user) > USER_ID_MAX) {
        set_text(reply, 400, "usage: /reco?user=USER_ID (at most 512 bytes)\n");
        return;
    }
    sr_redis_reco_list_t list;
    char errstr[512];
    bool failed = sr_redis_reco_read(&ep->redis, user, &list, errstr, sizeof errstr) != SR_OK;
    sr_status_reco_t few[64], *items = list.n <= 64 ? few : malloc(list.n * sizeof *items);
    if (!items) {
        sr_redis_reco_list_clear(&list);
        set_text(reply, 500, "out of memory\n");
        return;
    }
    for (size_t k = 0; k < list.n; k++)
        items[k] = (sr_status_reco_t){list.items[k].item_id, list.items[k].score};
    char source[64];
    snprintf(source, sizeof source, "redis reco:{user} (%s)", ep->reco_format);
    reply->body = sr_status_reco_json(user, items, list.n, list.found, source,
                                      failed ? errstr : NULL, &reply->len);
    if (items != few)
        free(items);
    sr_redis_reco_list_clear(&list);
    if (!reply->body) {
        set_text(reply, 500, "out of memory rendering the recommendations\n");
        return;
    }
    /* a failed lookup is still a document the page shows, but not a 200 */
    reply->status = failed ? 502 : 200;
    reply->content_type = "application/json";
}

static void http_log(void *opaque, const char *message) {
    (void)opaque;
    sr_log(SR_LOG_WARN, &SR_LOG_CTX("http"), "%s", message);
}

sr_endpoint_t *sr_endpoint_new(const sr_config_t *cfg, sr_pipeline_t *p, char *errstr,
                               size_t errstr_size) {
    char host[256];
    int port;
    if (sr_config_http_listen(cfg, host, sizeof host, &port, errstr, errstr_size) != SR_OK)
        return NULL;
    sr_endpoint_t *ep = calloc(1, sizeof *ep);
    if (!ep) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    ep->pipeline = p;
    ep->stall_ms = cfg->io.http_healthz_stall_ms;
    sr_redis_sink_config_init(&ep->redis);
    if (sr_redis_parse_url(cfg->io.redis_url, ep->redis_host, sizeof ep->redis_host,
                           &ep->redis.port, &ep->redis.db, errstr, errstr_size) != SR_OK ||
        sr_redis_reco_format_parse(cfg->io.redis_reco_format, &ep->redis.reco_format, errstr,
                                   errstr_size) != SR_OK) {
        free(ep);
        return NULL;
    }
    ep->redis.host = ep->redis_host;
    ep->redis.connect_timeout_ms = RECO_CONNECT_TIMEOUT_MS;
    ep->redis.command_timeout_ms = RECO_COMMAND_TIMEOUT_MS;
    ep->reco_format = ep->redis.reco_format == SR_REDIS_RECO_ZSET ? "zset" : "json";
    atomic_init(&ep->n_collectors, 0);
    const sr_http_route_t routes[] = {
        {"/metrics", serve_metrics, ep},
        {"/healthz", serve_healthz, ep},
        {"/readyz", serve_readyz, ep},
        {"/", serve_page, ep},
        {"/status.json", serve_status, ep},
        {"/reco", serve_reco, ep},
    };
    sr_http_config_t hcfg = {.host = host, .port = port, .routes = routes,
                             .n_routes = sizeof routes / sizeof *routes, .on_log = http_log};
    if (!(ep->http = sr_http_new(&hcfg, errstr, errstr_size))) {
        free(ep);
        return NULL;
    }
    return ep;
}

int sr_endpoint_port(const sr_endpoint_t *ep) { return sr_http_port(ep->http); }

sr_err_t sr_endpoint_add_collector(sr_endpoint_t *ep, sr_metrics_collect_fn *collect,
                                   void *opaque) {
    size_t n = atomic_load(&ep->n_collectors);
    if (n == MAX_COLLECTORS)
        return SR_ERR_INVALID;
    ep->collectors[n] = (sr_metrics_collector_t){collect, opaque};
    atomic_store_explicit(&ep->n_collectors, n + 1, memory_order_release);
    return SR_OK;
}

void sr_endpoint_destroy(sr_endpoint_t *ep) {
    if (!ep)
        return;
    sr_http_destroy(ep->http);
    free(ep);
}
