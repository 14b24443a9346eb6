/* Exact top-k selection (one binary heap per query) and the candidate hit handler that
 * the SIMD kernels call only for lanes that beat a query's current k-th best score. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/scan.h"

/* a is worse than b: lower score, or equal score and larger id. */
static inline int worse(float sa, int64_t ia, float sb, int64_t ib) {
    return sa < sb || (sa == sb && ia > ib);
}

void als__heap_push(als__heap *h, float s, int64_t id) {
    float *hs = h->s;
    int64_t *hi = h->id;
    if (h->n < h->k) { /* sift up */
        int64_t i = h->n++;
        while (i > 0) {
            int64_t p = (i - 1) / 2;
            if (!worse(s, id, hs[p], hi[p])) break;
            hs[i] = hs[p];
            hi[i] = hi[p];
            i = p;
        }
        hs[i] = s;
        hi[i] = id;
        return;
    }
    /* replace the root, sift down */
    int64_t n = h->n, i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) c++;
        if (!worse(hs[c], hi[c], s, id)) break;
        hs[i] = hs[c];
        hi[i] = hi[c];
        i = c;
    }
    hs[i] = s;
    hi[i] = id;
}

void als__heap_sort(als__heap *h) {
    /* Pop the worst to the back repeatedly: the array ends best-first. */
    int64_t n = h->n, k = h->k;
    while (h->n > 1) {
        int64_t last = h->n - 1;
        float s = h->s[last];
        int64_t id = h->id[last];
        float rs = h->s[0];
        int64_t rid = h->id[0];
        h->n = last;
        h->k = last;
        als__heap_push(h, s, id); /* heap is full at size last: replaces the root */
        h->s[last] = rs;
        h->id[last] = rid;
    }
    h->n = n;
    h->k = k;
}

void als__heap_emit(als__heap *h, int64_t k, float *scores, int64_t *ids) {
    als__heap_sort(h);
    for (int64_t r = 0; r < k; r++) {
        int in = r < h->n;
        if (scores) scores[r] = in ? h->s[r] : -INFINITY;
        ids[r] = in ? h->id[r] : -1;
    }
}

int als__idset_allows(const als__idset *f, int64_t id) {
    int64_t lo = 0, hi = f->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (f->ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    int found = lo < f->n && f->ids[lo] == id;
    return f->include ? found : !found;
}

void als__hits(const als__db *db, int64_t vbase, unsigned mask, const float *sc, als__heap *h,
               const als__idset *f) {
    if (h->k == 1 && !f) { /* nearest-centroid assignment: only the best lane matters */
        int best = -1;
        float bs = 0.0f;
        int64_t bid = 0;
        while (mask) {
            int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            int64_t v = vbase + lane;
            if (v >= db->n) break;
            int64_t id = db->ids ? db->ids[v] : db->id_base + v;
            if (best < 0 || sc[lane] > bs || (sc[lane] == bs && id < bid)) {
                best = lane;
                bs = sc[lane];
                bid = id;
            }
        }
        if (best >= 0 && als__heap_accepts(h, bs, bid)) {
            h->s[0] = bs;
            h->id[0] = bid;
            h->n = 1;
        }
        return;
    }
    while (mask) {
        int lane = __builtin_ctz(mask);
        mask &= mask - 1;
        int64_t v = vbase + lane;
        if (v >= db->n) break; /* padding lanes of the last panel */
        int64_t id = db->ids ? db->ids[v] : db->id_base + v;
        float s = sc[lane];
        if (!als__heap_accepts(h, s, id)) continue;
        if (f && !als__idset_allows(f, id)) continue;
        als__heap_push(h, s, id);
    }
}

int als__threads(int64_t requested) {
    if (requested > 0) return (int)requested;
    int n = omp_get_max_threads();
    return n > 0 ? n : 1;
}
