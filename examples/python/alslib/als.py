"""ALS: alternating least squares with Spark MLlib's parameter names (libals)."""
import ctypes
import os

import numpy as np

from . import _lib
from ._lib import AlsError, EDIM, EINVAL, ESTATE
from .matrix import borrowed_ids, borrowed_view

_RANK_KEY = 100


def _ids(x, name):
    try:
        # aligned too: arrays rebuilt from pickles (Dask) can start at any byte
        a = np.require(x, dtype=np.int64, requirements=["C_CONTIGUOUS", "ALIGNED"])
    except (TypeError, ValueError, OverflowError) as e:
        raise AlsError(EINVAL, "%s: not an integer id array: %s" % (name, e)) from None
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise AlsError(EDIM, "%s: expected a 1-D id array, got %d dimensions" % (name, a.ndim))
    return a


def _values(x, n, name="values"):
    if x is None:
        return None
    try:
        a = np.require(x, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"]).reshape(-1)
    except (TypeError, ValueError) as e:
        raise AlsError(EINVAL, "%s: not a numeric array: %s" % (name, e)) from None
    if a.shape[0] != n:
        raise AlsError(EDIM, "%s: %d values for %d ids" % (name, a.shape[0], n))
    return a


def _ptr(a):
    return None if a is None else a.ctypes.data


class Ratings(_lib.Handle):
    """An als_ratings set: from arrays (users, items[, values]) or from a CSV/TSV file."""

    def __init__(self, users=None, items=None, values=None, *, path=None, options=None):
        self._h = None
        h = ctypes.c_void_p()
        if path is not None:
            opt = None if options is None else str(options).encode()
            _lib.check(_lib.als.als_ratings_read_csv(ctypes.byref(h), _lib.path_bytes(path), opt))
            self._h = h
            return
        u, i = _ids(users, "users"), _ids(items, "items")
        if u.shape[0] != i.shape[0]:
            raise AlsError(EDIM, "users and items differ in length (%d, %d)"
                           % (u.shape[0], i.shape[0]))
        v = _values(values, u.shape[0])
        _lib.check(_lib.als.als_ratings_create(ctypes.byref(h)))
        self._h = h
        _lib.check(_lib.als.als_ratings_add(h, u.shape[0], _ptr(u), _ptr(i), _ptr(v)))

    @property
    def handle(self):
        if self._h is None:
            raise AlsError(ESTATE, "ratings are closed")
        return self._h

    def __len__(self):
        return _lib.als.als_ratings_rows(self.handle)

    def _destroy(self, h):
        _lib.als.als_ratings_destroy(h)


def _param_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class ALS(_lib.Handle):
    """An als_model. Keyword arguments are Spark's parameter names (rank, maxIter, regParam,
    implicitPrefs, alpha, nonnegative, seed) or libals's own (solver, cgSteps, regScaling,
    numThreads, computeLoss); a bad name or value raises AlsError at construction.

    user_factors / item_factors are read-only NumPy views of the model's buffers: they keep
    the model object alive, but are only valid until the next fit() or close()."""

    def __init__(self, **params):
        self._h = None
        self._seen = None
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_model_create(ctypes.byref(h)))
        self._h = h
        for k, v in params.items():
            self.set_param(k, v)

    @property
    def handle(self):
        if self._h is None:
            raise AlsError(ESTATE, "model is closed")
        return self._h

    def set_param(self, name, value):
        _lib.check(_lib.als.als_set_param(self.handle, str(name).encode(),
                                          _param_text(value).encode()))
        return self

    @property
    def rank(self):
        v = ctypes.c_int64()
        _lib.check(_lib.als.als_get_int(self.handle, _RANK_KEY, ctypes.byref(v)))
        return v.value

    def fit(self, users, items=None, values=None, *, options=None):
        """Train on arrays (users, items[, values]) or on a CSV/TSV path (users is the path,
        options the als_ratings_read_csv settings, e.g. "header=1,value=2").
        The ratings are kept to exclude seen items in recommend()."""
        if isinstance(users, (str, bytes, os.PathLike)):
            r = Ratings(path=users, options=options)
        else:
            if items is None:
                raise AlsError(EINVAL, "fit: items are required with a users array")
            r = Ratings(users, items, values)
        _lib.check(_lib.als.als_model_fit(self.handle, r.handle))
        self._seen = r
        return self

    @property
    def is_fitted(self):
        return bool(_lib.als.als_model_is_fitted(self.handle))

    def _require_fitted(self):
        if not self.is_fitted:
            raise AlsError(ESTATE, "model is not fitted")

    @property
    def user_factors(self):
        self._require_fitted()
        return borrowed_view(_lib.als.als_model_user_factors(self.handle), self)

    @property
    def item_factors(self):
        self._require_fitted()
        return borrowed_view(_lib.als.als_model_item_factors(self.handle), self)

    @property
    def user_ids(self):
        self._require_fitted()
        n = _lib.als.als_matrix_rows(_lib.als.als_model_user_factors(self.handle))
        return borrowed_ids(_lib.als.als_model_user_ids(self.handle), n, self)

    @property
    def item_ids(self):
        self._require_fitted()
        n = _lib.als.als_matrix_rows(_lib.als.als_model_item_factors(self.handle))
        return borrowed_ids(_lib.als.als_model_item_ids(self.handle), n, self)

    def predict(self, users, items):
        """Scores x_u . y_i per pair; NaN where the user or item is unknown."""
        u, i = _ids(users, "users"), _ids(items, "items")
        if u.shape[0] != i.shape[0]:
            raise AlsError(EDIM, "users and items differ in length")
        out = np.empty(u.shape[0], dtype=np.float32)
        _lib.check(_lib.als.als_model_predict(self.handle, u.shape[0], _ptr(u), _ptr(i),
                                              _ptr(out)))
        return out

    def recommend(self, user, k=10, exclude_seen=True):
        """Top-k (items, scores) for a training user, best first, padded with -1 / -inf.
        exclude_seen drops the items the user had in the ratings given to fit()."""
        k = int(k)
        if k < 1:  # the C call reports it too, but the arrays below need k >= 1
            return self._recommend_bad_k(user, k)
        items = np.empty(k, dtype=np.int64)
        scores = np.empty(k, dtype=np.float32)
        excl = self._seen.handle if (exclude_seen and self._seen is not None) else None
        _lib.check(_lib.als.als_model_recommend(self.handle, int(user), k, excl,
                                                _ptr(items), _ptr(scores)))
        return items, scores

    def _recommend_bad_k(self, user, k):
        one_i, one_s = np.empty(1, dtype=np.int64), np.empty(1, dtype=np.float32)
        _lib.check(_lib.als.als_model_recommend(self.handle, int(user), k, None,
                                                _ptr(one_i), _ptr(one_s)))
        raise AlsError(_lib.ERANGE, "k must be >= 1")

    def fold_in(self, items, values=None):
        """Factor (rank floats) of an unseen user from their items[, values], solved as
        training solves a user row. `last_fold_in_unknown` = items ignored as unknown."""
        i = _ids(items, "items")
        v = _values(values, i.shape[0])
        out = np.empty(self.rank, dtype=np.float32)
        n = _lib.check(_lib.als.als_model_fold_in(self.handle, i.shape[0], _ptr(i), _ptr(v),
                                                  _ptr(out)))
        self.last_fold_in_unknown = n
        return out

    def save(self, path):
        _lib.check(_lib.als.als_model_save(self.handle, _lib.path_bytes(path)))

    @classmethod
    def load(cls, path):
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_model_load(ctypes.byref(h), _lib.path_bytes(path)))
        m = cls.__new__(cls)
        m._h, m._seen = h, None
        return m

    def _destroy(self, h):
        _lib.als.als_model_destroy(h)

    def close(self):
        super().close()
        seen, self._seen = getattr(self, "_seen", None), None
        if seen is not None:
            seen.close()
