#!/usr/bin/env bash
# Train the three shipped models in sequence with the repo's own commands (about 2 hours on a
# 2-core CPU). Run from the repository root; needs ../shared/data/hit-uav.
set -euo pipefail
irsrgan train cpu-psnr-x4 --out runs/cpu-psnr-x4 --quiet
irsrgan train cpu-gan-x4 --out runs/cpu-gan-x4 --quiet
irsrgan train cpu-psnr-x2 --out runs/cpu-psnr-x2 --quiet
