#!/bin/sh
# Regression inputs of the fuzz harnesses: tests/fuzz/regress/cases.txt holds one input a
# line as "HARNESS NAME HEX" (the bytes the harness is given, mode bytes included); lines
# starting with '#' explain them.
#   sh tests/fuzz/regress/regress.sh BINDIR          run each case once through BINDIR/fuzz_HARNESS
#                                                    (fails if any crashes, leaks or times out)
#   sh tests/fuzz/regress/regress.sh --write OUTDIR  write the cases as OUTDIR/HARNESS/regress-NAME
# `make fuzz` and `make fuzz-smoke` run them before fuzzing, and add them to the seeds.
here=$(dirname "$0")
cases=$here/cases.txt
mode=run
if [ "$1" = --write ]; then mode="write"; shift; fi
dest=$1
[ -n "$dest" ] || { echo "usage: regress.sh BINDIR | --write OUTDIR" >&2; exit 2; }
tmp=
if [ $mode = run ]; then tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-regress.XXXXXX") || exit 1; fi

# hex text -> bytes (POSIX awk and printf only)
# shellcheck disable=SC2059 # the format is the escaped bytes
unhex() {
  printf "$(printf '%s' "$1" | awk '{
    h = "0123456789abcdef"; s = tolower($0); o = ""
    for (i = 1; i + 1 <= length(s); i += 2)
      o = o sprintf("\\%03o", (index(h, substr(s, i, 1)) - 1) * 16 + index(h, substr(s, i + 1, 1)) - 1)
    print o }')"
}

fail=0 n=0
while read -r h name hex; do
  case "$h" in ''|'#'*) continue;; esac
  n=$((n + 1))
  if [ $mode = write ]; then
    mkdir -p "$dest/$h" && unhex "$hex" > "$dest/$h/regress-$name"
    continue
  fi
  f=$tmp/$h-$name
  unhex "$hex" > "$f"
  TMPDIR=$tmp "$dest/fuzz_$h" -runs=1 "$f" > "$tmp/log" 2>&1 &
  pid=$!
  wait $pid
  rc=$?
  rm -f "/dev/shm/__KMP_REGISTERED_LIB_${pid}_0" # LLVM OpenMP's registration, left by libFuzzer's exit
  if [ $rc = 0 ]; then
    echo "fuzz-regress: $h $name: ok"
  else
    echo "fuzz-regress: $h $name: FAILED"; sed 's/^/    /' "$tmp/log" | tail -40; fail=1
  fi
done < "$cases"
[ -n "$tmp" ] && rm -rf "$tmp"
if [ $mode = run ]; then echo "fuzz-regress: $n cases, $([ $fail = 0 ] && echo 'all passed' || echo 'FAILURES')"; fi
exit $fail
