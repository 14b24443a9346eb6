/* Using a fitted model: fold-in of unseen users and top-k recommendation (through the
 * shared search engine, so top-k selection exists once). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "als/model_internal.h"

void als__model_clear(als_model *m) {
    als_matrix_destroy(m->U);
    als_matrix_destroy(m->V);
    m->U = m->V = NULL;
    als__idmap_free(&m->umap);
    als__idmap_free(&m->imap);
    free(m->gram_v);
    m->gram_v = NULL;
    als__afree(m->vpanels);
    m->vpanels = NULL;
    m->fitted = 0;
    m->run_id = 0;
}

int als__model_finish(als_model *m) {
    int r = (int)m->p_fit.rank;
    int64_t ni = als_matrix_rows(m->V);
    m->gram_v = malloc((size_t)r * (size_t)r * sizeof(double));
    if (!m->gram_v) return ALS_ENOMEM;
    if (als__gram(als_matrix_data_const(m->V), ni, r, als__threads((int64_t)m->p.num_threads), m->gram_v))
        return ALS_ENOMEM;
    float *bias = NULL;
    if (als__panels_build(als_matrix_data_const(m->V), ni, r, r, 0, &m->vpanels, &bias)) return ALS_ENOMEM;
    return ALS_OK;
}

ALS_API int64_t als_model_fold_in(const als_model *m, int64_t n, const int64_t *items,
                                  const float *values, float *factor_out) {
    if (!m || !factor_out || (n > 0 && !items)) return als__errf(ALS_EINVAL, "als_model_fold_in: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_model_fold_in: the model is not fitted");
    if (n < 0) return als__errf(ALS_ERANGE, "als_model_fold_in: n = %lld < 0", (long long)n);
    for (int64_t t = 0; values && t < n; t++)
        if (!isfinite(values[t]))
            return als__errf(ALS_EINVAL, "als_model_fold_in: values[%lld] is NaN or Inf", (long long)t);
    int r = (int)m->p_fit.rank;
    int32_t *cols = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    float *vals = malloc((size_t)(n ? n : 1) * sizeof(float));
    als__solver s;
    if (!cols || !vals || als__solver_init(&s, r)) {
        free(cols);
        free(vals);
        return als__errf(ALS_ENOMEM, "als_model_fold_in: out of memory");
    }
    int64_t k = 0, unknown = 0;
    for (int64_t t = 0; t < n; t++) {
        int64_t row = als__idmap_get(&m->imap, items[t]);
        if (row < 0) {
            unknown++;
            continue;
        }
        cols[k] = (int32_t)row;
        vals[k++] = values ? values[t] : 1.0f;
    }
    /* The training solve of a user row, against the final item factors. A CG model has no
     * previous factor to warm-start from, so fold-in solves exactly (the point CG's steps
     * approach). */
    als__params p = m->p_fit;
    if (p.solver == ALS_SOLVER_CG) p.solver = ALS_SOLVER_CHOLESKY;
    als__solve_ctx ctx = {&p, p.implicit ? m->gram_v : NULL, als_matrix_data_const(m->V), r, NULL, NULL, NULL, 0};
    memset(factor_out, 0, (size_t)r * sizeof(float));
    als__solve_row(&ctx, &s, cols, vals, k, factor_out);
    int64_t failed = s.failed;
    als__solver_free(&s);
    free(cols);
    free(vals);
    int64_t bad = als__first_nonfinite_row(factor_out, 1, r, r);
    if (failed || bad >= 0) {
        memset(factor_out, 0, (size_t)r * sizeof(float));
        return als__errf(ALS_EINTERNAL, "als_model_fold_in: the user's system could not be "
                         "solved (values too large for double precision)");
    }
    return unknown;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

ALS_API int als_model_recommend(const als_model *m, int64_t user_id, int64_t k,
                                const als_ratings *exclude, int64_t *items, float *scores) {
    if (!m || !items) return als__errf(ALS_EINVAL, "als_model_recommend: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_model_recommend: the model is not fitted");
    if (k < 1) return als__errf(ALS_ERANGE, "als_model_recommend: k = %lld, must be >= 1", (long long)k);
    int rc0 = als__out_fits(1, k, sizeof(int64_t) + (scores ? sizeof(float) : 0), "als_model_recommend", "k");
    if (rc0) return rc0;
    int64_t u = als__idmap_get(&m->umap, user_id);
    if (u < 0) return als__errf(ALS_ENOTFOUND, "als_model_recommend: user %lld is not in the model", (long long)user_id);
    int r = (int)m->p_fit.rank;
    int64_t *ex = NULL, nex = 0;
    if (exclude && exclude->n > 0) {
        int64_t du = als__idmap_get(&exclude->umap, user_id);
        ex = malloc((size_t)exclude->n * sizeof(int64_t));
        if (!ex) return als__errf(ALS_ENOMEM, "als_model_recommend: out of memory");
        for (int64_t t = 0; du >= 0 && t < exclude->n; t++)
            if (exclude->urow[t] == du) ex[nex++] = als__r_item(exclude, t);
        qsort(ex, (size_t)nex, sizeof(int64_t), cmp_i64);
    }
    als__idset f = {ex, nex, 0};
    int64_t ni = als_matrix_rows(m->V);
    als__db db = {m->vpanels, NULL, m->imap.ids, 0, ni, r, (ni + ALS_PANEL - 1) / ALS_PANEL};
    float *q = als__aalloc((size_t)r, sizeof(float));
    int rc = q ? ALS_OK : als__errf(ALS_ENOMEM, "als_model_recommend: out of memory");
    if (!rc) {
        memcpy(q, als_matrix_data_const(m->U) + u * r, (size_t)r * sizeof(float));
        rc = als__search_db(&db, als__scan_for(0), 1, q, 1, k, nex ? &f : NULL, scores, items);
    }
    als__afree(q);
    free(ex);
    return rc;
}
