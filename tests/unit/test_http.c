/* http: routes, status codes, methods, query arguments, port 0, a port
 * already in use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>

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

static sr_http_t *start(int port, char *errstr, size_t errstr_size) {
    static const sr_http_route_t routes[] = {
        {"/metrics", hello, NULL},
        {"/readyz", unavailable, "no partitions assigned\n"},
        {"/empty", empty, NULL},
        {"/echo", echo_user, NULL},
    };
    sr_http_config_t cfg = {.host = "127.0.0.1", .port = port, .routes = routes, .n_routes = 4};
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
        cmocka_unit_test(test_http_port_in_use_fails_at_start_with_the_reason),
        cmocka_unit_test(test_http_unknown_host_fails_with_the_resolver_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
