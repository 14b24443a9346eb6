#!/usr/bin/python3
"""Faiss side of the audience-expansion benchmark (run_expand.sh): same data, same RESULT line
as bench_expand.

Usage:
  faiss_expand.py --base B.npy --seeds S.npy --kind flat|ivf --k K
                  [--nlist L --nprobe P[,P2,...]] [--kmeans-iters I] [--train-per-list P]
                  [--threads T] [--nseeds M] [--ref-audience FILE]

What a Faiss user writes for a lookalike audience: normalize_L2 (the data are already unit
rows; normalize_L2 is applied anyway, untimed, as users do), an IndexFlatIP or IndexIVFFlat
(inner product) over the candidates, one search of all seeds with k, then the merge in NumPy:
drop -1, sort the (id, score) pairs by id, keep each id's best score (AGG_MAX), rank by score
(ties: smaller id). The seeds are removed from the candidates before the index is built
(np.delete, counted in add_s), which gives exactly vecidx_expand's exclude-filter semantics
(searching k+1 and dropping the self match, the other common way, still lets other seeds into
the audience). Timed (expand_s): search + merge. --nseeds M searches only the first M seeds
(the candidates still exclude all seeds); est_full_s then scales expand_s by ns / M, which
is how the flat run at the seed's scale is reported (its full search takes many minutes).
Run with OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE and OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE unset (run_expand.sh does). Exits 3 when `import faiss` fails.
"""
import argparse
import resource
import sys
import time

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"faiss_expand: skipped: import numpy failed: {e}", file=sys.stderr)
    sys.exit(3)
try:
    import faiss
except ImportError as e:
    print(f"faiss_expand: skipped: import faiss failed: {e}", file=sys.stderr)
    sys.exit(3)


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--seeds", required=True)
    p.add_argument("--kind", required=True, choices=["flat", "ivf"])
    p.add_argument("--k", required=True, type=int)
    p.add_argument("--nlist", type=int)
    p.add_argument("--nprobe", type=str)
    p.add_argument("--kmeans-iters", type=int)
    p.add_argument("--train-per-list", type=int)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--nseeds", type=int, default=0)
    p.add_argument("--ref-audience")
    a = p.parse_args()
    if a.k < 1:
        p.error("--k must be >= 1")
    if a.kind == "ivf":
        if not a.nlist or not a.nprobe:
            p.error("--kind ivf needs --nlist and --nprobe")
        a.nprobe = [int(x) for x in a.nprobe.split(",")]
    elif a.nlist or a.nprobe:
        p.error("--nlist/--nprobe apply to --kind ivf only")
    return a


def merge_max(D, I, cand):
    """(ns, k) scores/positions -> audience ids (base rows) and scores, best first."""
    I = I.ravel()
    D = D.ravel()
    m = I >= 0
    gid = cand[I[m]]
    sc = D[m]
    order = np.lexsort((-sc, gid))  # by id, then best score first
    gid = gid[order]
    sc = sc[order]
    first = np.empty(len(gid), dtype=bool)
    if len(gid):
        first[0] = True
        np.not_equal(gid[1:], gid[:-1], out=first[1:])
    uid = gid[first]
    best = sc[first]
    rank = np.lexsort((uid, -best))  # best first, ties: smaller id
    return uid[rank], best[rank]


def main():
    a = parse()
    if a.threads > 0:
        faiss.omp_set_num_threads(a.threads)
    threads = faiss.omp_get_max_threads()
    xb = np.ascontiguousarray(np.load(a.base), dtype=np.float32)
    faiss.normalize_L2(xb)
    n, d = xb.shape
    seed_rows = np.load(a.seeds).reshape(-1).astype(np.int64)
    ns_all = len(seed_rows)
    ns = a.nseeds if 0 < a.nseeds < ns_all else ns_all
    xs = np.ascontiguousarray(xb[seed_rows[:ns]])
    ref = np.load(a.ref_audience).reshape(-1) if a.ref_audience else None

    t0 = time.perf_counter()
    cand = np.delete(np.arange(n, dtype=np.int64), seed_rows)
    xc = np.ascontiguousarray(xb[cand])
    del_s = time.perf_counter() - t0
    nc = len(cand)
    if a.kind == "flat":
        index = faiss.IndexFlatIP(d)
    else:
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, a.nlist, faiss.METRIC_INNER_PRODUCT)
        if a.kmeans_iters:
            index.cp.niter = a.kmeans_iters
        if a.train_per_list:
            index.cp.max_points_per_centroid = a.train_per_list
    t0 = time.perf_counter()
    index.train(xc)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.add(xc)
    add_s = time.perf_counter() - t0 + del_s

    for nprobe in (a.nprobe if a.kind == "ivf" else [None]):
        if nprobe is not None:
            index.nprobe = nprobe
        index.search(xs[:64], a.k)  # warm-up
        t0 = time.perf_counter()
        D, I = index.search(xs, a.k)
        search_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        aud, _ = merge_max(D, I, cand)
        merge_s = time.perf_counter() - t1
        expand_s = search_s + merge_s
        seeds_in = int(np.isin(aud, seed_rows[:ns]).sum())
        overlap = "-"
        if ref is not None and ns == ns_all and len(ref):
            overlap = f"{len(np.intersect1d(aud, ref)) / len(ref):.4f}"
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        pairs = float(ns) * float(n)
        print(f"RESULT impl=faiss kind={a.kind} metric=ip d={d} n={n} ns={ns} k={a.k} agg=max "
              f"nlist={a.nlist if a.kind == 'ivf' else '-'} "
              f"nprobe={nprobe if nprobe is not None else '-'} threads={threads} "
              f"train_s={train_s:.3f} add_s={add_s:.3f} search_s={search_s:.4f} "
              f"merge_s={merge_s:.4f} expand_s={expand_s:.4f} "
              f"ns_per_pair={expand_s * 1e9 / pairs if pairs else 0.0:.5g} "
              f"est_full_s={expand_s * ns_all / ns:.2f} ns_total={ns_all} candidates={nc} "
              f"audience={len(aud)} seeds_in_audience={seeds_in} overlap={overlap} "
              f"rss_mb={rss_mb:.1f} simd=-", flush=True)


if __name__ == "__main__":
    main()
