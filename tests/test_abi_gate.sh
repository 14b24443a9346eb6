#!/bin/sh
# Proves the ABI gate works: `make abi-check` passes on this tree, and fails on a copy whose
# public header and source change a signature, and on one that drops an exported function.
# Skips (exit 0, with a message) when libabigail's tools are not installed.
set -u
if ! command -v abidiff >/dev/null 2>&1 || ! command -v abidw >/dev/null 2>&1; then
  echo "abi: skipped (abigail-tools not installed: apt-get install -y abigail-tools)"
  exit 0
fi
top=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/alsabi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }

if make -s --no-print-directory abi-check >"$tmp/real.log" 2>&1; then ok "abi-check passes on this tree"
else ko "abi-check on this tree"; sed 's/^/    /' "$tmp/real.log" | tail -20; fi

copy=$tmp/copy
mkdir -p "$copy"
cp -r Makefile include src pkgconfig scripts "$copy"/
mkdir -p "$copy/docs" && cp -r docs/abi "$copy/docs/"
mkdir -p "$copy/lib" "$copy/examples" "$copy/tests"
cd "$copy" || exit 1

# 1. a changed signature: the value of vecidx_set_int becomes 32-bit
sed -i 's/VECIDX_API int vecidx_set_int(vecidx \*idx, int key, int64_t value);/VECIDX_API int vecidx_set_int(vecidx *idx, int key, int32_t value);/' include/vecidx.h
sed -i 's/^VECIDX_API int vecidx_set_int(vecidx \*idx, int key, int64_t value) {/VECIDX_API int vecidx_set_int(vecidx *idx, int key, int32_t value) {/' src/vecidx/index.c
if ! grep -q 'int32_t value);' include/vecidx.h || ! grep -q 'int key, int32_t value) {' src/vecidx/index.c; then
  ko "could not apply the signature change (the test needs updating)"
elif make -s --no-print-directory abi-check >"$tmp/sig.log" 2>&1; then
  ko "abi-check passed a changed signature of vecidx_set_int"
else
  grep -q 'vecidx_set_int' "$tmp/sig.log" && ok "abi-check fails on a changed signature (names vecidx_set_int)" ||
    ko "abi-check failed but did not name vecidx_set_int"
fi

# 2. a removed function: als_matrix_view_rows renamed away
cp "$top/include/vecidx.h" include/vecidx.h
cp "$top/src/vecidx/index.c" src/vecidx/index.c
sed -i 's/als_matrix_view_rows(/als_matrix_view_rows_gone(/g' include/als.h src/core/matrix.c
if make -s --no-print-directory abi-check >"$tmp/rm.log" 2>&1; then
  ko "abi-check passed a removed exported function"
else
  grep -q 'als_matrix_view_rows' "$tmp/rm.log" && ok "abi-check fails on a removed function (names als_matrix_view_rows)" ||
    ko "abi-check failed but did not name als_matrix_view_rows"
fi
cd "$top" || exit 1
echo "abi: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
