/* Small helpers shared by the benchmark programs (define BENCH_NAME before including). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "als.h"

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
