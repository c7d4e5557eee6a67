/* Schema registry client against real HTTP servers: Python's http.server
 * serving registry answers as static files (see http_fixture.h); a socket
 * that listens and never answers (timeouts); and, for the status codes a
 * static server cannot produce (503, a registry's JSON 404), a canned
 * response written byte for byte.
 *
 * The last tests take a writer schema served by the registry through the
 * click decoder: records of an older and a newer producer decode by
 * writer->reader resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>

#include "http_fixture.h"
#include "streamrec/avro_codec.h"
#include "streamrec/clock.h"
#include "streamrec/schema_registry.h"

/* ---- writer schemas the registry serves --------------------------------- */

#define EVENT_TYPE_5                                                                   \
    "{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":[\"UNKNOWN\",\"VIEW\"," \
    "\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"PURCHASE\"]}"

/* An older producer: no category_id, no price. */
static const char older_writer[] =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"string\"},"
    "{\"name\":\"event_type\",\"type\":" EVENT_TYPE_5 "},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"session_id\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

/* A newer producer: everything ours has, plus a channel field in between. */
static const char newer_writer[] =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"streamrec\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"string\"},"
    "{\"name\":\"channel\",\"type\":\"string\",\"default\":\"web\"},"
    "{\"name\":\"event_type\",\"type\":" EVENT_TYPE_5 "},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"session_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"category_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"price\",\"type\":[\"null\",\"double\"],\"default\":null}]}";

#define ID_CURRENT 1
#define ID_OLDER 5
#define ID_NEWER 6
#define ID_NOT_JSON 7
#define ID_NO_SCHEMA 8
#define ID_MISSING 42

/* The registry's answer for a schema: {"schema": "<json as a string>"}. */
static void put_schema(http_fixture_t *h, int32_t id, const char *schema_json) {
    json_t *answer = json_pack("{s:s}", "schema", schema_json);
    char *text = json_dumps(answer, JSON_COMPACT);
    char path[64];
    snprintf(path, sizeof path, "schemas/ids/%d", (int)id);
    assert_int_equal(http_fixture_put(h, path, text), 0);
    free(text);
    json_decref(answer);
}

static int setup(void **state) {
    http_fixture_t *h = calloc(1, sizeof *h);
    char errstr[256] = "cannot create the served directory";
    if (!h || http_fixture_init(h) != 0)
        goto fail;
    put_schema(h, ID_CURRENT, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT));
    put_schema(h, ID_OLDER, older_writer);
    put_schema(h, ID_NEWER, newer_writer);
    if (http_fixture_put(h, "schemas/ids/7", "<html>a proxy's page</html>") != 0 ||
        http_fixture_put(h, "schemas/ids/8", "{\"id\": 8}") != 0 ||
        http_fixture_start(h, errstr, sizeof errstr) != 0)
        goto fail;
    *state = h;
    return 0;
fail:
    /* cmocka skips the teardown when the setup fails */
    fprintf(stderr, "setup: %s\n", errstr);
    if (h)
        http_fixture_cleanup(h);
    free(h);
    return -1;
}

static int teardown(void **state) {
    http_fixture_t *h = *state;
    http_fixture_cleanup(h);
    free(h);
    return 0;
}

static sr_schema_registry_t *new_client(const char *url, int timeout_ms, int64_t missing_ttl_ms) {
    sr_schema_registry_config_t cfg;
    sr_schema_registry_config_init(&cfg);
    cfg.url = url;
    if (timeout_ms)
        cfg.request_timeout_ms = timeout_ms;
    cfg.missing_ttl_ms = missing_ttl_ms;
    char errstr[256] = "";
    sr_schema_registry_t *r = sr_schema_registry_new(&cfg, errstr, sizeof errstr);
    if (!r)
        fail_msg("sr_schema_registry_new(%s): %s", url, errstr);
    return r;
}

/* ---- fetching and caching ---------------------------------------------- */

static void test_registry_known_id_returns_the_schema_text(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    const char *schema = NULL;
    char errstr[256] = "";
    if (sr_schema_registry_get(r, ID_OLDER, &schema, errstr, sizeof errstr) != SR_OK)
        fail_msg("get: %s", errstr);
    assert_string_equal(schema, older_writer);
    assert_int_equal(sr_schema_registry_requests(r), 1);
    assert_string_equal(sr_schema_registry_url(r), h->url);
    sr_schema_registry_destroy(r);
}

static void test_registry_second_lookup_is_served_from_the_cache(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    const char *first = NULL, *again = NULL;
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &first, NULL, 0), SR_OK);
    /* with the server gone, only the cache can answer */
    http_fixture_stop(h);
    char errstr[256] = "";
    if (sr_schema_registry_get(r, ID_CURRENT, &again, errstr, sizeof errstr) != SR_OK)
        fail_msg("cached get: %s", errstr);
    assert_ptr_equal(again, first);
    assert_string_equal(again, sr_avro_schema_json(SR_AVRO_SCHEMA_CLICK_EVENT));
    assert_int_equal(sr_schema_registry_requests(r), 1);
    sr_schema_registry_destroy(r);
}

static void test_registry_404_is_unknown_schema_and_remembered_for_the_ttl(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    const char *schema = "untouched";
    char errstr[256] = "";
    assert_int_equal(sr_schema_registry_get(r, ID_MISSING, &schema, errstr, sizeof errstr),
                     SR_ERR_UNKNOWN_SCHEMA);
    assert_string_equal(schema, "untouched");
    assert_non_null(strstr(errstr, "schema id 42 not found"));
    assert_non_null(strstr(errstr, h->url));
    assert_non_null(strstr(errstr, "HTTP 404"));
    assert_int_equal(sr_schema_registry_get(r, ID_MISSING, &schema, errstr, sizeof errstr),
                     SR_ERR_UNKNOWN_SCHEMA);
    assert_int_equal(sr_schema_registry_requests(r), 1);
    sr_schema_registry_destroy(r);

    /* TTL 0: every lookup asks, and a schema that appears is found */
    r = new_client(h->url, 0, 0);
    assert_int_equal(sr_schema_registry_get(r, ID_MISSING, &schema, NULL, 0),
                     SR_ERR_UNKNOWN_SCHEMA);
    put_schema(h, ID_MISSING, older_writer);
    assert_int_equal(sr_schema_registry_get(r, ID_MISSING, &schema, NULL, 0), SR_OK);
    assert_string_equal(schema, older_writer);
    assert_int_equal(sr_schema_registry_requests(r), 2);
    sr_schema_registry_destroy(r);
}

static void test_registry_not_running_is_io_error_and_not_cached(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 2000, 60000);
    int port = h->port;
    http_fixture_stop(h);
    const char *schema = NULL;
    char errstr[256] = "";
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &schema, errstr, sizeof errstr),
                     SR_ERR_IO);
    assert_null(schema);
    /* what and where: "schema registry http://127.0.0.1:N unreachable
     * (fetching schema id 1): Failed to connect to 127.0.0.1 port N ..." */
    char want[128];
    snprintf(want, sizeof want, "schema registry %s unreachable (fetching schema id 1)", h->url);
    if (!strstr(errstr, want))
        fail_msg("message '%s' lacks '%s'", errstr, want);
    assert_non_null(strstr(errstr, "connect"));

    /* the registry comes back on its port: the next lookup finds the schema */
    char why[256];
    if (http_fixture_start_on(h, port, why, sizeof why) != 0)
        fail_msg("restart: %s", why);
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &schema, errstr, sizeof errstr),
                     SR_OK);
    assert_int_equal(sr_schema_registry_requests(r), 2);
    sr_schema_registry_destroy(r);
}

static void test_registry_silent_server_times_out_within_the_request_timeout(void **state) {
    (void)state;
    /* listens (the kernel completes the handshake) but never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));

    sr_schema_registry_t *r = new_client(url, 300, 60000);
    const char *schema = NULL;
    char errstr[256] = "";
    int64_t start = sr_clock_mono_ms();
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &schema, errstr, sizeof errstr),
                     SR_ERR_IO);
    int64_t took_ms = sr_clock_mono_ms() - start;
    assert_true(took_ms >= 250 && took_ms < 3000);
    assert_non_null(strstr(errstr, "unreachable"));
    assert_non_null(strstr(errstr, "imed out")); /* libcurl: "Operation timed out after ..." */
    sr_schema_registry_destroy(r);
    close(fd);
}

static void test_registry_answer_without_a_schema_is_a_bad_response(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    const char *schema = NULL;
    char errstr[256] = "";
    assert_int_equal(sr_schema_registry_get(r, ID_NOT_JSON, &schema, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "is not JSON with a \"schema\" string"));
    assert_int_equal(sr_schema_registry_get(r, ID_NO_SCHEMA, &schema, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "schema id 8"));
    assert_null(schema);
    sr_schema_registry_destroy(r);
}

static void test_registry_credentials_in_the_url_never_reach_messages(void **state) {
    http_fixture_t *h = *state;
    char url[128];
    snprintf(url, sizeof url, "http://alice:s3cret@127.0.0.1:%d/", h->port);
    sr_schema_registry_t *r = new_client(url, 0, 60000);
    assert_string_equal(sr_schema_registry_url(r), h->url);
    const char *schema = NULL;
    char errstr[256] = "";
    /* the trailing '/' does not double: /schemas/ids/5 is found */
    assert_int_equal(sr_schema_registry_get(r, ID_OLDER, &schema, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_schema_registry_get(r, ID_MISSING, &schema, errstr, sizeof errstr),
                     SR_ERR_UNKNOWN_SCHEMA);
    assert_null(strstr(errstr, "s3cret"));
    assert_null(strstr(errstr, "alice"));
    sr_schema_registry_destroy(r);
}

static void test_registry_url_must_be_http_or_https(void **state) {
    (void)state;
    const char *bad[] = {"ftp://registry:21", "file:///etc/passwd", "registry", ""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sr_schema_registry_config_t cfg;
        sr_schema_registry_config_init(&cfg);
        cfg.url = bad[k];
        char errstr[256] = "";
        sr_schema_registry_t *r = sr_schema_registry_new(&cfg, errstr, sizeof errstr);
        if (r)
            fail_msg("'%s' accepted", bad[k]);
        assert_true(errstr[0] != '\0');
    }
}

static void test_registry_negative_id_is_unknown_without_a_request(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    const char *schema = NULL;
    assert_int_equal(sr_schema_registry_get(r, -7, &schema, NULL, 0), SR_ERR_UNKNOWN_SCHEMA);
    assert_int_equal(sr_schema_registry_requests(r), 0);
    sr_schema_registry_destroy(r);
}

/* ---- status codes only a registry sends ---------------------------------- */

typedef struct canned {
    int fd;
    const char *response;
    pthread_t thread;
} canned_t;

/* Answers every connection with the same bytes until the socket is shut. */
static void *canned_main(void *arg) {
    canned_t *c = arg;
    for (;;) {
        int conn = accept(c->fd, NULL, NULL);
        if (conn < 0)
            return NULL;
        char request[4096];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof request - 1 &&
               (n = recv(conn, request + got, sizeof request - 1 - got, 0)) > 0) {
            got += (size_t)n;
            request[got] = '\0';
            if (strstr(request, "\r\n\r\n"))
                break;
        }
        send(conn, c->response, strlen(c->response), MSG_NOSIGNAL);
        close(conn);
    }
}

static void canned_start(canned_t *c, const char *response, char *url, size_t url_size) {
    c->response = response;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c->fd, 4), 0);
    assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &len), 0);
    snprintf(url, url_size, "http://127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(pthread_create(&c->thread, NULL, canned_main, c), 0);
}

static void canned_stop(canned_t *c) {
    shutdown(c->fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(c->thread, NULL);
    close(c->fd);
}

static void test_registry_json_404_quotes_the_registry_error(void **state) {
    (void)state;
    static const char body[] = "{\"error_code\":40403,\"message\":\"Schema 42 not found\"}";
    char response[512], url[64];
    snprintf(response, sizeof response,
             "HTTP/1.1 404 Not Found\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    canned_t c;
    canned_start(&c, response, url, sizeof url);
    sr_schema_registry_t *r = new_client(url, 2000, 60000);
    const char *schema = NULL;
    char errstr[256] = "";
    assert_int_equal(sr_schema_registry_get(r, ID_MISSING, &schema, errstr, sizeof errstr),
                     SR_ERR_UNKNOWN_SCHEMA);
    assert_non_null(strstr(errstr, "error_code 40403: Schema 42 not found"));
    sr_schema_registry_destroy(r);
    canned_stop(&c);
}

static void test_registry_503_is_io_error_worth_retrying(void **state) {
    (void)state;
    static const char body[] = "{\"error_code\":50003,\"message\":\"Error while forwarding\"}";
    char response[512], url[64];
    snprintf(response, sizeof response,
             "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    canned_t c;
    canned_start(&c, response, url, sizeof url);
    sr_schema_registry_t *r = new_client(url, 2000, 60000);
    const char *schema = NULL;
    char errstr[256] = "";
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &schema, errstr, sizeof errstr),
                     SR_ERR_IO);
    assert_non_null(strstr(errstr, "unavailable"));
    assert_non_null(strstr(errstr, "HTTP 503"));
    /* not cached: asked again */
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &schema, NULL, 0), SR_ERR_IO);
    assert_int_equal(sr_schema_registry_requests(r), 2);
    sr_schema_registry_destroy(r);
    canned_stop(&c);
}

static void test_registry_401_is_a_bad_response_naming_credentials(void **state) {
    (void)state;
    static const char response[] =
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\n{}";
    char url[64];
    canned_t c;
    canned_start(&c, response, url, sizeof url);
    sr_schema_registry_t *r = new_client(url, 2000, 60000);
    const char *schema = NULL;
    char errstr[256] = "";
    assert_int_equal(sr_schema_registry_get(r, ID_CURRENT, &schema, errstr, sizeof errstr),
                     SR_ERR_INVALID);
    assert_non_null(strstr(errstr, "credentials"));
    sr_schema_registry_destroy(r);
    canned_stop(&c);
}

/* ---- registry-served writer schemas through the decoder ----------------- */

typedef struct {
    uint8_t b[512];
    size_t n;
} avro_bytes_t;

static void put_long(avro_bytes_t *t, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        t->b[t->n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    t->b[t->n++] = (uint8_t)z;
}

static void put_string(avro_bytes_t *t, const char *s) {
    put_long(t, (int64_t)strlen(s));
    memcpy(t->b + t->n, s, strlen(s));
    t->n += strlen(s);
}

static void put_header(avro_bytes_t *t, int32_t id) {
    t->n = sr_framing_write_header(t->b, id);
}

static bool str_eq(sr_str_t s, const char *want) {
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* What the daemon does on an unknown id: ask the registry, register the
 * answer, decode again. */
static sr_err_t decode_via_registry(sr_schema_registry_t *r, sr_click_decoder_t *dec,
                                    const avro_bytes_t *t, sr_event_t *out) {
    char errstr[256] = "";
    int32_t id = -1;
    sr_err_t err = sr_click_decode(dec, t->b, t->n, SR_FRAMING_CONFLUENT, out, &id, errstr,
                                   sizeof errstr);
    if (err != SR_ERR_UNKNOWN_SCHEMA)
        return err;
    const char *schema;
    if ((err = sr_schema_registry_get(r, id, &schema, errstr, sizeof errstr)) != SR_OK ||
        (err = sr_click_decoder_add_schema(dec, id, schema, errstr, sizeof errstr)) != SR_OK)
        fail_msg("schema id %d: %s", (int)id, errstr);
    return sr_click_decode(dec, t->b, t->n, SR_FRAMING_CONFLUENT, out, NULL, errstr, sizeof errstr);
}

static void test_registry_older_writer_without_price_decodes_by_resolution(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    sr_click_decoder_t *dec = sr_click_decoder_new(NULL, 0);
    assert_non_null(dec);
    avro_bytes_t t;
    put_header(&t, ID_OLDER);
    put_string(&t, "e-1");
    put_string(&t, "u-1");
    put_string(&t, "i-1");
    put_long(&t, 4); /* PURCHASE */
    put_long(&t, 1767225600000LL);
    put_long(&t, 1); /* session_id: the string branch */
    put_string(&t, "s-1");
    sr_event_t ev;
    assert_int_equal(decode_via_registry(r, dec, &t, &ev), SR_OK);
    assert_true(str_eq(ev.event_id, "e-1"));
    assert_true(str_eq(ev.user_id, "u-1"));
    assert_true(str_eq(ev.item_id, "i-1"));
    assert_int_equal(ev.type, SR_EVENT_PURCHASE);
    assert_int_equal(ev.ts_ms, 1767225600000LL);
    assert_true(str_eq(ev.session_id, "s-1"));
    assert_null(ev.category_id.ptr);
    assert_false(ev.has_price);
    /* the second record of that id needs neither registry nor registration */
    assert_int_equal(sr_click_decode(dec, t.b, t.n, SR_FRAMING_CONFLUENT, &ev, NULL, NULL, 0),
                     SR_OK);
    assert_int_equal(sr_schema_registry_requests(r), 1);
    sr_click_decoder_destroy(dec);
    sr_schema_registry_destroy(r);
}

static void test_registry_newer_writer_with_extra_field_decodes_by_resolution(void **state) {
    http_fixture_t *h = *state;
    sr_schema_registry_t *r = new_client(h->url, 0, 60000);
    sr_click_decoder_t *dec = sr_click_decoder_new(NULL, 0);
    assert_non_null(dec);
    avro_bytes_t t;
    put_header(&t, ID_NEWER);
    put_string(&t, "e-2");
    put_string(&t, "u-2");
    put_string(&t, "i-2");
    put_string(&t, "app"); /* channel: only the writer has it */
    put_long(&t, 1);       /* VIEW */
    put_long(&t, 1767225601000LL);
    put_long(&t, 0); /* session_id: null */
    put_long(&t, 1); /* category_id */
    put_string(&t, "c-9");
    put_long(&t, 1); /* price */
    double price = 12.5;
    memcpy(t.b + t.n, &price, 8); /* little-endian host */
    t.n += 8;
    sr_event_t ev;
    assert_int_equal(decode_via_registry(r, dec, &t, &ev), SR_OK);
    assert_true(str_eq(ev.event_id, "e-2"));
    assert_true(str_eq(ev.user_id, "u-2"));
    assert_true(str_eq(ev.item_id, "i-2"));
    assert_int_equal(ev.type, SR_EVENT_VIEW);
    assert_int_equal(ev.ts_ms, 1767225601000LL);
    assert_null(ev.session_id.ptr);
    assert_true(str_eq(ev.category_id, "c-9"));
    assert_true(ev.has_price);
    assert_true(ev.price == 12.5);
    sr_click_decoder_destroy(dec);
    sr_schema_registry_destroy(r);
}

#define WITH_SERVER(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        WITH_SERVER(test_registry_known_id_returns_the_schema_text),
        WITH_SERVER(test_registry_second_lookup_is_served_from_the_cache),
        WITH_SERVER(test_registry_404_is_unknown_schema_and_remembered_for_the_ttl),
        WITH_SERVER(test_registry_not_running_is_io_error_and_not_cached),
        cmocka_unit_test(test_registry_silent_server_times_out_within_the_request_timeout),
        WITH_SERVER(test_registry_answer_without_a_schema_is_a_bad_response),
        WITH_SERVER(test_registry_credentials_in_the_url_never_reach_messages),
        cmocka_unit_test(test_registry_url_must_be_http_or_https),
        WITH_SERVER(test_registry_negative_id_is_unknown_without_a_request),
        cmocka_unit_test(test_registry_json_404_quotes_the_registry_error),
        cmocka_unit_test(test_registry_503_is_io_error_worth_retrying),
        cmocka_unit_test(test_registry_401_is_a_bad_response_naming_credentials),
        WITH_SERVER(test_registry_older_writer_without_price_decodes_by_resolution),
        WITH_SERVER(test_registry_newer_writer_with_extra_field_decodes_by_resolution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
