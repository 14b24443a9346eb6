"""alslib: a ctypes binding of libals and libvecidx (no compiled extension).

    from alslib import ALS, Ratings, FlatIndex, IVFIndex, Matrix, AlsError, normalize

The shared libraries are found through $ALSLIB_PATH, the copies packaged by pip, the
LIBDIR of `make install`, the in-tree lib/ or the system loader (see _lib.py); every
failure raises AlsError(code, message).

Memory: arrays the binding returns never point to freed memory. Factor and id views
(ALS.user_factors, ...) hold the library model they show, which close(), `with` and a new
fit() leave alive until the last view goes (see ALS).

Result order: the model family (ALS.recommend, similar_items, similar_users) returns
(ids, scores); the vector indexes (search, expand) return (scores, ids), like Faiss. Both
are best first, equal scores by smaller id, padded with id -1 (None for names).
"""
from ._lib import AlsError, strerror
from . import _lib as _l
from .matrix import Matrix, normalize
from .als import ALS, Ratings
from .index import FlatIndex, IVFIndex, Index

OK, EINVAL, ENOMEM, ERANGE, EDIM, ESTATE, EIO, EFORMAT, ECANCELED, ENOTFOUND, \
    EUNSUPPORTED, EINTERNAL = (_l.OK, _l.EINVAL, _l.ENOMEM, _l.ERANGE, _l.EDIM, _l.ESTATE,
                               _l.EIO, _l.EFORMAT, _l.ECANCELED, _l.ENOTFOUND,
                               _l.EUNSUPPORTED, _l.EINTERNAL)


def version():
    """The loaded libals's version string, e.g. "1.1.0"."""
    return _l.als.als_version_string().decode()


def library_path():
    """Files of the loaded libals and libvecidx (real paths, symlinks resolved)."""
    return _l.loaded_path(_l.als), _l.loaded_path(_l.vec)


def library_source():
    """Which rule of the search order found the libraries: "$ALSLIB_PATH", "packaged
    copy", "make install LIBDIR", "in-tree lib/" or "system loader"."""
    return _l.found_by


__all__ = ["ALS", "Ratings", "Matrix", "FlatIndex", "IVFIndex", "Index", "AlsError",
           "normalize", "strerror", "version", "library_path", "library_source"]
