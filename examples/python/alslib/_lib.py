"""Loading libals / libvecidx with ctypes, the function prototypes, and AlsError.

The libraries are found, in this order:
  1. $ALSLIB_PATH, a folder holding libals.so.1 and libvecidx.so.1;
  2. the in-tree lib/ folder (examples/python/alslib/../../../lib), after `make lib`;
  3. the installed location, through ctypes.util.find_library and the system loader.
libals is loaded with RTLD_GLOBAL first so that libvecidx resolves its als_* symbols.
"""
import ctypes
import ctypes.util
import os

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_double_p = ctypes.POINTER(ctypes.c_double)
vp = ctypes.c_void_p
vpp = ctypes.POINTER(ctypes.c_void_p)
i64 = ctypes.c_int64
cint = ctypes.c_int
cstr = ctypes.c_char_p

# Status codes (include/als.h).
OK, EINVAL, ENOMEM, ERANGE, EDIM, ESTATE, EIO, EFORMAT, ECANCELED, ENOTFOUND, \
    EUNSUPPORTED, EINTERNAL = 0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11


class AlsError(Exception):
    """A failed library call: `code` is the ALS_E* value (negative int), `message` the
    library's explanation (als_last_error() of the failing call) or the binding's own."""

    def __init__(self, code, message):
        super().__init__(code, message)
        self.code = int(code)
        self.message = message

    def __str__(self):
        return "%s (%d): %s" % (strerror(self.code), self.code, self.message)


def _candidates(name):
    env = os.environ.get("ALSLIB_PATH")
    if env:
        return [os.path.join(env, name)]
    here = os.path.dirname(os.path.abspath(__file__))
    intree = os.path.normpath(os.path.join(here, "..", "..", "..", "lib", name))
    out = [intree] if os.path.exists(intree) else []
    found = ctypes.util.find_library(name.split(".so")[0][3:])
    if found:
        out.append(found)
    out.append(name)  # the system loader's search (ld.so.cache, LD_LIBRARY_PATH)
    return out


def _load(name, mode):
    errors = []
    for path in _candidates(name):
        try:
            return ctypes.CDLL(path, mode=mode)
        except OSError as e:
            errors.append(str(e))
    raise OSError("alslib: cannot load %s (set ALSLIB_PATH to the folder holding it): %s"
                  % (name, "; ".join(errors)))


als = _load("libals.so.1", ctypes.RTLD_GLOBAL)
vec = _load("libvecidx.so.1", ctypes.RTLD_LOCAL)

# (library, name, restype, argtypes): every function the binding calls.
_PROTOS = [
    (als, "als_version_string", cstr, []),
    (als, "als_strerror", cstr, [cint]),
    (als, "als_last_error", cstr, []),
    (als, "als_matrix_wrap", cint, [vpp, vp, i64, i64, i64]),
    (als, "als_matrix_destroy", None, [vp]),
    (als, "als_matrix_rows", i64, [vp]),
    (als, "als_matrix_cols", i64, [vp]),
    (als, "als_matrix_stride", i64, [vp]),
    (als, "als_matrix_data", vp, [vp]),
    (als, "als_matrix_data_const", vp, [vp]),
    (als, "als_ratings_create", cint, [vpp]),
    (als, "als_ratings_destroy", None, [vp]),
    (als, "als_ratings_add", cint, [vp, i64, vp, vp, vp]),
    (als, "als_ratings_read_csv", cint, [vpp, cstr, cstr]),
    (als, "als_ratings_rows", i64, [vp]),
    (als, "als_model_create", cint, [vpp]),
    (als, "als_model_destroy", None, [vp]),
    (als, "als_set_param", cint, [vp, cstr, cstr]),
    (als, "als_get_int", cint, [vp, cint, c_int64_p]),
    (als, "als_model_fit", cint, [vp, vp]),
    (als, "als_model_is_fitted", cint, [vp]),
    (als, "als_model_user_factors", vp, [vp]),
    (als, "als_model_item_factors", vp, [vp]),
    (als, "als_model_user_ids", vp, [vp]),
    (als, "als_model_item_ids", vp, [vp]),
    (als, "als_model_predict", cint, [vp, i64, vp, vp, vp]),
    (als, "als_model_fold_in", i64, [vp, i64, vp, vp, vp]),
    (als, "als_model_recommend", cint, [vp, i64, i64, vp, vp, vp]),
    (als, "als_model_save", cint, [vp, cstr]),
    (als, "als_model_load", cint, [vpp, cstr]),
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
for _lib, _name, _res, _args in _PROTOS:
    _f = getattr(_lib, _name)
    _f.restype = _res
    _f.argtypes = _args


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
        return os.fsencode(path)
    except TypeError:
        raise AlsError(EINVAL, "path must be str, bytes or os.PathLike, not %s"
                       % type(path).__name__) from None


class Handle:
    """Owner of one library handle (self._h), freed exactly once: by close(), by leaving a
    `with` block, or by garbage collection. Subclasses say how in _destroy(h)."""

    _h = None

    def _destroy(self, h):
        raise NotImplementedError

    def close(self):
        if self._h is not None:
            h, self._h = self._h, None
            self._destroy(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the module globals may be gone
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
