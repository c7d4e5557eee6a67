#include "endpoint.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "streamrec/http.h"

#define MAX_COLLECTORS 8

struct sr_endpoint {
    sr_pipeline_t *pipeline;
    int64_t stall_ms;
    sr_http_t *http;
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
    atomic_init(&ep->n_collectors, 0);
    const sr_http_route_t routes[] = {
        {"/metrics", serve_metrics, ep},
        {"/healthz", serve_healthz, ep},
        {"/readyz", serve_readyz, ep},
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
