#!/bin/sh
# The Go binding used by a module outside this tree, as examples/go/README.md describes:
# `make install` into a temporary prefix, a fresh consumer module (require + replace of
# example.com/libals) with examples/go/testdata/consumer/main.go, built offline
#   1. against the installed libraries (-tags libals_pkgconfig, rpath via CGO_LDFLAGS),
#   2. vendored (go mod vendor, then built with the binding's source gone; rpath via -ldflags -r),
#   3. against this checkout's lib/ (no tag; only when lib/libvecidx.so.1 is built),
# each binary run WITHOUT LD_LIBRARY_PATH. Usage: sh tests/test_go_consumer.sh (repository root).
# Honours GOCACHE (default: under the temporary directory).
set -u
if ! command -v go >/dev/null 2>&1; then
  echo "go-consumer: skipped (golang-go not installed)"; exit 0
fi
top=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/alsgo.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }
prefix=$tmp/prefix
# Offline, self-contained Go: no proxy, no checksum database, no workspace, no toolchain switch.
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=1
export GOPATH="$tmp/gopath" GOCACHE="${GOCACHE:-$tmp/gocache}"
export OMP_NUM_THREADS=2 BLIS_NUM_THREADS=1
unset LD_LIBRARY_PATH

if make -s --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1; then
  ok "make install PREFIX=$prefix"
else
  ko "make install"; tail -5 "$tmp/install.log" | sed 's/^/    /'
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
libdir=$(pkg-config --variable=libdir vecidx 2>/dev/null) || libdir=$prefix/lib
version=$(pkg-config --modversion vecidx 2>/dev/null) || version=unknown

# new_consumer DIR BINDING: a module outside the tree that requires the binding by its
# module path and resolves it to the directory BINDING.
new_consumer() {
  mkdir -p "$1"
  cp "$top/examples/go/testdata/consumer/main.go" "$1/"
  cat >"$1/go.mod" <<EOF
module example.com/consumer

go 1.19

require example.com/libals v0.0.0

replace example.com/libals => $2
EOF
}

# check NAME BINARY LIBDIR: the binary loads both libraries from LIBDIR with no
# LD_LIBRARY_PATH and prints the expected results.
check() {
  name=$1 bin=$2 want=$3
  if [ ! -x "$bin" ]; then return; fi
  for l in libals.so.1 libvecidx.so.1; do
    got=$(ldd "$bin" | awk -v l="$l" '$1 == l {print $3}')
    if [ -n "$got" ] && [ "$(cd "$(dirname "$got")" && pwd -P)" = "$(cd "$want" && pwd -P)" ]; then ok "$name: $l found at $got"; else ko "$name: $l resolves to '$got', not $want/$l"; fi
  done
  if "$bin" >"$tmp/out" 2>&1; then
    if grep -qx "libals $version" "$tmp/out" && grep -qx 'search: 2 1' "$tmp/out" &&
       grep -qx 'als: 4 users x rank 2, top item for user 1: 12' "$tmp/out" &&
       grep -q '^error: ' "$tmp/out"; then
      ok "$name: runs: $(tr '\n' ';' <"$tmp/out")"
    else
      ko "$name: unexpected output:"; sed 's/^/    /' "$tmp/out"
    fi
  else
    ko "$name: exits non-zero:"; sed 's/^/    /' "$tmp/out"
  fi
}

# 1. Installed libraries through pkg-config, rpath to the prefix through CGO_LDFLAGS.
new_consumer "$tmp/app" "$top/examples/go"
if (cd "$tmp/app" && CGO_LDFLAGS="-Wl,-rpath,$libdir" go build -tags libals_pkgconfig -o app .) >"$tmp/build.log" 2>&1; then
  ok "installed: go build -tags libals_pkgconfig (CGO_LDFLAGS=-Wl,-rpath,$libdir)"
  rp=$(readelf -d "$tmp/app/app" 2>/dev/null | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p')
  if [ "$rp" = "$libdir" ]; then ok "installed: the binary's only run path is $rp"; else ko "installed: run path '$rp', not $libdir"; fi
else
  ko "installed: go build"; sed 's/^/    /' "$tmp/build.log"
fi
check installed "$tmp/app/app" "$libdir"

# 2. Vendored: the binding's source is copied into the consumer, so it builds without it.
cp -R "$top/examples/go" "$tmp/binding"
new_consumer "$tmp/vend" "$tmp/binding"
if (cd "$tmp/vend" && go mod vendor && rm -rf "$tmp/binding" &&
    go build -mod=vendor -tags libals_pkgconfig -ldflags="-r $libdir" -o app .) >"$tmp/build.log" 2>&1; then
  ok "vendored: go mod vendor, then go build -mod=vendor -tags libals_pkgconfig -ldflags='-r $libdir'"
else
  ko "vendored: go mod vendor / go build"; sed 's/^/    /' "$tmp/build.log"
fi
check vendored "$tmp/vend/app" "$libdir"

# 3. A checkout's own lib/ (make lib there), no tag: cgo's ${SRCDIR} flags add its rpath.
if [ -e "$top/lib/libvecidx.so.1" ] && [ -e "$top/lib/libals.so.1" ]; then
  new_consumer "$tmp/tree" "$top/examples/go"
  if (cd "$tmp/tree" && go build -o app .) >"$tmp/build.log" 2>&1; then
    ok "checkout: go build (links $top/lib)"
  else
    ko "checkout: go build"; sed 's/^/    /' "$tmp/build.log"
  fi
  version=$(sed -n 's/^Version: //p' "$top/lib/vecidx.pc" 2>/dev/null)
  check checkout "$tmp/tree/app" "$top/lib"
else
  echo "skip checkout: $top/lib/libvecidx.so.1 not built (make lib)"
fi

echo "go-consumer: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
