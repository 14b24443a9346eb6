/* libfaultinj: the counting allocator behind tests/faults/inject.h, and the control API the
 * sweep driver (tests/faults/fault_sweep.c) uses. Only code compiled with inject.h (the
 * fault-injection copy of libals/libvecidx) calls the als_fi_* wrappers, so every attempt
 * counted here is an allocation made by the library itself. */
#ifndef ALS_FAULTS_FAULTINJ_H
#define ALS_FAULTS_FAULTINJ_H

#include <stddef.h>

/* Classes of failure points. */
#define FI_HEAP 0 /* malloc, calloc, realloc, aligned_alloc, posix_memalign, strdup */
#define FI_FILE 1 /* fopen, fdopen: the FILE allocation */
#define FI_LINE 2 /* getline: the line buffer (first allocation or growth) */

typedef struct {
    int cls;
    void *f1, *f2; /* the two innermost return addresses inside the libraries */
} fi_site;

/* Counters to zero, disarmed, recording off. The live set is kept. */
void fi_reset(void);
/* Fail attempt n (1-based, counted from the last reset); persistent: also every later one. */
void fi_arm(long n, int persistent);
void fi_disarm(void);
/* Attempts made since the last reset, injected failures since the last reset, and the
 * attempt number and site of the first injected failure (0 / zero site if none). */
long fi_count(void);
long fi_fired(void);
long fi_fired_at(void);
fi_site fi_fired_site(void);
/* Record the site of every attempt (for the reference run of a scenario). */
void fi_record(int on);
long fi_recorded(void);
fi_site fi_recorded_site(long i); /* i in [1, fi_recorded()] */
/* Library allocations (and getline buffers) currently live. */
long fi_live(void);
/* "libals.so.1.1.0+0x1a2b <- libals.so.1.1.0+0x3c4d" (file offsets, for addr2line). */
const char *fi_site_str(fi_site s, char *buf, size_t cap);
const char *fi_class_name(int cls);

#endif
