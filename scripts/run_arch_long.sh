#!/usr/bin/env bash
# The architecture comparison of docs/RESULTS.md section 9, trained on: both nets continue
# from their 1500-step runs (scripts/run_arch_comparison.sh) for 4500 more steps with the same
# recipe, schedule and seed (configs/general/arch-*-long.yaml). The two run side by side, one
# thread each, so a session that ends part-way leaves both at similar step counts; rerunning
# resumes from each run's last.pt. Then both are evaluated on the three validation sets under
# both protocols (reports/arch-long). Run from the repository root.
set -euo pipefail
train() {
  local r=$1 resume=()
  [ -f "runs/$r/model.safetensors" ] && return 0
  [ -f "runs/$r/last.pt" ] && resume=(--resume)
  irsrgan train "configs/general/$r.yaml" --out "runs/$r" --quiet --set train.threads=1 \
    "${resume[@]}"
}
train arch-compact-long & a=$!
train arch-span-long & b=$!
wait "$a" "$b"
bash scripts/eval_sets.sh arch-long --model runs/arch-compact-long/model.safetensors \
  --model runs/arch-span-long/model.safetensors
