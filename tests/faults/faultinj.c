/* libfaultinj.so: counting, failing and tracking wrappers for the allocations of the
 * fault-injection build of libals/libvecidx (see inject.h and faultinj.h).
 *
 * Each wrapper counts one attempt; attempt N (and, in persistent mode, every later one)
 * fails as the real function would under memory exhaustion: NULL / -1 with errno ENOMEM,
 * posix_memalign's ENOMEM return. Successful allocations enter a live set (a pointer hash
 * set), so the driver sees a leak in the plain build too; under ASan the real calls go to
 * ASan's allocator and LeakSanitizer checks the same at exit.
 *
 * getline is emulated on getc_unlocked with glibc's growth policy (120 bytes, then
 * doubling) so that its allocations can fail one by one. As in glibc 2.36 (Debian 12), a
 * failed allocation returns -1 with errno ENOMEM and does not set the stream's error
 * indicator (glibc sets it from 2.37 on, BZ #29917). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultinj.h"

#define API __attribute__((visibility("default")))

static atomic_long g_count, g_fail_at, g_fired, g_fired_at;
static atomic_int g_persistent, g_record;
static fi_site g_fired_site;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static fi_site *g_sites;
static long g_nsites, g_capsites;

/* ---------------------------------------------------------------- live set */

/* Pointers are stored masked: a table holding them plainly would make every leaked block
 * reachable, and LeakSanitizer would no longer report it. */
#define MASK ((uintptr_t)0xA5A5A5A5A5A5A5A5ull)
#define TOMB ((uintptr_t)1)
static uintptr_t *g_tab;
static size_t g_cap, g_used, g_live; /* used = live + tombstones */

static size_t slot_of(uintptr_t k, size_t cap) {
    uint64_t z = (uint64_t)k;
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
    z ^= z >> 33;
    return (size_t)z & (cap - 1);
}

static void tab_grow(void) {
    size_t cap = g_cap ? g_cap * 2 : 4096;
    while (g_live * 4 >= cap) cap *= 2;
    uintptr_t *t = calloc(cap, sizeof *t);
    if (!t) abort(); /* the test harness itself cannot go on */
    for (size_t i = 0; i < g_cap; i++) {
        uintptr_t k = g_tab[i];
        if (!k || k == TOMB) continue;
        size_t h = slot_of(k, cap);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = k;
    }
    free(g_tab);
    g_tab = t;
    g_cap = cap;
    g_used = g_live;
}

static void live_add(void *p) {
    if (!p) return;
    uintptr_t k = (uintptr_t)p ^ MASK;
    pthread_mutex_lock(&g_mu);
    if ((g_used + 1) * 2 > g_cap) tab_grow();
    size_t h = slot_of(k, g_cap);
    while (g_tab[h] && g_tab[h] != TOMB) h = (h + 1) & (g_cap - 1);
    if (!g_tab[h]) g_used++;
    g_tab[h] = k;
    g_live++;
    pthread_mutex_unlock(&g_mu);
}

/* 1 if p was live (and is now removed). */
static int live_del(void *p) {
    if (!p) return 0;
    uintptr_t k = (uintptr_t)p ^ MASK;
    int found = 0;
    pthread_mutex_lock(&g_mu);
    if (g_cap) {
        for (size_t h = slot_of(k, g_cap); g_tab[h]; h = (h + 1) & (g_cap - 1)) {
            if (g_tab[h] == k) {
                g_tab[h] = TOMB;
                g_live--;
                found = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&g_mu);
    return found;
}

/* ---------------------------------------------------------------- sites */

static void *g_self_base;

/* The two innermost return addresses outside this library. */
static __attribute__((noinline)) void capture(fi_site *s, int cls) {
    void *bt[12];
    int n = backtrace(bt, 12), k = 0;
    s->cls = cls;
    s->f1 = s->f2 = NULL;
    for (int i = 0; i < n && k < 2; i++) {
        Dl_info di;
        /* skip this library and a sanitizer runtime's backtrace interceptor */
        if (dladdr(bt[i], &di) && (di.dli_fbase == g_self_base ||
                                   (di.dli_fname && strstr(di.dli_fname, "san.so"))))
            continue;
        if (k++ == 0) s->f1 = bt[i];
        else s->f2 = bt[i];
    }
}

static void record_site(long n, int cls) {
    fi_site s;
    capture(&s, cls);
    pthread_mutex_lock(&g_mu);
    if (n > g_capsites) {
        long cap = g_capsites ? g_capsites * 2 : 1024;
        while (cap < n) cap *= 2;
        fi_site *t = realloc(g_sites, (size_t)cap * sizeof *t);
        if (!t) abort();
        memset(t + g_capsites, 0, (size_t)(cap - g_capsites) * sizeof *t);
        g_sites = t;
        g_capsites = cap;
    }
    g_sites[n - 1] = s;
    if (n > g_nsites) g_nsites = n;
    pthread_mutex_unlock(&g_mu);
}

/* One attempt of class cls: 1 if it must fail. */
static int attempt(int cls) {
    long n = atomic_fetch_add(&g_count, 1) + 1;
    if (atomic_load(&g_record)) record_site(n, cls);
    long at = atomic_load(&g_fail_at);
    if (at <= 0 || n < at || (n > at && !atomic_load(&g_persistent))) return 0;
    if (atomic_fetch_add(&g_fired, 1) == 0) {
        capture(&g_fired_site, cls);
        atomic_store(&g_fired_at, n);
    }
    return 1;
}

/* ---------------------------------------------------------------- wrappers */

API void *als_fi_malloc(size_t size) {
    if (attempt(FI_HEAP)) return errno = ENOMEM, NULL;
    void *p = malloc(size);
    live_add(p);
    return p;
}

API void *als_fi_calloc(size_t n, size_t size) {
    if (attempt(FI_HEAP)) return errno = ENOMEM, NULL;
    void *p = calloc(n, size);
    live_add(p);
    return p;
}

API void *als_fi_realloc(void *p, size_t size) {
    if (attempt(FI_HEAP)) return errno = ENOMEM, NULL; /* p stays valid, as on a real failure */
    int was = live_del(p);
    void *q = realloc(p, size);
    if (q) live_add(q);
    else if (was) live_add(p);
    return q;
}

API void *als_fi_aligned_alloc(size_t align, size_t size) {
    if (attempt(FI_HEAP)) return errno = ENOMEM, NULL;
    void *p = aligned_alloc(align, size);
    live_add(p);
    return p;
}

API int als_fi_posix_memalign(void **out, size_t align, size_t size) {
    if (attempt(FI_HEAP)) return ENOMEM;
    int rc = posix_memalign(out, align, size);
    if (rc == 0) live_add(*out);
    return rc;
}

API char *als_fi_strdup(const char *s) {
    if (attempt(FI_HEAP)) return errno = ENOMEM, NULL;
    char *d = strdup(s);
    live_add(d);
    return d;
}

API void als_fi_free(void *p) {
    live_del(p);
    free(p);
}

API FILE *als_fi_fopen(const char *path, const char *mode) {
    if (attempt(FI_FILE)) return errno = ENOMEM, NULL;
    return fopen(path, mode);
}

API FILE *als_fi_fdopen(int fd, const char *mode) {
    if (attempt(FI_FILE)) return errno = ENOMEM, NULL;
    return fdopen(fd, mode);
}

API long als_fi_getline(char **line, size_t *cap, FILE *f) {
    if (!line || !cap || !f) return errno = EINVAL, -1;
    if (!*line || *cap == 0) {
        if (attempt(FI_LINE)) return errno = ENOMEM, -1;
        char *b = malloc(120);
        if (!b) return errno = ENOMEM, -1;
        live_del(*line); /* glibc overwrites a non-NULL pointer given with size 0 */
        live_add(b);
        *line = b;
        *cap = 120;
    }
    size_t len = 0;
    long rc = 0;
    flockfile(f);
    for (;;) {
        int c = getc_unlocked(f);
        if (c == EOF) break;
        if (len + 2 > *cap) {
            size_t nc = *cap * 2;
            char *nb = NULL;
            if (!attempt(FI_LINE)) {
                int was = live_del(*line);
                nb = realloc(*line, nc);
                if (nb) live_add(nb);
                else if (was) live_add(*line);
            }
            if (!nb) {
                rc = -1;
                errno = ENOMEM;
                break;
            }
            *line = nb;
            *cap = nc;
        }
        (*line)[len++] = (char)c;
        if (c == '\n') break;
    }
    funlockfile(f);
    if (rc < 0) return -1;
    if (len == 0) return -1; /* end of file, or a read error (ferror is set then) */
    (*line)[len] = '\0';
    return (long)len;
}

/* ---------------------------------------------------------------- control */

__attribute__((constructor)) static void fi_init(void) {
    Dl_info di;
    if (dladdr((void *)&fi_init, &di)) g_self_base = di.dli_fbase;
    void *bt[2];
    backtrace(bt, 2); /* loads libgcc_s now, not inside the first counted attempt */
}

API void fi_reset(void) {
    atomic_store(&g_fail_at, 0);
    atomic_store(&g_persistent, 0);
    atomic_store(&g_record, 0);
    atomic_store(&g_count, 0);
    atomic_store(&g_fired, 0);
    atomic_store(&g_fired_at, 0);
    memset(&g_fired_site, 0, sizeof g_fired_site);
    pthread_mutex_lock(&g_mu);
    g_nsites = 0;
    pthread_mutex_unlock(&g_mu);
}

API void fi_arm(long n, int persistent) {
    atomic_store(&g_persistent, persistent);
    atomic_store(&g_fail_at, n);
}
API void fi_disarm(void) { atomic_store(&g_fail_at, 0); }
API long fi_count(void) { return atomic_load(&g_count); }
API long fi_fired(void) { return atomic_load(&g_fired); }
API long fi_fired_at(void) { return atomic_load(&g_fired_at); }
API fi_site fi_fired_site(void) { return g_fired_site; }
API void fi_record(int on) { atomic_store(&g_record, on); }

API long fi_recorded(void) {
    pthread_mutex_lock(&g_mu);
    long n = g_nsites;
    pthread_mutex_unlock(&g_mu);
    return n;
}

API fi_site fi_recorded_site(long i) {
    fi_site s = {0, NULL, NULL};
    pthread_mutex_lock(&g_mu);
    if (i >= 1 && i <= g_nsites) s = g_sites[i - 1];
    pthread_mutex_unlock(&g_mu);
    return s;
}

API long fi_live(void) {
    pthread_mutex_lock(&g_mu);
    long n = (long)g_live;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void addr_str(void *a, char *buf, size_t cap) {
    Dl_info di;
    if (a && dladdr(a, &di) && di.dli_fname) {
        const char *base = strrchr(di.dli_fname, '/');
        /* a return address: the call instruction is just before it */
        snprintf(buf, cap, "%s+0x%lx", base ? base + 1 : di.dli_fname,
                 (unsigned long)((char *)a - (char *)di.dli_fbase - 1));
    } else {
        snprintf(buf, cap, "%p", a);
    }
}

API const char *fi_site_str(fi_site s, char *buf, size_t cap) {
    char a[160], b[160];
    addr_str(s.f1, a, sizeof a);
    addr_str(s.f2, b, sizeof b);
    snprintf(buf, cap, "%s <- %s", a, b);
    return buf;
}

API const char *fi_class_name(int cls) {
    return cls == FI_HEAP ? "heap" : cls == FI_FILE ? "fopen/fdopen" : cls == FI_LINE ? "getline" : "?";
}
