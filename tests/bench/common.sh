# Shared by the run_*.sh drivers (sourced; POSIX sh).

# The settings every driver takes from the environment, with their defaults: the output
# folder, the cores, the threads to use, the Python for the peers, and IVF k-means's
# iterations and points per list (ours and Faiss's alike).
bench_settings() {
  OUT=${BENCH_OUT:-bench-out}
  NPROC=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
  THREADS=${BENCH_THREADS:-$NPROC}
  PY=${BENCH_PYTHON:-/usr/bin/python3}
  KM_ITERS=${BENCH_KMEANS_ITERS:-10}
  TPL=${BENCH_TRAIN_PER_LIST:-256}
}

# HOST_LINE: the machine, the time and the load at the start, for the tables.
bench_host_line() {
  CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
  [ -n "$CPU" ] || CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
  DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
  LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
  HOST_LINE="CPU: ${CPU:-unknown}; nproc: $NPROC; date: $DATE; load average at start: ${LOAD0:-?} (other jobs skew the timings)"
}

# Run Python with Faiss in its best thread setting here. This workplace pins
# OPENBLAS_CORETYPE=Haswell (and an L2 size) for old OpenBLAS builds; that keeps Faiss's
# BLAS off its AVX-512 kernels, so both are unset for Faiss.
faiss_python() {
  (
    unset OMP_NUM_THREADS OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
    OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
    export OPENBLAS_NUM_THREADS OMP_WAIT_POLICY
    "$PY" "$@"
  )
}

# bench_record TMP RC NAME IMPL ARGS...: keep and show the RESULT lines of one run from
# TMP (appended to $RES), report a failure (sets FAILED=1), remove TMP.
bench_record() {
  tmp=$1 rc=$2 name=$3 impl=$4
  shift 4
  grep '^RESULT ' "$tmp" >>"$RES"
  grep '^RESULT ' "$tmp"
  if [ "$rc" -ne 0 ]; then
    FAILED=1
    echo "$name: FAILED ($impl, exit $rc): $*"
    tail -n 3 "$LOG" | sed 's/^/    /'
  fi
  rm -f "$tmp"
}
