#!/bin/sh
# Builds the `implicit` package (benfred/implicit 0.7.2) in place, outside this repository,
# for the ALS benchmark's side-by-side runs (tests/bench/implicit_peer.py, run_als.sh), and
# unpacks Debian's OpenBLAS next to it WITHOUT installing it: installing libopenblas0-pthread
# would switch the system-wide libblas.so.3 / liblapack.so.3 alternatives (auto mode, priority
# 100 over BLIS's 80) for every other program. run_als.sh puts the unpacked directory on
# LD_LIBRARY_PATH of the implicit process only.
#
# Usage: sh tests/bench/setup_implicit.sh [DIR]          (DIR: /work/peer/implicit)
#   DIR must already hold implicit's source at tag v0.7.2 (commit 04de38d), e.g.
#     git --git-dir=IMPLICIT.git archive --prefix=implicit/ v0.7.2 | tar x -C /work/peer
#   (this script downloads nothing but Debian packages). Afterwards:
#     DIR/implicit/cpu/_als*.so                              the built extension
#     DIR/../openblas/usr/lib/x86_64-linux-gnu/openblas-pthread   OpenBLAS (not installed)
# Needs root for apt-get (cython3 python3-skbuild cmake ninja-build g++ python3-scipy
# python3-numpy python3-threadpoolctl python3-tqdm).
set -eu
DIR=${1:-/work/peer/implicit}
[ -f "$DIR/setup.py" ] && [ -f "$DIR/implicit/cpu/_als.pyx" ] || {
  echo "setup_implicit: $DIR does not hold implicit's source (see the header of $0)" >&2; exit 1; }
grep -q 'version="0.7.2"' "$DIR/setup.py" ||
  echo "setup_implicit: warning: $DIR/setup.py is not version 0.7.2" >&2

pkgs="cython3 python3-skbuild cmake ninja-build g++ python3-scipy python3-numpy python3-threadpoolctl python3-tqdm"
need=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup_implicit: run as root: apt-get install -y$need" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# OpenBLAS: downloaded and unpacked, not installed (no alternatives change).
OB=$(cd "$DIR/.." && pwd)/openblas
if [ ! -e "$OB/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download libopenblas0-pthread >/dev/null 2>&1) || {
    echo "setup_implicit: apt-get download libopenblas0-pthread failed (run apt-get update?)" >&2; exit 1; }
  mkdir -p "$OB"
  dpkg-deb -x "$tmp"/libopenblas0-pthread_*.deb "$OB"
  rm -rf "$tmp"
fi

# setup.py directly (not pip): no build isolation, so nothing is fetched; CUDA off.
(cd "$DIR" && IMPLICIT_DISABLE_CUDA=1 /usr/bin/python3 setup.py build_ext --inplace) >"$DIR/../implicit-build.log" 2>&1 || {
  echo "setup_implicit: build failed, see $DIR/../implicit-build.log" >&2; exit 1; }
BENCH_IMPLICIT_DIR=$DIR LD_LIBRARY_PATH=$OB/usr/lib/x86_64-linux-gnu/openblas-pthread \
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$(dirname "$0")/implicit_peer.py" --probe
