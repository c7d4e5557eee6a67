/* streamrec http: a small HTTP/1.1 endpoint over libmicrohttpd.
 *
 * Serves a fixed table of GET paths (/metrics, /healthz, /readyz): each
 * route's handler fills a reply -- status, content type, body -- and the
 * server sends it. Anything else is 404; a method other than GET or HEAD is
 * 405 with an Allow header. Routes match the path alone; a handler reads
 * the query string's arguments, percent-decoded, with sr_http_arg().
 *
 * Threads: a small pool of libmicrohttpd's threads accepts connections and
 * runs the handlers, so a handler never runs on the caller's (the
 * engine's) thread, and several requests may be in handlers at once: a
 * handler must only read what is safe to read from other threads (atomics,
 * snapshots under a short lock) and keep any state of its own under a
 * lock. A slow handler holds its own thread only; /healthz is answered by
 * another.
 *
 * The listening socket is bound by sr_http_new() itself, so a port already
 * in use is an error with the reason at start, not a log line later; port 0
 * binds any free port (tests), which sr_http_port() reports.
 *
 * Ownership: routes and their opaques are borrowed until sr_http_destroy(),
 * which stops the threads after the requests in progress. A handler's body is
 * malloc'd by the handler and freed by the server. */
#ifndef STREAMREC_HTTP_H
#define STREAMREC_HTTP_H

#include <stddef.h>

#include "streamrec/err.h"

typedef struct sr_http_reply {
    int status;               /* preset 200 */
    const char *content_type; /* preset "text/plain; charset=utf-8"; must be static */
    char *body;               /* malloc'd, NULL for empty; the server frees it */
    size_t len;
} sr_http_reply_t;

/* The request being answered; valid during the handler call only. */
typedef struct sr_http_request sr_http_request_t;

/* The value of query argument key ("/reco?user=u%201" -> "u 1"), NULL when
 * absent; valid during the handler call. */
const char *sr_http_arg(const sr_http_request_t *req, const char *key);

typedef void sr_http_handler_fn(void *opaque, const sr_http_request_t *req,
                                sr_http_reply_t *reply);

typedef struct sr_http_route {
    const char *path;         /* exact match, e.g. "/metrics" */
    sr_http_handler_fn *handler;
    void *opaque;
} sr_http_route_t;

/* A line from libmicrohttpd itself (a failed accept, an internal error). */
typedef void sr_http_log_fn(void *opaque, const char *message);

typedef struct sr_http_config {
    const char *host;         /* address to bind; "" or NULL: every interface */
    int port;                 /* 0: any free port */
    const sr_http_route_t *routes;
    size_t n_routes;
    sr_http_log_fn *on_log;   /* optional */
    void *log_opaque;
} sr_http_config_t;

typedef struct sr_http sr_http_t;

/* Binds, listens and starts the server threads. NULL with the reason
 * ("http.listen 127.0.0.1:9464: Address already in use") on failure. */
sr_http_t *sr_http_new(const sr_http_config_t *cfg, char *errstr, size_t errstr_size);

/* The bound port (the chosen one when cfg.port was 0). */
int sr_http_port(const sr_http_t *h);

/* Stops the threads, closes the socket and every connection. NULL is a no-op. */
void sr_http_destroy(sr_http_t *h);

#endif
