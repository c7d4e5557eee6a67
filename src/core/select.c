#include "streamrec/select.h"

#include <string.h>

static void swap(char *a, char *b, size_t size) {
    char tmp[SR_SELECT_MAX_ELEM];
    memcpy(tmp, a, size);
    memcpy(a, b, size);
    memcpy(b, tmp, size);
}

void sr_select_top(void *base, size_t n, size_t elem_size, size_t keep,
                   bool (*ranks_before)(const void *a, const void *b)) {
    char *e = base;
    size_t lo = 0, hi = n; /* the cut between kept and dropped lies in [lo, hi) */
    while (keep < n && hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, store = lo;
        char *pivot = e + (hi - 1) * elem_size;
        swap(e + mid * elem_size, pivot, elem_size);
        for (size_t i = lo; i + 1 < hi; i++)
            if (ranks_before(e + i * elem_size, pivot)) {
                swap(e + i * elem_size, e + store * elem_size, elem_size);
                store++;
            }
        swap(e + store * elem_size, pivot, elem_size);
        /* [lo, store) rank before the pivot, now at store; (store, hi) after */
        if (keep == store || keep == store + 1)
            break;
        if (keep < store)
            hi = store;
        else
            lo = store + 1;
    }
}
