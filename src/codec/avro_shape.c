#include "codec/avro_shape.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Nesting bound for the check (and so for Avro-C's recursive reader after
 * it): a recursive schema such as a linked list would otherwise let a
 * crafted message of a few KB exhaust the stack. Our schemas nest 2 deep. */
#define SHAPE_MAX_DEPTH 64

/* Largest item count accepted for an array or map whose items can encode in
 * zero bytes (e.g. array<null>): nothing in the input bounds such a count,
 * and Avro-C appends one value per item. */
#define SHAPE_MAX_ZERO_WIDTH_ITEMS 65536

typedef enum shape_kind {
    K_NULL,
    K_BOOLEAN,
    K_INT,
    K_LONG,
    K_FLOAT,
    K_DOUBLE,
    K_STRING,
    K_BYTES,
    K_FIXED,
    K_ENUM,
    K_RECORD,
    K_UNION,
    K_ARRAY,
    K_MAP
} shape_kind_t;

typedef struct shape_node {
    shape_kind_t kind;
    /* fixed: size in bytes; enum: symbols; record: fields; union: branches */
    uint32_t count;
    /* record, union: index of the first child in children[];
     * array, map: node index of the items (values) */
    uint32_t first;
    /* fewest bytes any datum of this node encodes in; bounds array counts */
    uint32_t min_bytes;
} shape_node_t;

/* A named schema already compiled, so that links (and recursion) resolve to
 * the same node instead of compiling forever. */
/* One record field or union branch. */
typedef struct shape_child {
    uint32_t node;
    const char *name; /* record field name, owned by the schema; NULL for branches */
} shape_child_t;

typedef struct named_node {
    avro_schema_t schema;
    uint32_t node;
} named_node_t;

struct sr_avro_shape {
    shape_node_t *nodes;
    uint32_t n_nodes, cap_nodes;
    shape_child_t *children;
    uint32_t n_children, cap_children;
    named_node_t *named;       /* compile time only */
    uint32_t n_named, cap_named;
    uint32_t root;
};

/* ---- compile ------------------------------------------------------------ */

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem_size) {
    if (need <= *cap)
        return true;
    uint32_t new_cap = *cap ? *cap * 2 : 16;
    while (new_cap < need) new_cap *= 2;
    void *p = realloc(*arr, (size_t)new_cap * elem_size);
    if (!p)
        return false;
    *arr = p;
    *cap = new_cap;
    return true;
}

static sr_err_t add_node(sr_avro_shape_t *s, shape_kind_t kind, uint32_t count,
                         uint32_t min_bytes, uint32_t *index_out, char *errstr,
                         size_t errstr_size) {
    if (!grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof *s->nodes))
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "avro shape: out of memory");
    s->nodes[s->n_nodes] = (shape_node_t){kind, count, 0, min_bytes};
    *index_out = s->n_nodes++;
    return SR_OK;
}

static uint32_t sat_add(uint32_t a, uint32_t b) {
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static sr_err_t compile(sr_avro_shape_t *s, avro_schema_t schema, uint32_t *index_out,
                        char *errstr, size_t errstr_size);

/* Compiles n children (record fields or union branches) and stores their node
 * indexes contiguously. Children are compiled first and copied after, since
 * compiling one may append the children of a nested record. */
static sr_err_t compile_children(sr_avro_shape_t *s, avro_schema_t schema, bool is_record,
                                 uint32_t n, uint32_t *first_out, uint32_t *min_out,
                                 char *errstr, size_t errstr_size) {
    sr_err_t err = SR_OK;
    uint32_t *tmp = calloc(n ? n : 1, sizeof *tmp);
    if (!tmp)
        return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "avro shape: out of memory");

    uint32_t sum = 0, min = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        avro_schema_t child = is_record
                                  ? avro_schema_record_field_get_by_index(schema, (int)i)
                                  : avro_schema_union_branch(schema, (int)i);
        if (!child) {
            err = sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                            "avro shape: %s child %" PRIu32 " missing",
                            is_record ? "record" : "union", i);
            goto done;
        }
        if ((err = compile(s, child, &tmp[i], errstr, errstr_size)) != SR_OK)
            goto done;
        uint32_t m = s->nodes[tmp[i]].min_bytes;
        sum = sat_add(sum, m);
        if (m < min) min = m;
    }

    if (!grow((void **)&s->children, &s->cap_children, s->n_children + n,
              sizeof *s->children)) {
        err = sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "avro shape: out of memory");
        goto done;
    }
    *first_out = s->n_children;
    for (uint32_t i = 0; i < n; i++) {
        s->children[s->n_children + i] = (shape_child_t){
            tmp[i], is_record ? avro_schema_record_field_name(schema, (int)i) : NULL};
    }
    s->n_children += n;
    *min_out = is_record ? sum : sat_add(1, n ? min : 0);
done:
    free(tmp);
    return err;
}

static sr_err_t compile(sr_avro_shape_t *s, avro_schema_t schema, uint32_t *index_out,
                        char *errstr, size_t errstr_size) {
    sr_err_t err;
    uint32_t idx = 0; /* set by add_node(); initialised for -O3 -Wmaybe-uninitialized */

    if (is_avro_link(schema))
        schema = avro_schema_link_target(schema);
    if (!schema)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "avro shape: NULL schema");

    if (is_avro_named_type(schema)) {
        for (uint32_t i = 0; i < s->n_named; i++)
            if (s->named[i].schema == schema) {
                *index_out = s->named[i].node;
                return SR_OK;
            }
    }

    switch (avro_typeof(schema)) {
    case AVRO_NULL:    return add_node(s, K_NULL, 0, 0, index_out, errstr, errstr_size);
    case AVRO_BOOLEAN: return add_node(s, K_BOOLEAN, 0, 1, index_out, errstr, errstr_size);
    case AVRO_INT32:   return add_node(s, K_INT, 0, 1, index_out, errstr, errstr_size);
    case AVRO_INT64:   return add_node(s, K_LONG, 0, 1, index_out, errstr, errstr_size);
    case AVRO_FLOAT:   return add_node(s, K_FLOAT, 0, 4, index_out, errstr, errstr_size);
    case AVRO_DOUBLE:  return add_node(s, K_DOUBLE, 0, 8, index_out, errstr, errstr_size);
    case AVRO_STRING:  return add_node(s, K_STRING, 0, 1, index_out, errstr, errstr_size);
    case AVRO_BYTES:   return add_node(s, K_BYTES, 0, 1, index_out, errstr, errstr_size);
    default:           break;
    }

    avro_type_t type = avro_typeof(schema);
    if (type == AVRO_FIXED || type == AVRO_ENUM || type == AVRO_RECORD) {
        uint32_t count = 0, min = 1;
        shape_kind_t kind = K_RECORD;
        if (type == AVRO_FIXED) {
            int64_t size = avro_schema_fixed_size(schema);
            if (size < 0 || size > UINT32_MAX)
                return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                                 "avro shape: fixed size %" PRId64 " out of range", size);
            kind = K_FIXED;
            count = min = (uint32_t)size;
        } else if (type == AVRO_ENUM) {
            kind = K_ENUM;
            count = (uint32_t)avro_schema_enum_number_of_symbols(schema);
        } else {
            count = (uint32_t)avro_schema_record_size(schema);
            min = 0;
        }
        if ((err = add_node(s, kind, count, min, &idx, errstr, errstr_size)) != SR_OK)
            return err;
        /* Registered before the fields compile, so a field that links back to
         * this record finds it. */
        if (!grow((void **)&s->named, &s->cap_named, s->n_named + 1, sizeof *s->named))
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "avro shape: out of memory");
        s->named[s->n_named++] = (named_node_t){schema, idx};
        if (kind == K_RECORD) {
            uint32_t first = 0, min_bytes = 0;
            if ((err = compile_children(s, schema, true, count, &first, &min_bytes, errstr,
                                        errstr_size)) != SR_OK)
                return err;
            s->nodes[idx].first = first;
            s->nodes[idx].min_bytes = min_bytes;
        }
        *index_out = idx;
        return SR_OK;
    }

    if (type == AVRO_UNION) {
        uint32_t count = (uint32_t)avro_schema_union_size(schema), first = 0, min = 1;
        if ((err = add_node(s, K_UNION, count, 1, &idx, errstr, errstr_size)) != SR_OK)
            return err;
        if ((err = compile_children(s, schema, false, count, &first, &min, errstr,
                                    errstr_size)) != SR_OK)
            return err;
        s->nodes[idx].first = first;
        s->nodes[idx].min_bytes = min;
        *index_out = idx;
        return SR_OK;
    }

    if (type == AVRO_ARRAY || type == AVRO_MAP) {
        uint32_t items;
        avro_schema_t item_schema = type == AVRO_ARRAY ? avro_schema_array_items(schema)
                                                       : avro_schema_map_values(schema);
        if ((err = add_node(s, type == AVRO_ARRAY ? K_ARRAY : K_MAP, 0, 1, &idx, errstr,
                            errstr_size)) != SR_OK)
            return err;
        if ((err = compile(s, item_schema, &items, errstr, errstr_size)) != SR_OK)
            return err;
        s->nodes[idx].first = items;
        *index_out = idx;
        return SR_OK;
    }

    return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                     "avro shape: unsupported schema type %s", avro_schema_type_name(schema));
}

sr_avro_shape_t *sr_avro_shape_new(avro_schema_t schema, char *errstr, size_t errstr_size) {
    sr_avro_shape_t *s = calloc(1, sizeof *s);
    if (!s) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "avro shape: out of memory");
        goto fail;
    }
    if (compile(s, schema, &s->root, errstr, errstr_size) != SR_OK)
        goto fail;
    /* The memo of named schemas is only needed while compiling. */
    free(s->named);
    s->named = NULL;
    s->n_named = s->cap_named = 0;
    return s;
fail:
    sr_avro_shape_destroy(s);
    return NULL;
}

void sr_avro_shape_destroy(sr_avro_shape_t *s) {
    if (!s)
        return;
    free(s->nodes);
    free(s->children);
    free(s->named);
    free(s);
}

/* ---- check -------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *start, *p, *end;
    const char *field; /* innermost record field being read, for messages */
    char *errstr;
    size_t errstr_size;
} cursor_t;

static const char *field_name(const cursor_t *c) {
    return c->field ? c->field : "(top level)";
}

static size_t offset(const cursor_t *c) {
    return (size_t)(c->p - c->start);
}

/* need: bytes from the current position the datum needs at least */
static sr_err_t truncated(cursor_t *c, uint64_t need) {
    uint64_t total = (uint64_t)offset(c) + need;
    return sr_seterr(SR_ERR_TRUNCATED, c->errstr, c->errstr_size,
                     "truncated: input ends after %zu bytes, field '%s' needs at least %" PRIu64,
                     (size_t)(c->end - c->start), field_name(c), total);
}

static sr_err_t read_varint(cursor_t *c, int64_t *out) {
    uint64_t value = 0;
    for (int i = 0; i < 10; i++) {
        if (c->p + i >= c->end)
            return truncated(c, (uint64_t)i + 1);
        uint8_t b = c->p[i];
        value |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            c->p += i + 1;
            /* zig-zag decode */
            *out = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
            return SR_OK;
        }
    }
    return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                     "field '%s': varint at byte %zu is longer than 10 bytes",
                     field_name(c), offset(c));
}

static sr_err_t skip_bytes(cursor_t *c, uint64_t n) {
    if ((uint64_t)(c->end - c->p) < n)
        return truncated(c, n);
    c->p += n;
    return SR_OK;
}

static sr_err_t check_node(const sr_avro_shape_t *s, uint32_t node, cursor_t *c, int depth);

/* Array and map bodies: a sequence of blocks, each a count (negative: the
 * count's absolute value followed by the block's byte size) and that many
 * items, ended by a zero count. */
static sr_err_t check_blocks(const sr_avro_shape_t *s, const shape_node_t *n, cursor_t *c,
                             int depth) {
    sr_err_t err;
    bool is_map = n->kind == K_MAP;
    uint32_t item_min = sat_add(s->nodes[n->first].min_bytes, is_map ? 1 : 0);
    uint64_t zero_width_items = 0;

    for (;;) {
        int64_t count;
        if ((err = read_varint(c, &count)) != SR_OK)
            return err;
        if (count == 0)
            return SR_OK;
        if (count < 0) {
            int64_t block_bytes;
            if (count == INT64_MIN)
                return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                                 "field '%s': %s block count out of range", field_name(c),
                                 is_map ? "map" : "array");
            count = -count;
            if ((err = read_varint(c, &block_bytes)) != SR_OK)
                return err;
            if (block_bytes < 0)
                return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                                 "field '%s': negative %s block size %" PRId64, field_name(c),
                                 is_map ? "map" : "array", block_bytes);
        }
        if (item_min > 0) {
            /* Refuse a count the bytes left cannot hold before looping over
             * it: a corrupt count near 2^63 would otherwise spin (and make
             * Avro-C append) long after the input ran out. */
            if ((uint64_t)count > (uint64_t)(c->end - c->p) / item_min)
                return truncated(c, (uint64_t)count > UINT32_MAX
                                        ? (uint64_t)count
                                        : (uint64_t)count * item_min);
        } else {
            zero_width_items += (uint64_t)count;
            if (zero_width_items > SHAPE_MAX_ZERO_WIDTH_ITEMS)
                return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                                 "field '%s': more than %d zero-width %s items",
                                 field_name(c), SHAPE_MAX_ZERO_WIDTH_ITEMS,
                                 is_map ? "map" : "array");
        }
        for (int64_t i = 0; i < count; i++) {
            if (is_map) {
                int64_t key_len;
                if ((err = read_varint(c, &key_len)) != SR_OK)
                    return err;
                if (key_len < 0)
                    return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                                     "field '%s': negative map key length %" PRId64,
                                     field_name(c), key_len);
                if ((err = skip_bytes(c, (uint64_t)key_len)) != SR_OK)
                    return err;
            }
            if ((err = check_node(s, n->first, c, depth + 1)) != SR_OK)
                return err;
        }
    }
}

static sr_err_t check_node(const sr_avro_shape_t *s, uint32_t node, cursor_t *c, int depth) {
    const shape_node_t *n = &s->nodes[node];
    sr_err_t err;
    int64_t v;

    if (depth > SHAPE_MAX_DEPTH)
        return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                         "field '%s': nested deeper than %d levels", field_name(c),
                         SHAPE_MAX_DEPTH);

    switch (n->kind) {
    case K_NULL:
        return SR_OK;
    case K_BOOLEAN:
        if (c->p >= c->end)
            return truncated(c, 1);
        if (*c->p > 1)
            return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                             "field '%s': boolean byte is %u, not 0 or 1", field_name(c),
                             *c->p);
        c->p++;
        return SR_OK;
    case K_INT:
        if ((err = read_varint(c, &v)) != SR_OK)
            return err;
        if (v < INT32_MIN || v > INT32_MAX)
            return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                             "field '%s': %" PRId64 " does not fit an Avro int", field_name(c),
                             v);
        return SR_OK;
    case K_LONG:
        return read_varint(c, &v);
    case K_FLOAT:
        return skip_bytes(c, 4);
    case K_DOUBLE:
        return skip_bytes(c, 8);
    case K_FIXED:
        return skip_bytes(c, n->count);
    case K_STRING:
    case K_BYTES:
        if ((err = read_varint(c, &v)) != SR_OK)
            return err;
        if (v < 0)
            return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                             "field '%s': negative %s length %" PRId64, field_name(c),
                             n->kind == K_STRING ? "string" : "bytes", v);
        return skip_bytes(c, (uint64_t)v);
    case K_ENUM:
        if ((err = read_varint(c, &v)) != SR_OK)
            return err;
        if (v < 0 || v >= n->count)
            return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                             "field '%s': enum index %" PRId64 " out of range (%" PRIu32
                             " symbols)",
                             field_name(c), v, n->count);
        return SR_OK;
    case K_UNION:
        if ((err = read_varint(c, &v)) != SR_OK)
            return err;
        if (v < 0 || v >= n->count)
            return sr_seterr(SR_ERR_BAD_FIELD, c->errstr, c->errstr_size,
                             "field '%s': union branch %" PRId64 " does not exist (%" PRIu32
                             " branches)",
                             field_name(c), v, n->count);
        return check_node(s, s->children[n->first + (uint32_t)v].node, c, depth + 1);
    case K_RECORD:
        for (uint32_t i = 0; i < n->count; i++) {
            c->field = s->children[n->first + i].name;
            if ((err = check_node(s, s->children[n->first + i].node, c, depth + 1)) != SR_OK)
                return err;
        }
        return SR_OK;
    case K_ARRAY:
    case K_MAP:
        return check_blocks(s, n, c, depth);
    }
    return sr_seterr(SR_ERR_INVALID, c->errstr, c->errstr_size, "avro shape: corrupt node");
}

sr_err_t sr_avro_shape_check(const sr_avro_shape_t *s, const uint8_t *buf, size_t len,
                             char *errstr, size_t errstr_size) {
    static const uint8_t empty[1];
    if (!buf)
        buf = empty; /* len is 0 then; keeps pointer arithmetic defined */
    cursor_t c = {buf, buf, buf + len, NULL, errstr, errstr_size};
    sr_err_t err = check_node(s, s->root, &c, 0);
    if (err != SR_OK)
        return err;
    if (c.p != c.end)
        return sr_seterr(SR_ERR_BAD_FIELD, errstr, errstr_size,
                         "trailing bytes: the record ends after %zu of %zu bytes "
                         "(payload written with another schema?)",
                         offset(&c), len);
    return SR_OK;
}
