/* 64-byte aligned allocation with overflow checks (hidden, in both libraries). Large
 * buffers (factors, CSR arrays, index panels) are 2 MiB aligned and marked for
 * transparent huge pages: they are read at random (factor gathers, IVF lists), where 4 KiB
 * pages cost a TLB miss per access, and first-touch page faults are 512x fewer. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* Caller arrays of rows x k cells of `cell` bytes each must fit in this machine's memory:
 * a k that no buffer could back (2^40, INT64_MAX) is an error before anything is written,
 * not a crash half-way through writing. */
int als__out_fits(int64_t rows, int64_t k, size_t cell, const char *fn, const char *what) {
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    uint64_t limit = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : (uint64_t)1 << 47;
    uint64_t bytes;
    if (rows < 0 || k < 0 || __builtin_mul_overflow((uint64_t)rows, (uint64_t)k, &bytes) ||
        __builtin_mul_overflow(bytes, (uint64_t)cell, &bytes) || bytes > limit || bytes > PTRDIFF_MAX)
        return als__errf(ALS_ERANGE, "%s: %s = %lld for %lld row(s) needs output arrays larger than "
                         "this machine's memory (%llu MiB)", fn, what, (long long)k, (long long)rows,
                         (unsigned long long)(limit >> 20));
    return ALS_OK;
}
