# Installation: `import alslib` finds its libraries without environment variables, from
# any directory: the copies packaged by pip (alslib/_libs/), or the LIBDIR that
# `make install` writes into alslib/_config.py; $ALSLIB_PATH, when set, is the only place
# looked at. And pyproject.toml builds a wheel offline (pip --no-build-isolation
# --no-index) that carries both libraries. Each check runs a fresh interpreter in a
# temporary folder, with the package copied there (the source tree is not written to).
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

import alslib

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(os.path.abspath(alslib.__file__))  # the package under test
PYDIR = os.path.normpath(os.path.join(HERE, ".."))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
LIBDIR = os.path.dirname(alslib.library_path()[0])  # the libraries under test

PROBE = """
import alslib, numpy as np
m = alslib.ALS(rank=3, maxIter=3, seed=1, numThreads=1).fit(["a", "b", "a", "c"], ["x", "y", "y", "x"])
items, scores = m.recommend("b", 1)
idx = alslib.FlatIndex(3, "ip").add(m.item_factors)
s, i = idx.search(m.factors_of("a"), 1)
assert items.tolist() == ["x"] and i.shape == (1, 1), (items, i)
print(alslib.library_source(), *alslib.library_path(), sep="\\n")
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ALSLIB_PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "PYTHONHOME")}
    env.update(extra)
    return env


def copy_package(dst_site, with_libs):
    shutil.copytree(PKG, os.path.join(dst_site, "alslib"),
                    ignore=shutil.ignore_patterns("__pycache__", "_config.py", "_libs"))
    if with_libs:
        os.makedirs(os.path.join(dst_site, "alslib", "_libs"))
        for n in ("libals.so.1", "libvecidx.so.1"):
            shutil.copyfile(os.path.join(LIBDIR, n), os.path.join(dst_site, "alslib", "_libs", n))


class PackagingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.elsewhere = os.path.join(self.tmp, "elsewhere")
        os.makedirs(self.elsewhere)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def probe(self, env, code=PROBE):
        p = subprocess.run([sys.executable, "-c", code], cwd=self.elsewhere, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        return p.returncode, p.stdout.strip().splitlines(), p.stderr

    def test_packaged_copies_are_found_without_env(self):
        site = os.path.join(self.tmp, "site")
        copy_package(site, with_libs=True)
        rc, out, err = self.probe(clean_env(PYTHONPATH=site))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out[0], "packaged copy")
        for path in out[1:]:
            self.assertTrue(path.startswith(os.path.join(site, "alslib", "_libs")), out)

    def test_make_install_config_is_found_without_env(self):
        site = os.path.join(self.tmp, "site")
        copy_package(site, with_libs=False)
        with open(os.path.join(site, "alslib", "_config.py"), "w") as f:
            f.write("LIBDIR = %r\n" % LIBDIR)
        rc, out, err = self.probe(clean_env(PYTHONPATH=site))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out[0], "make install LIBDIR")
        self.assertTrue(all(os.path.dirname(p) == LIBDIR for p in out[1:]), out)

    def test_alslib_path_wins_and_must_hold_the_libraries(self):
        site = os.path.join(self.tmp, "site")
        copy_package(site, with_libs=True)
        rc, out, err = self.probe(clean_env(PYTHONPATH=site, ALSLIB_PATH=LIBDIR))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out[0], "$ALSLIB_PATH")
        self.assertTrue(all(os.path.dirname(p) == LIBDIR for p in out[1:]), out)
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        rc, out, err = self.probe(clean_env(PYTHONPATH=site, ALSLIB_PATH=empty))
        self.assertNotEqual(rc, 0)
        self.assertIn("ALSLIB_PATH", err)  # no silent fall-back to another copy

    def test_wheel_builds_offline_and_carries_the_libraries(self):
        have_pip = subprocess.run([sys.executable, "-m", "pip", "--version"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if not have_pip:
            self.skipTest("pip is not installed for %s (apt-get install python3-pip "
                          "python3-setuptools python3-wheel)" % sys.executable)
        # a copy of the source layout: examples/python and include/als.h (the version)
        src = os.path.join(self.tmp, "src")
        shutil.copytree(PYDIR, os.path.join(src, "examples", "python"),
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info",
                                                      "tests", "_libs", "_config.py"))
        os.makedirs(os.path.join(src, "include"))
        shutil.copy(os.path.join(ROOT, "include", "als.h"), os.path.join(src, "include"))
        wheels = os.path.join(self.tmp, "wheels")
        p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                            "--no-index", "--no-deps", "-q", "-w", wheels,
                            os.path.join(src, "examples", "python")],
                           env=clean_env(ALSLIB_LIB_DIR=LIBDIR), cwd=self.elsewhere,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout)
        (whl,) = os.listdir(wheels)
        self.assertTrue(whl.startswith("alslib-%s-" % alslib.version()), whl)
        self.assertNotIn("none-any", whl)  # it holds x86-64 shared objects
        site = os.path.join(self.tmp, "site")
        with zipfile.ZipFile(os.path.join(wheels, whl)) as z:
            names = z.namelist()
            self.assertIn("alslib/_libs/libals.so.1", names)
            self.assertIn("alslib/_libs/libvecidx.so.1", names)
            z.extractall(site)
        rc, out, err = self.probe(clean_env(PYTHONPATH=site))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out[0], "packaged copy")
        # without the libraries the build fails with the reason, not a package that
        # cannot find them
        p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                            "--no-index", "--no-deps", "-q", "-w", wheels,
                            os.path.join(src, "examples", "python")],
                           env=clean_env(ALSLIB_LIB_DIR=os.path.join(self.tmp, "nolibs")),
                           cwd=self.elsewhere, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("make lib", p.stdout)


if __name__ == "__main__":
    unittest.main()
