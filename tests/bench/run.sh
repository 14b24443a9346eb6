#!/bin/sh
# Benchmark driver for `make bench`: vecidx (ours) against Faiss on the same .npy files, in
# the same run, each configuration in its own process so that peak RSS is per configuration.
# Usage: sh tests/bench/run.sh [BIN_DIR]      (BIN_DIR holds bench_search and gen_clustered)
#
# Environment knobs (see docs/performance.md):
#   BENCH_N (1000000)  BENCH_NQ (10000)  BENCH_QUICK=1 (N=100000, NQ=1000: smoke run)
#   BENCH_OUT (bench-out)  BENCH_THREADS (nproc)  BENCH_PYTHON (/usr/bin/python3)
#   BENCH_NQ_HIGH_D (NQ/10: queries for the d=16/32/64 flat runs)
#   BENCH_KMEANS_ITERS (10)  BENCH_TRAIN_PER_LIST (256): IVF training, the same for both
#   BENCH_REPEAT (3)  BENCH_BUDGET (30 s: no further timed repeat once it is used up)
set -u

BIN=${1:-build/bench}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  N=${BENCH_N:-100000}; NQ=${BENCH_NQ:-1000}
else
  N=${BENCH_N:-1000000}; NQ=${BENCH_NQ:-10000}
fi
bench_settings
NQ_HI=${BENCH_NQ_HIGH_D:-$((NQ / 10))}
[ "$NQ_HI" -ge 1 ] || NQ_HI=1
NLIST=$((N / 250))
[ "$NLIST" -ge 1 ] || NLIST=1
REPEAT=${BENCH_REPEAT:-3}
BUDGET=${BENCH_BUDGET:-30}

for p in bench_search gen_clustered; do
  if [ ! -x "$BIN/$p" ]; then echo "bench: $BIN/$p is missing (run: make bench)" >&2; exit 1; fi
done
mkdir -p "$OUT/data" || exit 1
DATA=$OUT/data
RES=$OUT/results.txt
LOG=$OUT/bench.log
: > "$RES"
: > "$LOG"
T_START=$(date +%s)
FAILED=0

bench_host_line
THR_OURS="ours: $THREADS threads (VECIDX_PARAM_NUM_THREADS), SIMD auto"
THR_FAISS="faiss: omp_set_num_threads($THREADS), OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE, OMP_NUM_THREADS, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its best setting here)"
echo "== vecidx vs Faiss benchmark"
echo "$HOST_LINE"
echo "data: N=$N base rows, NQ=$NQ queries (d=10), $NQ_HI queries for d=16/32/64; IVF nlist=$NLIST, k-means $KM_ITERS iterations on <= $TPL points per list (both)"
echo "threads: $THR_OURS"
echo "threads: $THR_FAISS"
echo "timing: warm-up on 64 queries, best of up to $REPEAT runs (no new run once $BUDGET s are spent)"
echo "results: $RES, log: $LOG"

FAISS=1
if ! "$PY" -c 'import numpy, faiss' >>"$LOG" 2>&1; then
  FAISS=0
  echo "bench: Faiss SKIPPED: 'import numpy, faiss' fails with $PY (install python3-faiss python3-numpy: sh scripts/deps.sh bench); see $LOG"
else
  echo "faiss: $("$PY" -c 'import faiss; print(faiss.__version__)' 2>/dev/null)"
fi

# ---- data: generated once, reused while the files exist ----
gen() { # gen FILE ROWS D SEED
  [ -s "$1" ] && return 0
  echo "gen: $1 ($2 x $3)"
  "$BIN/gen_clustered" "$1" "$2" "$3" "$4" --normalize 2>>"$LOG" || {
    echo "bench: gen_clustered $1 failed (see $LOG)" >&2; exit 1; }
}
base() { echo "$DATA/base_d$1_n$N.npy"; }
queries() { echo "$DATA/queries_d$1_q$2.npy"; }
truth() { echo "$DATA/truth_d$1_n${N}_q$2_ip_k$3.npy"; } # '<i8' (nq, k) exact ids, best first
gen "$(base 10)" "$N" 10 1
gen "$(queries 10 "$NQ")" "$NQ" 10 2
for d in 16 32 64; do
  gen "$(base $d)" "$N" "$d" 1
  gen "$(queries $d "$NQ_HI")" "$NQ_HI" "$d" 2
done

# ---- ground truth: exact flat vecidx search, computed once per data set ----
mktruth() { # mktruth D NQ K
  t=$(truth "$1" "$2" "$3")
  [ -s "$t" ] && return 0
  echo "truth: $t"
  "$BIN/bench_search" --base "$(base "$1")" --queries "$(queries "$1" "$2")" --metric ip \
    --k "$3" --threads "$THREADS" --write-truth "$t" >>"$LOG" 2>&1 || {
    echo "bench: ground truth $t failed: $(tail -n 1 "$LOG")" >&2; exit 1; }
}
mktruth 10 "$NQ" 20
for d in 16 32 64; do mktruth "$d" "$NQ_HI" 10; done

# ---- one configuration = one process per implementation ----
one() { # one IMPL ARGS...
  impl=$1; shift
  tmp=$OUT/.last
  if [ "$impl" = ours ]; then
    "$BIN/bench_search" "$@" >"$tmp" 2>>"$LOG"
    rc=$?
  else
    faiss_python "$HERE/faiss_bench.py" "$@" >"$tmp" 2>>"$LOG"
    rc=$?
  fi
  bench_record "$tmp" "$rc" bench "$impl" "$@"
}
both() { # both ARGS... (ours, then Faiss with the same arguments)
  one ours "$@" --threads "$THREADS" --repeat "$REPEAT" --budget "$BUDGET"
  [ $FAISS = 1 ] && one faiss "$@" --threads "$THREADS" --repeat "$REPEAT" --budget "$BUDGET"
  return 0
}

B10=$(base 10); Q10=$(queries 10 "$NQ"); T10=$(truth 10 "$NQ" 20)
for k in 5 10 20; do
  both --base "$B10" --queries "$Q10" --truth "$T10" --kind flat --metric ip --k $k
done
# The plain-C path is ~50x slower: it searches the first NQ_HI queries only.
one ours --base "$B10" --queries "$Q10" --truth "$T10" --kind flat --metric ip --k 10 \
  --nq "$NQ_HI" --simd portable --threads "$THREADS" --repeat "$REPEAT" --budget "$BUDGET"
for d in 16 32 64; do
  both --base "$(base $d)" --queries "$(queries $d "$NQ_HI")" --truth "$(truth $d "$NQ_HI" 10)" \
    --kind flat --metric ip --k 10
done
both --base "$B10" --queries "$Q10" --truth "$T10" --kind ivf --metric ip --k 5 \
  --nlist "$NLIST" --nprobe 8,16 --kmeans-iters "$KM_ITERS" --train-per-list "$TPL"

# ---- table: one row per ours configuration, Faiss matched on the same configuration ----
T_END=$(date +%s)
NOTES="$HOST_LINE
threads: $THR_OURS; $THR_FAISS
ns/pair = search_s * 1e9 / (nq * n) for flat and IVF alike (IVF: per database vector, not per vector scanned); speed-up = faiss ns/pair / ours ns/pair (> 1: ours faster)
data: clustered, L2-normalized (gen_clustered), n=$N; nq=$NQ at d=10, nq=$NQ_HI at d=16/32/64 (fewer queries to bound Faiss's run time); IVF k-means: $KM_ITERS iterations, <= $TPL points per list, both libraries
train+add s: build time; rss MB: peak RSS of the process (data loaded once + index); total bench time $((T_END - T_START)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"

awk -v mdfile="$OUT/table.md" -v notes="$NOTES" '
function val(key,   i, kv) {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return substr($i, length(key) + 2) }
  return "-"
}
function cfgkey(withnq) { return val("kind") " " val("metric") " d=" val("d") " n=" val("n") (withnq ? " nq=" val("nq") : "") " k=" val("k") " " val("nlist") " " val("nprobe") }
function label(   s) {
  s = val("kind") " " val("metric") " d=" val("d") " k=" val("k") " nq=" val("nq")
  if (val("kind") == "ivf") s = s " nlist=" val("nlist") " nprobe=" val("nprobe")
  return s
}
function f(x, fmt) { return (x == "-" || x == "") ? "-" : sprintf(fmt, x) }
$1 == "RESULT" {
  key = cfgkey(1)
  if (val("impl") == "faiss") {
    nonq[cfgkey(0)] = key
    fns[key] = val("ns_per_pair"); fq[key] = val("qps"); frec[key] = val("recall")
    fbuild[key] = val("train_s") + val("add_s"); frss[key] = val("rss_mb")
    next
  }
  nrows++
  # the portable row runs fewer queries: it is compared with the Faiss run of the same config
  rkey[nrows] = (val("simd") == "portable") ? "portable " cfgkey(0) : key
  lab[nrows] = label() (val("simd") == "portable" ? " simd=portable" : "")
  if (simd == "" && val("simd") != "portable") simd = val("simd")
  ons[nrows] = val("ns_per_pair"); oq[nrows] = val("qps"); orec[nrows] = val("recall")
  obuild[nrows] = val("train_s") + val("add_s"); orss[nrows] = val("rss_mb")
}
END {
  ncol = split("config|ours ns/pair|faiss ns/pair|speed-up (faiss/ours)|ours QPS|faiss QPS|recall ours|recall faiss|ours train+add s|faiss train+add s|rss ours MB|rss faiss MB", hdr, "|")
  for (c = 1; c <= ncol; c++) { cell[0, c] = hdr[c] }
  for (r = 1; r <= nrows; r++) {
    key = rkey[r]
    if (substr(key, 1, 9) == "portable ") { key = substr(key, 10); key = (key in nonq) ? nonq[key] : "" }
    hasf = (key in fns)
    cell[r, 1] = lab[r]
    cell[r, 2] = f(ons[r], "%.4g")
    cell[r, 3] = hasf ? f(fns[key], "%.4g") : "-"
    cell[r, 4] = (hasf && ons[r] > 0) ? sprintf("%.2fx", fns[key] / ons[r]) : "-"
    cell[r, 5] = f(oq[r], "%.0f")
    cell[r, 6] = hasf ? f(fq[key], "%.0f") : "-"
    cell[r, 7] = f(orec[r], "%.4f")
    cell[r, 8] = hasf ? f(frec[key], "%.4f") : "-"
    cell[r, 9] = f(obuild[r], "%.2f")
    cell[r, 10] = hasf ? f(fbuild[key], "%.2f") : "-"
    cell[r, 11] = f(orss[r], "%.0f")
    cell[r, 12] = hasf ? f(frss[key], "%.0f") : "-"
  }
  for (c = 1; c <= ncol; c++) for (r = 0; r <= nrows; r++) if (length(cell[r, c]) > w[c]) w[c] = length(cell[r, c])
  print ""
  for (r = 0; r <= nrows; r++) {
    line = ""; md = "|"
    for (c = 1; c <= ncol; c++) {
      line = line (c > 1 ? "  " : "") sprintf(c == 1 ? "%-" w[c] "s" : "%" w[c] "s", cell[r, c])
      md = md " " cell[r, c] " |"
    }
    print line
    mdl[r] = md
    if (r == 0) { sep = ""; for (c = 1; c <= ncol; c++) sep = sep (c > 1 ? "  " : "") sprintf("%" w[c] "s", ""); gsub(/ /, "-", sep); print sep }
  }
  print ""
  print notes
  print "ours SIMD path: " (simd == "" ? "-" : simd) " (auto); simd=portable row: the plain-C path (on fewer queries), Faiss columns from its run of the same config"
  printf "" > mdfile
  print "# vecidx vs Faiss\n" > mdfile
  print mdl[0] > mdfile
  s = "|"; for (c = 1; c <= ncol; c++) s = s (c == 1 ? "---" : "---:") "|"; print s > mdfile
  for (r = 1; r <= nrows; r++) print mdl[r] > mdfile
  print "" > mdfile
  n = split(notes, nl, "\n"); for (i = 1; i <= n; i++) print "- " nl[i] > mdfile
  print "- ours SIMD path: " (simd == "" ? "-" : simd) " (auto); the simd=portable row is the plain-C path (on fewer queries, to bound its run time), for the SIMD gain; its Faiss columns come from the Faiss run of the same config" > mdfile
}' "$RES"
echo "table: $OUT/table.md"
[ $FAISS = 1 ] || echo "bench: note: Faiss was skipped (import faiss failed), its columns are '-'"
if [ $FAILED -ne 0 ]; then echo "bench: some runs FAILED (see above and $LOG)"; exit 1; fi
exit 0
