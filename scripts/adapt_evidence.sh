#!/usr/bin/env bash
# Evidence for `irsrgan adapt` (docs/RESULTS.md, section 10): for each out-of-domain set, the
# first half of its frames (name order) is the user's camera folder: adapt the default model
# on it for MINUTES (default 15; adapt calibrates the degradation on its training part and
# holds out the last quarter to choose a checkpoint); the second half is never seen and
# scores base vs adapted under the clean and thermal protocols and the calibrated one.
#   bash scripts/adapt_evidence.sh [MINUTES] [SET...]   (SET: thermitage-dunr, raw16)
#   CAMERA_WEIGHT=0.25 bash scripts/adapt_evidence.sh 15 raw16    (adapt --camera-weight)
# Writes runs/adapt-SET[-wW]/ (halves, work folder, adapted model and card) and
# reports/adapt-SET[-wW]/sets.md. The report also scores the run's last checkpoint
# ("last-checkpoint"), so what adapt's never-worse rule turned down is visible too.
set -euo pipefail
minutes=${1:-15}; shift || true
sets=("$@"); [ ${#sets[@]} -gt 0 ] || sets=(thermitage-dunr raw16)
D=../shared/data
for set in "${sets[@]}"; do
  case $set in
    thermitage-dunr) src=$D/thermitage-dunr ;;
    raw16) src=$D/flir-radiometric/raw16 ;;
    *) echo "unknown set $set" >&2; exit 2 ;;
  esac
  weight=${CAMERA_WEIGHT:-0.5}
  tag=$set; [ "$weight" = 0.5 ] || tag=$set-w$weight
  out=runs/adapt-$tag
  rm -rf "$out/A" "$out/B"; mkdir -p "$out/A" "$out/B"
  mapfile -t files < <(find "$src" -maxdepth 1 -type f \( -name '*.tif*' -o -name '*.png' \) | sort -V)
  half=$(( ${#files[@]} / 2 ))
  for f in "${files[@]:0:$half}"; do ln -s "$(realpath "$f")" "$out/A/"; done
  for f in "${files[@]:$half}"; do ln -s "$(realpath "$f")" "$out/B/"; done
  irsrgan adapt "$out/A" -o "$out/adapted.safetensors" --work "$out/work" \
    --minutes "$minutes" --camera-weight "$weight" --no-progress
  ln -sf "$(realpath "$out/work/run/model.safetensors")" "$out/last-checkpoint.safetensors"
  irsrgan evaluate --data "$set-B=$out/B" --degradation bicubic --degradation thermal \
    --degradation "$out/work/camera.yaml" --model irsrgan-faithful-x4 \
    --model "$out/adapted.safetensors" --model "$out/last-checkpoint.safetensors" \
    --scale 4 --max-size 256 --no-lpips -q --grid 2 \
    --out "reports/adapt-$tag"
done
