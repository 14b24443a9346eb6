"""FlatIndex / IVFIndex: exact and IVF-flat vector search (libvecidx)."""
import ctypes

import numpy as np

from . import _lib
from ._lib import AlsError, EDIM, EINVAL, ERANGE
from ._ids import int_arg as _int_arg, int_ids, out_array
from .matrix import as_matrix

METRICS = {"ip": 0, "l2": 1}
AGGS = {"max": 0, "sum": 1, "mean": 2}
PARAMS = {"nprobe": 100, "seed": 300, "kmeans_iters": 301, "train_per_list": 302,
          "num_threads": 900, "simd": 901}


def _metric(metric):
    if isinstance(metric, str):
        if metric.lower() not in METRICS:
            raise AlsError(EINVAL, "unknown metric %r (use 'ip' or 'l2')" % metric)
        return METRICS[metric.lower()]
    return _int_arg(metric, "metric")  # an int goes to the library, which rejects unknown values


def _close_all(objs):
    for o in objs:
        o.close()


class _Filter(_lib.Handle):
    _what = "filter"
    _destroy_fn = _lib.vec.vecidx_filter_destroy

    def __init__(self, ids, mode):
        a = int_ids(ids, "exclude" if mode == 0 else "include")
        h = ctypes.c_void_p()
        _lib.check(_lib.vec.vecidx_filter_create(ctypes.byref(h), a.ctypes.data if a.size
                                                 else None, a.shape[0], mode))
        self._own(h)


def _filter(exclude, include):
    if exclude is not None and include is not None:
        raise AlsError(EINVAL, "give exclude or include, not both")
    if exclude is not None:
        return _Filter(exclude, 0)
    if include is not None:
        return _Filter(include, 1)
    return None


class Index(_lib.Handle):
    """Common part of FlatIndex and IVFIndex; load() returns the right one.

    Results: search() and expand() return (scores, ids), Faiss's order, best first (IP:
    larger score first; L2: smaller distance first), equal scores by smaller id.
    Every id argument (ids, exclude, include) must hold integers: see alslib._ids for
    what is refused (1.5, NaN, bools, uint64 >= 2^63, strings...)."""

    _what = "index"
    _destroy_fn = _lib.vec.vecidx_destroy

    dim = property(lambda self: _lib.vec.vecidx_dim(self.handle))
    metric = property(lambda self: {0: "ip", 1: "l2"}[_lib.vec.vecidx_metric(self.handle)])
    nlist = property(lambda self: _lib.vec.vecidx_nlist(self.handle))
    is_trained = property(lambda self: bool(_lib.vec.vecidx_is_trained(self.handle)))

    def __len__(self):
        return _lib.vec.vecidx_size(self.handle)

    def set_param(self, name, value):
        """Set a VECIDX_PARAM_* by name (nprobe, seed, kmeans_iters, train_per_list,
        num_threads, simd) or by its integer key."""
        _lib.check(_lib.vec.vecidx_set_int(self.handle, self._key(name), _int_arg(value, name)))
        return self

    def get_param(self, name):
        v = ctypes.c_int64()
        _lib.check(_lib.vec.vecidx_get_int(self.handle, self._key(name), ctypes.byref(v)))
        return v.value

    @staticmethod
    def _key(name):
        if isinstance(name, str):
            if name not in PARAMS:
                raise AlsError(EINVAL, "unknown parameter %r" % name)
            return PARAMS[name]
        return _int_arg(name, "parameter key")

    def train(self, vectors):
        k = self._keeper()
        m, own = as_matrix(vectors, "vectors")
        mk = m._keeper()  # held for the call: a concurrent close() cannot free it
        try:
            _lib.check(_lib.vec.vecidx_train(k.h, mk.h))
        finally:
            if own:
                m.close()
        return self

    def add(self, vectors, ids=None):
        """Add rows; ids (int64, one per row, never -1) or None for consecutive ids."""
        k = self._keeper()
        m, own = as_matrix(vectors, "vectors")
        mk = m._keeper()  # held for the call: a concurrent close() cannot free it
        try:
            idp = None
            if ids is not None:
                a = int_ids(ids, "ids")
                if a.shape[0] != m.array.shape[0]:
                    raise AlsError(EDIM, "%d ids for %d vectors" % (a.shape[0], m.array.shape[0]))
                idp = a.ctypes.data if a.size else None
            elif m.array.shape[0] == 0:
                idp = None
            _lib.check(_lib.vec.vecidx_add(k.h, mk.h, idp))
        finally:
            if own:
                m.close()
        return self

    def search(self, queries, k, exclude=None, include=None):
        """k nearest neighbours of each query row -> (scores, ids), both nq x k, best first;
        missing results are id -1 with score -inf (IP) / +inf (L2). exclude / include are
        id lists filtering the candidates."""
        h = self._keeper()
        k = _int_arg(k, "k")
        m, own = as_matrix(queries, "queries")
        mk = m._keeper()  # held for the call: a concurrent close() cannot free it
        f = _filter(exclude, include)
        try:
            nq = m.array.shape[0]
            kk = max(k, 1)  # k < 1 is still passed on, so the library reports it
            scores = out_array((nq, kk), np.float32, 0, "search: k = %d" % k)
            ids = out_array((nq, kk), np.int64, -1, "search: k = %d" % k)
            _lib.check(_lib.vec.vecidx_search_filtered(
                h.h, mk.h, k, None if f is None else f._h,
                scores.ctypes.data, ids.ctypes.data))
        finally:
            _close_all([x for x in (f,) if x is not None] + ([m] if own else []))
        return scores, ids

    def expand(self, seeds, k, n_out, agg="max", exclude=None, include=None):
        """Audience expansion (vecidx_expand) -> (scores, ids) of the n_found best ids,
        best first, aggregated over the seeds' top-k."""
        h = self._keeper()
        k, n_out = _int_arg(k, "k"), _int_arg(n_out, "n_out")
        if isinstance(agg, str):
            if agg not in AGGS:
                raise AlsError(EINVAL, "unknown aggregate %r (max, sum, mean)" % agg)
            agg = AGGS[agg]
        m, own = as_matrix(seeds, "seeds")
        mk = m._keeper()  # held for the call: a concurrent close() cannot free it
        f = _filter(exclude, include)
        try:
            cap = max(n_out, 1)
            ids = out_array(cap, np.int64, -1, "expand: n_out = %d" % n_out)
            scores = out_array(cap, np.float32, 0, "expand: n_out = %d" % n_out)
            found = ctypes.c_int64()
            _lib.check(_lib.vec.vecidx_expand(h.h, mk.h, k, int(agg),
                                              None if f is None else f._h, n_out,
                                              ids.ctypes.data, scores.ctypes.data,
                                              ctypes.byref(found)))
        finally:
            _close_all([x for x in (f,) if x is not None] + ([m] if own else []))
        n = found.value
        return scores[:n].copy(), ids[:n].copy()

    def save(self, path):
        _lib.check(_lib.vec.vecidx_save(self.handle, _lib.path_bytes(path)))

    @staticmethod
    def load(path):
        h = ctypes.c_void_p()
        _lib.check(_lib.vec.vecidx_load(ctypes.byref(h), _lib.path_bytes(path)))
        cls = IVFIndex if _lib.vec.vecidx_kind(h) == 1 else FlatIndex
        idx = cls.__new__(cls)
        idx._own(h)
        return idx


class FlatIndex(Index):
    """Exact search. metric: 'ip' (inner product, bigger is better) or 'l2' (squared)."""

    def __init__(self, dim, metric="ip"):
        h = ctypes.c_void_p()
        _lib.check(_lib.vec.vecidx_flat_create(ctypes.byref(h), _int_arg(dim, "dim"),
                                               _metric(metric)))
        self._own(h)


class IVFIndex(Index):
    """IVF-flat search with nlist k-means lists; train() before add(). nprobe lists are
    scanned per query (nprobe = nlist gives the exact result)."""

    def __init__(self, dim, nlist, metric="ip", nprobe=1):
        h = ctypes.c_void_p()
        _lib.check(_lib.vec.vecidx_ivf_create(ctypes.byref(h), _int_arg(dim, "dim"),
                                              _metric(metric), _int_arg(nlist, "nlist")))
        self._own(h)
        self.set_param("nprobe", nprobe)

    @property
    def nprobe(self):
        return self.get_param("nprobe")

    @nprobe.setter
    def nprobe(self, v):
        self.set_param("nprobe", v)


__all__ = ["Index", "FlatIndex", "IVFIndex", "ERANGE"]
