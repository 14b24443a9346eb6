/* Run identities: a random 64-bit tag drawn when a model is trained. Every file made from
 * one training run (model, id dictionaries, indexes of its factors, a program's own side
 * files) carries it, so that a set of files from two runs is caught on load instead of
 * being read as if it belonged together. 0 means "no identity" (files written before 1.1).
 * The tag is drawn from the kernel's generator; if that fails (no /dev/urandom in a
 * sandbox), from the clock, the process id and a counter, mixed: still unique in practice,
 * since it only has to differ between runs. */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "als/als_internal.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t als__new_run_id(void) {
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
        close(fd);
    }
    if (v == 0) {
        static _Atomic uint64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t c = ++counter;
        v = mix64((uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
                  ((uint64_t)getpid() << 32) ^ mix64(c + (uint64_t)(uintptr_t)&counter));
    }
    return v ? v : 1; /* 0 is reserved for "none" */
}
