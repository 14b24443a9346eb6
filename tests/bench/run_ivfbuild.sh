#!/bin/sh
# IVF build benchmark (docs/performance.md, "IVF build at scale"): train + add time and
# recall@5 at nprobe 4/8/16/32 of IVF-flat at nlist = 4 sqrt(N), for this tree's library
# ("ours"), the library as it was before the two-level assignment ("old": a flat scan of the
# centroids in training and adding, built from git), and Faiss's IndexIVFFlat.
# Usage: sh tests/bench/run_ivfbuild.sh [BIN_DIR]   (BIN_DIR holds bench_ivf_build,
#        bench_search and gen_clustered of this tree: make BUILD=... build/bench/bench_ivf_build)
#
# Environment knobs:
#   BENCH_IVFBUILD_N ("1000000 4470000")   sizes (base rows), d = 10, L2-normalized
#   BENCH_NQ (10000)                        queries
#   BENCH_IVFBUILD_SEEDS (1234)             k-means seeds, one build each (ours and old)
#   BENCH_IVFBUILD_REPEAT (3)               builds per seed for ours (best times; old: 1)
#   BENCH_IVFBUILD_BASELINE (auto)          git revision of "old"; auto = the parent of the
#                                           commit that added src/vecidx/quantizer.c (HEAD
#                                           while it is uncommitted); none = skip old
#   BENCH_IVFBUILD_FAISS_MAX_N (1000000)    Faiss runs only up to this N (161 s at 4.47 M)
#   BENCH_OUT (bench-out)  BENCH_THREADS (nproc)  BENCH_PYTHON (/usr/bin/python3)
#   BENCH_KMEANS_ITERS (10)  BENCH_TRAIN_PER_LIST (256): the same for all three
set -u

BIN=${1:-build/bench}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/common.sh"
SIZES=${BENCH_IVFBUILD_N:-"1000000 4470000"}
NQ=${BENCH_NQ:-10000}
SEEDS=${BENCH_IVFBUILD_SEEDS:-1234}
REPEAT=${BENCH_IVFBUILD_REPEAT:-3}
FAISS_MAX_N=${BENCH_IVFBUILD_FAISS_MAX_N:-1000000}
bench_settings
PROBES=4,8,16,32

for p in bench_ivf_build bench_search gen_clustered; do
  if [ ! -x "$BIN/$p" ]; then
    echo "ivfbuild: $BIN/$p is missing (make lib $BIN/$p, with BUILD set to match)" >&2; exit 1
  fi
done
mkdir -p "$OUT/data" || exit 1
OUT=$(cd "$OUT" && pwd)
DATA=$OUT/data
RES=$OUT/ivfbuild_results.txt
LOG=$OUT/ivfbuild_bench.log
: > "$RES"
: > "$LOG"
T_START=$(date +%s)
FAILED=0
bench_host_line
echo "== IVF build benchmark"
echo "$HOST_LINE"
echo "sizes: $SIZES (d=10, normalized), $NQ queries, nlist = 4 sqrt(N), k-means $KM_ITERS iterations on <= $TPL points per list, seeds: $SEEDS, $THREADS threads"

# ---- the old library, built from git ----
OLD_BIN=
BASE_REV=${BENCH_IVFBUILD_BASELINE:-auto}
if [ "$BASE_REV" = auto ]; then
  added=$(git -C "$ROOT" log --diff-filter=A --format=%H -- src/vecidx/quantizer.c 2>/dev/null | tail -n 1)
  if [ -n "$added" ]; then BASE_REV=$added^; else BASE_REV=HEAD; fi
fi
if [ "$BASE_REV" != none ]; then
  OLD=$OUT/ivfbuild-old
  rev=$(git -C "$ROOT" rev-parse --short "$BASE_REV" 2>/dev/null)
  if [ -z "$rev" ]; then
    echo "ivfbuild: no git revision $BASE_REV: old SKIPPED"
  elif [ -x "$OLD/$rev/bench_ivf_build" ]; then
    OLD_BIN=$OLD/$rev
  else
    echo "old: building the library at $rev (git archive) in $OLD/$rev"
    rm -rf "$OLD/$rev" && mkdir -p "$OLD/$rev/src" &&
      git -C "$ROOT" archive "$rev" | tar -x -C "$OLD/$rev/src" &&
      make -C "$OLD/$rev/src" lib BUILD="$OLD/$rev/build" LIBOUT="$OLD/$rev/lib" >>"$LOG" 2>&1 &&
      ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -fopenmp -I"$OLD/$rev/src/include" \
        "$HERE/bench_ivf_build.c" -o "$OLD/$rev/bench_ivf_build" -L"$OLD/$rev/lib" \
        -Wl,-rpath,"$OLD/$rev/lib" -lvecidx -lals -lm >>"$LOG" 2>&1 &&
      OLD_BIN=$OLD/$rev
    [ -n "$OLD_BIN" ] || echo "ivfbuild: building the old library failed (see $LOG): old SKIPPED"
  fi
  [ -n "$OLD_BIN" ] && echo "old: $rev ($(git -C "$ROOT" log -1 --format=%s "$rev" 2>/dev/null | cut -c1-70))"
fi

FAISS=1
if ! "$PY" -c 'import numpy, faiss' >>"$LOG" 2>&1; then
  FAISS=0
  echo "ivfbuild: Faiss SKIPPED: 'import numpy, faiss' fails with $PY (sh scripts/deps.sh bench)"
fi

run() { # run IMPL PROGRAM ARGS...
  impl=$1; shift
  tmp=$OUT/.ivfbuild_last
  if [ "$impl" = faiss ]; then faiss_python "$@" >"$tmp" 2>>"$LOG"; else "$@" >"$tmp" 2>>"$LOG"; fi
  rc=$?
  sed "s/^RESULT impl=[^ ]*/RESULT impl=$impl/" "$tmp" | grep '^RESULT ' >>"$RES"
  sed "s/^RESULT impl=[^ ]*/RESULT impl=$impl/" "$tmp" | grep '^RESULT '
  if [ $rc -ne 0 ]; then FAILED=1; echo "ivfbuild: FAILED ($impl, exit $rc): $*"; tail -n 3 "$LOG"; fi
  rm -f "$tmp"
}

Q=$DATA/queries_d10_q$NQ.npy
[ -s "$Q" ] || "$BIN/gen_clustered" "$Q" "$NQ" 10 2 --normalize 2>>"$LOG" || exit 1
for N in $SIZES; do
  B=$DATA/base_d10_n$N.npy
  T=$DATA/truth_d10_n${N}_q${NQ}_ip_k20.npy
  [ -s "$B" ] || { echo "gen: $B"; "$BIN/gen_clustered" "$B" "$N" 10 1 --normalize 2>>"$LOG" || exit 1; }
  [ -s "$T" ] || { echo "truth: $T"; "$BIN/bench_search" --base "$B" --queries "$Q" --metric ip --k 20 \
    --threads "$THREADS" --write-truth "$T" >>"$LOG" 2>&1 || exit 1; }
  NLIST=$(awk -v n="$N" 'BEGIN { printf "%d", 4 * sqrt(n) + 0.5 }')
  COMMON="--base $B --queries $Q --truth $T --metric ip --nlist $NLIST --k 5 --nprobe $PROBES --threads $THREADS --kmeans-iters $KM_ITERS --train-per-list $TPL"
  for S in $SEEDS; do
    run ours "$BIN/bench_ivf_build" $COMMON --seed "$S" --repeat "$REPEAT" --assign-stats "$OUT/.ivfbuild_stats.vidx"
    [ -n "$OLD_BIN" ] && run old "$OLD_BIN/bench_ivf_build" $COMMON --seed "$S" --repeat 1
  done
  if [ $FAISS = 1 ] && [ "$N" -le "$FAISS_MAX_N" ]; then
    run faiss "$HERE/faiss_ivfbuild.py" --base "$B" --queries "$Q" --truth "$T" --metric ip \
      --nlist "$NLIST" --k 5 --nprobe "$PROBES" --threads "$THREADS" --kmeans-iters "$KM_ITERS" \
      --train-per-list "$TPL"
  fi
done

# ---- table ----
T_END=$(date +%s)
awk -v md="$OUT/ivfbuild_table.md" -v host="$HOST_LINE" -v secs=$((T_END - T_START)) '
function val(key,   i, kv) {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return substr($i, length(key) + 2) }
  return "-"
}
$1 == "RESULT" {
  nr++
  split(val("recall"), r, ",")
  row[nr] = sprintf("| %s | %s | %s | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s |",
    val("n"), val("nlist"), val("impl"), val("seed"), val("train_s"), val("add_s"), val("build_s"),
    r[1], r[2], r[3], r[4], val("mismatch"), val("sim_recall_exact"))
}
END {
  h = "| N | nlist | impl | seed | train s | add s | train+add s | recall@5 np=4 | np=8 | np=16 | np=32 | mismatch | recall@5 with exact assignment (simulated) |"
  s = "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  print h; print s; print h > md; print s > md
  for (i = 1; i <= nr; i++) { print row[i]; print row[i] > md }
  print ""; print "- " host; print "- total benchmark time " secs " s"
  print "" > md; print "- " host > md; print "- total benchmark time " secs " s" > md
}' "$RES"
echo "table: $OUT/ivfbuild_table.md"
[ $FAILED -eq 0 ] || { echo "ivfbuild: some runs FAILED (see $LOG)"; exit 1; }
exit 0
