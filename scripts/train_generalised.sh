#!/usr/bin/env bash
# The shipped denoise pair (irsrgan-faithful-x4, and as its robust end the earlier
# irsrgan-psnr-x4), the augmented robust model irsrgan-robust-x4 (its robust end until
# 2026-11-30, now one --robust away) and everything behind docs/RESULTS.md section 9, with
# the repo's own commands, from the repository root:
#   1. the ablation runs (scripts/run_generalisation.sh train): each fine-tunes the old
#      irsrgan-psnr-x4 for 1000 steps with one recipe change;
#   2. the faithful and the augmented robust model: the clean-only and the thermal-mix
#      ablation runs trained on (configs/general/faithful-x4.yaml, robust-x4.yaml), and the
#      x2 faithful model (configs/general/faithful-x2.yaml: the same recipe from
#      irsrgan-psnr-x2, its robust end);
#   3. the faithful ends trained on with the texture augmentation (shipped since
#      2026-12-02): faithful-x4 -> faithful-texture-x4 (1500 steps) -> faithful-long-x4
#      (3000) -> faithful-longer-x4 (3000), the shipped irsrgan-faithful-x4; faithful-x2 ->
#      faithful-long-x2 (4500), the shipped irsrgan-faithful-x2; and the x2 robust end trained
#      on with its own recipe (robust-long-x2, 2500 steps, irsrgan-psnr-x2 since 2026-12-02).
#      The x2 runs start from runs/cpu-psnr-x2 (scripts/train_shipped.sh; or copy there the
#      irsrgan-psnr-x2 weights shipped until 2026-12-02, with its config.yaml);
#   4. the degradation detector behind --denoise auto (scripts/train_detector.py), the auto
#      denoise calibration, evaluation of all of it on the three validation sets under both
#      protocols, and packaging.
set -euo pipefail
bash scripts/run_generalisation.sh train
for m in faithful-x4 robust-x4 faithful-x2 faithful-texture-x4 faithful-long-x4 \
    faithful-longer-x4 faithful-long-x2 robust-long-x2; do
  [ -f "runs/$m/model.safetensors" ] && continue
  resume=""; [ -f "runs/$m/last.pt" ] && resume="--resume"
  irsrgan train "configs/general/$m.yaml" --out "runs/$m" --quiet $resume
done
[ -f src/irsrgan/weights/detector/degradation-x4.safetensors ] || \
  python scripts/train_detector.py --set seed=1 --out src/irsrgan/weights/detector/degradation-x4.safetensors
python scripts/calibrate_denoise.py runs/faithful-longer-x4/model.safetensors \
  irsrgan-psnr-x4 --out reports/denoise-calibration.json
bash scripts/eval_sets.sh shipped --model runs/faithful-longer-x4/model.safetensors \
  --model runs/robust-x4/model.safetensors --model irsrgan-psnr-x4 --model irsrgan-x4 \
  --robust irsrgan-psnr-x4 --denoise auto
SCALE=2 bash scripts/eval_sets.sh shipped-x2 --model runs/faithful-long-x2/model.safetensors \
  --model runs/robust-long-x2/model.safetensors --model runs/cpu-psnr-x2/model.safetensors \
  --robust runs/robust-long-x2/model.safetensors --denoise auto
