#!/bin/sh
# ALS at the seed's scale (`make bench BENCH_ONLY=als-scale`, docs/performance.md, "ALS at
# the seed's scale"): implicit ALS, rank 10, alpha 0.7, regParam 0.01, Cholesky, 2 threads,
# on gen_implicit data of the seed's shape (5 M users x 20 K items x 1 B draws = 876 M
# distinct interactions; generated once into bench-out/data, 10.5 GB) and at 200 M draws
# (193 M interactions), each in its own process: per-iteration time, peak RSS and bytes per
# interaction, with the model keeping its interactions (the default) and without, in file
# order (grouped by user, as exports are) and shuffled (any order; grouped with
# als_ratings_group_by_user after the read, as bench_als does by default). Then 100 M rows of CSV
# with string user ids through `lookalike train` (rows per second, peak RSS).
# Minutes to tens of minutes; never part of the default `make bench`.
# Usage: sh tests/bench/run_als_scale.sh [BIN_DIR [LOOKALIKE]]
# Knobs: BENCH_QUICK=1 (500 K users x 20 K items x 20 M draws, 5 M CSV rows: a smoke run),
#   BENCH_ALS_SCALE_ITERS (3), BENCH_THREADS (2), BENCH_OUT (bench-out),
#   BENCH_ALS_SCALE_CSV=0 (skip the CSV part), BENCH_ALS_SCALE_SHUFFLED=0 (skip shuffled).
set -u
BIN=${1:-build/bench}
LK=${2:-build/examples/lookalike}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
OUT=${BENCH_OUT:-bench-out}
ITERS=${BENCH_ALS_SCALE_ITERS:-3}
THREADS=${BENCH_THREADS:-2}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  SIZES="500000:20000:20000000"; CSV_DRAWS=5200000; CSV_USERS=500000
else
  SIZES="5000000:20000:1000000000 5000000:20000:200000000"; CSV_DRAWS=110000000; CSV_USERS=5000000
fi
for p in bench_als gen_implicit; do
  [ -x "$BIN/$p" ] || { echo "als-scale: $BIN/$p is missing (run: make bench)" >&2; exit 1; }
done
mkdir -p "$OUT/data" || exit 1
RES=$OUT/als_scale_results.txt
LOG=$OUT/als_scale.log
TAB=$OUT/als_scale_table.md
: > "$RES"
: > "$LOG"
NPROC=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
bench_host_line
echo "== ALS at the seed's scale: rank 10, implicit, alpha 0.7, regParam 0.01, cholesky, $THREADS threads, $ITERS iterations"
echo "$HOST_LINE"
FAILED=0
{
  echo "| interactions | order | model keeps interactions | s/iter (median) | per iteration | read s | setup s | peak RSS MB | bytes / interaction |"
  echo "|---:|---|---|---:|---|---:|---:|---:|---:|"
} > "$TAB"
for sz in $SIZES; do
  U=${sz%%:*}; rest=${sz#*:}; I=${rest%%:*}; D=${rest#*:}
  DATA=$OUT/data/implicit_u${U}_i${I}_d${D}_s11.bin
  if [ ! -s "$DATA" ]; then
    echo "als-scale: generating $DATA"
    "$BIN/gen_implicit" "$DATA" "$U" "$I" "$D" 11 2>>"$LOG" | tee -a "$LOG" || { echo "als-scale: gen_implicit failed" >&2; exit 1; }
  fi
  runs="file:1 file:0"
  [ "${BENCH_ALS_SCALE_SHUFFLED:-1}" = 1 ] && runs="$runs shuffled:1 shuffled:0"
  for rn in $runs; do
    order=${rn%%:*}; keep=${rn#*:}
    echo "-- $DATA order=$order keep=$keep ($(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$LOG"
    line=$("$BIN/bench_als" --data "$DATA" --rank 10 --solver cholesky --iters "$ITERS" \
      --threads "$THREADS" --alpha 0.7 --reg 0.01 --order "$order" --keep "$keep" 2>>"$LOG" | grep '^RESULT')
    if [ -z "$line" ]; then echo "als-scale: bench_als failed (see $LOG)"; FAILED=1; continue; fi
    echo "$line" >> "$RES"
    echo "$line" | awk -v order="$order" -v keep="$keep" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
      if (order == "shuffled" && v["group"] == 1) order = "shuffled, then grouped (" v["group_s"] " s)"
      printf "| %s | %s | %s | %.2f | %s | %.1f | %.1f | %.0f | %.2f |\n", v["nnz"], order,
        keep == 1 ? "yes" : "no", v["iter_s"], v["iters_s"], v["build_s"], v["setup_s"], v["rss_mb"], v["bytes_per_nnz"]
    }' | tee -a "$TAB"
  done
done
# ---- 100 M CSV rows with string user ids through lookalike train ----
if [ "${BENCH_ALS_SCALE_CSV:-1}" = 1 ] && [ -x "$LK" ]; then
  CSV=$OUT/data/strings_u${CSV_USERS}_d${CSV_DRAWS}.csv
  if [ ! -s "$CSV" ]; then
    echo "als-scale: generating $CSV (string user ids cust-NNNNNNN)"
    "$BIN/gen_implicit" "$CSV.tmp.csv" "$CSV_USERS" 20000 "$CSV_DRAWS" 5 2>>"$LOG" | tee -a "$LOG" &&
      awk -F, 'NR == 1 { print "customer,item,count"; next } { printf "cust-%07d,%s,%s\n", $1, $2, $3 }' \
        "$CSV.tmp.csv" > "$CSV.tmp" && mv "$CSV.tmp" "$CSV"
    rm -f "$CSV.tmp.csv" "$CSV.tmp"
  fi
  M=$OUT/data/strings.model
  echo "-- lookalike train on $CSV ($(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$LOG"
  /usr/bin/time -v "$LK" train --ratings "$CSV" --out "$M" --header --user-col customer \
    --item-col item --value-col count --implicitPrefs true --rank 10 --maxIter "$ITERS" \
    --alpha 0.7 --regParam 0.01 --numThreads "$THREADS" > "$OUT/.lk_train.out" 2> "$OUT/.lk_train.err"
  rc=$?
  cat "$OUT/.lk_train.out" "$OUT/.lk_train.err" >> "$LOG"
  if [ $rc -ne 0 ]; then echo "als-scale: lookalike train failed (see $LOG)"; FAILED=1; else
    readl=$(grep '^read .* in .* s (' "$OUT/.lk_train.err" | tail -1)
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$OUT/.lk_train.err")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$OUT/.lk_train.err")
    { echo; echo "lookalike train, string user ids: $readl; whole command (read, $ITERS iterations, save) $wall, peak RSS $rss MB"; } | tee -a "$TAB"
  fi
  rm -f "$M" "$M".*
fi
{ echo; echo "$HOST_LINE"; echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"; } >> "$TAB"
echo "table: $TAB"
exit $FAILED
