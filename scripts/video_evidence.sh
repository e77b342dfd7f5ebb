#!/usr/bin/env bash
# The multi-frame model (issue 13, docs/RESULTS.md section 11), from the repository root:
#   bash scripts/video_evidence.sh [train|eval|variants|ship|all]   (default all: all but ship)
# train: configs/video/video-x4.yaml into runs/video-x4 (resumes a stopped run);
# eval:  synthetic clips of 7 frames of 24 images of every validation set, thermal sensor and
#        clean protocols (reports/video-clips-24/clips.md), clips of one repeated frame
#        (reports/video-still-12/), and scripts/clip_oracle.py (what a window can give);
#        the run's best checkpoint beside the single-frame pair and bicubic;
# variants: configs/video/video-x4-context.yaml and the untrained aligned-mean start, scored
#        the same way (reports/video-variants-24, reports/video-oracle-context.md);
# ship:  copies the run into the package as irsrgan-video-x4 with its card (not done: the
#        model does not beat the single-frame robust model; see section 11).
set -euo pipefail
what=${1:-all}
D=../shared/data
sets=(--data "val=$D/hit-uav/val" --data "thermitage-dunr=$D/thermitage-dunr"
      --data "raw16=$D/flir-radiometric/raw16")
best=runs/video-x4/best.safetensors
if [[ $what == train || $what == all ]]; then
  resume=(); [ -f runs/video-x4/last.pt ] && resume=(--resume)
  irsrgan train configs/video/video-x4.yaml --out runs/video-x4 -q "${resume[@]}"
fi
if [[ $what == eval || $what == all ]]; then
  irsrgan evaluate --clips 7 "${sets[@]}" --degradation thermal --degradation bicubic \
    --model "$best" --model irsrgan-robust-x4 --model irsrgan-faithful-x4 \
    --max-size 192 --limit 24 -q --out reports/video-clips-24
  irsrgan evaluate --clips 3 --still "${sets[@]}" --model "$best" --model irsrgan-robust-x4 \
    --max-size 192 --limit 12 -q --out reports/video-still-12
  python3 scripts/clip_oracle.py --multi "$best" --limit 12 | tee reports/video-oracle.md
fi
if [[ $what == variants || $what == all ]]; then
  # the flow-context variant, and the untrained start (robust spread over the window: the
  # single-frame model on the aligned window's mean)
  resume=(); [ -f runs/video-x4-context/last.pt ] && resume=(--resume)
  irsrgan train configs/video/video-x4-context.yaml --out runs/video-x4-context -q "${resume[@]}"
  mkdir -p runs/video-aligned-mean
  python3 -c "from irsrgan.checkpoint import load_model, save_model; \
from irsrgan.models import MultiFrameNet; \
save_model(MultiFrameNet.from_single(load_model('irsrgan-robust-x4'), frames=5), \
'runs/video-aligned-mean/model.safetensors')"
  python3 scripts/clip_oracle.py --multi runs/video-x4-context/best.safetensors --limit 12 \
    | tee reports/video-oracle-context.md
  irsrgan evaluate --clips 7 "${sets[@]}" --degradation thermal --degradation bicubic \
    --model runs/video-aligned-mean/model.safetensors \
    --model runs/video-x4-context/best.safetensors --model irsrgan-robust-x4 \
    --max-size 192 --limit 24 -q --out reports/video-variants-24
fi
if [[ $what == ship ]]; then
  python3 scripts/ship_model.py runs/video-x4 irsrgan-video-x4 \
    --recipe-file configs/video/video-x4.yaml --fine-tuned-from "\`irsrgan-robust-x4\`" \
    --clips reports/video-clips-24/clips.json --clips reports/video-still-12/clips.json \
    --regenerate "Regenerate: \`bash scripts/video_evidence.sh\` (docs/RESULTS.md, section 11)." \
    --summary "x4 multi-frame model for sequences: 5 frames aligned by optical flow"
fi
