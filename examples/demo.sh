#!/bin/sh
# `make demo`: the lookalike pipeline end to end on a synthetic purchase log with planted
# communities: generate ~200 K users x 5 K items x 5 M purchases, train implicit ALS, index
# the users (IVF, cosine), expand an audience for one item by the three routes, backtest
# the routes against random and popularity audiences, and print the time of each step.
# Usage: sh examples/demo.sh [path/to/lookalike]
# Knobs: DEMO_OUT (demo-out), DEMO_USERS (200000), DEMO_ITEMS (5000), DEMO_PURCHASES (5000000)
set -eu
L=${1:-build/examples/lookalike}
OUT=${DEMO_OUT:-demo-out}
U=${DEMO_USERS:-200000}
I=${DEMO_ITEMS:-5000}
P=${DEMO_PURCHASES:-5000000}
mkdir -p "$OUT"
t() { date +%s.%N; }
steps=""
step() { # step NAME COMMAND...: run, time, remember
  name=$1; shift
  echo "== $name: lookalike $(echo "$@" | sed "s|$OUT/|\$OUT/|g")"
  s=$(t)
  "$L" "$@"
  steps="$steps$(printf '%-24s %7.2f s' "$name" "$(echo "$(t) - $s" | bc)")
"
}
start=$(t)
step "generate" gen --out "$OUT/purchases.csv" --users "$U" --items "$I" --purchases "$P" \
  --communities 50 --seed 1 >"$OUT/gen.txt"
cat "$OUT/gen.txt"
# targets: the items of popularity rank 10, 50 and 100 (printed by gen)
ITEM=$(sed -n 's/.*10th \([^,]*\),.*/\1/p' "$OUT/gen.txt")
ITEM50=$(sed -n 's/.*50th \([^,]*\),.*/\1/p' "$OUT/gen.txt")
ITEM100=$(sed -n 's/.*100th \([^,]*\)$/\1/p' "$OUT/gen.txt")
echo
step "train" train --ratings "$OUT/purchases.csv" --header --out "$OUT/model.als" \
  --rank 16 --maxIter 10 --regParam 0.01 --implicitPrefs true --alpha 1.0
echo
step "index (IVF, cosine)" index --model "$OUT/model.als" --kind ivf --metric cosine \
  --out "$OUT/users.vidx"
for r in i2u2u i2i2u i2u; do
  echo
  step "expand $r" expand --model "$OUT/model.als" --index "$OUT/users.vidx" --item "$ITEM" \
    --route $r --audience 100000 --out "$OUT/audience_$r.csv"
  head -4 "$OUT/audience_$r.csv" | sed 's/^/   /'
done
echo
step "backtest" backtest --ratings "$OUT/purchases.csv" --header --time-col date \
  --time-split 2024-10-19 --item "$ITEM" "$ITEM50" "$ITEM100" --kind ivf \
  --audience 1000,5000,10000,50000 --out "$OUT/backtest.csv" --plot "$OUT/backtest.png" --quiet
echo
echo "== files"
ls -l "$OUT"/purchases.csv "$OUT"/model.als* "$OUT"/users.vidx* "$OUT"/audience_*.csv \
  "$OUT"/backtest.csv "$OUT"/backtest.png 2>/dev/null | awk '{ printf "   %10s  %s\n", $5, $NF }'
echo
echo "== time per step (target item $ITEM; backtest items $ITEM $ITEM50 $ITEM100)"
printf '%s' "$steps" | sed 's/^/   /'
printf '   %-24s %7.2f s\n' "total" "$(echo "$(t) - $start" | bc)"
