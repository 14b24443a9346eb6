/* Shared helpers of the libFuzzer harnesses in tests/fuzz/ (see docs/testing.md, "Fuzzing").
 *
 * The library reads files by path, so every harness writes its input to a file in a
 * per-process temporary folder ($TMPDIR, else /tmp: alsfuzz.XXXXXX), calls the reader,
 * and unlinks the file. The folder is removed at exit.
 *
 * Binary formats carry CRC-32s and sizes that random mutations almost never get right, so
 * several harnesses take a first "mode" byte whose bits ask the harness to repair them
 * (fz_crc32 below) before writing the file: the fuzzer then reaches the code behind the
 * checks, and with the bits clear it still exercises the checks themselves. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "als.h"

/* Abort with a message: libFuzzer reports it as a crash with this input. */
#define FZ_CHECK(cond, ...)                                                         \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, \
                    #cond);                                                         \
            fprintf(stderr, __VA_ARGS__);                                           \
            fprintf(stderr, " (als_last_error: %s)\n", als_last_error());           \
            abort();                                                                \
        }                                                                           \
    } while (0)

static char fz_dir_buf[1024];

/* rm -r of a folder the harness made (plain files, symlinks and folders only). */
static void fz_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char sub[2048];
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            fz_remove_tree(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void fz_rmdir(void) {
    if (fz_dir_buf[0]) fz_remove_tree(fz_dir_buf);
}

/* The per-process temporary folder, created on first use. */
static const char *fz_dir(void) {
    if (!fz_dir_buf[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base) base = "/tmp";
        snprintf(fz_dir_buf, sizeof fz_dir_buf, "%s/alsfuzz.XXXXXX", base);
        if (!mkdtemp(fz_dir_buf)) {
            fprintf(stderr, "fuzz: cannot create a temporary folder under %s: %s\n", base,
                    strerror(errno));
            abort();
        }
        atexit(fz_rmdir);
    }
    return fz_dir_buf;
}

/* PATH of NAME inside the temporary folder (static buffer per call site is the caller's). */
static void fz_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", fz_dir(), name);
}

/* Write n bytes to path (replacing it); aborts on an I/O failure of the harness itself. */
static void fz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

/* Harness settings that must precede any OpenMP use: one thread (the fuzzer runs one
 * harness per core), and no BLIS threads. */
static void fz_init_env(void) {
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("BLIS_NUM_THREADS", "1", 1);
}

/* 1 if $FUZZ_KNOWN_BUGS (a comma-separated list) names this known, reported bug: its
 * check is then relaxed so that a long run can look for other bugs. Unset (the default of
 * make fuzz) every check is strict. See docs/testing.md. */
static int fz_known(const char *name) {
    const char *s = getenv("FUZZ_KNOWN_BUGS");
    size_t n = strlen(name);
    for (; s && *s; s += strcspn(s, ","), s += *s == ',') {
        if (strncmp(s, name, n) == 0 && (s[n] == ',' || s[n] == 0)) return 1;
    }
    return 0;
}

/* CRC-32, zlib's polynomial (the library's file formats use it). */
static uint32_t fz_crc32(const void *buf, size_t n) {
    static uint32_t t[256];
    static int init;
    if (!init) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t v = i;
            for (int k = 0; k < 8; k++) v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
            t[i] = v;
        }
        init = 1;
    }
    const unsigned char *p = buf;
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = t[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint32_t fz_ld32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t fz_ld64(const unsigned char *p) {
    return (uint64_t)fz_ld32(p) | (uint64_t)fz_ld32(p + 4) << 32;
}
static void fz_st32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void fz_st64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A small deterministic generator for query vectors and ids derived from the input. */
static uint64_t fz_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float fz_unit(uint64_t *s) { /* in [-1, 1) */
    return (float)((double)(fz_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

#endif
