"""Sharded exact search with Dask: split the candidates into S shards, build one index per
shard in Dask worker processes, search every shard for the seeds, and merge the per-shard
top-k into the global top-k.

The merge is exact: every global top-k result is in the top-k of its own shard, and the
library orders equal scores by smaller id, which merge_topk repeats. So with flat shards
the result equals one flat index over all candidates (see tests/test_dask_shards.py).

    PYTHONPATH=examples/python ALSLIB_PATH=$PWD/lib \\
        /usr/bin/python3 examples/python/dask_shards.py --n 100000 --dim 32 --shards 4

Needs Debian's python3-distributed (LocalCluster of processes). docs/scale-out.md shows
the same pattern under PySpark.
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def search_shard(vectors, ids, seeds, k, metric="ip", exclude=None, nlist=0, nprobe=1):
    """Run in a worker: build a flat (nlist=0) or IVF index over one shard and search it.
    Returns (scores, ids), both nq x k; the index lives only for this task."""
    import alslib
    if nlist:
        idx = alslib.IVFIndex(vectors.shape[1], nlist, metric, nprobe=nprobe).train(vectors)
    else:
        idx = alslib.FlatIndex(vectors.shape[1], metric)
    with idx:
        idx.add(vectors, ids)
        return idx.search(seeds, k, exclude=exclude)


def merge_topk(parts, k, metric="ip"):
    """Merge per-shard (scores, ids) pairs into the global top-k, best first, ties by
    smaller id (the library's order). Padding (id -1) sorts last."""
    scores = np.concatenate([p[0] for p in parts], axis=1)
    ids = np.concatenate([p[1] for p in parts], axis=1)
    key = -scores.astype(np.float64) if metric == "ip" else scores.astype(np.float64)
    pad = ids == -1
    key = np.where(pad, np.inf, key)
    out_s = np.empty((scores.shape[0], k), dtype=scores.dtype)
    out_i = np.empty((scores.shape[0], k), dtype=np.int64)
    for r in range(scores.shape[0]):
        order = np.lexsort((ids[r], pad[r], key[r]))[:k]
        out_s[r], out_i[r] = scores[r, order], ids[r, order]
    return out_s, out_i


def start_cluster(n_workers):
    """A LocalCluster of worker processes that can import alslib and this module."""
    from distributed import Client, LocalCluster
    path = os.environ.get("PYTHONPATH", "")
    if HERE not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = HERE + (os.pathsep + path if path else "")
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster)


def sharded_search(client, vectors, ids, seeds, k, shards, metric="ip", exclude=None,
                   nlist=0, nprobe=1):
    """Split (vectors, ids) into `shards` parts, search each in a worker, merge."""
    parts_v = np.array_split(vectors, shards)
    parts_i = np.array_split(np.asarray(ids, dtype=np.int64), shards)
    # hash=False: fresh keys per call, so a later call never races the release of these
    seeds_f = client.scatter(seeds, broadcast=True, hash=False)
    vec_f = client.scatter(parts_v, hash=False)
    ids_f = client.scatter(parts_i, hash=False)
    futures = [client.submit(search_shard, v, i, seeds_f, k, metric, exclude, nlist, nprobe,
                             pure=False)
               for v, i in zip(vec_f, ids_f)]
    return merge_topk(client.gather(futures), k, metric)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--metric", default="ip", choices=["ip", "l2"])
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((a.n, a.dim)).astype(np.float32)
    ids = np.arange(a.n, dtype=np.int64)
    seed_ids = rng.choice(a.n, a.seeds, replace=False)
    client = start_cluster(min(a.shards, os.cpu_count() or 1))
    try:
        t = time.time()
        s, i = sharded_search(client, vectors, ids, vectors[seed_ids], a.k, a.shards,
                              a.metric, exclude=seed_ids)
        print("sharded search: %d shards, %d seeds, k=%d: %.2f s" % (a.shards, a.seeds, a.k,
                                                                     time.time() - t))
        print("seed %d -> %s" % (seed_ids[0], i[0].tolist()))
    finally:
        client.close()
        client.cluster.close()


if __name__ == "__main__":
    main()
