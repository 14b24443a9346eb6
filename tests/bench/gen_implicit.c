/* gen_implicit: synthetic implicit-feedback data for the ALS training benchmark
 * (see docs/performance.md, "ALS training").
 *
 * Usage: gen_implicit OUT.bin|OUT.csv USERS ITEMS DRAWS SEED
 *
 * DRAWS interactions are drawn independently: the user uniformly from 0..USERS-1, the item
 * by popularity, P(item of popularity rank r) proportional to 1 / (r + 10), r = 0..ITEMS-1
 * (alias method). The popularity ranks are spread over the item ids by a seeded shuffle, so
 * popular items do not sit together in the id space. Duplicate (user, item) draws are summed:
 * each distinct pair becomes one row whose value is its count.
 *
 * Bounded memory: the draws are generated user by user. First the number of draws of every
 * user is counted (DRAWS uniform user draws); then each user's items are drawn, sorted and
 * counted. The joint distribution is the same as drawing (user, item) pairs one by one, and
 * memory is O(USERS + ITEMS + the largest user), not O(DRAWS). Rows come out sorted by
 * (user, item). The output depends only on the arguments.
 *
 * Output (chosen by the file name; written to a temporary file, then renamed):
 *  - .csv: a header line `user,item,count`, then one row per distinct pair
 *    (als_ratings_read_csv with "header=1,value=count" reads it);
 *  - anything else: binary, little-endian. A 64-byte header: magic "ALSIMPL1" (8 bytes), then
 *    int64 users, items, draws, rows (distinct pairs), seed, and 16 zero bytes; then `rows`
 *    records of (int32 user, int32 item, float32 count), 12 bytes each (NumPy dtype
 *    [('u','<i4'),('i','<i4'),('c','<f4')] at offset 64).
 * Prints one line: `# gen_implicit FILE users=.. items=.. draws=.. distinct=.. max_count=..
 *   max_user_draws=.. seconds=..`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "ALSIMPL1"
#define HEADER_BYTES 64
#define OUTBUF_ROWS 65536

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg) {
    fprintf(stderr, "gen_implicit: %s\n", msg);
    exit(1);
}

/* xoshiro256** seeded by splitmix64. */
typedef struct {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *g, uint64_t seed) {
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng *g) {
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n < 2^32: Lemire's multiply-high on 32 random bits (bias < 2^-32 x n,
 * irrelevant here). */
static inline uint32_t below32(uint64_t r, uint32_t n) {
    return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

/* Alias table (Vose) over n outcomes with weights w. */
typedef struct {
    uint32_t n;
    uint32_t *alias;
    uint32_t *thresh; /* accept outcome j if 32 random bits < thresh[j] */
} alias_table;

static void alias_build(alias_table *t, const double *w, uint32_t n) {
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) sum += w[i];
    double *p = malloc((size_t)n * sizeof *p);
    uint32_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    t->n = n;
    t->alias = malloc((size_t)n * sizeof *t->alias);
    t->thresh = malloc((size_t)n * sizeof *t->thresh);
    if (!p || !small || !large || !t->alias || !t->thresh) die("out of memory (alias table)");
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = w[i] * (double)n / sum;
        if (p[i] < 1.0) small[ns++] = i;
        else large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        t->alias[s] = l;
        t->thresh[s] = (uint32_t)(p[s] * 4294967296.0 > 4294967295.0 ? 4294967295.0 : p[s] * 4294967296.0);
        p[l] = (p[l] + p[s]) - 1.0;
        if (p[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* What is left has probability 1 (up to rounding). */
    while (nl) {
        uint32_t l = large[--nl];
        t->alias[l] = l;
        t->thresh[l] = UINT32_MAX;
    }
    while (ns) {
        uint32_t s = small[--ns];
        t->alias[s] = s;
        t->thresh[s] = UINT32_MAX;
    }
    free(p);
    free(small);
    free(large);
}

static inline uint32_t alias_draw(const alias_table *t, rng *g) {
    uint64_t r = rng_next(g);
    uint32_t j = below32(r, t->n);
    return (uint32_t)r < t->thresh[j] ? j : t->alias[j];
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts a user's item draws: insertion sort for the usual few dozen, qsort beyond. */
static void sort_items(uint32_t *a, int64_t n) {
    if (n > 48) {
        qsort(a, (size_t)n, sizeof *a, cmp_u32);
        return;
    }
    for (int64_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        int64_t j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static int64_t parse_arg(const char *name, const char *s, int64_t lo, int64_t hi) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "gen_implicit: %s must be an integer in [%lld, %lld], got '%s'\n", name,
                (long long)lo, (long long)hi, s);
        exit(2);
    }
    return (int64_t)v;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void write_header(FILE *f, int64_t users, int64_t items, int64_t draws, int64_t rows,
                         uint64_t seed) {
    unsigned char h[HEADER_BYTES] = {0};
    memcpy(h, MAGIC, 8);
    put_le64(h + 8, (uint64_t)users);
    put_le64(h + 16, (uint64_t)items);
    put_le64(h + 24, (uint64_t)draws);
    put_le64(h + 32, (uint64_t)rows);
    put_le64(h + 40, seed);
    if (fwrite(h, 1, sizeof h, f) != sizeof h) die("write failed");
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: gen_implicit OUT.bin|OUT.csv USERS ITEMS DRAWS SEED\n");
        return 2;
    }
    const char *path = argv[1];
    int64_t users = parse_arg("USERS", argv[2], 1, INT32_MAX);
    int64_t items = parse_arg("ITEMS", argv[3], 1, INT32_MAX);
    int64_t draws = parse_arg("DRAWS", argv[4], 1, INT64_MAX / 2);
    uint64_t seed = (uint64_t)parse_arg("SEED", argv[5], 0, INT64_MAX);
    size_t plen = strlen(path);
    int csv = plen >= 4 && strcmp(path + plen - 4, ".csv") == 0;
    double t0 = now_s();

    /* Popularity: weight 1/(r+10) for rank r, ranks shuffled onto item ids. */
    double *w = malloc((size_t)items * sizeof *w);
    uint32_t *rank_to_item = malloc((size_t)items * sizeof *rank_to_item);
    if (!w || !rank_to_item) die("out of memory");
    for (int64_t r = 0; r < items; r++) {
        w[r] = 1.0 / ((double)r + 10.0);
        rank_to_item[r] = (uint32_t)r;
    }
    rng g;
    rng_seed(&g, seed ^ 0x5eed1a11c0ffeeULL);
    for (int64_t i = items - 1; i > 0; i--) { /* Fisher-Yates */
        uint32_t j = below32(rng_next(&g), (uint32_t)(i + 1));
        uint32_t tmp = rank_to_item[i];
        rank_to_item[i] = rank_to_item[j];
        rank_to_item[j] = tmp;
    }
    alias_table at;
    alias_build(&at, w, (uint32_t)items);
    free(w);

    /* Pass 1: draws per user (the user of each draw, uniformly). */
    uint32_t *per_user = calloc((size_t)users, sizeof *per_user);
    if (!per_user) die("out of memory (per-user counts)");
    rng_seed(&g, seed);
    int64_t max_user = 0;
    for (int64_t d = 0; d < draws; d++) {
        uint32_t u = below32(rng_next(&g), (uint32_t)users);
        if (per_user[u] == UINT32_MAX) die("a user has more than 2^32-1 draws");
        per_user[u]++;
    }
    for (int64_t u = 0; u < users; u++)
        if (per_user[u] > max_user) max_user = per_user[u];

    /* Pass 2: each user's items, sorted and counted, written in order. */
    size_t tlen = plen + 32;
    char *tmp = malloc(tlen);
    if (!tmp) die("out of memory");
    snprintf(tmp, tlen, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "gen_implicit: cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    static char iobuf[1 << 20];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    if (csv) {
        if (fputs("user,item,count\n", f) == EOF) die("write failed");
    } else {
        write_header(f, users, items, draws, 0, seed);
    }
    uint32_t *buf = malloc((size_t)(max_user > 0 ? max_user : 1) * sizeof *buf);
    unsigned char *out = malloc((size_t)OUTBUF_ROWS * 12);
    if (!buf || !out) die("out of memory");
    int64_t rows = 0, nout = 0, max_count = 0;
    rng_seed(&g, seed ^ 0x17e4517e45ULL);
    for (int64_t u = 0; u < users; u++) {
        int64_t n = per_user[u];
        for (int64_t j = 0; j < n; j++) buf[j] = rank_to_item[alias_draw(&at, &g)];
        sort_items(buf, n);
        for (int64_t j = 0; j < n;) {
            int64_t k = j + 1;
            while (k < n && buf[k] == buf[j]) k++;
            int64_t c = k - j;
            if (c > max_count) max_count = c;
            if (csv) {
                if (fprintf(f, "%lld,%u,%lld\n", (long long)u, buf[j], (long long)c) < 0)
                    die("write failed");
            } else {
                unsigned char *p = out + 12 * nout;
                float cf = (float)c;
                uint32_t cbits;
                memcpy(&cbits, &cf, 4);
                put_le32(p, (uint32_t)u);
                put_le32(p + 4, buf[j]);
                put_le32(p + 8, cbits);
                if (++nout == OUTBUF_ROWS) {
                    if (fwrite(out, 12, (size_t)nout, f) != (size_t)nout) die("write failed");
                    nout = 0;
                }
            }
            rows++;
            j = k;
        }
    }
    if (!csv) {
        if (nout && fwrite(out, 12, (size_t)nout, f) != (size_t)nout) die("write failed");
        if (fseek(f, 0, SEEK_SET) != 0) die("seek failed");
        write_header(f, users, items, draws, rows, seed);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "gen_implicit: writing %s failed: %s\n", path, strerror(errno));
        remove(tmp);
        return 1;
    }
    printf("# gen_implicit %s users=%lld items=%lld draws=%lld distinct=%lld max_count=%lld "
           "max_user_draws=%lld seconds=%.2f\n",
           path, (long long)users, (long long)items, (long long)draws, (long long)rows,
           (long long)max_count, (long long)max_user, now_s() - t0);
    free(tmp);
    free(buf);
    free(out);
    free(per_user);
    free(rank_to_item);
    free(at.alias);
    free(at.thresh);
    return 0;
}
