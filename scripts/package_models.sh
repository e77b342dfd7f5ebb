#!/usr/bin/env bash
# Copy the two x4 trained runs (the PSNR and the GAN model) into the package as bundled models, with their model cards and
# validation numbers. Run from the repository root after scripts/train_shipped.sh and
# `bash scripts/run_evaluations.sh shipped`.
set -euo pipefail
fidelity="compact net trained on HIT-UAV with the thermal-mix degradation (L1)"
python3 scripts/ship_model.py runs/cpu-psnr-x4 irsrgan-psnr-x4 \
  --eval reports/shipped-x4-bicubic/summary.json --eval reports/shipped-x4-thermal/summary.json \
  --robust-end-of irsrgan-faithful-x4 --summary "x4 fidelity model: $fidelity"
python3 scripts/ship_model.py runs/cpu-gan-x4 irsrgan-x4 --psnr-model irsrgan-psnr-x4 \
  --eval reports/shipped-x4-bicubic/summary.json --eval reports/shipped-x4-thermal/summary.json \
  --summary "x4 GAN model (the default before the faithful/robust pair): irsrgan-psnr-x4 fine-tuned as a GAN (L1 + feature matching + Laplacian pyramid + RaGAN), sharper"
# irsrgan-psnr-x2 ships from runs/robust-long-x2 (runs/cpu-psnr-x2 trained on) since
# 2026-12-02: scripts/package_generalised.sh
