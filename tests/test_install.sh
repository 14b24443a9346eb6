#!/bin/sh
# Install into a temporary prefix as a user would, build a C and a C++ program from outside
# the source tree with `pkg-config --cflags --libs vecidx`, run them, then uninstall and
# check that nothing is left. Usage: sh tests/test_install.sh  (from the repository root)
set -u
top=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/alsinstall.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }
prefix=$tmp/prefix

if make -s --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1; then
  ok "make install PREFIX=$prefix"
else
  ko "make install"; sed 's/^/    /' "$tmp/install.log" | tail -5
fi
for f in include/als.h include/vecidx.h lib/libals.so.1 lib/libvecidx.so.1 lib/libals.a \
         lib/libvecidx.a lib/pkgconfig/als.pc lib/pkgconfig/vecidx.pc bin/lookalike; do
  [ -e "$prefix/$f" ] || ko "installed $f"
done

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
cd "$top" || exit 1
if make -s --no-print-directory uninstall PREFIX="$prefix" >"$tmp/uninstall.log" 2>&1; then
  left=$(find "$prefix" ! -type d | sed "s|$prefix/||")
  if [ -z "$left" ]; then ok "make uninstall removed everything it installed"; else ko "left after uninstall: $left"; fi
else
  ko "make uninstall"
fi
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
