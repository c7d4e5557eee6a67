/* http: routes, status codes, methods, query arguments, port 0, a port
 * already in use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_get.h"
#include "streamrec/http.h"

static atomic_int calls;

static void hello(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    (void)opaque;
    atomic_fetch_add(&calls, 1);
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply->body = strdup("hello 1\n");
    reply->len = strlen(reply->body);
}

static void unavailable(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    reply->status = 503;
    reply->body = strdup((const char *)opaque);
    reply->len = strlen(reply->body);
}

static void empty(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    (void)opaque;
    reply->status = 204;
}

/* Answers "user=<value>" or "user absent". */
static void echo_user(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)opaque;
    const char *user = sr_http_arg(req, "user");
    char text[256];
    snprintf(text, sizeof text, user ? "user=%s" : "user absent", user);
    reply->body = strdup(text);
    reply->len = strlen(reply->body);
}

/* Takes 1.5 s, like /reco waiting for a Redis that hangs. */
static void slow(void *opaque, const sr_http_request_t *req, sr_http_reply_t *reply) {
    (void)req;
    (void)opaque;
    struct timespec ts = {1, 500 * 1000000L};
    nanosleep(&ts, NULL);
    reply->body = strdup("slow\n");
    reply->len = strlen(reply->body);
}

static sr_http_t *start(int port, char *errstr, size_t errstr_size) {
    static const sr_http_route_t routes[] = {
        {"/metrics", hello, NULL},
        {"/readyz", unavailable, "no partitions assigned\n"},
        {"/empty", empty, NULL},
        {"/echo", echo_user, NULL},
        {"/slow", slow, NULL},
    };
    sr_http_config_t cfg = {.host = "127.0.0.1", .port = port, .routes = routes,
                            .n_routes = sizeof routes / sizeof *routes};
    return sr_http_new(&cfg, errstr, errstr_size);
}

static void test_http_serves_routes_with_status_and_content_type(void **state) {
    (void)state;
    char errstr[256];
    sr_http_t *h = start(0, errstr, sizeof errstr);
    assert_non_null(h);
    int port = sr_http_port(h);
    assert_true(port > 0);

    http_result_t r = http_get(port, "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello 1\n");
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    http_result_free(&r);

    r = http_get(port, "/metrics?debug=1"); /* the query string is not part of the path */
    assert_int_equal(r.status, 200);
    http_result_free(&r);

    r = http_get(port, "/readyz");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "no partitions assigned\n");
    http_result_free(&r);

    r = http_get(port, "/empty");
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    http_result_free(&r);

    r = http_get(port, "/nope");
    assert_int_equal(r.status, 404);
    http_result_free(&r);

    r = http_request(port, "POST", "/metrics");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET, HEAD"));
    http_result_free(&r);

    int before = atomic_load(&calls);
    r = http_request(port, "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, ""); /* HEAD: headers only */
    http_result_free(&r);
    assert_int_equal(atomic_load(&calls), before + 1);

    sr_http_destroy(h);
    /* stopped: nobody listens any more */
    r = http_get(port, "/metrics");
    assert_int_equal(r.status, -1);
    sr_http_destroy(NULL);
}

static void test_http_query_arguments_reach_the_handler_decoded(void **state) {
    (void)state;
    char errstr[256];
    sr_http_t *h = start(0, errstr, sizeof errstr);
    assert_non_null(h);
    int port = sr_http_port(h);

    http_result_t r = http_get(port, "/echo?user=u%3Cb%3E%201&x=2");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "user=u<b> 1");
    http_result_free(&r);

    r = http_get(port, "/echo?x=2"); /* another argument only */
    assert_string_equal(r.body, "user absent");
    http_result_free(&r);

    r = http_get(port, "/echo");
    assert_string_equal(r.body, "user absent");
    http_result_free(&r);
    sr_http_destroy(h);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *get_slow(void *port) {
    http_result_t res = http_get(*(int *)port, "/slow");
    int status = res.status;
    http_result_free(&res);
    return (void *)(intptr_t)status;
}

/* A handler that waits holds its own server thread only: the liveness
 * probe must not queue behind it (a probe timing out restarts the pod). */
static void test_http_a_slow_handler_does_not_hold_up_other_requests(void **state) {
    (void)state;
    char errstr[256];
    sr_http_t *h = start(0, errstr, sizeof errstr);
    assert_non_null(h);
    int port = sr_http_port(h);
    pthread_t slow_client;
    assert_int_equal(pthread_create(&slow_client, NULL, get_slow, &port), 0);
    struct timespec settle = {0, 200 * 1000000L}; /* the slow request is in its handler */
    nanosleep(&settle, NULL);
    double t0 = now_s();
    http_result_t res = http_get(port, "/metrics");
    double fast_s = now_s() - t0;
    assert_int_equal(res.status, 200);
    http_result_free(&res);
    void *slow_status;
    pthread_join(slow_client, &slow_status);
    assert_int_equal((int)(intptr_t)slow_status, 200);
    assert_true(fast_s < 1.0); /* one server thread: ~1.3 s */
    sr_http_destroy(h);
}

static void test_http_port_in_use_fails_at_start_with_the_reason(void **state) {
    (void)state;
    char errstr[256];
    sr_http_t *first = start(0, errstr, sizeof errstr);
    assert_non_null(first);
    sr_http_t *second = start(sr_http_port(first), errstr, sizeof errstr);
    assert_null(second);
    assert_non_null(strstr(errstr, "Address already in use"));
    sr_http_destroy(first);
}

static void test_http_unknown_host_fails_with_the_resolver_reason(void **state) {
    (void)state;
    char errstr[256];
    sr_http_config_t cfg = {.host = "no.such.host.invalid", .port = 0};
    assert_null(sr_http_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "http.listen no.such.host.invalid:0"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_serves_routes_with_status_and_content_type),
        cmocka_unit_test(test_http_query_arguments_reach_the_handler_decoded),
        cmocka_unit_test(test_http_a_slow_handler_does_not_hold_up_other_requests),
        cmocka_unit_test(test_http_port_in_use_fails_at_start_with_the_reason),
        cmocka_unit_test(test_http_unknown_host_fails_with_the_resolver_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
