#!/usr/bin/env python3
"""The `implicit` package itself (benfred/implicit 0.7.2) on the ALS training benchmark's data
(see docs/performance.md, "ALS training"; run by tests/bench/run_als.sh).

Not part of libals and not vendored: implicit is imported from a build tree outside the
repository, BENCH_IMPLICIT_DIR (default /work/peer/implicit; tests/bench/setup_implicit.sh
builds it). If `import implicit` fails, prints one line `SKIPPED impl=implicit REASON` and
exits 0.

Model: implicit.cpu.als.AlternatingLeastSquares (the CPU class, Cython + OpenMP; it calls
BLAS/LAPACK through scipy.linalg.cython_blas / cython_lapack, i.e. whatever libblas.so.3 and
liblapack.so.3 SciPy loads: run_als.sh points LD_LIBRARY_PATH at OpenBLAS's directory for
this process only). factors=rank, regularization=reg, iterations=iters, use_cg=(solver=cg),
cg_steps, num_threads=threads, float32, random_state=seed.

Objective mapping. implicit 0.7.2 (cpu/_als.pyx) takes the CSR values d_ui as the confidence
itself (after multiplying them by its `alpha` in fit when alpha != 1):
    A_u = Y^T Y + sum_i (|d_ui| - 1) y_i y_i^T + lambda I,   b_u = sum_{d_ui > 0} d_ui y_i
(regularization not scaled by the count). Ours (libals, Spark's implicit model, regScaling
none) is Hu-Koren-Volinsky with c = 1 + alpha |r|, p = [r > 0]:
    A_u = Y^T Y + sum_i alpha |r_ui| y_i y_i^T + lambda I,   b_u = sum_{r_ui > 0} (1 + alpha r_ui) y_i
so this script passes d_ui = sign(r_ui) (1 + alpha |r_ui|) (zeros dropped) and implicit's
alpha = 1 (no copy in fit). The two then solve the same least-squares problems; `--check`
verifies that on a small problem against a dense per-row solve. Differences that remain:
implicit solves users first, then items (ours: items, then users; the time of an iteration
is both halves either way) and starts from uniform [0, 0.01) factors (ours: unit Gaussian).

Timing: fit(..., callback=cb) with iterations=N in one call; implicit measures each
iteration itself (time.time() around its two solver calls) and passes it to the callback:
that is iter_s (median) and iters_s. setup_s = the rest of fit (the transpose to item x user
CSR and the factor initialization). build_s: reading the file and building the user x item
CSR here (binary files are read in 1 M-row chunks straight into the CSR arrays, so the loader
does not inflate the peak). rss_mb: peak RSS of the process (getrusage ru_maxrss).

The BLAS/LAPACK that implicit's calls land in is found at run time (dladdr of sdot_ and
sposv_ as resolved from the loaded libblas.so.3 / liblapack.so.3, the files mapped in
/proc/self/maps, and threadpoolctl) and printed (stderr and the RESULT fields blas, lapack).

Usage:
  implicit_peer.py --data FILE [--rank R] [--solver cg|cholesky] [--iters N] [--threads T]
                   [--cg-steps S] [--reg L] [--alpha A] [--test TEST.csv --k K] [--label NAME]
  implicit_peer.py --probe    # one line: IMPLICIT version=... blas=... (or SKIPPED ...)
  implicit_peer.py --check    # implicit's solvers vs a dense solve of our objective, tiny problem
FILE: gen_implicit output (binary, see gen_implicit.c) or .csv with a header user,item,count.
Prints one RESULT line with impl=implicit and the fields of bench_als / als_peer.py.
"""
import argparse
import ctypes
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import als_peer  # noqa: E402  (read_triples, dense_ids, precision_at_k, literal_cg_row, add_common_args)

HEADER = 64
REC = als_peer.REC
CHUNK_ROWS = 1 << 20


def log(msg):
    print("implicit_peer: " + msg, file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# ---------------------------------------------------------------- import and BLAS

def import_implicit():
    """(AlternatingLeastSquares class, _als module, implicit module) or raises."""
    d = os.environ.get("BENCH_IMPLICIT_DIR", "/work/peer/implicit")
    if os.path.isdir(d):
        sys.path.insert(0, d)
    import implicit  # noqa: F401
    from implicit.cpu import _als
    from implicit.cpu.als import AlternatingLeastSquares
    return AlternatingLeastSquares, _als, implicit


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _symbol_file(soname, symbol):
    """The file that defines `symbol` as seen from the loaded `soname` (None if not loaded)."""
    try:
        lib = ctypes.CDLL(soname, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        addr = ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value
        libc = ctypes.CDLL(None)
        info = _DlInfo()
        if libc.dladdr(ctypes.c_void_p(addr), ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    except (OSError, AttributeError):
        pass
    return None


def _kind(path):
    if path is None:
        return "none"
    p = path.lower()
    for k in ("openblas", "blis", "mkl", "atlas"):
        if k in p:
            return k
    return "reference"


def blas_report():
    """(blas, lapack, text): short names for the RESULT line and a readable description."""
    bfile = _symbol_file("libblas.so.3", "sdot_")
    lfile = _symbol_file("liblapack.so.3", "sposv_")
    maps = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                name = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(name).lower()
                if any(k in base for k in ("blas", "lapack", "blis", "mkl")) and "scipy" not in name \
                        and "numpy" not in name:
                    maps.add(name)
    except OSError:
        pass
    tp = []
    try:
        import threadpoolctl
        tp = [x for x in threadpoolctl.threadpool_info() if x.get("user_api") == "blas"]
    except Exception:  # threadpoolctl missing or failing: the other evidence stays
        pass
    blas = _kind(bfile)
    if blas == "openblas":
        for x in tp:
            if x.get("internal_api") == "openblas":
                blas = "openblas-%s-%s-%s" % (x.get("version"), x.get("architecture"),
                                              x.get("threading_layer"))
    lapack = _kind(lfile)
    text = ("sdot_ from %s; sposv_ from %s; mapped: %s; threadpoolctl: %s"
            % (bfile, lfile, ", ".join(sorted(maps)) or "-",
               "; ".join("%s %s %s threads=%s" % (x.get("internal_api"), x.get("version"),
                                                  x.get("architecture"), x.get("num_threads"))
                         for x in tp) or "-"))
    return blas, lapack, text


# ---------------------------------------------------------------- data

def confidence(v, alpha):
    """implicit's value for our rating r: sign(r) (1 + alpha |r|) (see the docstring)."""
    v = np.asarray(v, dtype=np.float32)
    return (np.sign(v) * (np.float32(1.0) + np.float32(alpha) * np.abs(v))).astype(np.float32)


def load_binary(path, alpha):
    """gen_implicit binary file -> user x item CSR of confidences, or None if the rows are not
    strictly sorted by (user, item) within the header's ranges (then the generic path runs)."""
    with open(path, "rb") as f:
        h = f.read(HEADER)
        if len(h) != HEADER or h[:8] != b"ALSIMPL1":
            sys.exit("implicit_peer: %s is not a gen_implicit file" % path)
        nu_h = int.from_bytes(h[8:16], "little")
        ni_h = int.from_bytes(h[16:24], "little")
        rows = int.from_bytes(h[32:40], "little")
        if rows >= 2 ** 31:
            return None
        counts = np.zeros(nu_h, dtype=np.int64)
        icounts = np.zeros(ni_h, dtype=np.int64)      # per chunk: bincount makes an int64 copy
        indices = np.empty(rows, dtype=np.int32)
        data = np.empty(rows, dtype=np.float32)
        prev = -1
        for s in range(0, rows, CHUNK_ROWS):
            a = np.fromfile(f, dtype=REC, count=min(CHUNK_ROWS, rows - s))
            n = len(a)
            if n != min(CHUNK_ROWS, rows - s):
                sys.exit("implicit_peer: %s is truncated" % path)
            u, i, c = a["u"], a["i"], a["c"]
            if u.min() < 0 or u.max() >= nu_h or i.min() < 0 or i.max() >= ni_h or (c == 0).any():
                return None
            key = u.astype(np.int64) * ni_h + i
            if key[0] <= prev or (n > 1 and (np.diff(key) <= 0).any()):
                return None
            prev = int(key[-1])
            counts += np.bincount(u, minlength=nu_h)
            icounts += np.bincount(i, minlength=ni_h)
            indices[s:s + n] = i
            data[s:s + n] = confidence(c, alpha)
            del a, u, i, c, key
    present_u = counts > 0
    counts = counts[present_u]                          # drop users without ratings
    indptr = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    present_i = icounts > 0
    if not present_i.all():                             # drop items without ratings
        remap = (np.cumsum(present_i) - 1).astype(np.int32)
        indices = remap[indices]
    m = sp.csr_matrix((data, indices, indptr), shape=(len(counts), int(present_i.sum())))
    return m


def load_generic(path, alpha):
    """(CSR of raw values, CSR of confidences, user ids, item ids): sums duplicate pairs."""
    uid, iid, val = als_peer.read_triples(path)
    urow, uids = als_peer.dense_ids(uid)
    irow, iids = als_peer.dense_ids(iid)
    R = sp.csr_matrix((val, (urow, irow)), shape=(len(uids), len(iids)), dtype=np.float32)
    R.sum_duplicates()
    R.eliminate_zeros()
    C = R.copy()
    C.data = confidence(C.data, alpha)
    return R, C, uids, iids


# ---------------------------------------------------------------- check

def check(_als):
    """implicit's two solvers, on our objective through the value mapping, vs a dense solve."""
    rng = np.random.default_rng(7)
    nu, ni, k, reg, alpha = 300, 40, 8, 0.01, 0.7
    u = rng.integers(0, nu, 3000)
    i = rng.integers(0, ni, 3000)
    v = rng.integers(1, 4, 3000).astype(np.float32)
    v[rng.random(3000) < 0.05] *= -1                    # a few negative ratings too
    R = sp.coo_matrix((v, (u, i)), shape=(nu, ni)).tocsr()
    R.sum_duplicates()
    R.eliminate_zeros()
    C = R.copy()
    C.data = confidence(C.data, alpha)
    X0 = als_peer.init_factors(nu, k, 1)
    Y = als_peer.init_factors(ni, k, 2)
    Yd = Y.astype(np.float64)
    G = Yd.T @ Yd + reg * np.eye(k)
    ref = np.zeros((nu, k))
    for row in range(nu):
        s, e = R.indptr[row], R.indptr[row + 1]
        idx, r = R.indices[s:e], R.data[s:e].astype(np.float64)
        if e == s:
            continue
        A = G + (Yd[idx].T * (alpha * np.abs(r))) @ Yd[idx]
        b = (((1 + alpha * r) * (r > 0))[:, None] * Yd[idx]).sum(0)
        ref[row] = np.linalg.solve(A, b)
    ok = True
    scale = np.abs(ref).max()
    for threads in (1, 2):
        X = X0.copy()
        _als.least_squares(C, X, Y, reg, num_threads=threads)
        err = np.abs(X - ref).max() / scale
        log("check threads=%d: implicit least_squares (cholesky) vs dense solve of ours: "
            "max rel err %.2e" % (threads, err))
        ok &= err < 1e-4
        X = X0.copy()
        _als.least_squares_cg(C, X, Y, reg, num_threads=threads, cg_steps=3 * k)
        err = np.abs(X - ref).max() / scale
        log("check threads=%d: implicit least_squares_cg (%d steps) vs dense solve: max rel err %.2e"
            % (threads, 3 * k, err))
        ok &= err < 1e-3
    # 3 steps: the same iterates as our literal transcription of implicit's loop (positive r)
    Rp = abs(R)
    Cp = Rp.copy()
    Cp.data = confidence(Cp.data, alpha)
    X = X0.copy()
    _als.least_squares_cg(Cp, X, Y, reg, num_threads=2, cg_steps=3)
    lit = np.array([als_peer.literal_cg_row(X0[row], Rp.indices[Rp.indptr[row]:Rp.indptr[row + 1]],
                                            Rp.data[Rp.indptr[row]:Rp.indptr[row + 1]], Y, G, alpha, 3)
                    for row in range(nu)])
    err = np.abs(X - lit).max() / np.abs(lit).max()
    log("check: implicit least_squares_cg 3 steps vs als_peer.literal_cg_row: max rel err %.2e" % err)
    ok &= err < 1e-3
    log("check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    als_peer.add_common_args(ap)
    ap.add_argument("--probe", action="store_true", help="print version and BLAS, then exit")
    ap.add_argument("--check", action="store_true", help="solver checks on a tiny problem")
    a = ap.parse_args()

    try:
        ALS, _als, implicit = import_implicit()
    except Exception as e:  # ImportError, or a broken build (undefined symbol, ...)
        reason = ("import implicit failed (BENCH_IMPLICIT_DIR=%s): %s: %s"
                  % (os.environ.get("BENCH_IMPLICIT_DIR", "/work/peer/implicit"),
                     type(e).__name__, str(e).replace("\n", " ")))
        log("SKIPPED: " + reason)
        print("SKIPPED impl=implicit " + reason, flush=True)
        return 0
    version = getattr(implicit, "__version__", "?")
    where = os.path.dirname(os.path.abspath(implicit.__file__))
    blas, lapack, blas_text = blas_report()
    log("implicit %s from %s; BLAS %s, LAPACK %s (%s)" % (version, where, blas, lapack, blas_text))
    if version != "0.7.2":
        log("warning: implicit %s, not 0.7.2" % version)
    if a.probe:
        print("IMPLICIT version=%s path=%s blas=%s lapack=%s" % (version, where, blas, lapack))
        return 0
    if a.check:
        return check(_als)
    if not a.data:
        ap.error("--data is required")
    threads = a.threads or os.cpu_count()

    t0 = time.perf_counter()
    train_raw = None
    C = None if (a.test or a.data.endswith(".csv")) else load_binary(a.data, a.alpha)
    if C is None:
        train_raw, C, uids, iids = load_generic(a.data, a.alpha)
        if not a.test:
            train_raw = None
    build_s = time.perf_counter() - t0
    nu, ni = C.shape
    nnz = C.nnz
    rss_build = peak_rss_mb()
    log("%d rows, %d users, %d items loaded in %.2f s (peak RSS so far %.0f MB)"
        % (nnz, nu, ni, build_s, rss_build))

    model = ALS(factors=a.rank, regularization=a.reg, alpha=1.0, dtype=np.float32,
                use_cg=(a.solver == "cg"), iterations=a.iters, calculate_training_loss=False,
                num_threads=threads, random_state=a.seed)
    model.cg_steps = a.cg_steps
    per = []

    def cb(iteration, elapsed, _loss):
        per.append(elapsed)
        log("iteration %d/%d: %.3f s" % (iteration + 1, a.iters, elapsed))

    f0 = time.perf_counter()
    model.fit(C, show_progress=False, callback=cb)
    fit_s = time.perf_counter() - f0
    U, V = model.user_factors, model.item_factors
    if len(per) != a.iters:
        sys.exit("implicit_peer: %d iteration callbacks, expected %d" % (len(per), a.iters))
    if not (np.isfinite(U).all() and np.isfinite(V).all()):
        sys.exit("implicit_peer: factors are NaN/Inf after fit")
    setup_s = fit_s - sum(per)

    quality = ""
    if a.test:
        tu, ti, _ = als_peer.read_triples(a.test)
        umap = {int(x): j for j, x in enumerate(uids)}
        imap = {int(x): j for j, x in enumerate(iids)}
        tu = np.array([umap.get(int(x), -1) for x in tu], dtype=np.int64)
        ti = np.array([imap.get(int(x), -1) for x in ti], dtype=np.int64)
        p, r, n_eval = als_peer.precision_at_k(U, V, train_raw, tu, ti, a.k)
        quality = " k=%d precision=%.4f recall=%.4f eval_users=%d" % (a.k, p, r, n_eval)

    csr_csc_mb = (nnz * (4 + 4) * 2 + (nu + ni + 2) * 8) / 2.0 ** 20
    print("RESULT impl=implicit data=%s rank=%d solver=%s cg_steps=%d reg=%g alpha=%g threads=%d "
          "users=%d items=%d nnz=%d iters=%d iter_s=%.3f iters_s=%s build_s=%.2f setup_s=%.2f "
          "fit_s=%.2f rss_mb=%.0f rss_build_mb=%.0f csr_csc_mb=%.0f version=%s blas=%s lapack=%s "
          "timing=callback%s"
          % (a.label, a.rank, a.solver, a.cg_steps, a.reg, a.alpha, threads, nu, ni, nnz,
             len(per), float(np.median(per)), ",".join("%.3f" % x for x in per), build_s,
             setup_s, fit_s, peak_rss_mb(), rss_build, csr_csc_mb, version, blas, lapack,
             quality), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
