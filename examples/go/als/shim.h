/* C shims for the Go binding. Each shim does the whole C-side job of one Go method in a
 * single cgo call: it wraps Go slices as als_matrix handles, calls the library, destroys
 * the wraps, and on failure copies als_last_error() into msg before returning. Reading
 * the thread-local message in the same call matters because a goroutine may move to
 * another OS thread between two cgo calls. No shim keeps a pointer to Go memory after it
 * returns (cgo pointer rules). */
#ifndef ALS_GO_SHIM_H
#define ALS_GO_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include "als.h"
#include "vecidx.h"

#define GOALS_MSG_CAP 512

int goals_flat_create(vecidx **out, int64_t dim, int metric, char *msg);
int goals_ivf_create(vecidx **out, int64_t dim, int metric, int64_t nlist, char *msg);
int goals_vecidx_train(vecidx *idx, float *x, int64_t rows, int64_t cols, char *msg);
int goals_vecidx_add(vecidx *idx, float *x, int64_t rows, int64_t cols, const int64_t *ids,
                     char *msg);
int goals_vecidx_search(const vecidx *idx, float *q, int64_t rows, int64_t cols, int64_t k,
                        const int64_t *fids, int64_t nf, int mode, float *scores,
                        int64_t *ids, char *msg);
int goals_vecidx_expand(const vecidx *idx, float *q, int64_t rows, int64_t cols, int64_t k,
                        int agg, const int64_t *fids, int64_t nf, int mode, int64_t n_out,
                        int64_t *ids_out, float *scores_out, int64_t *n_found, char *msg);
int goals_vecidx_set_int(vecidx *idx, int key, int64_t value, char *msg);
int goals_vecidx_get_int(const vecidx *idx, int key, int64_t *value, char *msg);
int goals_vecidx_save(const vecidx *idx, const char *path, char *msg);
int goals_vecidx_load(vecidx **out, const char *path, char *msg);

int goals_model_create(als_model **out, char *msg);
int goals_set_int(als_model *m, int key, int64_t v, char *msg);
int goals_set_double(als_model *m, int key, double v, char *msg);
int goals_set_param(als_model *m, const char *name, const char *value, char *msg);
int goals_get_int(const als_model *m, int key, int64_t *v, char *msg);
int goals_get_double(const als_model *m, int key, double *v, char *msg);
int goals_fit(als_model *m, int64_t n, const int64_t *users, const int64_t *items,
              const float *values, char *msg);
int goals_predict(const als_model *m, int64_t n, const int64_t *users, const int64_t *items,
                  float *out, char *msg);
int64_t goals_fold_in(const als_model *m, int64_t n, const int64_t *items,
                      const float *values, float *factor_out, char *msg);
int goals_recommend(const als_model *m, int64_t user, int64_t k, const int64_t *excl,
                    int64_t nexcl, int64_t *items, float *scores, char *msg);
int goals_model_save(const als_model *m, const char *path, char *msg);
int goals_model_load(als_model **out, const char *path, char *msg);
int goals_normalize_rows(float *x, int64_t rows, int64_t cols, char *msg);
int goals_read_npy(float **data, int64_t *rows, int64_t *cols, const char *path, char *msg);
int goals_write_npy(float *x, int64_t rows, int64_t cols, const char *path, char *msg);

#endif
