/* 64-byte aligned allocation with overflow checks (hidden, in both libraries). Large
 * buffers (factors, CSR arrays, index panels) are 2 MiB aligned and marked for
 * transparent huge pages: they are read at random (factor gathers, IVF lists), where 4 KiB
 * pages cost a TLB miss per access, and first-touch page faults are 512x fewer. */
#include <stdlib.h>
#include <sys/mman.h>

#include "core/internal.h"

#define HUGE_MIN (4u << 20)
#define HUGE_ALIGN (2u << 20)

void *als__aalloc(size_t n, size_t size) {
    size_t bytes;
    if (als__mul(n, size, &bytes)) return NULL;
    if (bytes == 0) bytes = 64;
    size_t align = bytes >= HUGE_MIN ? HUGE_ALIGN : 64;
    /* aligned_alloc wants a multiple of the alignment. */
    if (bytes > SIZE_MAX - align) return NULL;
    bytes = (bytes + align - 1) & ~(align - 1);
    void *p = aligned_alloc(align, bytes);
#ifdef MADV_HUGEPAGE
    if (p && align == HUGE_ALIGN) madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is fine */
#endif
    return p;
}

void als__afree(void *p) { free(p); }
