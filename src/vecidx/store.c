/* Growable panel storage for vectors and their ids. */
#include <stdlib.h>
#include <string.h>

#include "vecidx/vecidx_internal.h"

void vecidx__store_free(vecidx__store *s) {
    if (!s->borrowed) {
        als__afree(s->panels);
        als__afree(s->bias);
        free(s->ids);
    }
    memset(s, 0, sizeof *s);
}

als__db vecidx__store_db(const vecidx__store *s, int64_t d) {
    als__db db = {s->panels, s->bias, s->ids, 0, s->n, d, (s->n + ALS_PANEL - 1) / ALS_PANEL};
    return db;
}

int vecidx__store_reserve(vecidx__store *s, int64_t d, int l2, int64_t more, int ids_needed) {
    int64_t after = s->n + more;
    if (ids_needed || s->ids) {
        if (after > s->cap_ids || !s->ids) {
            int64_t cap = s->cap_ids + s->cap_ids / 2;
            if (cap < after) cap = after;
            if (cap < 16) cap = 16;
            int64_t *ni = realloc(s->ids, (size_t)cap * sizeof(int64_t));
            if (!ni) return ALS_ENOMEM;
            if (!s->ids) /* ids so far were positions: write them out */
                for (int64_t i = 0; i < s->n; i++) ni[i] = i;
            s->ids = ni;
            s->cap_ids = cap;
        }
    }
    return als__panels_reserve(&s->panels, l2 ? &s->bias : NULL, &s->cap_panels, s->n, after, d);
}

void vecidx__store_fill(vecidx__store *s, int64_t d, int l2, const float *x, int64_t rows,
                        int64_t stride, const int64_t *ids, int64_t first_id) {
    als__panels_fill(s->panels, l2 ? s->bias : NULL, s->n, x, rows, d, stride);
    if (s->ids)
        for (int64_t r = 0; r < rows; r++) s->ids[s->n + r] = ids ? ids[r] : first_id + r;
    s->n += rows;
}
