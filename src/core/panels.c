/* The panel layout of a vector database (see scan.h). */
#include <stdlib.h>
#include <string.h>

#include "core/scan.h"

void als__panels_fill(float *panels, float *bias, int64_t n0, const float *x, int64_t rows,
                 int64_t d, int64_t stride) {
    for (int64_t r = 0; r < rows; r++) {
        int64_t v = n0 + r, p = v / ALS_PANEL, l = v % ALS_PANEL;
        const float *src = x + r * stride;
        float *dst = panels + p * d * ALS_PANEL + l;
        float ss = 0.0f;
        for (int64_t j = 0; j < d; j++) {
            dst[j * ALS_PANEL] = src[j];
            ss = als__fmaf(src[j], src[j], ss);
        }
        if (bias) bias[v] = -0.5f * ss;
    }
}

/* Panels past the last one in use are zeroed only when they come into use (here, before
 * the fill that needs them), not when the capacity grows: the slack of a 1.5x growth stays
 * untouched, so it costs address space, not resident memory (a 50 M-vector IVF build of
 * 50 adds held 26% more than its data when the whole new capacity was zeroed). Every panel
 * below ceil(n_after / ALS_PANEL) is data or zero lanes afterwards. */
int als__panels_reserve(float **panels, float **bias, int64_t *cap_panels, int64_t n,
                        int64_t n_after, int64_t d) {
    int64_t need = (n_after + ALS_PANEL - 1) / ALS_PANEL;
    int64_t used = (n + ALS_PANEL - 1) / ALS_PANEL;
    size_t pf = (size_t)ALS_PANEL * (size_t)d;
    if (need <= *cap_panels) {
        if (need > used) {
            memset(*panels + (size_t)used * pf, 0, (size_t)(need - used) * pf * sizeof(float));
            if (bias)
                memset(*bias + used * ALS_PANEL, 0, (size_t)(need - used) * ALS_PANEL * sizeof(float));
        }
        return ALS_OK;
    }
    int64_t cap = *cap_panels + *cap_panels / 2;
    if (cap < need) cap = need;
    size_t fl;
    if (als__mul((size_t)cap * ALS_PANEL, (size_t)d, &fl)) return ALS_ENOMEM;
    float *np = als__aalloc(fl, sizeof(float));
    float *nb = bias ? als__aalloc((size_t)cap * ALS_PANEL, sizeof(float)) : NULL;
    if (!np || (bias && !nb)) {
        als__afree(np);
        als__afree(nb);
        return ALS_ENOMEM;
    }
    if (used) memcpy(np, *panels, (size_t)used * pf * sizeof(float));
    memset(np + (size_t)used * pf, 0, (size_t)(need - used) * pf * sizeof(float));
    if (bias) {
        if (used) memcpy(nb, *bias, (size_t)used * ALS_PANEL * sizeof(float));
        memset(nb + used * ALS_PANEL, 0, (size_t)(need - used) * ALS_PANEL * sizeof(float));
        als__afree(*bias);
        *bias = nb;
    }
    als__afree(*panels);
    *panels = np;
    *cap_panels = cap;
    return ALS_OK;
}

int als__panels_append(float **panels, float **bias, int64_t *cap_panels, int64_t n,
                       const float *x, int64_t rows, int64_t d, int64_t stride) {
    int rc = als__panels_reserve(panels, bias, cap_panels, n, n + rows, d);
    if (rc) return rc;
    als__panels_fill(*panels, bias ? *bias : NULL, n, x, rows, d, stride);
    return ALS_OK;
}

int als__panels_build(const float *x, int64_t rows, int64_t d, int64_t stride, int want_bias,
                      float **panels, float **bias) {
    int64_t cap = 0;
    *panels = NULL;
    *bias = NULL;
    int rc = als__panels_append(panels, want_bias ? bias : NULL, &cap, 0, x, rows, d, stride);
    return rc;
}

void als__panels_get(const float *panels, int64_t d, int64_t i, float *dst) {
    const float *src = panels + (i / ALS_PANEL) * d * ALS_PANEL + i % ALS_PANEL;
    for (int64_t j = 0; j < d; j++) dst[j] = src[j * ALS_PANEL];
}
