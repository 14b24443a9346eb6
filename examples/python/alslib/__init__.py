"""alslib: a ctypes binding of libals and libvecidx (no compiled extension).

    from alslib import ALS, FlatIndex, IVFIndex, Matrix, AlsError

The shared libraries are found through $ALSLIB_PATH, the in-tree lib/ or the installed
location (see _lib.py). Every failure raises AlsError(code, message).
"""
from ._lib import AlsError, strerror
from . import _lib as _l
from .matrix import Matrix
from .als import ALS, Ratings
from .index import FlatIndex, IVFIndex, Index

OK, EINVAL, ENOMEM, ERANGE, EDIM, ESTATE, EIO, EFORMAT, ECANCELED, ENOTFOUND, \
    EUNSUPPORTED, EINTERNAL = (_l.OK, _l.EINVAL, _l.ENOMEM, _l.ERANGE, _l.EDIM, _l.ESTATE,
                               _l.EIO, _l.EFORMAT, _l.ECANCELED, _l.ENOTFOUND,
                               _l.EUNSUPPORTED, _l.EINTERNAL)


def version():
    """The loaded libals's version string, e.g. "1.0.0"."""
    return _l.als.als_version_string().decode()


def library_path():
    """File names of the loaded libals and libvecidx."""
    return _l.als._name, _l.vec._name


__all__ = ["ALS", "Ratings", "Matrix", "FlatIndex", "IVFIndex", "Index", "AlsError",
           "strerror", "version", "library_path"]
