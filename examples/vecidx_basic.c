/* The smallest complete use of libvecidx: index a few vectors, exclude one id, search.
 * Build: make examples; run: build/examples/vecidx_basic */
#include <stdio.h>

#include "vecidx.h"

#define CHECK(call)                                                                      \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != ALS_OK) {                                                             \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, als_strerror(rc_), als_last_error()); \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

int main(void) {
    float base[5][3] = {{1, 0, 0}, {0.9f, 0.1f, 0}, {0, 1, 0}, {0, 0.8f, 0.6f}, {0.7f, 0.7f, 0}};
    float seed[1][3] = {{1, 0.05f, 0}};
    int64_t ids[5] = {101, 102, 103, 104, 105};

    als_matrix *x, *q;
    CHECK(als_matrix_wrap(&x, &base[0][0], 5, 3, 3)); /* borrows base: no copy */
    CHECK(als_matrix_wrap(&q, &seed[0][0], 1, 3, 3));
    CHECK(als_matrix_normalize_rows(x)); /* cosine similarity = IP on unit rows */
    CHECK(als_matrix_normalize_rows(q));

    vecidx *idx;
    CHECK(vecidx_flat_create(&idx, 3, VECIDX_METRIC_IP));
    CHECK(vecidx_add(idx, x, ids));

    int64_t seeds[1] = {101}; /* a seed must not come back as its own lookalike */
    vecidx_filter *f;
    CHECK(vecidx_filter_create(&f, seeds, 1, VECIDX_FILTER_EXCLUDE));

    float scores[3];
    int64_t out[3];
    CHECK(vecidx_search_filtered(idx, q, 3, f, scores, out));
    printf("libvecidx %s: top 3 lookalikes of the seed, excluding id 101\n", als_version_string());
    for (int r = 0; r < 3; r++) printf("  id %lld  cosine %.4f\n", (long long)out[r], scores[r]);

    vecidx_filter_destroy(f);
    vecidx_destroy(idx);
    als_matrix_destroy(q);
    als_matrix_destroy(x);
    return 0;
}
