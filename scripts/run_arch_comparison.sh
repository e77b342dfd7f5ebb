#!/usr/bin/env bash
# The architecture comparison of docs/RESULTS.md section 9: the compact net and the SPAN-style
# net, sized to the same CPU inference time (python benchmarks/arch_speed.py), trained from
# scratch with the same recipe, steps and seed (configs/general/arch-*.yaml), then evaluated on
# the three validation sets under both protocols (reports/arch). Run from the repository root.
set -euo pipefail
for r in arch-compact arch-span; do
  [ -f "runs/$r/model.safetensors" ] && continue
  irsrgan train "configs/general/$r.yaml" --out "runs/$r" --quiet
done
bash scripts/eval_sets.sh arch --model runs/arch-compact/model.safetensors \
  --model runs/arch-span/model.safetensors
