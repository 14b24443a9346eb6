/* int64 id -> dense index 0..n-1 (open addressing), plus the ids in index order.
 * Used for ratings (user/item rows), models (id -> factor row). Hidden. */
#ifndef ALS_CORE_IDMAP_H
#define ALS_CORE_IDMAP_H

#include "core/internal.h"

typedef struct {
    int64_t *slots; /* cap entries: dense index + 1, 0 = empty */
    int64_t *ids;   /* n ids in index order */
    int64_t n, cap, ids_cap;
} als__idmap;

/* Zeroed struct = empty map. */
ALS_HIDDEN void als__idmap_free(als__idmap *m);
/* Dense index of id, or -1. */
ALS_HIDDEN int64_t als__idmap_get(const als__idmap *m, int64_t id);
/* Dense index of id, inserting it if new; -1 on allocation failure (map unchanged). */
ALS_HIDDEN int64_t als__idmap_put(als__idmap *m, int64_t id);
/* Make room for `more` new ids without rehash or realloc during the next puts. */
ALS_HIDDEN int als__idmap_reserve(als__idmap *m, int64_t more);
/* Drop the ids with index >= n (undo of a failed append); never allocates. */
ALS_HIDDEN void als__idmap_truncate(als__idmap *m, int64_t n);
/* Deep copy (ALS_OK or ALS_ENOMEM), sized to the ids it holds. */
ALS_HIDDEN int als__idmap_copy(als__idmap *dst, const als__idmap *src);

#endif
