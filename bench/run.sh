#!/bin/sh
# bench/run.sh -- runs bench/bench.lua (tycho) and bench/peer.py (NumPy,
# PyTorch CPU) RUNS times each and prints one table of the median over runs of
# each run's per-op median time, with the ratios tycho/NumPy and tycho/torch
# (> 1: tycho is slower).
#
#   sh bench/run.sh [--device cpu|vulkan] [--runs N] [--only NAME] [--scale F]
#
# Environment: TYCHO_DEVICE (tycho's device; --device sets it),
# TYCHO_NUM_THREADS (tycho's threads; the peers get the same count),
# BENCH_RUNS (default 3), BENCH_OUT (folder for the raw outputs; a temp dir
# otherwise), PYTHON (default /usr/bin/python3: Debian's, with numpy/torch).
set -e
cd "$(dirname "$0")/.."

RUNS=${BENCH_RUNS:-3}
PY=${PYTHON:-/usr/bin/python3}
EXTRA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) TYCHO_DEVICE=$2; export TYCHO_DEVICE; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --only|--scale) EXTRA="$EXTRA $1 $2"; shift 2 ;;
    *) echo "usage: sh bench/run.sh [--device D] [--runs N] [--only NAME] [--scale F]" >&2; exit 2 ;;
  esac
done

OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tycho-bench.XXXXXX")}
mkdir -p "$OUT"
[ -x ./tycho ] || { echo "bench: ./tycho not built (make all)" >&2; exit 1; }

THREADS=$(./tycho -e 'print(ty.get_num_threads())')
DEVICE=$(./tycho -e 'print(ty.default_device())' 2>/dev/null)
CPU=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
START=$(date +%s)

r=1
while [ "$r" -le "$RUNS" ]; do
  echo "bench: run $r/$RUNS: tycho ($DEVICE)" >&2
  ./tycho bench/bench.lua $EXTRA > "$OUT/tycho.$r"
  if "$PY" -c 'import numpy' 2>/dev/null; then
    echo "bench: run $r/$RUNS: numpy" >&2
    "$PY" bench/peer.py --threads "$THREADS" --lib numpy $EXTRA > "$OUT/numpy.$r"
    if "$PY" -c 'import torch' 2>/dev/null; then
      echo "bench: run $r/$RUNS: torch" >&2
      "$PY" bench/peer.py --threads "$THREADS" --lib torch $EXTRA > "$OUT/torch.$r"
    fi
  else
    echo "bench: $PY has no numpy: peers skipped" >&2
  fi
  r=$((r + 1))
done

echo "# tycho benchmark  $(date -u '+%Y-%m-%d %H:%M UTC')  ($(( $(date +%s) - START )) s)"
echo "# machine: $(nproc) CPUs, ${CPU:-unknown CPU}; $(uname -sr)"
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# tycho: commit $REV (./tycho built $(date -u -r tycho '+%Y-%m-%d %H:%M UTC'))"
echo "# tycho device: $DEVICE; threads: $THREADS (NumPy/OpenBLAS and torch set to match)"
echo "# times: median over $RUNS runs of each run's median per op (ms); ratio > 1: tycho slower"
echo "# raw outputs: $OUT"

# Lines "lib<TAB>name<TAB>seconds" from every run, then one table.
for lib in tycho numpy torch; do
  for f in "$OUT/$lib".*; do
    [ -f "$f" ] || continue
    grep -v '^#' "$f" | awk -v lib="$lib" -F '\t' 'NF >= 2 { print lib "\t" $1 "\t" $2 }'
  done
done | awk -F '\t' '
  function med(key,   n, i, j, t, a) {
    n = cnt[key]; if (n == 0) return -1
    for (i = 1; i <= n; i++) a[i] = v[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ms(x) { return x < 0 ? "-" : sprintf("%.3f", x * 1000) }
  function ratio(a, b) { return (a < 0 || b <= 0) ? "-" : sprintf("%.2f", a / b) }
  {
    key = $1 SUBSEP $2
    v[key, ++cnt[key]] = $3
    if ($1 == "tycho" && !(($2) in seen)) { seen[$2] = 1; order[++nops] = $2 }
  }
  END {
    fmt = "%-28s %12s %12s %12s %10s %10s\n"
    printf fmt, "op", "tycho_ms", "numpy_ms", "torch_ms", "ty/numpy", "ty/torch"
    for (i = 1; i <= nops; i++) {
      op = order[i]
      t = med("tycho" SUBSEP op); n = med("numpy" SUBSEP op); p = med("torch" SUBSEP op)
      printf fmt, op, ms(t), ms(n), ms(p), ratio(t, n), ratio(t, p)
    }
  }'
