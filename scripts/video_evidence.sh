#!/usr/bin/env bash
# The multi-frame model (issue 13, docs/RESULTS.md section 11), from the repository root:
#   bash scripts/video_evidence.sh [train|eval|ship|all]   (default all)
# train: configs/video/video-x4.yaml into runs/video-x4 (resumes a stopped run);
# eval:  synthetic clips of 7 frames of every validation set under the thermal sensor model
#        (reports/video-clips/clips.md) and clips of one repeated frame (reports/video-still/),
#        the multi-frame model beside the single-frame pair and bicubic;
# ship:  copies the run into the package as irsrgan-video-x4 with its card.
set -euo pipefail
what=${1:-all}
D=../shared/data
sets=(--data "val=$D/hit-uav/val" --data "thermitage-dunr=$D/thermitage-dunr"
      --data "raw16=$D/flir-radiometric/raw16")
if [[ $what == train || $what == all ]]; then
  resume=(); [ -f runs/video-x4/last.pt ] && resume=(--resume)
  irsrgan train configs/video/video-x4.yaml --out runs/video-x4 -q "${resume[@]}"
fi
if [[ $what == eval || $what == all ]]; then
  models=(--model runs/video-x4/model.safetensors --model irsrgan-robust-x4
          --model irsrgan-faithful-x4)
  irsrgan evaluate --clips 7 "${sets[@]}" "${models[@]}" --max-size 192 -q \
    --out reports/video-clips
  irsrgan evaluate --clips 3 --still "${sets[@]}" "${models[@]}" --max-size 192 --limit 24 -q \
    --out reports/video-still
fi
if [[ $what == ship || $what == all ]]; then
  python3 scripts/ship_model.py runs/video-x4 irsrgan-video-x4 \
    --recipe-file configs/video/video-x4.yaml --fine-tuned-from "\`irsrgan-robust-x4\`" \
    --clips reports/video-clips/clips.json --clips reports/video-still/clips.json \
    --regenerate "Regenerate: \`bash scripts/video_evidence.sh\` (docs/RESULTS.md, section 11)." \
    --summary "x4 multi-frame model for sequences: 5 frames aligned by optical flow; less noise and fixed pattern than any single frame allows"
fi
