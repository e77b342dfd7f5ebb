"""Upscaling speed on a GPU: images/s per model and precision, in under five minutes.

For each model (the shipped default and two architectures at benchmark size) and precision
(fp32, fp16, and bf16 where the GPU supports it), the Upscaler's GPU path (batched tiles,
channels-last; ``--compile`` adds ``torch.compile``) upscales ``--images`` random 640x512
frames x4 after a warm-up; prints images/s, output MP/s, the speedup over fp32 of the same
model and the largest difference to fp32's output (to see that a precision is still usable).
Each combination stops after ``--budget`` seconds. Needs CUDA; says so and exits otherwise.

    python benchmarks/gpu_speed.py [--images 8] [--budget 20] [--batch 4] [--compile]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from irsrgan.checkpoint import DEFAULT_MODEL, load_model
from irsrgan.inference import Upscaler
from irsrgan.models import create_model

ARCHS = {
    "compact": dict(num_features=64, num_convs=16),
    "rrdbnet-6": dict(num_blocks=6),
}


def models():
    yield DEFAULT_MODEL, load_model(DEFAULT_MODEL)
    for name, kw in ARCHS.items():
        torch.manual_seed(0)
        yield name, create_model(name.split("-")[0], scale=4, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per combination")
    ap.add_argument("--batch", type=int, default=4, help="tiles per forward")
    ap.add_argument("--tile", type=int, default=None, help="LR tile (default: from memory)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_speed: no CUDA device here; run it where a GPU is at hand", file=sys.stderr)
        return 2
    precisions = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    frames = torch.rand(args.images, 1, 512, 640, generator=torch.Generator().manual_seed(0))
    out_mp = 512 * 640 * 16 / 1e6
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; {args.images} frames "
          f"640x512 x4; batch {args.batch}; compile {args.compile}")
    print(f"{'model':<20} {'precision':<9} {'tile':>5} {'images/s':>9} {'MP/s':>8} "
          f"{'vs fp32':>8} {'max diff':>9}")
    for name, model in models():
        base_rate, base_out = None, None
        for precision in precisions:
            up = Upscaler(copy.deepcopy(model), device="cuda", precision=precision,
                          batch_size=args.batch, tile=args.tile, compile=args.compile)
            first = up.upscale(frames[:1])  # warm-up (and compiling, with --compile)
            torch.cuda.synchronize()
            done, start = 0, time.perf_counter()
            while done < args.images and time.perf_counter() - start < args.budget:
                up.upscale(frames[done:done + 1])
                done += 1
            torch.cuda.synchronize()
            rate = done / (time.perf_counter() - start)
            base_rate = base_rate or rate
            base_out = first if base_out is None else base_out
            diff = float((first - base_out).abs().max())
            print(f"{name:<20} {precision:<9} {up.auto_tile():>5} {rate:9.2f} "
                  f"{rate * out_mp:8.1f} {rate / base_rate:8.2f} {diff:9.2e}", flush=True)
            del up
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
