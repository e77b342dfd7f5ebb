#!/usr/bin/env bash
# The generalisation ablation (docs/RESULTS.md section 9): each run fine-tunes the old
# irsrgan-psnr-x4 for 1000 steps with one recipe change (configs/general/abl-*.yaml), then
# every run is evaluated on the three validation sets under both protocols. Run from the
# repository root.
# `run_generalisation.sh train` or `... eval` does one half.
set -euo pipefail
RUNS="abl-control abl-both abl-clean100 abl-both-clean100 abl-both-clean70"
if [ "${1:-all}" != eval ]; then
  for r in $RUNS; do
    [ -f "runs/$r/model.safetensors" ] && continue
    resume=""; [ -f "runs/$r/last.pt" ] && resume="--resume"
    irsrgan train "configs/general/$r.yaml" --out "runs/$r" --quiet $resume
  done
fi
[ "${1:-all}" = train ] && exit 0
models=()
for r in $RUNS; do models+=(--model "runs/$r/model.safetensors"); done
bash scripts/eval_sets.sh abl "${models[@]}" --model irsrgan-psnr-x4
