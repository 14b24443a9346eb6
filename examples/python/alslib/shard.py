"""The distributed ALS fit's building blocks (libals's als_shard calls, include/als.h).

The ratings are split by user into shards that never move; every iteration the item
factors go to the shards, and each shard's partial item normal equations come back:

    params = ALS(implicitPrefs=True, rank=10, seed=7)   # a parameter holder
    # once: initial factors as a single-process fit draws them (see init_factors)
    U_s = init_factors(params, USERS, rows_of_my_users)             # on each shard
    V = init_factors(params, ITEMS, np.arange(n_items))             # on the driver
    for it in range(max_iter):
        eq = item_equations(params, shard_ratings, U_s)              # on each shard
        # driver: sum eq.A, eq.b, eq.counts into the global item order, sum eq.gram
        V = solve_items(params, A, b, counts, user_gram)             # on the driver
        G = gram(params, V)                                          # implicit only
        _, U_s = solve_users(params, shard_ratings, item_ids, V, G)  # on each shard
    model = ALS(**params.params).set_factors(user_ids, U, item_ids, V)

examples/python/dask_als.py runs this loop on Dask (fit_dask). The parameters come from
an ALS object used as a holder (its parameters, not its factors); the solver must be
cholesky (cg raises AlsError EUNSUPPORTED). Integer ids only.
"""
import collections
import ctypes

import numpy as np

from . import _lib
from ._lib import AlsError, EDIM, EINVAL
from ._ids import int_ids
from .als import ALS, Ratings
from .matrix import Matrix, as_float32_rows

_RANK_KEY = 100  # ALS_PARAM_RANK
USERS = 1  # ALS_SHARD_USERS
ITEMS = 2  # ALS_SHARD_ITEMS

ItemEquations = collections.namedtuple("ItemEquations", "item_ids A b counts gram")
ItemEquations.__doc__ = """A shard's partial item normal equations (item_equations):
item_ids (n,) int64, the shard's items in its own order; A (n, rank (rank + 1) / 2) float64,
each item's k x k matrix as its packed upper triangle (unpack_upper); b (n, rank) float64;
counts (n,) int64 (the n_i of regParam x n_i); gram (rank, rank) float64, X_s^T X_s of the
shard's user factors, or None when not asked for."""


def _holder(params):
    """An open ALS to read parameters from: an ALS itself, or a dict of parameters."""
    if isinstance(params, ALS):
        return params
    if isinstance(params, dict):
        return ALS(**params)
    raise AlsError(EINVAL, "params: an alslib.ALS (used as a parameter holder) or a dict of "
                   "parameters, not %s" % type(params).__name__)


def _rank(h):
    """The rank parameter (what the calls use), whether or not the holder is fitted."""
    v = ctypes.c_int64()
    _lib.check(_lib.als.als_get_int(h.handle, _RANK_KEY, ctypes.byref(v)))
    return v.value


def _ratings(r, what="ratings"):
    if not isinstance(r, Ratings):
        raise AlsError(EINVAL, "%s: an alslib.Ratings, not %s" % (what, type(r).__name__))
    if r.has_user_names or r.has_item_names:
        raise AlsError(EINVAL, "%s: the distributed fit takes integer ids (each shard's names "
                       "would have its own dictionary): map names to global integer ids first"
                       % what)
    return r


def _f64(x, shape, what):
    a = np.require(np.asarray(x, dtype=np.float64), dtype=np.float64,
                   requirements=["C_CONTIGUOUS", "ALIGNED"])
    if a.shape != shape:
        raise AlsError(EDIM, "%s: expected shape %s, got %s" % (what, shape, a.shape))
    return a


def packed_size(rank):
    """Doubles in one packed upper triangle: rank (rank + 1) / 2."""
    return rank * (rank + 1) // 2


def unpack_upper(A, rank):
    """Packed upper triangles (n, rank (rank + 1) / 2) -> full symmetric (n, rank, rank)."""
    A = np.asarray(A)
    iu = np.triu_indices(rank)
    out = np.zeros((A.shape[0], rank, rank), dtype=A.dtype)
    out[:, iu[0], iu[1]] = A
    out[:, iu[1], iu[0]] = A
    return out


def shard_ids(ratings, side):
    """The distinct user (side USERS) or item (ITEMS) ids of a Ratings in its own order,
    order of first appearance: the row order of solve_users and item_equations."""
    h = _ratings(ratings).handle
    n = _lib.check(_lib.als.als_shard_ids(h, int(side), None, 0))
    out = np.empty(n, dtype=np.int64)
    if n:
        _lib.check(_lib.als.als_shard_ids(h, int(side), out.ctypes.data, n))
    return out


def init_factors(params, side, rows):
    """Initial factors (len(rows), rank) float32 exactly as ALS.fit draws them: row i of a
    single-process fit (the i-th distinct user / item of its ratings, in order of first
    appearance) is a function of (seed, side, i) only. rows: those row numbers, e.g.
    offset + arange(n) for the users of a shard that follows shards with `offset` users in
    the concatenation the single-process fit would see."""
    h = _holder(params)
    r = int_ids(rows, "rows")
    out = np.zeros((len(r), _rank(h)), dtype=np.float32)
    with Matrix(out, "out") as m:
        _lib.check(_lib.als.als_shard_init_factors(h.handle, int(side),
                                                   r.ctypes.data if len(r) else None, m.handle))
    return out


def gram(params, factors):
    """F^T F (rank, rank) float64 with ALS.fit's own routine (bit for bit its Gramian for the
    full factors in the fit's row order)."""
    h = _holder(params)
    f = as_float32_rows(factors, "factors")
    out = np.empty((f.shape[1], f.shape[1]), dtype=np.float64)
    with Matrix(f, "factors") as m:
        _lib.check(_lib.als.als_shard_gram(h.handle, m.handle, out.ctypes.data))
    return out


def solve_users(params, ratings, item_ids, item_factors, item_gram=None):
    """Solve a shard's users against fixed item factors, with ALS.fit's own user solve ->
    (user_ids (n,) int64 in the shard's order, factors (n, rank) float32).
    item_factors (m, rank), row j the factor of item_ids[j], must cover the shard's items
    (more are fine). item_gram: V^T V (gram of all item factors) for implicit feedback, or
    None to have it computed from item_factors (then they must be all items, in the fit's
    row order, for the fit's exact Gramian)."""
    h = _holder(params)
    r = _ratings(ratings)
    ids = int_ids(item_ids, "item_ids")
    f = as_float32_rows(item_factors, "item_factors")
    if len(ids) != f.shape[0]:
        raise AlsError(EDIM, "item_ids: %d ids for %d factor rows" % (len(ids), f.shape[0]))
    rank = f.shape[1]
    g = None if item_gram is None else _f64(item_gram, (rank, rank), "item_gram")
    n = r.num_users
    uids = np.empty(n, dtype=np.int64)
    out = np.zeros((n, rank), dtype=np.float32)
    with Matrix(f, "item_factors") as mf, Matrix(out, "user_factors") as mo:
        _lib.check(_lib.als.als_shard_solve_users(
            h.handle, r.handle, ids.ctypes.data if len(ids) else None, mf.handle,
            None if g is None else g.ctypes.data, uids.ctypes.data if n else None, mo.handle))
    return uids, out


def item_equations(params, ratings, user_factors, gram=True):
    """A shard's partial item normal equations from its users' factors (rows in the shard's
    user order) -> ItemEquations(item_ids, A, b, counts, gram). gram=False skips X_s^T X_s
    (explicit feedback does not need it)."""
    h = _holder(params)
    r = _ratings(ratings)
    f = as_float32_rows(user_factors, "user_factors")
    rank = f.shape[1]
    n = r.num_items
    ids = np.empty(n, dtype=np.int64)
    A = np.empty((n, packed_size(rank)), dtype=np.float64)
    b = np.empty((n, rank), dtype=np.float64)
    c = np.empty(n, dtype=np.int64)
    g = np.empty((rank, rank), dtype=np.float64) if gram else None
    with Matrix(f, "user_factors") as mf:
        _lib.check(_lib.als.als_shard_item_equations(
            h.handle, r.handle, mf.handle, ids.ctypes.data if n else None,
            A.ctypes.data if n else None, b.ctypes.data if n else None,
            c.ctypes.data if n else None, None if g is None else g.ctypes.data))
    return ItemEquations(ids, A, b, c, g)


def solve_items(params, A, b, counts, user_gram=None):
    """Solve items from normal equations summed over the shards -> (n, rank) float32.
    A (n, rank (rank + 1) / 2) packed upper triangles, b (n, rank), counts (n,); user_gram
    (rank, rank) = X^T X of all users (the sum of the shards' gram), required for implicit
    feedback."""
    h = _holder(params)
    b = np.asarray(b)
    if b.ndim != 2:
        raise AlsError(EDIM, "b: expected (n, rank), got shape %s" % (b.shape,))
    n, rank = b.shape
    A = _f64(A, (n, packed_size(rank)), "A")
    b = _f64(b, (n, rank), "b")
    c = int_ids(counts, "counts")
    if c.shape != (n,):
        raise AlsError(EDIM, "counts: %d counts for %d items" % (len(c), n))
    g = None if user_gram is None else _f64(user_gram, (rank, rank), "user_gram")
    out = np.zeros((n, rank), dtype=np.float32)
    with Matrix(out, "item_factors") as mo:
        _lib.check(_lib.als.als_shard_solve_items(
            h.handle, n, A.ctypes.data if n else None, b.ctypes.data if n else None,
            c.ctypes.data if n else None, None if g is None else g.ctypes.data, mo.handle))
    return out


__all__ = ["USERS", "ITEMS", "ItemEquations", "shard_ids", "init_factors", "gram",
           "solve_users", "item_equations", "solve_items", "packed_size", "unpack_upper"]
