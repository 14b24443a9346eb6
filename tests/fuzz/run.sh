#!/bin/sh
# Runs the fuzz harnesses (make fuzz / make fuzz-smoke):
#   sh tests/fuzz/run.sh FUZZ_DIR SECONDS JOBS HARNESS...
# First the regression inputs (tests/fuzz/regress/), then each harness for SECONDS with
# -rss_limit_mb=2048 -timeout=10, JOBS at a time, on FUZZ_DIR/corpus/HARNESS (kept between
# runs; new inputs go there) and the seeds FUZZ_DIR/seeds/HARNESS. Logs: FUZZ_DIR/logs/,
# crash / leak / timeout inputs: FUZZ_DIR/artifacts/HARNESS/. One summary line a harness;
# the exit status is non-zero if any harness failed. $FUZZ_ARGS is passed to libFuzzer.
dir=$1 secs=$2 jobs=$3
shift 3
[ -n "$dir" ] && [ -n "$secs" ] && [ $# -gt 0 ] || { echo "usage: run.sh FUZZ_DIR SECONDS JOBS HARNESS..." >&2; exit 2; }
here=$(dirname "$0")
bin=$dir/bin
mkdir -p "$dir/logs" "$dir/corpus" "$dir/artifacts"
# temporary files of the harnesses: RAM if possible (each input is written to a file)
tmproot=$dir/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmproot=/dev/shm; fi
mkdir -p "$tmproot"

fail=0
sh "$here/regress/regress.sh" "$bin" || fail=1

run_one() {
  h=$1
  mkdir -p "$dir/corpus/$h" "$dir/artifacts/$h"
  t=$(mktemp -d "$tmproot/alsfuzz-$h.XXXXXX")
  dict=
  [ -f "$here/$h.dict" ] && dict=-dict=$here/$h.dict
  # shellcheck disable=SC2086
  TMPDIR=$t UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$here/lsan.supp "$bin/fuzz_$h" \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$h/" $dict $FUZZ_ARGS \
    "$dir/corpus/$h" "$dir/seeds/$h" > "$dir/logs/$h.log" 2>&1 &
  pid=$!
  wait $pid
  echo $? > "$dir/logs/$h.rc"
  rm -rf "$t"
  # LLVM's OpenMP runtime registers each process in /dev/shm; libFuzzer's exit skips the cleanup
  rm -f "/dev/shm/__KMP_REGISTERED_LIB_${pid}_0"
}

summary() {
  h=$1 log=$dir/logs/$1.log
  rc=$(cat "$dir/logs/$h.rc" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1)
  # shellcheck disable=SC2086 # split into words on purpose
  set -- $cov
  line="fuzz: $h: ${execs:-?} execs (${rate:-?}/s), cov ${2:-?}, ft ${4:-?}, corpus ${6:-?}, peak ${rss:-?} MB"
  if [ "$rc" = 0 ]; then
    echo "$line: ok"
  else
    why=$(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|fuzz check failed.*\|runtime error: .*' "$log" | head -1)
    art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
    echo "$line: FAILED (exit $rc: ${why:-see log}) input ${art:-?}, log $log"
    return 1
  fi
}

# JOBS harnesses at a time (they all run SECONDS, so batches keep the cores busy)
set -- "$@"
all="$*"
while [ $# -gt 0 ]; do
  batch=
  i=0
  while [ $# -gt 0 ] && [ $i -lt "${jobs:-1}" ]; do
    run_one "$1" &
    batch="$batch $1"
    shift
    i=$((i + 1))
  done
  wait
done
for h in $all; do summary "$h" || fail=1; done
if [ $fail = 0 ]; then echo "fuzz: all harnesses passed (${secs} s each)"; else echo "fuzz: FAILED"; fi
exit $fail
