#!/bin/sh
# IVF benchmark at scale (`make bench BENCH_ONLY=scale`, docs/performance.md "IVF at 50 M"):
# 50 M seed-like vectors (gen_clustered, d 10, L2-normalized) and 78,525 queries, IVF-flat
# inner product at nlist = 4 sqrt(N): ours (build time and peak RSS, search time at the first
# nprobe reaching recall@5 >= 0.99, the exact mode against flat) beside Faiss IndexIVFFlat
# with an IndexFlatIP quantizer and with an IndexHNSWFlat one, where Faiss fits in a budget.
# Every step runs in its own process (its RESULT line's peak RSS is that step's).
# Usage: sh tests/bench/run_scale.sh [BIN_DIR]   (BIN_DIR holds bench_scale and gen_clustered)
#
# Environment knobs:
#   BENCH_SCALE_N (50000000)  BENCH_SCALE_NQ (78525)         BENCH_QUICK=1: 2 M and 5,000
#   BENCH_SCALE_NLIST (4 sqrt(N))  BENCH_SCALE_K (5)  BENCH_SCALE_TARGET (0.99): recall@k wanted
#   BENCH_SCALE_CHUNK (1000000): rows per vecidx_add / Faiss add (the base is streamed)
#   BENCH_SCALE_WHOLE (1): also build ours from the whole matrix in memory, one add (0: skip)
#   BENCH_SCALE_EXACT_NQ (5000; quick 1000): queries of the exact-vs-flat comparison
#   BENCH_SCALE_FAISS ("flat hnsw"; "" or none: skip Faiss)  BENCH_SCALE_HNSW_M (32)
#   BENCH_SCALE_FAISS_BUDGET (1200 s; quick 60): per Faiss build step (train, add), see
#     faiss_scale.py: a step estimated (partial run) above it is not run
#   BENCH_SCALE_WAIT (1; quick 0): before starting, wait while /tmp/bench.lock exists or the
#     1-minute load average is above BENCH_SCALE_MAX_LOAD (1.0): 60 s at a time, 20 times
#   BENCH_SCALE_LOCK (0): 1 = hold /tmp/bench.lock (with this PID) while running
#   BENCH_SCALE_TABLE_ONLY (0): 1 = only rewrite the table from bench-out/scale_results.txt
#   BENCH_SCALE_KEEP_INDEX (0): 1 = keep the saved index (bench-out/scale/, 2.4 GB at 50 M)
#   BENCH_OUT (bench-out)  BENCH_THREADS (nproc)  BENCH_PYTHON (/usr/bin/python3)
#   BENCH_KMEANS_ITERS (10)  BENCH_TRAIN_PER_LIST (256): IVF training, the same for both
# Data (bench-out/data/, the files of run.sh and run_ivfbuild.sh: base seed 1, queries seed 2)
# and the exact top-10 of every query (our flat index; its time is the flat row) are cached.
set -u

BIN=${1:-build/bench}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  N=${BENCH_SCALE_N:-2000000}; NQ=${BENCH_SCALE_NQ:-5000}; ENQ=${BENCH_SCALE_EXACT_NQ:-1000}
  BUDGET=${BENCH_SCALE_FAISS_BUDGET:-60}; WAIT=${BENCH_SCALE_WAIT:-0}
else
  N=${BENCH_SCALE_N:-50000000}; NQ=${BENCH_SCALE_NQ:-78525}; ENQ=${BENCH_SCALE_EXACT_NQ:-5000}
  BUDGET=${BENCH_SCALE_FAISS_BUDGET:-1200}; WAIT=${BENCH_SCALE_WAIT:-1}
fi
NLIST=${BENCH_SCALE_NLIST:-$(awk -v n="$N" 'BEGIN { printf "%d", 4 * sqrt(n) + 0.5 }')}
K=${BENCH_SCALE_K:-5}
TK=10
TARGET=${BENCH_SCALE_TARGET:-0.99}
CHUNK=${BENCH_SCALE_CHUNK:-1000000}
WHOLE=${BENCH_SCALE_WHOLE:-1}
FAISS_KINDS=${BENCH_SCALE_FAISS-flat hnsw}
[ "$FAISS_KINDS" = none ] && FAISS_KINDS=
HNSW_M=${BENCH_SCALE_HNSW_M:-32}
MAX_LOAD=${BENCH_SCALE_MAX_LOAD:-1.0}
bench_settings
SEED=1234
LOCK=/tmp/bench.lock

for p in bench_scale gen_clustered; do
  if [ ! -x "$BIN/$p" ]; then echo "scale: $BIN/$p is missing (make lib $BIN/$p, BUILD set to match)" >&2; exit 1; fi
done
mkdir -p "$OUT/data" "$OUT/scale" || exit 1
OUT=$(cd "$OUT" && pwd)
DATA=$OUT/data
RES=$OUT/scale_results.txt
LOG=$OUT/scale_bench.log
MD=$OUT/scale_table.md
IDX=$OUT/scale/ivf_n${N}_l${NLIST}.vidx

# ---- the table (from the RESULT and INFO lines of $RES) ----
table() {
  awk -v md="$MD" '
function val(key,   i, kv) {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return substr($i, length(key) + 2) }
  return "-"
}
function out(s) { print s; print s > md }
function secs_of(v) { return v ~ /^~/ ? "over budget (est. " substr(v, 2) " s)" : sprintf("%.1f", v) }
$1 == "INFO" && $2 == "host" { host = substr($0, 11) }
$1 == "INFO" && $2 == "threads" { thr = substr($0, 14) }
$1 == "INFO" && $2 == "params" { budget = val("budget"); target = val("target"); chunk = val("chunk") }
$1 == "INFO" && $2 == "end" { secs = $3; load_end = $4 " " $5 " " $6 }
$1 != "RESULT" { next }
val("step") == "truth" { flat_all = val("flat_s"); flat_nq = val("nq"); flat_ns = val("ns_per_pair"); cached = val("cached") }
val("step") == "build" {
  im = val("impl"); if (im == "ours") im = "ours (" val("mode") ")"
  order[++nb] = im
  tr[im] = secs_of(val("train_s")); ad[im] = secs_of(val("add_s")); bt[im] = secs_of(val("build_s"))
  vi = val("vec_ids_mb"); if (vi != "-") vec_ids = vi
  r = val("rss_mb"); rs[im] = r == "-" ? "-" : sprintf("%.0f", r)
  rr[im] = val("rss_ratio"); ph[im] = "-"
  if (val("rss_train_mb") != "-") ph[im] = sprintf("%.0f / %.0f", val("rss_train_mb"), val("rss_add_mb") != "-" ? val("rss_add_mb") : val("rss_mb"))
  if (val("status") == "over_budget") { st[im] = "over budget: " val("over") " (estimate: " val("estimated") ")" }
  if (im == "ours (stream)") { ours_build = val("build_s"); ours_ratio = val("rss_ratio") }
  n = val("n"); nlist = val("nlist")
}
val("step") == "search" && val("impl") == "ours" && val("reached") == 1 {
  im = "ours (stream)"; np[im] = val("nprobe"); ss[im] = val("search_s"); rc[im] = val("recall"); nq = val("nq")
  ours_search = val("search_s")
}
val("step") == "search" && val("impl") == "ours" { sweep = sweep (sweep == "" ? "" : ", ") val("nprobe") ": " val("recall") }
val("step") == "chosen" && val("reached") == 1 {
  im = val("impl"); if (im == "faiss-hnsw-lists") { im = "faiss-hnsw-lists (flat quantizer)"; order[++nb] = im; tr[im] = "-"; ad[im] = "-"; bt[im] = "-"; rs[im] = "-"; rr[im] = "-"; ph[im] = "-" }
  ef = val("ef_search"); np[im] = val("nprobe") (ef != "-" ? " (efSearch " ef ")" : ""); ss[im] = val("search_s"); rc[im] = val("recall")
}
val("step") == "exact" { ex = sprintf("| %s | %s | %s | %.3f | %.3f | %.2fx | %s | %.3f |", val("n"), val("nq"), val("k"), val("flat_s"), val("exact_s"), val("speedup"), val("identical") == 1 ? "yes" : "NO", val("exact_first_s")) }
END {
  out("| impl | train s | add s | train+add s | peak RSS MB | RSS / (vectors+ids) | peak MB in train / add | nprobe at recall@5 >= " target " | search s (" nq " queries) | QPS | recall@5 |")
  out("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
  for (i = 1; i <= nb; i++) {
    im = order[i]
    q = (im in ss) ? sprintf(ss[im] < 1 ? "%.3f" : "%.2f", ss[im]) : "-"
    qps = (im in ss) ? sprintf("%.0f", nq / ss[im]) : "-"
    rat = rr[im] == "-" || rr[im] == "" ? "-" : sprintf("%.2fx", rr[im])
    out(sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", im, tr[im], ad[im], bt[im], rs[im], rat, ph[im],
                (im in np) ? np[im] : "-", q, qps, (im in rc) ? rc[im] : "-"))
  }
  out("")
  for (i = 1; i <= nb; i++) if (order[i] in st) out("- " order[i] ": " st[order[i]] "; Faiss budget " budget " s per build step")
  out("- N=" n " x d=10, nlist=" nlist ", vectors+ids = " vec_ids " MB; ours (stream): base read " chunk " rows at a time, training on the systematic sample (Faiss the same rows); ours (whole): the matrix in memory, one add")
  out("- peak MB in train / add: ours: the peak of each phase (VmHWM reset between them); Faiss: the peak after training / the build peak")
  out("- search: ours on the index of the streamed build (saved, loaded by a search process); recall@5 against the exact top 5 of every query; ours by nprobe: " sweep)
  if (flat_all != "") out(sprintf("- exact flat search of all %s queries (the ground truth, top-10): %.1f s, %s ns/pair%s", flat_nq, flat_all, flat_ns, cached == 1 ? " (cached from an earlier run)" : ""))
  if (ex != "") {
    out("")
    out("| n | queries | k | flat s | exact mode s | exact vs flat | identical | exact first call s |")
    out("|---:|---:|---:|---:|---:|---:|---|---:|")
    out(ex)
  }
  out("")
  out("Targets: train+add <= 90 s: " (ours_build != "" ? sprintf("%.1f s %s", ours_build, ours_build + 0 <= 90 ? "met" : "NOT met") : "-") \
      "; peak RSS <= 1.3 x (vectors+ids): " (ours_ratio != "" ? sprintf("%.2fx %s", ours_ratio, ours_ratio + 0 <= 1.3 ? "met" : "NOT met") : "-") \
      "; search at recall@5 >= " target " <= 10 s: " (ours_search != "" ? sprintf("%.2f s %s", ours_search, ours_search + 0 <= 10 ? "met" : "NOT met") : "-"))
  out("")
  out("- " host); out("- threads: " thr); out("- total benchmark time " secs " s; load average at end: " load_end)
}' "$RES"
  echo "table: $MD"
}
if [ "${BENCH_SCALE_TABLE_ONLY:-0}" = 1 ]; then table; exit 0; fi

# ---- a quiet machine: wait for the lock and the load (never start while the lock is held) ----
load1() { cut -d' ' -f1 /proc/loadavg; }
if [ "$WAIT" = 1 ]; then
  tries=0
  while [ $tries -lt 20 ]; do
    busy=
    [ -e "$LOCK" ] && busy="$LOCK exists ($(cat "$LOCK" 2>/dev/null | head -c 80))"
    [ -z "$busy" ] && awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }' && busy="load $(load1) > $MAX_LOAD"
    [ -z "$busy" ] && break
    echo "scale: waiting 60 s: $busy"
    sleep 60
    tries=$((tries + 1))
  done
  if [ -e "$LOCK" ]; then echo "scale: $LOCK still exists after 20 minutes: not starting" >&2; exit 1; fi
  [ $tries -ge 20 ] && echo "scale: the load is still $(load1) after 20 minutes: running anyway (the timings will show it)"
fi
if [ "${BENCH_SCALE_LOCK:-0}" = 1 ]; then
  if [ -e "$LOCK" ]; then echo "scale: $LOCK exists: not starting" >&2; exit 1; fi
  echo "run_scale.sh pid $$ since $(date -u '+%H:%M UTC')" > "$LOCK"
  trap 'rm -f "$LOCK"' EXIT
  trap 'rm -f "$LOCK"; exit 130' INT TERM
fi

: > "$RES"
: > "$LOG"
T_START=$(date +%s)
FAILED=0
bench_host_line
THR="ours: $THREADS threads (VECIDX_PARAM_NUM_THREADS), SIMD auto; faiss: omp_set_num_threads($THREADS), OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE, OMP_NUM_THREADS, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its best setting here)"
printf 'INFO host %s\nINFO threads %s\nINFO params budget=%s target=%s chunk=%s\n' "$HOST_LINE" "$THR" \
  "$BUDGET" "$TARGET" "$CHUNK" >>"$RES"
echo "== IVF at scale: ours vs Faiss"
echo "$HOST_LINE"
echo "data: N=$N x d=10 (gen_clustered --normalize, seed 1), $NQ queries (seed 2); IVF-flat ip, nlist=$NLIST, k-means $KM_ITERS iterations on <= $TPL points per list (seed $SEED), k=$K, recall target $TARGET"
echo "threads: $THR"
echo "results: $RES, log: $LOG"

# Faiss's environment, as faiss_python in common.sh, for any command (here: timeout + python)
faiss_env() {
  (
    unset OMP_NUM_THREADS OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
    OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
    export OPENBLAS_NUM_THREADS OMP_WAIT_POLICY
    "$@"
  )
}

# step NAME IMPL CMD...: run one step, keep its RESULT lines (stdout shown too), note failures
step() {
  name=$1 impl=$2
  shift 2
  tmp=$OUT/.scale_last
  echo "-- $name ($impl), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
  t0=$(date +%s)
  if [ "$impl" = ours ]; then "$@" >"$tmp" 2>>"$LOG"; else faiss_env "$@" >"$tmp" 2>>"$LOG"; fi
  rc=$?
  grep '^RESULT ' "$tmp" | sed "s/\$/ wall_s=$(($(date +%s) - t0))/" >>"$RES"
  grep '^RESULT ' "$tmp"
  if [ $rc -ne 0 ]; then
    FAILED=1
    echo "scale: $name FAILED ($impl, exit $rc): $*"
    tail -n 3 "$LOG" | sed 's/^/    /'
  fi
  rm -f "$tmp"
  return $rc
}

# ---- data and ground truth (cached) ----
B=$DATA/base_d10_n$N.npy
Q=$DATA/queries_d10_q$NQ.npy
T=$DATA/truth_d10_n${N}_q${NQ}_ip_k$TK.npy
if [ ! -s "$B" ]; then
  echo "gen: $B"; "$BIN/gen_clustered" "$B" "$N" 10 1 --normalize 2>>"$LOG" || { echo "scale: gen failed" >&2; exit 1; }
fi
if [ ! -s "$Q" ]; then
  "$BIN/gen_clustered" "$Q" "$NQ" 10 2 --normalize 2>>"$LOG" || { echo "scale: gen failed" >&2; exit 1; }
fi
if [ ! -s "$T" ] || [ ! -s "$T.result" ]; then
  step truth ours "$BIN/bench_scale" truth --base "$B" --queries "$Q" --k $TK --out "$T" --threads "$THREADS" || exit 1
  grep '^RESULT step=truth' "$RES" | tail -n 1 > "$T.result"
else
  echo "truth: cached $T"
  sed 's/$/ cached=1/' "$T.result" >>"$RES"
fi

# ---- ours ----
BUILD_ARGS="--base $B --nlist $NLIST --threads $THREADS --seed $SEED --kmeans-iters $KM_ITERS --train-per-list $TPL"
step build-stream ours "$BIN/bench_scale" build $BUILD_ARGS --chunk "$CHUNK" --save "$IDX"
if [ -s "$IDX" ]; then
  [ "$WHOLE" = 1 ] && step build-whole ours "$BIN/bench_scale" build $BUILD_ARGS --whole
  step search ours "$BIN/bench_scale" search --index "$IDX" --queries "$Q" --truth "$T" --k "$K" \
    --target "$TARGET" --threads "$THREADS" --repeat 3
  step exact ours "$BIN/bench_scale" exact --base "$B" --index "$IDX" --queries "$Q" --nq "$ENQ" --k "$K" \
    --threads "$THREADS" --repeat 3
  [ "${BENCH_SCALE_KEEP_INDEX:-0}" = 1 ] || rm -f "$IDX"
fi

# ---- Faiss ----
if [ -n "$FAISS_KINDS" ] && ! "$PY" -c 'import numpy, faiss' >>"$LOG" 2>&1; then
  echo "scale: Faiss SKIPPED: 'import numpy, faiss' fails with $PY (sh scripts/deps.sh bench)"
  FAISS_KINDS=
fi
FLAT_BUILT=0 # HNSW's lists are also searched with a flat quantizer when Faiss's own flat build did not run
for q in $FAISS_KINDS; do
  extra=
  [ "$q" = hnsw ] && [ "$FLAT_BUILT" = 0 ] && extra=--flat-search
  # a safety net beyond the script's own budget (two build steps, searches)
  step "faiss-$q" faiss timeout $((3 * ${BUDGET%.*} + 1800)) "$PY" "$HERE/faiss_scale.py" --base "$B" \
    --queries "$Q" --truth "$T" --nlist "$NLIST" --quantizer "$q" --hnsw-m "$HNSW_M" --k "$K" \
    --threads "$THREADS" --kmeans-iters "$KM_ITERS" --train-per-list "$TPL" --seed "$SEED" \
    --chunk "$CHUNK" --budget "$BUDGET" --target "$TARGET" $extra
  [ "$q" = flat ] && grep -q '^RESULT step=build impl=faiss-flat .*status=ok' "$RES" && FLAT_BUILT=1
done

# ---- table ----
T_END=$(date +%s)
echo "INFO end $((T_END - T_START)) $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES"
table
[ $FAILED -eq 0 ] || { echo "scale: some steps FAILED (see $LOG)"; exit 1; }
exit 0
