#!/usr/bin/env python3
"""NumPy/SciPy peer for the ALS training benchmark (see docs/performance.md, "ALS training").

This is OUR port of the algorithm of the `implicit` package (implicit ALS, conjugate
gradient, warm start, cg_steps steps per half-iteration), batched over all rows with sparse
matrix operations, float32. It is not the `implicit` package itself (not installable here).

Same semantics as libals with implicitPrefs=1, regScaling none (Spark's implicit model):
for every row u with ratings r_ui against the fixed factors Y,
    A_u = Y^T Y + sum_i alpha |r_ui| y_i y_i^T + lambda I,   b_u = sum_{r_ui > 0} (1 + alpha r_ui) y_i
and x_u is refined from its previous value by `cg_steps` conjugate-gradient steps on
A_u x = b_u (implicit's least_squares_cg, vectorized: the per-row scalars are arrays).
Items are solved first, then users, in each iteration (as in libals / Spark).

The A_u p products for all rows at once: P G (G = Y^T Y + lambda I) plus S Y, where S is
the sparse ratings matrix whose value at (u, i) is alpha |r_ui| (p_u . y_i). The dot
products over the nonzeros are computed in chunks of nonzeros by gathering the rows of P
and Y (einsum row-wise), then S Y is one sparse-dense product per chunk. The first residual
b - A x is fused into the same pass (values (1 + alpha r) [r > 0] - alpha |r| (x_u . y_i)).
Chunks run on a thread pool (NumPy's gathers/einsum and SciPy's sparse products release the
GIL); set OPENBLAS_NUM_THREADS=1 so the dense products do not oversubscribe.

--solver cholesky: the exact solve (float64 Cholesky, vectorized over the rows): A_u is built
as G + W Z with Z_i = the packed upper triangle of y_i y_i^T (a sparse-dense product);
memory O(rows of Y x k^2) and time O(rows x k^3) in NumPy steps, so only for small ranks.

Usage:
  als_peer.py --data FILE [--rank R] [--solver cg|cholesky] [--iters N] [--threads T]
              [--cg-steps S] [--reg L] [--alpha A] [--chunk NNZ] [--test TEST.csv --k K]
              [--label NAME]
  als_peer.py --check        # sanity checks on a tiny problem, then exit

FILE: gen_implicit output: binary (64-byte header "ALSIMPL1", then int32 user, int32 item,
float32 count) or .csv with a header line user,item,count. Prints one RESULT line with
impl=numpy and the fields of bench_als (iter_s = median seconds per iteration).
"""
import argparse
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

HEADER = 64
REC = np.dtype([("u", "<i4"), ("i", "<i4"), ("c", "<f4")])


def log(msg):
    print("als_peer: " + msg, file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# ---------------------------------------------------------------- data

def read_triples(path):
    """(user ids, item ids, values) as int64/int64/float32 arrays."""
    if path.endswith(".csv"):
        a = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].astype(np.float32)
    with open(path, "rb") as f:
        h = f.read(HEADER)
    if len(h) != HEADER or h[:8] != b"ALSIMPL1":
        sys.exit("als_peer: %s is not a gen_implicit file" % path)
    rows = int.from_bytes(h[32:40], "little")
    a = np.fromfile(path, dtype=REC, count=rows, offset=HEADER)
    if len(a) != rows:
        sys.exit("als_peer: %s is truncated" % path)
    return a["u"], a["i"], a["c"]


def dense_ids(ids):
    """Map ids to 0..n-1 (sorted order); returns (rows, id of each row)."""
    ids = np.asarray(ids)
    if ids.size and ids.min() >= 0 and ids.max() < 4 * ids.size + 1024:
        present = np.bincount(ids) > 0          # O(n), no sort: the usual case here
        uniq = np.flatnonzero(present)
        remap = np.cumsum(present, dtype=np.int64) - 1
        return remap[ids].astype(np.int32), uniq
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.astype(np.int32), uniq


class Side:
    """One orientation of the ratings (CSR by the rows being solved) plus what the
    half-step needs per nonzero: the row of each nonzero and the two weights."""

    def __init__(self, m, alpha, chunk):
        m = m.tocsr()
        m.sort_indices()
        self.n, self.ncols = m.shape
        self.indptr = m.indptr.astype(np.int64)
        self.indices = m.indices.astype(np.int32)
        v = m.data.astype(np.float32)
        self.w = (alpha * np.abs(v)).astype(np.float32)                       # alpha |r|
        self.bw = np.where(v > 0, 1.0 + alpha * v, 0.0).astype(np.float32)   # (1+alpha r)[r>0]
        self.rows = np.repeat(np.arange(self.n, dtype=np.int32), np.diff(self.indptr))
        self.nnz = len(v)
        # chunks of about `chunk` nonzeros (a long row may span several chunks)
        starts = list(range(0, self.nnz, chunk)) or [0]
        self.chunks = [(s, min(s + chunk, self.nnz)) for s in starts]
        self.chunk = chunk


# ---------------------------------------------------------------- kernels

class Solver:
    def __init__(self, threads, rank):
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.rank = rank
        self.local = threading.local()

    def map(self, fn, items):
        if self.pool is None:
            return [fn(x) for x in items]
        return list(self.pool.map(fn, items))

    def _buffers(self, chunk, k):
        """Per-thread gather buffers, reused across chunks (fresh multi-MB arrays per chunk
        would cost a page fault per 4 KiB)."""
        b = getattr(self.local, "b", None)
        if b is None or b[0].shape != (chunk, k):
            b = (np.empty((chunk, k), np.float32), np.empty((chunk, k), np.float32),
                 np.empty(chunk, np.float32))
            self.local.b = b
        return b

    def sparse_pass(self, side, Y, P, coef):
        """sum_i v_ui y_i for every row u, where v_ui = coef(s, e, dots) for the nonzeros
        s..e (dots = p_u . y_i of those nonzeros, None if P is None)."""
        k = Y.shape[1]
        out = np.zeros((side.n, k), dtype=np.float32)

        def one(se):
            s, e = se
            if e <= s:
                return None
            rows = side.rows[s:e]
            cols = side.indices[s:e]
            d = None
            if P is not None:
                bx, by, bd = self._buffers(side.chunk, k)
                m = e - s
                np.take(P, rows, axis=0, out=bx[:m], mode="clip")
                np.take(Y, cols, axis=0, out=by[:m], mode="clip")
                d = np.einsum("ij,ij->i", bx[:m], by[:m], out=bd[:m])
            vals = coef(s, e, d)
            r0, r1 = int(rows[0]), int(rows[-1]) + 1
            ptr = np.clip(side.indptr[r0:r1 + 1], s, e) - s
            S = sp.csr_matrix((vals, cols, ptr), shape=(r1 - r0, side.ncols))
            return r0, r1, S @ Y

        for res in self.map(one, side.chunks):
            if res is not None:
                r0, r1, part = res
                out[r0:r1] += part
        return out

    def dense(self, P, G):
        """P @ G in row blocks on the pool (BLAS single-threaded)."""
        n = P.shape[0]
        if self.pool is None or n < 4096:
            return P @ G
        out = np.empty((n, G.shape[1]), dtype=np.float32)
        step = -(-n // (4 * self.threads))

        def one(a):
            np.matmul(P[a:a + step], G, out=out[a:a + step])

        self.map(one, range(0, n, step))
        return out

    def half_cg(self, side, X, Y, reg, steps):
        """Refine X (side.n x k, in place) by `steps` CG steps against the fixed Y."""
        k = Y.shape[1]
        G = (Y.T @ Y + reg * np.eye(k, dtype=np.float32)).astype(np.float32)
        # r = b - A x, fused: v = (1+alpha r)[r>0] - alpha|r| (x.y), then sum v y - X G
        r = self.sparse_pass(side, Y, X, lambda s, e, d: side.bw[s:e] - side.w[s:e] * d)
        r -= self.dense(X, G)
        p = r.copy()
        rsold = np.einsum("ij,ij->i", r, r)
        active = rsold >= 1e-20
        for _ in range(steps):
            Ap = self.sparse_pass(side, Y, p, lambda s, e, d: side.w[s:e] * d)
            Ap += self.dense(p, G)
            pAp = np.einsum("ij,ij->i", p, Ap)
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(active, rsold / pAp, 0.0).astype(np.float32)
            X += a[:, None] * p
            r -= a[:, None] * Ap
            rsnew = np.einsum("ij,ij->i", r, r)
            active &= rsnew >= 1e-20
            with np.errstate(divide="ignore", invalid="ignore"):
                beta = np.where(active, rsnew / rsold, 0.0).astype(np.float32)
            p = r + beta[:, None] * p
            rsold = rsnew
            if not active.any():
                break
        return X

    def half_exact(self, side, X, Y, reg):
        """Exact solve of every row (float64), A_u = G + W Z (packed y y^T per column)."""
        k = Y.shape[1]
        iu = np.triu_indices(k)
        Yd = Y.astype(np.float64)
        G = Yd.T @ Yd + reg * np.eye(k)
        Z = (Yd[:, iu[0]] * Yd[:, iu[1]])                       # ncols x k(k+1)/2
        W = sp.csr_matrix((side.w.astype(np.float64), side.indices, side.indptr),
                          shape=(side.n, side.ncols))
        B = sp.csr_matrix((side.bw.astype(np.float64), side.indices, side.indptr),
                          shape=(side.n, side.ncols)) @ Yd
        step = max(1, (1 << 22) // (k * k))

        def one(a):
            b_ = min(a + step, side.n)
            packed = W[a:b_] @ Z
            A = np.empty((b_ - a, k, k))
            A[:, iu[0], iu[1]] = packed
            A[:, iu[1], iu[0]] = packed
            A += G
            X[a:b_] = chol_solve(A, B[a:b_])

        self.map(one, range(0, side.n, step))
        # rows without usable ratings get zero (as libals): none here, ids are compacted
        return X


def chol_solve(A, b):
    """Solve A_n x_n = b_n for a batch of SPD matrices (n, k, k), float64: a Cholesky
    factorization vectorized over the batch (one NumPy operation per column). np.linalg.solve
    is far slower here for small k (LAPACK per matrix through this machine's BLIS)."""
    n, k = b.shape
    L = np.zeros_like(A)
    for j in range(k):
        lj = L[:, j, :j]
        d = np.sqrt(A[:, j, j] - np.einsum("nk,nk->n", lj, lj))
        L[:, j, j] = d
        if j + 1 < k:
            L[:, j + 1:, j] = (A[:, j + 1:, j] - np.einsum("nik,nk->ni", L[:, j + 1:, :j], lj)) / d[:, None]
    y = np.empty((n, k))
    for j in range(k):
        y[:, j] = (b[:, j] - np.einsum("nk,nk->n", L[:, j, :j], y[:, :j])) / L[:, j, j]
    x = np.empty((n, k))
    for j in reversed(range(k)):
        x[:, j] = (y[:, j] - np.einsum("nk,nk->n", L[:, j + 1:, j], x[:, j + 1:])) / L[:, j, j]
    return x


def init_factors(n, k, seed):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, k), dtype=np.float32)
    F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    return F


# ---------------------------------------------------------------- evaluation

def precision_at_k(U, V, train, test_u, test_i, k):
    """als_eval_ranking's precision/recall@k: users with a factor and >= 1 test item;
    training items excluded; unknown test items count as misses. train: CSR users x items
    (model rows); test_u/test_i: model rows, item -1 = unknown to the model."""
    ok = test_u >= 0
    test_u, test_i = test_u[ok], test_i[ok]
    order = np.argsort(test_u, kind="stable")
    test_u, test_i = test_u[order], test_i[order]
    bounds = np.flatnonzero(np.diff(np.r_[-1, test_u, -2]))  # group starts
    prec = rec = 0.0
    users = 0
    for g in range(len(bounds) - 1):
        s, e = bounds[g], bounds[g + 1]
        u = test_u[s]
        tr = train.indices[train.indptr[u]:train.indptr[u + 1]]
        its = test_i[s:e]
        known = np.unique(its[its >= 0])
        known = known[~np.isin(known, tr)]
        distinct = int(np.count_nonzero(its < 0)) + len(known)
        if distinct == 0:
            continue
        sc = V @ U[u]
        sc[tr] = -np.inf
        kk = min(k, len(sc))
        top = np.argpartition(-sc, kk - 1)[:kk]
        hits = np.count_nonzero(np.isin(top, known))
        prec += hits / k
        rec += hits / min(k, distinct)
        users += 1
    return (prec / users if users else 0.0), (rec / users if users else 0.0), users


# ---------------------------------------------------------------- check

def literal_cg_row(x, idx, r_vals, Y, G, alpha, steps):
    """implicit's least_squares_cg for one row, transcribed literally (conf = 1 + alpha r)."""
    x = x.astype(np.float64).copy()
    Y = Y.astype(np.float64)
    r = -G @ x
    for i, v in zip(idx, r_vals):
        c = 1.0 + alpha * v
        r += (c - (c - 1.0) * (Y[i] @ x)) * Y[i]
    p = r.copy()
    rsold = r @ r
    if rsold < 1e-20:
        return x
    for _ in range(steps):
        Ap = G @ p
        for i, v in zip(idx, r_vals):
            Ap += alpha * v * (Y[i] @ p) * Y[i]
        a = rsold / (p @ Ap)
        x += a * p
        r -= a * Ap
        rsnew = r @ r
        if rsnew < 1e-20:
            break
        p = r + rsnew / rsold * p
        rsold = rsnew
    return x


def check():
    rng = np.random.default_rng(7)
    nu, ni, k, reg, alpha = 300, 40, 8, 0.01, 1.0
    u = rng.integers(0, nu, 3000)
    i = rng.integers(0, ni, 3000)
    v = rng.integers(1, 4, 3000).astype(np.float32)
    R = sp.coo_matrix((v, (u, i)), shape=(nu, ni)).tocsr()   # duplicates summed
    R.eliminate_zeros()
    X0 = init_factors(nu, k, 1)
    Y = init_factors(ni, k, 2)
    side = Side(R, alpha, chunk=777)   # small chunks: rows split across chunks
    ok = True
    # dense reference for every row
    Yd = Y.astype(np.float64)
    G = Yd.T @ Yd + reg * np.eye(k)
    ref = np.zeros((nu, k))
    for row in range(nu):
        s, e = side.indptr[row], side.indptr[row + 1]
        idx, vals = side.indices[s:e], R.data[s:e].astype(np.float64)
        A = G + (Yd[idx].T * (alpha * vals)) @ Yd[idx]
        b = ((1 + alpha * vals)[:, None] * Yd[idx]).sum(0)
        ref[row] = np.linalg.solve(A, b)
    for threads in (1, 2):
        sol = Solver(threads, k)
        # CG with as many steps as the rank: converged, must equal the dense solve
        Xc = sol.half_cg(side, X0.copy(), Y, reg, steps=3 * k)
        err = np.abs(Xc - ref).max() / np.abs(ref).max()
        log("check threads=%d: CG %d steps vs dense solve: max rel err %.2e" % (threads, 3 * k, err))
        ok &= err < 1e-3
        Xe = sol.half_exact(side, X0.copy(), Y, reg)
        err = np.abs(Xe - ref).max() / np.abs(ref).max()
        log("check threads=%d: exact (cholesky) solver vs dense solve: max rel err %.2e" % (threads, err))
        ok &= err < 1e-5
        # 3 steps: must equal implicit's per-row CG loop
        X3 = sol.half_cg(side, X0.copy(), Y, reg, steps=3)
        lit = np.array([literal_cg_row(X0[row], side.indices[side.indptr[row]:side.indptr[row + 1]],
                                       R.data[side.indptr[row]:side.indptr[row + 1]], Y, G, alpha, 3)
                        for row in range(nu)])
        err = np.abs(X3 - lit).max() / np.abs(lit).max()
        log("check threads=%d: batched CG 3 steps vs implicit's per-row CG loop: max rel err %.2e"
            % (threads, err))
        ok &= err < 1e-3
        dist = np.abs(X3 - ref).max() / np.abs(ref).max()
        log("check threads=%d: (CG 3 steps from a random start is %.2e from the exact solve)"
            % (threads, dist))
    log("check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------- main

def add_common_args(ap):
    """The options this port and implicit_peer.py share (bench_als's, same meanings)."""
    ap.add_argument("--data")
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--solver", choices=["cg", "cholesky"], default="cg")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--cg-steps", type=int, default=3)
    ap.add_argument("--reg", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--test")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--label", default="-")
    ap.add_argument("--seed", type=int, default=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(ap)
    ap.add_argument("--chunk", type=int, default=1 << 16, help="nonzeros per chunk")
    ap.add_argument("--check", action="store_true", help="sanity checks on a tiny problem")
    a = ap.parse_args()
    if a.check:
        return check()
    if not a.data:
        ap.error("--data is required")
    threads = a.threads or os.cpu_count()

    t0 = time.perf_counter()
    uid, iid, val = read_triples(a.data)
    urow, uids = dense_ids(uid)
    irow, iids = dense_ids(iid)
    del uid, iid
    nu, ni = len(uids), len(iids)
    R = sp.csr_matrix((val, (urow, irow)), shape=(nu, ni), dtype=np.float32)  # sums duplicates
    del urow, irow, val
    by_user = Side(R, a.alpha, a.chunk)
    by_item = Side(R.T, a.alpha, a.chunk)
    train_csr = R if a.test else None
    del R
    build_s = time.perf_counter() - t0
    nnz = by_user.nnz
    rss_build = peak_rss_mb()
    log("%d rows, %d users, %d items loaded in %.2f s (peak RSS so far %.0f MB)"
        % (nnz, nu, ni, build_s, rss_build))

    sol = Solver(threads, a.rank)
    f0 = time.perf_counter()
    U = init_factors(nu, a.rank, a.seed * 2 + 1)
    V = init_factors(ni, a.rank, a.seed * 2 + 2)
    per = []
    setup_s = time.perf_counter() - f0
    for it in range(1, a.iters + 1):
        s0 = time.perf_counter()
        if a.solver == "cg":
            sol.half_cg(by_item, V, U, a.reg, a.cg_steps)
            sol.half_cg(by_user, U, V, a.reg, a.cg_steps)
        else:
            sol.half_exact(by_item, V, U, a.reg)
            sol.half_exact(by_user, U, V, a.reg)
        if not (np.isfinite(U).all() and np.isfinite(V).all()):
            sys.exit("als_peer: factors became NaN/Inf at iteration %d" % it)
        per.append(time.perf_counter() - s0)
        log("iteration %d/%d: %.3f s" % (it, a.iters, per[-1]))
    fit_s = time.perf_counter() - f0

    quality = ""
    if a.test:
        tu, ti, _ = read_triples(a.test)
        umap = {int(x): j for j, x in enumerate(uids)}
        imap = {int(x): j for j, x in enumerate(iids)}
        tu = np.array([umap.get(int(x), -1) for x in tu], dtype=np.int64)
        ti = np.array([imap.get(int(x), -1) for x in ti], dtype=np.int64)
        p, r, n_eval = precision_at_k(U, V, train_csr, tu, ti, a.k)
        quality = " k=%d precision=%.4f recall=%.4f eval_users=%d" % (a.k, p, r, n_eval)

    csr_csc_mb = (nnz * (4 + 4) * 2 + (nu + ni + 2) * 8) / 2.0 ** 20
    print("RESULT impl=numpy data=%s rank=%d solver=%s cg_steps=%d reg=%g alpha=%g threads=%d "
          "users=%d items=%d nnz=%d iters=%d iter_s=%.3f iters_s=%s build_s=%.2f setup_s=%.2f "
          "fit_s=%.2f rss_mb=%.0f rss_build_mb=%.0f csr_csc_mb=%.0f%s"
          % (a.label, a.rank, a.solver, a.cg_steps, a.reg, a.alpha, threads, nu, ni, nnz,
             len(per), float(np.median(per)), ",".join("%.3f" % x for x in per), build_s,
             setup_s, fit_s, peak_rss_mb(), rss_build, csr_csc_mb, quality), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
