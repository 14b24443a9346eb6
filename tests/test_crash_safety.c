/* Crash safety of saves (issue 11 item 5). A child process saves two versions of an index
 * (and, in the second test, of a model) in turn over one path, and is killed with SIGKILL
 * after a random delay spread over a whole save cycle, so that kills land while the
 * temporary file is written, between its fsync and the rename, and between saves. After
 * every kill:
 *  - the file at the path loads and is byte for byte one of the complete versions;
 *  - every temporary file left beside it (PATH.tmp.*) either fails to load with
 *    ALS_EFORMAT (a partial file) or is a complete version (killed after the write, before
 *    the rename): no partial file ever loads as valid;
 * and after all trials a successful save to the path leaves no temporary file of that
 * path behind (issue 11 F6: saves remove the temporaries of killed saves). Truncations of
 * a complete file at many lengths must all fail to load, too.
 *
 * CRASH_TRIALS (default 60) sets the trials per test; `make crash-test` runs 200.
 * CRASH_ALLOW_STALE_TMP=1 turns the final temporary-file check into a report only. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"

#define PATHN 1024
static char DIR_[256];
static int TRIALS = 60;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0) {}
}

typedef struct {
    unsigned char *data;
    long size;
} blob;

static blob slurp(const char *path) {
    blob b = {NULL, -1};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    b.size = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc((size_t)b.size + 1);
    if (fread(b.data, 1, (size_t)b.size, f) != (size_t)b.size) b.size = -2;
    fclose(f);
    return b;
}

static int same(blob a, blob b) {
    return a.size >= 0 && a.size == b.size && memcmp(a.data, b.data, (size_t)a.size) == 0;
}

/* The kind of file under test: an index or a model, two complete versions. */
typedef struct {
    const char *name;
    int (*save)(const void *obj, const char *path);
    int (*load_ok)(const char *path); /* ALS_OK or the load's error code */
    const void *v[2];
    blob ref[2];
} kind;

static int save_index(const void *o, const char *p) { return vecidx_save(o, p); }
static int load_index(const char *p) {
    vecidx *x = NULL;
    int rc = vecidx_load(&x, p);
    vecidx_destroy(x);
    return rc;
}
static int save_model(const void *o, const char *p) { return als_model_save(o, p); }
static int load_model(const char *p) {
    als_model *m = NULL;
    int rc = als_model_load(&m, p);
    als_model_destroy(m);
    return rc;
}

/* PATH.tmp.* files beside path: their names, up to cap. */
static int temps_of(const char *path, char names[][PATHN], int cap) {
    const char *slash = strrchr(path, '/');
    char dir[PATHN / 2];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    char pref[PATHN];
    snprintf(pref, sizeof pref, "%s.tmp.", slash + 1);
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, pref, strlen(pref)) != 0) continue;
        if (n < cap) snprintf(names[n], PATHN, "%.500s/%.255s", dir, e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int running_under_valgrind(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int v = 0;
    while (f && !v && fgets(line, sizeof line, f)) v = strstr(line, "vgpreload") != NULL;
    if (f) fclose(f);
    return v;
}

/* Every truncation of a complete file must fail to load, with ALS_EFORMAT. */
static void check_truncations(kind *k) {
    char p[PATHN];
    snprintf(p, sizeof p, "%s/%s.trunc", DIR_, k->name);
    long size = k->ref[0].size, cuts[80];
    int nc = 0;
    for (long c = 0; c < 200 && c < size; c += 7) cuts[nc++] = c; /* through the header */
    for (int i = 1; i <= 40; i++) cuts[nc++] = 200 + (size - 201) * i / 41;
    cuts[nc++] = size - 4; /* the trailer gone */
    cuts[nc++] = size - 1;
    for (int i = 0; i < nc; i++) {
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(k->ref[0].data, 1, (size_t)cuts[i], f), (size_t)cuts[i]);
        fclose(f);
        int rc = k->load_ok(p);
        if (rc != ALS_EFORMAT) {
            print_error("%s truncated to %ld of %ld bytes: load returned %d (%s), expected ALS_EFORMAT\n",
                        k->name, cuts[i], size, rc, als_strerror(rc));
            fail();
        }
    }
    unlink(p);
    printf("crash-safety: %s: %d truncations of a %ld-byte file all fail to load with ALS_EFORMAT\n",
           k->name, nc, size);
}

static void crash_trials(kind *k) {
    char path[PATHN], refp[PATHN];
    snprintf(path, sizeof path, "%s/%s.bin", DIR_, k->name);
    for (int v = 0; v < 2; v++) {
        snprintf(refp, sizeof refp, "%s/%s.ref%d", DIR_, k->name, v);
        assert_ok(k->save(k->v[v], refp));
        k->ref[v] = slurp(refp);
        unlink(refp);
    }
    assert_false(same(k->ref[0], k->ref[1]));
    check_truncations(k);
    /* the time of one save, to spread the kills over whole cycles */
    double t0 = now_s();
    for (int i = 0; i < 4; i++) assert_ok(k->save(k->v[i % 2], path));
    double save_s = (now_s() - t0) / 4;
    assert_ok(k->save(k->v[0], path));

    /* the child's count of completed saves, in a shared mapping of a scratch file */
    char cp[PATHN];
    snprintf(cp, sizeof cp, "%s/%s.count", DIR_, k->name);
    int cfd = open(cp, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(cfd >= 0 && ftruncate(cfd, 4096) == 0);
    volatile long *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    assert_true(done != MAP_FAILED);
    close(cfd);
    unlink(cp);
    uint64_t rng = 12345;
    int in_write = 0, after_write = 0, between = 0, version[2] = {0, 0}, bad = 0;
    long saves = 0, orphans_seen = 0;
    char names[64][PATHN], prev[64][PATHN];
    int nprev = 0;
    for (int t = 0; t < TRIALS; t++) {
        *done = 0;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) { /* the child: save the two versions in turn until killed */
            for (long i = 0;; i++) {
                if (k->save(k->v[(i + 1) % 2], path) != ALS_OK) _exit(3);
                *done = i + 1;
            }
        }
        /* a random moment within the child's first three saves */
        sleep_s(tu_uniform(&rng) * 3.0 * save_s);
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFSIGNALED(st)) {
            print_error("trial %d: the saving child exited with status %d before the kill\n", t,
                        WEXITSTATUS(st));
            fail();
        }
        saves += *done;
        /* the file at the path: loadable, and one of the complete versions */
        blob b = slurp(path);
        int rc = k->load_ok(path), v = same(b, k->ref[0]) ? 0 : same(b, k->ref[1]) ? 1 : -1;
        if (rc != ALS_OK || v < 0) {
            print_error("trial %d: %s after the kill: load %d (%s), %ld bytes, %s\n", t, path, rc,
                        als_strerror(rc), b.size, v < 0 ? "not a complete version" : "");
            bad++;
        } else {
            version[v]++;
        }
        free(b.data);
        /* what the kill left beside it */
        int nt = temps_of(path, names, 64), partial = 0, complete = 0;
        if (nt > 64) nt = 64;
        for (int i = 0; i < nt; i++) {
            blob tb = slurp(names[i]);
            int trc = k->load_ok(names[i]);
            int whole = same(tb, k->ref[0]) || same(tb, k->ref[1]);
            if (trc == ALS_OK && !whole) {
                print_error("trial %d: the partial file %s (%ld bytes) loads as valid\n", t, names[i], tb.size);
                bad++;
            } else if (trc != ALS_OK && trc != ALS_EFORMAT) {
                print_error("trial %d: %s: load returned %d (%s), expected ALS_EFORMAT\n", t, names[i], trc,
                            als_strerror(trc));
                bad++;
            }
            /* this trial's temporary, not one an earlier trial left (a later child's save
             * removes those, but a child killed before its first save removes nothing) */
            int old = 0;
            for (int j = 0; j < nprev && !old; j++) old = strcmp(prev[j], names[i]) == 0;
            if (!old) {
                orphans_seen++;
                if (whole) complete++;
                else partial++;
            }
            free(tb.data);
        }
        for (int i = 0; i < nt; i++) memcpy(prev[i], names[i], sizeof prev[i]);
        nprev = nt;
        if (partial) in_write++;
        else if (complete) after_write++;
        else between++;
    }
    munmap((void *)done, 4096);
    int left = temps_of(path, names, 64);
    printf("crash-safety: %s: %d trials, one save %.1f ms (%ld bytes), %ld completed saves killed "
           "around; kills while writing the temporary: %d, after its write (before the rename): "
           "%d, between saves: %d; the path held version A %d times, B %d times; temporary files "
           "seen after kills: %ld, left after the last trial: %d\n",
           k->name, TRIALS, save_s * 1e3, k->ref[0].size, saves, in_write, after_write, between,
           version[0], version[1], orphans_seen, left);
    assert_int_equal(bad, 0);
    /* Issue 11 F6: a successful save of the path leaves no temporary of that path. */
    assert_ok(k->save(k->v[0], path));
    int stale = temps_of(path, names, 64);
    if (stale) {
        const char *allow = getenv("CRASH_ALLOW_STALE_TMP");
        printf("crash-safety: %s: F6: %d stale temporary file(s) (%s...) remain after a successful "
               "save of %s%s\n", k->name, stale, names[0], path,
               allow && *allow == '1' ? " (CRASH_ALLOW_STALE_TMP=1: reported only)" : "");
        if (!(allow && *allow == '1')) fail_msg("stale temporary files remain (issue 11 F6)");
    } else {
        printf("crash-safety: %s: a successful save after the trials left no temporary file\n", k->name);
    }
    assert_int_equal(k->load_ok(path), ALS_OK);
    assert_true(in_write > 0); /* the kills did reach the write phase */
    unlink(path);
    free(k->ref[0].data);
    free(k->ref[1].data);
}

/* ~15 MB files: a save takes some 10-50 ms on a disk (more under a sanitizer). */
#define IN 60000
#define ID 64

static void test_index_saves(void **state) {
    (void)state;
    float *x = malloc((size_t)IN * ID * sizeof *x);
    uint64_t s = 1;
    vecidx *v[2];
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < (size_t)IN * ID; j++) x[j] = (float)tu_normal(&s);
        als_matrix *m;
        assert_ok(als_matrix_wrap(&m, x, IN, ID, ID));
        assert_ok(vecidx_flat_create(&v[i], ID, VECIDX_METRIC_IP));
        assert_ok(vecidx_set_int(v[i], VECIDX_PARAM_NUM_THREADS, 1)); /* no OpenMP pool before fork */
        assert_ok(vecidx_add(v[i], m, NULL));
        assert_ok(vecidx_set_run_id(v[i], 100 + (uint64_t)i));
        als_matrix_destroy(m);
    }
    free(x);
    kind k = {"index", save_index, load_index, {v[0], v[1]}, {{NULL, 0}, {NULL, 0}}};
    crash_trials(&k);
    vecidx_destroy(v[0]);
    vecidx_destroy(v[1]);
}

#define MU 100000
#define MI 2000

static void test_model_saves(void **state) {
    (void)state;
    int64_t *u = malloc(MU * sizeof *u), *it = malloc(MU * sizeof *it);
    for (int64_t i = 0; i < MU; i++) u[i] = i, it[i] = i % MI;
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, MU, u, it, NULL));
    free(u);
    free(it);
    als_model *m[2];
    for (int i = 0; i < 2; i++) {
        assert_ok(als_model_create(&m[i]));
        assert_ok(als_set_int(m[i], ALS_PARAM_RANK, 32));
        assert_ok(als_set_int(m[i], ALS_PARAM_MAX_ITER, 0)); /* the random start is factors enough */
        assert_ok(als_set_int(m[i], ALS_PARAM_SEED, 1 + i));
        assert_ok(als_set_int(m[i], ALS_PARAM_NUM_THREADS, 1));
        assert_ok(als_model_fit(m[i], r));
    }
    als_ratings_destroy(r);
    kind k = {"model", save_model, load_model, {m[0], m[1]}, {{NULL, 0}, {NULL, 0}}};
    crash_trials(&k);
    als_model_destroy(m[0]);
    als_model_destroy(m[1]);
}

int main(void) {
    const char *t = getenv("CRASH_TRIALS");
    if (t && atoi(t) > 0) TRIALS = atoi(t);
    else if (running_under_valgrind()) TRIALS = 12;
    const char *tmp = getenv("TMPDIR");
    snprintf(DIR_, sizeof DIR_, "%s/alscrash-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(DIR_)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_saves),
        cmocka_unit_test(test_model_saves),
    };
    int rc = cmocka_run_group_tests_name("crash safety of saves", tests, NULL, NULL);
    char p[PATHN];
    DIR *d = opendir(DIR_);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", DIR_, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(DIR_);
    return rc;
}
