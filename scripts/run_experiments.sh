#!/usr/bin/env bash
# Train the runs of the re-run seed experiments (docs/RESULTS.md), about 2 hours on a
# 2-core CPU. Run from the repository root; needs ../shared/data/hit-uav.
set -euo pipefail
for name in exp1-rrdbnet exp1-crdbnet exp2-bicubic exp2-irsrgan exp2-thermal-mix; do
  irsrgan train "configs/experiments/$name.yaml" --out "runs/$name" --quiet
done
# Experiment 1 again with a second seed (init, data order, degradations), to size the noise
for name in exp1-rrdbnet exp1-crdbnet; do
  irsrgan train "configs/experiments/$name.yaml" --out "runs/$name-s1" --set seed=1 --quiet
done
# Experiment 2b: the share of clean pairs in the thermal mix. Share 1 is exp2-bicubic, 0.4 is
# exp2-thermal-mix; this trains 0 (pure `thermal`), 0.2 and 0.7 with everything else equal.
for c in 0.0 0.2 0.7; do
  deg="mix:bicubic=$c,thermal=$(python3 -c "print(round(1 - $c, 2))")"
  [ "$c" = 0.0 ] && deg=thermal
  irsrgan train configs/experiments/exp2-thermal-mix.yaml --out "runs/exp2-mix-clean$c" \
    --set "data.degradation=$deg" --set "name=exp2-mix-clean$c" --quiet
done
