#!/bin/sh
# Checks the Debian packages a target needs and installs the missing ones when it can
# (root on Debian/Ubuntu); otherwise prints the exact apt-get line and fails.
# Usage: scripts/deps.sh build|demo|bench|all      Does nothing when everything is present.
set -eu
what=${1:-build}
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
want() { have_pkg "$1" || need="$need $1"; }

case "$what" in
  build|demo|all|bench)
    command -v cc >/dev/null 2>&1 || want gcc
    command -v make >/dev/null 2>&1 || want make
    command -v pkg-config >/dev/null 2>&1 || want pkg-config
    # BLIS: any flavour that provides blis.h and libblis.so through the alternatives links.
    [ -e /usr/include/x86_64-linux-gnu/blis.h ] || [ -e /usr/include/blis.h ] ||
      [ -e /usr/include/blis/blis.h ] || want libblis-openmp-dev
    [ -e /usr/include/cmocka.h ] || want libcmocka-dev
    ;;
esac
case "$what" in
  demo|all)
    # the backtest plot (the demo prints a message and goes on without it)
    command -v gnuplot >/dev/null 2>&1 || want gnuplot-nox
    ;;
esac
case "$what" in
  bench|all)
    have_pkg python3-numpy || want python3-numpy
    have_pkg python3-faiss || want python3-faiss
    have_pkg python3-scipy || want python3-scipy
    ;;
esac

[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq --no-install-recommends $need >/dev/null
else
  echo "deps: missing packages:$need" >&2
  echo "deps: run as root:  apt-get update && apt-get install -y$need" >&2
  exit 1
fi
