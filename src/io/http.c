#include "streamrec/http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECTION_LIMIT 32     /* Prometheus, probes and a few curls */
#define CONNECTION_TIMEOUT_S 10 /* an idle keep-alive connection is closed after this */
/* Server threads: a handler that waits (the status page's /reco asks Redis,
 * up to seconds when Redis hangs) holds only its own thread, so liveness
 * probes and scrapes still get an answer from the others. */
#define SERVER_THREADS 4

struct sr_http {
    struct MHD_Daemon *daemon;
    sr_http_route_t *routes;
    size_t n_routes;
    sr_http_log_fn *on_log;
    void *log_opaque;
    int port;
};

struct sr_http_request {
    struct MHD_Connection *conn;
};

const char *sr_http_arg(const sr_http_request_t *req, const char *key) {
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    sr_http_t *h = cls;
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    size_t n = strlen(message);
    while (n && message[n - 1] == '\n') message[--n] = '\0';
    if (h->on_log)
        h->on_log(h->log_opaque, message);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, int status,
                                  const char *content_type, char *body, size_t len,
                                  const char *allow) {
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO; /* closes the connection */
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static char *text_body(const char *text, size_t *len) {
    *len = strlen(text);
    char *body = malloc(*len + 1);
    if (body)
        memcpy(body, text, *len + 1);
    return body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    sr_http_t *h = cls;
    (void)version;
    (void)upload_data;
    size_t len;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        /* a request body, if any, is not read: the connection is closed after */
        *upload_data_size = 0;
        char *body = text_body("only GET and HEAD are served\n", &len);
        return send_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", body,
                          len, "GET, HEAD");
    }
    (void)con_cls;
    for (size_t i = 0; i < h->n_routes; i++) {
        if (strcmp(url, h->routes[i].path) != 0)
            continue;
        sr_http_reply_t reply = {.status = 200, .content_type = "text/plain; charset=utf-8"};
        sr_http_request_t req = {conn};
        h->routes[i].handler(h->routes[i].opaque, &req, &reply);
        return send_reply(conn, reply.status, reply.content_type, reply.body, reply.len, NULL);
    }
    char *body = text_body("not found\n", &len);
    return send_reply(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", body, len, NULL);
}

/* Our own listening socket: a bind error is reported here, with its cause. */
static int listen_on(const char *host, int port, int *bound_port, char *errstr,
                     size_t errstr_size) {
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    const char *node = host && *host ? host : NULL;
    int rc = getaddrinfo(node, service, &hints, &found);
    if (rc != 0) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "http.listen %s:%d: %s", node ? node : "",
                  port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *a = found; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            last_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd < 0) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "http.listen %s:%d: %s", node ? node : "",
                  port, strerror(last_errno));
        return -1;
    }
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &addr_len);
    *bound_port = addr.ss_family == AF_INET6
                      ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                      : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

sr_http_t *sr_http_new(const sr_http_config_t *cfg, char *errstr, size_t errstr_size) {
    sr_http_t *h = calloc(1, sizeof *h);
    int fd = -1;
    if (!h || !(h->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *h->routes))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "http: out of memory");
        goto fail;
    }
    if (cfg->n_routes)
        memcpy(h->routes, cfg->routes, cfg->n_routes * sizeof *h->routes);
    h->n_routes = cfg->n_routes;
    h->on_log = cfg->on_log;
    h->log_opaque = cfg->log_opaque;
    if ((fd = listen_on(cfg->host, cfg->port, &h->port, errstr, errstr_size)) < 0)
        goto fail;
    /* MHD_USE_AUTO picks epoll or poll; a pool of internal threads serves
     * the connections, so handlers never run on the caller's thread (and
     * may run on several at once). The daemon owns fd from here and closes
     * it when stopped. */
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, /* first, or MHD complains */
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)SERVER_THREADS, MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        sr_seterr(SR_ERR_IO, errstr, errstr_size,
                  "http.listen: libmicrohttpd could not start its server thread");
        goto fail;
    }
    return h;
fail:
    sr_http_destroy(h);
    return NULL;
}

int sr_http_port(const sr_http_t *h) { return h->port; }

void sr_http_destroy(sr_http_t *h) {
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    free(h->routes);
    free(h);
}
