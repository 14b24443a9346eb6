/* Small helpers shared by the benchmark programs (define BENCH_NAME before including). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "als.h"
#include "vecidx.h"

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* A library call failed: say which, with the library's message, and stop. */
static inline void fail(const char *what, int rc) {
    fprintf(stderr, "%s: %s failed: %s (%s)\n", BENCH_NAME, what, als_last_error(), als_strerror(rc));
    exit(1);
}

/* Option opt's value s as an integer in [lo, hi], or a message and exit 2. */
static inline int64_t parse_int_range(const char *opt, const char *s, int64_t lo, int64_t hi) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        if (hi == INT64_MAX)
            fprintf(stderr, "%s: %s wants an integer >= %lld, got '%s'\n", BENCH_NAME, opt,
                    (long long)lo, s);
        else
            fprintf(stderr, "%s: %s wants an integer in [%lld, %lld], got '%s'\n", BENCH_NAME,
                    opt, (long long)lo, (long long)hi, s);
        exit(2);
    }
    return (int64_t)v;
}

static inline int64_t parse_int(const char *opt, const char *s, int64_t lo) {
    return parse_int_range(opt, s, lo, INT64_MAX);
}

/* A comma-separated list of integers >= 1 (opt's value v, shorter than maxlen) into
 * out[0..max); returns how many. Too long a list or too many values go to usage(). */
static inline int parse_int_list(const char *opt, const char *v, int64_t *out, int max,
                                 size_t maxlen, void (*usage)(const char *)) {
    char buf[1024];
    if (maxlen > sizeof buf) maxlen = sizeof buf;
    if (strlen(v) >= maxlen) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s list too long", opt);
        usage(msg);
    }
    strcpy(buf, v);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) {
            char msg[64];
            snprintf(msg, sizeof msg, "too many %s values", opt);
            usage(msg);
        }
        out[n++] = parse_int(opt, tok, 1);
    }
    return n;
}

/* Our flat search against the exact mode of an IVF index over the same vectors, reps times
 * alternating, the best time of each into *flat_s and *exact_s; returns whether the last
 * results of the two were identical (ids and score bits). Buffers: nq x k each. */
static inline int flat_vs_exact(const vecidx *flat, const vecidx *ivf, const als_matrix *q, int64_t k,
                                const vecidx_params *exact, int64_t reps, float *s1, int64_t *i1,
                                float *s2, int64_t *i2, double *flat_s, double *exact_s) {
    int64_t nq = als_matrix_rows(q);
    int rc;
    double tf = 1e30, te = 1e30;
    for (int64_t rep = 0; rep < reps; rep++) {
        double t0 = now_s();
        if ((rc = vecidx_search(flat, q, k, s1, i1))) fail("flat search", rc);
        double a = now_s() - t0;
        t0 = now_s();
        if ((rc = vecidx_search_with(ivf, q, k, exact, s2, i2))) fail("exact search", rc);
        double b = now_s() - t0;
        if (a < tf) tf = a;
        if (b < te) te = b;
    }
    *flat_s = tf;
    *exact_s = te;
    return !memcmp(s1, s2, (size_t)(nq * k) * sizeof(float)) &&
           !memcmp(i1, i2, (size_t)(nq * k) * sizeof(int64_t));
}

/* A .npy file as a matrix, or a message and exit. */
static inline als_matrix *load(const char *path) {
    als_matrix *m = NULL;
    int rc = als_matrix_read_npy(&m, path);
    if (rc) {
        fprintf(stderr, "%s: als_matrix_read_npy(%s) failed: %s (%s)\n", BENCH_NAME, path,
                als_last_error(), als_strerror(rc));
        exit(1);
    }
    return m;
}

/* Mean over the queries of |got's k ids (row-major, k a row) that are among the first k
 * valid (>= 0) ids of the truth row (tcols a row)| / those valid ids; queries without a
 * valid truth id do not count (1.0 when none counts). */
static inline double recall_at_k(const int64_t *got, const int64_t *truth, int64_t nq, int64_t k,
                                 int64_t tcols) {
    double sum = 0.0;
    int64_t counted = 0;
    for (int64_t q = 0; q < nq; q++) {
        const int64_t *t = truth + q * tcols, *g = got + q * k;
        int64_t valid = 0, hit = 0;
        for (int64_t j = 0; j < k; j++) {
            if (t[j] < 0) continue;
            valid++;
            for (int64_t i = 0; i < k; i++)
                if (g[i] == t[j]) {
                    hit++;
                    break;
                }
        }
        if (valid) {
            sum += (double)hit / (double)valid;
            counted++;
        }
    }
    return counted ? sum / (double)counted : 1.0;
}

#endif
