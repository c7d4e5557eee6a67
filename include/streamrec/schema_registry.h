/* streamrec schema_registry: writer schemas by id from a Confluent Schema
 * Registry, over its REST API.
 *
 *     GET {url}/schemas/ids/{id}
 *     200 {"schema": "<the schema's JSON, as a string>", ...}
 *     404 {"error_code": 40403, "message": "Schema 42 not found"}
 *
 * This module fetches and caches schema text; it knows nothing about Avro.
 * The caller registers what it gets with the decoder
 * (sr_click_decoder_add_schema) and owns the policy for failures.
 *
 * Caching. A schema id names one immutable schema for the registry's
 * lifetime, so a schema, once fetched, is kept until the client is destroyed
 * and each id is fetched at most once. An id the registry does not know is
 * remembered for missing_ttl_ms: a stream full of records with one bad id
 * costs one request per TTL, not one per record, and an id registered later
 * (a registry replica behind its leader) is still found after the TTL.
 * Failures to reach the registry are never cached. Lookups are O(1) expected;
 * memory is one entry per distinct id asked for.
 *
 * Errors of sr_schema_registry_get, each with a message that names the id
 * and the registry (the URL without any user:password):
 *   SR_ERR_UNKNOWN_SCHEMA  the registry answered 404: it has no schema with
 *                          that id (records using it cannot be read);
 *   SR_ERR_IO              the registry could not be asked: connection
 *                          refused, name not resolved, TLS failure, no answer
 *                          within request_timeout_ms, or an answer saying it
 *                          is unavailable right now (408, 429, 5xx). Worth
 *                          retrying later; says nothing about the record;
 *   SR_ERR_INVALID         the registry (or whatever answers at the URL)
 *                          gave a response that is not a schema: another 4xx
 *                          (401 and 403 mean missing or wrong credentials), a
 *                          2xx whose body is not JSON with a "schema" string,
 *                          or a body over 8 MiB. A configuration problem, not
 *                          a record problem;
 *   SR_ERR_NOMEM.
 *
 * Basic authentication: credentials in the URL's userinfo
 * (https://user:password@registry:8081) are sent as HTTP basic auth and
 * never appear in messages. One URL only (no list of registries).
 *
 * libcurl's global state is set up by the first sr_schema_registry_new()
 * and torn down by the last sr_schema_registry_destroy(), under a lock.
 *
 * Threads: one object is used by one thread at a time (the engine thread);
 * sr_schema_registry_get() blocks for at most request_timeout_ms. */
#ifndef STREAMREC_SCHEMA_REGISTRY_H
#define STREAMREC_SCHEMA_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "streamrec/err.h"

typedef struct sr_schema_registry_config {
    const char *url;        /* http(s)://[user:password@]host[:port][/path]; copied */
    int request_timeout_ms; /* one HTTP request, connecting included; > 0 */
    int64_t missing_ttl_ms; /* how long a 404 is remembered; 0: not at all */
} sr_schema_registry_config_t;

/* Defaults: no URL, 10 s per request, a 404 remembered for 60 s. */
void sr_schema_registry_config_init(sr_schema_registry_config_t *cfg);

typedef struct sr_schema_registry sr_schema_registry_t;

/* A client for cfg->url; does not contact the registry yet. NULL with a
 * message for a URL that is not http(s)://..., a timeout <= 0, or out of
 * memory. */
sr_schema_registry_t *sr_schema_registry_new(const sr_schema_registry_config_t *cfg,
                                             char *errstr, size_t errstr_size);

/* The schema JSON of id: from the cache, or fetched now (one request). On
 * SR_OK *schema_json_out is NUL-terminated, borrowed, and valid until
 * sr_schema_registry_destroy(). Errors as above; *schema_json_out is then
 * untouched. */
sr_err_t sr_schema_registry_get(sr_schema_registry_t *r, int32_t id,
                                const char **schema_json_out, char *errstr,
                                size_t errstr_size);

/* HTTP requests made so far (answered or not): for tests and metrics. */
uint64_t sr_schema_registry_requests(const sr_schema_registry_t *r);

/* The registry's URL as it appears in messages: userinfo removed, no
 * trailing slash. Borrowed, valid until destroy. */
const char *sr_schema_registry_url(const sr_schema_registry_t *r);

void sr_schema_registry_destroy(sr_schema_registry_t *r);

#endif
