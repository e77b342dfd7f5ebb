#!/usr/bin/env bash
# Copy the faithful ends (x4, x2), the augmented robust model and the x2 robust end into the package with model cards listing every validation set. Run
# from the repository root after scripts/train_generalised.sh (reports/shipped/sets.json).
set -euo pipefail
sets=(); [ -f reports/shipped/sets.json ] && sets=(--sets reports/shipped/sets.json)
regen="Regenerate: \`bash scripts/train_generalised.sh\`, then \`bash scripts/package_generalised.sh\` (docs/RESULTS.md, section 9)."
python3 scripts/ship_model.py runs/faithful-longer-x4 irsrgan-faithful-x4 \
  --recipe-file configs/general/faithful-longer-x4.yaml \
  --fine-tuned-from "\`irsrgan-psnr-x4\` via \`abl-both-clean100\` (1000 steps), \`faithful-x4\` (1500, the faithful end shipped until 2026-12-02), \`faithful-texture-x4\` (1500) and \`faithful-long-x4\` (3000), then this run's 3000: 10000 steps beyond \`irsrgan-psnr-x4\`" \
  --regenerate "$regen" --denoise-partner irsrgan-psnr-x4 "${sets[@]}" \
  --summary "x4 default, faithful end of the denoise pair: clean LR, scale, contrast/tone/polarity and texture augmentation; keeps faint detail"
# The robust model is unchanged since 2026-11-30: re-packaged (its card's tables) where its run is here.
if [ -f runs/robust-x4/config.yaml ] && [ -f runs/robust-x4/model.safetensors ]; then
  python3 scripts/ship_model.py runs/robust-x4 irsrgan-robust-x4 \
    --recipe-file configs/general/robust-x4.yaml "${sets[@]}" --regenerate "$regen" \
    --fine-tuned-from "\`irsrgan-psnr-x4\` via 1000 steps as \`abl-both\`" \
    --summary "x4 robust model: thermal-mix LR (sensor noise, stripes, blur, JPEG) with the faithful model's augmentation; removes noise; an alternative robust end for the pair (--robust irsrgan-robust-x4)"
fi
sets2=(); [ -f reports/shipped-x2/sets.json ] && sets2=(--sets reports/shipped-x2/sets.json)
python3 scripts/ship_model.py runs/faithful-long-x2 irsrgan-faithful-x2 \
  --recipe-file configs/general/faithful-long-x2.yaml \
  --fine-tuned-from "\`runs/cpu-psnr-x2\` (the \`irsrgan-psnr-x2\` shipped until 2026-12-02) via \`faithful-x2\` (2500 steps, the x2 faithful end shipped until 2026-12-02), then this run's 4500: 7000 steps beyond it" \
  --regenerate "$regen" --denoise-partner irsrgan-psnr-x2 "${sets2[@]}" \
  --summary "x2 faithful end of the x2 denoise pair (robust end irsrgan-psnr-x2): clean LR, scale, contrast/tone/polarity and texture augmentation; keeps faint detail"
# The x2 pair's robust end since 2026-12-02 (irsrgan-psnr-x2 until then was runs/cpu-psnr-x2).
python3 scripts/ship_model.py runs/robust-long-x2 irsrgan-psnr-x2 \
  --recipe-file configs/general/robust-long-x2.yaml --robust-end-of irsrgan-faithful-x2 \
  --fine-tuned-from "\`runs/cpu-psnr-x2\` (\`configs/cpu-psnr-x2.yaml\`, 3636 steps: the \`irsrgan-psnr-x2\` shipped until 2026-12-02), then this run's 2500" \
  --regenerate "$regen" "${sets2[@]}" \
  --summary "x2 fidelity model, robust end of the x2 denoise pair: compact net trained on HIT-UAV with the thermal-mix degradation (L1)"
