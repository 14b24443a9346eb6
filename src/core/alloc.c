/* 64-byte aligned allocation with overflow checks (hidden, in both libraries). */
#include <stdlib.h>

#include "core/internal.h"

void *als__aalloc(size_t n, size_t size) {
    size_t bytes;
    if (als__mul(n, size, &bytes)) return NULL;
    if (bytes == 0) bytes = 64;
    /* aligned_alloc wants a multiple of the alignment. */
    if (bytes > SIZE_MAX - 63) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

void als__afree(void *p) { free(p); }
