#!/usr/bin/env bash
# Train the runs of the re-run seed experiments (docs/RESULTS.md), about 80 minutes on a
# 2-core CPU. Run from the repository root; needs ../shared/data/hit-uav.
set -euo pipefail
for name in exp1-rrdbnet exp1-crdbnet exp2-bicubic exp2-irsrgan exp2-thermal-mix; do
  irsrgan train "configs/experiments/$name.yaml" --out "runs/$name" --quiet
done
# Experiment 1 again with a second seed (init, data order, degradations), to size the noise
for name in exp1-rrdbnet exp1-crdbnet; do
  irsrgan train "configs/experiments/$name.yaml" --out "runs/$name-s1" --set seed=1 --quiet
done
