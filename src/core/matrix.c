/* The shared matrix: row-major float32 with a row stride, owned or borrowed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

struct als_matrix {
    float *data;
    int64_t rows, cols, stride;
    int owns;
};

ALS_API int als_matrix_create(als_matrix **out, int64_t rows, int64_t cols) {
    if (!out) return als__errf(ALS_EINVAL, "als_matrix_create: out is NULL");
    *out = NULL;
    if (rows < 0 || cols < 0)
        return als__errf(ALS_ERANGE, "als_matrix_create: negative size %lld x %lld",
                         (long long)rows, (long long)cols);
    size_t n, extent;
    /* Rows count even when cols is 0: a loop over them must stay within what memory could
     * describe, so rows x max(cols, 1) floats must be addressable. */
    if ((uint64_t)rows > SIZE_MAX || (uint64_t)cols > SIZE_MAX ||
        als__mul((size_t)rows, (size_t)cols, &n) || n > (size_t)PTRDIFF_MAX / sizeof(float) ||
        als__mul((size_t)rows, (size_t)(cols ? cols : 1), &extent) ||
        extent > (size_t)PTRDIFF_MAX / sizeof(float))
        return als__errf(ALS_ENOMEM, "als_matrix_create: %lld x %lld floats overflows",
                         (long long)rows, (long long)cols);
    als_matrix *m = calloc(1, sizeof *m);
    float *d = als__aalloc(n, sizeof(float));
    if (!m || !d) {
        free(m);
        als__afree(d);
        return als__errf(ALS_ENOMEM, "als_matrix_create: cannot allocate %lld x %lld floats",
                         (long long)rows, (long long)cols);
    }
    memset(d, 0, n * sizeof(float));
    m->data = d;
    m->rows = rows;
    m->cols = cols;
    m->stride = cols;
    m->owns = 1;
    *out = m;
    return ALS_OK;
}

ALS_API int als_matrix_wrap(als_matrix **out, float *data, int64_t rows, int64_t cols,
                            int64_t row_stride) {
    if (!out) return als__errf(ALS_EINVAL, "als_matrix_wrap: out is NULL");
    *out = NULL;
    if (rows < 0 || cols < 0 || row_stride < cols)
        return als__errf(ALS_ERANGE,
                         "als_matrix_wrap: bad shape %lld x %lld with row stride %lld",
                         (long long)rows, (long long)cols, (long long)row_stride);
    if (!data && rows > 0 && cols > 0)
        return als__errf(ALS_EINVAL, "als_matrix_wrap: data is NULL for a %lld x %lld matrix",
                         (long long)rows, (long long)cols);
    if ((uintptr_t)data % _Alignof(float) != 0)
        return als__errf(ALS_EINVAL, "als_matrix_wrap: data %p is not aligned for float "
                         "(buffers from pickles or the network can be: copy them first)", (void *)data);
    /* The buffer described, (rows - 1) x stride + cols floats from data (rows x max(stride,
     * 1) for the row loops), must be addressable: no size that overflows. */
    uint64_t span, extent, bytes;
    if (rows > 0 &&
        (__builtin_mul_overflow((uint64_t)(rows - 1), (uint64_t)row_stride, &span) ||
         __builtin_add_overflow(span, (uint64_t)cols, &span) ||
         __builtin_mul_overflow(span, (uint64_t)sizeof(float), &bytes) || bytes > PTRDIFF_MAX ||
         __builtin_mul_overflow((uint64_t)rows, (uint64_t)(row_stride ? row_stride : 1), &extent) ||
         extent > PTRDIFF_MAX / sizeof(float) ||
         (data && (uintptr_t)data > UINTPTR_MAX - bytes)))
        return als__errf(ALS_ERANGE, "als_matrix_wrap: %lld rows x stride %lld floats overflow "
                         "the address space", (long long)rows, (long long)row_stride);
    als_matrix *m = calloc(1, sizeof *m);
    if (!m) return als__errf(ALS_ENOMEM, "als_matrix_wrap: out of memory");
    m->data = data;
    m->rows = rows;
    m->cols = cols;
    m->stride = row_stride;
    *out = m;
    return ALS_OK;
}

ALS_API void als_matrix_destroy(als_matrix *m) {
    if (!m) return;
    if (m->owns) als__afree(m->data);
    free(m);
}

ALS_API int64_t als_matrix_rows(const als_matrix *m) { return m ? m->rows : 0; }
ALS_API int64_t als_matrix_cols(const als_matrix *m) { return m ? m->cols : 0; }
ALS_API int64_t als_matrix_stride(const als_matrix *m) { return m ? m->stride : 0; }
ALS_API float *als_matrix_data(als_matrix *m) { return m ? m->data : NULL; }
ALS_API const float *als_matrix_data_const(const als_matrix *m) { return m ? m->data : NULL; }

ALS_API int als_matrix_view_rows(als_matrix **out, const als_matrix *src, int64_t row0,
                                 int64_t nrows) {
    if (!out) return als__errf(ALS_EINVAL, "als_matrix_view_rows: out is NULL");
    *out = NULL;
    if (!src) return als__errf(ALS_EINVAL, "als_matrix_view_rows: src is NULL");
    if (row0 < 0 || nrows < 0 || row0 > src->rows || nrows > src->rows - row0)
        return als__errf(ALS_ERANGE, "als_matrix_view_rows: %lld rows from row %lld do not fit in %lld",
                         (long long)nrows, (long long)row0, (long long)src->rows);
    float *base = src->data ? src->data + row0 * src->stride : NULL;
    return als_matrix_wrap(out, base, nrows, src->cols, src->stride);
}

ALS_API int als_matrix_normalize_rows(als_matrix *m) {
    if (!m) return als__errf(ALS_EINVAL, "als_matrix_normalize_rows: matrix is NULL");
    if (m->cols == 0) return ALS_OK; /* rows of no element are all zero vectors */
    int64_t bad = als__first_nonfinite_row(m->data, m->rows, m->cols, m->stride);
    if (bad >= 0)
        return als__errf(ALS_EINVAL, "als_matrix_normalize_rows: row %lld holds NaN or Inf",
                         (long long)bad);
    for (int64_t i = 0; i < m->rows; i++) {
        float *r = m->data + i * m->stride;
        double ss = 0.0;
        for (int64_t j = 0; j < m->cols; j++) ss += (double)r[j] * r[j];
        if (ss == 0.0) continue;
        /* Divide in double: 1 / norm overflows float for rows with tiny norms. */
        double norm = sqrt(ss);
        for (int64_t j = 0; j < m->cols; j++) r[j] = (float)(r[j] / norm);
    }
    return ALS_OK;
}
