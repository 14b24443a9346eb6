#include "shim.h"

#include <stdlib.h>
#include <string.h>

/* Copy this thread's last message into msg (GOALS_MSG_CAP bytes) and pass rc through. */
static int fail(int rc, char *msg)
{
    if (rc < 0 && msg) {
        const char *m = als_last_error();
        if (!m || !*m) m = als_strerror(rc);
        strncpy(msg, m, GOALS_MSG_CAP - 1);
        msg[GOALS_MSG_CAP - 1] = '\0';
    }
    return rc;
}

int goals_flat_create(vecidx **out, int64_t dim, int metric, char *msg)
{
    return fail(vecidx_flat_create(out, dim, metric), msg);
}

int goals_ivf_create(vecidx **out, int64_t dim, int metric, int64_t nlist, char *msg)
{
    return fail(vecidx_ivf_create(out, dim, metric, nlist), msg);
}

int goals_vecidx_train(vecidx *idx, float *x, int64_t rows, int64_t cols, char *msg)
{
    als_matrix *m = NULL;
    int rc = als_matrix_wrap(&m, x, rows, cols, cols);
    if (rc == ALS_OK) rc = vecidx_train(idx, m);
    rc = fail(rc, msg);
    als_matrix_destroy(m);
    return rc;
}

int goals_vecidx_add(vecidx *idx, float *x, int64_t rows, int64_t cols, const int64_t *ids,
                     char *msg)
{
    als_matrix *m = NULL;
    int rc = als_matrix_wrap(&m, x, rows, cols, cols);
    if (rc == ALS_OK) rc = vecidx_add(idx, m, ids);
    rc = fail(rc, msg);
    als_matrix_destroy(m);
    return rc;
}

/* A filter exists only when ids are given (exclude) or the mode is include (an empty
 * include list lets nothing through). */
static int make_filter(vecidx_filter **f, const int64_t *fids, int64_t nf, int mode)
{
    *f = NULL;
    if (nf <= 0 && mode == VECIDX_FILTER_EXCLUDE) return ALS_OK;
    return vecidx_filter_create(f, fids, nf, mode);
}

int goals_vecidx_search(const vecidx *idx, float *q, int64_t rows, int64_t cols, int64_t k,
                        const int64_t *fids, int64_t nf, int mode, float *scores,
                        int64_t *ids, char *msg)
{
    als_matrix *m = NULL;
    vecidx_filter *f = NULL;
    int rc = als_matrix_wrap(&m, q, rows, cols, cols);
    if (rc == ALS_OK) rc = make_filter(&f, fids, nf, mode);
    if (rc == ALS_OK) rc = vecidx_search_filtered(idx, m, k, f, scores, ids);
    rc = fail(rc, msg);
    vecidx_filter_destroy(f);
    als_matrix_destroy(m);
    return rc;
}

int goals_vecidx_expand(const vecidx *idx, float *q, int64_t rows, int64_t cols, int64_t k,
                        int agg, const int64_t *fids, int64_t nf, int mode, int64_t n_out,
                        int64_t *ids_out, float *scores_out, int64_t *n_found, char *msg)
{
    als_matrix *m = NULL;
    vecidx_filter *f = NULL;
    int rc = als_matrix_wrap(&m, q, rows, cols, cols);
    if (rc == ALS_OK) rc = make_filter(&f, fids, nf, mode);
    if (rc == ALS_OK)
        rc = vecidx_expand(idx, m, k, agg, f, n_out, ids_out, scores_out, n_found);
    rc = fail(rc, msg);
    vecidx_filter_destroy(f);
    als_matrix_destroy(m);
    return rc;
}

int goals_vecidx_set_int(vecidx *idx, int key, int64_t value, char *msg)
{
    return fail(vecidx_set_int(idx, key, value), msg);
}

int goals_vecidx_get_int(const vecidx *idx, int key, int64_t *value, char *msg)
{
    return fail(vecidx_get_int(idx, key, value), msg);
}

int goals_vecidx_save(const vecidx *idx, const char *path, char *msg)
{
    return fail(vecidx_save(idx, path), msg);
}

int goals_vecidx_load(vecidx **out, const char *path, char *msg)
{
    return fail(vecidx_load(out, path), msg);
}

int goals_model_create(als_model **out, char *msg)
{
    return fail(als_model_create(out), msg);
}

int goals_set_int(als_model *m, int key, int64_t v, char *msg)
{
    return fail(als_set_int(m, key, v), msg);
}

int goals_set_double(als_model *m, int key, double v, char *msg)
{
    return fail(als_set_double(m, key, v), msg);
}

int goals_set_param(als_model *m, const char *name, const char *value, char *msg)
{
    return fail(als_set_param(m, name, value), msg);
}

int goals_get_int(const als_model *m, int key, int64_t *v, char *msg)
{
    return fail(als_get_int(m, key, v), msg);
}

int goals_get_double(const als_model *m, int key, double *v, char *msg)
{
    return fail(als_get_double(m, key, v), msg);
}

int goals_fit(als_model *m, int64_t n, const int64_t *users, const int64_t *items,
              const float *values, char *msg)
{
    als_ratings *r = NULL;
    int rc = als_ratings_create(&r);
    if (rc == ALS_OK) rc = als_ratings_add(r, n, users, items, values);
    /* rows in any order: grouped by user, the fit reads them in place (same factors) */
    if (rc == ALS_OK) rc = als_ratings_group_by_user(r);
    if (rc == ALS_OK) rc = als_model_fit(m, r);
    rc = fail(rc, msg);
    als_ratings_destroy(r);
    return rc;
}

int goals_predict(const als_model *m, int64_t n, const int64_t *users, const int64_t *items,
                  float *out, char *msg)
{
    return fail(als_model_predict(m, n, users, items, out), msg);
}

int64_t goals_fold_in(const als_model *m, int64_t n, const int64_t *items,
                      const float *values, float *factor_out, char *msg)
{
    int64_t rc = als_model_fold_in(m, n, items, values, factor_out);
    if (rc < 0) fail((int)rc, msg);
    return rc;
}

/* The exclusion list is the user's items: build a one-user ratings set for the call. */
int goals_recommend(const als_model *m, int64_t user, int64_t k, const int64_t *excl,
                    int64_t nexcl, int64_t *items, float *scores, char *msg)
{
    als_ratings *r = NULL;
    int rc = ALS_OK;
    if (nexcl > 0) {
        int64_t *users = malloc((size_t)nexcl * sizeof *users);
        if (!users) return fail(als_error_set(ALS_ENOMEM, "recommend: out of memory"), msg);
        for (int64_t i = 0; i < nexcl; i++) users[i] = user;
        rc = als_ratings_create(&r);
        if (rc == ALS_OK) rc = als_ratings_add(r, nexcl, users, excl, NULL);
        free(users);
    }
    if (rc == ALS_OK) rc = als_model_recommend(m, user, k, r, items, scores);
    rc = fail(rc, msg);
    als_ratings_destroy(r);
    return rc;
}

int goals_model_save(const als_model *m, const char *path, char *msg)
{
    return fail(als_model_save(m, path), msg);
}

int goals_model_load(als_model **out, const char *path, char *msg)
{
    return fail(als_model_load(out, path), msg);
}

int goals_normalize_rows(float *x, int64_t rows, int64_t cols, char *msg)
{
    als_matrix *m = NULL;
    int rc = als_matrix_wrap(&m, x, rows, cols, cols);
    if (rc == ALS_OK) rc = als_matrix_normalize_rows(m);
    rc = fail(rc, msg);
    als_matrix_destroy(m);
    return rc;
}

/* Read a .npy into a malloc'ed dense buffer that Go copies and then frees with free(). */
int goals_read_npy(float **data, int64_t *rows, int64_t *cols, const char *path, char *msg)
{
    als_matrix *m = NULL;
    *data = NULL;
    *rows = *cols = 0;
    int rc = als_matrix_read_npy(&m, path);
    if (rc != ALS_OK) return fail(rc, msg);
    int64_t r = als_matrix_rows(m), c = als_matrix_cols(m), s = als_matrix_stride(m);
    if (r > 0 && c > 0) {
        float *buf = malloc((size_t)r * (size_t)c * sizeof *buf);
        if (!buf) {
            als_matrix_destroy(m);
            return fail(als_error_set(ALS_ENOMEM, "read_npy: out of memory"), msg);
        }
        const float *src = als_matrix_data_const(m);
        for (int64_t i = 0; i < r; i++) memcpy(buf + i * c, src + i * s, (size_t)c * sizeof *buf);
        *data = buf;
    }
    *rows = r;
    *cols = c;
    als_matrix_destroy(m);
    return ALS_OK;
}

int goals_write_npy(float *x, int64_t rows, int64_t cols, const char *path, char *msg)
{
    als_matrix *m = NULL;
    int rc = als_matrix_wrap(&m, x, rows, cols, cols);
    if (rc == ALS_OK) rc = als_matrix_write_npy(m, path);
    rc = fail(rc, msg);
    als_matrix_destroy(m);
    return rc;
}
