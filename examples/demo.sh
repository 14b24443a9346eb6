#!/bin/sh
# `make demo`: generate ALS-factor-like embeddings, index them flat and IVF, search seeds,
# report the time of every step and the IVF recall against exact search.
set -eu
B=${1:-build}
OUT=${DEMO_OUT:-demo-out}
N=${DEMO_N:-500000}
NQ=${DEMO_NQ:-5000}
mkdir -p "$OUT"
t() { date +%s.%N; }
s=$(t)
"$B/bench/gen_clustered" "$OUT/users.npy" "$N" 10 1 --normalize
"$B/bench/gen_clustered" "$OUT/seeds.npy" "$NQ" 10 2 --normalize
echo "generated $N candidate and $NQ seed embeddings (d=10) in $(echo "$(t) - $s" | bc) s: $OUT/users.npy, $OUT/seeds.npy"
echo
echo "== exact search (flat, cosine), top 10 per seed"
"$B/examples/npy_search" --base "$OUT/users.npy" --queries "$OUT/seeds.npy" --k 10 \
  --metric cosine --kind flat --out "$OUT/flat_top10.csv"
echo
echo "== IVF-flat (nlist = N/250, nprobe 8), top 10 per seed"
"$B/examples/npy_search" --base "$OUT/users.npy" --queries "$OUT/seeds.npy" --k 10 \
  --metric cosine --kind ivf --nprobe 8 --recall-vs-flat --save "$OUT/users.vidx" \
  --out "$OUT/ivf_top10.csv"
echo
echo "files: $OUT/flat_top10.csv $OUT/ivf_top10.csv $OUT/users.vidx"
