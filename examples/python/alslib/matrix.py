"""Matrix: an als_matrix handle over a NumPy array, zero-copy when possible."""
import ctypes

import numpy as np

from . import _lib
from ._lib import AlsError, EDIM, EINVAL


def as_float32_rows(arr, name="matrix"):
    """A 2-D float32 array with unit column stride, copying only when needed.

    No copy: float32 arrays whose rows are contiguous (C order, or row slices of a C-order
    array). Anything else (other dtype, Fortran order, column slices) is copied once with
    np.ascontiguousarray(..., dtype=float32). A 1-D array is one row."""
    try:
        a = np.asarray(arr)
        if a.dtype != np.float32 and a.dtype.kind not in "fiub":
            raise TypeError("dtype %s is not numeric" % a.dtype)
    except (TypeError, ValueError) as e:
        raise AlsError(EINVAL, "%s: not a numeric array: %s" % (name, e)) from None
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise AlsError(EDIM, "%s: expected a 2-D array, got %d dimensions" % (name, a.ndim))
    # The library reads floats in place, so they must be 4-byte aligned: arrays rebuilt
    # from pickled or network buffers (Dask, Spark) can start at any byte.
    ok = (a.dtype == np.float32 and a.dtype.isnative and a.flags.aligned and a.strides[1] == 4
          and a.strides[0] % 4 == 0 and a.strides[0] >= 4 * a.shape[1])
    if not ok or (a.shape[0] > 1 and a.strides[0] == 0):
        a = np.require(a, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"])
    return a


class Matrix(_lib.Handle):
    """An als_matrix describing a NumPy array's buffer (als_matrix_wrap).

    A float32 array with contiguous rows (C order) is wrapped without a copy; otherwise
    one copy is made (see as_float32_rows). The array is kept referenced as `.array` (and
    by the handle's keeper) for the lifetime of the handle, so the buffer stays valid.
    Free with close(), `with`, or let the garbage collector do it."""

    _what = "matrix"
    _destroy_fn = _lib.als.als_matrix_destroy

    def __init__(self, arr, name="matrix"):
        a = as_float32_rows(arr, name)
        self.array = a
        rows, cols = a.shape
        stride = a.strides[0] // 4 if rows > 1 else cols
        data = a.ctypes.data if a.size else None
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_matrix_wrap(ctypes.byref(h), data, rows, cols, stride))
        self._own(h).array = a  # the buffer lives as long as the handle

    @property
    def shape(self):
        h = self.handle
        return (_lib.als.als_matrix_rows(h), _lib.als.als_matrix_cols(h))

    @property
    def stride(self):
        return _lib.als.als_matrix_stride(self.handle)

    @property
    def data_pointer(self):
        """als_matrix_data(): the address the library reads (0 for an empty matrix)."""
        return _lib.als.als_matrix_data(self.handle) or 0


def as_matrix(x, name="matrix"):
    """(Matrix, owned): x itself if it is a Matrix, else a temporary wrapping of x."""
    if isinstance(x, Matrix):
        return x, False
    return Matrix(x, name), True


def borrowed_view(cmat_ptr, keeper):
    """Read-only NumPy view of a borrowed const als_matrix* that belongs to the handle of
    `keeper` (a _lib.Keeper). The view references the keeper, so the memory stays valid
    for as long as the view (or any array derived from it) lives, whatever happens to the
    Python object that handed it out (close, `with`, refit)."""
    rows = _lib.als.als_matrix_rows(cmat_ptr)
    cols = _lib.als.als_matrix_cols(cmat_ptr)
    stride = _lib.als.als_matrix_stride(cmat_ptr)
    data = _lib.als.als_matrix_data_const(cmat_ptr)
    if not data or rows == 0 or cols == 0:
        a = np.zeros((rows, cols), dtype=np.float32)
        a.setflags(write=False)
        return a
    n = (rows - 1) * stride + cols
    flat = _view(data, n, ctypes.c_float, np.float32, keeper)
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, cols), strides=(4 * stride, 4),
                                           writeable=False)


def _view(addr, n, ctype, dtype, keeper):
    if not isinstance(keeper, _lib.Keeper):
        raise TypeError("borrowed memory needs the Keeper of its handle")
    buf = (ctype * n).from_address(addr)
    buf._alslib_keeper = keeper  # the NumPy array's base chain keeps the handle alive
    a = np.frombuffer(buf, dtype=dtype)
    a.setflags(write=False)
    return a


def borrowed_ids(ptr, n, keeper):
    """Read-only int64 NumPy view of a borrowed const int64_t* of n elements (see
    borrowed_view for its lifetime)."""
    if not ptr or n == 0:
        a = np.zeros(0, dtype=np.int64)
        a.setflags(write=False)
        return a
    return _view(ptr, n, ctypes.c_int64, np.int64, keeper)


def normalize(x, copy=True):
    """Rows scaled to unit L2 norm (als_matrix_normalize_rows): afterwards the inner product
    of two rows is their cosine, as Faiss users do with faiss.normalize_L2 before an IP
    index. Rows of zeros stay zero; a NaN or Inf anywhere raises AlsError(EINVAL).

    copy=True (default): returns a new float32 C-order array; x is not touched.
    copy=False: normalizes x in place and returns it; x must then be a writable float32
    array with contiguous rows (else AlsError(EINVAL): nothing is converted silently)."""
    if copy:
        a = np.array(as_float32_rows(x, "normalize"), dtype=np.float32, order="C", copy=True)
        if np.ndim(x) == 1:
            a = a.reshape(-1)
    else:
        a = x
        if not isinstance(a, np.ndarray) or not a.flags.writeable:
            raise AlsError(EINVAL, "normalize(copy=False) needs a writable NumPy array")
    with Matrix(a, "normalize") as m:
        if m.array.ctypes.data != a.ctypes.data and a.size:
            raise AlsError(EINVAL, "normalize(copy=False) needs a float32 array with "
                           "contiguous rows, got %s with strides %s" % (a.dtype, a.strides))
        _lib.check(_lib.als.als_matrix_normalize_rows(m.handle))
    return a
