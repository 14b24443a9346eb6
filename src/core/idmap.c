/* Open-addressing hash map from int64 ids to dense indexes (linear probing, load <= 1/2). */
#include <stdlib.h>
#include <string.h>

#include "core/idmap.h"

static inline uint64_t mix(int64_t id) {
    uint64_t z = (uint64_t)id + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void als__idmap_free(als__idmap *m) {
    free(m->slots);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

int64_t als__idmap_get(const als__idmap *m, int64_t id) {
    if (m->cap == 0) return -1;
    uint64_t mask = (uint64_t)m->cap - 1;
    for (uint64_t h = mix(id) & mask;; h = (h + 1) & mask) {
        int64_t s = m->slots[h];
        if (s == 0) return -1;
        if (m->ids[s - 1] == id) return s - 1;
    }
}

static int rehash(als__idmap *m, int64_t cap) {
    int64_t *slots = calloc((size_t)cap, sizeof(int64_t));
    if (!slots) return ALS_ENOMEM;
    uint64_t mask = (uint64_t)cap - 1;
    for (int64_t i = 0; i < m->n; i++) {
        uint64_t h = mix(m->ids[i]) & mask;
        while (slots[h]) h = (h + 1) & mask;
        slots[h] = i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return ALS_OK;
}

int als__idmap_reserve(als__idmap *m, int64_t more) {
    int64_t need = m->n + more;
    if (need > m->ids_cap) {
        int64_t c = m->ids_cap + m->ids_cap / 2;
        if (c < need) c = need;
        if (c < 16) c = 16;
        int64_t *ids = realloc(m->ids, (size_t)c * sizeof(int64_t));
        if (!ids) return ALS_ENOMEM;
        m->ids = ids;
        m->ids_cap = c;
    }
    if (need * 2 > m->cap) {
        int64_t cap = m->cap ? m->cap : 32;
        while (cap < need * 2) cap *= 2;
        if (rehash(m, cap)) return ALS_ENOMEM;
    }
    return ALS_OK;
}

int64_t als__idmap_put(als__idmap *m, int64_t id) {
    int64_t at = als__idmap_get(m, id);
    if (at >= 0) return at;
    if (als__idmap_reserve(m, 1)) return -1;
    uint64_t mask = (uint64_t)m->cap - 1;
    uint64_t h = mix(id) & mask;
    while (m->slots[h]) h = (h + 1) & mask;
    m->ids[m->n] = id;
    m->slots[h] = ++m->n;
    return m->n - 1;
}

void als__idmap_truncate(als__idmap *m, int64_t n) {
    if (n >= m->n) return;
    memset(m->slots, 0, (size_t)m->cap * sizeof(int64_t));
    m->n = 0;
    uint64_t mask = (uint64_t)m->cap - 1;
    for (int64_t i = 0; i < n; i++) { /* the same slots as before: no allocation */
        uint64_t h = mix(m->ids[i]) & mask;
        while (m->slots[h]) h = (h + 1) & mask;
        m->slots[h] = ++m->n;
    }
}

/* The copy is sized to what src holds (the next put may grow it), not to src's capacity:
 * a model keeps its maps for its lifetime, ratings grow theirs in chunks. */
int als__idmap_copy(als__idmap *dst, const als__idmap *src) {
    memset(dst, 0, sizeof *dst);
    if (src->n == 0) return ALS_OK;
    int64_t cap = 32;
    while (cap < src->n * 2) cap *= 2;
    dst->ids = malloc((size_t)src->n * sizeof(int64_t));
    if (!dst->ids) return ALS_ENOMEM;
    memcpy(dst->ids, src->ids, (size_t)src->n * sizeof(int64_t));
    dst->n = src->n;
    dst->ids_cap = src->n;
    if (cap == src->cap) {
        dst->slots = malloc((size_t)cap * sizeof(int64_t));
        if (!dst->slots) {
            als__idmap_free(dst);
            return ALS_ENOMEM;
        }
        memcpy(dst->slots, src->slots, (size_t)cap * sizeof(int64_t));
        dst->cap = cap;
        return ALS_OK;
    }
    if (rehash(dst, cap)) {
        als__idmap_free(dst);
        return ALS_ENOMEM;
    }
    return ALS_OK;
}
