/* Run-time choice of SIMD kernels: one .so for every x86-64. */
#include <math.h>

#include "core/internal.h"

int als__simd_best(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
#endif
    return 1;
}

int64_t als__first_nonfinite_row(const float *x, int64_t rows, int64_t cols, int64_t stride) {
    if (cols <= 0) return -1; /* no element: nothing to check, however many rows */
    for (int64_t i = 0; i < rows; i++) {
        const float *r = x + i * stride;
        /* Sum of (v - v) is 0 for finite values and NaN otherwise: one branch per row. */
        float acc = 0.0f;
        for (int64_t j = 0; j < cols; j++) acc += r[j] - r[j];
        if (acc != 0.0f || isnan(acc)) return i;
    }
    return -1;
}
