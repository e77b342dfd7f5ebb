#!/usr/bin/env bash
# Trained weights for the speed benchmark's `rrdbnet-6` and `crdbnet-6` rows, on this CPU
# (no GPU lent): the faithful recipe (configs/device/faithful-*-6.yaml: clean LR, scale and
# photometric HR augmentation) from scratch, cut down to what two cores give in about
# fifty minutes: batch 8 of 96 px HR crops, 1500 steps, one thread each, both at once.
# The int8 gate (scripts/int8_gate.py --models) needs trained weights: random weights say
# nothing about what int8 costs a real model. Writes runs/bench-{rrdbnet,crdbnet}-6/; then
#   python scripts/package_bench_weights.py  # float16 copies + cards in benchmarks/weights/
#   python scripts/int8_gate.py --models benchmarks/weights/*-x4.safetensors
#   python benchmarks/upscale_speed.py       # the RRDB and CRDB rows use them
# (RESUME=--resume bash scripts/train_bench_weights.sh continues after an interruption.)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
pids=()
for arch in rrdbnet crdbnet; do
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 "$PY" -m irsrgan train "configs/device/faithful-$arch-6.yaml" \
    --out "runs/bench-$arch-6" --quiet ${RESUME:-} \
    --set name="bench-$arch-6" --set data.batch_size=8 --set data.patch_size=96 \
    --set data.num_workers=1 --set data.extra_val={} --set data.val_limit=12 \
    --set data.val_max_size=192 --set train.steps=1500 --set train.max_minutes=null \
    --set train.threads=1 --set train.val_every=250 --set train.checkpoint_every=100 \
    --set train.schedule.warmup_steps=100 \
    > "runs/bench-$arch-6.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # a failed training fails the script
