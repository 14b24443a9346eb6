/* Audience expansion (vecidx_expand) against a brute-force double-precision reference
 * written here, and als_ratings_users_of_items against a brute force over random ratings.
 *
 * Reference for vecidx_expand: for each seed, the exact top-k of the ids the filter lets
 * through (ties: smaller id); the union of those lists, de-duplicated; per id the aggregate
 * over the seeds whose top-k holds it (MAX: best similarity, i.e. the largest inner product
 * or the smallest L2 distance; SUM: sum (IP only); MEAN: mean); ranked best first (ties:
 * smaller id) and cut to n_out; entries past n_found are -1 / NaN.
 *
 * Tolerances: scores equal the reference at the same rank within 1e-4 * (1 + |ref|); ids
 * equal the reference exactly wherever the reference aggregate is separated from its
 * neighbours by more than 1e-5 * (1 + |ref|). The data are chosen so that no seed's k-th
 * and (k+1)-th reference scores are that close (asserted), so the candidate set itself is
 * never ambiguous. IVF with nprobe = nlist must give exactly the flat result. */
#include "testutil.h"

#define SCORE_TOL 1e-4
#define TIE_TOL 1e-5

/* ---------------------------------------------------------------- data helpers */

static als_matrix *mat_from(const float *src, int64_t rows, int64_t cols) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, rows, cols));
    assert_non_null(m);
    if (rows > 0 && cols > 0) {
        float *p = als_matrix_data(m);
        int64_t st = als_matrix_stride(m);
        for (int64_t i = 0; i < rows; i++) memcpy(p + i * st, src + i * cols, (size_t)cols * sizeof(float));
    }
    return m;
}

typedef struct {
    int64_t n, d;
    int metric;
    float *x;     /* n x d */
    int64_t *ids; /* n distinct ids, not consecutive, some negative */
} db_t;

/* Clustered Gaussian data (so seeds share neighbours and aggregates matter). */
static void db_init(db_t *db, int64_t n, int64_t d, int metric, uint64_t seed) {
    db->n = n;
    db->d = d;
    db->metric = metric;
    db->x = malloc((size_t)(n * d) * sizeof(float));
    db->ids = malloc((size_t)n * sizeof(int64_t));
    assert_non_null(db->x);
    assert_non_null(db->ids);
    uint64_t s = seed;
    enum { NC = 12 };
    double c[NC][64];
    assert_true(d <= 64);
    for (int j = 0; j < NC; j++)
        for (int64_t t = 0; t < d; t++) c[j][t] = tu_normal(&s);
    for (int64_t i = 0; i < n; i++) {
        int j = (int)(tu_next(&s) % NC);
        double nrm = 0.0;
        for (int64_t t = 0; t < d; t++) {
            double v = c[j][t] + 0.5 * tu_normal(&s);
            db->x[i * d + t] = (float)v;
            nrm += v * v;
        }
        if (metric == VECIDX_METRIC_IP) { /* cosine, as users do */
            nrm = sqrt(nrm);
            for (int64_t t = 0; t < d; t++) db->x[i * d + t] = (float)(db->x[i * d + t] / nrm);
        }
        /* distinct: a bijection of i, negative for every third row */
        db->ids[i] = (i % 3 == 0) ? -(i * 13 + 5) : i * 13 + 1000003;
    }
}

static void db_free(db_t *db) {
    free(db->x);
    free(db->ids);
}

static vecidx *build(const db_t *db, int ivf, int64_t nlist, int64_t threads) {
    vecidx *idx = NULL;
    if (ivf) assert_ok(vecidx_ivf_create(&idx, db->d, db->metric, nlist));
    else assert_ok(vecidx_flat_create(&idx, db->d, db->metric));
    assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, threads));
    als_matrix *x = mat_from(db->x, db->n, db->d);
    if (ivf) {
        assert_ok(vecidx_train(idx, x));
        assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NPROBE, nlist));
    }
    assert_ok(vecidx_add(idx, x, db->ids));
    als_matrix_destroy(x);
    return idx;
}

/* The seeds: ns rows of the database (so each seed finds itself unless excluded). */
static int64_t *seed_rows(const db_t *db, int64_t ns, uint64_t seed) {
    int64_t *rows = malloc((size_t)(ns + 1) * sizeof(int64_t));
    unsigned char *used = calloc((size_t)db->n, 1);
    assert_non_null(rows);
    assert_non_null(used);
    uint64_t s = seed;
    for (int64_t i = 0; i < ns;) {
        int64_t r = (int64_t)(tu_next(&s) % (uint64_t)db->n);
        if (used[r]) continue;
        used[r] = 1;
        rows[i++] = r;
    }
    free(used);
    return rows;
}

static als_matrix *seeds_matrix(const db_t *db, const int64_t *rows, int64_t ns) {
    float *b = malloc((size_t)(ns * db->d + 1) * sizeof(float));
    assert_non_null(b);
    for (int64_t i = 0; i < ns; i++) memcpy(b + i * db->d, db->x + rows[i] * db->d, (size_t)db->d * sizeof(float));
    als_matrix *m = mat_from(b, ns, db->d);
    free(b);
    return m;
}

/* ---------------------------------------------------------------- reference */

typedef struct {
    double s; /* "bigger is better" key: IP score, or minus the L2 distance */
    int64_t id;
} item;

static int cmp_item(const void *a, const void *b) {
    const item *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_item_id(const void *a, const void *b) {
    const item *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int in_list(const int64_t *l, int64_t n, int64_t id) {
    for (int64_t i = 0; i < n; i++)
        if (l[i] == id) return 1;
    return 0;
}

/* filter: NULL/0 ids = none; mode as vecidx. */
typedef struct {
    const int64_t *ids;
    int64_t n;
    int mode;
    int on;
} rfilter;

static int rf_allows(const rfilter *f, int64_t id) {
    if (!f || !f->on) return 1;
    int in = in_list(f->ids, f->n, id);
    return f->mode == VECIDX_FILTER_EXCLUDE ? !in : in;
}

typedef struct {
    int64_t n;   /* distinct candidates */
    item *agg;   /* n aggregates, ranked best first; s in the library's sign convention */
} refres;

static refres reference(const db_t *db, const float *seeds, int64_t ns, int64_t k, int agg,
                        const rfilter *f) {
    int l2 = db->metric == VECIDX_METRIC_L2;
    item *all = malloc((size_t)(db->n + 1) * sizeof(item));
    item *pairs = malloc((size_t)(ns * k + 1) * sizeof(item));
    assert_non_null(all);
    assert_non_null(pairs);
    int64_t np = 0;
    for (int64_t q = 0; q < ns; q++) {
        int64_t m = 0;
        for (int64_t i = 0; i < db->n; i++) {
            if (!rf_allows(f, db->ids[i])) continue;
            double acc = 0.0;
            for (int64_t t = 0; t < db->d; t++) {
                double a = seeds[q * db->d + t], b = db->x[i * db->d + t];
                acc += l2 ? (a - b) * (a - b) : a * b;
            }
            all[m].s = l2 ? -acc : acc;
            all[m].id = db->ids[i];
            m++;
        }
        qsort(all, (size_t)m, sizeof(item), cmp_item);
        int64_t kk = k < m ? k : m;
        /* the candidate set must not hinge on a near-tie at the k-th place */
        if (kk < m) {
            double a = all[kk - 1].s, b = all[kk].s;
            if (!(a - b > TIE_TOL * (1.0 + fabs(a)))) {
                print_error("reference: seed %lld has a near-tie at its k-th place (%.9g vs %.9g); "
                            "change the test data\n", (long long)q, a, b);
                fail();
            }
        }
        for (int64_t r = 0; r < kk; r++) pairs[np++] = all[r];
    }
    qsort(pairs, (size_t)np, sizeof(item), cmp_item_id);
    refres out = {0, malloc((size_t)(np + 1) * sizeof(item))};
    assert_non_null(out.agg);
    for (int64_t a = 0; a < np;) {
        int64_t b = a;
        double best = pairs[a].s, sum = 0.0;
        for (; b < np && pairs[b].id == pairs[a].id; b++) {
            sum += pairs[b].s;
            if (pairs[b].s > best) best = pairs[b].s;
        }
        double v = agg == VECIDX_AGG_MAX ? best : agg == VECIDX_AGG_SUM ? sum : sum / (double)(b - a);
        out.agg[out.n].s = v; /* bigger-is-better key */
        out.agg[out.n].id = pairs[a].id;
        out.n++;
        a = b;
    }
    qsort(out.agg, (size_t)out.n, sizeof(item), cmp_item);
    if (l2)
        for (int64_t i = 0; i < out.n; i++) out.agg[i].s = -out.agg[i].s;
    free(all);
    free(pairs);
    return out;
}

static const char *agg_name(int agg) {
    return agg == VECIDX_AGG_MAX ? "max" : agg == VECIDX_AGG_SUM ? "sum" : "mean";
}

/* Compare one vecidx_expand output with the reference. */
static void check_expand(const refres *ref, int64_t n_out, const int64_t *ids, const float *sc,
                         int64_t n_found, const char *what) {
    int64_t want = ref->n < n_out ? ref->n : n_out;
    if (n_found != want) {
        print_error("%s: n_found = %lld, reference %lld\n", what, (long long)n_found, (long long)want);
        fail();
    }
    for (int64_t r = 0; r < n_out; r++) {
        if (r >= want) {
            if (ids[r] != -1 || !isnan(sc[r])) {
                print_error("%s: rank %lld past n_found: id %lld score %g, want -1 / NaN\n", what,
                            (long long)r, (long long)ids[r], (double)sc[r]);
                fail();
            }
            continue;
        }
        double rs = ref->agg[r].s;
        if (!(fabs((double)sc[r] - rs) <= SCORE_TOL * (1.0 + fabs(rs)))) {
            print_error("%s: rank %lld score %.9g, reference %.9g (id %lld vs ref %lld)\n", what,
                        (long long)r, (double)sc[r], rs, (long long)ids[r], (long long)ref->agg[r].id);
            fail();
        }
        double tol = TIE_TOL * (1.0 + fabs(rs));
        int tie = (r > 0 && fabs(ref->agg[r - 1].s - rs) <= tol) ||
                  (r + 1 < ref->n && fabs(ref->agg[r + 1].s - rs) <= tol);
        if (!tie && ids[r] != ref->agg[r].id) {
            print_error("%s: rank %lld id %lld, reference %lld (score %.9g)\n", what, (long long)r,
                        (long long)ids[r], (long long)ref->agg[r].id, rs);
            fail();
        }
    }
    /* no id twice */
    for (int64_t r = 0; r < want; r++)
        for (int64_t t = r + 1; t < want; t++)
            if (ids[r] == ids[t]) {
                print_error("%s: id %lld returned twice\n", what, (long long)ids[r]);
                fail();
            }
}

typedef struct {
    int64_t *ids;
    float *sc;
    int64_t n_found;
} out_t;

static out_t run_expand(const vecidx *idx, const als_matrix *seeds, int64_t k, int agg,
                        const vecidx_filter *f, int64_t n_out) {
    out_t o;
    o.ids = malloc((size_t)n_out * sizeof(int64_t));
    o.sc = malloc((size_t)n_out * sizeof(float));
    assert_non_null(o.ids);
    assert_non_null(o.sc);
    for (int64_t i = 0; i < n_out; i++) { o.ids[i] = 12345; o.sc[i] = 7.0f; }
    o.n_found = -77;
    assert_ok(vecidx_expand(idx, seeds, k, agg, f, n_out, o.ids, o.sc, &o.n_found));
    return o;
}

static void out_free(out_t *o) {
    free(o->ids);
    free(o->sc);
}

static void assert_same_out(const out_t *a, const out_t *b, int64_t n_out, const char *what) {
    if (a->n_found != b->n_found || memcmp(a->ids, b->ids, (size_t)n_out * sizeof(int64_t)) != 0 ||
        memcmp(a->sc, b->sc, (size_t)n_out * sizeof(float)) != 0) {
        print_error("%s: results differ (n_found %lld vs %lld)\n", what, (long long)a->n_found,
                    (long long)b->n_found);
        fail();
    }
}

/* ---------------------------------------------------------------- expand tests */

/* Every aggregate x metric x flat/IVF x exclude-the-seeds / no filter x n_out larger,
 * smaller; IVF (nprobe = nlist) equals flat exactly; 1 vs 2 threads identical. */
static void test_expand_grid(void **state) {
    (void)state;
    const int64_t n = 1500, d = 8, ns = 30, nlist = 16;
    for (int metric = 0; metric <= 1; metric++) {
        db_t db;
        db_init(&db, n, d, metric, 1000 + (uint64_t)metric);
        int64_t *rows = seed_rows(&db, ns, 77 + (uint64_t)metric);
        als_matrix *seeds = seeds_matrix(&db, rows, ns);
        int64_t *seed_ids = malloc((size_t)ns * sizeof(int64_t));
        assert_non_null(seed_ids);
        for (int64_t i = 0; i < ns; i++) seed_ids[i] = db.ids[rows[i]];
        vecidx_filter *excl = NULL;
        assert_ok(vecidx_filter_create(&excl, seed_ids, ns, VECIDX_FILTER_EXCLUDE));
        vecidx *flat1 = build(&db, 0, 0, 1), *flat2 = build(&db, 0, 0, 2);
        vecidx *ivf1 = build(&db, 1, nlist, 1), *ivf2 = build(&db, 1, nlist, 2);
        const float *sdata = als_matrix_data_const(seeds);
        float *sbuf = malloc((size_t)(ns * d) * sizeof(float));
        assert_non_null(sbuf);
        for (int64_t i = 0; i < ns; i++) memcpy(sbuf + i * d, sdata + i * als_matrix_stride(seeds), (size_t)d * sizeof(float));
        (void)sdata;
        for (int agg = 0; agg <= 2; agg++) {
            if (agg == VECIDX_AGG_SUM && metric == VECIDX_METRIC_L2) continue;
            for (int fon = 0; fon <= 1; fon++) {
                const int64_t ks[] = {1, 5, 12};
                for (int ki = 0; ki < 3; ki++) {
                    int64_t k = ks[ki];
                    rfilter rf = {seed_ids, ns, VECIDX_FILTER_EXCLUDE, fon};
                    refres ref = reference(&db, sbuf, ns, k, agg, &rf);
                    const int64_t nouts[] = {ref.n + 37, ref.n, 7, 1};
                    for (int oi = 0; oi < 4; oi++) {
                        int64_t n_out = nouts[oi];
                        char what[160];
                        snprintf(what, sizeof what, "%s agg=%s k=%lld n_out=%lld exclude=%d",
                                 metric ? "l2" : "ip", agg_name(agg), (long long)k, (long long)n_out, fon);
                        const vecidx_filter *f = fon ? excl : NULL;
                        out_t a = run_expand(flat1, seeds, k, agg, f, n_out);
                        check_expand(&ref, n_out, a.ids, a.sc, a.n_found, what);
                        if (fon)
                            for (int64_t r = 0; r < a.n_found; r++)
                                if (in_list(seed_ids, ns, a.ids[r])) {
                                    print_error("%s: seed id %lld returned\n", what, (long long)a.ids[r]);
                                    fail();
                                }
                        if (!fon && agg == VECIDX_AGG_MAX && n_out >= ns) {
                            /* every seed finds itself first: all seed ids are in the audience */
                            for (int64_t i = 0; i < ns; i++) {
                                int found = 0;
                                for (int64_t r = 0; r < a.n_found; r++) found |= a.ids[r] == seed_ids[i];
                                assert_true(found);
                            }
                        }
                        out_t b = run_expand(flat2, seeds, k, agg, f, n_out);
                        assert_same_out(&a, &b, n_out, "flat 1 vs 2 threads");
                        out_t c = run_expand(ivf1, seeds, k, agg, f, n_out);
                        assert_same_out(&a, &c, n_out, "ivf (nprobe = nlist) vs flat");
                        out_t e = run_expand(ivf2, seeds, k, agg, f, n_out);
                        assert_same_out(&c, &e, n_out, "ivf 1 vs 2 threads");
                        /* scores_out and n_found may be NULL */
                        int64_t *ids_only = malloc((size_t)n_out * sizeof(int64_t));
                        assert_non_null(ids_only);
                        assert_ok(vecidx_expand(flat1, seeds, k, agg, f, n_out, ids_only, NULL, NULL));
                        assert_memory_equal(ids_only, a.ids, (size_t)n_out * sizeof(int64_t));
                        free(ids_only);
                        out_free(&a);
                        out_free(&b);
                        out_free(&c);
                        out_free(&e);
                    }
                    free(ref.agg);
                }
            }
        }
        /* INCLUDE filter: restrict the audience to a third of the ids */
        {
            int64_t ninc = n / 3;
            int64_t *inc = malloc((size_t)ninc * sizeof(int64_t));
            assert_non_null(inc);
            for (int64_t i = 0; i < ninc; i++) inc[i] = db.ids[i * 3 + 1];
            vecidx_filter *fi = NULL;
            assert_ok(vecidx_filter_create(&fi, inc, ninc, VECIDX_FILTER_INCLUDE));
            int agg = VECIDX_AGG_MEAN;
            rfilter rf = {inc, ninc, VECIDX_FILTER_INCLUDE, 1};
            refres ref = reference(&db, sbuf, ns, 6, agg, &rf);
            out_t a = run_expand(flat1, seeds, 6, agg, fi, 50);
            check_expand(&ref, 50, a.ids, a.sc, a.n_found, "include filter");
            for (int64_t r = 0; r < a.n_found; r++) assert_true(in_list(inc, ninc, a.ids[r]));
            out_t c = run_expand(ivf2, seeds, 6, agg, fi, 50);
            assert_same_out(&a, &c, 50, "include filter: ivf vs flat");
            out_free(&a);
            out_free(&c);
            free(ref.agg);
            vecidx_filter_destroy(fi);
            free(inc);
        }
        free(sbuf);
        vecidx_destroy(flat1);
        vecidx_destroy(flat2);
        vecidx_destroy(ivf1);
        vecidx_destroy(ivf2);
        vecidx_filter_destroy(excl);
        free(seed_ids);
        free(rows);
        als_matrix_destroy(seeds);
        db_free(&db);
    }
}

/* k larger than the index: every id is a candidate; exact aggregate values on a tiny
 * hand-made case (with a tie broken by the smaller id). */
static void test_expand_small_exact(void **state) {
    (void)state;
    /* 1-D inner product: x = id-scaled values, seeds 1 and 2 */
    const float x[] = {1.0f, 2.0f, 3.0f, 3.0f, -1.0f};
    const int64_t ids[] = {50, 40, 30, 20, 10};
    vecidx *idx = NULL;
    assert_ok(vecidx_flat_create(&idx, 1, VECIDX_METRIC_IP));
    als_matrix *xm = mat_from(x, 5, 1);
    assert_ok(vecidx_add(idx, xm, ids));
    const float s[] = {1.0f, 2.0f};
    als_matrix *sm = mat_from(s, 2, 1);
    int64_t oid[8];
    float osc[8];
    int64_t nf = -1;
    /* k = 2: seed 1 -> {20:3, 30:3}, seed 2 -> {20:6, 30:6}; SUM 9, 9 -> tie: 20 first */
    assert_ok(vecidx_expand(idx, sm, 2, VECIDX_AGG_SUM, NULL, 8, oid, osc, &nf));
    assert_int_equal(nf, 2);
    assert_int_equal(oid[0], 20);
    assert_int_equal(oid[1], 30);
    assert_close(osc[0], 9.0, 1e-6);
    assert_close(osc[1], 9.0, 1e-6);
    for (int r = 2; r < 8; r++) {
        assert_int_equal(oid[r], -1);
        assert_true(isnan(osc[r]));
    }
    /* k = 10 > size: all 5 ids; MEAN = 1.5 * x */
    assert_ok(vecidx_expand(idx, sm, 10, VECIDX_AGG_MEAN, NULL, 8, oid, osc, &nf));
    assert_int_equal(nf, 5);
    const int64_t want[] = {20, 30, 40, 50, 10};
    const double wsc[] = {4.5, 4.5, 3.0, 1.5, -1.5};
    for (int r = 0; r < 5; r++) {
        assert_int_equal(oid[r], want[r]);
        assert_close(osc[r], wsc[r], 1e-6);
    }
    /* MAX with the seeds' best: 2 * x */
    assert_ok(vecidx_expand(idx, sm, 10, VECIDX_AGG_MAX, NULL, 3, oid, osc, &nf));
    assert_int_equal(nf, 3);
    assert_int_equal(oid[0], 20);
    assert_int_equal(oid[1], 30);
    assert_int_equal(oid[2], 40);
    assert_close(osc[2], 4.0, 1e-6);
    /* exclude everything: empty audience */
    vecidx_filter *f = NULL;
    assert_ok(vecidx_filter_create(&f, ids, 5, VECIDX_FILTER_EXCLUDE));
    assert_ok(vecidx_expand(idx, sm, 3, VECIDX_AGG_MAX, f, 4, oid, osc, &nf));
    assert_int_equal(nf, 0);
    for (int r = 0; r < 4; r++) {
        assert_int_equal(oid[r], -1);
        assert_true(isnan(osc[r]));
    }
    vecidx_filter_destroy(f);
    /* L2: MAX = smallest distance, MEAN = mean distance, smaller first */
    vecidx *l2 = NULL;
    assert_ok(vecidx_flat_create(&l2, 1, VECIDX_METRIC_L2));
    assert_ok(vecidx_add(l2, xm, ids));
    /* seeds 1, 2 with k = 2: seed 1 -> 50:0, 40:1; seed 2 -> 40:0, 20:1 (tie 20/30/50 at 1: 20) */
    assert_ok(vecidx_expand(l2, sm, 2, VECIDX_AGG_MAX, NULL, 8, oid, osc, &nf));
    assert_int_equal(nf, 3);
    assert_int_equal(oid[0], 40);
    assert_close(osc[0], 0.0, 1e-6);
    assert_int_equal(oid[1], 50);
    assert_close(osc[1], 0.0, 1e-6);
    assert_int_equal(oid[2], 20);
    assert_close(osc[2], 1.0, 1e-6);
    assert_ok(vecidx_expand(l2, sm, 2, VECIDX_AGG_MEAN, NULL, 8, oid, osc, &nf));
    assert_int_equal(nf, 3);
    assert_int_equal(oid[0], 50); /* 0 */
    assert_int_equal(oid[1], 40); /* (1 + 0) / 2 */
    assert_close(osc[1], 0.5, 1e-6);
    assert_int_equal(oid[2], 20); /* 1 */
    vecidx_destroy(l2);
    als_matrix_destroy(sm);
    als_matrix_destroy(xm);
    vecidx_destroy(idx);
}

/* ns = 0: an empty audience, padded. */
static void test_expand_no_seeds(void **state) {
    (void)state;
    db_t db;
    db_init(&db, 200, 4, VECIDX_METRIC_IP, 5);
    for (int ivf = 0; ivf <= 1; ivf++) {
        vecidx *idx = build(&db, ivf, 4, 2);
        als_matrix *sm = NULL;
        assert_ok(als_matrix_create(&sm, 0, 4));
        int64_t oid[5];
        float osc[5];
        int64_t nf = -1;
        for (int agg = 0; agg <= 2; agg++) {
            assert_ok(vecidx_expand(idx, sm, 3, agg, NULL, 5, oid, osc, &nf));
            assert_int_equal(nf, 0);
            for (int r = 0; r < 5; r++) {
                assert_int_equal(oid[r], -1);
                assert_true(isnan(osc[r]));
            }
        }
        als_matrix_destroy(sm);
        vecidx_destroy(idx);
    }
    /* an empty index: nothing found either */
    vecidx *e = NULL;
    assert_ok(vecidx_flat_create(&e, 4, VECIDX_METRIC_L2));
    als_matrix *s1 = mat_from(db.x, 3, 4);
    int64_t oid[4];
    int64_t nf = -1;
    assert_ok(vecidx_expand(e, s1, 2, VECIDX_AGG_MEAN, NULL, 4, oid, NULL, &nf));
    assert_int_equal(nf, 0);
    for (int r = 0; r < 4; r++) assert_int_equal(oid[r], -1);
    als_matrix_destroy(s1);
    vecidx_destroy(e);
    db_free(&db);
}

static void test_expand_errors(void **state) {
    (void)state;
    db_t db;
    db_init(&db, 100, 4, VECIDX_METRIC_IP, 9);
    vecidx *ip = build(&db, 0, 0, 1);
    vecidx *l2 = NULL;
    assert_ok(vecidx_flat_create(&l2, 4, VECIDX_METRIC_L2));
    als_matrix *sm = mat_from(db.x, 3, 4);
    int64_t oid[4];
    float osc[4];
    int64_t nf;
    assert_fails_with(vecidx_expand(NULL, sm, 2, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    assert_fails_with(vecidx_expand(ip, NULL, 2, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    assert_fails_with(vecidx_expand(ip, sm, 2, VECIDX_AGG_MAX, NULL, 4, NULL, osc, &nf), ALS_EINVAL);
    assert_fails_with(vecidx_expand(ip, sm, 2, 3, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    assert_fails_with(vecidx_expand(ip, sm, 2, -1, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    assert_fails_with(vecidx_expand(l2, sm, 2, VECIDX_AGG_SUM, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    assert_fails_with(vecidx_expand(ip, sm, 0, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_ERANGE);
    assert_fails_with(vecidx_expand(ip, sm, -5, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_ERANGE);
    assert_fails_with(vecidx_expand(ip, sm, 2, VECIDX_AGG_MAX, NULL, 0, oid, osc, &nf), ALS_ERANGE);
    assert_fails_with(vecidx_expand(ip, sm, 2, VECIDX_AGG_MAX, NULL, -1, oid, osc, &nf), ALS_ERANGE);
    als_matrix *wrong = mat_from(db.x, 2, 3);
    assert_fails_with(vecidx_expand(ip, wrong, 2, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_EDIM);
    assert_fails_with(vecidx_expand(l2, wrong, 2, VECIDX_AGG_MEAN, NULL, 4, oid, osc, &nf), ALS_EDIM);
    vecidx *untrained = NULL;
    assert_ok(vecidx_ivf_create(&untrained, 4, VECIDX_METRIC_IP, 4));
    assert_fails_with(vecidx_expand(untrained, sm, 2, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_ESTATE);
    float bad[8];
    memcpy(bad, db.x, sizeof bad);
    bad[5] = NAN;
    als_matrix *nan = mat_from(bad, 2, 4);
    assert_fails_with(vecidx_expand(ip, nan, 2, VECIDX_AGG_MAX, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    bad[5] = INFINITY;
    als_matrix *inf = mat_from(bad, 2, 4);
    assert_fails_with(vecidx_expand(ip, inf, 2, VECIDX_AGG_MEAN, NULL, 4, oid, osc, &nf), ALS_EINVAL);
    als_matrix_destroy(inf);
    als_matrix_destroy(nan);
    als_matrix_destroy(wrong);
    als_matrix_destroy(sm);
    vecidx_destroy(untrained);
    vecidx_destroy(l2);
    vecidx_destroy(ip);
    db_free(&db);
}

/* ---------------------------------------------------------------- users_of_items */

static void test_users_of_items(void **state) {
    (void)state;
    const int64_t nrows = 3000;
    int64_t *u = malloc((size_t)nrows * sizeof(int64_t)), *it = malloc((size_t)nrows * sizeof(int64_t));
    assert_non_null(u);
    assert_non_null(it);
    uint64_t s = 4242;
    for (int64_t i = 0; i < nrows; i++) {
        u[i] = (int64_t)(tu_next(&s) % 400) * 7 - 1000; /* some negative user ids */
        it[i] = (int64_t)(tu_next(&s) % 150) * 3 + 11;
    }
    als_ratings *r = NULL;
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, nrows, u, it, NULL));
    int64_t rows = als_ratings_rows(r);
    assert_int_equal(rows, nrows);
    int64_t *want = malloc((size_t)(nrows + 1) * sizeof(int64_t));
    int64_t *got = malloc((size_t)(nrows + 8) * sizeof(int64_t));
    assert_non_null(want);
    assert_non_null(got);
    for (int trial = 0; trial < 6; trial++) {
        /* a few items, some unknown (not multiples-of-3 + 11, or out of range), one repeated */
        int64_t ni = 1 + trial * 3;
        int64_t items[32];
        for (int64_t j = 0; j < ni; j++) items[j] = (int64_t)(tu_next(&s) % 150) * 3 + 11;
        items[ni] = 12;          /* unknown */
        items[ni + 1] = 9999999; /* unknown */
        items[ni + 2] = items[0];
        int64_t nitems = ni + 3;
        /* brute force over the rows as stored */
        int64_t nw = 0;
        for (int64_t t = 0; t < rows; t++) {
            int64_t uu, ii;
            assert_ok(als_ratings_get(r, t, &uu, &ii, NULL, NULL));
            if (!in_list(items, nitems, ii) || in_list(want, nw, uu)) continue;
            want[nw++] = uu;
        }
        for (int64_t i = 0; i < nrows + 8; i++) got[i] = 424242;
        int64_t c = als_ratings_users_of_items(r, nitems, items, got, nrows);
        assert_int_equal(c, nw);
        assert_memory_equal(got, want, (size_t)nw * sizeof(int64_t));
        assert_int_equal(got[nw], 424242);
        /* cap smaller than the count: the full count, cap ids filled, nothing past cap */
        if (nw > 2) {
            int64_t cap = nw / 2;
            for (int64_t i = 0; i < nrows + 8; i++) got[i] = 424242;
            assert_int_equal(als_ratings_users_of_items(r, nitems, items, got, cap), nw);
            assert_memory_equal(got, want, (size_t)cap * sizeof(int64_t));
            assert_int_equal(got[cap], 424242);
        }
        /* cap 0 with NULL: count only */
        assert_int_equal(als_ratings_users_of_items(r, nitems, items, NULL, 0), nw);
    }
    /* only unknown items, and no items at all */
    int64_t unk[] = {-5, 12, 13};
    assert_int_equal(als_ratings_users_of_items(r, 3, unk, got, 10), 0);
    assert_int_equal(als_ratings_users_of_items(r, 0, NULL, got, 10), 0);
    /* an empty ratings set */
    als_ratings *e = NULL;
    assert_ok(als_ratings_create(&e));
    assert_int_equal(als_ratings_users_of_items(e, 3, unk, got, 10), 0);
    als_ratings_destroy(e);
    /* errors */
    int64_t one[] = {11};
    assert_fails_with((int)als_ratings_users_of_items(NULL, 1, one, got, 10), ALS_EINVAL);
    assert_fails_with((int)als_ratings_users_of_items(r, 1, NULL, got, 10), ALS_EINVAL);
    assert_fails_with((int)als_ratings_users_of_items(r, 1, one, NULL, 10), ALS_EINVAL);
    assert_fails_with((int)als_ratings_users_of_items(r, -1, one, got, 10), ALS_ERANGE);
    assert_fails_with((int)als_ratings_users_of_items(r, 1, one, got, -1), ALS_ERANGE);
    als_ratings_destroy(r);
    free(want);
    free(got);
    free(u);
    free(it);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_grid),
        cmocka_unit_test(test_expand_small_exact),
        cmocka_unit_test(test_expand_no_seeds),
        cmocka_unit_test(test_expand_errors),
        cmocka_unit_test(test_users_of_items),
    };
    return cmocka_run_group_tests_name("expand", tests, NULL, NULL);
}
