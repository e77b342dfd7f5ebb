#!/usr/bin/env bash
# The pair's robust end compared again (docs/RESULTS.md section 9, "The robust end, compared
# again"): irsrgan-faithful-x4 at --denoise auto with each candidate robust end, on the three
# validation sets under both protocols (reports/robust-end-<name>/sets.md) and on native
# frames (faceting and overshoot, reports/robust-end-<name>-native-<set>/native.md). The
# training-frame check is scripts/calibrate_denoise.py with each end.
set -euo pipefail
D=../shared/data
for robust in irsrgan-psnr-x4 irsrgan-robust-x4; do
  bash scripts/eval_sets.sh "robust-end-$robust" --model irsrgan-faithful-x4 \
    --robust "$robust" --denoise auto
  for set in hit-uav/val thermitage-dunr flir-radiometric/raw16; do
    irsrgan evaluate --native "$D/$set" --model irsrgan-faithful-x4 --robust "$robust" \
      --denoise auto --max-size 160 --grid 0 -q \
      --out "reports/robust-end-$robust-native-$(basename "$set")"
  done
done
