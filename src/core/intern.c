#include "streamrec/intern.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* String storage: chunks of CHUNK_BYTES; each string is stored as a
 * NUL-terminated run in a cell of its size class, and strs[id] points at
 * it. Chunks never move, so pointers handed out stay valid until the id is
 * removed. No length is kept: the NUL that C callers need anyway ends the
 * string (ids with a NUL byte are refused), and a 2-byte length per id was
 * 2 bytes of every user's budget for what strlen of a short id gives when
 * it is wanted -- saving, removal, rehashing, never a lookup.
 *
 * Size classes exist for removal: the cell of a removed id goes on its
 * class's free list and the next string of that class takes it, so a
 * stream of ever-new ids with old ones removed reuses the same bytes
 * instead of filling new chunks. Classes step by 8 bytes up to 128 (ids
 * are short: a few bytes of rounding each) and double above. */
#define CHUNK_BYTES (1u << 20)
#define CELL_STEP 8
#define CELL_SMALL_MAX 128
#define N_CLASSES (CELL_SMALL_MAX / CELL_STEP + 4) /* + 256, 512, 1024, 2048 */

typedef struct chunk {
    struct chunk *next;
    size_t used;
    char bytes[];
} chunk_t;

/* Slot: dense id + 32 bits of the hash, so most probes compare one word
 * without touching the string. id == SR_INTERN_NONE marks an empty slot. */
typedef struct slot {
    uint32_t id;
    uint32_t hash_hi;
} slot_t;

struct sr_intern {
    slot_t *slots;
    size_t mask;      /* n_slots - 1, n_slots a power of two */
    const char **strs;
    size_t count, cap;
    chunk_t *chunks;  /* newest first */
    size_t chunk_total;
    uint32_t *free_ids; /* removed ids, the next to hand out last */
    size_t n_free, free_cap;
    char *free_cell[N_CLASSES]; /* intrusive lists: a free cell's first bytes hold the next */
};

/* The size class of a string of len bytes (its cell holds len + 1). */
static int cell_class(size_t len) {
    size_t need = len + 1;
    if (need <= CELL_SMALL_MAX)
        return (int)((need + CELL_STEP - 1) / CELL_STEP) - 1;
    int c = CELL_SMALL_MAX / CELL_STEP;
    for (size_t cap = 2 * CELL_SMALL_MAX; cap < need; cap *= 2) c++;
    return c;
}

static size_t cell_bytes(int c) {
    if (c < CELL_SMALL_MAX / CELL_STEP)
        return (size_t)(c + 1) * CELL_STEP;
    return (size_t)(2 * CELL_SMALL_MAX) << (c - CELL_SMALL_MAX / CELL_STEP);
}

uint64_t sr_hash_bytes(const void *p, size_t len, uint64_t seed) {
    return XXH3_64bits_withSeed(p, len, seed);
}

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

sr_intern_t *sr_intern_new(size_t expected_ids) {
    sr_intern_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    size_t n_slots = pow2_at_least(expected_ids * 10 / 7 + 1);
    d->slots = malloc(n_slots * sizeof *d->slots);
    if (!d->slots)
        goto fail;
    memset(d->slots, 0xff, n_slots * sizeof *d->slots);
    d->mask = n_slots - 1;
    return d;
fail:
    sr_intern_destroy(d);
    return NULL;
}

void sr_intern_destroy(sr_intern_t *d) {
    if (!d)
        return;
    chunk_t *c = d->chunks;
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(d->slots);
    free(d->strs);
    free(d->free_ids);
    free(d);
}

static size_t probe(const sr_intern_t *d, const char *s, size_t len, uint64_t h,
                    bool *found) {
    uint32_t hi = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & d->mask;; i = (i + 1) & d->mask) {
        const slot_t *sl = &d->slots[i];
        if (sl->id == SR_INTERN_NONE) {
            *found = false;
            return i;
        }
        /* s has no NUL, so strncmp reads the stored string no further
         * than its own NUL, and equal means its byte len is that NUL */
        if (sl->hash_hi == hi && strncmp(d->strs[sl->id], s, len) == 0 &&
            d->strs[sl->id][len] == '\0') {
            *found = true;
            return i;
        }
    }
}

static sr_err_t grow_table(sr_intern_t *d) {
    size_t n_slots = (d->mask + 1) * 2;
    slot_t *slots = malloc(n_slots * sizeof *slots);
    if (!slots)
        return SR_ERR_NOMEM;
    memset(slots, 0xff, n_slots * sizeof *slots);
    size_t mask = n_slots - 1;
    for (uint32_t id = 0; id < d->count; id++) {
        if (!d->strs[id])
            continue; /* removed */
        uint64_t h = sr_hash_bytes(d->strs[id], strlen(d->strs[id]), 0);
        size_t i = (size_t)h & mask;
        while (slots[i].id != SR_INTERN_NONE) i = (i + 1) & mask;
        slots[i].id = id;
        slots[i].hash_hi = (uint32_t)(h >> 32);
    }
    free(d->slots);
    d->slots = slots;
    d->mask = mask;
    return SR_OK;
}

static const char *store(sr_intern_t *d, const char *s, size_t len) {
    int cls = cell_class(len);
    size_t bytes = cell_bytes(cls);
    char *p = d->free_cell[cls];
    if (p) {
        memcpy(&d->free_cell[cls], p, sizeof d->free_cell[cls]); /* the next free cell */
        memcpy(p, s, len);
        p[len] = '\0';
        return p;
    }
    chunk_t *c = d->chunks;
    if (!c || c->used + bytes > CHUNK_BYTES) {
        c = malloc(sizeof *c + CHUNK_BYTES);
        if (!c)
            return NULL;
        c->next = d->chunks;
        c->used = 0;
        d->chunks = c;
        d->chunk_total += sizeof *c + CHUNK_BYTES;
    }
    p = c->bytes + c->used;
    memcpy(p, s, len);
    p[len] = '\0';
    c->used += bytes;
    return p;
}

/* Doubles the per-id array (strs) when every id up to cap is used. */
static sr_err_t grow_ids(sr_intern_t *d) {
    size_t cap = d->cap ? d->cap * 2 : 1024;
    const char **strs = realloc(d->strs, cap * sizeof *strs);
    if (!strs)
        return SR_ERR_NOMEM;
    d->strs = strs;
    d->cap = cap;
    return SR_OK;
}

bool sr_intern_acceptable(const char *s, size_t len) {
    return len > 0 && len <= SR_INTERN_MAX_LEN && !memchr(s, '\0', len);
}

sr_err_t sr_intern_add(sr_intern_t *d, const char *s, size_t len,
                       uint32_t *id_out, bool *added) {
    if (!sr_intern_acceptable(s, len))
        return SR_ERR_INVALID;
    uint64_t h = sr_hash_bytes(s, len, 0);
    bool found;
    size_t i = probe(d, s, len, h, &found);
    if (found) {
        *id_out = d->slots[i].id;
        if (added)
            *added = false;
        return SR_OK;
    }
    if ((d->count - d->n_free + 1) * 10 > (d->mask + 1) * 7) {
        if (grow_table(d) != SR_OK)
            return SR_ERR_NOMEM;
        i = probe(d, s, len, h, &found);
    }
    if (d->n_free == 0 && d->count == d->cap && grow_ids(d) != SR_OK)
        return SR_ERR_NOMEM;
    const char *copy = store(d, s, len);
    if (!copy)
        return SR_ERR_NOMEM;
    uint32_t id = d->n_free > 0 ? d->free_ids[--d->n_free] : (uint32_t)d->count++;
    d->strs[id] = copy;
    d->slots[i].id = id;
    d->slots[i].hash_hi = (uint32_t)(h >> 32);
    *id_out = id;
    if (added)
        *added = true;
    return SR_OK;
}

sr_err_t sr_intern_remove(sr_intern_t *d, uint32_t id) {
    if (id >= d->count || !d->strs[id])
        return SR_ERR_INVALID;
    if (d->n_free == d->free_cap) {
        size_t cap = d->free_cap ? d->free_cap * 2 : 1024;
        uint32_t *ids = realloc(d->free_ids, cap * sizeof *ids);
        if (!ids)
            return SR_ERR_NOMEM;
        d->free_ids = ids;
        d->free_cap = cap;
    }
    bool found;
    size_t len = strlen(d->strs[id]);
    size_t i = probe(d, d->strs[id], len, sr_hash_bytes(d->strs[id], len, 0), &found);
    /* Backward-shift deletion (Knuth 6.4, algorithm R): the entries after the
     * hole that could not sit at or before it move up, so probes stay short
     * and no tombstone ever needs a rehash to clear. */
    for (size_t j = (i + 1) & d->mask;; j = (j + 1) & d->mask) {
        slot_t *sl = &d->slots[j];
        if (sl->id == SR_INTERN_NONE)
            break;
        const char *other = d->strs[sl->id];
        size_t home = (size_t)sr_hash_bytes(other, strlen(other), 0) & d->mask;
        /* it may fill the hole at i unless its home lies cyclically in (i, j] */
        bool home_after_hole = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (home_after_hole)
            continue;
        d->slots[i] = *sl;
        i = j;
    }
    d->slots[i].id = SR_INTERN_NONE;
    d->slots[i].hash_hi = UINT32_MAX;
    int cls = cell_class(len);
    char *cell = (char *)d->strs[id];
    memcpy(cell, &d->free_cell[cls], sizeof d->free_cell[cls]);
    d->free_cell[cls] = cell;
    d->strs[id] = NULL;
    d->free_ids[d->n_free++] = id;
    return SR_OK;
}

uint32_t sr_intern_find(const sr_intern_t *d, const char *s, size_t len) {
    if (!sr_intern_acceptable(s, len))
        return SR_INTERN_NONE;
    bool found;
    size_t i = probe(d, s, len, sr_hash_bytes(s, len, 0), &found);
    return found ? d->slots[i].id : SR_INTERN_NONE;
}

void sr_intern_prefetch_slot(const sr_intern_t *d, uint64_t h) {
    __builtin_prefetch(&d->slots[(size_t)h & d->mask]);
}

uint32_t sr_intern_guess(const sr_intern_t *d, uint64_t h) {
    uint32_t hi = (uint32_t)(h >> 32);
    /* A few probes at most: at load <= 0.7 a longer run is rare (under 1%
     * of ids), and a missed guess only costs a prefetch. */
    for (size_t i = (size_t)h & d->mask, n = 0; n < 8; i = (i + 1) & d->mask, n++) {
        const slot_t *sl = &d->slots[i];
        if (sl->id == SR_INTERN_NONE)
            return SR_INTERN_NONE;
        if (sl->hash_hi == hi) {
            __builtin_prefetch(&d->strs[sl->id]);
            return sl->id;
        }
    }
    return SR_INTERN_NONE;
}

void sr_intern_prefetch_str(const sr_intern_t *d, uint32_t id) {
    if (id < d->count && d->strs[id])
        __builtin_prefetch(d->strs[id]);
}

const char *sr_intern_str(const sr_intern_t *d, uint32_t id, size_t *len_out) {
    if (id >= d->count || !d->strs[id])
        return NULL;
    if (len_out)
        *len_out = strlen(d->strs[id]);
    return d->strs[id];
}

size_t sr_intern_count(const sr_intern_t *d) { return d->count; }

size_t sr_intern_live(const sr_intern_t *d) { return d->count - d->n_free; }

size_t sr_intern_bytes(const sr_intern_t *d) {
    return sizeof *d + (d->mask + 1) * sizeof(slot_t) +
           d->cap * sizeof(char *) + d->free_cap * sizeof(uint32_t) +
           d->chunk_total;
}

/* ---- save and load ------------------------------------------------------
 *
 * "DICT", u32 count, then count x (u16 length, bytes): the ids in dense-id
 * order, length 0 for a removed id; then u32 free count and the removed ids
 * in free-list order. Interning the ids again in that order and restoring
 * the free list hands out the same ids as before the save. */

void sr_intern_save(const sr_intern_t *d, sr_writer_t *w) {
    sr_writer_tag(w, "DICT");
    sr_writer_u32(w, (uint32_t)d->count);
    for (size_t id = 0; id < d->count; id++) {
        size_t len = d->strs[id] ? strlen(d->strs[id]) : 0;
        sr_writer_u16(w, (uint16_t)len);
        if (len > 0)
            sr_writer_bytes(w, d->strs[id], len);
    }
    sr_writer_u32(w, (uint32_t)d->n_free);
    sr_writer_u32s(w, d->free_ids, d->n_free);
}

/* Appends a removed id at the end of the id space (load only). */
static sr_err_t add_hole(sr_intern_t *d) {
    if (d->count == d->cap && grow_ids(d) != SR_OK)
        return SR_ERR_NOMEM;
    d->strs[d->count] = NULL;
    d->count++;
    return SR_OK;
}

sr_err_t sr_intern_load(sr_intern_t *d, sr_reader_t *r, const char *what, char *errstr,
                        size_t errstr_size) {
    if (d->count != 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "%s: loading into a dictionary that already holds ids", what);
    if (!sr_reader_tag(r, "DICT"))
        return sr_reader_ok(r) ? sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                                           "%s: no dictionary where one was expected", what)
                               : sr_reader_error(r, what, errstr, errstr_size);
    uint32_t count = sr_reader_u32(r);
    char s[SR_INTERN_MAX_LEN];
    size_t holes = 0;
    /* No reservation from the count: a corrupt count must not allocate more
     * than the bytes actually present justify. */
    for (uint32_t id = 0; id < count && sr_reader_ok(r); id++) {
        uint16_t len = sr_reader_u16(r);
        if (!sr_reader_ok(r))
            break;
        if (len == 0) {
            if (add_hole(d) != SR_OK)
                return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
            holes++;
            continue;
        }
        if (len > SR_INTERN_MAX_LEN)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "%s: id %u has length %u, over %d", what, id, len,
                             SR_INTERN_MAX_LEN);
        if (!sr_reader_take(r, s, len))
            break;
        if (memchr(s, '\0', len))
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size, "%s: id %u contains a NUL byte",
                             what, id);
        uint32_t got;
        bool added;
        sr_err_t err = sr_intern_add(d, s, len, &got, &added);
        if (err != SR_OK)
            return sr_seterr(err, errstr, errstr_size, "%s: %s", what, sr_err_name(err));
        if (!added)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "%s: id %u repeats id %u ('%.*s')", what, id, got, (int)len, s);
    }
    uint32_t n_free = sr_reader_u32(r);
    if (!sr_reader_ok(r))
        return sr_reader_error(r, what, errstr, errstr_size);
    if (n_free != holes)
        return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                         "%s: %u free ids listed for %zu removed ids", what, n_free, holes);
    if (n_free > 0) {
        if (!(d->free_ids = malloc(n_free * sizeof *d->free_ids)))
            return sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
        d->free_cap = n_free;
        if (!sr_reader_u32s(r, d->free_ids, n_free))
            return sr_reader_error(r, what, errstr, errstr_size);
        /* each removed id once: a listed hole is marked taken while checking */
        static const char listed[] = "";
        uint32_t k = 0;
        for (; k < n_free; k++) {
            uint32_t id = d->free_ids[k];
            if (id >= d->count || d->strs[id])
                break;
            d->strs[id] = listed;
        }
        for (uint32_t m = 0; m < k; m++) d->strs[d->free_ids[m]] = NULL;
        if (k < n_free)
            return sr_seterr(SR_ERR_CORRUPT, errstr, errstr_size,
                             "%s: free id %u is out of range, in use or repeated", what,
                             d->free_ids[k]);
        d->n_free = n_free;
    }
    return SR_OK;
}
