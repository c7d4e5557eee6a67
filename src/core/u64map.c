#include "streamrec/u64map.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY UINT64_MAX

typedef struct entry {
    uint64_t key;
    uint32_t value;
} entry_t;

struct sr_u64map {
    entry_t *slots;
    size_t mask, count;
};

/* The murmur3 finaliser: keys are often (a << 32 | b) with small a and b,
 * which a plain modulo would cluster. */
static inline uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
}

static entry_t *alloc_slots(size_t n) {
    entry_t *s = malloc(n * sizeof *s);
    if (s)
        for (size_t i = 0; i < n; i++) s[i].key = EMPTY;
    return s;
}

sr_u64map_t *sr_u64map_new(size_t expected) {
    sr_u64map_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    size_t n = 16;
    while (n < expected * 2) n <<= 1;
    if (!(m->slots = alloc_slots(n))) {
        free(m);
        return NULL;
    }
    m->mask = n - 1;
    return m;
}

void sr_u64map_destroy(sr_u64map_t *m) {
    if (!m)
        return;
    free(m->slots);
    free(m);
}

static entry_t *find(const sr_u64map_t *m, uint64_t key) {
    for (size_t i = mix(key) & m->mask;; i = (i + 1) & m->mask)
        if (m->slots[i].key == key || m->slots[i].key == EMPTY)
            return &m->slots[i];
}

bool sr_u64map_get(const sr_u64map_t *m, uint64_t key, uint32_t *value) {
    if (key == EMPTY)
        return false;
    const entry_t *e = find(m, key);
    if (e->key != key)
        return false;
    if (value)
        *value = e->value;
    return true;
}

static sr_err_t grow(sr_u64map_t *m) {
    size_t n = (m->mask + 1) * 2;
    entry_t *old = m->slots, *slots = alloc_slots(n);
    if (!slots)
        return SR_ERR_NOMEM;
    size_t old_n = m->mask + 1;
    m->slots = slots;
    m->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].key != EMPTY)
            *find(m, old[i].key) = old[i];
    free(old);
    return SR_OK;
}

sr_err_t sr_u64map_put(sr_u64map_t *m, uint64_t key, uint32_t value) {
    if (key == EMPTY)
        return SR_ERR_INVALID;
    entry_t *e = find(m, key);
    if (e->key == key) {
        e->value = value;
        return SR_OK;
    }
    if ((m->count + 1) * 2 > m->mask + 1) {
        if (grow(m) != SR_OK)
            return SR_ERR_NOMEM;
        e = find(m, key);
    }
    e->key = key;
    e->value = value;
    m->count++;
    return SR_OK;
}

size_t sr_u64map_count(const sr_u64map_t *m) { return m->count; }
