"""ALS: alternating least squares with Spark MLlib's parameter names (libals).

Ids. Users and items are either integers (int64) or names (str): give NumPy integer
arrays, lists of ints, or arrays / lists of str. Names are interned by the library into
the ratings' dictionaries (ids 0, 1, 2, ... in order of first appearance); a model trained
on named ratings speaks names everywhere (user_ids, recommend, similar_*, predict, ...).
What is refused (1.5, NaN, bools, uint64 >= 2^63, mixes of names and numbers, names with
a NUL byte) is listed in alslib._ids; it raises AlsError(EINVAL), nothing is truncated.

Result order. Every call of the model family returns (ids, scores), like the `implicit`
library: best first (highest score), equal scores by smaller id (for names: by the
dictionary id, i.e. order of first appearance in the training ratings), padded with id -1
(None for names) and score -inf when fewer than k results exist. (The vector indexes of
alslib.index return (scores, ids), Faiss's order.)
"""
import ctypes
import os
import sys

import numpy as np

from . import _lib
from ._lib import AlsError, ECANCELED, EDIM, EFORMAT, EINVAL, ENOTFOUND, ERANGE, ESTATE, \
    EUNSUPPORTED
from ._ids import classify, encode_names, int_arg, int_ids, out_array
from .matrix import borrowed_ids, borrowed_view, normalize

_RANK_KEY = 100
_MAX_ITER_KEY = 101
_NO_TIME = -(1 << 63)
_SIDES = ("user", "item")


def _values(x, n, name="values"):
    if x is None:
        return None
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise AlsError(EINVAL, "%s: not a numeric array (dtype %s)" % (name, a.dtype))
    try:
        a = np.require(a, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"]).reshape(-1)
    except (TypeError, ValueError) as e:
        raise AlsError(EINVAL, "%s: not a numeric array: %s" % (name, e)) from None
    if a.shape[0] != n:
        raise AlsError(EDIM, "%s: %d values for %d ids" % (name, a.shape[0], n))
    return a


def _times(x, n):
    if x is None:
        return None
    a = np.asarray(x)
    if a.dtype.kind == "M":  # datetime64: Unix seconds
        if np.isnat(a).any():
            raise AlsError(EINVAL, "times: NaT at position %d" % int(np.flatnonzero(np.isnat(a))[0]))
        a = a.astype("datetime64[s]").astype(np.int64)
    t = int_ids(a, "times")
    if t.shape[0] != n:
        raise AlsError(EDIM, "times: %d times for %d rows" % (t.shape[0], n))
    if (t == _NO_TIME).any():
        raise AlsError(ERANGE, "times: INT64_MIN is reserved for 'no time'")
    return t


def _ptr(a):
    return None if a is None or a.size == 0 else a.ctypes.data


def _options(options):
    """als_ratings_read_csv options: a "k=v,k=v" string or a dict."""
    if options is None:
        return None
    if isinstance(options, dict):
        parts = []
        for k, v in options.items():
            v = ("1" if v else "0") if isinstance(v, bool) else str(v)
            if any(c in str(k) + v for c in ",="):
                raise AlsError(EINVAL, "option %s=%s: ',' and '=' cannot appear in a key or "
                               "value" % (k, v))
            parts.append("%s=%s" % (k, v))
        options = ",".join(parts)
    return _lib.c_bytes(str(options), "options")


def _as_str(v):
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v


def _rows_of_model_ids(s, mids):
    """Rows of library ids (int64 array) on one side; -1 where unknown."""
    srt, order = s["sorted"], s["order"]
    if len(srt) == 0:
        return np.full(len(mids), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(srt, mids), len(srt) - 1)
    return np.where(srt[pos] == mids, order[pos], -1).astype(np.int64)


def _dict_names(rk, side):
    """Names of a ratings keeper's dictionary, indexed by id (object array), or None when
    that side has integer ids. Cached on the keeper (dictionaries only grow by add())."""
    cache = rk.__dict__.setdefault("names", {})
    if side not in cache:
        fn = _lib.als.als_ratings_user_name if side == "user" else _lib.als.als_ratings_item_name
        out = []
        while True:
            p = fn(rk.h, len(out))
            if not p:
                break
            out.append(_lib.c_string(p))
        if out:
            a = np.empty(len(out), dtype=object)
            a[:] = out
            a.setflags(write=False)
            cache[side] = a
        else:
            cache[side] = None
    return cache[side]


class Ratings(_lib.Handle):
    """An als_ratings set of (user, item[, value][, time]) rows.

    From arrays: Ratings(users, items, values=None, times=None): integer ids, or names
    (str) on both sides (interned into the set's dictionaries by als_ratings_add_named).
    From a CSV/TSV file: Ratings.read_csv(path, options) (als_ratings_read_csv; options as
    "header=1,value=rating" or a dict); string columns become dictionaries.

    The dictionaries: has_user_names / has_item_names; user_names / item_names (names
    indexed by id, or None for integer ids); user_name(id), user_id(name) and the item
    equivalents. Pass a Ratings to ALS.fit; a model keeps it (to exclude seen items and
    to know the names), so once trained on, a Ratings is frozen: add() raises ESTATE.
    Splits (split, split_last, split_time) return new (train, test) sets that share the
    dictionaries (copied), ready for ALS.fit and ALS.evaluate."""

    _what = "ratings"
    _destroy_fn = _lib.als.als_ratings_destroy

    def __init__(self, users=None, items=None, values=None, *, times=None, path=None,
                 options=None):
        if path is not None:
            if users is not None or items is not None or values is not None:
                raise AlsError(EINVAL, "give a path or arrays, not both")
            h = ctypes.c_void_p()
            _lib.check(_lib.als.als_ratings_read_csv(ctypes.byref(h), _lib.path_bytes(path),
                                                     _options(options)))
            self._own(h)
            return
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_ratings_create(ctypes.byref(h)))
        self._own(h)
        if users is not None or items is not None:
            self.add(users, items, values, times=times)
        elif values is not None or times is not None:
            raise AlsError(EINVAL, "values or times without users and items")

    @classmethod
    def read_csv(cls, path, options=None):
        """Read a CSV/TSV file (see als_ratings_read_csv in include/als.h for options)."""
        return cls(path=path, options=options)

    @classmethod
    def _wrap(cls, h):
        r = cls.__new__(cls)
        r._own(h)
        return r

    def add(self, users, items, values=None, *, times=None):
        """Append rows; nothing is appended when anything is refused."""
        k = self._keeper()
        if getattr(k, "frozen", False):
            raise AlsError(ESTATE, "these ratings trained a model, which keeps them: they "
                           "cannot change any more (make a new Ratings)")
        if users is None or items is None:
            raise AlsError(EINVAL, "users and items are both required")
        ku, u = classify(users, "users")
        ki, i = classify(items, "items")
        if len(u) != len(i):
            raise AlsError(EDIM, "users and items differ in length (%d, %d)" % (len(u), len(i)))
        if ku != ki:
            raise AlsError(EINVAL, "users are %s but items are %s: give both as names (str, "
                           "e.g. items.astype(str)) or both as integers"
                           % ("names (str)" if ku == "name" else "integer ids",
                              "names (str)" if ki == "name" else "integer ids"))
        n = len(u)
        v = _values(values, n)
        if ku == "name":
            if times is not None:
                raise AlsError(EUNSUPPORTED, "times with names: libals has no "
                               "als_ratings_add_named with timestamps yet (integer ids, or a "
                               "CSV file with a time column, can carry them)")
            bu, pu = encode_names(u, "user")
            bi, pi = encode_names(i, "item")
            _lib.check(_lib.als.als_ratings_add_named(k.h, n, _ptr(pu), _ptr(pi), _ptr(v)))
            del bu, bi  # (kept alive until here on purpose)
        else:
            t = _times(times, n)
            if t is None:
                _lib.check(_lib.als.als_ratings_add(k.h, n, _ptr(u), _ptr(i), _ptr(v)))
            else:
                _lib.check(_lib.als.als_ratings_add_timed(k.h, n, _ptr(u), _ptr(i), _ptr(v),
                                                          _ptr(t)))
        k.__dict__.pop("names", None)
        return self

    def __len__(self):
        return _lib.als.als_ratings_rows(self.handle)

    num_users = property(lambda self: _lib.als.als_ratings_num_users(self.handle),
                         doc="Number of distinct users.")
    num_items = property(lambda self: _lib.als.als_ratings_num_items(self.handle),
                         doc="Number of distinct items.")
    bad_rows = property(lambda self: _lib.als.als_ratings_bad_rows(self.handle),
                        doc="Rows skipped by read_csv with skip_bad=1.")
    has_user_names = property(lambda self: _dict_names(self._keeper(), "user") is not None)
    has_item_names = property(lambda self: _dict_names(self._keeper(), "item") is not None)

    @property
    def user_names(self):
        """Read-only object array: user_names[id] is the name of user id; None when the
        users have integer ids."""
        return _dict_names(self._keeper(), "user")

    @property
    def item_names(self):
        return _dict_names(self._keeper(), "item")

    def _name(self, side, i):
        k = self._keeper()
        i = int_arg(i, side + " id")
        fn = _lib.als.als_ratings_user_name if side == "user" else _lib.als.als_ratings_item_name
        s = _lib.c_string(fn(k.h, i))
        if s is None:
            raise AlsError(ENOTFOUND, "%s id %d has no name%s" % (side, i, "" if _dict_names(
                k, side) is not None else " (the %ss have integer ids)" % side))
        return s

    def _id(self, side, name):
        k = self._keeper()
        if not isinstance(name, (str, bytes)):
            raise AlsError(EINVAL, "%s name must be str, not %s" % (side, type(name).__name__))
        fn = _lib.als.als_ratings_user_id if side == "user" else _lib.als.als_ratings_item_id
        i = fn(k.h, _lib.c_bytes(name, side + " name"))
        if i < 0:
            raise AlsError(ENOTFOUND, "%s %r is not in the dictionary" % (side, name))
        return i

    def user_name(self, user_id):
        """Name of a user id (AlsError ENOTFOUND if it has none)."""
        return self._name("user", user_id)

    def item_name(self, item_id):
        return self._name("item", item_id)

    def user_id(self, name):
        """Id of a user name (AlsError ENOTFOUND if unknown)."""
        return self._id("user", name)

    def item_id(self, name):
        return self._id("item", name)

    def to_arrays(self):
        """(users, items, values) of every row: names where the side has names (object
        arrays), else int64 ids; values float32. One library call per row."""
        k = self._keeper()
        n = _lib.als.als_ratings_rows(k.h)
        u = np.empty(n, np.int64)
        it = np.empty(n, np.int64)
        v = np.empty(n, np.float32)
        cu, ci, cv = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_float()
        for r in range(n):
            _lib.check(_lib.als.als_ratings_get(k.h, r, ctypes.byref(cu), ctypes.byref(ci),
                                                ctypes.byref(cv), None))
            u[r], it[r], v[r] = cu.value, ci.value, cv.value
        out = []
        for side, ids in (("user", u), ("item", it)):
            names = _dict_names(k, side)
            out.append(ids if names is None else names[ids])
        return out[0], out[1], v

    def _split(self, fn, *args):
        k = self._keeper()
        tr, te = ctypes.c_void_p(), ctypes.c_void_p()
        _lib.check(fn(k.h, *args, ctypes.byref(tr), ctypes.byref(te)))
        return Ratings._wrap(tr), Ratings._wrap(te)

    def split(self, train_fraction=0.8, seed=0):
        """Random split per row (Spark's randomSplit): -> (train, test)."""
        f = float(train_fraction)
        seed = int_arg(seed, "seed")
        if seed < 0:
            raise AlsError(ERANGE, "seed must be >= 0")
        return self._split(_lib.als.als_ratings_split, f, seed)

    def group_by_user(self):
        """Reorder the rows so that each user's rows are together: users in the order of
        their first appearance, each user's rows in their previous order. A fit then reads
        the ratings in place instead of copying them (als_ratings_group_by_user; the same
        factors either way). Returns self."""
        _lib.check(_lib.als.als_ratings_group_by_user(self._keeper().h))
        return self

    def split_last(self, k=1):
        """Each user's last k rows (by time if every row has one, else in order) go to test,
        provided the user keeps a training row: -> (train, test)."""
        return self._split(_lib.als.als_ratings_split_last, int_arg(k, "k"))

    def split_time(self, t_split):
        """Rows with time < t_split go to train, the others to test: -> (train, test).
        t_split: an int (the unit of the times) or a numpy.datetime64 (Unix seconds)."""
        if isinstance(t_split, np.datetime64):
            t_split = int(t_split.astype("datetime64[s]").astype(np.int64))
        return self._split(_lib.als.als_ratings_split_time, int_arg(t_split, "t_split"))

    def write_ids(self, path):
        """Write the dictionaries as text (als_ratings_write_ids)."""
        _lib.check(_lib.als.als_ratings_write_ids(self.handle, _lib.path_bytes(path)))


def _param_text(v):
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v)


class _Progress:
    """The progress callback installed for one fit: records (iteration, seconds, loss),
    draws the bar, calls the user's callable; an exception in it (Ctrl-C included) stops
    the fit and is raised again by fit()."""

    def __init__(self, callback, show, stream):
        self.callback, self.show, self.stream = callback, show, stream
        self.history, self.canceled, self.exc = [], False, None
        self.drawn = False

    def __call__(self, _user, it, max_iter, seconds, loss):
        try:
            self.history.append((it, seconds, loss))
            if self.show:
                self.draw(it, max_iter, seconds, loss)
            if self.callback is not None and self.callback(it, max_iter, seconds, loss):
                self.canceled = True
                return 1
            return 0
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt must stop the fit too
            self.exc = e
            return 1

    def draw(self, it, max_iter, seconds, loss):
        width = 30
        done = width * it // max(max_iter, 1)
        text = "\ralslib fit [%s%s] %d/%d iterations, %.1f s" % (
            "#" * done, "." * (width - done), it, max_iter, seconds)
        if loss == loss:
            text += ", loss %.6g" % loss
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def finish(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


class ALS(_lib.Handle):
    """An als_model. Keyword arguments are Spark's parameter names (rank, maxIter, regParam,
    implicitPrefs, alpha, nonnegative, seed) or libals's own (solver, cgSteps, regScaling,
    numThreads, computeLoss); a bad name or value raises AlsError at construction.

    Factors: user_factors / item_factors are read-only NumPy views of the library's
    buffers (no copy). Row r of user_factors belongs to user_ids[r], row r of
    item_factors to item_ids[r] (user_row(id) / item_row(id) give r; factors_of(ids) the
    rows themselves). A view stays valid for as long as it lives: it holds the library
    model it came from, so close(), leaving a `with` block and a new fit() never free
    memory a view points to. A fit() trains a new library model and swaps it in; views
    taken before keep showing the previous factors, and the old model is freed when the
    last of them goes. user_ids / item_ids are views too (int64) or, for names, read-only
    object arrays of str.

    Results: (ids, scores), best first, ties by smaller id (see the module docstring)."""

    _what = "model"
    _destroy_fn = _lib.als.als_model_destroy

    def __init__(self, **params):
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_model_create(ctypes.byref(h)))
        self._own(h)
        for k, v in params.items():
            self.set_param(k, v)

    # ---------------------------------------------------------------- parameters

    def set_param(self, name, value):
        """Set a parameter by Spark's or libals's name; it applies from the next fit()."""
        _lib.check(_lib.als.als_set_param(self.handle, _lib.c_bytes(str(name), "parameter"),
                                          _lib.c_bytes(_param_text(value), "value")))
        return self

    @property
    def params(self):
        """{name: value} of every parameter (those the next fit() uses)."""
        h = self.handle
        out = {}
        for name, key in _lib.param_keys(h):
            iv, dv = ctypes.c_int64(), ctypes.c_double()
            if _lib.als.als_get_int(h, key, ctypes.byref(iv)) == 0:
                out[name] = iv.value
            else:
                _lib.check(_lib.als.als_get_double(h, key, ctypes.byref(dv)))
                out[name] = dv.value
        return out

    @property
    def rank(self):
        """Columns of the factors once fitted; before, the rank parameter."""
        k = self._keeper()
        if _lib.als.als_model_is_fitted(k.h):
            return _lib.als.als_matrix_cols(_lib.als.als_model_user_factors(k.h))
        v = ctypes.c_int64()
        _lib.check(_lib.als.als_get_int(k.h, _RANK_KEY, ctypes.byref(v)))
        return v.value

    # ---------------------------------------------------------------- training

    def _as_ratings(self, data, items, values, options, what="fit"):
        if isinstance(data, Ratings):
            if items is not None or values is not None or options is not None:
                raise AlsError(EINVAL, "%s: give a Ratings alone" % what)
            return data
        if isinstance(data, (str, bytes, os.PathLike)):
            if items is not None or values is not None:
                raise AlsError(EINVAL, "%s: give a path or arrays, not both" % what)
            return Ratings(path=data, options=options)
        if items is None:
            raise AlsError(EINVAL, "%s: items are required with a users array" % what)
        if options is not None:
            raise AlsError(EINVAL, "%s: options apply to a CSV path only" % what)
        return Ratings(data, items, values)

    def fit(self, users, items=None, values=None, *, options=None, callback=None,
            show_progress=False):
        """Train on a Ratings, on arrays (users, items[, values]) or on a CSV/TSV path
        (users is the path, options the als_ratings_read_csv settings, e.g.
        "header=1,value=2" or {"header": 1, "value": "rating"}). Returns self.

        callback(iteration, max_iter, seconds, loss) is called after every iteration
        (loss is NaN unless computeLoss=True); a true return value stops training after
        that iteration: the model keeps those factors and `canceled` is True. An exception
        raised by the callback (or Ctrl-C during fit) stops training too, leaves the
        model as it was before fit() and propagates. show_progress=True draws a progress
        bar on stderr (from Python; the library never prints). loss_history then holds
        the loss of every iteration.

        The ratings are kept (frozen) to exclude seen items in recommend() and to map
        names. fit() trains a fresh library model and swaps it in only on success, so
        on failure the model is unchanged and factor views taken earlier stay valid."""
        old = self._keeper()
        r = self._as_ratings(users, items, values, options)
        rk = r._keeper()
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_model_create(ctypes.byref(h)))
        nk = _lib.Keeper(h.value, _lib.als.als_model_destroy)
        keys = _lib.param_keys(old.h)
        if not any(key == _RANK_KEY for _n, key in keys):
            raise AlsError(_lib.EINTERNAL, "fit: cannot list the model's parameters "
                           "(als_model_explain_params changed its format?)")
        for _name, key in keys:  # every parameter, whatever its type
            iv, dv = ctypes.c_int64(), ctypes.c_double()
            if _lib.als.als_get_int(old.h, key, ctypes.byref(iv)) == 0:
                _lib.check(_lib.als.als_set_int(nk.h, key, iv.value))
            else:
                _lib.check(_lib.als.als_get_double(old.h, key, ctypes.byref(dv)))
                _lib.check(_lib.als.als_set_double(nk.h, key, dv.value))
        prog = _Progress(callback, show_progress, sys.stderr)
        cfn = _lib.PROGRESS_FN(prog)
        _lib.check(_lib.als.als_model_set_progress(nk.h, ctypes.cast(cfn, ctypes.c_void_p), None))
        self._fitting = nk  # for cancel() from another thread
        try:
            rc = _lib.als.als_model_fit(nk.h, rk.h)
            msg = _lib.als.als_last_error().decode("utf-8", "replace") if rc < 0 else ""
        finally:
            self._fitting = None
            _lib.als.als_model_set_progress(nk.h, None, None)
            prog.finish()
        if prog.exc is not None:
            raise prog.exc
        if rc < 0 and not (rc == ECANCELED and prog.canceled):
            raise AlsError(rc, msg)
        rk.frozen = True
        nk.seen = rk
        nk.dicts = rk
        nk.history = prog.history
        nk.canceled = prog.canceled
        self._k = nk  # the previous model lives on while views of it do
        return self

    def set_factors(self, user_ids, user_factors, item_ids, item_factors, *, ratings=None):
        """Make this model a fitted one from given factors (als_model_set_factors): a
        distributed fit's result (examples/python/dask_als.py), or factors trained
        elsewhere. Row r of user_factors (n_users, rank) belongs to user_ids[r] (distinct
        int64 ids), likewise for the items; rank must be this model's rank parameter. The
        current parameters become the training parameters. Returns self.

        ratings: optionally the training Ratings (integer ids), kept (frozen) like fit()
        keeps its ratings, for recommend(exclude_seen=True) and evaluate() without train=.
        Like fit(), a new library model is swapped in only on success; views of the
        previous factors stay valid."""
        from .matrix import Matrix
        old = self._keeper()
        uids = int_ids(user_ids, "user_ids")
        iids = int_ids(item_ids, "item_ids")
        rk = None
        if ratings is not None:
            if not isinstance(ratings, Ratings):
                raise AlsError(EINVAL, "set_factors: ratings must be a Ratings")
            rk = ratings._keeper()
            if _dict_names(rk, "user") is not None or _dict_names(rk, "item") is not None:
                raise AlsError(EINVAL, "set_factors: ratings with names are not supported "
                               "(the factors' ids are integers)")
        with Matrix(user_factors, "user_factors") as mu, Matrix(item_factors,
                                                                   "item_factors") as mi:
            if len(uids) != mu.shape[0] or len(iids) != mi.shape[0]:
                raise AlsError(EDIM, "set_factors: %d user ids for %d user rows, %d item ids "
                               "for %d item rows" % (len(uids), mu.shape[0], len(iids),
                                                     mi.shape[0]))
            h = ctypes.c_void_p()
            _lib.check(_lib.als.als_model_create(ctypes.byref(h)))
            nk = _lib.Keeper(h.value, _lib.als.als_model_destroy)
            for _name, key in _lib.param_keys(old.h):
                iv, dv = ctypes.c_int64(), ctypes.c_double()
                if _lib.als.als_get_int(old.h, key, ctypes.byref(iv)) == 0:
                    _lib.check(_lib.als.als_set_int(nk.h, key, iv.value))
                else:
                    _lib.check(_lib.als.als_get_double(old.h, key, ctypes.byref(dv)))
                    _lib.check(_lib.als.als_set_double(nk.h, key, dv.value))
            _lib.check(_lib.als.als_model_set_factors(
                nk.h, uids.ctypes.data, mu.handle, iids.ctypes.data, mi.handle))
        if rk is not None:
            rk.frozen = True
        nk.seen = rk
        nk.dicts = None
        nk.history = None
        nk.canceled = False
        self._k = nk
        return self

    @classmethod
    def from_factors(cls, user_ids, user_factors, item_ids, item_factors, *, ratings=None,
                     **params):
        """A fitted ALS from factors and ids: ALS(**params).set_factors(...); the rank
        parameter defaults to the factors' columns."""
        if "rank" not in params:
            params["rank"] = np.asarray(user_factors).shape[-1]
        return cls(**params).set_factors(user_ids, user_factors, item_ids, item_factors,
                                         ratings=ratings)

    def cancel(self):
        """Stop a fit() running in another thread (als_model_cancel): it returns within
        about one row's solve and raises AlsError(ECANCELED); the model keeps its state
        from before that fit. No effect when no fit is running. (To stop at an iteration
        boundary and keep that iteration's factors, return True from the callback.)"""
        k = getattr(self, "_fitting", None)
        if k is not None:
            _lib.check(_lib.als.als_model_cancel(k.h))

    @property
    def canceled(self):
        """True when the last fit() was stopped by its callback."""
        return bool(getattr(self._keeper(), "canceled", False))

    @property
    def loss_history(self):
        """Training loss after each iteration of the last fit() (float64 array). Needs
        computeLoss=True (else AlsError ESTATE: the library did not compute it)."""
        k = self._fitted()
        hist = getattr(k, "history", None)
        if hist is None:
            raise AlsError(ESTATE, "no training history: this model was loaded, not fitted")
        loss = np.array([h[2] for h in hist], dtype=np.float64)
        if loss.size == 0 or np.isnan(loss).all():
            raise AlsError(ESTATE, "the loss was not computed: create the model with "
                           "computeLoss=True (or set_param('computeLoss', True)) and fit again")
        return loss

    @property
    def loss(self):
        """Training loss after the last iteration (see loss_history)."""
        return float(self.loss_history[-1])

    @property
    def is_fitted(self):
        return bool(_lib.als.als_model_is_fitted(self.handle))

    def _fitted(self):
        k = self._keeper()
        if not _lib.als.als_model_is_fitted(k.h):
            raise AlsError(ESTATE, "model is not fitted")
        return k

    # ---------------------------------------------------------------- ids and rows

    def _side(self, k, side):
        """Cached facts about one side of a fitted keeper: ids (model ids in row order,
        int64 copy), names (object array in row order, or None), and lookups."""
        cache = k.__dict__.setdefault("sides", {})
        if side in cache:
            return cache[side]
        fm = _lib.als.als_model_user_factors if side == "user" else _lib.als.als_model_item_factors
        fi = _lib.als.als_model_user_ids if side == "user" else _lib.als.als_model_item_ids
        n = _lib.als.als_matrix_rows(fm(k.h))
        ids = np.array(borrowed_ids(fi(k.h), n, k))
        dicts = getattr(k, "dicts", None)
        dn = _dict_names(dicts, side) if dicts is not None else None
        s = {"ids": ids, "names": None, "order": np.argsort(ids, kind="stable")}
        if dn is not None:
            if n and (ids.min() < 0 or ids.max() >= len(dn)):
                raise AlsError(EFORMAT, "the %s dictionary has %d names but the model has %s "
                               "id %d" % (side, len(dn), side, ids.max()))
            names = dn[ids]
            names.setflags(write=False)
            s["names"] = names
            s["row_of_name"] = {nm: r for r, nm in enumerate(names)}
        s["sorted"] = ids[s["order"]]
        cache[side] = s
        return s

    def _rows(self, k, side, ids, what, missing="raise"):
        """Rows of ids (scalar or 1-D) -> (rows int64 array, was_scalar). Unknown ids raise
        ENOTFOUND (missing="raise") or give -1 (missing="mask")."""
        s = self._side(k, side)
        kind, vals = classify(ids, what)
        named = s["names"] is not None
        if named and kind != "name":
            raise AlsError(EINVAL, "%s: this model's %ss are names (str), got integer ids"
                           % (what, side))
        if not named and kind == "name":
            raise AlsError(EINVAL, "%s: this model's %ss have integer ids, got names (str)"
                           % (what, side))
        if named:
            rmap = s["row_of_name"]
            rows = np.fromiter((rmap.get(_as_str(v), -1) for v in vals), dtype=np.int64,
                               count=len(vals))
        else:
            rows = _rows_of_model_ids(s, vals)
        if missing == "raise" and (rows < 0).any():
            j = int(np.flatnonzero(rows < 0)[0])
            raise AlsError(ENOTFOUND, "%s: %s %r is not in the model" % (what, side, vals[j]))
        return rows, np.ndim(ids) == 0 and not isinstance(ids, (list, tuple))

    def _model_ids(self, k, side, ids, what):
        """ids -> the int64 ids the library knows (names through the dictionary); unknown
        names become -1, which no named side uses."""
        s = self._side(k, side)
        if s["names"] is None:
            kind, vals = classify(ids, what)
            if kind == "name":
                raise AlsError(EINVAL, "%s: this model's %ss have integer ids, got names (str)"
                               % (what, side))
            return vals
        rows, _ = self._rows(k, side, ids, what, missing="mask")
        return np.where(rows >= 0, s["ids"][np.maximum(rows, 0)] if len(rows) else rows,
                        -1).astype(np.int64)

    def _out_ids(self, k, side, model_ids):
        """int64 library ids (any shape, -1 = none) -> what the user gave: int64 ids, or
        an object array of names with None where there is no result."""
        s = self._side(k, side)
        if s["names"] is None:
            return model_ids
        dn = _dict_names(k.dicts, side)
        out = np.empty(model_ids.shape, dtype=object)
        ok = model_ids >= 0
        out[ok] = dn[model_ids[ok]]
        out[~ok] = None
        return out

    @property
    def user_factors(self):
        """Read-only (n_users, rank) float32 view; row r belongs to user_ids[r]. Valid for
        as long as it lives (it keeps the library model alive)."""
        k = self._fitted()
        return borrowed_view(_lib.als.als_model_user_factors(k.h), k)

    @property
    def item_factors(self):
        """Read-only (n_items, rank) float32 view; row r belongs to item_ids[r]."""
        k = self._fitted()
        return borrowed_view(_lib.als.als_model_item_factors(k.h), k)

    def _ids_of(self, side):
        k = self._fitted()
        s = self._side(k, side)
        if s["names"] is not None:
            return s["names"]
        fm = _lib.als.als_model_user_factors if side == "user" else _lib.als.als_model_item_factors
        fi = _lib.als.als_model_user_ids if side == "user" else _lib.als.als_model_item_ids
        return borrowed_ids(fi(k.h), _lib.als.als_matrix_rows(fm(k.h)), k)

    @property
    def user_ids(self):
        """Id of each user_factors row: user_ids[r] owns row r. int64 read-only view, or a
        read-only object array of str when the users are names."""
        return self._ids_of("user")

    @property
    def item_ids(self):
        """Id of each item_factors row (see user_ids)."""
        return self._ids_of("item")

    def user_row(self, user):
        """Row of user_factors that belongs to `user` (AlsError ENOTFOUND if unknown)."""
        return int(self._rows(self._fitted(), "user", user, "user_row")[0][0])

    def item_row(self, item):
        """Row of item_factors that belongs to `item` (AlsError ENOTFOUND if unknown)."""
        return int(self._rows(self._fitted(), "item", item, "item_row")[0][0])

    def factors_of(self, users):
        """User factors of the given users: (n, rank) float32 copy, or (rank,) for one id.
        An unknown user raises AlsError(ENOTFOUND) naming it."""
        return self._factors_of("user", users, "factors_of")

    def item_factors_of(self, items):
        """Item factors of the given items (see factors_of)."""
        return self._factors_of("item", items, "item_factors_of")

    def _factors_of(self, side, ids, what):
        k = self._fitted()
        rows, scalar = self._rows(k, side, ids, what)
        fm = _lib.als.als_model_user_factors if side == "user" else _lib.als.als_model_item_factors
        f = np.array(borrowed_view(fm(k.h), k)[rows])
        return f[0] if scalar else f

    # ---------------------------------------------------------------- using the model

    def predict(self, users, items):
        """Scores x_u . y_i per pair (float32); NaN where the user or item is unknown."""
        k = self._fitted()
        u = self._model_ids(k, "user", users, "users")
        i = self._model_ids(k, "item", items, "items")
        if u.shape[0] != i.shape[0]:
            raise AlsError(EDIM, "users and items differ in length")
        out = np.empty(u.shape[0], dtype=np.float32)
        _lib.check(_lib.als.als_model_predict(k.h, u.shape[0], _ptr(u), _ptr(i), _ptr(out)))
        return out

    def recommend(self, users=None, k=10, exclude_seen=True, *, filter_items=None,
                  factors=None):
        """Top-k items -> (ids, scores), best first, ties by smaller item id, padded with
        -1 (None for names) / -inf.

        users: one training user (-> ids[k], scores[k]) or an array of them (-> ids[n, k],
        scores[n, k]); an unknown user raises AlsError(ENOTFOUND).
        exclude_seen: drop the items each user has in the ratings given to fit().
        filter_items: items never to recommend (unknown ones are ignored).
        factors: instead of users, user factor vectors (rank,) or (n, rank), e.g. from
        fold_in(): the score is factors . y_i; exclude_seen does not apply (there are no
        training rows), pass the user's items in filter_items to leave them out."""
        kk = self._fitted()
        k = int_arg(k, "k")
        if k < 1:
            raise AlsError(ERANGE, "k = %d, must be >= 1" % k)
        flt = np.zeros(0, np.int64)
        if filter_items is not None:
            flt = self._model_ids(kk, "item", filter_items, "filter_items")
            known = self._side(kk, "item")
            flt = np.unique(flt[np.isin(flt, known["ids"])])
        if factors is not None:
            if users is not None:
                raise AlsError(EINVAL, "recommend: give users or factors, not both")
            return self._recommend_factors(kk, factors, k, flt)
        if users is None:
            raise AlsError(EINVAL, "recommend: users (or factors=) required")
        u = self._model_ids(kk, "user", users, "users")
        scalar = np.ndim(users) == 0 and not isinstance(users, (list, tuple))
        if self._side(kk, "user")["names"] is not None:
            bad = u < 0
            if bad.any():
                kind, vals = classify(users, "users")
                raise AlsError(ENOTFOUND, "recommend: user %r is not in the model"
                               % vals[int(np.flatnonzero(bad)[0])])
        # the model's own interactions (libals >= 1.2): each user's row, not a scan of all
        # the ratings per user; else the ratings given to fit()
        unseen = exclude_seen and self._kept(kk)
        excl = kk.seen.h if (exclude_seen and not unseen and getattr(kk, "seen", None) is not None) else None
        # beyond the catalogue there is only padding: ask the library for no more
        kq = min(k + len(flt), max(len(self._side(kk, "item")["ids"]), 1))
        ids = out_array((len(u), k), np.int64, -1, "recommend: k = %d" % k)
        scores = out_array((len(u), k), np.float32, -np.inf, "recommend: k = %d" % k)
        bi = np.empty(kq, dtype=np.int64)
        bs = np.empty(kq, dtype=np.float32)
        for j, uid in enumerate(u):
            if unseen:
                _lib.check(_lib.als.als_model_recommend_unseen(kk.h, int(uid), kq, bi.ctypes.data,
                                                               bs.ctypes.data))
            else:
                _lib.check(_lib.als.als_model_recommend(kk.h, int(uid), kq, excl, bi.ctypes.data,
                                                        bs.ctypes.data))
            keep = bi != -1  # -1 is padding; other negative ids are real items
            if len(flt):
                keep &= ~np.isin(bi, flt)
            got = np.flatnonzero(keep)[:k]
            ids[j, :len(got)] = bi[got]
            scores[j, :len(got)] = bs[got]
        out = self._out_ids(kk, "item", ids)
        return (out[0], scores[0]) if scalar else (out, scores)

    @staticmethod
    def _kept(k):
        """Whether the fitted keeper's model keeps its training interactions."""
        if "als_model_num_interactions" in _lib.missing:
            return False
        return _lib.als.als_model_num_interactions(k.h) > 0

    @property
    def num_interactions(self):
        """Training interactions the model keeps (0: none; keepInteractions=0, or a model
        file saved before libals 1.2)."""
        return int(_lib.als.als_model_num_interactions(self._fitted().h))

    def items_of_user(self, user):
        """The user's training interactions -> (items, values), in training order (ids or
        names as given to fit). Needs the kept interactions (AlsError ESTATE otherwise)."""
        kk = self._fitted()
        u = self._model_ids(kk, "user", [user], "items_of_user")
        if u[0] == -1 and self._side(kk, "user")["names"] is not None:
            raise AlsError(ENOTFOUND, "items_of_user: user %r is not in the model" % (user,))
        n = int(_lib.check(_lib.als.als_model_items_of_user(kk.h, int(u[0]), None, None, 0)))
        items = np.empty(max(n, 1), np.int64)
        vals = np.empty(max(n, 1), np.float32)
        _lib.check(_lib.als.als_model_items_of_user(kk.h, int(u[0]), items.ctypes.data,
                                                    vals.ctypes.data, n))
        return self._out_ids(kk, "item", items[:n]), vals[:n].copy()

    def users_of_items(self, items):
        """Distinct users with a training interaction with any of the items (the buyers of
        target items), in the model's user order; unknown items are ignored. One pass over
        the kept interactions (AlsError ESTATE when the model keeps none)."""
        kk = self._fitted()
        ids = self._model_ids(kk, "item", items if np.ndim(items) else [items], "users_of_items")
        ids = np.ascontiguousarray(ids[ids != -1] if self._side(kk, "item")["names"] is not None
                                   else ids, np.int64)
        n = int(_lib.check(_lib.als.als_model_users_of_items(kk.h, len(ids), ids.ctypes.data
                                                             if len(ids) else None, None, 0)))
        out = np.empty(max(n, 1), np.int64)
        _lib.check(_lib.als.als_model_users_of_items(kk.h, len(ids), ids.ctypes.data
                                                     if len(ids) else None, out.ctypes.data, n))
        return self._out_ids(kk, "user", out[:n])

    def _item_index(self, k, kind):
        """A FlatIndex over the item or user factors (kind: 'item-ip', 'item-cos',
        'user-cos'), whose ids are the rows' positions in id order, so that the index's
        tie rule (smaller id first) is the model's (smaller user / item id first)."""
        cache = k.__dict__.setdefault("indexes", {})
        if kind not in cache:
            from .index import FlatIndex
            side, metric = kind.split("-")
            s = self._side(k, side)
            fm = (_lib.als.als_model_user_factors if side == "user"
                  else _lib.als.als_model_item_factors)
            f = np.array(borrowed_view(fm(k.h), k))
            if metric == "cos":
                normalize(f, copy=False)
            pos = np.empty(len(s["order"]), dtype=np.int64)
            pos[s["order"]] = np.arange(len(s["order"]), dtype=np.int64)
            idx = FlatIndex(max(f.shape[1], 1), "ip")
            if len(f):
                idx.add(f, pos)
            cache[kind] = (idx, pos, f)
        return cache[kind]

    def _recommend_factors(self, keeper, factors, k, flt):
        f = np.asarray(factors)
        scalar = f.ndim == 1
        q = f.reshape(1, -1) if scalar else f
        rank = _lib.als.als_matrix_cols(_lib.als.als_model_item_factors(keeper.h))
        if q.ndim != 2 or q.shape[1] != rank:
            raise AlsError(EDIM, "factors: expected (rank,) or (n, rank) with rank %d, got "
                           "shape %s" % (rank, f.shape))
        idx, pos, _ = self._item_index(keeper, "item-ip")
        s = self._side(keeper, "item")
        excl = pos[_rows_of_model_ids(s, flt)] if len(flt) else None
        sc, p = idx.search(q, k, exclude=excl)
        ids = np.where(p >= 0, s["ids"][s["order"][np.maximum(p, 0)]], -1)
        out = self._out_ids(keeper, "item", ids)
        return (out[0], sc[0]) if scalar else (out, sc)

    def _similar(self, side, ids, k):
        kk = self._fitted()
        k = int_arg(k, "k")
        if k < 1:
            raise AlsError(ERANGE, "k = %d, must be >= 1" % k)
        rows, scalar = self._rows(kk, side, ids, "similar_%ss" % side)
        idx, pos, f = self._item_index(kk, side + "-cos")
        s = self._side(kk, side)
        n = len(s["ids"])
        kq = min(k + 1, n)  # the query's own row is among the n: dropped below
        sc, p = idx.search(f[rows], kq)
        drop = p == pos[rows][:, None]
        drop[~drop.any(axis=1), -1] = True  # the query was not among its k + 1 best
        keep = ~drop
        got = kq - 1
        out_ids = out_array((len(rows), k), np.int64, -1, "similar_%ss: k = %d" % (side, k))
        out_sc = out_array((len(rows), k), np.float32, -np.inf, "similar_%ss" % side)
        p = p[keep].reshape(len(rows), got)
        out_sc[:, :got] = sc[keep].reshape(len(rows), got)
        out_ids[:, :got] = np.where(p >= 0, s["ids"][s["order"][np.maximum(p, 0)]], -1)
        out_sc[out_ids < 0] = -np.inf
        out = self._out_ids(kk, side, out_ids)
        return (out[0], out_sc[0]) if scalar else (out, out_sc)

    def similar_items(self, items, k=10):
        """The k items most similar to each given item by cosine of their factors, the item
        itself excluded -> (ids, scores): ids[k] for one item, ids[n, k] for an array;
        best first, ties by smaller id. Unknown items raise AlsError(ENOTFOUND)."""
        return self._similar("item", items, k)

    def similar_users(self, users, k=10):
        """The k users most similar to each given user (see similar_items)."""
        return self._similar("user", users, k)

    def fold_in(self, items, values=None):
        """Factor (rank floats) of an unseen user from their items[, values], solved as
        training solves a user row. `last_fold_in_unknown` = items ignored as unknown.
        Recommend for it with recommend(factors=f, filter_items=items)."""
        k = self._fitted()
        i = self._model_ids(k, "item", items, "items")
        v = _values(values, i.shape[0])
        out = np.empty(self.rank, dtype=np.float32)
        n = _lib.check(_lib.als.als_model_fold_in(k.h, i.shape[0], _ptr(i), _ptr(v),
                                                  out.ctypes.data))
        self.last_fold_in_unknown = n
        return out

    # ---------------------------------------------------------------- evaluation

    def _eval_ratings(self, k, data, what):
        """A Ratings in this model's id space: a Ratings whose dictionaries agree with the
        model's (e.g. from split*()), or a tuple (users, items[, values])."""
        if isinstance(data, Ratings):
            rk = data._keeper()
            for side in _SIDES:
                mine = self._side(k, side)["names"] is not None
                dn = _dict_names(rk, side)
                if mine != (dn is not None) and len(data):
                    raise AlsError(EINVAL, "%s: the model's %ss are %s but these ratings' "
                                   "are %s" % (what, side, "names" if mine else "integers",
                                               "names" if dn is not None else "integers"))
                if mine and dn is not None:
                    ref = _dict_names(k.dicts, side)
                    m = min(len(ref), len(dn))
                    if not np.array_equal(ref[:m], dn[:m]):
                        raise AlsError(EINVAL, "%s: these ratings have their own %s "
                                       "dictionary, which does not match the model's; make "
                                       "them with split*() of the training ratings or pass "
                                       "(users, items[, values]) arrays" % (what, side))
            return data
        if not isinstance(data, tuple) or len(data) not in (2, 3):
            raise AlsError(EINVAL, "%s: a Ratings or a tuple (users, items[, values])" % what)
        cols = []
        for side, x in zip(_SIDES, data[:2]):
            s = self._side(k, side)
            if s["names"] is None:
                cols.append(int_ids(x, "%s %ss" % (what, side)))
                continue
            kind, vals = classify(x, "%s %ss" % (what, side))
            if kind != "name":
                raise AlsError(EINVAL, "%s: this model's %ss are names (str)" % (what, side))
            rmap, fresh = s["row_of_name"], {}
            ids = np.empty(len(vals), np.int64)
            for j, v in enumerate(vals):
                v = _as_str(v)
                r = rmap.get(v, -1)
                # unknown names: distinct negative ids, never equal to a dictionary id
                ids[j] = s["ids"][r] if r >= 0 else -1 - fresh.setdefault(v, len(fresh))
            cols.append(ids)
        return Ratings(cols[0], cols[1], data[2] if len(data) == 3 else None)

    def evaluate(self, test, k=10, train=None):
        """Ranking metrics at k (als_eval_ranking) -> dict precision, recall, map, ndcg,
        auc (floats) and users (the number evaluated). Each test user's top k is taken with
        their train items excluded; train defaults to the ratings given to fit().
        test / train: a Ratings (from split*() of the training ratings when ids are names)
        or a tuple (users, items[, values])."""
        kk = self._fitted()
        te = self._eval_ratings(kk, test, "evaluate test")
        if train is None:
            if getattr(kk, "seen", None) is None:
                raise AlsError(ESTATE, "evaluate: this model was loaded, not fitted: pass "
                               "train= (the ratings it was trained on)")
            tr_h = kk.seen.h
        else:
            tr = self._eval_ratings(kk, train, "evaluate train")
            tr_h = tr._keeper().h
        m = (ctypes.c_double * 6)()
        _lib.check(_lib.als.als_eval_ranking(kk.h, tr_h, te._keeper().h, int_arg(k, "k"), m, 6))
        return {"precision": m[0], "recall": m[1], "map": m[2], "ndcg": m[3], "auc": m[4],
                "users": int(m[5])}

    def rmse(self, test):
        """Root mean squared error over the test rows whose user and item the model knows
        (als_eval_rmse); NaN if there is none. test as in evaluate()."""
        kk = self._fitted()
        te = self._eval_ratings(kk, test, "rmse test")
        v, n = ctypes.c_double(), ctypes.c_int64()
        _lib.check(_lib.als.als_eval_rmse(kk.h, te._keeper().h, ctypes.byref(v),
                                          ctypes.byref(n)))
        return v.value

    # ---------------------------------------------------------------- files

    def _named(self, k):
        return any(self._side(k, side)["names"] is not None for side in _SIDES)

    def save(self, path):
        """Save the model file (als_model_save). A model with names also writes PATH.ids,
        its dictionaries tagged with the model's run id (als_ratings_write_ids_run), which
        load() reads back; saving a model without names removes a stale PATH.ids."""
        k = self._keeper()
        p = _lib.path_bytes(path)
        _lib.check(_lib.als.als_model_save(k.h, p))
        if self._named(k):
            _lib.check(_lib.als.als_ratings_write_ids_run(k.dicts.h, p + b".ids",
                                                          _lib.als.als_model_run_id(k.h)))
        elif os.path.exists(p + b".ids"):
            os.remove(p + b".ids")

    @classmethod
    def load(cls, path):
        """Load a model file; with PATH.ids beside it (see save), the names too. A PATH.ids
        of another training run is refused (AlsError EFORMAT)."""
        p = _lib.path_bytes(path)
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_model_load(ctypes.byref(h), p))
        m = cls.__new__(cls)
        k = m._own(h)
        k.seen = None
        k.dicts = None
        if os.path.exists(p + b".ids"):
            r = ctypes.c_void_p()
            _lib.check(_lib.als.als_ratings_create(ctypes.byref(r)))
            rk = _lib.Keeper(r.value, _lib.als.als_ratings_destroy)
            run = ctypes.c_uint64()
            _lib.check(_lib.als.als_ratings_read_ids_run(rk.h, p + b".ids", ctypes.byref(run)))
            mine = _lib.als.als_model_run_id(k.h)
            if run.value and mine and run.value != mine:
                raise AlsError(EFORMAT, "%s.ids belongs to another training run (%016x, the "
                               "model is %016x): its names would be wrong"
                               % (os.fsdecode(p), run.value, mine))
            rk.frozen = True
            k.dicts = rk
            m._side(k, "user")  # checks that the dictionaries cover the model's ids
            m._side(k, "item")
        return m

    def export_npy(self, prefix):
        """Write PREFIX_users.npy, PREFIX_items.npy (float32 factors), PREFIX_user_ids.npy,
        PREFIX_item_ids.npy (int64, the library's ids: dictionary ids for names)
        (als_model_export_npy); for names also PREFIX_user_names.npy / _item_names.npy
        (str arrays, row-aligned). Row r of PREFIX_users.npy belongs to user_ids[r]."""
        k = self._fitted()
        p = _lib.path_bytes(prefix)
        _lib.check(_lib.als.als_model_export_npy(k.h, p))
        written = []
        for side in _SIDES:
            names = self._side(k, side)["names"]
            if names is not None:
                f = os.fsdecode(p) + "_%s_names.npy" % side
                np.save(f, np.array(names.tolist(), dtype=str), allow_pickle=False)
                written.append(f)
        return written
