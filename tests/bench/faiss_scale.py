#!/usr/bin/python3
"""Faiss side of the IVF benchmark at scale (run_scale.sh): IndexIVFFlat, inner product, with
an IndexFlatIP quantizer or an IndexHNSWFlat one, built from the same .npy files as
bench_scale within a time budget, then searched at increasing nprobe until recall@k reaches
the target. One RESULT line per step (estimate, build, each search).

Usage:
  faiss_scale.py --base B.npy --queries Q.npy --truth T.npy --nlist L --quantizer flat|hnsw
                 [--hnsw-m 32] [--k 5] [--threads T] [--kmeans-iters 10]
                 [--train-per-list 256] [--seed 1234] [--chunk 1000000] [--budget 900]
                 [--target 0.99] [--nprobe 4,6,8,...] [--flat-search]

Data are read as bench_scale reads them, through numpy memmaps of one chunk at a time (each
unmapped after use, so the peak RSS is Faiss's own, not the file's): training on the
systematic sample rows floor(j N / S), S = min(N, nlist x train-per-list) (Faiss then trains
on all of them: max_points_per_centroid = train-per-list), adds of --chunk rows.

Budget: before building, the cost is estimated from a partial run: the quantizer (flat, or
HNSW over nlist sample points: its build time tb) assigns P = min(S, 100000) sample points
(k = 1, time ta); k-means costs about iters x (tb + ta x S / P) (an iteration is one
assignment of the sample plus, for HNSW, a rebuild of the graph over the new centroids) and
the add ta x N / P. A step whose estimate exceeds --budget seconds is not run: its RESULT
says over_budget with the estimate. A real add that passes the budget is stopped after the
chunk that crosses it and extrapolated linearly (status=over_budget, estimated=partial).

Search: nprobe ascending, one timed search of every query per setting, stop at the first
recall >= target (then one more timed run, the best kept). HNSW: efSearch = 4 x nprobe
(at least 16) while sweeping; at the first nprobe reaching the target, efSearch = 2x and 1x
nprobe are tried too and the fastest that still reaches it is kept. --flat-search (HNSW
only): afterwards the same lists are searched with an IndexFlatIP quantizer holding the same
centroids (Faiss's flat-quantizer search, where its own flat build is over budget).

Run it with OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE (Faiss's best setting here; the
driver sets them). Exits 3 when `import faiss` fails.
"""
import argparse
import os
import resource
import sys
import time

try:
    import numpy as np
    import faiss
except ImportError as e:
    print(f"faiss_scale: skipped: {e} (install python3-faiss python3-numpy)", file=sys.stderr)
    sys.exit(3)


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def npy_layout(path):
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        off = f.tell()
    if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
        sys.exit(f"faiss_scale: {path} is not a 2-D '<f4' C-order .npy file")
    return off, shape


class Rows:
    """Row chunks of a .npy file, each a numpy memmap of its own (unmapped when dropped)."""

    def __init__(self, path):
        self.path = path
        self.off, (self.n, self.d) = npy_layout(path)

    def chunk(self, r0, rn):
        return np.memmap(self.path, dtype=np.float32, mode="r", offset=self.off + r0 * self.d * 4,
                         shape=(rn, self.d))


def train_sample(rows, s, chunk):
    n, d = rows.n, rows.d
    pick = (np.arange(s, dtype=np.int64) * n) // s
    out = np.empty((s, d), dtype=np.float32)
    j = 0
    for r0 in range(0, n, chunk):
        rn = min(chunk, n - r0)
        j1 = int(np.searchsorted(pick, r0 + rn))
        if j1 > j:
            m = rows.chunk(r0, rn)
            out[j:j1] = m[pick[j:j1] - r0]
            del m
        j = j1
        if j >= s:
            break
    return out


def recall_at_k(ids, truth, k):
    t = truth[:, :k]
    hit = (ids[:, :, None] == t[:, None, :]) & (t[:, None, :] >= 0)
    valid = (t >= 0).sum(1)
    ok = valid > 0
    return float((hit.any(1).sum(1)[ok] / valid[ok]).mean()) if ok.any() else 1.0


def make_quantizer(kind, d, m):
    if kind == "flat":
        return faiss.IndexFlatIP(d)
    q = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
    return q


def emit(**kv):
    print("RESULT " + " ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--nlist", required=True, type=int)
    p.add_argument("--quantizer", required=True, choices=["flat", "hnsw"])
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--kmeans-iters", type=int, default=10)
    p.add_argument("--train-per-list", type=int, default=256)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--chunk", type=int, default=1000000)
    p.add_argument("--budget", type=float, default=1200.0)
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--nprobe", default="4,6,8,10,12,14,16,20,24,32,40,48,64,96,128")
    p.add_argument("--flat-search", action="store_true")
    a = p.parse_args()
    if a.threads > 0:
        faiss.omp_set_num_threads(a.threads)
    threads = faiss.omp_get_max_threads()
    rows = Rows(a.base)
    n, d = rows.n, rows.d
    s = min(n, a.nlist * a.train_per_list)
    label = "faiss-" + a.quantizer
    common = dict(impl=label, n=n, d=d, nlist=a.nlist, threads=threads)
    if a.quantizer == "hnsw":
        common["hnsw_m"] = a.hnsw_m

    t0 = time.perf_counter()
    xt = train_sample(rows, s, a.chunk)
    io_s = time.perf_counter() - t0

    # ---- estimate from a partial run ----
    pp = min(s, 100000)
    est_q = make_quantizer(a.quantizer, d, a.hnsw_m)
    cent0 = np.ascontiguousarray(xt[:: max(1, s // a.nlist)][: a.nlist])
    t0 = time.perf_counter()
    est_q.add(cent0)
    tb = time.perf_counter() - t0 if a.quantizer == "hnsw" else 0.0
    probe = np.ascontiguousarray(xt[:: max(1, s // pp)][:pp])
    t0 = time.perf_counter()
    est_q.search(probe, 1)
    ta = time.perf_counter() - t0
    est_train = a.kmeans_iters * (tb + ta * s / len(probe))
    est_add = ta * n / len(probe)
    del est_q
    emit(step="estimate", **common, probe_points=len(probe), quantizer_build_s=f"{tb:.3f}",
         assign_s=f"{ta:.3f}", est_train_s=f"{est_train:.1f}", est_add_s=f"{est_add:.1f}",
         budget_s=f"{a.budget:.0f}")
    over = [name for name, v in (("train", est_train), ("add", est_add)) if v > a.budget]
    if over:
        emit(step="build", **common, status="over_budget", over="+".join(over), estimated="partial_run",
             train_s=f"~{est_train:.0f}", add_s=f"~{est_add:.0f}", build_s=f"~{est_train + est_add:.0f}",
             budget_s=f"{a.budget:.0f}", rss_mb="-", rss_train_mb="-")
        return 0

    # ---- build ----
    quantizer = make_quantizer(a.quantizer, d, a.hnsw_m)
    index = faiss.IndexIVFFlat(quantizer, d, a.nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = a.kmeans_iters
    index.cp.max_points_per_centroid = a.train_per_list
    index.cp.spherical = True
    index.cp.seed = a.seed
    t0 = time.perf_counter()
    index.train(xt)
    train_s = time.perf_counter() - t0
    rss_train = rss_mb()
    del xt
    add_s = 0.0
    status, added = "ok", 0
    for r0 in range(0, n, a.chunk):
        rn = min(a.chunk, n - r0)
        t0 = time.perf_counter()
        m = rows.chunk(r0, rn)
        io_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        index.add(m)
        add_s += time.perf_counter() - t0
        del m
        added += rn
        if add_s > a.budget and added < n:
            status = "over_budget"
            break
    rss = rss_mb()
    vec_ids_mb = n * (d * 4 + 8) / 1048576.0
    if status != "ok":
        est = add_s * n / added
        emit(step="build", **common, status=status, over="add", estimated=f"added_{added}_rows", train_s=f"{train_s:.3f}",
             add_s=f"~{est:.0f}", build_s=f"~{train_s + est:.0f}", budget_s=f"{a.budget:.0f}",
             rss_train_mb=f"{rss_train:.1f}", rss_mb=f"{rss:.1f}")
        return 0
    emit(step="build", **common, status="ok", train_s=f"{train_s:.3f}", add_s=f"{add_s:.3f}",
         build_s=f"{train_s + add_s:.3f}", io_s=f"{io_s:.3f}", budget_s=f"{a.budget:.0f}",
         rss_train_mb=f"{rss_train:.1f}", rss_mb=f"{rss:.1f}", vec_ids_mb=f"{vec_ids_mb:.1f}",
         rss_ratio=f"{rss / vec_ids_mb:.3f}")

    # ---- search ----
    xq = np.ascontiguousarray(np.load(a.queries), dtype=np.float32)
    truth = np.load(a.truth)
    nq = xq.shape[0]
    probes = [int(v) for v in a.nprobe.split(",")]
    hq = faiss.downcast_index(index.quantizer) if a.quantizer == "hnsw" else None

    def run(npr, ef, tag):
        index.nprobe = npr
        if hq is not None:
            hq.hnsw.efSearch = ef
        t0 = time.perf_counter()
        _, ids = index.search(xq, a.k)
        t = time.perf_counter() - t0
        return t, recall_at_k(ids, truth, a.k)

    def sweep(tag, use_ef):
        best = None
        for npr in probes:
            ef = max(16, 4 * npr) if use_ef else 0
            t, r = run(npr, ef, tag)
            reached = r >= a.target
            emit(step="search", **common, quantizer_search=tag, nq=nq, k=a.k, nprobe=npr,
                 ef_search=ef if use_ef else "-", search_s=f"{t:.4f}", qps=f"{nq / t:.1f}",
                 recall=f"{r:.4f}", target=f"{a.target:.4f}", reached=int(reached), rss_mb=f"{rss_mb():.1f}")
            if not reached:
                continue
            best = (t, npr, ef, r)
            if use_ef:  # cheaper efSearch at this nprobe, if it still reaches the target
                for ef2 in sorted({max(16, 2 * npr), max(16, npr)} - {ef}, reverse=True):
                    t2, r2 = run(npr, ef2, tag)
                    ok = r2 >= a.target
                    emit(step="search", **common, quantizer_search=tag, nq=nq, k=a.k, nprobe=npr,
                         ef_search=ef2, search_s=f"{t2:.4f}", qps=f"{nq / t2:.1f}", recall=f"{r2:.4f}",
                         target=f"{a.target:.4f}", reached=int(ok), rss_mb=f"{rss_mb():.1f}")
                    if ok and t2 < best[0]:
                        best = (t2, npr, ef2, r2)
                    if not ok:
                        break
            t3, r3 = run(best[1], best[2], tag)  # a second timed run of the chosen setting
            if t3 < best[0]:
                best = (t3, best[1], best[2], best[3])
            break
        if best is None:
            emit(step="chosen", **common, quantizer_search=tag, nq=nq, k=a.k, reached=0)
        else:
            emit(step="chosen", **common, quantizer_search=tag, nq=nq, k=a.k, nprobe=best[1],
                 ef_search=best[2] if use_ef else "-", search_s=f"{best[0]:.4f}", qps=f"{nq / best[0]:.1f}",
                 recall=f"{best[3]:.4f}", reached=1)

    sweep(a.quantizer, a.quantizer == "hnsw")
    if a.flat_search and a.quantizer == "hnsw":
        cent = index.quantizer.reconstruct_n(0, a.nlist)
        flat_q = faiss.IndexFlatIP(d)
        flat_q.add(cent)
        index.quantizer = flat_q  # Python keeps flat_q (and the HNSW quantizer) alive
        hq = None
        common["impl"] = "faiss-hnsw-lists"
        sweep("flat", False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
