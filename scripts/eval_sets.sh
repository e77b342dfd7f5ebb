#!/usr/bin/env bash
# Evaluate models on every validation set under both protocols (clean bicubic LR and the
# thermal sensor model), x4 (x2 with SCALE=2): `bash scripts/eval_sets.sh TAG --model A ...` writes
# reports/TAG/<set>-<protocol>/ and the table of all of them, reports/TAG/sets.md (.json).
# Frames are centre-cropped to 256 px a side (HIT-UAV and Thermitage are 640x512; most raw16
# frames are smaller and stay whole) to keep it to minutes on a CPU. PROTOCOLS="..." replaces
# the two protocols (presets or YAML files, e.g. the validation-only
# configs/degradations/heldout-sensor.yaml).
set -euo pipefail
tag=$1; shift
D=../shared/data
protocols=()
for p in ${PROTOCOLS:-bicubic thermal}; do protocols+=(--degradation "$p"); done
irsrgan evaluate --data "val=$D/hit-uav/val" --data "thermitage-dunr=$D/thermitage-dunr" \
  --data "raw16=$D/flir-radiometric/raw16" "${protocols[@]}" \
  --scale "${SCALE:-4}" --max-size 256 --no-lpips -q --grid 2 --out "reports/$tag" "$@"
