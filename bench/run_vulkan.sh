#!/bin/sh
# bench/run_vulkan.sh -- `make bench-vulkan`: tycho's Vulkan backend next to
# PyTorch on the same machine and GPU, in the same run, with ratios.
#   sh bench/run_vulkan.sh [--max N] [--scale S]   (lavapipe: --max 512 --scale 64)
cd "$(dirname "$0")/.." || exit 1
MAX=8192 SCALE=1
while [ $# -gt 0 ]; do
    case $1 in
    --max) MAX=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    *) echo "usage: run_vulkan.sh [--max N] [--scale S]"; exit 2 ;;
    esac
done
TYCHO=${TYCHO:-./tycho}
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "run_vulkan.sh: no python3 with torch (the peer)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TYCHO_DEVICE=${TYCHO_DEVICE:-vulkan}
echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC')  commit: $(git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/# gpu: /'
$TYCHO -e 'for _, d in ipairs(ty.devices()) do if d.name == ty.default_device() then print("# tycho device: " .. d.name .. " " .. tostring(d.description)) end end'
$TYCHO bench/vk_matmul.lua --max "$MAX" --reps 5 > "$TMP/t_mm" 2>&1
$PY bench/vk_matmul_peer.py --max "$MAX" --reps 5 > "$TMP/p_mm" 2>&1
$TYCHO bench/vk_ops.lua --scale "$SCALE" > "$TMP/t_ops" 2>&1
$PY bench/vk_ops_peer.py --scale "$SCALE" > "$TMP/p_ops" 2>&1
$TYCHO bench/vk_nn.lua --scale "$SCALE" > "$TMP/t_nn" 2>&1
$PY bench/vk_nn_peer.py --scale "$SCALE" > "$TMP/p_nn" 2>&1
grep '^#' "$TMP/p_mm" | sed 's/^#/# torch /'
$PY - "$TMP" <<'PYEOF'
import sys, os
d = sys.argv[1]
def read(name, cols):
    out = {}
    for line in open(os.path.join(d, name)):
        f = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(f) < cols:
            continue
        out[f[0]] = f
    return out
tm, pm = read("t_mm", 3), read("p_mm", 3)
print("\n%-32s %12s %12s %8s" % ("matmul (GFLOP/s)", "tycho", "torch", "ratio"))
for k, v in tm.items():
    p = pm.get(k)
    ratio = "%.2f" % (float(v[2]) / float(p[2])) if p else "-"
    print("%-32s %12.1f %12s %8s" % (k, float(v[2]), "%.1f" % float(p[2]) if p else "-", ratio))
to, po = read("t_ops", 4), read("p_ops", 4)
for k, v in read("t_nn", 4).items():
    to[k] = v
po.update(read("p_nn", 4))
print("\n%-32s %12s %12s %8s %s" % ("op", "tycho", "torch", "ratio", "unit"))
for k, v in to.items():
    p = po.get(k)
    if v[3] in ("us/node", "us"):   # lower is better: ratio = torch / tycho
        ratio = "%.2f" % (float(p[2]) / float(v[2])) if p else "-"
    else:
        ratio = "%.2f" % (float(v[2]) / float(p[2])) if p else "-"
    print("%-32s %12.4g %12s %8s %s" % (k, float(v[2]), "%.4g" % float(p[2]) if p else "-",
                                        ratio, v[3]))
print("\nratio: tycho / torch for rates (higher is better for tycho); "
      "for times (us) torch / tycho")
PYEOF
for f in t_mm t_ops t_nn; do
    grep -iE 'error|fail' "$TMP/$f" | head -3
done
exit 0
