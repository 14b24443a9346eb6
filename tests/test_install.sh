#!/bin/sh
# Install into a temporary prefix as a user would, build a C and a C++ program from outside
# the source tree with `pkg-config --cflags --libs vecidx`, run them, then uninstall and
# check that nothing is left. Also the Python package alslib by both routes, each imported
# from another folder with no environment variable: the one `make install` writes (Debian's
# dist-packages layout), and `pip install --no-build-isolation examples/python` in a
# throw-away venv; and the docs. Usage: sh tests/test_install.sh  (from the repository root;
# BUILD and LIBOUT, if set, name the build folders as for make)
set -u
top=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/alsinstall.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }
prefix=$tmp/prefix
BUILD=${BUILD:-build}
LIBOUT=${LIBOUT:-lib}
PY=${PYTHON:-/usr/bin/python3}

if make -s --no-print-directory install PREFIX="$prefix" BUILD="$BUILD" LIBOUT="$LIBOUT" >"$tmp/install.log" 2>&1; then
  ok "make install PREFIX=$prefix"
else
  ko "make install"; sed 's/^/    /' "$tmp/install.log" | tail -5
fi
for f in include/als.h include/vecidx.h lib/libals.so.1 lib/libvecidx.so.1 lib/libals.a \
         lib/libvecidx.a lib/pkgconfig/als.pc lib/pkgconfig/vecidx.pc bin/lookalike \
         share/doc/libals/README.md lib/python3/dist-packages/alslib/__init__.py \
         lib/python3/dist-packages/alslib/_config.py; do
  [ -e "$prefix/$f" ] || ko "installed $f"
done
missing=""
for f in docs/*.md; do [ -f "$prefix/share/doc/libals/${f#docs/}" ] || missing="$missing $f"; done
if [ -z "$missing" ]; then ok "docs installed in $prefix/share/doc/libals"; else ko "docs not installed:$missing"; fi

mkdir -p "$tmp/app"
cat >"$tmp/app/app.c" <<'C'
#include <stdio.h>
#include <vecidx.h>
int main(void) {
    float v[6] = {1, 0, 0, 1, 1, 1};
    als_matrix *x;
    vecidx *idx;
    float s[3];
    int64_t id[3]; /* 3 queries x k = 1 */
    if (als_matrix_wrap(&x, v, 3, 2, 2) || vecidx_flat_create(&idx, 2, VECIDX_METRIC_IP) ||
        vecidx_add(idx, x, NULL) || vecidx_search(idx, x, 1, s, id)) {
        fprintf(stderr, "app: %s\n", als_last_error());
        return 1;
    }
    printf("libvecidx %s, nearest of row 0: %lld\n", als_version_string(), (long long)id[0]);
    vecidx_destroy(idx);
    als_matrix_destroy(x);
    return als_version_number() == ALS_VERSION_NUMBER && id[2] == 2 ? 0 : 1;
}
C
cat >"$tmp/app/app.cpp" <<'CPP'
#include <cstdio>
#include <vector>
#include <als.h>
int main() {
    als_ratings *r = nullptr;
    std::vector<int64_t> u{1, 1, 2}, i{10, 11, 10};
    if (als_ratings_create(&r) || als_ratings_add(r, 3, u.data(), i.data(), nullptr)) return 1;
    std::printf("%lld rows, %lld users\n", (long long)als_ratings_rows(r), (long long)als_ratings_num_users(r));
    int ok = als_ratings_num_users(r) == 2;
    als_ratings_destroy(r);
    return ok ? 0 : 1;
}
CPP
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cd "$tmp/app" || exit 1
flags=$(pkg-config --cflags --libs vecidx 2>"$tmp/pc.err") || { ko "pkg-config vecidx"; cat "$tmp/pc.err"; }
case "$flags" in *-lals*) ok "pkg-config --libs vecidx pulls in als ($flags)" ;; *) ko "pkg-config: no -lals in '$flags'" ;; esac
# shellcheck disable=SC2086
if ${CC:-cc} -std=c11 -Wall -Werror app.c -o app_c $flags && LD_LIBRARY_PATH="$prefix/lib" ./app_c >"$tmp/c.out"; then
  ok "C program built with pkg-config and ran: $(cat "$tmp/c.out")"
else
  ko "C program"
fi
# shellcheck disable=SC2086
if ${CXX:-c++} -std=c++11 -Wall -Werror app.cpp -o app_cpp $flags && LD_LIBRARY_PATH="$prefix/lib" ./app_cpp >"$tmp/cpp.out"; then
  ok "C++ program built with pkg-config and ran: $(cat "$tmp/cpp.out")"
else
  ko "C++ program"
fi
if LD_LIBRARY_PATH="$prefix/lib" "$prefix/bin/lookalike" --help >/dev/null 2>&1; then ok "installed lookalike runs"; else ko "installed lookalike"; fi
if "$prefix/bin/lookalike" help 2>&1 | grep -F "$prefix/share/doc/libals/lookalike.md" >/dev/null &&
   [ -f "$prefix/share/doc/libals/lookalike.md" ]; then
  ok "installed lookalike help names the installed docs"
else
  ko "installed lookalike help does not name $prefix/share/doc/libals/lookalike.md"
fi

# Python: a tiny fit + search, run from $tmp/app without ALSLIB_PATH / PYTHONPATH / LD_LIBRARY_PATH
# (except the PYTHONPATH naming the install's dist-packages); $1 = where alslib must come from.
cat >"$tmp/probe.py" <<'PY'
import os, sys
import alslib
want = os.path.realpath(sys.argv[1])
assert os.path.realpath(alslib.__file__).startswith(want), alslib.__file__
libs = alslib.library_path()
assert all(os.path.realpath(p).startswith(want) for p in libs), libs
m = alslib.ALS(rank=3, maxIter=3, seed=1, numThreads=1).fit(["a", "b", "a", "c"], ["x", "y", "y", "x"])
items, _ = m.recommend("b", 1)
idx = alslib.FlatIndex(3, "ip").add(m.item_factors)
s, i = idx.search(m.factors_of("a"), 1)
assert items.tolist() == ["x"] and i.shape == (1, 1), (items, i)
print("alslib %s from %s (%s)" % (alslib.version(), libs[0], alslib.library_source()))
PY
if [ -x "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null; then
  if (cd "$tmp/app" && env -u ALSLIB_PATH -u LD_LIBRARY_PATH PYTHONPATH="$prefix/lib/python3/dist-packages" \
        "$PY" "$tmp/probe.py" "$prefix") >"$tmp/py.out" 2>&1; then
    ok "make install's Python package imports from another folder: $(cat "$tmp/py.out")"
  else
    ko "make install's Python package:"; sed 's/^/    /' "$tmp/py.out" | tail -5
  fi
  if ! "$PY" -m pip --version >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip, setuptools, wheel' 2>/dev/null; then
    echo "skip pip install into a venv: $PY lacks pip, venv (ensurepip), setuptools or wheel (apt-get install python3-pip python3-venv python3-setuptools)"
  else
    venv=$tmp/venv
    had_build=0; [ -e "$top/examples/python/build" ] && had_build=1
    had_egg=0; [ -e "$top/examples/python/alslib.egg-info" ] && had_egg=1
    if "$PY" -m venv --system-site-packages "$venv" >"$tmp/venv.log" 2>&1 &&
       ALSLIB_LIB_DIR="$top/$LIBOUT" "$venv/bin/pip" install --no-build-isolation --no-index -q \
         "$top/examples/python" >>"$tmp/venv.log" 2>&1; then
      if (cd "$tmp/app" && env -u ALSLIB_PATH -u LD_LIBRARY_PATH -u PYTHONPATH \
            "$venv/bin/python" "$tmp/probe.py" "$venv") >"$tmp/py.out" 2>&1; then
        ok "pip install --no-build-isolation examples/python in a venv imports from another folder: $(cat "$tmp/py.out")"
      else
        ko "the venv's alslib:"; sed 's/^/    /' "$tmp/py.out" | tail -5
      fi
    else
      ko "venv + pip install --no-build-isolation examples/python:"; sed 's/^/    /' "$tmp/venv.log" | tail -8
    fi
    rm -rf "$venv"
    # pip builds in place: remove what this run left in the source tree
    [ "$had_build" -eq 1 ] || rm -rf "$top/examples/python/build"
    [ "$had_egg" -eq 1 ] || rm -rf "$top/examples/python/alslib.egg-info"
  fi
else
  echo "skip Python checks: $PY with numpy not found (apt-get install python3-numpy)"
fi
cd "$top" || exit 1
if make -s --no-print-directory uninstall PREFIX="$prefix" BUILD="$BUILD" LIBOUT="$LIBOUT" >"$tmp/uninstall.log" 2>&1; then
  left=$(find "$prefix" ! -type d | sed "s|$prefix/||")
  if [ -z "$left" ]; then ok "make uninstall removed everything it installed"; else ko "left after uninstall: $left"; fi
else
  ko "make uninstall"
fi
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
