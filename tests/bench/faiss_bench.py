#!/usr/bin/python3
"""Faiss side of `make bench`: the same configurations as bench_search, same RESULT line.

Usage (a subset of bench_search's options):
  faiss_bench.py --base B.npy --queries Q.npy --kind flat|ivf --metric ip|l2 --k K
                 [--nlist L --nprobe P[,P2,...]] [--kmeans-iters I] [--train-per-list P]
                 [--threads T] --truth FILE [--nq M] [--repeat R] [--budget S] [--warmup W]

The ground-truth file is the one bench_search writes: a NumPy .npy of dtype '<i8', shape
(nq, kt), row i = the kt best base-row ids of query i, best first (see bench_search.c).
Faiss runs best here with OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE in the
environment; run.sh sets them. Exits 3 when `import faiss` fails.
"""
import argparse
import os
import resource
import sys
import time

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"faiss_bench: skipped: import numpy failed: {e}", file=sys.stderr)
    sys.exit(3)
try:
    import faiss
except ImportError as e:
    print(f"faiss_bench: skipped: import faiss failed: {e} "
          "(install python3-faiss: sh scripts/deps.sh bench)", file=sys.stderr)
    sys.exit(3)


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--kind", required=True, choices=["flat", "ivf"])
    p.add_argument("--metric", required=True, choices=["ip", "l2"])
    p.add_argument("--k", required=True, type=int)
    p.add_argument("--nlist", type=int)
    p.add_argument("--nprobe", type=str)
    p.add_argument("--kmeans-iters", type=int)
    p.add_argument("--train-per-list", type=int)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--truth", required=True)
    p.add_argument("--nq", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--budget", type=float, default=30.0)
    p.add_argument("--warmup", type=int, default=64)
    a = p.parse_args()
    if a.k < 1 or a.repeat < 1:
        p.error("--k and --repeat must be >= 1")
    if a.kind == "ivf":
        if not a.nlist or not a.nprobe:
            p.error("--kind ivf needs --nlist and --nprobe")
        a.nprobe = [int(x) for x in a.nprobe.split(",")]
    elif a.nlist or a.nprobe:
        p.error("--nlist/--nprobe apply to --kind ivf only")
    return a


def load_f32(path):
    x = np.load(path)
    if x.ndim != 2:
        sys.exit(f"faiss_bench: {path}: expected a 2-D array, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def recall_at_k(got, truth, k):
    """Mean over queries of |got top-k ∩ truth top-k| / (valid truth ids among the top k)."""
    tot, cnt = 0.0, 0
    for g, t in zip(got, truth[:, :k]):
        t = t[t >= 0]
        if len(t) == 0:
            continue
        tot += len(np.intersect1d(g, t, assume_unique=False)) / len(t)
        cnt += 1
    return tot / cnt if cnt else 1.0


def timed_search(index, q, a):
    w = min(a.warmup, len(q))
    if w > 0:
        index.search(q[:w], a.k)
    best, spent, reps, ids = float("inf"), 0.0, 0, None
    while reps < a.repeat:
        t0 = time.perf_counter()  # monotonic
        _, ids = index.search(q, a.k)
        t = time.perf_counter() - t0
        reps += 1
        spent += t
        best = min(best, t)
        if spent + t > a.budget:
            break
    return best, reps, ids


def main():
    a = parse()
    if a.threads > 0:
        faiss.omp_set_num_threads(a.threads)
    threads = faiss.omp_get_max_threads()
    xb, xq = load_f32(a.base), load_f32(a.queries)
    n, d = xb.shape
    nq = xq.shape[0]
    if xq.shape[1] != d:
        sys.exit(f"faiss_bench: base has {d} columns, queries {xq.shape[1]}")
    try:
        truth = np.load(a.truth)
    except OSError as e:
        sys.exit(f"faiss_bench: cannot read the ground truth {a.truth}: {e} "
                 "(bench_search --write-truth makes it)")
    if truth.dtype != np.int64 or truth.ndim != 2 or truth.shape[0] != nq or truth.shape[1] < a.k:
        sys.exit(f"faiss_bench: {a.truth} holds {truth.dtype} {truth.shape}, "
                 f"need int64 ({nq}, >={a.k})")
    if 0 < a.nq < nq:  # time only the first nq queries; the truth rows are a prefix too
        nq = a.nq
        xq, truth = xq[:nq], truth[:nq]

    mt = faiss.METRIC_INNER_PRODUCT if a.metric == "ip" else faiss.METRIC_L2
    flat_cls = faiss.IndexFlatIP if a.metric == "ip" else faiss.IndexFlatL2
    if a.kind == "flat":
        index = flat_cls(d)
    else:
        quantizer = flat_cls(d)
        index = faiss.IndexIVFFlat(quantizer, d, a.nlist, mt)
        if a.kmeans_iters:
            index.cp.niter = a.kmeans_iters
        if a.train_per_list:
            index.cp.max_points_per_centroid = a.train_per_list

    t0 = time.perf_counter()
    index.train(xb)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.add(xb)
    add_s = time.perf_counter() - t0

    runs = a.nprobe if a.kind == "ivf" else [None]
    for nprobe in runs:
        if nprobe is not None:
            index.nprobe = nprobe
        search_s, reps, ids = timed_search(index, xq, a)
        rec = recall_at_k(ids, truth, a.k)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        pairs = float(nq) * float(n)
        print(f"RESULT impl=faiss kind={a.kind} metric={a.metric} d={d} n={n} nq={nq} k={a.k} "
              f"nlist={a.nlist if a.kind == 'ivf' else '-'} "
              f"nprobe={nprobe if nprobe is not None else '-'} threads={threads} "
              f"train_s={train_s:.3f} add_s={add_s:.3f} search_s={search_s:.4f} "
              f"ns_per_pair={search_s * 1e9 / pairs if pairs else 0.0:.5g} "
              f"qps={nq / search_s if search_s > 0 else 0.0:.1f} recall={rec:.4f} "
              f"rss_mb={rss_mb:.1f} simd=- reps={reps}", flush=True)


if __name__ == "__main__":
    main()
