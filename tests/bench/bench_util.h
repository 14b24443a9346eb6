/* Small helpers shared by the benchmark programs (define BENCH_NAME before including). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

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

#endif
