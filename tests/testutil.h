/* Shared helpers for the cmocka suites: includes in cmocka's required order, a float
 * comparison with tolerance, a deterministic RNG and temporary file names. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "als.h"
#include "vecidx.h"

/* cmocka 1.1.5 has no assert_double_equal: compare with an absolute+relative tolerance. */
#define assert_close(a, b, tol)                                                          \
    do {                                                                                 \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                   \
        if (!(fabs(a_ - b_) <= t_ * (1.0 + fabs(b_)))) {                                 \
            print_error("%s = %.9g, %s = %.9g, tolerance %.3g\n", #a, a_, #b, b_, t_);  \
            fail();                                                                      \
        }                                                                                \
    } while (0)

/* A failing call must leave a non-empty thread-local message. */
#define assert_fails_with(expr, code)                                                    \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        if (rc_ != (code)) {                                                             \
            print_error("%s returned %d (%s), expected %d; last error: %s\n", #expr,     \
                        rc_, als_strerror(rc_), (code), als_last_error());               \
            fail();                                                                      \
        }                                                                                \
        assert_true(als_last_error()[0] != '\0');                                        \
    } while (0)

#define assert_ok(expr)                                                                  \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        if (rc_ != ALS_OK) {                                                             \
            print_error("%s failed: %d (%s): %s\n", #expr, rc_, als_strerror(rc_),       \
                        als_last_error());                                               \
            fail();                                                                      \
        }                                                                                \
    } while (0)

/* splitmix64: small, deterministic, independent of the library's own RNG. */
static inline uint64_t tu_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double tu_uniform(uint64_t *s) { return (double)(tu_next(s) >> 11) * 0x1.0p-53; }
static inline double tu_normal(uint64_t *s) {
    double u1 = tu_uniform(s), u2 = tu_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A fresh temporary file name (the file is created empty, then removed). */
static inline void tu_tmpname(char *buf, size_t n, const char *suffix) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, n, "%s/alstest-XXXXXX", dir);
    int fd = mkstemp(buf);
    if (fd >= 0) { close(fd); unlink(buf); }
    if (suffix) strncat(buf, suffix, n - strlen(buf) - 1);
}

#endif
