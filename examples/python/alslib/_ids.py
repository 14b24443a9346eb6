"""Strict id conversion: what may be an id, and what is refused.

Integer ids become int64 without any silent change of value:
  - integer arrays (int8 .. int64, uint8 .. uint32) are converted; uint64 values >= 2^63
    do not fit int64 and are refused;
  - float arrays are accepted only where every value is an integer that the float type
    holds exactly (|x| <= 2^53 for float64, 2^24 for float32, 2^11 for float16): 3.0 is
    id 3; 1.5, NaN, +-inf and 1e300 are refused, never truncated;
  - booleans are refused (a mask passed where ids were meant; use np.flatnonzero(mask));
  - object arrays and lists are checked element by element: Python / NumPy integers and
    exact floats as above; anything else (None, bool, a nested list, a mix of numbers and
    strings) is refused, naming the element and its position.
Names (string ids) are str (or UTF-8 bytes) elements, in 'U', 'S' or object arrays or
lists; a mix of names and numbers is refused; a name containing a NUL byte is refused.
Every refusal raises AlsError(EINVAL) (EDIM for an array of more than one dimension).
"""
import numbers
import operator

import numpy as np

from ._lib import AlsError, EDIM, EINVAL, ERANGE

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _fail(name, msg):
    raise AlsError(EINVAL, "%s: %s" % (name, msg))


def _float_to_int64(a, name):
    a = np.asarray(a)
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _fail(name, "id %r at position %d is not a number" % (a.flat[i].item(), i))
    frac = a != np.floor(a)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        _fail(name, "id %r at position %d is not an integer (ids are never rounded)"
              % (a.flat[i].item(), i))
    limit = float(2 ** min(np.finfo(a.dtype).nmant + 1, 63))
    big = np.abs(a) > limit if a.size else np.zeros(0, bool)
    if big.any():
        i = int(np.flatnonzero(big)[0])
        _fail(name, "id %r at position %d is above %d, the largest integer a %s holds exactly: "
              "give ids as an integer array" % (a.flat[i].item(), i, int(limit), a.dtype))
    return a.astype(np.int64)


def _uint_to_int64(a, name):
    if a.dtype.itemsize == 8 and a.size:
        big = a > np.uint64(_INT64_MAX)
        if big.any():
            i = int(np.flatnonzero(big)[0])
            _fail(name, "id %d at position %d does not fit int64 (ids are int64; uint64 values "
                  ">= 2^63 would wrap around)" % (int(a[i]), i))
    return a.astype(np.int64)


def _classify_objects(flat, name, allow_names):
    """flat: a 1-D object array. -> ('int', int64 array) or ('name', list of str/bytes)."""
    kinds = set()
    for i, x in enumerate(flat):
        if isinstance(x, (bool, np.bool_)):
            _fail(name, "element %d is a bool (%r), not an id" % (i, x))
        if isinstance(x, (str, bytes, np.str_, np.bytes_)):
            kinds.add("name")
        elif isinstance(x, numbers.Integral):
            kinds.add("int")
        elif isinstance(x, numbers.Real):
            kinds.add("float")
        else:
            _fail(name, "element %d is a %s (%r), not an id" % (i, type(x).__name__, x))
        if "name" in kinds and len(kinds) > 1:
            _fail(name, "mixes names (str) and numbers (element %d is %r): give all ids as "
                  "integers or all as names" % (i, x))
    if kinds == {"name"}:
        if not allow_names:
            _fail(name, "names (str) are not accepted here, only integer ids")
        return "name", [str(x) if isinstance(x, np.str_) else
                        bytes(x) if isinstance(x, np.bytes_) else x for x in flat]
    out = np.empty(len(flat), dtype=np.int64)
    for i, x in enumerate(flat):
        if isinstance(x, numbers.Integral):
            x = int(x)
            if not _INT64_MIN <= x <= _INT64_MAX:
                _fail(name, "id %d at position %d does not fit int64" % (x, i))
            out[i] = x
        else:  # a real number: the rules of a float64 array
            out[i] = _float_to_int64(np.array([float(x)]), "%s[%d]" % (name, i))[0]
    return "int", out


def classify(x, name, allow_names=True):
    """-> ('int', 1-D C-contiguous aligned int64 array) or ('name', list of str/bytes).
    A scalar counts as one id."""
    if isinstance(x, (set, frozenset)):
        x = sorted(x, key=lambda v: (type(v).__name__, v))
    if isinstance(x, np.ndarray):
        a = x
    elif isinstance(x, (list, tuple)) or np.ndim(x) == 0 or not hasattr(x, "__array__"):
        # Python containers: look at every element (np.asarray would turn [1, "a"] into
        # two strings and [1, 2.5] into floats without a word)
        try:
            a = np.empty(len(x), dtype=object) if isinstance(x, (list, tuple)) else None
        except TypeError:
            a = None
        if a is not None:
            for i, v in enumerate(x):
                a[i] = v
            if any(isinstance(v, (list, tuple, np.ndarray)) for v in x):
                raise AlsError(EDIM, "%s: expected a 1-D id array, got nested sequences" % name)
        elif isinstance(x, np.generic) and not isinstance(x, (np.str_, np.bytes_)):
            a = np.asarray(x).reshape(1)  # a NumPy scalar keeps its dtype's rules
        elif np.ndim(x) == 0:
            a = np.empty(1, dtype=object)
            a[0] = x
        else:
            try:
                a = np.asarray(x)
            except (TypeError, ValueError) as e:
                _fail(name, "not an id array: %s" % e)
    else:
        a = np.asarray(x)  # pandas Series, array-likes
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise AlsError(EDIM, "%s: expected a 1-D id array, got %d dimensions" % (name, a.ndim))
    k = a.dtype.kind
    if k == "i":
        out = a.astype(np.int64, copy=False)
    elif k == "u":
        out = _uint_to_int64(a, name)
    elif k == "f":
        out = _float_to_int64(a, name)
    elif k == "b":
        _fail(name, "a bool array is not an id array (a mask? np.flatnonzero(mask) gives the "
              "positions)")
    elif k in "US":
        if not allow_names:
            _fail(name, "names (str) are not accepted here, only integer ids")
        return "name", a.tolist()
    elif k == "O":
        kind, out = _classify_objects(a, name, allow_names)
        if kind == "name":
            return kind, out
    else:
        _fail(name, "dtype %s is not an id type (integers or names)" % a.dtype)
    return "int", np.require(out, dtype=np.int64, requirements=["C_CONTIGUOUS", "ALIGNED"])


def int_ids(x, name):
    """Integer ids only (vector-index ids, filters, integer-id models)."""
    return classify(x, name, allow_names=False)[1]


def encode_names(names, name):
    """list of str/bytes -> (buffer, pointer array) for a `const char *const *` argument.
    Keep both alive during the call."""
    from ._lib import c_bytes
    enc = [c_bytes(s, name + " name") for s in names]
    n = len(enc)
    blob = np.frombuffer(b"\0".join(enc) + b"\0", dtype=np.uint8)
    lens = np.fromiter((len(b) + 1 for b in enc), dtype=np.int64, count=n)
    offs = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lens[:-1], out=offs[1:])
    ptrs = (offs + blob.ctypes.data).astype(np.uint64)
    return blob, ptrs


def int_arg(v, name):
    """An integer argument (k, dim, ...): ints and exact integer floats; 2.5, NaN, bools
    and strings raise AlsError(EINVAL) instead of being truncated by int()."""
    if isinstance(v, (bool, np.bool_)) or isinstance(v, (str, bytes)):
        raise AlsError(EINVAL, "%s must be an integer, not %r" % (name, v))
    try:
        f = operator.index(v)
    except TypeError:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise AlsError(EINVAL, "%s must be an integer, not %r" % (name, v)) from None
        if not f == f or f in (float("inf"), float("-inf")) or f != int(f):
            raise AlsError(EINVAL, "%s must be an integer, not %r" % (name, v))
        f = int(f)
    if not -(1 << 63) <= f < (1 << 63):
        raise AlsError(ERANGE, "%s = %d does not fit int64" % (name, f))
    return f


def out_array(shape, dtype, fill, what):
    """A result buffer the caller asked for; a size no memory can hold is AlsError(ERANGE)
    (as the library reports such a k), not a NumPy MemoryError."""
    try:
        return np.full(shape, fill, dtype=dtype)
    except (ValueError, MemoryError, OverflowError) as e:
        raise AlsError(ERANGE, "%s: no buffer can hold %s results (%s)"
                       % (what, " x ".join(map(str, np.atleast_1d(shape))), e)) from None
