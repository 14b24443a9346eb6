"""Loading libals / libvecidx with ctypes, the function prototypes, AlsError, and the
Keeper / Handle pair that decides when a library handle is freed.

The libraries are found, in this order (the first one that exists is used; a file that
exists but fails to load is an error, never skipped for another copy):
  1. $ALSLIB_PATH, a folder holding libals.so.1 and libvecidx.so.1 (an explicit choice:
     nothing else is tried, so the sanitizer builds of `make sanitize` cannot be shadowed);
  2. the copies packaged by `pip install` (alslib/_libs/, see setup.py);
  3. the LIBDIR that `make install` wrote into alslib/_config.py;
  4. the in-tree lib/ folder (examples/python/alslib/../../../lib), after `make lib`;
  5. the system loader (ld.so.cache, LD_LIBRARY_PATH).
Both libraries always come from the same folder. libals is loaded by absolute path with
RTLD_GLOBAL first, so that libvecidx's dependency on libals.so.1 resolves to that copy.
"""
import ctypes
import os
import re

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_uint64_p = ctypes.POINTER(ctypes.c_uint64)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_double_p = ctypes.POINTER(ctypes.c_double)
vp = ctypes.c_void_p
vpp = ctypes.POINTER(ctypes.c_void_p)
i64 = ctypes.c_int64
u64 = ctypes.c_uint64
cint = ctypes.c_int
cdouble = ctypes.c_double
cstr = ctypes.c_char_p
csize = ctypes.c_size_t

# Status codes (include/als.h).
OK, EINVAL, ENOMEM, ERANGE, EDIM, ESTATE, EIO, EFORMAT, ECANCELED, ENOTFOUND, \
    EUNSUPPORTED, EINTERNAL = 0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11

_NAMES = {OK: "OK", EINVAL: "EINVAL", ENOMEM: "ENOMEM", ERANGE: "ERANGE", EDIM: "EDIM",
          ESTATE: "ESTATE", EIO: "EIO", EFORMAT: "EFORMAT", ECANCELED: "ECANCELED",
          ENOTFOUND: "ENOTFOUND", EUNSUPPORTED: "EUNSUPPORTED", EINTERNAL: "EINTERNAL"}


class AlsError(Exception):
    """A failed library call: `code` is the ALS_E* value (negative int), `message` the
    library's explanation (als_last_error() of the failing call) or the binding's own."""

    def __init__(self, code, message):
        super().__init__(code, message)
        self.code = int(code)
        self.message = message

    def __str__(self):
        return "%s (%d): %s" % (strerror(self.code), self.code, self.message)


_HERE = os.path.dirname(os.path.abspath(__file__))
_SONAMES = ("libals.so.1", "libvecidx.so.1")


def _folders():
    """Candidate folders (absolute), in the documented order; None = the system loader."""
    env = os.environ.get("ALSLIB_PATH")
    if env:
        return [("$ALSLIB_PATH", os.path.abspath(env))]
    out = [("packaged copy", os.path.join(_HERE, "_libs"))]
    try:
        from . import _config  # written by `make install`
        out.append(("make install LIBDIR", _config.LIBDIR))
    except ImportError:
        pass
    root = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    if os.path.exists(os.path.join(root, "include", "als.h")):  # only in the source tree
        out.append(("in-tree lib/", os.path.join(root, "lib")))
    out.append(("system loader", None))
    return out


def _load_pair():
    tried = []
    for what, folder in _folders():
        if folder is None:
            try:
                a = ctypes.CDLL(_SONAMES[0], mode=ctypes.RTLD_GLOBAL)
                v = ctypes.CDLL(_SONAMES[1], mode=ctypes.RTLD_LOCAL)
            except OSError as e:
                tried.append("%s: %s" % (what, e))
                break
            return a, v, what
        pa, pv = (os.path.join(folder, n) for n in _SONAMES)
        if not os.path.exists(pa):
            if what == "$ALSLIB_PATH":
                raise OSError("alslib: $ALSLIB_PATH=%s holds no %s" % (folder, _SONAMES[0]))
            tried.append("%s: no %s" % (what, pa))
            continue
        try:
            a = ctypes.CDLL(pa, mode=ctypes.RTLD_GLOBAL)
            v = ctypes.CDLL(pv, mode=ctypes.RTLD_LOCAL)
        except OSError as e:
            raise OSError("alslib: cannot load the libraries of the %s %s: %s"
                          % (what, folder, e)) from None
        return a, v, what
    raise OSError("alslib: cannot find libals.so.1 / libvecidx.so.1 (run `make lib`, `make "
                  "install`, `pip install examples/python`, or set ALSLIB_PATH to the folder "
                  "holding them): " + "; ".join(tried))


als, vec, found_by = _load_pair()


def loaded_path(lib):
    """The file a loaded library really is (from /proc/self/maps), else its load name."""
    base = os.path.basename(lib._name).split(".so")[0] + ".so"
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split(None, 5)[-1].strip() if len(line.split(None, 5)) == 6 else ""
                if os.path.basename(p).startswith(base):
                    return p
    except OSError:
        pass
    return lib._name


# (library, name, restype, argtypes): every function the binding calls. Those in _OPTIONAL
# may be missing from an older library; calling one then raises EUNSUPPORTED.
_PROTOS = [
    (als, "als_version_string", cstr, []),
    (als, "als_version_number", cint, []),
    (als, "als_strerror", cstr, [cint]),
    (als, "als_last_error", cstr, []),
    (als, "als_matrix_wrap", cint, [vpp, vp, i64, i64, i64]),
    (als, "als_matrix_destroy", None, [vp]),
    (als, "als_matrix_rows", i64, [vp]),
    (als, "als_matrix_cols", i64, [vp]),
    (als, "als_matrix_stride", i64, [vp]),
    (als, "als_matrix_data", vp, [vp]),
    (als, "als_matrix_data_const", vp, [vp]),
    (als, "als_matrix_normalize_rows", cint, [vp]),
    (als, "als_ratings_create", cint, [vpp]),
    (als, "als_ratings_destroy", None, [vp]),
    (als, "als_ratings_add", cint, [vp, i64, vp, vp, vp]),
    (als, "als_ratings_add_timed", cint, [vp, i64, vp, vp, vp, vp]),
    (als, "als_ratings_add_named", cint, [vp, i64, vp, vp, vp]),
    (als, "als_ratings_read_csv", cint, [vpp, cstr, cstr]),
    (als, "als_ratings_rows", i64, [vp]),
    (als, "als_ratings_num_users", i64, [vp]),
    (als, "als_ratings_num_items", i64, [vp]),
    (als, "als_ratings_bad_rows", i64, [vp]),
    (als, "als_ratings_get", cint, [vp, i64, c_int64_p, c_int64_p, c_float_p, c_int64_p]),
    (als, "als_ratings_user_name", vp, [vp, i64]),
    (als, "als_ratings_item_name", vp, [vp, i64]),
    (als, "als_ratings_user_id", i64, [vp, cstr]),
    (als, "als_ratings_item_id", i64, [vp, cstr]),
    (als, "als_ratings_write_ids", cint, [vp, cstr]),
    (als, "als_ratings_write_ids_run", cint, [vp, cstr, u64]),
    (als, "als_ratings_read_ids_run", cint, [vp, cstr, c_uint64_p]),
    (als, "als_ratings_split", cint, [vp, cdouble, u64, vpp, vpp]),
    (als, "als_ratings_group_by_user", cint, [vp]),
    (als, "als_ratings_split_last", cint, [vp, i64, vpp, vpp]),
    (als, "als_ratings_split_time", cint, [vp, i64, vpp, vpp]),
    (als, "als_model_create", cint, [vpp]),
    (als, "als_model_destroy", None, [vp]),
    (als, "als_set_param", cint, [vp, cstr, cstr]),
    (als, "als_set_int", cint, [vp, cint, i64]),
    (als, "als_set_double", cint, [vp, cint, cdouble]),
    (als, "als_get_int", cint, [vp, cint, c_int64_p]),
    (als, "als_get_double", cint, [vp, cint, c_double_p]),
    (als, "als_model_explain_params", i64, [vp, ctypes.c_char_p, csize]),
    (als, "als_model_set_progress", cint, [vp, vp, vp]),
    (als, "als_model_cancel", cint, [vp]),
    (als, "als_model_fit", cint, [vp, vp]),
    (als, "als_model_is_fitted", cint, [vp]),
    (als, "als_model_run_id", u64, [vp]),
    (als, "als_model_user_factors", vp, [vp]),
    (als, "als_model_item_factors", vp, [vp]),
    (als, "als_model_user_ids", vp, [vp]),
    (als, "als_model_item_ids", vp, [vp]),
    (als, "als_model_predict", cint, [vp, i64, vp, vp, vp]),
    (als, "als_model_fold_in", i64, [vp, i64, vp, vp, vp]),
    (als, "als_model_recommend", cint, [vp, i64, i64, vp, vp, vp]),
    (als, "als_model_recommend_unseen", cint, [vp, i64, i64, vp, vp]),
    (als, "als_model_num_interactions", i64, [vp]),
    (als, "als_model_items_of_user", i64, [vp, i64, vp, vp, i64]),
    (als, "als_model_users_of_items", i64, [vp, i64, vp, vp, i64]),
    (als, "als_model_save", cint, [vp, cstr]),
    (als, "als_model_load", cint, [vpp, cstr]),
    (als, "als_model_export_npy", cint, [vp, cstr]),
    (als, "als_eval_ranking", cint, [vp, vp, vp, i64, c_double_p, cint]),
    (als, "als_eval_rmse", cint, [vp, vp, c_double_p, c_int64_p]),
    # the distributed fit's calls (als.h group als_shard; alslib.shard)
    (als, "als_shard_ids", i64, [vp, cint, vp, i64]),
    (als, "als_shard_init_factors", cint, [vp, cint, vp, vp]),
    (als, "als_shard_gram", cint, [vp, vp, vp]),
    (als, "als_shard_solve_users", cint, [vp, vp, vp, vp, vp, vp, vp]),
    (als, "als_shard_item_equations", cint, [vp, vp, vp, vp, vp, vp, vp, vp]),
    (als, "als_shard_solve_items", cint, [vp, i64, vp, vp, vp, vp, vp]),
    (als, "als_model_set_factors", cint, [vp, vp, vp, vp, vp]),
    (vec, "vecidx_flat_create", cint, [vpp, i64, cint]),
    (vec, "vecidx_ivf_create", cint, [vpp, i64, cint, i64]),
    (vec, "vecidx_destroy", None, [vp]),
    (vec, "vecidx_train", cint, [vp, vp]),
    (vec, "vecidx_is_trained", cint, [vp]),
    (vec, "vecidx_add", cint, [vp, vp, vp]),
    (vec, "vecidx_search_filtered", cint, [vp, vp, i64, vp, vp, vp]),
    (vec, "vecidx_filter_create", cint, [vpp, vp, i64, cint]),
    (vec, "vecidx_filter_destroy", None, [vp]),
    (vec, "vecidx_set_int", cint, [vp, cint, i64]),
    (vec, "vecidx_get_int", cint, [vp, cint, c_int64_p]),
    (vec, "vecidx_size", i64, [vp]),
    (vec, "vecidx_dim", i64, [vp]),
    (vec, "vecidx_metric", cint, [vp]),
    (vec, "vecidx_kind", cint, [vp]),
    (vec, "vecidx_nlist", i64, [vp]),
    (vec, "vecidx_save", cint, [vp, cstr]),
    (vec, "vecidx_load", cint, [vpp, cstr]),
    (vec, "vecidx_expand", cint, [vp, vp, i64, cint, vp, i64, vp, vp, c_int64_p]),
]
# Added in libals 1.1: the binding still loads an 1.0 library, without these features.
_OPTIONAL = {"als_ratings_add_named", "als_ratings_write_ids_run", "als_ratings_read_ids_run",
             "als_model_run_id", "als_model_cancel", "als_shard_ids", "als_shard_init_factors",
             "als_shard_gram", "als_shard_solve_users", "als_shard_item_equations",
             "als_shard_solve_items", "als_model_set_factors", "als_model_recommend_unseen",
             "als_model_num_interactions", "als_model_items_of_user", "als_model_users_of_items"}
missing = set()


def _unsupported(name):
    def f(*args):
        raise AlsError(EUNSUPPORTED, "%s is not in the loaded libals %s (%s): this needs a "
                       "newer libals" % (name, als.als_version_string().decode(), loaded_path(als)))
    return f


for _lib, _name, _res, _args in _PROTOS:
    try:
        _f = getattr(_lib, _name)
    except AttributeError:
        if _name not in _OPTIONAL:
            raise
        missing.add(_name)
        setattr(_lib, _name, _unsupported(_name))
        continue
    _f.restype = _res
    _f.argtypes = _args

if als.als_version_number() // 10000 != 1:
    raise OSError("alslib: %s is libals %s; this binding needs version 1.x"
                  % (loaded_path(als), als.als_version_string().decode()))

# int (*)(void *user, int iter, int max_iter, double seconds, double loss)
PROGRESS_FN = ctypes.CFUNCTYPE(cint, vp, cint, cint, cdouble, cdouble)


def strerror(code):
    return als.als_strerror(int(code)).decode("utf-8", "replace")


def check(rc):
    """Raise AlsError for a negative return code, else return rc.

    Call this on the value a library call just returned, before any other library call
    on this thread: the message slot of libals is thread-local and only overwritten by the
    next *failing* call on the same OS thread. ctypes releases the GIL during a call, so
    other Python threads may run library calls meanwhile, but each Python thread is its
    own OS thread with its own slot, hence reading it here is race-free."""
    if rc < 0:
        raise AlsError(rc, als.als_last_error().decode("utf-8", "replace"))
    return rc


def path_bytes(path):
    try:
        b = os.fsencode(path)
    except TypeError:
        raise AlsError(EINVAL, "path must be str, bytes or os.PathLike, not %s"
                       % type(path).__name__) from None
    if b"\0" in b:
        raise AlsError(EINVAL, "path %r contains a NUL byte" % (path,))
    return b


def c_string(p):
    """A borrowed const char* (an int address or None) as str, byte for byte: bytes that
    are not UTF-8 come back as surrogate escapes, which c_bytes() turns back into them."""
    if not p:
        return None
    return ctypes.string_at(p).decode("utf-8", "surrogateescape")


def c_bytes(s, what):
    """str (or bytes) -> NUL-free UTF-8 bytes for a const char* argument."""
    if isinstance(s, bytes):
        b = s
    else:
        try:
            b = s.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as e:
            raise AlsError(EINVAL, "%s %r is not encodable as UTF-8: %s" % (what, s, e)) from None
    if b"\0" in b:
        raise AlsError(EINVAL, "%s %r contains a NUL byte: names are C strings" % (what, s))
    return b


def param_keys(h):
    """[(name, key)] of every model parameter, from als_model_explain_params."""
    n = als.als_model_explain_params(h, None, 0)
    check(n)
    buf = ctypes.create_string_buffer(n + 1)
    check(als.als_model_explain_params(h, buf, n + 1))
    return [(m.group(1), int(m.group(2)))
            for m in re.finditer(r"^(\w+) \(key (\d+)\)", buf.value.decode(), re.M)]


class Keeper:
    """Owns one library handle `h` and frees it with `destroy` when the last reference to
    the keeper goes. The Python objects of the binding (Handle subclasses) hold their
    keeper; so do the NumPy views of library memory, the models trained on a ratings set
    and the calls in progress. Closing an object drops its reference: the handle is
    freed at once unless one of those still needs it, then when the last one goes.
    A keeper never references what references it, so CPython frees it by reference
    counting, deterministically (no garbage-collector cycle)."""

    def __init__(self, h, destroy):
        self.h = h
        self._destroy = destroy

    def __del__(self):
        h, self.h = self.h, None
        if h:
            try:
                self._destroy(h)
            except Exception:  # interpreter shutdown: the library may be gone already
                pass


class Handle:
    """A Python object over one library handle. close(), leaving a `with` block or garbage
    collection releases it: afterwards every method raises AlsError(ESTATE), and the
    library handle is freed as soon as nothing else needs it (see Keeper)."""

    _k = None
    _what = "handle"
    _destroy_fn = None  # set by subclasses: the library's destroy function

    def _own(self, h):
        """Take ownership of a new handle (a ctypes c_void_p or an address)."""
        h = h.value if isinstance(h, ctypes.c_void_p) else h
        self._k = Keeper(h, type(self)._destroy_fn)
        return self._k

    def _keeper(self):
        k = self._k
        if k is None:
            raise AlsError(ESTATE, "%s is closed" % self._what)
        return k

    @property
    def _h(self):
        k = self._k
        return None if k is None else k.h

    @property
    def handle(self):
        """The library handle (an address). Valid while this object is open."""
        return self._keeper().h

    @property
    def closed(self):
        return self._k is None

    def close(self):
        self._k = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
