#!/usr/bin/env bash
# The shipped pair under a sensor model it was not trained on (docs/RESULTS.md section 9, "A
# sensor model not trained on"): configs/degradations/heldout-sensor.yaml on the three
# validation sets, the faithful end, the robust end and `--denoise auto`
# (reports/heldout-sensor/sets.md). With `candidates`, also the four candidate robust ends of
# configs/general/robust-{from-faithful,thermal-from-faithful,texture,both-texture}-x4.yaml
# (trained with `irsrgan train CONFIG --out runs/NAME --set train.threads=1`, two at a time)
# at auto beside the faithful end, under all three protocols (reports/cand-NAME/sets.md), and
# the candidate faithful ends of configs/general/faithful-{more,texture,long,longer}-x4.yaml alone on
# clean LR (the second with 2 threads, the first beside it with 1; the third and fourth, which
# continue the second, with 1), and the third as the pair's faithful end at auto on degraded LR.
# The candidates were measured beside the faithful end shipped until 2026-12-02 (faithful-x4);
# `irsrgan-faithful-x4` below is now faithful-longer-x4, so a rerun moves the pair's rows a little.
set -euo pipefail
H=configs/degradations/heldout-sensor.yaml
PROTOCOLS=$H bash scripts/eval_sets.sh heldout-sensor --model irsrgan-faithful-x4 \
  --model irsrgan-psnr-x4 --denoise auto
if [ "${1:-}" = candidates ]; then
  for c in robust-from-faithful-x4 robust-thermal-from-faithful-x4 robust-texture-x4 \
           robust-both-texture-x4; do
    PROTOCOLS="bicubic thermal $H" bash scripts/eval_sets.sh "cand-$c" \
      --model irsrgan-faithful-x4 --model "runs/$c/model.safetensors" \
      --robust "runs/$c/model.safetensors" --denoise auto
  done
  for c in faithful-more-x4 faithful-texture-x4 faithful-long-x4 faithful-longer-x4; do
    PROTOCOLS=bicubic bash scripts/eval_sets.sh "cand-$c" --model "runs/$c/model.safetensors"
  done
  # faithful-long-x4 as the pair's faithful end, at auto, on sensor-degraded LR
  PROTOCOLS="thermal $H" bash scripts/eval_sets.sh cand-faithful-long-x4-pair \
    --model runs/faithful-long-x4/model.safetensors --robust irsrgan-psnr-x4 --denoise auto
  # the shipped robust end trained on sensor-degraded pairs only (configs/general/psnr-thermal-x4.yaml)
  # and halfway between it and irsrgan-psnr-x4, each as the robust end beside the faithful end
  # shipped since 2026-12-02
  irsrgan interpolate --alpha 0.5 -o runs/psnr-thermal-half-x4/model.safetensors irsrgan-psnr-x4 \
    runs/psnr-thermal-x4/model.safetensors
  for c in psnr-thermal-x4 psnr-thermal-half-x4; do
    PROTOCOLS="thermal $H" bash scripts/eval_sets.sh "cand-$c" --model irsrgan-faithful-x4 \
      --model "runs/$c/model.safetensors" --robust "runs/$c/model.safetensors" --denoise auto
  done
fi
