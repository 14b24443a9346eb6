"""Build hooks of the alslib package (the metadata is in pyproject.toml).

- version: read from include/als.h, the single source of the version;
- build_py: copies libals.so.1 and libvecidx.so.1 into alslib/_libs/ of the build, from
  $ALSLIB_LIB_DIR or the repository's lib/ (`make lib`); the build fails with a clear
  message when they are missing, rather than making a package that finds no library;
- the wheel is marked platform-specific, since it holds x86-64 shared objects.
"""
import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
LIBS = ("libals.so.1", "libvecidx.so.1")


def version():
    header = os.path.join(ROOT, "include", "als.h")
    try:
        with open(header) as f:
            text = f.read()
    except OSError:
        raise SystemExit("alslib: %s not found: build the package from the libals source "
                         "tree" % header)
    parts = [re.search(r"#define ALS_VERSION_%s (\d+)" % k, text).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class build_py_with_libs(build_py):
    def run(self):
        super().run()
        src = os.environ.get("ALSLIB_LIB_DIR") or os.path.join(ROOT, "lib")
        dst = os.path.join(self.build_lib, "alslib", "_libs")
        missing = [n for n in LIBS if not os.path.exists(os.path.join(src, n))]
        if missing:
            raise SystemExit("alslib: %s not in %s: run `make lib` in %s first, or set "
                             "ALSLIB_LIB_DIR to the folder holding them"
                             % (", ".join(missing), src, ROOT))
        os.makedirs(dst, exist_ok=True)
        for n in LIBS:
            target = os.path.join(dst, n)
            if os.path.lexists(target):
                os.remove(target)
            shutil.copyfile(os.path.join(src, n), target)  # the file, not the symlink
            os.chmod(target, 0o755)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(version=version(), cmdclass={"build_py": build_py_with_libs},
      distclass=BinaryDistribution)
