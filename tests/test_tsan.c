/* Concurrency (issue 11 item 4): what docs/threading.md promises, from 8 pthreads at once.
 *
 *  - one flat and one IVF index, not modified: search, filtered search, search with per-call
 *    parameters (one shared vecidx_params), expand, save (each thread to its own path, and
 *    all threads to one shared path), load; every result equals the serial one, byte for
 *    byte, and the shared path ends as a complete, loadable copy;
 *  - one ratings set shared by 8 fits of separate models (seeds 1..8): each equals the
 *    serial fit with its seed; one fitted model shared by recommend / predict / fold-in /
 *    eval_ranking from 8 threads;
 *  - errors are thread-local: each thread's failing call leaves its own message.
 *
 * Every handle runs with 1 library thread (VECIDX_PARAM_NUM_THREADS, numThreads), so the
 * concurrency is the pthreads' own: `make tsan` builds this file and both libraries with
 * -fsanitize=thread, and libgomp, which is not instrumented, then never starts a thread.
 * In ordinary builds (make check, make sanitize) a second round gives every handle 2
 * OpenMP threads, so each pthread also runs its own OpenMP team. */
#include <pthread.h>

#include "testutil.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#define NT 8
static int ITERS = 6; /* 2 under valgrind, which runs one thread at a time */
#define N 3000
#define D 32
#define NQ 48
#define K 10
#define NEXC 40
#define NOUT 60

static float *X, *QD;
static int64_t IDS[N], EXC[NEXC];
static als_matrix *Q;
static vecidx *FLAT, *IVF;
static vecidx_filter *FILT;
static vecidx_params *PAR;
static char DIR_[256];

typedef struct {
    float sc[NQ * K];
    int64_t id[NQ * K];
} res;
static res R_FLAT, R_FLAT_F, R_IVF, R_IVF_F, R_WITH;
static int64_t R_EXP_ID[NOUT];
static float R_EXP_SC[NOUT];
static int64_t R_EXP_N;
static unsigned char *R_FILE_FLAT, *R_FILE_IVF;
static long R_FILE_FLAT_N, R_FILE_IVF_N;

static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return *n = -1, NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*n + 1);
    if (fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -2;
    fclose(f);
    return b;
}

static int same_file(const char *path, const unsigned char *ref, long ref_n) {
    long n;
    unsigned char *b = slurp(path, &n);
    int ok = b && n == ref_n && memcmp(b, ref, (size_t)n) == 0;
    free(b);
    return ok;
}

static int same_res(const res *a, const res *b) {
    return memcmp(a->sc, b->sc, sizeof a->sc) == 0 && memcmp(a->id, b->id, sizeof a->id) == 0;
}

static void set_threads(int nt) {
    assert_ok(vecidx_set_int(FLAT, VECIDX_PARAM_NUM_THREADS, nt));
    assert_ok(vecidx_set_int(IVF, VECIDX_PARAM_NUM_THREADS, nt));
    assert_ok(vecidx_params_set_int(PAR, VECIDX_PARAM_NUM_THREADS, nt));
}

static int setup_index(void **state) {
    (void)state;
    uint64_t s = 5;
    X = malloc((size_t)N * D * sizeof *X);
    QD = malloc((size_t)NQ * D * sizeof *QD);
    for (int i = 0; i < N * D; i++) X[i] = (float)tu_normal(&s);
    for (int i = 0; i < NQ * D; i++) QD[i] = (float)tu_normal(&s);
    for (int i = 0; i < N; i++) IDS[i] = 10 * i + 3;
    for (int i = 0; i < NEXC; i++) EXC[i] = IDS[i * 37 % N];
    als_matrix *x;
    assert_ok(als_matrix_wrap(&x, X, N, D, D));
    assert_ok(als_matrix_wrap(&Q, QD, NQ, D, D));
    assert_ok(vecidx_flat_create(&FLAT, D, VECIDX_METRIC_IP));
    assert_ok(vecidx_ivf_create(&IVF, D, VECIDX_METRIC_L2, 16));
    assert_ok(vecidx_set_int(IVF, VECIDX_PARAM_NUM_THREADS, 1));
    assert_ok(vecidx_set_int(FLAT, VECIDX_PARAM_NUM_THREADS, 1));
    assert_ok(vecidx_set_int(IVF, VECIDX_PARAM_NPROBE, 4));
    assert_ok(vecidx_add(FLAT, x, IDS));
    assert_ok(vecidx_train(IVF, x));
    assert_ok(vecidx_add(IVF, x, IDS));
    assert_ok(vecidx_filter_create(&FILT, EXC, NEXC, VECIDX_FILTER_EXCLUDE));
    assert_ok(vecidx_params_create(&PAR));
    assert_ok(vecidx_params_set_int(PAR, VECIDX_PARAM_EXACT, 1));
    assert_ok(vecidx_params_set_filter(PAR, FILT));
    als_matrix_destroy(x);
    const char *tmp = getenv("TMPDIR");
    snprintf(DIR_, sizeof DIR_, "%s/alstsan-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(DIR_));
    /* serial reference */
    char p[300];
    assert_ok(vecidx_search(FLAT, Q, K, R_FLAT.sc, R_FLAT.id));
    assert_ok(vecidx_search_filtered(FLAT, Q, K, FILT, R_FLAT_F.sc, R_FLAT_F.id));
    assert_ok(vecidx_search(IVF, Q, K, R_IVF.sc, R_IVF.id));
    assert_ok(vecidx_search_filtered(IVF, Q, K, FILT, R_IVF_F.sc, R_IVF_F.id));
    assert_ok(vecidx_search_with(IVF, Q, K, PAR, R_WITH.sc, R_WITH.id));
    assert_ok(vecidx_expand(FLAT, Q, K, VECIDX_AGG_SUM, FILT, NOUT, R_EXP_ID, R_EXP_SC, &R_EXP_N));
    snprintf(p, sizeof p, "%s/ref-flat.vx", DIR_);
    assert_ok(vecidx_save(FLAT, p));
    R_FILE_FLAT = slurp(p, &R_FILE_FLAT_N);
    snprintf(p, sizeof p, "%s/ref-ivf.vx", DIR_);
    assert_ok(vecidx_save(IVF, p));
    R_FILE_IVF = slurp(p, &R_FILE_IVF_N);
    assert_true(R_FILE_FLAT_N > 0 && R_FILE_IVF_N > 0);
    return 0;
}

static void rm_tree(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static int teardown_index(void **state) {
    (void)state;
    vecidx_params_destroy(PAR);
    vecidx_filter_destroy(FILT);
    vecidx_destroy(FLAT);
    vecidx_destroy(IVF);
    als_matrix_destroy(Q);
    free(X);
    free(QD);
    free(R_FILE_FLAT);
    free(R_FILE_IVF);
    rm_tree(DIR_);
    return 0;
}

static pthread_barrier_t START; /* every thread starts at once */

typedef struct {
    int t;
    int bad;          /* mismatches */
    char first[200];  /* what the first mismatch was */
} job;

static void mismatch(job *j, const char *what) {
    if (!j->bad++) snprintf(j->first, sizeof j->first, "thread %d: %s", j->t, what);
}

static void *index_worker(void *arg) {
    job *j = arg;
    res r;
    int64_t eid[NOUT], en = -1;
    float esc[NOUT];
    char own[300], shared[300];
    pthread_barrier_wait(&START);
    snprintf(own, sizeof own, "%s/t%d.vx", DIR_, j->t);
    snprintf(shared, sizeof shared, "%s/shared.vx", DIR_);
    for (int it = 0; it < ITERS; it++) {
        /* rotate the order so that different calls overlap */
        for (int step = 0; step < 8; step++) {
            switch ((step + j->t + it) % 8) {
            case 0:
                if (vecidx_search(FLAT, Q, K, r.sc, r.id) || !same_res(&r, &R_FLAT)) mismatch(j, "flat search");
                break;
            case 1:
                if (vecidx_search_filtered(FLAT, Q, K, FILT, r.sc, r.id) || !same_res(&r, &R_FLAT_F))
                    mismatch(j, "flat filtered search");
                break;
            case 2:
                if (vecidx_search(IVF, Q, K, r.sc, r.id) || !same_res(&r, &R_IVF)) mismatch(j, "ivf search");
                break;
            case 3:
                if (vecidx_search_filtered(IVF, Q, K, FILT, r.sc, r.id) || !same_res(&r, &R_IVF_F))
                    mismatch(j, "ivf filtered search");
                break;
            case 4:
                if (vecidx_search_with(IVF, Q, K, PAR, r.sc, r.id) || !same_res(&r, &R_WITH))
                    mismatch(j, "ivf search_with (exact, shared params)");
                break;
            case 5:
                if (vecidx_expand(FLAT, Q, K, VECIDX_AGG_SUM, FILT, NOUT, eid, esc, &en) || en != R_EXP_N ||
                    memcmp(eid, R_EXP_ID, sizeof eid) != 0 || memcmp(esc, R_EXP_SC, sizeof esc) != 0)
                    mismatch(j, "expand");
                break;
            case 6:
                if (vecidx_save(j->t % 2 ? IVF : FLAT, own) ||
                    !same_file(own, j->t % 2 ? R_FILE_IVF : R_FILE_FLAT, j->t % 2 ? R_FILE_IVF_N : R_FILE_FLAT_N))
                    mismatch(j, "save to its own path");
                {
                    vecidx *l = NULL;
                    if (vecidx_load(&l, own) || vecidx_set_int(l, VECIDX_PARAM_NUM_THREADS, 1) ||
                        vecidx_search(l, Q, K, r.sc, r.id) || !same_res(&r, j->t % 2 ? &R_IVF : &R_FLAT))
                        mismatch(j, "load + search");
                    vecidx_destroy(l);
                }
                break;
            case 7:
                if (vecidx_save(FLAT, shared)) mismatch(j, "save to the shared path");
                break;
            }
        }
        /* thread-local errors: this thread's message, whatever the others do */
        char want[64];
        snprintf(want, sizeof want, "k = -%d", j->t + 1);
        if (vecidx_search(FLAT, Q, -(j->t + 1), r.sc, r.id) != ALS_ERANGE || !strstr(als_last_error(), want))
            mismatch(j, "thread-local error message");
    }
    return NULL;
}

static void run_jobs(void *(*fn)(void *)) {
    pthread_t th[NT];
    job jobs[NT];
    memset(jobs, 0, sizeof jobs);
    assert_int_equal(pthread_barrier_init(&START, NULL, NT), 0);
    for (int t = 0; t < NT; t++) {
        jobs[t].t = t;
        assert_int_equal(pthread_create(&th[t], NULL, fn, &jobs[t]), 0);
    }
    int bad = 0;
    for (int t = 0; t < NT; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        if (jobs[t].bad) print_error("%s (%d mismatches)\n", jobs[t].first, jobs[t].bad);
        bad += jobs[t].bad;
    }
    pthread_barrier_destroy(&START);
    assert_int_equal(bad, 0);
}

static void check_shared_file(void) {
    char p[300];
    snprintf(p, sizeof p, "%s/shared.vx", DIR_);
    assert_true(same_file(p, R_FILE_FLAT, R_FILE_FLAT_N));
    /* and no temporary file of any thread is left */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", DIR_);
    assert_int_not_equal(system(cmd), 0);
}

static void test_index_concurrent(void **state) {
    (void)state;
    set_threads(1);
    run_jobs(index_worker);
    check_shared_file();
}

/* Each pthread's calls run their own OpenMP team of 2 (not under TSan: libgomp's own
 * synchronization is invisible to it). */
static void test_index_concurrent_omp(void **state) {
    (void)state;
    if (UNDER_TSAN) {
        printf("skipped under ThreadSanitizer (libgomp is not instrumented)\n");
        return;
    }
    set_threads(2);
    run_jobs(index_worker);
    check_shared_file();
    set_threads(1);
}

/* ------------------------------------------------------------------ ALS */

#define NU 300
#define NI 150
#define NRAT 3000
static als_ratings *RATS;
static als_model *SHARED;
static float *R_U[NT], *R_V[NT];
static int64_t R_REC[NU][8];
static float R_REC_SC[NU][8], R_FOLD[8], R_PRED[NU];
static double R_MET[ALS_METRIC_COUNT];
static int g_model_threads = 1;

static als_model *fit_seed(int seed, int nt) {
    als_model *m;
    char v[16];
    if (als_model_create(&m)) return NULL;
    snprintf(v, sizeof v, "%d", seed);
    if (als_set_param(m, "implicitPrefs", "true") || als_set_param(m, "rank", "8") ||
        als_set_param(m, "maxIter", "3") || als_set_param(m, "seed", v) ||
        als_set_int(m, ALS_PARAM_NUM_THREADS, nt) || als_model_fit(m, RATS)) {
        als_model_destroy(m);
        return NULL;
    }
    return m;
}

static float *copy_factors(const als_matrix *f) {
    size_t n = (size_t)(als_matrix_rows(f) * als_matrix_cols(f));
    float *c = malloc(n * sizeof *c);
    memcpy(c, als_matrix_data_const(f), n * sizeof *c);
    return c;
}

static int same_factors(const als_matrix *f, const float *ref) {
    size_t n = (size_t)(als_matrix_rows(f) * als_matrix_cols(f));
    return memcmp(als_matrix_data_const(f), ref, n * sizeof *ref) == 0;
}

static const int64_t FOLD_ITEMS[4] = {1, 5, 9, 200};

static void shared_model_calls(int64_t u, int64_t *rec, float *rsc, float *pred, float *fold, double *met) {
    int64_t users[1] = {u}, items[1] = {u % NI};
    assert_ok(als_model_recommend(SHARED, u, 8, RATS, rec, rsc));
    assert_ok(als_model_predict(SHARED, 1, users, items, pred));
    if (fold) assert_true(als_model_fold_in(SHARED, 4, FOLD_ITEMS, NULL, fold) == 1);
    if (met) assert_ok(als_eval_ranking(SHARED, RATS, RATS, 5, met, ALS_METRIC_COUNT));
}

static int setup_als(void **state) {
    (void)state;
    uint64_t s = 77;
    int64_t *u = malloc(NRAT * sizeof *u), *it = malloc(NRAT * sizeof *it);
    float *v = malloc(NRAT * sizeof *v);
    for (int t = 0; t < NRAT; t++) {
        u[t] = (int64_t)(tu_next(&s) % NU);
        it[t] = (int64_t)(tu_next(&s) % NI);
        v[t] = 1.0f + (float)(tu_next(&s) % 4);
    }
    for (int t = 0; t < NU; t++) u[t] = t; /* every user has a row */
    assert_ok(als_ratings_create(&RATS));
    assert_ok(als_ratings_add(RATS, NRAT, u, it, v));
    free(u);
    free(it);
    free(v);
    for (int t = 0; t < NT; t++) {
        als_model *m = fit_seed(t + 1, 1);
        assert_non_null(m);
        R_U[t] = copy_factors(als_model_user_factors(m));
        R_V[t] = copy_factors(als_model_item_factors(m));
        als_model_destroy(m);
    }
    SHARED = fit_seed(42, 1);
    assert_non_null(SHARED);
    for (int64_t uu = 0; uu < NU; uu++)
        shared_model_calls(uu, R_REC[uu], R_REC_SC[uu], &R_PRED[uu], uu ? NULL : R_FOLD, uu ? NULL : R_MET);
    return 0;
}

static int teardown_als(void **state) {
    (void)state;
    for (int t = 0; t < NT; t++) free(R_U[t]), free(R_V[t]);
    als_model_destroy(SHARED);
    als_ratings_destroy(RATS);
    return 0;
}

static void *fit_worker(void *arg) {
    job *j = arg;
    pthread_barrier_wait(&START);
    als_model *m = fit_seed(j->t + 1, g_model_threads);
    if (!m) {
        mismatch(j, "fit failed");
        return NULL;
    }
    if (!same_factors(als_model_user_factors(m), R_U[j->t]) || !same_factors(als_model_item_factors(m), R_V[j->t]))
        mismatch(j, "factors differ from the serial fit with the same seed");
    als_model_destroy(m);
    /* read-only calls on the shared model, every user, starting at different ones */
    for (int64_t k = 0; k < NU; k++) {
        int64_t uu = (k + 37 * j->t) % NU, rec[8], users[1] = {uu}, items[1] = {uu % NI};
        float rsc[8], pred, fold[8];
        if (als_model_recommend(SHARED, uu, 8, RATS, rec, rsc) || memcmp(rec, R_REC[uu], sizeof rec) ||
            memcmp(rsc, R_REC_SC[uu], sizeof rsc))
            mismatch(j, "recommend");
        if (als_model_predict(SHARED, 1, users, items, &pred) || memcmp(&pred, &R_PRED[uu], sizeof pred))
            mismatch(j, "predict");
        if (k % 50 == 0) {
            if (als_model_fold_in(SHARED, 4, FOLD_ITEMS, NULL, fold) != 1 || memcmp(fold, R_FOLD, sizeof R_FOLD))
                mismatch(j, "fold-in");
            if (als_ratings_num_users(RATS) != NU) mismatch(j, "ratings read");
        }
    }
    double met[ALS_METRIC_COUNT];
    if (als_eval_ranking(SHARED, RATS, RATS, 5, met, ALS_METRIC_COUNT) || memcmp(met, R_MET, sizeof met))
        mismatch(j, "eval_ranking");
    return NULL;
}

static void test_fits_concurrent(void **state) {
    (void)state;
    g_model_threads = 1;
    run_jobs(fit_worker);
}

static void test_fits_concurrent_omp(void **state) {
    (void)state;
    if (UNDER_TSAN) {
        printf("skipped under ThreadSanitizer (libgomp is not instrumented)\n");
        return;
    }
    g_model_threads = 2; /* ALS promises equal results for every thread count on one CPU */
    run_jobs(fit_worker);
    g_model_threads = 1;
}

static int running_under_valgrind(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int v = 0;
    while (f && !v && fgets(line, sizeof line, f)) v = strstr(line, "vgpreload") != NULL;
    if (f) fclose(f);
    return v;
}

int main(void) {
    if (running_under_valgrind()) ITERS = 2;
    const struct CMUnitTest index_tests[] = {
        cmocka_unit_test(test_index_concurrent),
        cmocka_unit_test(test_index_concurrent_omp),
    };
    const struct CMUnitTest als_tests[] = {
        cmocka_unit_test(test_fits_concurrent),
        cmocka_unit_test(test_fits_concurrent_omp),
    };
    int rc = cmocka_run_group_tests_name("concurrency: one index, 8 threads", index_tests, setup_index,
                                         teardown_index);
    rc |= cmocka_run_group_tests_name("concurrency: ALS, 8 threads", als_tests, setup_als, teardown_als);
    return rc;
}
