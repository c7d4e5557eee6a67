#include "streamrec/select.h"

static inline void swap(uint64_t *a, uint64_t *b) {
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

void sr_select_top(uint64_t *keys, size_t n, size_t keep) {
    size_t lo = 0, hi = n; /* the cut between kept and dropped lies in [lo, hi) */
    while (keep < n && hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, store = lo;
        swap(&keys[mid], &keys[hi - 1]);
        uint64_t pivot = keys[hi - 1];
        /* Branch-free Lomuto: whether a key beats the pivot is a coin toss the
         * predictor cannot learn, and a mispredicted branch per key cost more
         * than the unconditional swap ([store, i) holds only losers, so
         * swapping a loser into store is harmless). */
        for (size_t i = lo; i + 1 < hi; i++) {
            uint64_t x = keys[i];
            keys[i] = keys[store];
            keys[store] = x;
            store += x > pivot;
        }
        swap(&keys[store], &keys[hi - 1]);
        /* [lo, store) rank before the pivot, now at store; (store, hi) after */
        if (keep == store || keep == store + 1)
            break;
        if (keep < store)
            hi = store;
        else
            lo = store + 1;
    }
}

/* Up to this many keys are sorted by counting each one's rank: n^2
 * compares, but without a branch the predictor could learn (insertion
 * sort's inner loop exits at a data-dependent point) and in loops the
 * compiler vectorises. */
#define RANK_SORT_MAX 32

void sr_sort_desc(uint64_t *keys, size_t n) {
    if (n <= RANK_SORT_MAX) {
        uint64_t sorted[RANK_SORT_MAX];
        for (size_t a = 0; a < n; a++) {
            uint64_t x = keys[a];
            size_t rank = 0;
            for (size_t j = 0; j < n; j++) rank += keys[j] > x;
            for (size_t j = 0; j < a; j++) rank += keys[j] == x; /* equal keys: first first */
            sorted[rank] = x;
        }
        for (size_t a = 0; a < n; a++) keys[a] = sorted[a];
        return;
    }
    for (size_t a = 1; a < n; a++) {
        uint64_t x = keys[a];
        size_t b = a;
        while (b > 0 && keys[b - 1] < x) {
            keys[b] = keys[b - 1];
            b--;
        }
        keys[b] = x;
    }
}
