/* Confluent Schema Registry client: see include/streamrec/schema_registry.h.
 *
 * One libcurl easy handle per client, reused for every request, so lookups
 * after the first reuse its connection (keep-alive) instead of paying a TCP
 * and TLS handshake each. Responses are collected into one growing buffer
 * that is kept between requests. */
#include "streamrec/schema_registry.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "streamrec/clock.h"
#include "streamrec/u64map.h"

/* Largest response body accepted. Confluent's own limit on a schema is far
 * smaller in practice; this only stops a wrong URL (a file server, a proxy's
 * error page) from making us buffer without end. */
#define BODY_MAX_BYTES (8u << 20)

/* Longest piece of a registry's error message quoted in ours. */
#define SHOWN_MESSAGE_MAX 200

typedef struct entry {
    char *schema_json;        /* NULL: the registry answered 404 */
    int64_t missing_until_ms; /* monotonic; a 404 is asked again from then on */
} entry_t;

struct sr_schema_registry {
    char *base_url;  /* as configured, without trailing '/': requests */
    char *shown_url; /* without userinfo: messages */
    int request_timeout_ms;
    int64_t missing_ttl_ms;
    CURL *curl;
    struct curl_slist *headers;
    bool curl_global_held;
    char curl_error[CURL_ERROR_SIZE];
    sr_u64map_t *index; /* schema id -> entries[] */
    entry_t *entries;
    size_t n_entries, cap_entries;
    char *body; /* the last response, NUL-terminated after a request */
    size_t body_len, body_cap;
    bool body_too_large;
    uint64_t requests;
};

/* ---- libcurl's global state --------------------------------------------
 * curl_global_init() is not thread-safe in every libcurl build, and the
 * daemon creates clients after librdkafka started its threads: guard it and
 * count users, so the last destroy releases it (and valgrind sees no leak). */

static pthread_mutex_t curl_global_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned curl_global_users;

static bool curl_global_acquire(void) {
    bool ok = true;
    pthread_mutex_lock(&curl_global_lock);
    if (curl_global_users == 0)
        ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (ok)
        curl_global_users++;
    pthread_mutex_unlock(&curl_global_lock);
    return ok;
}

static void curl_global_release(void) {
    pthread_mutex_lock(&curl_global_lock);
    if (curl_global_users > 0 && --curl_global_users == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&curl_global_lock);
}

/* ---- setup -------------------------------------------------------------- */

void sr_schema_registry_config_init(sr_schema_registry_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->request_timeout_ms = 10000;
    cfg->missing_ttl_ms = 60000;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque) {
    sr_schema_registry_t *r = opaque;
    size_t n = size * nmemb;
    if (n > BODY_MAX_BYTES - r->body_len) {
        r->body_too_large = true;
        return 0; /* makes curl_easy_perform fail with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *body = realloc(r->body, cap);
        if (!body)
            return 0;
        r->body = body;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return n;
}

/* The URL for messages: checked to be http(s), userinfo dropped, no
 * trailing '/'. NULL with a message otherwise. */
static char *shown_url_of(const char *url, char *errstr, size_t errstr_size) {
    CURLU *u = curl_url();
    char *scheme = NULL, *shown = NULL, *copy = NULL;
    if (!u) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size,
                  "schema registry URL is not http://host:port or https://host:port");
        goto done;
    }
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &shown, 0) != CURLUE_OK) {
        sr_seterr(SR_ERR_CONFIG, errstr, errstr_size, "schema registry URL cannot be parsed");
        goto done;
    }
    if (!(copy = strdup(shown))) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto done;
    }
    size_t len = strlen(copy);
    while (len > 0 && copy[len - 1] == '/') copy[--len] = '\0';
done:
    curl_free(scheme);
    curl_free(shown);
    curl_url_cleanup(u);
    return copy;
}

sr_schema_registry_t *sr_schema_registry_new(const sr_schema_registry_config_t *cfg,
                                             char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->url || !cfg->url[0]) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "schema registry URL is empty");
        return NULL;
    }
    if (cfg->request_timeout_ms <= 0 || cfg->missing_ttl_ms < 0) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "schema registry: request timeout must be > 0 and missing TTL >= 0");
        return NULL;
    }
    sr_schema_registry_t *r = calloc(1, sizeof *r);
    if (!r)
        goto nomem;
    r->request_timeout_ms = cfg->request_timeout_ms;
    r->missing_ttl_ms = cfg->missing_ttl_ms;
    if (!curl_global_acquire()) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "schema registry: libcurl failed to initialise");
        goto fail;
    }
    r->curl_global_held = true;
    if (!(r->shown_url = shown_url_of(cfg->url, errstr, errstr_size)))
        goto fail;
    if (!(r->base_url = strdup(cfg->url)) || !(r->index = sr_u64map_new(16)))
        goto nomem;
    size_t len = strlen(r->base_url);
    while (len > 0 && r->base_url[len - 1] == '/') r->base_url[--len] = '\0';

    if (!(r->curl = curl_easy_init()) ||
        !(r->headers = curl_slist_append(
              NULL, "Accept: application/vnd.schemaregistry.v1+json, "
                    "application/vnd.schemaregistry+json, application/json")))
        goto nomem;
    /* NOSIGNAL: libcurl's resolver timeout would otherwise use SIGALRM,
     * which is not safe in a process with librdkafka's threads. */
    if (curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)r->request_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)r->request_timeout_ms) !=
            CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "streamrec") != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r) != CURLE_OK ||
        curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_error) != CURLE_OK) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size,
                  "schema registry: this libcurl lacks an option streamrec needs");
        goto fail;
    }
    return r;
nomem:
    sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    sr_schema_registry_destroy(r);
    return NULL;
}

void sr_schema_registry_destroy(sr_schema_registry_t *r) {
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    if (r->curl_global_held)
        curl_global_release();
    for (size_t k = 0; k < r->n_entries; k++) free(r->entries[k].schema_json);
    free(r->entries);
    sr_u64map_destroy(r->index);
    free(r->body);
    free(r->base_url);
    free(r->shown_url);
    free(r);
}

uint64_t sr_schema_registry_requests(const sr_schema_registry_t *r) { return r->requests; }

const char *sr_schema_registry_url(const sr_schema_registry_t *r) { return r->shown_url; }

/* ---- lookups ------------------------------------------------------------ */

static uint64_t key_of(int32_t id) { return (uint64_t)(uint32_t)id; }

static entry_t *find(sr_schema_registry_t *r, int32_t id) {
    uint32_t k;
    return sr_u64map_get(r->index, key_of(id), &k) ? &r->entries[k] : NULL;
}

static entry_t *add(sr_schema_registry_t *r, int32_t id) {
    if (r->n_entries == r->cap_entries) {
        size_t cap = r->cap_entries ? r->cap_entries * 2 : 16;
        entry_t *e = realloc(r->entries, cap * sizeof *e);
        if (!e)
            return NULL;
        r->entries = e;
        r->cap_entries = cap;
    }
    if (r->n_entries >= UINT32_MAX ||
        sr_u64map_put(r->index, key_of(id), (uint32_t)r->n_entries) != SR_OK)
        return NULL;
    entry_t *e = &r->entries[r->n_entries++];
    memset(e, 0, sizeof *e);
    return e;
}

/* ", error_code 40403: Schema 42 not found" from a Confluent error body,
 * "" from anything else (python's and nginx's HTML error pages say nothing
 * the status does not). */
static void registry_message(const json_t *root, char *out, size_t out_size) {
    out[0] = '\0';
    const json_t *code = json_object_get(root, "error_code");
    const json_t *message = json_object_get(root, "message");
    if (json_is_integer(code) && json_is_string(message))
        snprintf(out, out_size, ", error_code %" JSON_INTEGER_FORMAT ": %.*s",
                 json_integer_value(code), SHOWN_MESSAGE_MAX, json_string_value(message));
    else if (json_is_string(message))
        snprintf(out, out_size, ": %.*s", SHOWN_MESSAGE_MAX, json_string_value(message));
}

/* One GET of /schemas/ids/{id}. On SR_OK *schema_out is a malloc'd copy of
 * the schema JSON. */
static sr_err_t fetch(sr_schema_registry_t *r, int32_t id, char **schema_out, char *errstr,
                      size_t errstr_size) {
    size_t url_size = strlen(r->base_url) + sizeof "/schemas/ids/-2147483648";
    char *url = malloc(url_size);
    if (!url)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(url, url_size, "%s/schemas/ids/%" PRId32, r->base_url, id);
    r->body_len = 0;
    r->body_too_large = false;
    r->curl_error[0] = '\0';
    r->requests++;
    CURLcode rc = curl_easy_setopt(r->curl, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(r->curl);
    free(url);

    if (r->body_too_large)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "schema registry %s: the response for schema id %" PRId32
                         " is larger than %u MiB; is this a schema registry?",
                         r->shown_url, id, BODY_MAX_BYTES >> 20);
    if (rc != CURLE_OK)
        return sr_seterr(rc == CURLE_OUT_OF_MEMORY ? SR_ERR_NOMEM : SR_ERR_IO, errstr,
                         errstr_size,
                         "schema registry %s unreachable (fetching schema id %" PRId32 "): %s",
                         r->shown_url, id,
                         r->curl_error[0] ? r->curl_error : curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);

    json_t *root = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
    char detail[SHOWN_MESSAGE_MAX + 64];
    registry_message(root, detail, sizeof detail);
    sr_err_t err;
    if (status >= 200 && status < 300) {
        const json_t *schema = json_object_get(root, "schema");
        if (!json_is_string(schema))
            err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                            "schema registry %s: the response for schema id %" PRId32
                            " (HTTP %ld) is not JSON with a \"schema\" string; "
                            "is this a schema registry?",
                            r->shown_url, id, status);
        else if (!(*schema_out = strdup(json_string_value(schema))))
            err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        else
            err = SR_OK;
    } else if (status == 404) {
        err = sr_seterr(SR_ERR_UNKNOWN_SCHEMA, errstr, errstr_size,
                        "schema id %" PRId32 " not found in the schema registry %s (HTTP 404%s)",
                        id, r->shown_url, detail);
    } else if (status == 408 || status == 429 || status >= 500) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size,
                        "schema registry %s unavailable (fetching schema id %" PRId32
                        "): HTTP %ld%s",
                        r->shown_url, id, status, detail);
    } else if (status == 401 || status == 403) {
        err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                        "schema registry %s refused to serve schema id %" PRId32
                        " (HTTP %ld%s): credentials missing or wrong",
                        r->shown_url, id, status, detail);
    } else {
        err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                        "schema registry %s answered HTTP %ld for schema id %" PRId32 "%s",
                        r->shown_url, status, id, detail);
    }
    json_decref(root);
    return err;
}

sr_err_t sr_schema_registry_get(sr_schema_registry_t *r, int32_t id,
                                const char **schema_json_out, char *errstr,
                                size_t errstr_size) {
    if (!r || !schema_json_out)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "schema registry: no output");
    /* Registries assign non-negative ids; a negative one (top bit set) is a
     * corrupt header, not worth a request. */
    if (id < 0)
        return sr_seterr(SR_ERR_UNKNOWN_SCHEMA, errstr, errstr_size,
                         "schema id %" PRId32 " is negative: no registry assigns it", id);
    entry_t *e = find(r, id);
    int64_t now_ms = sr_clock_mono_ms();
    if (e && e->schema_json) {
        *schema_json_out = e->schema_json;
        return SR_OK;
    }
    if (e && now_ms < e->missing_until_ms)
        return sr_seterr(SR_ERR_UNKNOWN_SCHEMA, errstr, errstr_size,
                         "schema id %" PRId32 " not found in the schema registry %s "
                         "(HTTP 404, asked again after %" PRId64 " ms)",
                         id, r->shown_url, e->missing_until_ms - now_ms);

    char *schema = NULL;
    sr_err_t err = fetch(r, id, &schema, errstr, errstr_size);
    if (err != SR_OK && err != SR_ERR_UNKNOWN_SCHEMA)
        return err;
    if (!e && !(e = add(r, id))) {
        free(schema);
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (err == SR_ERR_UNKNOWN_SCHEMA) {
        e->missing_until_ms = sr_clock_mono_ms() + r->missing_ttl_ms;
        return err;
    }
    e->schema_json = schema;
    *schema_json_out = schema;
    return SR_OK;
}
