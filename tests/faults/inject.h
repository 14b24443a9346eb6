/* Forced include (`cc -include tests/faults/inject.h`) for the fault-injection copy of the
 * libraries that `make faults` builds in $(BUILD)/faults: every allocation the library's
 * own code makes goes through a counting wrapper in libfaultinj.so (tests/faults/faultinj.c),
 * which can fail the N-th one. Nothing in src/ changes; the ordinary build never sees this.
 *
 * The macros are function-like and this header includes no system header, so the sources
 * keep their own feature-test macros and include order: when <stdlib.h> or <stdio.h> is
 * read later, its declaration of `malloc (size_t __size)` becomes a (compatible)
 * redeclaration of als_fi_malloc with glibc's attributes. fclose is deliberately not
 * wrapped (glibc names it in fopen's dealloc attribute); leaked FILEs are caught by the
 * driver's open-descriptor check and by LeakSanitizer.
 *
 * Wrapped: malloc, calloc, realloc, aligned_alloc, posix_memalign, strdup, free (to keep
 * the live set), fopen, fdopen (they allocate the FILE) and getline (it allocates the line
 * buffer). */
#ifndef ALS_FAULTS_INJECT_H
#define ALS_FAULTS_INJECT_H

struct _IO_FILE;

void *als_fi_malloc(__SIZE_TYPE__ size);
void *als_fi_calloc(__SIZE_TYPE__ n, __SIZE_TYPE__ size);
void *als_fi_realloc(void *p, __SIZE_TYPE__ size);
void *als_fi_aligned_alloc(__SIZE_TYPE__ align, __SIZE_TYPE__ size);
int als_fi_posix_memalign(void **out, __SIZE_TYPE__ align, __SIZE_TYPE__ size);
char *als_fi_strdup(const char *s);
void als_fi_free(void *p);
struct _IO_FILE *als_fi_fopen(const char *path, const char *mode);
struct _IO_FILE *als_fi_fdopen(int fd, const char *mode);
long als_fi_getline(char **line, __SIZE_TYPE__ *cap, struct _IO_FILE *f);

#define malloc(n) als_fi_malloc(n)
#define calloc(n, s) als_fi_calloc(n, s)
#define realloc(p, n) als_fi_realloc(p, n)
#define aligned_alloc(a, n) als_fi_aligned_alloc(a, n)
#define posix_memalign(o, a, n) als_fi_posix_memalign(o, a, n)
#define strdup(s) als_fi_strdup(s)
#define free(p) als_fi_free(p)
#define fopen(p, m) als_fi_fopen(p, m)
#define fdopen(d, m) als_fi_fdopen(d, m)
#define getline(l, c, f) als_fi_getline(l, c, f)

#endif
