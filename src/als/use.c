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
    als__inter_free(&m->inter);
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
    als__solve_ctx ctx = {&p, p.implicit ? m->gram_v : NULL, als_matrix_data_const(m->V), r, NULL, NULL, NULL};
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

/* The recommendation shared by als_model_recommend (exclusions from a ratings handle) and
 * als_model_recommend_unseen (from the kept interactions). */
static int recommend(const als_model *m, int64_t user_id, int64_t k, const als_ratings *exclude,
                     int unseen, int64_t *items, float *scores, const char *fn) {
    if (!m || !items) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (!m->fitted) return als__errf(ALS_ESTATE, "%s: the model is not fitted", fn);
    if (k < 1) return als__errf(ALS_ERANGE, "%s: k = %lld, must be >= 1", fn, (long long)k);
    int rc0 = als__out_fits(1, k, sizeof(int64_t) + (scores ? sizeof(float) : 0), fn, "k");
    if (rc0) return rc0;
    if (unseen && !m->inter.ptr)
        return als__errf(ALS_ESTATE, "%s: the model keeps no training interactions (trained with "
                         "keepInteractions 0, or loaded from a file saved before version 1.2)", fn);
    int64_t u = als__idmap_get(&m->umap, user_id);
    if (u < 0) return als__errf(ALS_ENOTFOUND, "%s: user %lld is not in the model", fn, (long long)user_id);
    int r = (int)m->p_fit.rank;
    int64_t *ex = NULL, nex = 0;
    if (unseen) {
        int64_t a = m->inter.ptr[u], e = m->inter.ptr[u + 1];
        ex = malloc((size_t)(e > a ? e - a : 1) * sizeof(int64_t));
        if (!ex) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
        for (int64_t t = a; t < e; t++) ex[nex++] = m->imap.ids[als__inter_item(&m->inter, t)];
        qsort(ex, (size_t)nex, sizeof(int64_t), cmp_i64);
    }
    if (exclude && exclude->n > 0) {
        int64_t du = als__idmap_get(&exclude->umap, user_id);
        ex = malloc((size_t)exclude->n * sizeof(int64_t));
        if (!ex) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
        als__ucur c = als__ucur_start(exclude);
        for (int64_t t = 0; du >= 0 && t < exclude->n; t++)
            if (als__ucur_user(exclude, &c, t) == du) ex[nex++] = als__r_item(exclude, t);
        qsort(ex, (size_t)nex, sizeof(int64_t), cmp_i64);
    }
    als__idset f = {ex, nex, 0};
    int64_t ni = als_matrix_rows(m->V);
    als__db db = {m->vpanels, NULL, m->imap.ids, 0, ni, r, (ni + ALS_PANEL - 1) / ALS_PANEL};
    float *q = als__aalloc((size_t)r, sizeof(float));
    int rc = q ? ALS_OK : als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    if (!rc) {
        memcpy(q, als_matrix_data_const(m->U) + u * r, (size_t)r * sizeof(float));
        rc = als__search_db(&db, als__scan_for(0), 1, q, 1, k, nex ? &f : NULL, scores, items);
    }
    als__afree(q);
    free(ex);
    return rc;
}

ALS_API int als_model_recommend(const als_model *m, int64_t user_id, int64_t k,
                                const als_ratings *exclude, int64_t *items, float *scores) {
    return recommend(m, user_id, k, exclude, 0, items, scores, "als_model_recommend");
}

ALS_API int als_model_recommend_unseen(const als_model *m, int64_t user_id, int64_t k,
                                       int64_t *items, float *scores) {
    return recommend(m, user_id, k, NULL, 1, items, scores, "als_model_recommend_unseen");
}

/* ------------------------------------------------------------------ kept interactions */

void als__inter_free(als__inter *x) {
    free(x->ptr);
    als__afree(x->col);
    als__afree(x->val);
    memset(x, 0, sizeof *x);
}

ALS_API int64_t als_model_num_interactions(const als_model *m) {
    if (!m || !m->fitted || !m->inter.ptr) return 0;
    return m->inter.ptr[als_matrix_rows(m->U)];
}

static int inter_ready(const als_model *m, const char *fn) {
    if (!m->fitted) return als__errf(ALS_ESTATE, "%s: the model is not fitted", fn);
    if (!m->inter.ptr)
        return als__errf(ALS_ESTATE, "%s: the model keeps no training interactions (trained with "
                         "keepInteractions 0, or loaded from a file saved before version 1.2)", fn);
    return ALS_OK;
}

/* Row u's entries [a, a + n) of the kept interactions, up to cap, as item rows / values. */
static void inter_row(const als__inter *x, int64_t a, int64_t n, int64_t cap, int32_t *rows,
                      float *vals) {
    for (int64_t t = 0; t < n && t < cap; t++) {
        if (rows) rows[t] = als__inter_item(x, a + t);
        if (vals) vals[t] = als__inter_value(x, a + t);
    }
}

ALS_API int64_t als_model_items_of_user(const als_model *m, int64_t user_id, int64_t *items_out,
                                        float *values_out, int64_t cap) {
    static const char fn[] = "als_model_items_of_user";
    if (!m) return als__errf(ALS_EINVAL, "%s: model is NULL", fn);
    if (cap < 0) return als__errf(ALS_ERANGE, "%s: cap = %lld is negative", fn, (long long)cap);
    int rc = inter_ready(m, fn);
    if (rc) return rc;
    int64_t u = als__idmap_get(&m->umap, user_id);
    if (u < 0) return als__errf(ALS_ENOTFOUND, "%s: user %lld is not in the model", fn, (long long)user_id);
    const als__inter *x = &m->inter;
    int64_t a = x->ptr[u], n = x->ptr[u + 1] - a;
    inter_row(x, a, n, cap, NULL, values_out);
    for (int64_t t = 0; items_out && t < n && t < cap; t++) items_out[t] = m->imap.ids[als__inter_item(x, a + t)];
    return n;
}

ALS_API int64_t als_model_interaction_rows(const als_model *m, int64_t user_row,
                                           int32_t *item_rows_out, float *values_out,
                                           int64_t cap) {
    static const char fn[] = "als_model_interaction_rows";
    if (!m) return als__errf(ALS_EINVAL, "%s: model is NULL", fn);
    if (cap < 0) return als__errf(ALS_ERANGE, "%s: cap = %lld is negative", fn, (long long)cap);
    int rc = inter_ready(m, fn);
    if (rc) return rc;
    if (user_row < 0 || user_row >= als_matrix_rows(m->U))
        return als__errf(ALS_ERANGE, "%s: user row %lld is outside [0, %lld)", fn,
                         (long long)user_row, (long long)als_matrix_rows(m->U));
    int64_t a = m->inter.ptr[user_row], n = m->inter.ptr[user_row + 1] - a;
    inter_row(&m->inter, a, n, cap, item_rows_out, values_out);
    return n;
}

ALS_API int64_t als_model_users_of_items(const als_model *m, int64_t n_items, const int64_t *items,
                                         int64_t *users_out, int64_t cap) {
    static const char fn[] = "als_model_users_of_items";
    if (!m || (!items && n_items > 0) || (!users_out && cap > 0))
        return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (n_items < 0 || cap < 0)
        return als__errf(ALS_ERANGE, "%s: n_items = %lld and cap = %lld must be >= 0", fn,
                         (long long)n_items, (long long)cap);
    int rc = inter_ready(m, fn);
    if (rc) return rc;
    const als__inter *x = &m->inter;
    int64_t ni = als_matrix_rows(m->V), nu = als_matrix_rows(m->U), found = 0;
    unsigned char *want = calloc((size_t)(ni ? ni : 1), 1);
    if (!want) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    int any = 0;
    for (int64_t t = 0; t < n_items; t++) {
        int64_t i = als__idmap_get(&m->imap, items[t]);
        if (i >= 0) want[i] = 1, any = 1;
    }
    for (int64_t u = 0; any && u < nu; u++) {
        int hit = 0;
        if (x->iw == 2) {
            const uint16_t *c = x->col;
            for (int64_t e = x->ptr[u]; e < x->ptr[u + 1] && !hit; e++) hit = want[c[e]];
        } else {
            const int32_t *c = x->col;
            for (int64_t e = x->ptr[u]; e < x->ptr[u + 1] && !hit; e++) hit = want[c[e]];
        }
        if (!hit) continue;
        if (found < cap) users_out[found] = m->umap.ids[u];
        found++;
    }
    free(want);
    return found;
}
