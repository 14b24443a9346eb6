#!/usr/bin/python3
"""Faiss side of the IVF build benchmark (run_ivfbuild.sh): IndexIVFFlat train + add on the
same .npy files as bench_ivf_build, recall@k at several nprobe, the same RESULT line.

Usage:
  faiss_ivfbuild.py --base B.npy --queries Q.npy --truth T.npy --metric ip|l2 --nlist L
                    [--k 5] [--nprobe 4,8,16,32] [--threads T] [--kmeans-iters 10]
                    [--train-per-list 256] [--seed 1234]

k-means as ours: the given iterations on at most train-per-list points per list, spherical
(normalized centroids) for inner product. The truth file is bench_search's (--write-truth).
Run it with OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE (Faiss's best setting here; the
driver sets them). Exits 3 when `import faiss` fails.
"""
import argparse
import resource
import sys
import time

try:
    import numpy as np
    import faiss
except ImportError as e:
    print(f"faiss_ivfbuild: skipped: {e} (install python3-faiss python3-numpy)", file=sys.stderr)
    sys.exit(3)


def recall_at_k(got, truth, k):
    tot, cnt = 0.0, 0
    for g, t in zip(got, truth[:, :k]):
        t = t[t >= 0]
        if len(t) == 0:
            continue
        tot += len(np.intersect1d(g, t)) / len(t)
        cnt += 1
    return tot / cnt if cnt else 1.0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--metric", required=True, choices=["ip", "l2"])
    p.add_argument("--nlist", required=True, type=int)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--nprobe", default="4,8,16,32")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--kmeans-iters", type=int, default=10)
    p.add_argument("--train-per-list", type=int, default=256)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--label", default="faiss")
    a = p.parse_args()
    if a.threads > 0:
        faiss.omp_set_num_threads(a.threads)
    xb = np.ascontiguousarray(np.load(a.base), dtype=np.float32)
    xq = np.ascontiguousarray(np.load(a.queries), dtype=np.float32)
    truth = np.load(a.truth)
    n, d = xb.shape
    nq = xq.shape[0]
    ip = a.metric == "ip"
    quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, a.nlist,
                               faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2)
    index.cp.niter = a.kmeans_iters
    index.cp.max_points_per_centroid = a.train_per_list
    index.cp.spherical = ip
    index.cp.seed = a.seed
    t0 = time.perf_counter()
    index.train(xb)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.add(xb)
    add_s = time.perf_counter() - t0
    probes = [int(v) for v in a.nprobe.split(",")]
    rec = []
    for npr in probes:
        index.nprobe = npr
        _, ids = index.search(xq, a.k)
        rec.append(recall_at_k(ids, truth, a.k))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"RESULT impl={a.label} metric={a.metric} d={d} n={n} nq={nq} k={a.k} nlist={a.nlist} "
          f"seed={a.seed} iters={a.kmeans_iters} train_per_list={a.train_per_list} "
          f"threads={faiss.omp_get_max_threads()} reps=1 train_s={train_s:.3f} add_s={add_s:.3f} "
          f"build_s={train_s + add_s:.3f} nprobe={','.join(map(str, probes))} "
          f"recall={','.join(f'{r:.4f}' for r in rec)} mismatch=- loss=- "
          f"sim_recall_held=- sim_recall_exact=- rss_mb={rss_mb:.1f}", flush=True)


if __name__ == "__main__":
    main()
