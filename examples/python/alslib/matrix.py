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
    one copy is made (see as_float32_rows). The array is kept referenced as `.array` for
    the lifetime of the handle, so the buffer stays valid. Free with close(), `with`, or
    let the garbage collector do it."""

    def __init__(self, arr, name="matrix"):
        self._h = None
        a = as_float32_rows(arr, name)
        self.array = a
        rows, cols = a.shape
        stride = a.strides[0] // 4 if rows > 1 else cols
        data = a.ctypes.data if a.size else None
        h = ctypes.c_void_p()
        _lib.check(_lib.als.als_matrix_wrap(ctypes.byref(h), data, rows, cols, stride))
        self._h = h

    @property
    def handle(self):
        if self._h is None:
            raise AlsError(_lib.ESTATE, "matrix is closed")
        return self._h

    @property
    def shape(self):
        return (_lib.als.als_matrix_rows(self.handle), _lib.als.als_matrix_cols(self.handle))

    @property
    def stride(self):
        return _lib.als.als_matrix_stride(self.handle)

    @property
    def data_pointer(self):
        """als_matrix_data(): the address the library reads (0 for an empty matrix)."""
        return _lib.als.als_matrix_data(self.handle) or 0

    def _destroy(self, h):
        _lib.als.als_matrix_destroy(h)


def as_matrix(x, name="matrix"):
    """(Matrix, owned): x itself if it is a Matrix, else a temporary wrapping of x."""
    if isinstance(x, Matrix):
        return x, False
    return Matrix(x, name), True


def borrowed_view(cmat_ptr, owner):
    """Read-only NumPy view of a borrowed const als_matrix*, keeping `owner` alive."""
    rows = _lib.als.als_matrix_rows(cmat_ptr)
    cols = _lib.als.als_matrix_cols(cmat_ptr)
    stride = _lib.als.als_matrix_stride(cmat_ptr)
    data = _lib.als.als_matrix_data_const(cmat_ptr)
    if not data or rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype=np.float32)
    return _strided(data, rows, cols, stride, owner)


def _strided(data, rows, cols, stride, owner):
    n = (rows - 1) * stride + cols
    flat = _view(data, n, ctypes.c_float, np.float32, owner)
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, cols), strides=(4 * stride, 4),
                                           writeable=False)


def _view(addr, n, ctype, dtype, owner):
    buf = (ctype * n).from_address(addr)
    buf._alslib_owner = owner  # the NumPy array's base chain keeps the owner alive
    a = np.frombuffer(buf, dtype=dtype)
    a.setflags(write=False)
    return a


def borrowed_ids(ptr, n, owner):
    """Read-only int64 NumPy view of a borrowed const int64_t* of n elements."""
    if not ptr or n == 0:
        return np.zeros(0, dtype=np.int64)
    return _view(ptr, n, ctypes.c_int64, np.int64, owner)
