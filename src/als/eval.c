/* Ranking metrics (precision, recall, MAP, NDCG at k; AUC) and RMSE; formulas in als.h. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "als/model_internal.h"

/* Items per model user row, from a ratings set (rows whose user or item is unknown to the
 * model are left out; unknown test items are counted separately). */
typedef struct {
    int64_t *ptr, *item; /* item = model item row, or -1 if unknown to the model */
} by_user;

static int group(const als_model *m, const als_ratings *r, by_user *g) {
    int64_t nu = als_matrix_rows(m->U);
    g->ptr = calloc((size_t)nu + 1, sizeof(int64_t));
    g->item = malloc((size_t)(r->n ? r->n : 1) * sizeof(int64_t));
    int64_t *urow = malloc((size_t)(r->n ? r->n : 1) * sizeof(int64_t));
    if (!g->ptr || !g->item || !urow) {
        free(urow);
        return ALS_ENOMEM;
    }
    als__ucur c = als__ucur_start(r);
    for (int64_t t = 0; t < r->n; t++) {
        urow[t] = als__idmap_get(&m->umap, r->umap.ids[als__ucur_user(r, &c, t)]);
        if (urow[t] >= 0) g->ptr[urow[t] + 1]++;
    }
    for (int64_t u = 0; u < nu; u++) g->ptr[u + 1] += g->ptr[u];
    int64_t *pos = malloc((size_t)(nu ? nu : 1) * sizeof(int64_t));
    if (!pos) {
        free(urow);
        return ALS_ENOMEM;
    }
    memcpy(pos, g->ptr, (size_t)nu * sizeof(int64_t));
    for (int64_t t = 0; t < r->n; t++)
        if (urow[t] >= 0) g->item[pos[urow[t]]++] = als__idmap_get(&m->imap, als__r_item(r, t));
    free(pos);
    free(urow);
    return ALS_OK;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

ALS_API int als_eval_ranking(const als_model *m, const als_ratings *train, const als_ratings *test,
                             int64_t k, double *metrics, int n_metrics) {
    if (!m || !train || !test || !metrics) return als__errf(ALS_EINVAL, "als_eval_ranking: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_eval_ranking: the model is not fitted");
    if (k < 1 || n_metrics < 1)
        return als__errf(ALS_ERANGE, "als_eval_ranking: k = %lld and n_metrics = %d must be >= 1", (long long)k, n_metrics);
    int64_t nu = als_matrix_rows(m->U), ni = als_matrix_rows(m->V);
    int r = (int)m->p_fit.rank;
    by_user tr = {0}, te = {0};
    int rc = ALS_OK;
    if (group(m, train, &tr) || group(m, test, &te)) {
        rc = als__errf(ALS_ENOMEM, "als_eval_ranking: out of memory");
        goto done;
    }
    double sum[5] = {0}, users = 0, auc_users = 0;
    int nt = als__threads((int64_t)m->p.num_threads), failed = 0;
    const float *U = als_matrix_data_const(m->U), *V = als_matrix_data_const(m->V);
#pragma omp parallel num_threads(nt) reduction(+ : sum[:5], users, auc_users)
    {
        float *sc = malloc((size_t)(ni ? ni : 1) * sizeof(float));
        float *neg = malloc((size_t)(ni ? ni : 1) * sizeof(float));
        unsigned char *mark = malloc((size_t)(ni ? ni : 1)); /* 1 train, 2 test */
        int64_t kc = k < ni ? k : ni;
        float *hs = malloc((size_t)(kc ? kc : 1) * sizeof(float));
        int64_t *hid = malloc((size_t)(kc ? kc : 1) * sizeof(int64_t));
        if (!sc || !neg || !mark || !hs || !hid) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t u = 0; u < nu; u++) {
            int64_t nte = te.ptr[u + 1] - te.ptr[u];
            if (failed || nte == 0) continue;
            memset(mark, 0, (size_t)ni);
            for (int64_t t = tr.ptr[u]; t < tr.ptr[u + 1]; t++)
                if (tr.item[t] >= 0) mark[tr.item[t]] = 1;
            int64_t npos = 0, distinct_test = 0;
            for (int64_t t = te.ptr[u]; t < te.ptr[u + 1]; t++) {
                int64_t i = te.item[t];
                if (i < 0) { distinct_test++; continue; } /* unknown item: can never be hit */
                if (mark[i] == 0) { mark[i] = 2; npos++; distinct_test++; }
                else if (mark[i] == 1) { /* also a training item: excluded from ranking */ }
            }
            if (distinct_test == 0) continue;
            als__heap h = {hs, hid, kc, 0};
            const float *x = U + u * r;
            for (int64_t i = 0; i < ni; i++) {
                float s = 0.0f;
                for (int j = 0; j < r; j++) s = als__fmaf(x[j], V[i * r + j], s);
                sc[i] = s;
                /* ties by external item id, as als_model_recommend orders them */
                int64_t id = m->imap.ids[i];
                if (mark[i] != 1 && als__heap_accepts(&h, s, id)) als__heap_push(&h, s, id);
            }
            als__heap_sort(&h);
            for (int64_t rk = 0; rk < h.n; rk++) h.id[rk] = als__idmap_get(&m->imap, h.id[rk]);
            int64_t mu = distinct_test < k ? distinct_test : k;
            double hits = 0, ap = 0, dcg = 0, idcg = 0;
            for (int64_t rk = 0; rk < h.n; rk++)
                if (mark[h.id[rk]] == 2) {
                    hits += 1;
                    ap += hits / (double)(rk + 1);
                    dcg += 1.0 / log2((double)rk + 2.0);
                }
            for (int64_t j = 0; j < mu; j++) idcg += 1.0 / log2((double)j + 2.0);
            sum[0] += hits / (double)k;
            sum[1] += hits / (double)mu;
            sum[2] += ap / (double)mu;
            sum[3] += dcg / idcg;
            users += 1;
            /* AUC: fraction of (positive, negative) pairs ranked correctly, ties half. */
            int64_t nneg = 0;
            for (int64_t i = 0; i < ni; i++)
                if (mark[i] == 0) neg[nneg++] = sc[i];
            if (npos > 0 && nneg > 0) {
                qsort(neg, (size_t)nneg, sizeof(float), cmp_float);
                double good = 0;
                for (int64_t i = 0; i < ni; i++) {
                    if (mark[i] != 2) continue;
                    int64_t lo = 0, hi = nneg; /* count negatives < s and == s */
                    while (lo < hi) { int64_t mid = (lo + hi) / 2; if (neg[mid] < sc[i]) lo = mid + 1; else hi = mid; }
                    int64_t less = lo;
                    hi = nneg;
                    while (lo < hi) { int64_t mid = (lo + hi) / 2; if (neg[mid] <= sc[i]) lo = mid + 1; else hi = mid; }
                    good += (double)less + 0.5 * (double)(lo - less);
                }
                sum[4] += good / ((double)npos * (double)nneg);
                auc_users += 1;
            }
        }
        free(sc);
        free(neg);
        free(mark);
        free(hs);
        free(hid);
    }
    if (failed) {
        rc = als__errf(ALS_ENOMEM, "als_eval_ranking: out of memory");
        goto done;
    }
    double out[ALS_METRIC_COUNT] = {
        users ? sum[0] / users : NAN, users ? sum[1] / users : NAN, users ? sum[2] / users : NAN,
        users ? sum[3] / users : NAN, auc_users ? sum[4] / auc_users : NAN, users};
    for (int i = 0; i < n_metrics && i < ALS_METRIC_COUNT; i++) metrics[i] = out[i];
done:
    free(tr.ptr);
    free(tr.item);
    free(te.ptr);
    free(te.item);
    return rc;
}

ALS_API int als_eval_rmse(const als_model *m, const als_ratings *test, double *rmse, int64_t *n_scored) {
    if (!m || !test || !rmse) return als__errf(ALS_EINVAL, "als_eval_rmse: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_eval_rmse: the model is not fitted");
    int r = (int)m->p_fit.rank;
    const float *U = als_matrix_data_const(m->U), *V = als_matrix_data_const(m->V);
    double se = 0;
    int64_t cnt = 0;
    als__ucur c = als__ucur_start(test);
    for (int64_t t = 0; t < test->n; t++) {
        int64_t u = als__idmap_get(&m->umap, test->umap.ids[als__ucur_user(test, &c, t)]),
                i = als__idmap_get(&m->imap, als__r_item(test, t));
        if (u < 0 || i < 0) continue;
        double s = 0;
        for (int j = 0; j < r; j++) s += (double)U[u * r + j] * V[i * r + j];
        double d = s - als__r_value(test, t);
        se += d * d;
        cnt++;
    }
    *rmse = cnt ? sqrt(se / (double)cnt) : NAN;
    if (n_scored) *n_scored = cnt;
    return ALS_OK;
}
