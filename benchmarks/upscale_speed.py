"""Upscaling speed on CPU: our Upscaler (default settings) against a plain reference.

The reference is what Real-ESRGAN's inference script does: eager float32 NCHW, the whole image
in one forward. Both use the same weights, the same thread count and the same 640x512 input,
upscaled x4, in the same process and run. Prints megapixels (of output) per second, the ratio,
achieved GFLOP/s (2 x conv MACs / time) and its share of the measured float32 matmul peak.

    python benchmarks/upscale_speed.py [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import math

import torch
from _common import best_time, conv_macs, matmul_peak_gflops

from irsrgan.inference import Upscaler
from irsrgan.models import create_model

MODELS = {
    "compact": dict(num_features=64, num_convs=16),
    "rrdbnet-6": dict(num_blocks=6),
    "crdbnet-6": dict(num_blocks=6),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--width", type=int, default=640)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    x = torch.rand(1, 1, args.height, args.width, generator=torch.Generator().manual_seed(0))
    out_mp = args.height * args.width * 16 / 1e6
    print(f"CPU threads: {args.threads}; float32 matmul peak: {peak:.0f} GFLOP/s; "
          f"input {args.width}x{args.height} x4")
    print(f"{'model':<11} {'method':<22} {'s/img':>7} {'MP/s':>6} {'ratio':>6} "
          f"{'GFLOP/s':>8} {'% peak':>7}")
    ratios = []
    for name, kw in MODELS.items():
        torch.manual_seed(0)
        arch = name.split("-")[0]
        model = create_model(arch, scale=4, **kw).eval()
        flops = 2 * conv_macs(model, x)

        def reference(model=model):
            with torch.inference_mode():
                return model(x)

        t_ref = best_time(reference, repeats=args.repeats)
        upscaler = Upscaler(model, device="cpu")
        t_ours = best_time(lambda up=upscaler: up.upscale(x), repeats=args.repeats)
        # the Upscaler moved the model to channels-last; the reference ran before that
        for label, t in (("reference (eager NCHW)", t_ref),
                         (f"Upscaler {upscaler.backend[:4]} t{upscaler.auto_tile()}", t_ours)):
            gf = flops / t / 1e9
            print(f"{name:<11} {label:<22} {t:7.2f} {out_mp / t:6.2f} {t_ref / t:6.2f} "
                  f"{gf:8.1f} {100 * gf / peak:6.1f}%")
        ratios.append(t_ref / t_ours)
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"speedup_vs_reference: {geo:.2f}")


if __name__ == "__main__":
    main()
