#!/usr/bin/env bash
# Evaluate models on every validation set under both protocols (clean bicubic LR and the
# thermal sensor model), x4: `bash scripts/eval_sets.sh TAG --model A --model B ...` writes
# reports/TAG-<set>-<protocol>/. Frames are centre-cropped to 256 px a side (HIT-UAV and
# Thermitage are 640x512; most raw16 frames are smaller and stay whole) to keep it to minutes.
set -euo pipefail
tag=$1; shift
D=../shared/data
for set in hit-uav/val thermitage-dunr flir-radiometric/raw16; do
  for deg in bicubic thermal; do
    name=$(basename "$set")
    irsrgan evaluate --data "$D/$set" --scale 4 --degradation "$deg" --max-size 256 --no-lpips \
      -q --grid 2 --out "reports/$tag-$name-$deg" "$@"
  done
done
