#!/usr/bin/env bash
# The work waiting for a session that is lent a GPU (the `run` tool's machine: one H200, at
# most 15 minutes of device time in all, 10 a command), in one prepared command:
#   1. benchmarks/gpu_speed.py, which has never run (images/s per model and precision);
#   2. the speed benchmark's 6-block RRDBNet and CRDB nets trained for a few minutes each with
#      the faithful recipe (configs/device/faithful-*-6.yaml), far longer than the CPU versions
#      of scripts/train_bench_weights.sh, which miss the int8 gate by 0.06-0.14 dB
#      (docs/PERFORMANCE.md, "Trained RRDB and CRDB nets against the gate"; issue 14): whether
#      converged weights fare better is what this measures (scripts/int8_gate.py --models on
#      this CPU afterwards).
# The device machine has PyTorch, OpenCV, tifffile, safetensors and PyYAML but not ../shared,
# so the frames travel with the command:
#   bash scripts/device_session.sh stage   # here: copies hit-uav train/val frames into
#                                          # .device-data/ (git-ignored; never committed)
#   run(command="bash scripts/device_session.sh run", carry=[".device-data"], timeout_s=600)
# `run` writes to $OUT (default runs/device): gpu_speed.txt, and each model's run folder
# (model.safetensors, log.csv, train.log). EXTRA="--set train.steps=3" is passed to both
# trainings (a CPU smoke test of this script uses it).
set -euo pipefail
mode=${1:?usage: device_session.sh stage|run}
DATA=.device-data
case "$mode" in
  stage)
    # 450 of the 784 training frames (every frame with an even index, then the rest in
    # order) keep the carry under its 64 MiB with the working tree; all 85 validation frames
    rm -rf "$DATA"; mkdir -p "$DATA/train" "$DATA/val"
    mapfile -t frames < <(ls ../shared/data/hit-uav/train | sort)
    n=0
    for i in "${!frames[@]}"; do
      [ $((i % 2)) -eq 0 ] || continue
      cp "../shared/data/hit-uav/train/${frames[$i]}" "$DATA/train/"; n=$((n + 1))
    done
    for i in "${!frames[@]}"; do
      [ "$n" -lt 450 ] || break
      [ $((i % 2)) -eq 1 ] || continue
      cp "../shared/data/hit-uav/train/${frames[$i]}" "$DATA/train/"; n=$((n + 1))
    done
    cp ../shared/data/hit-uav/val/* "$DATA/val/"
    du -sh "$DATA"
    ;;
  run)
    [ -d "$DATA/train" ] || { echo "no $DATA: run 'stage' here and carry it" >&2; exit 2; }
    OUT=${OUT:-runs/device}
    mkdir -p "$OUT"
    export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
    python3 benchmarks/gpu_speed.py --budget 8 2>&1 | tee "$OUT/gpu_speed.txt" || true
    for arch in rrdbnet crdbnet; do
      # shellcheck disable=SC2086
      python3 -m irsrgan train "configs/device/faithful-$arch-6.yaml" \
        --out "$OUT/faithful-$arch-6" --quiet --set "data.train=$DATA/train" \
        --set "data.val=$DATA/val" --set "data.extra_val={}" ${EXTRA:-} \
        2>&1 | tee "$OUT/faithful-$arch-6.log"
    done
    ;;
  *) echo "usage: device_session.sh stage|run" >&2; exit 2 ;;
esac
