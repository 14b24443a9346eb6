/* lookalike gen: a synthetic purchase log with a known answer.
 * Users belong to planted communities; each community prefers its own items. Item
 * popularity follows a power law (Zipf, exponent --zipf), user activity a Pareto-like law,
 * dates are uniform over --days days from --start. A purchase is, with probability
 * --affinity, an item of the buyer's community (drawn by popularity), else any item (drawn
 * by popularity). So the later buyers of an item are mostly its community's members:
 * lookalikes are findable, and the backtest has something to find. Deterministic for --seed.
 *
 * Two options make it harder (docs/lookalike.md, "a harder log"):
 *   --item-communities M  each item belongs to M communities (its own, then M - 1 others,
 *                         with weights 1, 1/2, ..., 1/M inside them): an item's buyers are
 *                         a diverse seed set of several taste groups of unequal size;
 *   --heavy-affinity A    the affinity falls with activity, from --affinity for the
 *                         lightest users to A for the heaviest (log scale): the most active
 *                         users buy by popularity, not taste, so activity misleads.
 * Their defaults (1, and --affinity) give the same file as before they existed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

static uint64_t next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(uint64_t *s) { return (double)(next(s) >> 11) * 0x1.0p-53; }

/* Index of the first cumulative weight above x (cum is increasing, cum[n-1] = total). */
static int64_t pick(const double *cum, int64_t n, double x) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static void civil(int64_t z, int *y, int *m, int *d) { /* H. Hinnant's civil_from_days */
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t days_from(const char *s) {
    int y, m, d;
    if (sscanf(s, "%d-%d-%d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31) return INT64_MIN;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int lk_cmd_gen(int argc, char **argv) {
    static const char *const own[] = {"users", "items", "purchases", "communities", "seed",
                                      "zipf", "affinity", "start", "days", "string-ids!",
                                      "item-communities", "heavy-affinity", "out", NULL};
    const char *const *lists[] = {own, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "gen", lists);
    int64_t nu = 200000, ni = 5000, np = 5000000, nc = 50, seed = 1, days = 365, mc = 1;
    double zipf = 1.0, aff = 0.8, heavy = -1;
    const char *out = lk_arg(&a, "out"), *start = lk_arg(&a, "start");
    struct { const char *name; int64_t *v; int64_t lo, hi; } ints[] = {
        {"users", &nu, 1, INT32_MAX}, {"items", &ni, 1, INT32_MAX},
        {"purchases", &np, 1, INT64_MAX / 2}, {"communities", &nc, 1, 1000000},
        {"seed", &seed, 0, INT64_MAX}, {"days", &days, 1, 100000}, {"item-communities", &mc, 1, 8}};
    for (size_t i = 0; !rc && i < sizeof ints / sizeof ints[0]; i++) {
        const char *v = lk_arg(&a, ints[i].name);
        if (v && lk_parse_i64(v, ints[i].lo, ints[i].hi, ints[i].v))
            rc = lk_usage_error("gen: --%s: '%s' is not an integer in [%lld, %lld]", ints[i].name,
                                v, (long long)ints[i].lo, (long long)ints[i].hi);
    }
    if (!rc && lk_arg(&a, "zipf") && (lk_parse_double(lk_arg(&a, "zipf"), &zipf) || zipf < 0))
        rc = lk_usage_error("gen: --zipf is a number >= 0");
    if (!rc && lk_arg(&a, "affinity") &&
        (lk_parse_double(lk_arg(&a, "affinity"), &aff) || aff < 0 || aff > 1))
        rc = lk_usage_error("gen: --affinity is a number in [0, 1]");
    if (!rc && lk_arg(&a, "heavy-affinity") &&
        (lk_parse_double(lk_arg(&a, "heavy-affinity"), &heavy) || heavy < 0 || heavy > 1))
        rc = lk_usage_error("gen: --heavy-affinity is a number in [0, 1]");
    int64_t day0 = days_from(start ? start : "2024-01-01");
    if (!rc && day0 == INT64_MIN) rc = lk_usage_error("gen: --start is a date YYYY-MM-DD");
    if (!rc && !out) rc = lk_usage_error("gen: --out is required");
    if (!rc && nc > ni) rc = lk_usage_error("gen: more communities than items");
    if (!rc && mc > nc) rc = lk_usage_error("gen: --item-communities is more than --communities");
    if (rc) {
        lk_args_free(&a);
        return rc;
    }
    int strid = lk_arg_flag(&a, "string-ids");
    uint64_t s = (uint64_t)seed * 0x2545f4914f6cdd1dull + 1;
    double *ucum = malloc((size_t)nu * sizeof *ucum), *icum = malloc((size_t)ni * sizeof *icum);
    size_t nm = (size_t)(ni * mc); /* (item, community) memberships */
    double *ccum = malloc(nm * sizeof *ccum), *iw = malloc((size_t)ni * sizeof *iw);
    double *mw = malloc(nm * sizeof *mw);
    int32_t *ucomm = malloc((size_t)nu * sizeof *ucomm), *icomm = malloc(nm * sizeof *icomm);
    int64_t *cstart = calloc((size_t)nc + 1, sizeof *cstart), *citems = malloc(nm * sizeof *citems);
    lk_out o = {0};
    if (!ucum || !icum || !ccum || !iw || !mw || !ucomm || !icomm || !cstart || !citems) {
        rc = lk_fail("out of memory");
        goto done;
    }
    double tot = 0;
    for (int64_t u = 0; u < nu; u++) {
        /* activity: Pareto with shape 2 (a few heavy buyers), capped at 100x the minimum */
        double w = pow(1.0 - unif(&s), -0.5);
        ucum[u] = tot += w < 100 ? w : 100;
        ucomm[u] = (int32_t)(next(&s) % (uint64_t)nc);
    }
    /* item popularity: Zipf over a random order of the items */
    for (int64_t i = 0; i < ni; i++) citems[i] = i;
    for (int64_t i = ni - 1; i > 0; i--) {
        int64_t j = (int64_t)(next(&s) % (uint64_t)(i + 1)), t = citems[i];
        citems[i] = citems[j];
        citems[j] = t;
    }
    for (int64_t r = 0; r < ni; r++) iw[citems[r]] = 1.0 / pow((double)r + 1.0, zipf);
    static const int64_t ranks[4] = {0, 9, 49, 99};
    int64_t rank_item[4];
    for (int r = 0; r < 4; r++) rank_item[r] = citems[ranks[r] < ni ? ranks[r] : ni - 1];
    double itot = 0;
    for (int64_t i = 0; i < ni; i++) {
        icum[i] = itot += iw[i];
        icomm[i * mc] = (int32_t)(i < nc ? i : (int64_t)(next(&s) % (uint64_t)nc));
        mw[i * mc] = 1.0;
    }
    /* further communities of each item from a stream of their own, distinct from the
     * item's others: the default file does not change */
    uint64_t s2 = s ^ 0x5851f42d4c957f2dull;
    for (int64_t i = 0; i < ni && mc > 1; i++)
        for (int64_t m = 1; m < mc; m++) {
            int32_t c;
            int dup;
            do {
                c = (int32_t)(next(&s2) % (uint64_t)nc);
                dup = 0;
                for (int64_t q = 0; q < m; q++) dup |= icomm[i * mc + q] == c;
            } while (dup);
            icomm[i * mc + m] = c;
            mw[i * mc + m] = 1.0 / (double)(m + 1);
        }
    for (size_t e = 0; e < nm; e++) cstart[icomm[e] + 1]++;
    for (int64_t c = 0; c < nc; c++) cstart[c + 1] += cstart[c];
    {
        int64_t *pos = malloc((size_t)nc * sizeof *pos);
        if (!pos) { rc = lk_fail("out of memory"); goto done; }
        memcpy(pos, cstart, (size_t)nc * sizeof *pos);
        for (size_t e = 0; e < nm; e++) citems[pos[icomm[e]]++] = (int64_t)e; /* membership */
        free(pos);
    }
    for (int64_t c = 0; c < nc; c++) { /* cumulative popularity inside each community */
        double t = 0;
        for (int64_t p = cstart[c]; p < cstart[c + 1]; p++) {
            ccum[p] = t += iw[citems[p] / mc] * mw[citems[p]];
            citems[p] /= mc; /* from here on: the item */
        }
    }
    if ((rc = lk_out_open(&o, out))) goto done;
    static char buf[1 << 20];
    setvbuf(o.f, buf, _IOFBF, sizeof buf);
    fputs("user_id,item_id,date\n", o.f);
    for (int64_t p = 0; p < np; p++) {
        int64_t u = pick(ucum, nu, unif(&s) * tot), i;
        int32_t c = ucomm[u];
        double aff_u = aff;
        if (heavy >= 0) { /* log-linear in the activity weight, 1 (lightest) to 100 */
            double w = ucum[u] - (u ? ucum[u - 1] : 0);
            aff_u = aff + (heavy - aff) * log(w) / log(100.0);
        }
        if (unif(&s) < aff_u) {
            int64_t b = cstart[c], n = cstart[c + 1] - b;
            i = citems[b + pick(ccum + b, n, unif(&s) * ccum[b + n - 1])];
        } else {
            i = pick(icum, ni, unif(&s) * itot);
        }
        int y, m, d;
        civil(day0 + (int64_t)(next(&s) % (uint64_t)days), &y, &m, &d);
        if (strid) fprintf(o.f, "U%07lld,SKU-%lld,%04d-%02d-%02d\n", (long long)u, (long long)i, y, m, d);
        else fprintf(o.f, "%lld,%lld,%04d-%02d-%02d\n", (long long)u, (long long)i, y, m, d);
    }
    if ((rc = lk_out_commit(&o))) goto done;
    printf("gen: wrote %s: %lld purchases by %lld users of %lld items in %lld communities "
           "(seed %lld)\n", out, (long long)np, (long long)nu, (long long)ni, (long long)nc,
           (long long)seed);
    printf("gen: items by popularity rank: 1st %s%lld, 10th %s%lld, 50th %s%lld, 100th %s%lld\n",
           strid ? "SKU-" : "", (long long)rank_item[0], strid ? "SKU-" : "", (long long)rank_item[1],
           strid ? "SKU-" : "", (long long)rank_item[2], strid ? "SKU-" : "", (long long)rank_item[3]);
done:
    if (rc && o.f) lk_out_abort(&o);
    free(ucum); free(icum); free(ccum); free(iw); free(mw); free(ucomm); free(icomm); free(cstart); free(citems);
    lk_args_free(&a);
    return rc;
}
