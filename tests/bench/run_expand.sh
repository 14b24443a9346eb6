#!/bin/sh
# Audience-expansion benchmark (`make bench BENCH_ONLY=expand`): vecidx_expand against Faiss
# search + NumPy merge on the same .npy files, in the same run, at the seed's scale:
# 78,500 seeds drawn from 4.47 M clustered, L2-normalized candidates, d 10, k 5, AGG_MAX,
# the seeds excluded from the audience, audience = every id found.
# Usage: sh tests/bench/run_expand.sh [BIN_DIR]   (BIN_DIR holds bench_expand and gen_clustered)
#
# Environment knobs (see docs/performance.md):
#   BENCH_EXPAND_N (4470000)  BENCH_EXPAND_NS (78500)  BENCH_EXPAND_K (5)
#   BENCH_QUICK=1 (N=200000, NS=4000: smoke run)
#   BENCH_EXPAND_FAISS_FLAT_NS (2000): seeds Faiss's flat search runs on; its full-size time
#     is extrapolated per pair (the full flat search is ~3.5e11 pairs, 10+ minutes for Faiss
#     here). 0 = all seeds.
#   BENCH_OUT (bench-out)  BENCH_THREADS (nproc)  BENCH_PYTHON (/usr/bin/python3)
#   BENCH_KMEANS_ITERS (10)  BENCH_TRAIN_PER_LIST (256): IVF training, the same for both
set -u

BIN=${1:-build/bench}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  N=${BENCH_EXPAND_N:-200000}; NS=${BENCH_EXPAND_NS:-4000}
else
  N=${BENCH_EXPAND_N:-4470000}; NS=${BENCH_EXPAND_NS:-78500}
fi
K=${BENCH_EXPAND_K:-5}
FFLAT_NS=${BENCH_EXPAND_FAISS_FLAT_NS:-2000}
bench_settings

for p in bench_expand gen_clustered; do
  if [ ! -x "$BIN/$p" ]; then echo "bench: $BIN/$p is missing (run: make bench)" >&2; exit 1; fi
done
mkdir -p "$OUT/data" || exit 1
DATA=$OUT/data
RES=$OUT/expand_results.txt
LOG=$OUT/expand_bench.log
: > "$RES"
: > "$LOG"
T_START=$(date +%s)
FAILED=0

bench_host_line
THR="ours: $THREADS threads, SIMD auto; faiss: omp_set_num_threads($THREADS), OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE, OMP_NUM_THREADS, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"
echo "== audience expansion: vecidx_expand vs Faiss search + NumPy merge"
echo "$HOST_LINE"
echo "data: $N candidates x d=10 (gen_clustered --normalize), $NS seeds drawn from them, k=$K, AGG_MAX, seeds excluded"
echo "threads: $THR"
echo "results: $RES, log: $LOG"

FAISS=1
if ! "$PY" -c 'import numpy, faiss' >>"$LOG" 2>&1; then
  FAISS=0
  echo "bench: Faiss SKIPPED: 'import numpy, faiss' fails with $PY (sh scripts/deps.sh bench); see $LOG"
fi

B=$DATA/expand_base_d10_n$N.npy
S=$DATA/expand_seeds_n${N}_s$NS.npy
A=$OUT/expand_audience_flat.npy
if [ ! -s "$B" ]; then
  echo "gen: $B ($N x 10)"
  "$BIN/gen_clustered" "$B" "$N" 10 3 --normalize 2>>"$LOG" || { echo "bench: gen failed" >&2; exit 1; }
fi
if [ ! -s "$S" ]; then
  "$BIN/bench_expand" --base "$B" --write-seeds "$S" --ns "$NS" >>"$LOG" 2>&1 || {
    echo "bench: seeds failed" >&2; exit 1; }
fi
rm -f "$A"

one() { # one IMPL ARGS...
  impl=$1; shift
  tmp=$OUT/.last_expand
  if [ "$impl" = ours ]; then
    "$BIN/bench_expand" "$@" >"$tmp" 2>>"$LOG"
    rc=$?
  else
    faiss_python "$HERE/faiss_expand.py" "$@" >"$tmp" 2>>"$LOG"
    rc=$?
  fi
  bench_record "$tmp" "$rc" bench "$impl" "$@"
}

COMMON="--base $B --seeds $S --k $K --threads $THREADS"
IVF="--kmeans-iters $KM_ITERS --train-per-list $TPL"
# ours: the exact flat audience first (the reference for the overlap column)
one ours $COMMON --kind flat --write-audience "$A"
one ours $COMMON --kind ivf --nlist 50 --nprobe 10 $IVF --ref-audience "$A"
one ours $COMMON --kind ivf --nlist 4000 --nprobe 16 $IVF --ref-audience "$A"
if [ $FAISS = 1 ]; then
  one faiss $COMMON --kind flat --nseeds "$FFLAT_NS" --ref-audience "$A"
  one faiss $COMMON --kind ivf --nlist 50 --nprobe 10 $IVF --ref-audience "$A"
  one faiss $COMMON --kind ivf --nlist 4000 --nprobe 16 $IVF --ref-audience "$A"
fi

T_END=$(date +%s)
awk -v mdfile="$OUT/expand_table.md" -v host="$HOST_LINE" -v thr="$THR" -v tot=$((T_END - T_START)) '
function val(key,   i, kv) {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return substr($i, length(key) + 2) }
  return "-"
}
$1 == "RESULT" {
  key = val("kind") " nlist=" val("nlist") " nprobe=" val("nprobe")
  if (val("impl") == "ours") {
    nr++; keys[nr] = key
    ot[key] = val("expand_s"); on[key] = val("ns_per_pair"); oa[key] = val("audience")
    oo[key] = val("overlap"); ob[key] = val("train_s") + val("add_s"); orss[key] = val("rss_mb")
    n = val("n"); ns = val("ns"); k = val("k")
  } else {
    ft[key] = val("est_full_s"); fn[key] = val("ns_per_pair"); fa[key] = val("audience")
    fo[key] = val("overlap"); fb[key] = val("train_s") + val("add_s"); frss[key] = val("rss_mb")
    fns[key] = val("ns"); fsearch[key] = val("search_s"); fmerge[key] = val("merge_s")
  }
}
END {
  hdr = "| config | ours expand s | faiss search+merge s | speed-up (faiss/ours) | ours ns/pair | faiss ns/pair | audience ours | audience faiss | overlap ours | overlap faiss | ours train+add s | faiss train+add s | rss ours MB | rss faiss MB |"
  print hdr > mdfile
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" > mdfile
  print hdr
  for (r = 1; r <= nr; r++) {
    key = keys[r]; h = (key in ft)
    lab = key; gsub(/ nlist=- nprobe=-/, "", lab)
    fcell = h ? sprintf("%.3f", ft[key]) : "-"
    if (h && fns[key] != ns) fcell = fcell sprintf(" (est.: %s of %s seeds timed)", fns[key], ns)
    line = sprintf("| %s | %.3f | %s | %s | %.4g | %s | %s | %s | %s | %s | %.2f | %s | %.0f | %s |", lab, ot[key], fcell,
      (h && ot[key] > 0) ? sprintf("%.1fx", ft[key] / ot[key]) : "-", on[key], h ? sprintf("%.4g", fn[key]) : "-",
      oa[key], h ? (fns[key] == ns ? fa[key] : "(" fa[key] " for " fns[key] " seeds)") : "-",
      oo[key] == "-" ? "1 (exact)" : oo[key], h ? (fo[key] == "-" ? "-" : fo[key]) : "-",
      ob[key], h ? sprintf("%.2f", fb[key]) : "-", orss[key], h ? sprintf("%.0f", frss[key]) : "-")
    print line > mdfile; print line
  }
  print "" > mdfile
  print "- " host > mdfile
  print "- threads: " thr > mdfile
  print "- data: n=" n " candidates, ns=" ns " seeds drawn from them, k=" k ", AGG_MAX, seeds excluded (ours: VECIDX_FILTER_EXCLUDE; Faiss: removed from the candidates); ns/pair = time * 1e9 / (ns * n); overlap = |audience ∩ exact flat audience| / |exact flat audience|; total bench time " tot " s" > mdfile
}' "$RES"
echo "table: $OUT/expand_table.md"
[ $FAISS = 1 ] || echo "bench: note: Faiss was skipped (import faiss failed), its columns are '-'"
if [ $FAILED -ne 0 ]; then echo "bench: some runs FAILED (see above and $LOG)"; exit 1; fi
exit 0
