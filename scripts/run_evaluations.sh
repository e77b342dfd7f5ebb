#!/usr/bin/env bash
# Every evaluation behind the numbers in README.md, the model cards and docs/RESULTS.md, on
# hit-uav/val (85 frames never seen in training). Run from the repository root after
# scripts/train_shipped.sh and scripts/run_experiments.sh; with the argument `shipped`, only the
# shipped models' evaluations (needs only train_shipped.sh). Reports land in reports/.
set -euo pipefail
VAL=../shared/data/hit-uav/val
ev() { irsrgan evaluate --data "$VAL" --no-lpips -q "$@"; }

# The shipped models, on clean (bicubic) and on thermal-degraded LR
for deg in bicubic thermal; do
  ev --model runs/cpu-psnr-x4/model.safetensors --model runs/cpu-gan-x4/model.safetensors \
     --scale 4 --degradation "$deg" --out "reports/shipped-x4-$deg"
  ev --model runs/cpu-psnr-x2/model.safetensors --scale 2 --degradation "$deg" \
     --out "reports/shipped-x2-$deg"
done

# The same with self-ensemble (upscale --ensemble: 8 flips/rotations averaged)
for deg in bicubic thermal; do
  ev --model runs/cpu-psnr-x4/model.safetensors --model runs/cpu-gan-x4/model.safetensors \
     --scale 4 --degradation "$deg" --ensemble --out "reports/ensemble-x4-$deg"
done

# Measurement consistency (upscale --consistency): every method with and without, on the
# sensor's own area downsample and on bicubic LR; the first 20 frames (docs/RESULTS.md, 7)
for deg in configs/degradations/area.yaml bicubic; do
  ev --model irsrgan-psnr-x4 --model irsrgan-x4 --scale 4 --degradation "$deg" --consistency \
     --limit 20 --out "reports/consistency-x4-$(basename "$deg" .yaml)"
done

[ "${1:-all}" = shipped ] && exit 0  # `run_evaluations.sh shipped`: only the above

# Experiment 1: CRDB vs RRDB at an equal budget
for deg in bicubic irsrgan; do
  ev --model runs/exp1-rrdbnet/model.safetensors --model runs/exp1-crdbnet/model.safetensors \
     --model runs/exp1-rrdbnet-s1/model.safetensors --model runs/exp1-crdbnet-s1/model.safetensors \
     --scale 4 --degradation "$deg" --out "reports/exp1-$deg"
done

# Experiment 2: with and without random degradation, on clean and degraded inputs
for deg in bicubic irsrgan thermal; do
  ev --model runs/exp2-bicubic/model.safetensors --model runs/exp2-irsrgan/model.safetensors \
     --model runs/exp2-thermal-mix/model.safetensors --scale 4 --degradation "$deg" \
     --out "reports/exp2-$deg"
done

# Experiment 2b: the share of clean pairs in the training mix (1, 0.7, 0.4, 0.2, 0), on clean,
# thermal-degraded and probe (fixed protocol-like, not the training preset) inputs
for deg in bicubic thermal configs/degradations/probe-noise02.yaml; do
  ev --model runs/exp2-bicubic/model.safetensors --model runs/exp2-mix-clean0.7/model.safetensors \
     --model runs/exp2-thermal-mix/model.safetensors --model runs/exp2-mix-clean0.2/model.safetensors \
     --model runs/exp2-mix-clean0.0/model.safetensors --scale 4 --degradation "$deg" \
     --out "reports/exp2b-$(basename "$deg" .yaml)"
done

# Experiments 3 and 4: comparison grid and the interpolation sweep (PSNR model -> GAN model)
ev --model runs/cpu-psnr-x4/model.safetensors --model-b runs/cpu-gan-x4/model.safetensors \
   --sweep-alpha 0.1,0.3,0.5,0.7,0.9 --scale 4 --degradation bicubic --grid 4 \
   --out reports/exp4-sweep

# Beyond the training range: the shipped x4 models under a fixed protocol-like degradation at
# three noise levels (0.04 is above the thermal preset's range)
for n in 01 02 04; do
  ev --model runs/cpu-psnr-x4/model.safetensors --model runs/cpu-gan-x4/model.safetensors \
     --scale 4 --degradation "configs/degradations/probe-noise$n.yaml" --out "reports/probe-noise$n"
done

# The figures of docs/RESULTS.md
mkdir -p docs/figures
cp reports/exp2-thermal/ssim_box.png docs/figures/exp2-thermal-ssim.png
cp reports/exp4-sweep/grids/grid_028_0_110_70_0_08490.png docs/figures/exp3-grid.png
cp reports/exp4-sweep/perception_distortion.png docs/figures/exp4-perception-distortion.png
