#!/usr/bin/env bash
# Native frames (no ground truth) through the old and new x4 models and the default
# denoise-auto pair: crops and the faceting / overshoot table per set (docs/RESULTS.md
# section 9). Every frame of each set, as it is (the frame is the LR), its centre 160x160
# pixels; crops of the first four.
set -euo pipefail
D=../shared/data
for set in hit-uav/val thermitage-dunr flir-radiometric/raw16; do
  irsrgan evaluate --native "$D/$set" --model irsrgan-faithful-x4 --model irsrgan-robust-x4 \
    --model irsrgan-psnr-x4 --model irsrgan-x4 --denoise auto --max-size 160 --grid 4 -q \
    --out "reports/native-$(basename "$set")"
done
