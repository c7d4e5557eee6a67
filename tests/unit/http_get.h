/* A plain-socket HTTP/1.1 GET for tests: no client library, so what the
 * test sees is exactly what went over the wire. */
#ifndef STREAMREC_TEST_HTTP_GET_H
#define STREAMREC_TEST_HTTP_GET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct http_result {
    int status;   /* -1: no answer */
    char *head;   /* status line and headers, malloc'd */
    char *body;   /* malloc'd, NUL-terminated */
} http_result_t;

static inline void http_result_free(http_result_t *r) {
    free(r->head);
    free(r->body);
    r->head = r->body = NULL;
}

/* method "GET", "HEAD", "POST"...; the connection is closed by the server
 * after the answer (Connection: close), so the answer ends at EOF. */
static inline http_result_t http_request(int port, const char *method, const char *path) {
    http_result_t r = {.status = -1};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return r;
    }
    size_t len = 0, cap = 65536;
    char *all = malloc(cap);
    ssize_t got;
    while ((got = read(fd, all + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 4096) {
            cap *= 2;
            all = realloc(all, cap);
        }
    }
    close(fd);
    all[len] = '\0';
    char *split = strstr(all, "\r\n\r\n");
    if (sscanf(all, "HTTP/1.%*d %d", &r.status) != 1 || !split) {
        free(all);
        r.status = -1;
        return r;
    }
    *split = '\0';
    r.head = strdup(all);
    r.body = strdup(split + 4);
    free(all);
    return r;
}

static inline http_result_t http_get(int port, const char *path) {
    return http_request(port, "GET", path);
}

#endif
